import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, truncateSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { recordHash } from '../../src/store/chain.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';
import { isRoot, runCli, skipWithReason } from '../helpers/processes.js';
import { withRaw } from '../helpers/store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-store-faults-'));
const small = join(dir, 'small');
let mounted = false;

beforeAll(() => {
  if (!isRoot) return;
  mkdirSync(small);
  mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', small]).status === 0;
});
afterAll(() => {
  if (mounted) spawnSync('umount', [small]);
  rmSync(dir, { recursive: true, force: true });
});

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const skipFull = skipWithReason(!isRoot, 'store disk-full test: needs root to mount a small tmpfs');

describe.skipIf(skipFull)('a full disk', () => {
  it('fails the append with StoreError naming the file and the cause; earlier snapshots stay intact and verifiable', () => {
    expect(mounted, 'tmpfs mounted').toBe(true);
    const path = join(small, 'full.db');
    const store = EvidenceStore.open(path);
    store.beginSession({ interval: null });
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()] }));
    // Fill the rest of the filesystem.
    let filler = 0;
    try {
      for (;;) writeFileSync(join(small, `fill-${filler++}`), Buffer.alloc(16 * 1024));
    } catch {
      // ENOSPC: full
    }
    const big = makeSnapshot({ sockets: Array.from({ length: 3000 }, (_, i) => makeSocket({ localPort: 2000 + i, inode: 90000 + i, localAddress: `10.0.${i >> 8}.${i & 255}` })) });
    let error: unknown;
    try {
      store.appendSnapshot(big);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/no space left|full/i);
    expect((error as Error).message).toMatch(/nothing of it was stored/);
    // Free space again: the store holds exactly the first snapshot, and verifies.
    for (let i = 0; i < filler; i++) rmSync(join(small, `fill-${i}`), { force: true });
    const reader = EvidenceStore.open(path, { readonly: true });
    expect(reader.listSnapshots()).toHaveLength(1);
    expect(reader.verify().ok).toBe(true);
    reader.close();
    // The failed append left nothing behind in memory either: the same store object appends a
    // snapshot that fits (a part of the one that did not), stored exactly as changes to the first.
    const part = makeSnapshot({ sockets: big.sockets.slice(0, 200) });
    store.appendSnapshot(part);
    store.close();
    const again = EvidenceStore.open(path, { readonly: true });
    const ids = again.listSnapshots().map((s) => s.id);
    expect(ids).toHaveLength(2);
    expect(again.loadSnapshot(ids[1]!).sockets).toStrictEqual(part.sockets);
    expect(again.verify().ok).toBe(true);
    again.close();
    for (const name of readdirSync(small)) rmSync(join(small, name), { force: true });
  });

  it('the first capture on a nearly full disk: the device is full (exit 3) and no store is left, whatever the room; with room again the next capture makes a whole one', () => {
    expect(mounted, 'tmpfs mounted').toBe(true);
    const place = join(small, 'first');
    // Free space from 16 KiB to 192 KiB: before, 120-160 KiB left a store whose commits stayed in
    // a deleted -wal (corrupt for good), and less left an empty schema-0 file.
    for (const freeKiB of [16, 64, 128, 160, 192]) {
      mkdirSync(place);
      const avail = Number(spawnSync('df', ['-k', '--output=avail', small], { encoding: 'utf8' }).stdout.trim().split('\n').pop());
      writeFileSync(join(small, 'filler'), Buffer.alloc(Math.max(0, avail - freeKiB) * 1024));
      const db = join(place, 'netmon.db');
      const capture = ['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'];
      const full = runCli(capture);
      if (full.status !== 0) {
        expect(full.status, full.stderr).toBe(3);
        expect(full.stderr).toContain(`cannot create the evidence store (nothing was written): no space left on the device holding ${db}`);
        expect(readdirSync(place), `${freeKiB} KiB free`).toEqual([]);
      }
      rmSync(join(small, 'filler'));
      const again = runCli(capture);
      expect(again.status, again.stderr).toBe(0);
      const verified = runCli(['verify-store', '--db', db]);
      expect(verified.status, `${freeKiB} KiB free: ${verified.stderr}`).toBe(0);
      expect(readdirSync(place).filter((f) => f.startsWith('.'))).toEqual([]);
      rmSync(place, { recursive: true, force: true });
    }
  });

  it('a file system too full for the shared-memory index of SQLite: writers say the device is full (not an I/O error), exit 3; readers read a private copy; the store unchanged', () => {
    expect(mounted, 'tmpfs mounted').toBe(true);
    const path = join(small, 'brim.db');
    const store = EvidenceStore.open(path);
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()] }));
    store.close();
    const before = sha(path);
    // A TMPDIR on the same file system, for readers that find no room for a copy either.
    const tmp = join(small, 'tmp');
    mkdirSync(tmp);
    try {
      // Fill every byte: SQLite then fails to extend its index file (SQLITE_IOERR_SHMSIZE), which
      // it reports as an input/output error.
      let filler = 0;
      for (const size of [16 * 1024, 1024, 64]) {
        try {
          for (;;) writeFileSync(join(small, `brim-${filler++}`), Buffer.alloc(size));
        } catch {
          // ENOSPC: full at this size
        }
      }
      let error: unknown;
      try {
        EvidenceStore.open(path).close();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).toContain(`cannot open the evidence store for writing: no space left on the device holding ${path}`);
      expect((error as StoreError).hint).toContain(`free some space on the file system holding ${small}`);
      const capture = runCli(['--once', '--db', path, '--no-csv', '--no-hash-binaries', '--listening-only']);
      expect(capture.status).toBe(3);
      expect(capture.stderr).toContain(`no space left on the device holding ${path}`);
      expect(capture.stderr).not.toContain('input/output error');
      // Readers cannot make SQLite's index beside the store; they read a private copy in TMPDIR.
      const listed = runCli(['snapshots', '--db', path, '-o', 'json']);
      expect(listed.status, listed.stderr).toBe(0);
      expect((JSON.parse(listed.stdout) as { snapshots: unknown[] }).snapshots).toHaveLength(1);
      const verified = runCli(['verify-store', '--db', path]);
      expect(verified.status, verified.stderr).toBe(0);
      expect(verified.stdout).toMatch(/verified: \d+ records?, 1 snapshot,/);
      // No room for the copy either: the message says both.
      for (const args of [['snapshots'], ['verify-store']]) {
        const r = runCli([...args, '--db', path], { env: { ...process.env, TMPDIR: tmp } });
        expect(r.status, r.stderr).toBe(3);
        expect(r.stderr).toContain(`cannot read the evidence store ${path}: the file system holding it is full`);
        expect(r.stderr).toContain('netmon: hint: free some space on the file system holding');
      }
      expect(sha(path)).toBe(before);
      for (const name of readdirSync(small)) if (name.startsWith('brim-')) rmSync(join(small, name), { force: true });
      expect(runCli(['verify-store', '--db', path]).status).toBe(0);
    } finally {
      for (const name of readdirSync(small)) rmSync(join(small, name), { recursive: true, force: true });
    }
  });

  it('a prune that finds no room for its log fails with the cause, changes nothing, and completes once there is room', () => {
    expect(mounted, 'tmpfs mounted').toBe(true);
    const path = join(small, 'prune.db');
    // One capture at a time, as --once does: each close folds the log into the file (the log of
    // twelve commits would not fit this file system).
    for (let i = 0; i < 12; i++) {
      const store = EvidenceStore.open(path);
      const sockets = Array.from({ length: 25 }, (_, k) => makeSocket({ localPort: 2000 + k, inode: 1000 * (i + 1) + k, localAddress: `10.1.${i}.${k}` }));
      store.appendSnapshot(makeSnapshot({ sockets, takenAt: new Date(Date.UTC(2026, 0, 1 + i)) }));
      store.close();
    }
    const before = sha(path);
    // Leave room for the shared-memory index a connection maps (32 KiB), not for the log.
    let filler = 0;
    try {
      for (;;) writeFileSync(join(small, `fill-${filler++}`), Buffer.alloc(4 * 1024));
    } catch {
      // ENOSPC: full
    }
    for (let i = 0; i < 12; i++) rmSync(join(small, `fill-${--filler}`), { force: true });
    const failed = runCli(['prune', '--older-than', '2026-01-11', '--db', path]);
    expect(failed.status, failed.stderr).toBe(3);
    expect(failed.stderr).toContain(`could not prune the evidence store (nothing was removed): no space left on the device holding ${path}`);
    for (let i = 0; i < filler; i++) rmSync(join(small, `fill-${i}`), { force: true });
    expect(sha(path)).toBe(before);
    const pruned = runCli(['prune', '--older-than', '2026-01-11', '--db', path]);
    expect(pruned.status, pruned.stderr).toBe(0);
    expect(pruned.stderr).toMatch(/pruned 10 snapshots/);
    expect(runCli(['verify-store', '--db', path]).status).toBe(0);
  });
});

describe('a writer lock that cannot be released at the end of a capture (a disk that just filled up)', () => {
  it('the capture stands (exit 0) and warns that the next capture will record a gap; the next one does, and the chain verifies', () => {
    const path = join(dir, 'kept-lock.db');
    const capture = ['--once', '--db', path, '--no-csv', '--no-hash-binaries', '--filter', ':1'];
    expect(runCli(capture).status).toBe(0);
    // Releasing the lock is the one write that fails.
    withRaw(path, (raw) => raw.exec("CREATE TRIGGER full_disk BEFORE DELETE ON writer BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"));
    const kept = runCli(capture);
    withRaw(path, (raw) => raw.exec('DROP TRIGGER full_disk'));
    expect(kept.status, kept.stderr).toBe(0);
    expect(kept.stderr).toMatch(/snapshot \d+ in \S+ \(record hash [0-9a-f]{64}\)\n/);
    expect(kept.stderr).toContain(`netmon: warning: could not release the writer lock: ${path}: database or disk is full`);
    expect(kept.stderr).toContain('the capture itself is stored, but the next capture will find the lock of a process that is gone and record a gap in monitoring from now until it starts');
    const next = runCli(capture);
    expect(next.status, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/recorded a gap in monitoring from .* \(the previous capture stopped without closing the store\)/);
    expect(runCli(['verify-store', '--db', path]).status).toBe(0);
  });
});

describe('bad files at --db', () => {
  it('a text file: exit 3, the path and cause named, the file untouched', () => {
    const path = join(dir, 'notes.db');
    writeFileSync(path, 'these are my notes, not a database\n'.repeat(200));
    const before = sha(path);
    const r = runCli(['--once', '--db', path, '--csv', join(dir, 'x.csv'), '--no-hash-binaries']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(path);
    expect(r.stderr).toMatch(/not an SQLite database/);
    expect(sha(path)).toBe(before);
  });

  it('a store cut short (a copy made while it was written, a disk error): corrupt, with how to find out where and what to do, exit 3, untouched', () => {
    const path = join(dir, 'cut-short.db');
    for (let i = 0; i < 3; i++) expect(runCli(['--once', '--db', path, '--no-csv', '--no-hash-binaries', '--filter', ':1']).status).toBe(0);
    truncateSync(path, 20480);
    const before = sha(path);
    for (const args of [['verify-store', '--db', path], ['snapshots', '--db', path], ['--once', '--db', path, '--no-csv', '--no-hash-binaries', '--filter', ':1']]) {
      const r = runCli(args);
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toContain(`${path} is corrupt: SQLite cannot read it as a database`);
      expect(r.stderr).toContain(`hint: \`sqlite3 ${path} 'PRAGMA integrity_check'\` says where; restore the store from a backup or copy (netmon did not change it)`);
    }
    expect(sha(path)).toBe(before);
  });

  it('a directory, or a path in a missing directory: exit 3 saying which, nothing created', () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    for (const args of [['--once', '--db', folder, '--no-csv', '--no-hash-binaries'], ['snapshots', '--db', folder], ['verify-store', '--db', folder]]) {
      const r = runCli(args);
      expect(r.status, args.join(' ')).toBe(3);
      expect(r.stderr).toContain(`${folder} is a directory; give the path of a file (e.g. ${join(folder, 'netmon.db')})`);
    }
    expect(readdirSync(folder)).toEqual([]);
    const nowhere = join(dir, 'no-such-dir', 'n.db');
    const r = runCli(['--once', '--db', nowhere, '--no-csv', '--no-hash-binaries']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`cannot create ${nowhere}: the directory ${join(dir, 'no-such-dir')} does not exist`);
    expect(r.stderr).toContain(`netmon: hint: create it first (mkdir -p ${join(dir, 'no-such-dir')}), or give --db a path in a directory that exists`);
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
  });

  it('a device, a pipe: --db and --csv must be regular files; exit 3 before anything is captured, saying what the path is', () => {
    const fifo = join(dir, 'trail.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    for (const [args, message] of [
      [['--once', '--db', '/dev/null', '--no-csv'], 'cannot open the evidence store: /dev/null is a character device, not a regular file'],
      [['snapshots', '--db', '/dev/zero'], 'cannot open the evidence store: /dev/zero is a character device, not a regular file'],
      // Before, the rows went down the pipe, the sync failed, and netmon said the trail was unchanged.
      // (the test's pipes are socket pairs)
      [['--once', '--db', join(dir, 'piped.db'), '--csv', '/dev/stdout'], /cannot write the CSV trail: \/dev\/stdout is a (pipe \(FIFO\)|socket), not a regular file; nothing was captured/],
      [['--once', '--db', join(dir, 'piped.db'), '--csv', fifo], `cannot write the CSV trail: ${fifo} is a pipe (FIFO), not a regular file; nothing was captured`],
      [['watch', '--interval', '1', '--db', join(dir, 'piped.db'), '--csv', fifo], `cannot write the CSV trail: ${fifo} is a pipe (FIFO), not a regular file`],
    ] as const) {
      const r = runCli([...args, '--no-hash-binaries'].filter((a) => !(args[0] === 'snapshots' && a === '--no-hash-binaries')));
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(3);
      if (typeof message === 'string') expect(r.stderr).toContain(message);
      else expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
    expect(readdirSync(dir)).not.toContain('piped.db');
  });

  it('a store that holds escape sequences (forged, or another host\'s writer row): messages and listings show them escaped', () => {
    const path = join(dir, 'hostile.db');
    const store = EvidenceStore.open(path);
    store.beginSession({ interval: null });
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()] }));
    store.close();
    const evil = 'evil\u001b[2J\u001b]0;pwned\u0007host';
    const now = new Date().toISOString();
    withRaw(path, (raw) => {
      const session = Number(raw.prepare("SELECT MAX(seq) FROM records WHERE kind = 'session'").pluck().get());
      raw.prepare('INSERT OR REPLACE INTO writer (id, pid, host, since, session) VALUES (1, 4242, ?, ?, ?)').run(evil, now, session);
      raw.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('writer_alive', ?)").run(JSON.stringify({ session, at: now }));
      // A gap record with a hostile reason, chained as netmon would chain it.
      const head = raw.prepare('SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string };
      const body = JSON.stringify({ from: now, to: now, reason: `\u001b[31m${evil}` });
      raw.prepare('INSERT INTO records (seq, kind, at, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)').run(head.seq + 1, 'gap', now, body, head.hash, recordHash(head.hash, head.seq + 1, 'gap', now, body));
    });
    const busy = runCli(['--once', '--db', path, '--no-csv', '--no-hash-binaries']);
    expect(busy.status).toBe(3);
    expect(busy.stderr).toContain('in use by pid 4242 on host evil\\x1b[2J\\x1b]0;pwned\\x07host');
    const gaps = runCli(['gaps', '--db', path]);
    expect(gaps.status, gaps.stderr).toBe(0);
    expect(gaps.stdout).toContain('\\x1b[31mevil\\x1b[2J');
    for (const out of [busy.stderr, gaps.stdout, gaps.stderr]) expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });

  it('a truncated store: the reader commands fail with exit 3 and name the file', () => {
    const path = join(dir, 'cut.db');
    const store = EvidenceStore.open(path);
    store.beginSession({ interval: null });
    for (let i = 0; i < 3; i++) store.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 3000 + i })] }));
    store.close();
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, 1000));
    const r = runCli(['snapshots', '--db', path]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(path);
  });

  it('a store opened read-only through the library that is not there (or was removed meanwhile): a StoreError that says so, not a permission problem', () => {
    const gone = join(dir, 'gone.db');
    let error: unknown;
    try {
      EvidenceStore.open(gone, { readonly: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toBe(`cannot read the evidence store: there is no file ${gone} (or it was removed or renamed while netmon opened it)`);
    expect(existsSync(gone)).toBe(false);
  });

  it('a missing store: readers say there is none and how to make one', () => {
    const r = runCli(['snapshots', '--db', join(dir, 'nothing-here.db')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/there is no evidence store at .*nothing-here\.db/);
    expect(r.stderr).toMatch(/netmon --once/);
  });

  const skipRo = skipWithReason(!isRoot, 'read-only directory test: needs root to drop privileges');
  it.skipIf(skipRo)('a directory the user cannot write: exit 3 with the path and the cause', () => {
    const ro = join(dir, 'ro');
    mkdirSync(ro, { mode: 0o755 });
    // --no-csv: a trail there would be refused first (capture checks it before opening the store).
    const r = runCli(['--once', '--db', join(ro, 'n.db'), '--no-csv', '--no-hash-binaries'], {
      prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
    });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(join(ro, 'n.db'));
    expect(r.stderr).toMatch(/cannot open|permission|read-only/i);
  });

  it.skipIf(skipRo)('a store this user may not read, or write, or beside which SQLite may not create its files: the permission that is missing, and who may (exit 3, store untouched)', () => {
    const place = mkdtempSync(join(tmpdir(), 'netmon-store-perm-'));
    try {
      chmodSync(place, 0o755);
      const db = join(place, 'root.db');
      expect(runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1']).status).toBe(0);
      const before = sha(db);
      const asNobody = (args: string[]) => runCli(args, { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] });
      const capture = ['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'];
      chmodSync(db, 0o600);
      for (const args of [['snapshots', '--db', db], ['verify-store', '--db', db], capture]) {
        const r = asNobody(args);
        expect(r.status, r.stderr).toBe(3);
        expect(r.stderr).toContain(`permission denied reading ${db} (owner uid 0, group 0, mode 0600)`);
        expect(r.stderr).toContain("run as the store's owner, a member of its group, or root");
      }
      chmodSync(db, 0o644);
      expect(asNobody(['snapshots', '--db', db]).status).toBe(0);
      const write = asNobody(capture);
      expect(write.status).toBe(3);
      expect(write.stderr).toContain(`cannot open the evidence store for writing: permission denied writing ${db} (owner uid 0, group 0, mode 0644)`);
      chmodSync(db, 0o666);
      const beside = asNobody(capture);
      expect(beside.status).toBe(3);
      expect(beside.stderr).toContain(`cannot create files in ${place}, where SQLite keeps the store's -wal and -shm files`);
      expect(sha(db)).toBe(before);
    } finally {
      rmSync(place, { recursive: true, force: true });
    }
  });

  it.skipIf(skipRo)('a store inside a directory this user may not look into (the service unit\'s 0750 state directory): that directory named, never "no store there"', () => {
    const place = mkdtempSync(join(tmpdir(), 'netmon-store-dir-'));
    try {
      const state = join(place, 'state');
      mkdirSync(state, { mode: 0o750 });
      chmodSync(place, 0o755);
      const db = join(state, 'netmon.db');
      expect(runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1']).status).toBe(0);
      const before = sha(db);
      const asNobody = (args: string[]) => runCli(args, { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], cwd: place });
      const commands = [
        ['snapshots'],
        ['show', 'latest'],
        ['verify-store'],
        ['diff', '--pre', 'first', '--post', 'latest'],
        ['check'],
        ['prune', '--older-than', '400d'],
        ['--once', '--no-csv', '--no-hash-binaries', '--filter', ':1'],
      ];
      for (const args of commands) {
        const r = asNobody([...args, '--db', db]);
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(3);
        expect(r.stderr, args.join(' ')).toContain(`permission denied: this user may not look into ${state} (owner uid 0, group 0, mode 0750), which holds ${db}`);
        expect(r.stderr, args.join(' ')).not.toMatch(/there is no (evidence store|file)/);
      }
      expect(sha(db)).toBe(before);
      // And --out where this user may not look: the cause, not an internal error.
      const out = asNobody(['report', '--db', db, '--pre', 'first', '--post', 'latest', '--out', join(state, 'reports')]);
      expect(out.stderr).not.toContain('internal error');
      expect(out.status).toBe(3);
      expect(out.stderr).toContain(`cannot write evidence packs into --out ${join(state, 'reports')}: EACCES (permission denied) looking up ${join(state, 'reports')}`);
    } finally {
      rmSync(place, { recursive: true, force: true });
    }
  });
});
