/**
 * A capture stores its snapshot first and writes its CSV rows after. A run killed in between
 * (or in the middle of the rows) leaves a snapshot the trail lacks; the next capture finds the
 * mark the dead run committed with its snapshot and writes what is missing, or leaves the trail
 * alone when it cannot be sure (docs/evidence-store.md, "The CSV trail after a crash").
 *
 * The crash states are made the way a kill leaves them: the real trail cut back to where the dead
 * run began writing (or to the middle of its rows), and the store's record of the trail's clean
 * end set back to that point. Everything else (the store, its mark, the snapshots) is what real
 * captures wrote.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureSession } from '../../src/capture/capture.js';
import { appendCsv, completeCsv, type CsvCleanEnd } from '../../src/store/csv-trail.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';
import { spawnSync } from 'node:child_process';
import { CLI, haveCommand, runCli, skipWithReason } from '../helpers/processes.js';
import { withRaw } from '../helpers/store-fixtures.js';
import { csvRows } from '../../src/store/csv-trail.js';

const root = mkdtempSync(join(tmpdir(), 'netmon-csv-complete-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => mkdtempSync(join(root, `${++n}-`));

/** CSV rows of `count` sockets of one snapshot (ports 1000 + k), the same text each time they are made. */
function rowsOf(snapshotId: number, count: number, event: 'present' | 'opened' = 'present'): string[][] {
  const snap = makeSnapshot({ sockets: [], takenAt: new Date(Date.UTC(2026, 10, 23, 9, 0, snapshotId)) });
  const sockets = Array.from({ length: count }, (_, k) => makeSocket({ localPort: 1000 + k, inode: 100 + k, owners: [{ pid: 7, fd: 3 + k }] }));
  return csvRows(snap, sockets, new Map([[7, makeProcess({ pid: 7, name: 'sshd' })]]), event, { snapshotId, label: null, change: null });
}

function cleanEndOf(path: string): CsvCleanEnd {
  const st = statSync(path);
  return { size: st.size, device: st.dev, inode: st.ino };
}

describe('completeCsv (a real trail file)', () => {
  it('appends every row when the dead run wrote none of them, and the file reads as if it had', () => {
    const dir = freshDir();
    const trail = join(dir, 't.csv');
    appendCsv(trail, rowsOf(1, 3));
    const end = cleanEndOf(trail);
    const done = completeCsv(trail, rowsOf(2, 4), end);
    expect(done).toMatchObject({ expected: 4, present: 0, written: 4 });
    const reference = join(dir, 'reference.csv');
    appendCsv(reference, rowsOf(1, 3));
    appendCsv(reference, rowsOf(2, 4));
    expect(readFileSync(trail, 'utf8')).toBe(readFileSync(reference, 'utf8'));
    expect(done.cleanEnd).toEqual(cleanEndOf(trail));
  });

  it('keeps the rows a cut-short write left, sets a torn last line aside, and appends only the rest', () => {
    const dir = freshDir();
    const trail = join(dir, 't.csv');
    appendCsv(trail, rowsOf(1, 2));
    const end = cleanEndOf(trail);
    appendCsv(trail, rowsOf(2, 6));
    const whole = readFileSync(trail, 'utf8');
    // Cut in the middle of the fourth row of snapshot 2.
    const region = whole.slice(end.size);
    const cut = end.size + region.split('\r\n').slice(0, 3).join('\r\n').length + 2 + 10;
    truncateSync(trail, cut);
    const done = completeCsv(trail, rowsOf(2, 6), end);
    expect(done).toMatchObject({ expected: 6, present: 3, written: 3 });
    expect(readFileSync(trail, 'utf8')).toBe(whole);
    const aside = readdirSync(dir).filter((f) => f.startsWith('t.csv.partial-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]!), 'utf8')).toBe(whole.slice(cut - 10, cut));
    expect(done.repaired).toBe(join(dir, aside[0]!));
  });

  it('counts rows that are the same text (two sockets can make one row) one by one', () => {
    const dir = freshDir();
    const trail = join(dir, 't.csv');
    appendCsv(trail, rowsOf(1, 1));
    const end = cleanEndOf(trail);
    const twice = [...rowsOf(2, 1), ...rowsOf(2, 1), ...rowsOf(2, 2).slice(1)];
    appendCsv(trail, twice.slice(0, 1));
    const done = completeCsv(trail, twice, end);
    expect(done).toMatchObject({ expected: 3, present: 1, written: 2 });
    const lines = readFileSync(trail, 'utf8').trimEnd().split('\r\n');
    expect(lines).toHaveLength(1 + 1 + 3);
    expect(lines[2]).toBe(lines[3]);
  });

  it('leaves the trail alone when something else was written after the clean end, or the file is another one', () => {
    const dir = freshDir();
    const trail = join(dir, 't.csv');
    appendCsv(trail, rowsOf(1, 2));
    const end = cleanEndOf(trail);
    // Another store's capture appended to the same file.
    appendCsv(trail, rowsOf(9, 1));
    const before = readFileSync(trail);
    const foreign = completeCsv(trail, rowsOf(2, 2), end);
    expect(foreign.written).toBe(0);
    expect(foreign.untouched).toMatch(/holds rows after netmon's last append that are not this snapshot's/);
    expect(readFileSync(trail).equals(before)).toBe(true);
    // Rotated: a new file at the path.
    rmSync(trail);
    appendCsv(trail, rowsOf(3, 1));
    const rotatedBytes = readFileSync(trail);
    const rotated = completeCsv(trail, rowsOf(2, 2), end);
    expect(rotated.untouched).toMatch(/is not the file netmon last appended to/);
    expect(readFileSync(trail).equals(rotatedBytes)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);
  });
});

/** The store's record of where the trail ends (read and set back as a kill leaves it). */
const CLEAN_END = (dir: string) => `csv_clean_end:${join(dir, 't.csv')}`;
function readMeta(db: string, key: string): string | null {
  return withRaw(db, (raw) => (raw.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? null);
}
function setMeta(db: string, key: string, value: string): void {
  withRaw(db, (raw) => raw.prepare('UPDATE meta SET value = ? WHERE key = ?').run(value, key));
}

async function listen(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}
/** A fresh directory, a listener, and the --once arguments that capture only it (store n.db, trail t.csv there). */
async function oneListener() {
  const dir = freshDir();
  const a = await listen();
  const args = ['--once', '--db', 'n.db', '--csv', 't.csv', '--include-ephemeral', '--filter', `tcp4:127.0.0.1:${a.port}`, '--no-hash-binaries'];
  return { dir, a, args, db: join(dir, 'n.db') };
}
const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('a capture after a run that stopped between its snapshot and its CSV rows', () => {
  it('--once: the next --once appends the lost inventory rows, byte for byte what the dead run would have written, and says so', async () => {
    const dir = freshDir();
    const a = await listen();
    const b = await listen();
    const args = ['--once', '--db', 'n.db', '--csv', 't.csv', '--include-ephemeral', '--filter', `tcp4:127.0.0.1:${a.port}`, '--filter', `tcp4:127.0.0.1:${b.port}`, '--no-hash-binaries'];
    try {
      expect(runCli(args, { cwd: dir }).status).toBe(0);
      const db = join(dir, 'n.db');
      const trail = join(dir, 't.csv');
      for (const partial of [false, true]) {
        const end = readMeta(db, CLEAN_END(dir))!;
        const size = statSync(trail).size;
        // The run whose rows the kill will take: it completes here, and its rows are cut off below.
        const dead = runCli(args, { cwd: dir });
        expect(dead.status, dead.stderr).toBe(0);
        const idDead = Number(/snapshot (\d+) in n\.db/.exec(dead.stderr)?.[1]);
        const full = readFileSync(trail, 'utf8');
        const rows = full.slice(size);
        expect(rows.trimEnd().split('\r\n')).toHaveLength(2);
        // Killed before writing any row of it, or in the middle of its second row.
        const present = partial ? 1 : 0;
        truncateSync(trail, partial ? size + rows.indexOf('\r\n') + 2 + 7 : size);
        setMeta(db, CLEAN_END(dir), end);
        const next = runCli(args, { cwd: dir });
        expect(next.status, next.stderr).toBe(0);
        expect(next.stderr).toContain(
          `netmon: note: an earlier capture stored snapshot ${idDead} and stopped before writing all its CSV rows; appended the ${2 - present} missing row${present === 1 ? '' : 's'} to t.csv${present ? ` (${present} were there)` : ''}`,
        );
        if (partial) expect(next.stderr).toMatch(/the CSV trail ended in a partial line .* moved it to .*t\.csv\.partial-/);
        const after = readFileSync(trail, 'utf8');
        // The dead run's rows as it wrote them, then this run's own inventory.
        expect(after.slice(0, full.length)).toBe(full);
        const own = after.slice(full.length).trimEnd().split('\r\n');
        expect(own).toHaveLength(2);
        for (const line of own) expect(line.split(',')[2]).toBe(String(idDead + 2));
      }
      // A run that finished says nothing more: the mark is confirmed.
      const quiet = runCli(args, { cwd: dir });
      expect(quiet.status).toBe(0);
      expect(quiet.stderr).not.toMatch(/earlier capture stored snapshot/);
      // Meta is bookkeeping outside the chain: damaged entries cost the completion, never a capture.
      setMeta(db, `csv_mark:${trail}`, '{not json');
      setMeta(db, CLEAN_END(dir), 'garbage');
      const lines = readFileSync(trail, 'utf8').split('\r\n').length;
      const damaged = runCli(args, { cwd: dir });
      expect(damaged.status, damaged.stderr).toBe(0);
      expect(damaged.stderr).not.toMatch(/earlier capture stored snapshot/);
      expect(readFileSync(trail, 'utf8').split('\r\n').length).toBe(lines + 2);
    } finally {
      await close(a.server);
      await close(b.server);
    }
  });

  it('the trail\'s first capture killed: a missing trail gets all its rows, a trail with its header and some rows the rest', async () => {
    const a = await listen();
    const b = await listen();
    try {
      for (const cut of ['all', 'partial'] as const) {
        const dir = freshDir();
        const db = join(dir, 'n.db');
        const trail = join(dir, 't.csv');
        const args = ['--once', '--db', 'n.db', '--csv', 't.csv', '--include-ephemeral', '--filter', `tcp4:127.0.0.1:${a.port}`, '--filter', `tcp4:127.0.0.1:${b.port}`, '--no-hash-binaries'];
        const dead = runCli(args, { cwd: dir });
        expect(dead.status, dead.stderr).toBe(0);
        const full = readFileSync(trail, 'utf8');
        // As the kill leaves it: no record of a clean end, and no trail or a cut one.
        withRaw(db, (raw) => raw.prepare("DELETE FROM meta WHERE key LIKE 'csv_clean_end:%'").run());
        if (cut === 'all') rmSync(trail);
        else truncateSync(trail, full.indexOf('\r\n', full.indexOf('\r\n') + 2) + 2 + 5);
        const next = runCli(args, { cwd: dir });
        expect(next.status, next.stderr).toBe(0);
        expect(next.stderr).toMatch(new RegExp(`appended the ${cut === 'all' ? 2 : 1} missing rows? to t\\.csv`));
        const after = readFileSync(trail, 'utf8');
        expect(after.slice(0, full.length)).toBe(full);
        expect(after.slice(full.length).trimEnd().split('\r\n')).toHaveLength(2);
      }
    } finally {
      await close(a.server);
      await close(b.server);
    }
  });

  it('--interval: a lost tick of changes is written as the changes it held, against the snapshot before it', async () => {
    const dir = freshDir();
    const db = join(dir, 'n.db');
    const trail = join(dir, 't.csv');
    const a = await listen();
    const b = await listen();
    const options = { db, csv: trail, snapshot: { includeEphemeral: true, hashBinaries: false, filters: { filter: [`tcp4:127.0.0.1:${a.port}`, `tcp4:127.0.0.1:${b.port}`] } } };
    let session = CaptureSession.start(options, 1);
    try {
      await session.tick(); // the inventory: a's listener
      await close(b.server);
      const endA = readMeta(db, CLEAN_END(dir))!;
      const sizeA = statSync(trail).size;
      const changes = await session.tick(); // b's listener closed
      expect(changes.csv?.rows).toBe(1);
      const lost = readFileSync(trail, 'utf8').slice(sizeA);
      expect(lost).toMatch(/,closed,tcp,127\.0\.0\.1,\d+,,,LISTEN,/);
      session.close();
      // The kill: the rows of that tick never reached the trail.
      truncateSync(trail, sizeA);
      setMeta(db, CLEAN_END(dir), endA);
      session = CaptureSession.start(options, 1);
      const next = await session.tick();
      expect(next.csvCompleted).toMatchObject({ snapshotId: changes.snapshotId, expected: 1, present: 0, written: 1 });
      const text = readFileSync(trail, 'utf8');
      expect(text.slice(sizeA, sizeA + lost.length)).toBe(lost);
      // This session's first tick is an inventory again: a's listener.
      expect(text.slice(sizeA + lost.length).trimEnd().split('\r\n')).toHaveLength(1);
    } finally {
      session.close();
      await close(a.server);
    }
  });

  it('the store failing to record that the rows are all written (a full disk then): exit 3 saying the snapshot and its rows are in place, not an internal error; the next capture finds the trail whole', async () => {
    const { dir, a, args, db } = await oneListener();
    try {
      expect(runCli(args, { cwd: dir }).status).toBe(0);
      // The confirmation of the trail's end is the one write that fails, as on a disk that just filled up.
      withRaw(db, (raw) => raw.exec("CREATE TRIGGER full_disk BEFORE INSERT ON meta WHEN NEW.key LIKE 'csv_clean_end:%' BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"));
      const failed = runCli(args, { cwd: dir });
      withRaw(db, (raw) => raw.exec('DROP TRIGGER full_disk'));
      expect(failed.status, failed.stderr).toBe(3);
      expect(failed.stderr).toMatch(/netmon: error: snapshot \d+ and its 1 row in t\.csv were written, but the store could not record that the trail is complete \(the next capture checks the trail's end\): /);
      expect(failed.stderr).not.toContain('internal error');
      const next = runCli(args, { cwd: dir });
      expect(next.status, next.stderr).toBe(0);
      const verified = runCli(['verify-trail', '--db', 'n.db', '--csv', 't.csv'], { cwd: dir });
      expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    } finally {
      await close(a.server);
    }
  });

  it('leaves a trail alone that another capture appended to meanwhile, and warns with the snapshot to look at', async () => {
    const { dir, a, args, db } = await oneListener();
    try {
      expect(runCli(args, { cwd: dir }).status).toBe(0);
      const trail = join(dir, 't.csv');
      const endA = readMeta(db, CLEAN_END(dir))!;
      const sizeA = statSync(trail).size;
      expect(runCli(args, { cwd: dir }).status).toBe(0);
      truncateSync(trail, sizeA);
      setMeta(db, CLEAN_END(dir), endA);
      // Another store's capture wrote to the same trail after the crash.
      const other = runCli(['--once', '--db', 'other.db', '--csv', 't.csv', '--include-ephemeral', '--filter', `tcp4:127.0.0.1:${a.port}`, '--no-hash-binaries'], { cwd: dir });
      expect(other.status).toBe(0);
      const before = readFileSync(trail);
      const next = runCli(args, { cwd: dir });
      expect(next.status, next.stderr).toBe(0);
      expect(next.stderr).toMatch(/netmon: warning: an earlier capture stored snapshot \d+ and stopped before its CSV rows were confirmed, but .*t\.csv holds rows after netmon's last append that are not this snapshot's; the trail was left as it is \(netmon show \d+ --db n\.db prints the snapshot\)/);
      // Nothing removed or rewritten: this run's rows follow what was there.
      expect(readFileSync(trail).subarray(0, before.length).equals(before)).toBe(true);
    } finally {
      await close(a.server);
    }
  });
});

const skipTrace = skipWithReason(!haveCommand('strace'), 'durability order test: needs strace (Debian package strace)');

describe.skipIf(skipTrace)('durability order (system calls seen by strace)', () => {
  it('the snapshot\'s commit is synced to disk before the CSV rows are written, and the rows are synced before the store records the trail\'s end', async (ctx) => {
    const dir = freshDir();
    const trace = join(dir, 'trace.txt');
    const a = await listen();
    const args = ['--once', '--db', 'n.db', '--csv', 't.csv', '--include-ephemeral', '--filter', `tcp4:127.0.0.1:${a.port}`, '--no-hash-binaries'];
    // A store that exists already: creating one syncs on its own, whatever the setting.
    expect(runCli(args, { cwd: dir }).status).toBe(0);
    const r = spawnSync('strace', ['-f', '-y', '-e', 'trace=fsync,fdatasync,write,pwrite64', '-o', trace, process.execPath, CLI, ...args], { cwd: dir, encoding: 'utf8' });
    await close(a.server);
    if (r.status !== 0 && /ptrace|Operation not permitted/.test(r.stderr)) {
      console.log(`skipped: strace cannot trace here: ${r.stderr.trim()}`);
      ctx.skip();
    }
    expect(r.status, r.stderr).toBe(0);
    const lines = readFileSync(trace, 'utf8').split('\n');
    const at = (re: RegExp, from = 0): number => lines.findIndex((l, i) => i >= from && re.test(l));
    // The snapshot transaction: its WAL frames, then a sync of the WAL (synchronous = FULL).
    const csvWrite = at(/^\d+\s+write\(\d+<[^>]*\/t\.csv>/);
    expect(csvWrite, 'a write to t.csv').toBeGreaterThan(0);
    // The last write of the snapshot's transaction before the rows, and a sync of the WAL after it.
    let walWrite = -1;
    for (let i = 0; i < csvWrite; i++) if (/(write|pwrite64)\(\d+<[^>]*\/n\.db-wal>/.test(lines[i]!)) walWrite = i;
    expect(walWrite, 'the snapshot written to n.db-wal before the CSV rows').toBeGreaterThan(0);
    const walSync = at(/f(data)?sync\(\d+<[^>]*\/n\.db-wal>\) = 0/, walWrite);
    expect(walSync, 'a sync of n.db-wal after the snapshot was written').toBeGreaterThan(walWrite);
    expect(walSync, '... and before the CSV rows').toBeLessThan(csvWrite);
    const csvSync = at(/fdatasync\(\d+<[^>]*\/t\.csv>\) = 0/, csvWrite);
    expect(csvSync, 'fdatasync of t.csv after its rows').toBeGreaterThan(csvWrite);
    // The clean end is recorded after that: a WAL write follows the CSV's sync.
    expect(at(/(write|pwrite64)\(\d+<[^>]*\/n\.db-wal>/, csvSync), 'the store written after the CSV sync').toBeGreaterThan(csvSync);
  });
});
