import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, haveCommand, isRoot, runCli, skipWithReason } from '../helpers/processes.js';
import { stopBetweenTransactions, withRaw } from '../helpers/store-fixtures.js';

/**
 * An auditor reads a store where nobody may write: an archive directory, read-only media, another
 * user's directory. SQLite reads a WAL store only through its `-shm` file, which it cannot create
 * there, so every reader command failed with SQLITE_READONLY_DIRECTORY.
 */

const root = mkdtempSync(join(tmpdir(), 'netmon-readonly-'));
chmodSync(root, 0o755);
afterAll(() => {
  for (const d of readdirSync(root)) chmodSync(join(root, d), 0o755);
  rmSync(root, { recursive: true, force: true });
});

const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const skip = skipWithReason(!isRoot || !haveCommand('setpriv') || !existsSync(CLI), 'read-only store: needs root (to read as nobody) and setpriv (util-linux)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A temporary directory of nobody's own: where its reader may make its private copy (and must leave none). */
function tmpFor(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  return dir;
}

function readAsNobody(args: string[], tmp: string) {
  return runCli(args, { prefix: AS_NOBODY, env: { ...process.env, TMPDIR: tmp } });
}

/** Put `files` (name -> source) in a new directory that nobody can read but not write. */
function archive(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [file, source] of Object.entries(files)) {
    copyFileSync(source, join(dir, file));
    chmodSync(join(dir, file), 0o444);
  }
  chmodSync(dir, 0o555);
  return dir;
}

describe.skipIf(skip)('a store in a directory the reader cannot write', () => {
  it('verify-store, snapshots, show and diff read it; nothing is created beside it and no copy is left behind', () => {
    const work = mkdtempSync(join(root, 'work-'));
    for (const label of ['pre', 'post']) {
      const r = runCli(['--once', '--no-hash-binaries', '--label', label, '--change', 'CHG-9', '--db', 's.db', '--no-csv'], { cwd: work });
      expect(r.status, r.stderr).toBe(0);
    }
    const dir = archive('archive', { 's.db': join(work, 's.db') });
    const db = join(dir, 's.db');
    const tmp = tmpFor('tmp-archive');
    const verify = readAsNobody(['verify-store', '--db', db], tmp);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/verified: \d+ records, 2 snapshots/);
    const listed = readAsNobody(['snapshots', '--db', db, '-o', 'json'], tmp);
    expect(listed.status, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).snapshots.map((s: { label: string }) => s.label)).toEqual(['pre', 'post']);
    const shown = readAsNobody(['show', 'latest', '--db', db, '-o', 'json'], tmp);
    expect(shown.status, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).sockets.length).toBeGreaterThan(0);
    const diff = readAsNobody(['diff', '--change', 'CHG-9', '--db', db, '--fail-on', 'critical'], tmp);
    // Read and compared: exit 1 only says that a critical change came between the two whole-host
    // captures (another test file's listener from a deleted executable, run meanwhile).
    expect([0, 1], diff.stderr).toContain(diff.status);
    expect(diff.stdout).toMatch(/(No port changes|Port changes detected) .*for change CHG-9/);
    expect(readdirSync(dir)).toEqual(['s.db']);
    expect(readdirSync(tmp).filter((f) => f.startsWith('netmon-read-'))).toEqual([]);
  });

  it('the private copy is gone from the disk while the store is open: a reader killed at any moment leaves no copy of the evidence', () => {
    const work = mkdtempSync(join(root, 'open-'));
    expect(runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--no-csv'], { cwd: work }).status).toBe(0);
    const dir = archive('held-open', { 's.db': join(work, 's.db') });
    const tmp = tmpFor('tmp-open');
    const library = join(CLI, '..', '..', 'store', 'evidence-store.js');
    const script = `import(${JSON.stringify(library)}).then(({ EvidenceStore }) => {
      const store = EvidenceStore.open(process.argv[1], { readonly: true });
      const left = require('node:fs').readdirSync(process.env.TMPDIR);
      console.log(JSON.stringify({ left, ok: store.verify().ok, snapshots: store.listSnapshots().length }));
      store.close();
    });`;
    const r = spawnSync('setpriv', [...AS_NOBODY.slice(1), process.execPath, '-e', script, join(dir, 's.db')], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ left: [], ok: true, snapshots: 1 });
  });

  it('a crashed writer\'s WAL beside it (no -shm): its commits are read too', async () => {
    const work = mkdtempSync(join(root, 'crash-'));
    const child = spawn(process.execPath, [CLI, '--interval', '0.3', '--no-hash-binaries', '--db', 's.db', '--no-csv'], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    const db = join(work, 's.db');
    const count = () => (existsSync(db) ? Number(withRaw(db, (raw) => raw.prepare('SELECT COUNT(*) FROM snapshots').pluck().get())) : 0);
    try {
      const until = Date.now() + 15_000;
      while (count() < 3) {
        if (Date.now() > until) throw new Error('the capture stored no 3 snapshots');
        await sleep(100);
      }
      // A crash image: the store and its WAL as they are at one moment between two commits.
      // Stopped while it holds the write lock (mid-commit), its WAL may hold frames that the
      // index in -shm does not list yet, and the image more snapshots than a count now says: it
      // is woken and stopped again.
      await stopBetweenTransactions(child, db);
      const stored = count();
      const dir = archive('crashed', { 's.db': db, 's.db-wal': `${db}-wal` });
      child.kill('SIGKILL');
      const tmp = tmpFor('tmp-crashed');
      const listed = readAsNobody(['snapshots', '--db', join(dir, 's.db'), '-o', 'json'], tmp);
      expect(listed.status, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout).snapshots).toHaveLength(stored);
      const verify = readAsNobody(['verify-store', '--db', join(dir, 's.db')], tmp);
      expect(verify.status, verify.stderr).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['s.db', 's.db-wal']);
      expect(readdirSync(tmp).filter((f) => f.startsWith('netmon-read-'))).toEqual([]);
    } finally {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  it('no room in $TMPDIR for the private copy: a clear error that names the directories, exit 3, nothing left behind', () => {
    const work = mkdtempSync(join(root, 'work-'));
    const r = runCli(['--once', '--no-hash-binaries', '--db', 's.db', '--no-csv'], { cwd: work });
    expect(r.status, r.stderr).toBe(0);
    const dir = archive('archive-full', { 's.db': join(work, 's.db') });
    const small = tmpFor('tmp-full');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0777', 'tmpfs', small], { encoding: 'utf8' });
    expect(mounted.status, mounted.stderr).toBe(0);
    try {
      const read = readAsNobody(['snapshots', '--db', join(dir, 's.db')], small);
      expect(read.status).toBe(3);
      expect(read.stderr).toContain(`its directory ${dir} is not writable`);
      expect(read.stderr).toMatch(new RegExp(`${small} has no room for a private copy \\(\\d+\\.\\d MiB\\): ENOSPC`));
      expect(read.stderr).toContain('set TMPDIR to a directory with room');
      expect(readdirSync(small)).toEqual([]);
      expect(readdirSync(dir)).toEqual(['s.db']);
    } finally {
      spawnSync('umount', [small]);
    }
  });
});
