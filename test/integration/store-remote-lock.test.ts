import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, haveCommand, isRoot, runCli, skipWithReason } from '../helpers/processes.js';
import { stopBetweenTransactions, withRaw } from '../helpers/store-fixtures.js';

/**
 * One evidence store written from two hosts (a store on a shared file system). The other host is
 * real as far as netmon can tell: a UTS namespace with its own host name, and a mount namespace
 * where /proc/sys/kernel/random/boot_id reads another boot id. Its processes are as unknown to
 * this side as another machine's would be.
 */

const ELSEWHERE = 'host-elsewhere';
const root = mkdtempSync(join(tmpdir(), 'netmon-remote-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bootFile = join(root, 'boot_id');
writeFileSync(bootFile, `${randomUUID()}\n`);

/** The command prefix that runs a program "on another host". */
const elsewhere = ['unshare', '--uts', '--mount', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" /proc/sys/kernel/random/boot_id && hostname ${ELSEWHERE} && exec "$@"`, bootFile];

function canRunElsewhere(): boolean {
  if (!isRoot || !haveCommand('unshare') || !existsSync('/proc/sys/kernel/random/boot_id')) return false;
  const probe = spawnSync(elsewhere[0]!, [...elsewhere.slice(1), 'sh', '-c', 'cat /proc/sys/kernel/random/boot_id; hostname'], { encoding: 'utf8' });
  return probe.status === 0 && probe.stdout === `${spawnSync('cat', [bootFile], { encoding: 'utf8' }).stdout}${ELSEWHERE}\n`;
}

const skip = skipWithReason(
  !existsSync(CLI) || !canRunElsewhere(),
  'store written from two hosts: needs the built CLI, root and unshare (util-linux), and a kernel that lets root bind-mount over /proc/sys/kernel/random/boot_id in a private mount namespace',
);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Capture {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** `netmon --interval 0.5` in `dir` (on the other host when `prefix` says so), once it has stored `snapshots` snapshots. */
async function startInterval(dir: string, csv: string, prefix: string[], snapshots: number): Promise<Capture> {
  const args = [process.execPath, CLI, '--interval', '0.5', '--no-hash-binaries', '--db', 's.db', '--csv', csv];
  const [command, ...rest] = [...prefix, ...args];
  const child = spawn(command!, rest, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const until = Date.now() + 20_000;
  while (listHosts(dir).filter((h) => h === (prefix.length > 0 ? ELSEWHERE : hostname())).length < snapshots) {
    if (Date.now() > until || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`netmon --interval stored no ${snapshots} snapshots: ${stderr}`);
    }
    await sleep(100);
  }
  return { child, stderr: () => stderr, exited };
}

/** The host of each snapshot in the store, oldest first. */
function listHosts(dir: string): string[] {
  const listed = runCli(['snapshots', '--db', 's.db', '--output', 'json'], { cwd: dir });
  if (listed.status !== 0) return [];
  return (JSON.parse(listed.stdout) as { snapshots: { host: string }[] }).snapshots.map((s) => s.host);
}

async function exitOf(capture: Capture, what: string): Promise<number | null> {
  return await Promise.race([capture.exited, sleep(15_000).then(() => Promise.reject(new Error(`${what} did not exit within 15 s: ${capture.stderr()}`)))]);
}


/** A capture on the other host that stored two snapshots and was then stopped (SIGSTOP) between two of its transactions. */
async function stoppedRemote(prefix: string): Promise<{ dir: string; db: string; remote: Capture; remoteSnapshots: number }> {
  const dir = mkdtempSync(join(root, prefix));
  const db = join(dir, 's.db');
  const remote = await startInterval(dir, 'remote.csv', elsewhere, 2);
  try {
    await stopBetweenTransactions(remote.child, db);
  } catch (error) {
    remote.child.kill('SIGKILL');
    throw error;
  }
  return { dir, db, remote, remoteSnapshots: listHosts(dir).length };
}

/** Kill captures left running by a failed test (a stopped one is woken first, so that it dies at once). */
function killAll(...captures: (Capture | undefined)[]): void {
  for (const c of captures) {
    c?.child.kill('SIGCONT');
    c?.child.kill('SIGKILL');
  }
}

const verified = (dir: string) => {
  const verify = runCli(['verify-store', '--db', 's.db'], { cwd: dir });
  expect(verify.status, verify.stdout + verify.stderr).toBe(0);
};

describe.skipIf(skip)('an evidence store written from two hosts (a shared file system)', () => {
  it('a capture running on another host keeps the store busy: a capture here is refused and nothing interleaves', async () => {
    const dir = mkdtempSync(join(root, 'busy-'));
    const remote = await startInterval(dir, 'remote.csv', elsewhere, 2);
    try {
      const here = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--csv', 'here.csv'], { cwd: dir });
      expect(here.status, here.stderr).toBe(3);
      expect(here.stderr).toContain(`is in use by pid ${remote.child.pid} on host ${ELSEWHERE}, since `);
      expect(here.stderr).toMatch(/if it no longer runs, its lock counts as stale from \d{4}-\d\d-\d\dT/);
      expect(existsSync(join(dir, 'here.csv'))).toBe(false);
      remote.child.kill('SIGINT');
      expect(await exitOf(remote, 'the remote capture'), remote.stderr()).toBe(0);
    } finally {
      remote.child.kill('SIGKILL');
    }
    const hosts = listHosts(dir);
    expect(hosts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(hosts)).toEqual(new Set([ELSEWHERE]));
    verified(dir);
    // Stopped cleanly there, the store is free here at once, with no unclean-stop gap.
    const after = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--csv', 'here.csv'], { cwd: dir });
    expect(after.status, after.stderr).toBe(0);
    expect(after.stderr).not.toMatch(/stopped without closing/);
    verified(dir);
  });

  it('a writer silent for too long (a suspended machine) is taken over with a gap; when it wakes it stops at once, without writing, and leaves the new lock alone', async () => {
    const { dir, db, remote, remoteSnapshots } = await stoppedRemote('taken-over-');
    let local: Capture | undefined;
    try {
      // Its last sign of life as if it were ten minutes old (bookkeeping outside the hash chain):
      // the lock is stale for a host that cannot check that machine's processes.
      const old = new Date(Date.now() - 600_000).toISOString();
      withRaw(db, (raw) => {
        raw.prepare("UPDATE meta SET value = json_set(value, '$.at', ?) WHERE key = 'writer_alive'").run(old);
        raw.prepare('UPDATE writer SET since = ? WHERE id = 1').run(old);
      });
      local = await startInterval(dir, 'here.csv', [], 1);
      // (its stderr may come a moment after the snapshot is listed)
      for (let k = 0; k < 50 && !/recorded a gap/.test(local.stderr()); k++) await sleep(100);
      expect(local.stderr()).toMatch(/recorded a gap in monitoring from .* \(the previous capture stopped without closing the store\)/);

      remote.child.kill('SIGCONT');
      expect(await exitOf(remote, 'the taken-over capture'), remote.stderr()).toBe(3);
      expect(remote.stderr()).toContain(`another netmon took over the evidence store s.db (pid ${local.child.pid} on host ${hostname()}`);
      expect(remote.stderr()).toContain('this capture stops here, so that two writers never interleave');
      // Nothing of the woken writer after the takeover; the lock is still the local writer's.
      const hosts = listHosts(dir);
      expect(hosts.slice(0, remoteSnapshots)).toEqual(Array(remoteSnapshots).fill(ELSEWHERE));
      expect(new Set(hosts.slice(remoteSnapshots))).toEqual(new Set([hostname()]));
      const third = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--csv', 'third.csv'], { cwd: dir });
      expect(third.status, third.stderr).toBe(3);
      expect(third.stderr).toContain(`is in use by pid ${local.child.pid}`);

      local.child.kill('SIGINT');
      expect(await exitOf(local, 'the local capture'), local.stderr()).toBe(0);
    } finally {
      killAll(remote, local);
    }
    verified(dir);
    // Every snapshot, the remote writer's and the local one's, reads back as it was stored.
    for (const id of JSON.parse(runCli(['snapshots', '--db', 's.db', '--output', 'json'], { cwd: dir }).stdout).snapshots.map((s: { id: number }) => s.id) as number[]) {
      const shown = runCli(['show', String(id), '--db', 's.db', '--output', 'json'], { cwd: dir });
      expect(shown.status, shown.stderr).toBe(0);
    }
  });

  it('--take-over takes a lock still in force at once, as an operator who knows that host is gone would; a writer here is never taken over', async () => {
    // The remote machine "crashed" a moment ago: its lock is fresh and would hold for minutes.
    const { dir, db, remote, remoteSnapshots } = await stoppedRemote('take-over-');
    let local: Capture | undefined;
    try {
      const refused = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--csv', 'here.csv'], { cwd: dir });
      expect(refused.status, refused.stderr).toBe(3);
      expect(refused.stderr).toContain('or take the store over now with --take-over');
      const taken = runCli(['--once', '--take-over', '--no-hash-binaries', '--db', 's.db', '--csv', 'here.csv'], { cwd: dir });
      expect(taken.status, taken.stderr).toBe(0);
      expect(taken.stderr).toMatch(
        new RegExp(`warning: took the evidence store s\\.db over \\(--take-over\\) from pid ${remote.child.pid} on host ${ELSEWHERE}, last active \\d{4}-\\d\\d-\\d\\dT[^;]*; if that capture does still run, it stops at its next write \\(exit 3\\)`),
      );
      expect(taken.stderr).toMatch(/recorded a gap in monitoring from .* \(the store was taken over \(--take-over\) from a capture that could not be checked from here/);
      // The gap is in the hash chain, with the writer it was taken from.
      const gap = withRaw(db, (raw) => raw.prepare("SELECT body FROM records WHERE kind = 'gap' ORDER BY seq DESC LIMIT 1").pluck().get()) as unknown as string;
      expect(JSON.parse(gap)).toMatchObject({ reason: 'taken-over', previousWriter: expect.stringContaining(`pid ${remote.child.pid} on host ${ELSEWHERE}`) });

      // It did still run: woken, it stops at its next write and writes nothing more.
      remote.child.kill('SIGCONT');
      expect(await exitOf(remote, 'the taken-over capture'), remote.stderr()).toBe(3);
      expect(remote.stderr()).toContain('another netmon took over the evidence store s.db');
      const hosts = listHosts(dir);
      expect(hosts).toEqual([...Array(remoteSnapshots).fill(ELSEWHERE), hostname()]);

      // A lock held by a live capture on this machine is never taken over: its process can be checked.
      local = await startInterval(dir, 'here.csv', [], remoteSnapshots + 2);
      const again = runCli(['--once', '--take-over', '--no-hash-binaries', '--db', 's.db', '--csv', 'third.csv'], { cwd: dir });
      expect(again.status, again.stderr).toBe(3);
      expect(again.stderr).toContain(`is in use by pid ${local.child.pid}`);
      expect(again.stderr).toContain('--take-over is only for a writer that cannot be checked from here');
      expect(existsSync(join(dir, 'third.csv'))).toBe(false);
      local.child.kill('SIGINT');
      expect(await exitOf(local, 'the local capture'), local.stderr()).toBe(0);
    } finally {
      killAll(remote, local);
    }
    verified(dir);
  });
});

/** `unshare --pid --fork --mount-proc`: a new PID namespace, as a container has. */
const container = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc'];
const canContain = isRoot && haveCommand('unshare') && spawnSync(container[0]!, [...container.slice(1), 'true']).status === 0;

describe.skipIf(skipWithReason(!existsSync(CLI) || !canContain, 'store written from a container: needs the built CLI, root and unshare (util-linux) with PID namespaces'))(
  'an evidence store written from another PID namespace on this machine (a container)',
  () => {
    it('its capture keeps the store busy although its pid means another process here; stopped there, the store is free at once', async () => {
      const dir = mkdtempSync(join(root, 'container-'));
      const [command, ...rest] = [...container, process.execPath, CLI, '--interval', '0.5', '--no-hash-binaries', '--db', 's.db', '--csv', 'inside.csv'];
      const child = spawn(command!, rest, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const until = Date.now() + 20_000;
        while (listHosts(dir).length < 2) {
          if (Date.now() > until || child.exitCode !== null) throw new Error(`the contained capture stored no two snapshots: ${stderr}`);
          await sleep(100);
        }
        // Inside, netmon is pid 1: here, pid 1 is this machine's init, alive and another process.
        const here = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--csv', 'here.csv'], { cwd: dir });
        expect(here.status, here.stderr).toBe(3);
        expect(here.stderr).toMatch(/is in use by pid 1 in another PID namespace on this machine \(a container\), since /);
        // Stop the contained netmon (the child of unshare) cleanly.
        const inner = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]);
        process.kill(inner, 'SIGINT');
        expect(await Promise.race([exited, sleep(15_000).then(() => 'timeout')]), stderr).toBe(0);
      } finally {
        child.kill('SIGKILL');
      }
      const after = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--csv', 'here.csv'], { cwd: dir });
      expect(after.status, after.stderr).toBe(0);
      expect(after.stderr).not.toMatch(/stopped without closing/);
      verified(dir);
    });
  },
);
