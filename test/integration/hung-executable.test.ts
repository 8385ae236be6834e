import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeProcScan } from '../../src/collect/native-procscan.js';
import { snapshot } from '../../src/snapshot/snapshot.js';
import { parseCsv } from '../helpers/ecs-validator.js';
import { CLI, HOLDER, ROOT, haveCommand, isRoot, runCli, skipWithReason, startJsonProcess, stop } from '../helpers/processes.js';

/**
 * A process whose executable lives on a file system that stops answering, as a hard NFS mount
 * does when its server goes away. Here the file system is a real FUSE mount (bindfs) whose daemon
 * is stopped with SIGSTOP: every open() or stat() of a file in it then waits in the kernel. The
 * capture must go on without that executable's hashes, say so, and still exit.
 */

const root = mkdtempSync(join(tmpdir(), 'netmon-hung-'));
const backing = join(root, 'backing');
const mnt = join(root, 'mnt');
mkdirSync(backing);
mkdirSync(mnt);

const native = loadNativeProcScan(true);
const canMount = isRoot && haveCommand('bindfs') && existsSync('/dev/fuse');
const skip = skipWithReason(
  !existsSync(CLI) || !canMount || native === null,
  'executable on a hung file system: needs the built CLI and native addon, root, /dev/fuse and bindfs (Debian package bindfs)',
);

let daemon: ChildProcess | undefined;
afterAll(async () => {
  // Let every waiting call return before the daemon goes, so that no thread of this worker waits.
  daemon?.kill('SIGCONT');
  if (canMount) spawnSync('umount', ['-l', mnt]);
  daemon?.kill('SIGTERM');
  rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function mountFuse(): Promise<void> {
  // In the foreground (-f), so that its pid is the child's: SIGSTOP then hangs the file system.
  daemon = spawn('bindfs', ['-f', backing, mnt], { stdio: 'ignore' });
  const until = Date.now() + 10_000;
  while (!readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `)) {
    if (Date.now() > until || daemon.exitCode !== null) throw new Error('bindfs did not mount');
    await sleep(20);
  }
}

describe.skipIf(skip)('an executable on a file system that does not answer', () => {
  it('is left unhashed with W_HASH_TIMEOUT, the capture is stored and exits 0, and a later capture hashes it once the file system answers', async () => {
    await mountFuse();
    const exe = join(mnt, 'node-copy');
    copyFileSync(realpathSync(process.execPath), join(backing, 'node-copy'));
    const expected = createHash('sha256').update(readFileSync(join(backing, 'node-copy'))).digest('hex');
    const holder = await startJsonProcess<{ pid: number; tcp4: number }>(exe, [HOLDER]);
    try {
      daemon!.kill('SIGSTOP');

      // The CLI: the evidence capture finishes, stores the socket with its process, and exits.
      const dir = mkdtempSync(join(root, 'once-'));
      const filter = ['--include-ephemeral', '--filter', `127.0.0.1:${holder.info.tcp4}`];
      const once = runCli(['--once', '--hash-timeout', '0.5', ...filter, '--db', 'e.db', '--csv', 'e.csv'], { cwd: dir, killAfterMs: 30_000 });
      expect(once.status, once.stderr).toBe(0);
      expect(once.stderr).toContain(`the file system holding 1 executable did not answer within 0.5 s, so it was not hashed (pid ${holder.info.pid} ${exe})`);
      const [header, ...cells] = parseCsv(readFileSync(join(dir, 'e.csv'), 'utf8'));
      const rows = cells.map((row) => Object.fromEntries(header!.map((name, i) => [name, row[i]])));
      const listener = rows.find((r) => r.local_port === String(holder.info.tcp4) && r.state === 'LISTEN');
      expect(listener).toMatchObject({ pid: String(holder.info.pid), executable: exe, executable_sha256: '' });
      const shown = runCli(['show', 'latest', '--output', 'json', '--db', 'e.db'], { cwd: dir });
      expect(shown.status, shown.stderr).toBe(0);
      const stored = JSON.parse(shown.stdout) as { warnings: { code: string }[]; processes: { pid: number; hashes?: unknown; issues: { field: string; detail?: string }[] }[] };
      expect(stored.warnings.map((w) => w.code)).toContain('W_HASH_TIMEOUT');
      const proc = stored.processes.find((p) => p.pid === holder.info.pid)!;
      expect(proc.hashes).toBeUndefined();
      expect(proc.issues).toContainEqual(expect.objectContaining({ field: 'hash', detail: `not hashed: stat /proc/${holder.info.pid}/exe: the file system did not answer within 0.5 s` }));
      expect(runCli(['verify-store', '--db', 'e.db'], { cwd: dir }).status).toBe(0);

      // In one process, as --interval runs: the first capture waits once, the next does not try
      // the same file again while that call is stuck, and once the file system answers, it is hashed.
      const options = { includeEphemeral: true, filters: { filter: [`127.0.0.1:${holder.info.tcp4}`] }, hashTimeoutMs: 300 };
      const first = await snapshot(options);
      const path = `/proc/${holder.info.pid}/exe`;
      expect(first.processes.find((p) => p.pid === holder.info.pid)!.issues).toContainEqual(expect.objectContaining({ field: 'hash', detail: `not hashed: stat ${path}: the file system did not answer within 0.3 s` }));
      expect(native!.deadlinePending()).toContain(path);
      const second = await snapshot(options);
      expect(second.processes.find((p) => p.pid === holder.info.pid)!.issues).toContainEqual(
        expect.objectContaining({ field: 'hash', detail: `not hashed: an earlier read of ${path} has not returned yet (its file system does not answer)` }),
      );
      expect(second.warnings.map((w) => w.code)).toContain('W_HASH_TIMEOUT');

      daemon!.kill('SIGCONT');
      const until = Date.now() + 10_000;
      while (native!.deadlinePending().includes(path) && Date.now() < until) await sleep(20);
      expect(native!.deadlinePending()).not.toContain(path);
      const third = await snapshot(options);
      const hashed = third.processes.find((p) => p.pid === holder.info.pid)!;
      expect(hashed.hashes?.sha256).toBe(expected);
      expect(third.warnings.map((w) => w.code)).not.toContain('W_HASH_TIMEOUT');
    } finally {
      daemon!.kill('SIGCONT');
      await stop(holder.child);
    }
  });

  it('a Ctrl-C while --once waits for such an executable: the capture finishes, is stored and reported with its record hash, exit 0', async () => {
    if (!readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `)) await mountFuse();
    const exe = join(mnt, 'node-copy-2');
    copyFileSync(realpathSync(process.execPath), join(backing, 'node-copy-2'));
    const holder = await startJsonProcess<{ pid: number; tcp4: number }>(exe, [HOLDER]);
    try {
      daemon!.kill('SIGSTOP');
      const dir = mkdtempSync(join(root, 'sigint-'));
      const child = spawn(process.execPath, [CLI, '--once', '--hash-timeout', '4', '--include-ephemeral', '--filter', `127.0.0.1:${holder.info.tcp4}`, '--db', 'e.db', '--csv', 'e.csv'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      // The capture is under way once its store exists (netmon answers signals from before it
      // opens the store): well inside the 4 s the hash may take. Polled: a loaded machine starts
      // netmon more slowly.
      const started = Date.now() + 20_000;
      while (!existsSync(join(dir, 'e.db'))) {
        if (Date.now() > started || child.exitCode !== null) throw new Error(`netmon --once did not open its store: ${stderr}`);
        await sleep(20);
      }
      expect(child.exitCode, stderr).toBeNull();
      child.kill('SIGINT');
      const { code, signal } = await exited;
      // (Before, Node's default for SIGINT ended it here, its snapshot stored or not, no record hash shown: a new-user probe.)
      expect(signal, stderr).toBeNull();
      expect(code, stderr).toBe(0);
      expect(stderr).toContain('netmon: SIGINT: finishing the current capture, then stopping\n');
      expect(stderr).toMatch(/netmon: appended \d+ rows? to e\.csv, snapshot \d+ in e\.db \(record hash [0-9a-f]{64}\)\n/);
      expect(runCli(['verify-store', '--db', 'e.db'], { cwd: dir }).status).toBe(0);
      expect(runCli(['verify-trail', '--db', 'e.db', '--csv', 'e.csv'], { cwd: dir }).status).toBe(0);
    } finally {
      daemon!.kill('SIGCONT');
      await stop(holder.child);
    }
  });

  it('native deadline calls: a read that misses its deadline owns its descriptor and closes it when it returns; at most 16 calls wait', async () => {
    if (!readFileSync('/proc/self/mounts', 'utf8').includes(` ${mnt} `)) await mountFuse();
    const file = join(mnt, 'data');
    copyFileSync(join(ROOT, 'package.json'), join(backing, 'data'));
    const ETIMEDOUT = 110;
    const EAGAIN = 11;
    const fd = native!.deadlineOpen(file, 5000);
    expect(fd).toBeGreaterThan(2);
    const buffer = new Uint8Array(64);
    // bindfs answers reads from its own descriptor: stopped, it answers nothing.
    daemon!.kill('SIGSTOP');
    try {
      expect(native!.deadlineRead(fd, buffer, 200, 'stuck read')).toBe(-ETIMEDOUT);
      expect(native!.deadlinePending()).toContain('stuck read');
      // Many files in one call: those before the one that does not answer are done, those after it not tried.
      const many = native!.deadlineStatMany([join(ROOT, 'package.json'), join(mnt, 'absent'), join(ROOT, 'README.md')], 200);
      expect(many[0]).toBeInstanceOf(BigInt64Array);
      expect(many.slice(1)).toEqual([-ETIMEDOUT, -EAGAIN]);
      expect(native!.deadlinePending()).toContain(join(mnt, 'absent'));
      // All at once: each file on a thread of its own, within one deadline.
      const each = native!.deadlineStatEach([join(mnt, 'absent-a'), join(ROOT, 'package.json'), join(mnt, 'absent-b')], 200);
      expect(each[0]).toBe(-ETIMEDOUT);
      expect(each[1]).toBeInstanceOf(BigInt64Array);
      expect(each[2]).toBe(-ETIMEDOUT);
      expect(native!.deadlinePending()).toEqual(expect.arrayContaining([join(mnt, 'absent-a'), join(mnt, 'absent-b')]));
      const results: number[] = [];
      for (let i = 0; i < 20; i++) results.push(native!.deadlineStatMany([join(mnt, `absent-${i}`)], 50)[0] as number);
      const waiting = native!.deadlinePending().length;
      expect(waiting).toBe(16);
      expect(results.filter((r) => r === -ETIMEDOUT).length).toBe(16 - 4);
      expect(results.slice(-4)).toEqual([-EAGAIN, -EAGAIN, -EAGAIN, -EAGAIN]);
      // Once the file system answers, the waiting calls return and calls can be made again.
      daemon!.kill('SIGCONT');
      const until = Date.now() + 10_000;
      while (native!.deadlinePending().length > 0 && Date.now() < until) await sleep(20);
      expect(native!.deadlinePending()).toEqual([]);
      // The abandoned read returned and closed its descriptor.
      expect(existsSync(`/proc/self/fd/${fd}`)).toBe(false);
      const local = native!.deadlineOpen(join(ROOT, 'package.json'), 1000);
      expect(local).toBeGreaterThan(2);
      expect(native!.deadlineRead(local, buffer, 1000)).toBe(64);
      expect(Buffer.from(buffer).toString('utf8', 0, 1)).toBe('{');
      expect(native!.deadlineClose(local, 1000)).toBe(0);
    } finally {
      daemon!.kill('SIGCONT');
    }
  });
});
