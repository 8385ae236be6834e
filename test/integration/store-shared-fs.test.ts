import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, haveCommand, isRoot, runCli, skipWithReason } from '../helpers/processes.js';
import { snapshotCount, withRaw } from '../helpers/store-fixtures.js';

/**
 * An evidence store on a file system that hosts can share. SQLite's write-ahead log keeps its
 * index in memory shared by the processes of one host, so there the store keeps a rollback journal
 * (file locks only). The file system here is a real FUSE mount (bindfs), which statfs reports as
 * FUSE, as it does sshfs, s3fs or a GlusterFS client.
 */

const root = mkdtempSync(join(tmpdir(), 'netmon-sharedfs-'));
const backing = join(root, 'backing');
const mnt = join(root, 'mnt');
mkdirSync(backing);
mkdirSync(mnt);

function mountFuse(): boolean {
  if (!isRoot || !haveCommand('bindfs') || !existsSync('/dev/fuse')) return false;
  return spawnSync('bindfs', [backing, mnt]).status === 0;
}
const mounted = mountFuse();
afterAll(() => {
  if (mounted) spawnSync('umount', [mnt]);
  rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const journalMode = (db: string) => withRaw(db, (raw) => String(raw.pragma('journal_mode', { simple: true })));

describe.skipIf(skipWithReason(!existsSync(CLI) || !mounted, 'store on a shared file system: needs the built CLI, root, /dev/fuse and bindfs (Debian package bindfs)'))(
  'an evidence store on a shared file system (FUSE)',
  () => {
    it('keeps a rollback journal, not a write-ahead log; readers work while --interval writes; a store moved to a local disk gets the WAL back', async () => {
      const dir = mkdtempSync(join(mnt, 'interval-'));
      const child = spawn(process.execPath, [CLI, '--interval', '0.3', '--no-hash-binaries', '--include-ephemeral', '--db', 's.db', '--csv', 's.csv'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      let reads = 0;
      try {
        const first = Date.now() + 15_000;
        while (runCli(['show', 'latest', '--db', 's.db'], { cwd: dir }).status !== 0) {
          if (Date.now() > first || child.exitCode !== null) throw new Error(`no first snapshot: ${stderr}`);
          await sleep(100);
        }
        // Readers, one after another, while the writer commits a tick every 0.3 s: for at least
        // 4 s and at least 11 reads (a loaded machine takes longer per read; bounded at 60 s).
        const minimum = Date.now() + 4000;
        const deadline = Date.now() + 60_000;
        while (reads <= 10 || Date.now() < minimum) {
          if (Date.now() > deadline) throw new Error(`only ${reads} reads in 60 s: ${stderr}`);
          if (child.exitCode !== null) throw new Error(`the writer exited while readers ran: ${stderr}`);
          for (const args of [['snapshots', '--output', 'json'], ['verify-store'], ['show', 'latest', '--output', 'json']]) {
            const r = runCli([...args, '--db', 's.db'], { cwd: dir });
            expect(r.status, `${args[0]} while the writer runs: ${r.stderr}`).toBe(0);
            reads++;
          }
          expect(readdirSync(dir).filter((f) => f.endsWith('-wal') || f.endsWith('-shm'))).toEqual([]);
          await sleep(50);
        }
        child.kill('SIGTERM');
        expect(await exited, stderr).toBe(0);
      } finally {
        child.kill('SIGKILL');
      }
      expect(stderr).not.toMatch(/error/);
      expect(reads).toBeGreaterThan(10);
      expect(journalMode(join(dir, 's.db'))).toBe('delete');
      const verify = runCli(['verify-store', '--db', 's.db'], { cwd: dir });
      expect(verify.status, verify.stderr).toBe(0);
      // Pruned there, it keeps its journal; captured on a local disk, it has a WAL again.
      expect(runCli(['prune', '--older-than', '0d', '--db', 's.db'], { cwd: dir }).status).toBe(0);
      expect(journalMode(join(dir, 's.db'))).toBe('delete');
      const local = mkdtempSync(join(root, 'local-'));
      spawnSync('cp', [join(dir, 's.db'), join(local, 's.db')]);
      const once = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--csv', 's.csv'], { cwd: local });
      expect(once.status, once.stderr).toBe(0);
      expect(journalMode(join(local, 's.db'))).toBe('wal');
      expect(runCli(['verify-store', '--db', 's.db'], { cwd: local }).status).toBe(0);
    }, 120_000); // the readers' deadline (60 s) is the limit, not the 60 s default

    it('a writer killed mid-run leaves a store that readers and the next capture open cleanly', async () => {
      const dir = mkdtempSync(join(mnt, 'killed-'));
      for (let round = 0; round < 4; round++) {
        const before = snapshotCount(join(dir, 's.db'));
        const child = spawn(process.execPath, [CLI, '--interval', '0.1', '--no-hash-binaries', '--include-ephemeral', '--db', 's.db', '--csv', 's.csv'], { cwd: dir, stdio: 'ignore' });
        // Killed mid-run: once this writer has committed a snapshot (the store exists, with its
        // schema), then at a different moment of a tick in each round.
        const committed = Date.now() + 30_000;
        while (snapshotCount(join(dir, 's.db')) <= before) {
          if (Date.now() > committed || child.exitCode !== null) throw new Error(`round ${round}: no snapshot committed by the writer`);
          await sleep(50);
        }
        await sleep(round * 137);
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
        const verify = runCli(['verify-store', '--db', 's.db'], { cwd: dir });
        expect(verify.status, verify.stderr).toBe(0);
      }
      const next = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--csv', 's.csv'], { cwd: dir });
      expect(next.status, next.stderr).toBe(0);
      expect(next.stderr).toMatch(/stopped without closing the store/);
      expect(journalMode(join(dir, 's.db'))).toBe('delete');
      expect(runCli(['verify-store', '--db', 's.db'], { cwd: dir }).status).toBe(0);
    }, 180_000); // each round waits up to 30 s for its writer's first commit

    it('netmon init creates its store there with a rollback journal too, as a capture does', () => {
      const dir = mkdtempSync(join(mnt, 'init-'));
      const init = runCli(['init', '--no-hash-binaries', '--db', 's.db'], { cwd: dir });
      expect(init.status, init.stderr).toBe(0);
      expect(init.stderr).toMatch(/baseline of \d+ sockets? saved as snapshot \d+ in s\.db/);
      expect(journalMode(join(dir, 's.db'))).toBe('delete');
      const check = runCli(['check', '--no-hash-binaries', '--db', 's.db', '--fail-on', 'critical'], { cwd: dir });
      expect(check.status, check.stderr).toBe(0);
    });
  },
);
