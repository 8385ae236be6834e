import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';
import type { Snapshot } from '../../src/model/types.js';
import { CLI, haveCommand, isRoot, runCli, skipWithReason } from '../helpers/processes.js';

/**
 * A small /proc tree on disk (real files and symlinks) so the repeated-scan logic can be checked
 * deterministically: the host's own /proc changes under parallel test workers.
 */
const root = mkdtempSync(join(tmpdir(), 'netmon-fakeproc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const NS = 'net:[4026531840]';
const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (i: number, port: number, inode: number) =>
  `${String(i).padStart(4)}: 0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;

function writeTables(sockets: [number, number][]): void {
  fs.writeFileSync(join(root, '1', 'net', 'tcp'), HEADER + sockets.map(([port, inode], i) => row(i, port, inode)).join(''));
}

function addProcess(pid: number, fds: Record<number, number>): void {
  fs.mkdirSync(join(root, String(pid), 'fd'), { recursive: true });
  fs.mkdirSync(join(root, String(pid), 'ns'), { recursive: true });
  fs.symlinkSync(NS, join(root, String(pid), 'ns', 'net'));
  for (const [fd, inode] of Object.entries(fds)) fs.symlinkSync(`socket:[${inode}]`, join(root, String(pid), 'fd', fd));
}

describe('reusing the descriptor walk between repeated scans', () => {
  let fdListings = 0;
  addProcess(1, { 3: 100 });
  fs.mkdirSync(join(root, '1', 'net'));
  for (const t of ['tcp6', 'udp', 'udp6']) fs.writeFileSync(join(root, '1', 'net', t), HEADER);
  fs.symlinkSync('1', join(root, 'self'));
  writeTables([[80, 100]]);
  const collector = new LinuxCollector({
    procRoot: root,
    netnsDirs: [],
    readdir: (path) => {
      if (path.endsWith('/fd')) fdListings++;
      return fs.readdirSync(path);
    },
  });
  const scan = () => collector.scanSockets({ families: ['ipv4'], owners: true, reuseOwners: true });

  it('walks the first time', () => {
    const s = scan();
    expect(s.ownersReused).toBeUndefined();
    expect(s.owners.get(100)).toEqual([{ pid: 1, fd: 3 }]);
    expect(fdListings).toBe(1);
  });

  it('skips the walk when no socket is new and every owner still runs', () => {
    const s = scan();
    expect(s.ownersReused).toBe(true);
    expect(s.owners.get(100)).toEqual([{ pid: 1, fd: 3 }]);
    expect(fdListings).toBe(1);
  });

  it('walks again when a socket inode is new, and attributes it', () => {
    addProcess(2, { 5: 101 });
    writeTables([
      [80, 100],
      [81, 101],
    ]);
    const s = scan();
    expect(s.ownersReused).toBeUndefined();
    expect(s.owners.get(101)).toEqual([{ pid: 2, fd: 5 }]);
  });

  it('walks again when an owner has exited', () => {
    fs.rmSync(join(root, '2'), { recursive: true });
    const before = fdListings;
    const s = scan();
    expect(s.ownersReused).toBeUndefined();
    expect(fdListings).toBeGreaterThan(before);
    expect(s.owners.has(101)).toBe(false);
  });

  it('never reuses without reuseOwners (nor keeps such a walk for later), and walks fully every fullWalkEvery scans', () => {
    const once = collector.scanSockets({ families: ['ipv4'], owners: true });
    expect(once.ownersReused).toBeUndefined();
    const results = Array.from({ length: 4 }, () => collector.scanSockets({ families: ['ipv4'], owners: true, reuseOwners: true, fullWalkEvery: 3 }).ownersReused ?? false);
    expect(results).toEqual([false, true, true, false]);
  });

  it('attributes a socket to a process that started while the tables were read (the processes are listed again for the walk)', () => {
    let started = false;
    const racing = new LinuxCollector({
      procRoot: root,
      netnsDirs: [],
      readFile: (path) => {
        const text = fs.readFileSync(path, 'utf8');
        // A service forks a worker with the listener, and closes its own copy, while netmon reads the tables.
        if (path.endsWith('/net/tcp') && !started) {
          started = true;
          addProcess(6, { 9: 102 });
        }
        return text;
      },
    });
    writeTables([
      [80, 100],
      [82, 102],
    ]);
    const s = racing.scanSockets({ families: ['ipv4'], owners: true });
    expect(started).toBe(true);
    expect(s.owners.get(102)).toEqual([{ pid: 6, fd: 9 }]);
    fs.rmSync(join(root, '6'), { recursive: true });
    writeTables([[80, 100]]);
  });

  it('walks again when a process started since holds one of the sockets (a fork), even where /proc/<pid>/fd has no size (before Linux 6.2)', () => {
    const oldKernel = new LinuxCollector({ procRoot: root, netnsDirs: [], fdTableKey: () => '' });
    const again = () => oldKernel.scanSockets({ families: ['ipv4'], owners: true, reuseOwners: true });
    expect(again().owners.get(100)).toEqual([{ pid: 1, fd: 3 }]);
    // A process that holds no socket of the tables: the walk still holds.
    addProcess(7, {});
    expect(again().ownersReused).toBe(true);
    // Pid 1 forks pid 8, which keeps the socket, and closes its own copy.
    addProcess(8, { 4: 100 });
    fs.rmSync(join(root, '1', 'fd', '3'));
    const s = again();
    expect(s.ownersReused).toBeUndefined();
    expect(s.owners.get(100)).toEqual([{ pid: 8, fd: 4 }]);
  });

  it("walks again when a running process's descriptor table changed size or identity", () => {
    let keys: Record<string, string> = {};
    const sized = new LinuxCollector({ procRoot: root, netnsDirs: [], fdTableKey: (path) => keys[path] ?? '' });
    const again = () => sized.scanSockets({ families: ['ipv4'], owners: true, reuseOwners: true });
    keys = { [join(root, '8', 'fd')]: '1:1', [join(root, '7', 'fd')]: '2:0' };
    expect(again().ownersReused).toBeUndefined();
    expect(again().ownersReused).toBe(true);
    // Pid 7 got a descriptor (one passed over a Unix socket, say): its table has one entry more.
    keys = { ...keys, [join(root, '7', 'fd')]: '2:1' };
    expect(again().ownersReused).toBeUndefined();
    expect(again().ownersReused).toBe(true);
    // Pid 8 is another process now (its pid taken by a new one): its table's inode is new.
    keys = { ...keys, [join(root, '8', 'fd')]: '9:1' };
    expect(again().ownersReused).toBeUndefined();
  });
});

// A socket handed from one running process to another (a fork, or a descriptor passed over a Unix
// socket) while its first holder keeps running changes no socket and ends no owner. Before, an
// --interval capture went on naming the first holder at every tick until the next full walk.
// Runs in private pid and network namespaces: other tests' processes and sockets would make the
// capture walk again anyway, and hide what is tested.
const canIsolate = isRoot && haveCommand('unshare') && haveCommand('ip') && spawnSync('unshare', ['-n', '-p', '-f', '--mount-proc', 'true']).status === 0;
describe.skipIf(skipWithReason(!canIsolate, 'hand-over in private namespaces: needs root, unshare (util-linux), ip (iproute2) and a kernel that allows pid and network namespaces'))(
  'an --interval capture after a socket changed hands',
  () => {
    const HAND_OVER = join(import.meta.dirname, '..', 'fixtures', 'hand-over.py');
    for (const mode of ['fork', 'pass'] as const) {
      it(`names the new holder at the next tick (${mode === 'fork' ? 'a fork' : 'SCM_RIGHTS to a running process'}), and the trail says it changed`, () => {
        const dir = mkdtempSync(join(tmpdir(), 'netmon-handover-'));
        try {
          const db = join(dir, 'n.db');
          const csv = join(dir, 'n.csv');
          const go = join(dir, 'go');
          const script = [
            'ip link set lo up',
            // Waits while netmon runs start no process (a new one would make it walk again, and
            // hide what is tested): bash builtins only, a read with a timeout on a FIFO as the pause.
            `mkfifo "${dir}/pause"; exec 9<>"${dir}/pause"`,
            'has() { [ -e "$1" ] || return 1; local line; while IFS= read -r line; do [[ $line == *"$2"* ]] && return 0; done < "$1"; return 1; }',
            'waitFor() { local i; for ((i = 0; i < 400; i++)); do has "$1" "$2" && return 0; read -t 0.05 -u 9; done; return 1; }',
            `python3 "$HAND_OVER" ${mode} "${go}" 18950 > "${dir}/pids" &`,
            `until grep -q '^A ' "${dir}/pids"; do sleep 0.05; done`,
            `"$NODE" "$CLI" --interval 0.4 --db "${db}" --csv "${csv}" --no-hash-binaries --listening-only > /dev/null 2> "${dir}/err" & N=$!`,
            // The first tick (the listener, held by A, in the trail), ticks with an unchanged walk
            // to reuse, then the hand-over, then ticks after it, until one wrote the change.
            `waitFor "${csv}" ',18950,'`,
            'sleep 1.2',
            `touch "${go}"`,
            `waitFor "${dir}/pids" 'holder '`,
            `waitFor "${csv}" ',changed,'`,
            'kill -INT $N; wait $N; echo "netmon exit $?"',
            'kill %1',
          ].join('\n');
          const r = spawnSync('unshare', ['-n', '-p', '-f', '--mount-proc', 'bash', '-c', script], {
            encoding: 'utf8',
            env: { ...process.env, HAND_OVER, NODE: process.execPath, CLI },
            timeout: 60_000,
          });
          expect(r.stdout, `${r.stderr}\n${fs.readFileSync(join(dir, 'err'), 'utf8')}`).toContain('netmon exit 0');
          const pids = Object.fromEntries(fs.readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n').map((l) => l.split(' ')));
          const holder = Number(pids.holder);
          expect(holder).toBeGreaterThan(0);
          const shown = runCli(['show', 'latest', '--db', db, '--output', 'json']);
          expect(shown.status, shown.stderr).toBe(0);
          const latest = JSON.parse(shown.stdout) as Snapshot;
          const listener = latest.sockets.find((s) => s.localPort === 18950 && s.state === 'LISTEN');
          expect(listener?.owners.map((o) => o.pid)).toEqual([holder]);
          // The trail: present with A at the first tick, then a changed row naming the holder.
          const rows = fs.readFileSync(csv, 'utf8').split('\n').filter((l) => l.includes(',18950,'));
          expect(rows.some((l) => l.includes(',changed,') && l.includes(`,${holder},`)), rows.join('\n')).toBe(true);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }, 60_000);
    }
  },
);
