import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { AS_NOBODY, CLI, haveCommand, isRoot, runCli, skipWithReason } from '../helpers/processes.js';
import { snapshotCount } from '../helpers/store-fixtures.js';

/**
 * A capture loop whose CSV trail cannot be written for a while (a rotation that created the new
 * trail for the wrong user, a full file system) goes on storing snapshots, says so once, and
 * writes the full inventory to the trail at the first tick that can: the trail's owner or free
 * space never costs the evidence in the store. Real processes as nobody, real files, a real tmpfs.
 */

const NOBODY = 65534;
const dir = mkdtempSync(join(tmpdir(), 'netmon-trail-down-'));
// Others may pass through it to the directories made for nobody.
chmodSync(dir, 0o755);
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A loopback listener of this test's own, and the connections it makes to it: the sockets the
// captures select (--filter on its port), so that trails have rows and ticks have changes.
let server: net.Server;
let port = 0;
const clients: net.Socket[] = [];
beforeAll(async () => {
  server = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** One more connection to the listener, the oldest closed beyond three: a change at every tick. */
function churn(): void {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  clients.push(c);
  while (clients.length > 3) clients.shift()!.destroy();
}

/** What the captures select: this test's sockets (on an ephemeral port, which is left out by default). */
const selection = (): string[] => ['--no-hash-binaries', '--include-ephemeral', '--filter', `:${port}`];

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A directory of nobody's own (not writable by others, so a root-owned trail there is not "foreign"). */
function nobodysDir(name: string): string {
  const path = join(dir, name);
  mkdirSync(path, { mode: 0o755 });
  chownSync(path, NOBODY, NOBODY);
  return path;
}

/** `netmon --interval 0.3` as nobody in `cwd`, with its stderr collected. */
function loopAsNobody(cwd: string, args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const [command, ...pre] = AS_NOBODY;
  const child = spawn(command!, [...pre, process.execPath, CLI, '--interval', '0.3', ...selection(), ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => text, exited };
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

/**
 * Moves the running loop's trail to `<csv>.1` and puts `make`'s file in its place with no moment
 * in which the path is free: the loop appends every 0.3 s, and a rename followed by a create lost
 * that race in CI (the loop made a new trail first, and mkfifo failed). The old trail is kept by
 * a hard link, the replacement is made beside it and renamed over the path in one step.
 */
function swapTrail(csv: string, make: (path: string) => void): void {
  const fresh = `${csv}.swap`;
  make(fresh);
  linkSync(csv, `${csv}.1`);
  renameSync(fresh, csv);
}

describe.skipIf(skipWithReason(!isRoot || !haveCommand('setpriv'), 'trail-down tests: need root (to hand files to another user) and setpriv (util-linux)'))('a capture loop whose trail cannot be written', () => {
  it('a rotation that creates the new trail for the wrong user: snapshots go on into the store, one warning, and the inventory once the owner is fixed', async () => {
    const cwd = nobodysDir('rotated');
    const db = join(cwd, 'n.db');
    const csv = join(cwd, 't.csv');
    const loop = loopAsNobody(cwd, ['--db', db, '--csv', csv]);
    try {
      await waitFor('two snapshots', () => snapshotCount(db) >= 2);
      // logrotate with `create 0640 root root`: the trail moved away, a new one nobody cannot write.
      swapTrail(csv, (path) => {
        writeFileSync(path, '', { mode: 0o640 });
        chmodSync(path, 0o640);
      });
      const before = snapshotCount(db);
      await waitFor('the warning', () => loop.stderr().includes('did not reach the CSV trail'));
      await waitFor('four more snapshots', () => snapshotCount(db) >= before + 4);
      expect(loop.child.exitCode, loop.stderr()).toBeNull();
      // Said once, not at every tick.
      expect(count(loop.stderr(), 'did not reach the CSV trail'), loop.stderr()).toBe(1);
      expect(loop.stderr()).toMatch(/netmon: warning: snapshot (\d+) is in the evidence store \S+, but its rows did not reach the CSV trail: cannot open the CSV trail: EACCES \(permission denied\) opening \S+t\.csv; capturing goes on into the store, and the first capture that can write the trail writes the full inventory to it/);
      expect(readFileSync(csv, 'utf8')).toBe('');
      chownSync(csv, NOBODY, NOBODY);
      await waitFor('the trail written again', () => loop.stderr().includes('could be written again'));
      loop.child.kill('SIGTERM');
      expect(await loop.exited, loop.stderr()).toBe(0);
    } finally {
      loop.child.kill('SIGKILL');
    }
    const stderr = loop.stderr();
    const down = Number(/snapshot (\d+) is in the evidence store \S+, but its rows did not reach/.exec(stderr)![1]);
    const resumed = /wrote the full inventory of snapshot (\d+) to it \((\d+) rows?\), then changes again; snapshots? (\d+)(?: to (\d+))? (?:is|are) in the evidence store only \(it could not be written: cannot open the CSV trail: EACCES/.exec(stderr);
    expect(resumed, stderr).not.toBeNull();
    const [, inventoryOf, , from, to] = resumed!;
    expect(Number(from)).toBe(down);
    expect(Number(to ?? from)).toBe(Number(inventoryOf) - 1);
    expect(Number(inventoryOf) - down).toBeGreaterThanOrEqual(4);
    // Not also called a restart: one note says what happened.
    expect(stderr).not.toContain('restarted since the last capture');
    // Every snapshot is in the store, the chain verifies, and both trail files verify against it.
    expect(runCli(['verify-store', '--db', db]).status).toBe(0);
    const store = EvidenceStore.open(db, { readonly: true });
    const ids = store.listSnapshots().map((s) => s.id);
    store.close();
    for (let id = down; id <= Number(inventoryOf); id++) if (id !== down - 1) expect(ids.includes(id) || !ids.some((x) => x > id), `snapshot ${id}`).toBe(true);
    for (const file of [csv, `${csv}.1`]) {
      const verified = runCli(['verify-trail', '--db', db, '--csv', file]);
      expect(verified.status, `${file}: ${verified.stdout}${verified.stderr}`).toBe(0);
    }
    // The new trail begins with the inventory of the snapshot that could write it.
    const lines = readFileSync(csv, 'utf8').split('\r\n').filter((l) => l !== '');
    expect(lines[1]!.split(',')[2]).toBe(inventoryOf);
    expect(lines[1]!.split(',')[3]).toBe('present');
  });

  it('a trail it may not write when the loop starts: the loop starts all the same and stores; stopped meanwhile, it says which snapshots the trail lacks; --once refuses as before', async () => {
    const cwd = nobodysDir('at-start');
    const db = join(cwd, 'n.db');
    const csv = join(cwd, 't.csv');
    const first = runCli(['--once', '--db', db, '--csv', csv, ...selection()], { cwd, prefix: AS_NOBODY });
    expect(first.status, first.stderr).toBe(0);
    chownSync(csv, 0, 0);
    chmodSync(csv, 0o644);
    const trail = readFileSync(csv);
    // One capture: what an operator at the terminal runs, and sees fail at once.
    const once = runCli(['--once', '--db', db, '--csv', csv, ...selection()], { cwd, prefix: AS_NOBODY });
    expect(once.status, once.stderr).toBe(3);
    expect(once.stderr).toContain(`cannot write the CSV trail: EACCES (permission denied) writing ${csv}; nothing was captured`);
    const stored = snapshotCount(db);
    const loop = loopAsNobody(cwd, ['--db', db, '--csv', csv]);
    try {
      await waitFor('three snapshots', () => snapshotCount(db) >= stored + 3);
      loop.child.kill('SIGTERM');
      expect(await loop.exited, loop.stderr()).toBe(0);
    } finally {
      loop.child.kill('SIGKILL');
    }
    const stderr = loop.stderr();
    expect(count(stderr, 'did not reach the CSV trail'), stderr).toBe(1);
    const last = Number(/last snapshot (\d+) in /.exec(stderr)![1]);
    const since = Number(/snapshot (\d+) is in the evidence store \S+, but its rows did not reach/.exec(stderr)![1]);
    expect(stderr).toContain(`netmon: warning: the CSV trail ${csv} could not be written since snapshot ${since}: snapshots ${since} to ${last} are in the evidence store only (netmon show prints any of them); the next capture that can write the trail writes the full inventory to it, and says since when it lacked rows`);
    expect(readFileSync(csv).equals(trail)).toBe(true);
    // Once it can be written, the next capture writes the full inventory, and says since when the
    // trail lacked rows: the store kept the outage for it.
    chownSync(csv, NOBODY, NOBODY);
    const next = runCli(['--once', '--db', db, '--csv', csv, ...selection()], { cwd, prefix: AS_NOBODY });
    expect(next.status, next.stderr).toBe(0);
    expect(next.stderr).toMatch(new RegExp(`could be written again: wrote the full inventory of snapshot \\d+ to it \\(\\d+ rows?\\), then changes again; snapshots ${since} to ${last} are in the evidence store only`));
    expect(next.stderr).not.toContain('an earlier capture stored snapshot');
    const verified = runCli(['verify-trail', '--db', db, '--csv', csv]);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    expect(runCli(['verify-store', '--db', db]).status).toBe(0);
  });
});

describe.skipIf(skipWithReason(!haveCommand('mkfifo'), 'trail replaced by a pipe: needs mkfifo (coreutils)'))('a capture loop whose trail is replaced by a pipe (from a probe: the loop hung for good)', () => {
  it('is not written to (no reader would ever take the rows): snapshots go on into the store, SIGTERM is heard, and a file there again gets the inventory', async () => {
    const cwd = join(dir, 'piped');
    mkdirSync(cwd);
    const db = join(cwd, 'n.db');
    const csv = join(cwd, 't.csv');
    const ticker = setInterval(churn, 100);
    const child = spawn(process.execPath, [CLI, '--interval', '0.3', ...selection(), '--db', db, '--csv', csv], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor('two snapshots', () => snapshotCount(db) >= 2);
      swapTrail(csv, (path) => expect(spawnSync('mkfifo', [path]).status).toBe(0));
      await waitFor('the warning', () => stderr.includes('did not reach the CSV trail'));
      expect(stderr).toContain(`cannot write the CSV trail: ${csv} is a pipe (FIFO), not a regular file`);
      const during = snapshotCount(db);
      await waitFor('more snapshots', () => snapshotCount(db) >= during + 2);
      rmSync(csv);
      await waitFor('the trail written again', () => stderr.includes('could be written again'));
      const stopping = Date.now();
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(10_000);
    } finally {
      clearInterval(ticker);
      child.kill('SIGKILL');
    }
    for (const file of [csv, `${csv}.1`]) {
      const verified = runCli(['verify-trail', '--db', db, '--csv', file]);
      expect(verified.status, `${file}: ${verified.stdout}${verified.stderr}`).toBe(0);
    }
  });
});

describe('watch, stopped while its trail cannot be written (from a probe)', () => {
  it('says last which snapshots the trail lacks, as --interval does', async () => {
    const cwd = join(dir, 'watched');
    mkdirSync(cwd);
    const csv = join(cwd, 't.csv');
    const child = spawn(process.execPath, [CLI, 'watch', '--interval', '0.3', ...selection(), '--db', join(cwd, 'n.db'), '--csv', csv], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor('the trail', () => existsSync(csv));
      await sleep(500);
      // A directory cannot be renamed over a file: move the trail and retry should the loop
      // make a new one before the directory is there (this test reads no trail afterwards).
      linkSync(csv, `${csv}.1`);
      for (;;) {
        rmSync(csv, { force: true });
        try {
          mkdirSync(csv);
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
      }
      await waitFor('the warning', () => stderr.includes('did not reach the CSV trail'));
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(stderr).toMatch(new RegExp(`netmon: warning: the CSV trail ${csv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} could not be written since snapshot \\d+: (that snapshot is|snapshots \\d+ to \\d+ are) in the evidence store only`));
  });
});

const full = ((): { dir?: string; reason: string } => {
  if (!isRoot) return { reason: 'needs root to mount a small tmpfs' };
  const path = join(dir, 'small');
  mkdirSync(path);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', path]).status !== 0) return { reason: 'mount -t tmpfs failed' };
  mounts.push(path);
  return { dir: path, reason: '' };
})();

describe.skipIf(skipWithReason(full.dir === undefined, `trail on a full file system: ${full.reason}`))('a capture loop whose trail is on a full file system', () => {
  it('ENOSPC: snapshots go on into the store (on another file system), the trail is left whole, and gets the inventory once there is room', async () => {
    const small = full.dir!;
    const db = join(dir, 'full.db');
    const csv = join(small, 't.csv');
    const child = spawn(process.execPath, [CLI, '--interval', '0.3', ...selection(), '--db', db, '--csv', csv], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const fillers: string[] = [];
    const ticker = setInterval(churn, 100);
    try {
      await waitFor('two snapshots', () => snapshotCount(db) >= 2);
      // Fill the file system to the last byte.
      try {
        for (let i = 0; ; i++) {
          const f = join(small, `fill-${i}`);
          fillers.push(f);
          writeFileSync(f, Buffer.alloc(4096));
        }
      } catch {
        // ENOSPC: full
      }
      try {
        for (let i = 0; ; i++) writeFileSync(join(small, `byte-${i}`), 'x');
      } catch {
        // not even an inode or a byte left
      }
      await waitFor('the warning', () => stderr.includes('did not reach the CSV trail'));
      expect(stderr).toMatch(/did not reach the CSV trail: could not append to the CSV trail \(it is unchanged\): ENOSPC|did not reach the CSV trail: cannot open the CSV trail: ENOSPC/);
      const during = snapshotCount(db);
      await waitFor('more snapshots', () => snapshotCount(db) >= during + 3);
      expect(child.exitCode, stderr).toBeNull();
      for (const name of readdirSync(small)) if (name !== 't.csv') rmSync(join(small, name));
      await waitFor('the trail written again', () => stderr.includes('could be written again'));
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
    } finally {
      clearInterval(ticker);
      child.kill('SIGKILL');
    }
    expect(count(stderr, 'did not reach the CSV trail'), stderr).toBe(1);
    expect(existsSync(csv)).toBe(true);
    const verified = runCli(['verify-trail', '--db', db, '--csv', csv]);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    // The hole in the file is explained, from the store's record of the outage.
    const [, from, to] = /snapshots? (\d+)(?: to (\d+))? (?:is|are) in the evidence store only \(it could not be written/.exec(stderr)!;
    expect(verified.stdout + verified.stderr).toContain(`${to === undefined ? `snapshot ${from} is` : `snapshots ${from} to ${to} are`} not in this trail: a capture loop could not write it then (`);
    expect(runCli(['verify-store', '--db', db]).status).toBe(0);
  });
});
