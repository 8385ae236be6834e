import { copyFileSync, mkdtempSync, realpathSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/model/types.js';
import { haveCommand, HOLDER, isRoot, runCli, skipWithReason, startJsonProcess, stop, type Started } from '../helpers/processes.js';

const started: Started<{ pid: number; tcp4: number }>[] = [];
const dir = mkdtempSync(join(tmpdir(), 'netmon-deleted-'));
afterAll(async () => {
  for (const s of started) await stop(s.child);
  rmSync(dir, { recursive: true, force: true });
});

describe('a process with a hostile name', () => {
  // Escape sequence that clears the screen, a newline that would forge a row, a bidi override.
  const title = 'ev\u001b[2Jil\nrow\u202e';

  it('keeps the exact name in JSON and shows it inert in the live view', async () => {
    const holder = await startJsonProcess<{ pid: number; tcp4: number }>(process.execPath, [HOLDER, '--listen-port', '2626', '--title', title]);
    started.push(holder);
    const json = runCli(['snapshot', '-o', 'json', '--filter', ':2626', '--no-hash-binaries']);
    expect(json.status, json.stderr).toBe(0);
    const snap = JSON.parse(json.stdout) as Snapshot;
    const proc = snap.processes.find((p) => p.pid === holder.info.pid);
    // comm holds at most 15 bytes; the command line holds all of it.
    expect(Buffer.from(title).subarray(0, 15).toString()).toContain(proc!.name.slice(0, 5));
    expect(proc!.name.startsWith('ev\u001b[2Jil\nrow')).toBe(true);
    expect(proc!.commandLine).toEqual([title]);

    const text = runCli(['--once', '--filter', ':2626', '--no-hash-binaries'], { env: { ...process.env, COLUMNS: '200' } });
    expect(text.status).toBe(0);
    expect(text.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202e]/);
    expect(text.stdout).toContain('ev\\x1b[2Jil\\x0arow');
    const rows = text.stdout.split('\n').filter((l) => l.includes(':2626') && !l.includes('(kernel)'));
    expect(rows.length).toBeGreaterThanOrEqual(1);
    for (const row of rows) expect(row).toContain(String(holder.info.pid));
  });
});

describe('a process with a command line of more than a megabyte', () => {
  it('keeps all of it, byte for byte (the reader of /proc files grows its buffer)', async () => {
    // Twelve arguments near the kernel's limit for one (128 KiB), with two-byte characters and a
    // distinct head each, so that a part lost or repeated at a buffer boundary would show.
    const args = Array.from({ length: 12 }, (_, k) => `${k}:${'é-abc'.repeat(20_000)}`);
    const holder = await startJsonProcess<{ pid: number; tcp4: number }>(process.execPath, [HOLDER, '--listen-port', '2929', ...args]);
    started.push(holder);
    const json = runCli(['snapshot', '-o', 'json', '--filter', ':2929', '--no-hash-binaries']);
    expect(json.status, json.stderr).toBe(0);
    const proc = (JSON.parse(json.stdout) as Snapshot).processes.find((p) => p.pid === holder.info.pid);
    expect(Buffer.byteLength(proc!.commandLine.join('\0'))).toBeGreaterThan(1024 * 1024);
    expect(proc!.commandLine).toEqual([process.execPath, HOLDER, '--listen-port', '2929', ...args]);
  });
});

describe('a process whose name, command line and executable path are not valid UTF-8', () => {
  it('keeps every byte in JSON and in the store, shows the bytes as \\xNN, and writes valid UTF-8 to the CSV', async () => {
    // A link to node whose name holds the bytes ff fe (never valid UTF-8), started through it with
    // an argument holding c3 28 (a lead byte without its continuation).
    const bytes = Buffer.from([0x6e, 0x6f, 0xff, 0xfe, 0x64, 0x65]); // "no", ff, fe, "de"
    const link = Buffer.concat([Buffer.from(`${dir}/`), bytes]);
    symlinkSync(realpathSync(process.execPath), link);
    const holder = await startJsonProcess<{ pid: number; tcp4: number }>('sh', ['-c', `exec "$(printf '${dir}/no\\377\\376de')" "$0" --listen-port 2828 "$(printf 'x\\303(y')"`, HOLDER]);
    started.push(holder);
    const name = 'no\udcff\udcfede';
    const db = join(dir, 'bytes.db');
    const csv = join(dir, 'bytes.csv');

    const json = runCli(['snapshot', '-o', 'json', '--filter', ':2828', '--no-hash-binaries']);
    expect(json.status, json.stderr).toBe(0);
    // Each byte is its own escape in the JSON text; nothing was replaced by U+FFFD.
    expect(json.stdout).toContain('no\\udcff\\udcfede');
    expect(json.stdout).not.toContain('\ufffd');
    const proc = (JSON.parse(json.stdout) as Snapshot).processes.find((p) => p.pid === holder.info.pid)!;
    expect(proc.name).toBe(name);
    expect(proc.commandLine[0]).toBe(`${dir}/${name}`);
    expect(proc.commandLine.at(-1)).toBe('x\udcc3(y');
    // The bytes come back exactly: a lone surrogate U+DC80..U+DCFF is the byte it stands for.
    const toBytes = (text: string) => Buffer.concat([...text].map((c) => (c.charCodeAt(0) >= 0xdc80 && c.charCodeAt(0) <= 0xdcff ? Buffer.from([c.charCodeAt(0) - 0xdc00]) : Buffer.from(c))));
    expect(toBytes(proc.name).equals(bytes)).toBe(true);

    const once = runCli(['--once', '--filter', ':2828', '--no-hash-binaries', '--db', db, '--csv', csv], { env: { ...process.env, COLUMNS: '200' } });
    expect(once.status, once.stderr).toBe(0);
    expect(once.stdout).toContain('no\\xff\\xfede');
    expect(once.stdout).not.toContain('\ufffd');
    const shown = runCli(['show', 'latest', '--db', db, '-o', 'json']);
    expect(shown.status, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as Snapshot).processes.find((p) => p.pid === holder.info.pid)).toEqual(proc);
    // ECS documents go to other tools: well-formed text, each such byte a replacement character.
    const ecs = runCli(['snapshot', '-o', 'ecs', '--filter', ':2828', '--no-hash-binaries']);
    expect(ecs.status, ecs.stderr).toBe(0);
    expect(ecs.stdout).not.toMatch(/\\ud[89a-f][0-9a-f]{2}/i);
    const doc = ecs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { process?: { name?: string } }).find((d) => d.process?.name?.startsWith('no'));
    expect(doc?.process?.name).toBe('no\ufffd\ufffdde');
    // The CSV is text for spreadsheets: valid UTF-8, each such byte a replacement character.
    const trail = readFileSync(csv);
    expect(new TextDecoder('utf-8', { fatal: true }).decode(trail)).toContain('no\ufffd\ufffdde');
    // And verify-trail rebuilds those cells as the trail holds them (before: every such row was
    // "changed", exit 4, on a trail nobody had touched).
    const verified = runCli(['verify-trail', '--db', db, '--csv', csv]);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
  });
});

describe('a process whose executable was deleted after it started', () => {
  it('is flagged, and its binary is still hashed through /proc/<pid>/exe', async () => {
    const copy = join(dir, 'node-copy');
    copyFileSync(realpathSync(process.execPath), copy);
    const { chmodSync } = await import('node:fs');
    chmodSync(copy, 0o755);
    const expected = createHash('sha256').update(readFileSync(copy)).digest('hex');
    const holder = await startJsonProcess<{ pid: number; tcp4: number }>(copy, [HOLDER, '--listen-port', '2727']);
    started.push(holder);
    unlinkSync(copy);
    const r = runCli(['snapshot', '-o', 'json', '--filter', ':2727']);
    expect(r.status, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    const proc = snap.processes.find((p) => p.pid === holder.info.pid)!;
    expect(proc.executable).toBe(copy);
    expect(proc.executableDeleted).toBe(true);
    expect(proc.hashes?.sha256).toBe(expected);
  });
});

describe('an executable whose file name ends in " (deleted)"', () => {
  // The kernel marks a deleted executable by that suffix on /proc/<pid>/exe; a file can be named
  // so too. Before, such a binary was reported deleted, under a path that does not exist.
  it('is reported under its whole name and not deleted while its file exists; once deleted, only the kernel\'s suffix is cut', async () => {
    const copy = join(dir, 'sshd (deleted)');
    copyFileSync(realpathSync('/usr/bin/python3'), copy);
    const { chmodSync } = await import('node:fs');
    chmodSync(copy, 0o755);
    const code = 'import socket,sys,json,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen()\nimport os\nprint(json.dumps({"pid":os.getpid(),"tcp4":s.getsockname()[1]}),flush=True)\ntime.sleep(3600)';
    const holder = await startJsonProcess<{ pid: number; tcp4: number }>(copy, ['-c', code]);
    started.push(holder);
    const read = () => {
      const r = runCli(['snapshot', '-o', 'json', '--include-ephemeral', '--filter', `:${holder.info.tcp4}`, '--no-hash-binaries']);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as Snapshot).processes.find((p) => p.pid === holder.info.pid)!;
    };
    expect(read()).toMatchObject({ executable: copy, executableDeleted: false });
    unlinkSync(copy);
    expect(read()).toMatchObject({ executable: copy, executableDeleted: true });
  });
});

describe('a process whose main thread has exited while another thread runs', () => {
  // Its /proc/<pid> shows no descriptors, executable or namespace; a live thread's /proc/<tid>
  // does. Before, its sockets were left unattributed, and a namespace only it lived in was missing
  // from the inventory with every socket in it.
  const LEADER_EXITS = join(import.meta.dirname, '..', 'fixtures', 'leader-exits.py');
  const check = (snap: Snapshot, holder: { pid: number; tcp4: number }) => {
    const socket = snap.sockets.find((s) => s.localPort === holder.tcp4 && s.state === 'LISTEN');
    expect(socket?.owners).toEqual([{ pid: holder.pid, fd: expect.any(Number) }]);
    const proc = snap.processes.find((p) => p.pid === holder.pid)!;
    expect(proc.executable).toBe(realpathSync('/usr/bin/python3'));
    expect(proc.commandLine.slice(1)).toEqual([LEADER_EXITS]);
    expect(proc.hashes?.sha256).toBe(createHash('sha256').update(readFileSync(realpathSync('/usr/bin/python3'))).digest('hex'));
    return socket!;
  };
  const zombieLeader = (pid: number) => /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  /** Whether the leader has exited (its thread lives on), polled for up to 5 s: the fixture's main thread exits 0.2 s after it prints. */
  const leaderExited = async (pid: number): Promise<boolean> => {
    const until = Date.now() + 5000;
    while (!zombieLeader(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    return zombieLeader(pid);
  };

  it('is attributed and described through the live thread, with both scanners', async () => {
    const holder = await startJsonProcess<{ pid: number; tcp4: number }>('/usr/bin/python3', [LEADER_EXITS]);
    started.push(holder);
    expect(await leaderExited(holder.info.pid)).toBe(true);
    for (const env of [process.env, { ...process.env, NETMON_NATIVE: '0' }]) {
      const r = runCli(['snapshot', '-o', 'json', '--include-ephemeral', '--filter', `:${holder.info.tcp4}`], { env });
      expect(r.status, r.stderr).toBe(0);
      check(JSON.parse(r.stdout) as Snapshot, holder.info);
    }
  });

  it.skipIf(skipWithReason(!isRoot || !haveCommand('unshare'), 'a namespace of its own: needs root and unshare (util-linux)'))(
    'keeps a network namespace that only such a process lives in',
    async () => {
      const holder = await startJsonProcess<{ pid: number; tcp4: number }>('unshare', ['-n', '/usr/bin/python3', LEADER_EXITS]);
      started.push(holder);
      expect(await leaderExited(holder.info.pid)).toBe(true);
      const r = runCli(['snapshot', '-o', 'json', '--include-ephemeral', '--filter', `:${holder.info.tcp4}`]);
      expect(r.status, r.stderr).toBe(0);
      const snap = JSON.parse(r.stdout) as Snapshot;
      const socket = check(snap, holder.info);
      const ns = snap.namespaces.find((n) => n.inode === socket.netns);
      expect(ns).toMatchObject({ host: false, read: true, processes: 1 });
    },
  );
});

