import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { CLI, haveCommand, isRoot, ROOT, runCli, skipWithReason } from '../helpers/processes.js';

/**
 * Readers and a capture opening one store at the same moment. Seen in CI: a root reader polling a
 * store that a capture running as another user was creating read "store schema 0" (and sometimes
 * "damaged"), and the capture itself then failed (SQLITE_CANTOPEN or SQLITE_READONLY on the -shm
 * file the root reader's SQLite had just made, which belongs to root until SQLite hands it over).
 */

const root = mkdtempSync(join(tmpdir(), 'netmon-open-race-'));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const NOBODY = 65534;
const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
const asNobody = isRoot && haveCommand('setpriv');
const skip = skipWithReason(!existsSync(CLI), 'store open race: the CLI is not built (npm run build)');
const skipOtherUser = skipWithReason(!asNobody || !existsSync(CLI), 'store open race with another user: needs root (to run the capture as nobody) and setpriv (util-linux)');

/** A directory for one store, owned by the user the capture runs as. */
function ownDir(): string {
  const dir = mkdtempSync(join(root, 'store-'));
  chmodSync(dir, 0o750);
  if (asNobody) chownSync(dir, NOBODY, NOBODY);
  return dir;
}

/** Run `command` and resolve with its exit code and stderr; `onLine` sees each line of its stdout. */
function started(command: string, args: string[], onLine?: (line: string) => void) {
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    let nl: number;
    while ((nl = stdout.indexOf('\n')) >= 0) {
      onLine?.(stdout.slice(0, nl));
      stdout = stdout.slice(nl + 1);
    }
  });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return { child, done };
}

/** Open the store at `db` read-only again and again (once it exists) until `run` exits, counting each outcome in `seen`: 'ok', or the error. */
async function readUntilExit(run: ReturnType<typeof started>, db: string, seen: Map<string, number>) {
  let exited = false;
  void run.done.then(() => (exited = true));
  while (!exited) {
    if (existsSync(db)) {
      let outcome = 'ok';
      try {
        EvidenceStore.open(db, { readonly: true }).close();
      } catch (error) {
        outcome = `${(error as { code?: string }).code}: ${(error as Error).message}`;
      }
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return run.done;
}

describe.skipIf(skip)('a reader polling a store while a capture creates it', () => {
  it('sees no store or the whole store, never a half-made one, and the capture succeeds', async () => {
    for (let round = 0; round < 6; round++) {
      const dir = ownDir();
      const db = join(dir, 'netmon.db');
      const argv = [CLI, '--once', '--db', db, '--csv', join(dir, 't.csv'), '--no-hash-binaries', '--filter', ':1'];
      // As nobody, with the umask of a service: the CI case (a root reader, a capture as a service user).
      const capture = asNobody ? started(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), 'sh', '-c', 'umask 0027 && exec "$@"', 'sh', process.execPath, ...argv]) : started(process.execPath, argv);
      const seen = new Map<string, number>();
      const { code, stderr } = await readUntilExit(capture, db, seen);
      expect(code, stderr).toBe(0);
      // Every open the reader made found a whole store (schema, tables and all).
      expect([...seen.keys()], `round ${round}`).toEqual(seen.size === 0 ? [] : ['ok']);
      // Nothing of the creation is left beside the store.
      expect(readdirSync(dir).filter((f) => f.includes('.new-'))).toEqual([]);
      expect(runCli(['verify-store', '--db', db]).status).toBe(0);
    }
  });
});

describe.skipIf(skip)('a reader polling a store while a writer migrates it', () => {
  it('never takes the store for damaged: the version and the tables it checks are read in one transaction', async () => {
    const seen = new Map<string, number>();
    for (let round = 0; round < 12; round++) {
      const dir = mkdtempSync(join(root, 'migrate-'));
      const db = join(dir, 'netmon.db');
      copyFileSync(join(ROOT, 'test/fixtures/store/schema-1.db'), db);
      // A writer that opens the store of schema 1 a moment after it starts, which migrates it to the current schema.
      const script = `const { EvidenceStore } = await import(${JSON.stringify(join(ROOT, 'dist/store/evidence-store.js'))});
        await new Promise((resolve) => setTimeout(resolve, 30));
        EvidenceStore.open(${JSON.stringify(db)}).close();`;
      const { code, stderr } = await readUntilExit(started(process.execPath, ['--input-type=module', '-e', script]), db, seen);
      expect(code, stderr).toBe(0);
      expect(runCli(['verify-store', '--db', db]).status).toBe(0);
    }
    expect([...seen.keys()]).toEqual(['ok']);
  });
});

describe.skipIf(skip)('what a killed creation leaves, and a link to a store not made yet', () => {
  it('a temporary name that is a second link to the store, and temporary stores older than ten minutes, are removed by the next capture; a recent one stays', () => {
    const dir = mkdtempSync(join(root, 'leftovers-'));
    const db = join(dir, 'netmon.db');
    const capture = ['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'];
    expect(runCli(capture).status).toBe(0);
    // Killed between linking the new store into place and removing its temporary name.
    linkSync(db, join(dir, '.netmon.db.new-0123456789ab'));
    // Killed while creating, an hour ago (with its journal) and a moment ago (maybe still running).
    for (const name of ['.netmon.db.new-aaaaaaaaaaaa', '.netmon.db.new-aaaaaaaaaaaa-journal', '.netmon.db.new-bbbbbbbbbbbb']) writeFileSync(join(dir, name), '');
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const name of ['.netmon.db.new-aaaaaaaaaaaa', '.netmon.db.new-aaaaaaaaaaaa-journal']) utimesSync(join(dir, name), hourAgo, hourAgo);
    const r = runCli(capture);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(dir).filter((f) => f.startsWith('.')).sort()).toEqual(['.netmon.db.new-bbbbbbbbbbbb']);
    expect(statSync(db).nlink).toBe(1);
    expect(runCli(['verify-store', '--db', db]).status).toBe(0);
  });

  it('--db a symbolic link to a file not made yet: the store is made where it points, whole and 0640', () => {
    const dir = mkdtempSync(join(root, 'dangling-'));
    mkdirSync(join(dir, 'real'));
    symlinkSync('real/target.db', join(dir, 'netmon.db'));
    const r = runCli(['--once', '--db', join(dir, 'netmon.db'), '--no-csv', '--no-hash-binaries', '--filter', ':1']);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(join(dir, 'real', 'target.db')).mode & 0o777).toBe(0o640);
    expect(readdirSync(join(dir, 'real')).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(lstatSync(join(dir, 'netmon.db')).isSymbolicLink()).toBe(true);
    expect(runCli(['verify-store', '--db', join(dir, 'netmon.db')]).status).toBe(0);
  });
});

/** A child that opens/** A child that opens the store at `db` (as nobody) once its driver is loaded, and prints "opening" just before. */
function opener(db: string, readonly: boolean) {
  const script = `
    const { openMemory } = await import(${JSON.stringify(join(ROOT, 'dist/store/sqlite.js'))});
    const { EvidenceStore } = await import(${JSON.stringify(join(ROOT, 'dist/store/evidence-store.js'))});
    openMemory().close();
    console.log('opening');
    try {
      EvidenceStore.open(${JSON.stringify(db)}, { readonly: ${readonly} }).close();
      console.log('opened');
    } catch (error) {
      console.error(error.code + ': ' + error.message + ' | ' + error.hint);
      process.exit(3);
    }`;
  return script;
}

describe.skipIf(skipOtherUser)("a store whose -shm file belongs to another user than the store's", () => {
  function nobodysStore(): string {
    const dir = ownDir();
    const db = join(dir, 'netmon.db');
    const made = runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'], { prefix: AS_NOBODY });
    expect(made.status, made.stderr).toBe(0);
    // What root's SQLite leaves for an instant when it opens the store first: its -shm, root's own.
    writeFileSync(`${db}-shm`, '', { mode: 0o600 });
    return db;
  }

  it('handed to the owner while the capture waits (as SQLite does at once): the open goes through', async () => {
    for (const readonly of [false, true]) {
      const db = nobodysStore();
      const run = started(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), process.execPath, '--input-type=module', '-e', opener(db, readonly)], (line) => {
        // The child's first try fails on root's file; the file is handed over while it waits.
        if (line === 'opening') setTimeout(() => chownSync(`${db}-shm`, NOBODY, NOBODY), 40);
      });
      const { code, stderr } = await run.done;
      expect(code, stderr).toBe(0);
    }
  });

  it('left behind: a clear error that names the file and the command that hands it over, exit 3', () => {
    const db = nobodysStore();
    for (const args of [['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'], ['snapshots', '--db', db]]) {
      const r = runCli(args, { prefix: AS_NOBODY });
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toContain(`${db}-shm belongs to uid 0, not to the owner of ${db}`);
      expect(r.stderr).toContain(`chown --reference=${db} ${db}-shm`);
    }
    // Handed over, the store opens again and nothing of it was lost.
    chownSync(`${db}-shm`, NOBODY, NOBODY);
    const verified = runCli(['verify-store', '--db', db], { prefix: AS_NOBODY });
    expect(verified.status, verified.stderr).toBe(0);
  });
});
