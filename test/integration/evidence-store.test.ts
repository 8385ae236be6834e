/**
 * The SQLite evidence store on real files (docs/evidence-store.md): schema and migration,
 * exact reconstruction of past snapshots, storage that grows with change, checkpoints,
 * sessions, verification, refusal of files it must not touch, the one-writer lock, gaps after
 * an unclean stop, and the executable hash cache.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, FormatError, StoreError } from '../../src/errors.js';
import type { ExecutableIdentity, Snapshot } from '../../src/model/types.js';
import { diffSnapshots } from '../../src/diff/diff-snapshots.js';
import { compareSockets } from '../../src/snapshot/create-snapshot.js';
import { recordHash } from '../../src/store/chain.js';
import { EvidenceStore, STORE_SCHEMA_VERSION, type SnapshotQuery, type SnapshotSummary } from '../../src/store/evidence-store.js';
import { parseSocketBody } from '../../src/store/socket-body.js';
import { isoWithOffset } from '../../src/model/iso-time.js';
import { printable } from '../../src/outputs/sanitize.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';
import { CLI, runCli, startJsonProcess, stop } from '../helpers/processes.js';
import { at, changingSequence, manyProcesses, manySockets, openRaw, scratchDirs, sha256File, snapshotOf, withRaw, type Tick } from '../helpers/store-fixtures.js';

const dirs = scratchDirs('netmon-store-');
const STORE_WRITER = fileURLToPath(new URL('../fixtures/store-writer.mjs', import.meta.url));
const FIXTURE = (schema: number): string => fileURLToPath(new URL(`../fixtures/store/schema-${schema}.db`, import.meta.url));
afterAll(() => dirs.cleanup());

/** A fresh store path in its own scratch directory. */
function freshPath(): { dir: string; db: string; csv: string } {
  const dir = dirs.make();
  return { dir, db: join(dir, 'netmon.db'), csv: join(dir, 'network_connections.csv') };
}

function expected(tick: Tick): Snapshot & { label: string | null; change: string | null } {
  return { ...tick.snapshot, label: tick.label, change: tick.change };
}

function appendAll(store: EvidenceStore, ticks: Tick[]): void {
  for (const t of ticks) store.appendSnapshot(t.snapshot, { label: t.label, change: t.change });
}

/** Every snapshot listed by the store deep-equals the tick appended at that position. */
function expectExactReconstruction(store: EvidenceStore, ticks: Tick[]): void {
  const ids = store.listSnapshots().map((s) => s.id);
  expect(ids).toHaveLength(ticks.length);
  ids.forEach((id, k) => {
    expect(store.loadSnapshot(id), `snapshot ${id} (tick ${k + 1})`).toStrictEqual(expected(ticks[k]!));
  });
}

/** Bytes the store occupies once its WAL is checkpointed into the main file. */
function storedBytes(db: string): { file: number; pages: number } {
  return withRaw(db, (raw) => {
    const [result] = raw.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    expect(result?.busy).toBe(0);
    const wal = existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0;
    const pages = Number(raw.pragma('page_count', { simple: true })) * Number(raw.pragma('page_size', { simple: true }));
    return { file: statSync(db).size + wal, pages };
  });
}

function count(db: string, sql: string, ...params: unknown[]): number {
  return withRaw(db, (raw) => Number(raw.prepare(sql).pluck().get(...params)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

beforeAll(() => {
  // CLI-based cases run dist/: it must have been built (npx tsc -p tsconfig.json).
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build with npx tsc -p tsconfig.json first`);
});

describe('EvidenceStore (real SQLite files)', () => {
  it('show prints the warnings a stored snapshot carries inert: a store someone else wrote cannot forge lines or send escapes', () => {
    const { db, dir } = freshPath();
    const store = EvidenceStore.open(db);
    const snap = makeSnapshot({ sockets: [makeSocket({ localPort: 22 })] });
    store.appendSnapshot({ ...snap, warnings: [{ code: 'W_PRIVILEGE', message: 'planted\nnetmon: evidence store verified \x1b[2J' }] });
    store.close();
    const shown = runCli(['show', 'latest', '--db', db], { cwd: dir });
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stderr.split('\n')[0]).toBe('netmon: warning: planted\\x0anetmon: evidence store verified \\x1b[2J');
    expect(shown.stderr).not.toContain('\x1b');
  });

  it('creates schema version 6 in WAL mode, and reopening does not migrate again', () => {
    const { db } = freshPath();
    const first = EvidenceStore.open(db, { now: () => new Date('2026-01-01T00:00:00.000Z') });
    first.appendSnapshot(changingSequence()[0]!.snapshot);
    first.close();

    const schema = () =>
      withRaw(db, (raw) => ({
        version: Number(raw.pragma('user_version', { simple: true })),
        journal: String(raw.pragma('journal_mode', { simple: true })),
        meta: raw.prepare('SELECT key, value FROM meta ORDER BY key').all(),
        tables: raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(),
        indexes: raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").pluck().all(),
      }));
    const created = schema();
    expect(created.version).toBe(STORE_SCHEMA_VERSION);
    expect(STORE_SCHEMA_VERSION).toBe(7);
    expect(created.journal).toBe('wal');
    expect(created.meta).toEqual([
      { key: 'created_at', value: '2026-01-01T00:00:00.000Z' },
      { key: 'created_by', value: 'netmon' },
    ]);
    expect(created.tables).toEqual(['checkpoint_items', 'events', 'hash_cache', 'items', 'meta', 'records', 'snapshots', 'writer']);
    expect(created.indexes).toEqual(['checkpoint_items_by_item', 'events_by_item', 'records_by_kind', 'snapshots_by_change']);

    // Reopen with another clock: a second migration would fail (tables exist) or rewrite meta.
    const again = EvidenceStore.open(db, { now: () => new Date('2030-06-06T00:00:00.000Z') });
    expect(again.listSnapshots()).toHaveLength(1);
    again.close();
    const ro = EvidenceStore.open(db, { readonly: true });
    expect(ro.listSnapshots()).toHaveLength(1);
    ro.close();
    expect(schema()).toEqual(created);
  });

  it('reconstructs every snapshot exactly: sockets opening, closing and changing owners, processes, namespaces, labels', () => {
    const { db } = freshPath();
    const ticks = changingSequence();
    const store = EvidenceStore.open(db);
    const results = ticks.map((t) => store.appendSnapshot(t.snapshot, { label: t.label, change: t.change }));
    // What each append reports as changed
    expect(results.map((r) => [r.added, r.removed])).toEqual([
      [0, 0], // first snapshot
      [0, 0], // unchanged
      [2, 2], // outbound + curl out, web6 + python3 in
      [4, 4], // ssh22 changes owner, sshd -> its child, timeWait out, RED namespace in, new context (a warning)
      [0, 0], // unchanged
      [5, 7], // ssh22 and outbound back with sshd and curl, the first context; dns53, dns and two namespaces out
    ]);
    expect(results[2]!.closed.map((s) => s.inode)).toEqual([5001]);
    expect(results[2]!.opened.map((s) => s.inode)).toEqual([8081]);
    expect(results[3]!.opened.map((s) => [s.inode, s.owners[0]!.pid])).toEqual([[2201, 101]]);
    expect(results[3]!.closed.map((s) => [s.inode, s.owners[0]?.pid ?? null]).sort()).toEqual([
      [0, null],
      [2201, 100],
    ]);

    const list = store.listSnapshots();
    expect(list.map((s) => s.id)).toEqual(results.map((r) => r.id));
    expect(list.map((s) => [s.label, s.change, s.sockets])).toEqual(ticks.map((t) => [t.label, t.change, t.snapshot.sockets.length]));
    expectExactReconstruction(store, ticks);
    store.close();

    // And from a fresh read-only connection (nothing cached in memory)
    const reader = EvidenceStore.open(db, { readonly: true });
    expectExactReconstruction(reader, ticks);
    // The reused socket record is stored once
    expect(count(db, "SELECT COUNT(*) FROM items WHERE kind = 'socket' AND json_extract(body, '$[7]') = ?", 5001)).toBe(1);
    reader.close();

    // Snapshots with the same set digest share their records (ticks 1 and 2), and the diff of
    // such a pair finds nothing; loading a changed one in between or after stays exact.
    const shared = EvidenceStore.open(db, { readonly: true });
    const [first, second, third] = list.map((s) => shared.loadSnapshot(s.id));
    expect(second!.sockets).toBe(first!.sockets);
    expect(second!.takenAt).toBe(ticks[1]!.snapshot.takenAt);
    expect(second).toStrictEqual(expected(ticks[1]!));
    expect(third!.sockets).not.toBe(first!.sockets);
    expect(third).toStrictEqual(expected(ticks[2]!));
    expect(shared.loadSnapshot(list[0]!.id)).toStrictEqual(expected(ticks[0]!));
    expect(diffSnapshots(first!, second!).changes).toEqual([]);
    expect(diffSnapshots(second!, third!)).toEqual(diffSnapshots(ticks[1]!.snapshot, ticks[2]!.snapshot));
    shared.close();
  });

  it('a socket object changed in place between two appends is stored as changed', () => {
    const { db } = freshPath();
    const store = EvidenceStore.open(db);
    const socket = makeSocket({ inode: 77, owners: [{ pid: 100, fd: 3 }] });
    const snap = snapshotOf({ sockets: [socket], processes: manyProcesses(2), takenAt: at(0) });
    store.appendSnapshot(snap);
    snap.sockets[0]!.owners = [{ pid: 101, fd: 9 }]; // the owner changed
    const second = store.appendSnapshot({ ...snap, takenAt: at(60).toISOString() });
    expect([second.added, second.removed]).toEqual([1, 1]);
    expect(store.loadSnapshot(second.id).sockets[0]!.owners).toEqual([{ pid: 101, fd: 9 }]);
    store.close();
  });

  it('storage grows with change: unchanged ticks of 2000 sockets add under 2 KB each, a changed tick adds events for the changed sockets only', () => {
    const { db } = freshPath();
    const processes = manyProcesses(20);
    const sockets = manySockets(2000, 20);
    const store = EvidenceStore.open(db);
    const empty = storedBytes(db);
    store.appendSnapshot(snapshotOf({ sockets, processes, takenAt: at(0) }));
    const first = storedBytes(db);
    const itemsAfterFirst = count(db, 'SELECT COUNT(*) FROM items');
    expect(itemsAfterFirst).toBe(2000 + 20 + 1 + 1); // sockets, processes, namespace, context
    expect(first.pages - empty.pages).toBeGreaterThan(200 * 1024); // a full inventory is big

    for (let k = 1; k <= 20; k++) {
      const r = store.appendSnapshot(snapshotOf({ sockets, processes, takenAt: at(k * 10) }));
      expect([r.added, r.removed, r.checkpoint]).toEqual([0, 0, false]);
    }
    const after = storedBytes(db);
    const perTickFile = (after.file - first.file) / 20;
    const perTickPages = (after.pages - first.pages) / 20;
    expect(perTickFile).toBeLessThan(2048);
    expect(perTickPages).toBeLessThan(2048);
    // Unchanged ticks wrote no items, no events and no checkpoint rows
    expect(count(db, 'SELECT COUNT(*) FROM items')).toBe(itemsAfterFirst);
    expect(count(db, 'SELECT COUNT(*) FROM events')).toBe(0);
    expect(count(db, 'SELECT COUNT(*) FROM checkpoint_items')).toBe(itemsAfterFirst);
    expect(count(db, 'SELECT COUNT(*) FROM snapshots')).toBe(21);

    // A changed tick: one socket closes, one opens (the count stays, so the namespace record
    // is unchanged), one changes owner to another existing process.
    const changed = [...sockets];
    const closed = changed.splice(10, 1)[0]!;
    const opened = makeSocket({ localAddress: '172.16.0.1', localPort: 60001, inode: 999999, owners: [{ pid: 105, fd: 99 }] });
    changed.push(opened);
    const moved = changed[20]!;
    changed[20] = { ...moved, owners: [{ pid: 119, fd: 77 }] };
    const r = store.appendSnapshot(snapshotOf({ sockets: changed, processes, takenAt: at(1000) }));
    expect([r.added, r.removed]).toEqual([2, 2]);
    expect(r.opened.map((s) => s.inode).sort()).toEqual([moved.inode, opened.inode].sort());
    expect(r.closed.map((s) => s.inode).sort()).toEqual([closed.inode, moved.inode].sort());
    const events = withRaw(db, (raw) =>
      raw.prepare('SELECT e.op, i.kind, i.body FROM events e JOIN items i ON i.id = e.item_id WHERE e.snapshot_id = ? ORDER BY e.op, i.body').all(r.id),
    );
    expect(events).toHaveLength(4);
    expect(events.every((e) => e.kind === 'socket')).toBe(true);
    expect(events.map((e) => [e.op, parseSocketBody(String(e.body))!.inode]).sort()).toEqual(
      [
        [-1, closed.inode],
        [-1, moved.inode],
        [1, moved.inode],
        [1, opened.inode],
      ].sort(),
    );
    expect(count(db, 'SELECT COUNT(*) FROM events')).toBe(4);
    expect(count(db, 'SELECT COUNT(*) FROM items')).toBe(itemsAfterFirst + 2);
    expect(store.loadSnapshot(r.id).sockets).toStrictEqual(snapshotOf({ sockets: changed, processes, takenAt: at(1000) }).sockets);
    expect(store.verify().ok).toBe(true);
    store.close();
  });

  it('with checkpointEvery 5, snapshots 1, 6, 11 are checkpoints and reconstruction across them is exact', () => {
    const { db } = freshPath();
    const base = changingSequence();
    // 13 ticks: the six-tick sequence twice (shifted in time), then one more
    const ticks = [...base, ...changingSequence(1000), changingSequence(5000)[2]!];
    const store = EvidenceStore.open(db, { checkpointEvery: 5 });
    const results = ticks.map((t) => store.appendSnapshot(t.snapshot, { label: t.label, change: t.change }));
    const list = store.listSnapshots();
    expect(list.map((s) => s.checkpoint)).toEqual([true, false, false, false, false, true, false, false, false, false, true, false, false]);
    expect(results.map((r) => r.checkpoint)).toEqual(list.map((s) => s.checkpoint));
    // The full set is stored at checkpoints, and only there
    const checkpointRows = withRaw(db, (raw) => raw.prepare('SELECT snapshot_id, COUNT(*) AS n FROM checkpoint_items GROUP BY snapshot_id ORDER BY snapshot_id').all());
    const expectedRows = [0, 5, 10].map((k) => {
      const s = ticks[k]!.snapshot;
      return { snapshot_id: list[k]!.id, n: s.sockets.length + s.processes.length + s.namespaces.length + 1 }; // + its context
    });
    expect(checkpointRows).toEqual(expectedRows);
    // Checkpoint snapshots have no events; changed non-checkpoint snapshots do
    expect(count(db, 'SELECT COUNT(*) FROM events WHERE snapshot_id IN (?, ?, ?)', list[0]!.id, list[5]!.id, list[10]!.id)).toBe(0);
    expect(count(db, 'SELECT COUNT(*) FROM events WHERE snapshot_id = ?', list[2]!.id)).toBe(4);
    expectExactReconstruction(store, ticks);
    expect(store.verify().ok).toBe(true);
    store.close();
  });

  it('heavy churn forces a checkpoint once the events since the last one outnumber the set 4 times: a read replays a bounded number of events, whatever the churn', () => {
    // From a scale probe: with a checkpoint only every 1,000 snapshots, a busy host's store made
    // a reader replay millions of events (one `show` ran out of memory). 5,000 sockets, every one
    // replaced at each append: 10,000 events each. The set has 5,006 items (sockets, processes,
    // namespace, context), so 20,024 events are allowed: passed after the fourth append, and the
    // fifth is a checkpoint.
    const { db } = freshPath();
    const processes = manyProcesses(4);
    const ticks: Tick[] = [];
    for (let k = 0; k < 7; k++) {
      const sockets = manySockets(5000, 4).map((s) => ({ ...s, inode: s.inode + k * 10_000, remotePort: s.listening ? 0 : 20000 + k }));
      ticks.push({ snapshot: snapshotOf({ sockets, processes, takenAt: at(k * 10) }), label: null, change: null });
    }
    const store = EvidenceStore.open(db, { checkpointEvery: 1000 });
    const results = ticks.map((t) => store.appendSnapshot(t.snapshot));
    expect(results.map((r) => r.checkpoint)).toEqual([true, false, false, false, true, false, false]);
    const events = (id: number) => count(db, 'SELECT COUNT(*) FROM events WHERE snapshot_id > (SELECT MAX(id) FROM snapshots WHERE checkpoint = 1 AND id <= ?) AND snapshot_id <= ?', id, id);
    // At most the allowance and one append's events: what a reader of any snapshot replays.
    for (const r of results) expect(events(r.id)).toBeLessThanOrEqual(4 * 5006 + 10_000);
    expectExactReconstruction(store, ticks);
    expect(store.verify().ok).toBe(true);
    store.close();
    // A new writer counts the events since the last checkpoint from the store: the rule holds across sessions.
    const again = EvidenceStore.open(db);
    again.beginSession({ interval: null });
    const next = manySockets(5000, 4).map((s) => ({ ...s, inode: s.inode + 90_000, remotePort: s.listening ? 0 : 29999 }));
    expect(again.appendSnapshot(snapshotOf({ sockets: next, processes, takenAt: at(100) })).checkpoint).toBe(false);
    const last = manySockets(5000, 4).map((s) => ({ ...s, inode: s.inode + 95_000, remotePort: s.listening ? 0 : 29998 }));
    expect(again.appendSnapshot(snapshotOf({ sockets: last, processes, takenAt: at(110) })).checkpoint).toBe(true);
    expect(again.verify().ok).toBe(true);
    again.close();
  });

  it('a second session continues the set as changes (not a forced checkpoint) and reconstruction stays exact', () => {
    const { db } = freshPath();
    const ticks = changingSequence();
    const first = EvidenceStore.open(db, { checkpointEvery: 5 });
    expect(first.beginSession({ interval: null }).gap).toBeNull();
    appendAll(first, ticks.slice(0, 3));
    first.close();
    expect(count(db, 'SELECT COUNT(*) FROM writer')).toBe(0); // a clean close releases the lock

    const second = EvidenceStore.open(db, { checkpointEvery: 5 });
    const { session, gap } = second.beginSession({ interval: null });
    expect(gap).toBeNull(); // clean stop, no interval: nothing to record
    const results = ticks.slice(3).map((t) => second.appendSnapshot(t.snapshot, { label: t.label, change: t.change }));
    // Position 4 (first of session 2) is stored as changes; position 6 is the due checkpoint
    expect(results.map((r) => r.checkpoint)).toEqual([false, false, true]);
    expect([results[0]!.added, results[0]!.removed]).toEqual([4, 4]);
    expect(count(db, 'SELECT COUNT(*) FROM events WHERE snapshot_id = ?', results[0]!.id)).toBe(8);
    expect(count(db, 'SELECT COUNT(*) FROM checkpoint_items WHERE snapshot_id = ?', results[0]!.id)).toBe(0);
    expect(second.listSnapshots().map((s) => s.checkpoint)).toEqual([true, false, false, false, false, true]);
    expect(withRaw(db, (raw) => raw.prepare('SELECT DISTINCT session FROM snapshots WHERE id >= ?').pluck().all(results[0]!.id))).toEqual([session]);
    expectExactReconstruction(second, ticks);
    expect(second.gaps()).toEqual([]);
    expect(second.verify()).toMatchObject({ ok: true, records: 8, snapshots: 6 });
    second.close();
  });

  it('a new process whose first snapshot equals the last one stores no events; later changes and a due checkpoint stay exact', () => {
    const { db } = freshPath();
    const ticks = changingSequence();
    const later = (t: Tick, seconds: number): Tick => ({ ...t, snapshot: { ...t.snapshot, takenAt: at(seconds).toISOString() } });
    const stored: Tick[] = [];
    const session = (run: (store: EvidenceStore) => void): void => {
      // Each session is a new store object, as each `netmon --once` is a new process.
      const store = EvidenceStore.open(db, { checkpointEvery: 3 });
      store.beginSession({ interval: null });
      run(store);
      store.close();
    };
    const append = (store: EvidenceStore, t: Tick) => {
      stored.push(t);
      return store.appendSnapshot(t.snapshot, { label: t.label, change: t.change });
    };

    session((store) => expect(append(store, ticks[0]!).checkpoint).toBe(true));
    session((store) => {
      // The same inventory: nothing added, removed or stored as events.
      const same = append(store, later(ticks[0]!, 1000));
      expect([same.added, same.removed, same.checkpoint, same.opened, same.closed]).toEqual([0, 0, false, [], []]);
      expect(count(db, 'SELECT COUNT(*) FROM events WHERE snapshot_id = ?', same.id)).toBe(0);
      // Then a change in the same session: compared with the unchanged snapshot's items.
      const changed = append(store, ticks[2]!);
      expect(changed.checkpoint).toBe(false);
      expect(changed.added).toBeGreaterThan(0);
      expect(changed.closed.map((s) => s.inode)).toContain(5001);
      expect(changed.opened.map((s) => s.inode)).toContain(8081);
    });
    session((store) => {
      // Unchanged, but a checkpoint is due (snapshot 4 with checkpointEvery 3): it lists every item.
      const due = append(store, later(ticks[2]!, 2000));
      expect([due.added, due.removed, due.checkpoint]).toEqual([0, 0, true]);
      expect(count(db, 'SELECT COUNT(*) FROM checkpoint_items WHERE snapshot_id = ?', due.id)).toBeGreaterThan(0);
      const next = append(store, ticks[3]!);
      expect(next.added + next.removed).toBeGreaterThan(0);
    });
    const reader = EvidenceStore.open(db, { readonly: true });
    expectExactReconstruction(reader, stored);
    expect(reader.verify()).toMatchObject({ ok: true, snapshots: 5 });
    reader.close();
  });

  it('retain: false keeps no sockets for the next append, which is still stored exactly (as changes)', () => {
    const { db } = freshPath();
    const ticks = changingSequence();
    const store = EvidenceStore.open(db);
    store.beginSession({ interval: null });
    ticks.forEach((t, k) => {
      const result = store.appendSnapshot(t.snapshot, { label: t.label, change: t.change, retain: k % 2 === 1 });
      if (k === 1 || k === 4) expect([result.added, result.removed]).toEqual([0, 0]); // the unchanged ticks
    });
    expectExactReconstruction(store, ticks);
    expect(store.verify()).toMatchObject({ ok: true, snapshots: ticks.length });
    store.close();
  });

  it('verify() is ok on an intact store and reports counts and the 64-hex head hash', () => {
    const { db } = freshPath();
    const empty = EvidenceStore.open(db);
    expect(empty.verify()).toEqual({ ok: true, records: 0, snapshots: 0, items: 0, gaps: 0, headHash: null });
    const ticks = changingSequence();
    appendAll(empty, ticks.slice(0, 4));
    empty.close();
    const again = EvidenceStore.open(db);
    appendAll(again, ticks.slice(4));
    again.close();

    const store = EvidenceStore.open(db, { readonly: true });
    const result = store.verify();
    const raw = withRaw(db, (r) => ({
      records: Number(r.prepare('SELECT COUNT(*) FROM records').pluck().get()),
      items: Number(r.prepare('SELECT COUNT(*) FROM items').pluck().get()),
      head: String(r.prepare('SELECT hash FROM records ORDER BY seq DESC LIMIT 1').pluck().get()),
    }));
    expect(result.ok).toBe(true);
    expect(result.problem).toBeUndefined();
    expect(result.records).toBe(8); // 2 sessions + 6 snapshots
    expect(result.records).toBe(raw.records);
    expect(result.snapshots).toBe(6);
    expect(result.items).toBe(raw.items);
    expect(result.items).toBe(16); // every distinct record of the sequence: 6 sockets, 5 processes, 3 namespaces, 2 contexts
    expect(result.headHash).toMatch(/^[0-9a-f]{64}$/);
    expect(result.headHash).toBe(raw.head);
    store.close();
  });

  it('refuses a store written with a newer schema (FormatError "expected N, received N + 1") and leaves the file unchanged', () => {
    const newer = STORE_SCHEMA_VERSION + 1;
    const refusal = `expected ${STORE_SCHEMA_VERSION}, received ${newer}`;
    const { db } = freshPath();
    const store = EvidenceStore.open(db);
    appendAll(store, changingSequence().slice(0, 2));
    store.close();
    withRaw(db, (raw) => raw.pragma(`user_version = ${newer}`));
    expect(existsSync(`${db}-wal`)).toBe(false);
    const before = sha256File(db);

    for (const options of [{}, { readonly: true }]) {
      let error: unknown;
      try {
        EvidenceStore.open(db, options).close();
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(FormatError);
      expect((error as Error).message).toContain(refusal);
      expect((error as Error).message).toContain(db);
    }
    const cli = runCli(['snapshots', '--db', db]);
    expect(cli.status).toBe(3);
    expect(cli.stderr).toContain(refusal);
    expect(sha256File(db)).toBe(before);
    expect(withRaw(db, (raw) => Number(raw.pragma('user_version', { simple: true })))).toBe(newer);
  });

  it('namespace counts changing alone (a process started, TIME_WAIT sockets expired) store no events: each snapshot record keeps its own counts', () => {
    const { db } = freshPath();
    const first = changingSequence()[0]!;
    const recount = (extra: number): Tick => ({
      ...first,
      snapshot: { ...first.snapshot, takenAt: at(60 * extra).toISOString(), namespaces: first.snapshot.namespaces.map((n) => ({ ...n, processes: n.processes + extra, sockets: n.sockets + 2 * extra })) },
    });
    const ticks = [first, recount(1), recount(2)];
    const store = EvidenceStore.open(db);
    appendAll(store, ticks.slice(0, 2));
    store.close();
    // A new process (`--once`) compares set digests only: the counts are not part of the set.
    const again = EvidenceStore.open(db);
    appendAll(again, ticks.slice(2));
    const ids = again.listSnapshots().map((s) => s.id);
    expect(count(db, 'SELECT COUNT(*) FROM events')).toBe(0);
    expect(count(db, "SELECT COUNT(*) FROM items WHERE kind = 'namespace'")).toBe(first.snapshot.namespaces.length);
    // The items hold what identifies a namespace; the counts are in the snapshot records.
    const bodies = withRaw(db, (raw) => raw.prepare("SELECT body FROM items WHERE kind = 'namespace'").pluck().all() as unknown as string[]);
    for (const body of bodies) expect(Object.keys(JSON.parse(body) as object)).not.toContain('processes');
    const record = JSON.parse(withRaw(db, (raw) => String(raw.prepare('SELECT body FROM records WHERE seq = ?').pluck().get(ids[2])))) as { schemaVersion: number; namespaceCounts: number[][] };
    expect(record.schemaVersion).toBe(3);
    expect(record.namespaceCounts).toEqual(ticks[2]!.snapshot.namespaces.map((n) => [n.inode, n.processes, n.sockets]));
    ids.forEach((id, k) => expect(again.loadSnapshot(id), `snapshot ${id}`).toStrictEqual(expected(ticks[k]!)));
    expect(again.verify().ok).toBe(true);
    again.close();
  });

  it.each([
    [1, 'namespace counts in the items, sockets as objects'],
    [2, 'sockets as objects'],
    [3, 'record layout 2: no changes digest'],
    [4, 'no indexes of rows by item'],
    [5, 'no index of records by kind'],
    [6, 'executable hashes in the cache name no record'],
  ])('reads a store of schema %i (%s) as it is, and migrates it to 7 on the first write without touching its records', (schema) => {
    // test/fixtures/store/schema-N.db: changingSequence() appended by netmon at store schema N.
    const { dir } = freshPath();
    const db = join(dir, 'old.db');
    copyFileSync(FIXTURE(schema), db);
    const ticks = changingSequence();
    const records = () => withRaw(db, (raw) => raw.prepare('SELECT seq, hash FROM records ORDER BY seq').all());
    const before = records();

    const reader = EvidenceStore.open(db, { readonly: true });
    expectExactReconstruction(reader, ticks);
    expect(reader.verify().ok).toBe(true);
    reader.close();
    expect(withRaw(db, (raw) => Number(raw.pragma('user_version', { simple: true })))).toBe(schema);
    const shown = runCli(['show', 'first', '--db', db, '--output', 'json'], { cwd: dir });
    expect(shown.status, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as Snapshot).namespaces).toStrictEqual(ticks[0]!.snapshot.namespaces);

    // A writer migrates the store and appends in layout 3, sockets as arrays; old snapshots
    // still load as captured. (Sockets are objects below schema 3.)
    const sockets = "SELECT COUNT(*) FROM items WHERE kind = 'socket' AND body LIKE ?";
    const objects = count(db, sockets, '{%');
    const arrays = count(db, sockets, '[%');
    expect(schema < 3 ? arrays : objects).toBe(0);
    // The next capture: one socket closed, one opened, the rest as they were.
    const last = ticks[5]!.snapshot;
    const gone = last.sockets[last.sockets.length - 1]!;
    const born = makeSocket({ localAddress: '192.0.2.10', localPort: 9999, inode: 777777, owners: [{ pid: last.processes[0]!.pid, fd: 42 }] });
    const nextSockets = [...last.sockets.slice(0, -1), born].sort(compareSockets);
    const next: Tick = { ...ticks[5]!, label: 'later', snapshot: { ...last, takenAt: at(400).toISOString(), sockets: nextSockets, namespaces: [{ ...last.namespaces[0]!, processes: 42 }] } };
    const again: Tick = { ...next, label: 'again', snapshot: { ...next.snapshot, takenAt: at(401).toISOString() } };
    const writer = EvidenceStore.open(db);
    const migratedAppend = writer.appendSnapshot(next.snapshot, { label: next.label, change: next.change });
    writer.close();
    expect(withRaw(db, (raw) => Number(raw.pragma('user_version', { simple: true })))).toBe(STORE_SCHEMA_VERSION);
    expect(withRaw(db, (raw) => raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%_by_%' ORDER BY name").pluck().all())).toEqual(['checkpoint_items_by_item', 'events_by_item', 'records_by_kind', 'snapshots_by_change']);
    // A change of stored form is no change for the caller: only the socket that really opened and
    // the one that closed (else --once would warn of every listener as new).
    expect(migratedAppend.added).toBeGreaterThan(0);
    expect([migratedAppend.opened, migratedAppend.closed]).toEqual([[born], [gone]]);
    expect(records().slice(0, before.length)).toEqual(before);
    // Below schema 3, once: the sockets of the first snapshot after the migration enter again in
    // the new form. From schema 3, only the socket that opened enters.
    expect(count(db, sockets, '{%')).toBe(objects);
    expect(count(db, sockets, '[%')).toBe(schema < 3 ? next.snapshot.sockets.length : arrays + 1);
    const layouts = withRaw(db, (raw) => (raw.prepare("SELECT body FROM records WHERE kind = 'snapshot' ORDER BY seq").pluck().all() as unknown as string[]).map((b) => JSON.parse(b) as { schemaVersion: number; changesDigest?: string }));
    expect(layouts.at(-1)).toMatchObject({ schemaVersion: 3, changesDigest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // Records keep the layout they were written in (layout 3, with changes digests, from schema 4).
    expect(layouts.slice(1, ticks.length).every((b) => (b.changesDigest === undefined) === schema < 4)).toBe(true);
    const writer2 = EvidenceStore.open(db);
    const unchanged = writer2.appendSnapshot(again.snapshot, { label: again.label, change: again.change });
    writer2.close();
    expect([unchanged.added, unchanged.removed]).toEqual([0, 0]);
    const migrated = EvidenceStore.open(db, { readonly: true });
    expectExactReconstruction(migrated, [...ticks, next, again]);
    expect(migrated.verify().ok).toBe(true);
    migrated.close();
  });

  it('--once with a process started between captures: no namespace change is stored, and show prints each capture exactly as --once did (JSON and text)', async () => {
    const { dir, db } = freshPath();
    const capture = () => runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1', '--output', 'json'], { cwd: dir });
    const first = capture();
    expect(first.status, first.stderr).toBe(0);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => sleeper.once('spawn', resolve));
      const second = capture();
      expect(second.status, second.stderr).toBe(0);
      const ids = runCli(['snapshots', '--db', db, '--output', 'json'], { cwd: dir });
      const [a, b] = (JSON.parse(ids.stdout) as { snapshots: { id: number }[] }).snapshots.map((s) => s.id);
      // The host's namespace, where the process started: its item holds no process count, so it
      // is the same item in both. (Namespaces of other test files, added or removed meanwhile,
      // are changes of their own: every namespace is stored whatever the selection.)
      const hostNamespace = (JSON.parse(first.stdout) as { namespaces: { inode: number; host: boolean }[] }).namespaces.find((n) => n.host)!;
      expect(hostNamespace).toBeDefined();
      expect(count(db, "SELECT COUNT(*) FROM items WHERE kind = 'namespace' AND json_extract(body, '$.host') = 1")).toBe(1);
      expect(count(db, `SELECT COUNT(*) FROM events e JOIN items i ON i.id = e.item_id WHERE i.kind = 'namespace' AND json_extract(i.body, '$.inode') = ${hostNamespace.inode}`)).toBe(0);
      expect(runCli(['show', String(a), '--db', db, '--output', 'json'], { cwd: dir }).stdout).toBe(first.stdout);
      expect(runCli(['show', String(b), '--db', db, '--output', 'json'], { cwd: dir }).stdout).toBe(second.stdout);
      // The live view too: `show` prints the text --once printed.
      const text = runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'], { cwd: dir });
      expect(text.status, text.stderr).toBe(0);
      expect(runCli(['show', 'latest', '--db', db], { cwd: dir }).stdout).toBe(text.stdout);
    } finally {
      sleeper.kill();
    }
  });

  it.each([
    ['random bytes', () => randomBytes(16384)],
    ['a text file', () => Buffer.from('host,port\nexample.org,443\nthis is not a database\n'.repeat(40))],
    ['a short text file', () => Buffer.from('hello\n')],
  ])('refuses %s at the path with a StoreError naming it, and does not modify it', (_name, content) => {
    const { dir } = freshPath();
    const path = join(dir, 'evidence.db');
    writeFileSync(path, content());
    const before = sha256File(path);
    for (const options of [{}, { readonly: true }]) {
      let error: unknown;
      try {
        EvidenceStore.open(path, options).close();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toContain('not an SQLite database');
    }
    const cli = runCli(['--once', '--db', path, '--no-csv'], { cwd: dir });
    expect(cli.status).toBe(3);
    expect(cli.stderr).toContain('not an SQLite database');
    expect(sha256File(path)).toBe(before);
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-journal`)).toBe(false);
  });

  it('verify follows a churning store through events and checkpoints, and names the record of a change made late in it', () => {
    const { db } = freshPath();
    const processes = manyProcesses(5);
    let sockets = manySockets(1500, 5);
    let nextInode = 900000;
    const store = EvidenceStore.open(db, { checkpointEvery: 7 });
    // The same ticks appended by a new store object each (as --once does): its set digests are
    // computed from every digest, not merged from the previous set's as a session does.
    const { db: fresh } = freshPath();
    const ids: number[] = [];
    for (let k = 0; k < 30; k++) {
      if (k > 0) {
        // 3% of the sockets replaced, and every third tick one socket changes owner
        const fresh = sockets.slice(0, 45).map((s) => ({ ...s, inode: nextInode++ }));
        sockets = [...sockets.slice(45), ...fresh];
        if (k % 3 === 0) sockets[100] = { ...sockets[100]!, owners: [{ pid: 101, fd: 1000 + k }] };
        if (k % 5 === 0) sockets = sockets.slice(0, -10); // the set shrinks sometimes
      }
      ids.push(store.appendSnapshot(snapshotOf({ sockets, processes, takenAt: at(k * 10) })).id);
      const once = EvidenceStore.open(fresh, { checkpointEvery: 7 });
      once.appendSnapshot(snapshotOf({ sockets, processes, takenAt: at(k * 10) }), { retain: false });
      once.close();
    }
    const setDigests = (file: string) => withRaw(file, (raw) => (raw.prepare("SELECT body FROM records WHERE kind = 'snapshot' ORDER BY seq").pluck().all() as unknown as string[]).map((b) => (JSON.parse(b) as { setDigest: string }).setDigest));
    expect(new Set(setDigests(db)).size).toBe(30);
    expect(setDigests(db)).toEqual(setDigests(fresh));
    const result = store.verify();
    expect(result).toMatchObject({ ok: true, records: 31, snapshots: 30, items: count(db, 'SELECT COUNT(*) FROM items') });
    store.close();
    expect(count(db, 'SELECT COUNT(DISTINCT snapshot_id) FROM checkpoint_items')).toBe(5); // snapshots 1, 8, 15, 22, 29
    expect(count(db, 'SELECT COUNT(DISTINCT snapshot_id) FROM events')).toBe(25);

    // One event of snapshot 27 (between checkpoints) removed: the set rebuilt there differs.
    const late = ids[26]!;
    const copy = join(dirs.make(), 'late.db');
    copyFileSync(db, copy);
    withRaw(copy, (raw) => {
      const gone = raw.prepare('SELECT item_id FROM events WHERE snapshot_id = ? AND op = -1 LIMIT 1').pluck().get(late);
      expect(raw.prepare('DELETE FROM events WHERE snapshot_id = ? AND item_id = ?').run(late, gone).changes).toBe(1);
    });
    const tampered = EvidenceStore.open(copy, { readonly: true });
    expect(tampered.verify()).toMatchObject({ ok: false, problem: { seq: late, message: expect.stringContaining('set of sockets and processes differs') } });
    tampered.close();
  });

  it('verify and loadSnapshot read one consistent store while another process appends every few milliseconds (never a false failure)', async () => {
    const { db } = freshPath();
    const writer = await startJsonProcess<{ pid: number }>(process.execPath, [STORE_WRITER, db, '5']);
    try {
      await sleep(300); // a few dozen snapshots, so that a verify takes a few appends' time
      const reader = EvidenceStore.open(db, { readonly: true });
      let seen = 0;
      try {
        // Before each read ran in one transaction, about 4 in 10 of these failed ("events or
        // checkpoint rows refer to a record that does not exist": a snapshot committed meanwhile).
        for (let i = 0; i < 40; i++) {
          const result = reader.verify();
          expect(result.ok, JSON.stringify(result.problem)).toBe(true);
          expect(result.snapshots).toBeGreaterThanOrEqual(seen);
          seen = result.snapshots;
          const latest = reader.listSnapshots().at(-1)!;
          expect(reader.loadSnapshot(latest.id).sockets).toHaveLength(200);
        }
      } finally {
        reader.close();
      }
      expect(seen, 'the writer appended while the reader verified').toBeGreaterThan(10);
    } finally {
      await stop(writer.child);
    }
  });

  it('verify reports its progress every 1,000 records, with the number of records to check', () => {
    const { db } = freshPath();
    const processes = manyProcesses(1);
    const sockets = manySockets(3, 1);
    const store = EvidenceStore.open(db);
    for (let k = 0; k < 2100; k++) store.appendSnapshot(snapshotOf({ sockets: k % 100 === 0 ? sockets.slice(0, 2) : sockets, processes, takenAt: at(k) }));
    const heard: [number, number][] = [];
    const result = store.verify({ onProgress: (records, total) => heard.push([records, total]) });
    store.close();
    expect(result.ok).toBe(true);
    expect(result.records).toBe(2101); // a session record and 2,100 snapshots
    expect(heard).toEqual([
      [1000, 2101],
      [2000, 2101],
    ]);
  });

  it('listSnapshots(query) and snapshotsExtent(query) pick in SQL exactly what filtering the whole list picks (fast-check against a plain filter)', () => {
    const { db } = freshPath();
    let store = EvidenceStore.open(db);
    try {
      // Two sessions of 24 captures, an hour apart each, some labelled, under two tickets.
      const tags = [null, 'pre', 'post', 'pre', null, 'post'] as const;
      for (let session = 0; session < 2; session++) {
        if (session > 0) {
          store.close();
          store = EvidenceStore.open(db);
        }
        store.beginSession({ interval: null });
        for (let k = 0; k < 24; k++) {
          const hour = session * 24 + k;
          const label = tags[hour % tags.length]!;
          store.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 1000 + (hour % 3), inode: 500 + (hour % 3) })], takenAt: new Date(Date.UTC(2026, 10, 1, hour)) }), {
            label,
            change: label === null ? null : hour < 20 ? 'CHG-1' : 'CHG-2',
          });
        }
      }
      const all = store.listSnapshots();
      expect(all).toHaveLength(48);
      const reference = (q: SnapshotQuery): SnapshotSummary[] => {
        const kept = all.filter(
          (s) =>
            (q.id === undefined || s.id === q.id) &&
            (q.label === undefined || s.label === q.label) &&
            (q.change === undefined || s.change === q.change) &&
            (q.from === undefined || Date.parse(s.takenAt) >= Date.parse(q.from)) &&
            (q.to === undefined || Date.parse(s.takenAt) <= Date.parse(q.to)),
        );
        if (q.newestFirst) kept.reverse();
        return q.limit === undefined ? kept : kept.slice(0, q.limit);
      };
      const time = fc.integer({ min: -2, max: 50 }).map((h) => new Date(Date.UTC(2026, 10, 1, h, h % 2 === 0 ? 0 : 30)).toISOString());
      const query = fc.record(
        {
          id: fc.oneof(fc.constantFrom(...all.map((s) => s.id)), fc.constant(9999)),
          label: fc.constantFrom('pre', 'post', 'other'),
          change: fc.constantFrom('CHG-1', 'CHG-2', 'CHG-3'),
          from: time,
          to: time,
          newestFirst: fc.boolean(),
          limit: fc.integer({ min: 0, max: 5 }),
        },
        { requiredKeys: [] },
      );
      fc.assert(
        fc.property(query, (q) => {
          const picked = reference(q);
          expect(store.listSnapshots(q)).toEqual(picked);
          // The extent a listing sizes its table by: the same selection, summed up.
          const extent = store.snapshotsExtent(q);
          const ids = picked.map((s) => s.id);
          const sorted = <T>(values: T[]): T[] => [...new Set(values)].sort();
          expect({ ...extent, hosts: sorted(extent.hosts), labels: sorted(extent.labels), changes: sorted(extent.changes) }).toEqual({
            count: picked.length,
            firstId: ids.length === 0 ? null : Math.min(...ids),
            lastId: ids.length === 0 ? null : Math.max(...ids),
            maxSockets: Math.max(0, ...picked.map((s) => s.sockets)),
            hosts: sorted(picked.map((s) => s.host)),
            labels: sorted(picked.map((s) => s.label)),
            changes: sorted(picked.map((s) => s.change)),
          });
        }),
        { numRuns: 300 },
      );
    } finally {
      store.close();
    }
  });

  it('netmon snapshots --label/--change/--from/--to/--last list what they name, oldest first, and say how many of how many', () => {
    const { db } = freshPath();
    const store = EvidenceStore.open(db);
    store.beginSession({ interval: null });
    for (let day = 0; day < 6; day++) {
      store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()], takenAt: new Date(Date.UTC(2026, 10, 1 + day)) }), day === 1 ? { label: 'pre', change: 'CHG-7' } : day === 3 ? { label: 'post', change: 'CHG-7' } : {});
    }
    store.close();
    const ids = (args: string[]): number[] => {
      const r = runCli(['snapshots', '--db', db, '-o', 'json', ...args]);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { snapshots: SnapshotSummary[] }).snapshots.map((s) => Date.parse(s.takenAt) / 86_400_000 - Date.UTC(2026, 10, 1) / 86_400_000);
    };
    expect(ids([])).toEqual([0, 1, 2, 3, 4, 5]);
    expect(ids(['--change', 'CHG-7'])).toEqual([1, 3]);
    expect(ids(['--label', 'post'])).toEqual([3]);
    expect(ids(['--last', '2'])).toEqual([4, 5]);
    expect(ids(['--from', '2026-11-02', '--to', '2026-11-04T00:00:00Z'])).toEqual([1, 2, 3]);
    expect(ids(['--from', '2026-11-02', '--last', '1', '--label', 'pre'])).toEqual([1]);
    const text = runCli(['snapshots', '--db', db, '--change', 'CHG-7']);
    expect(text.status).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\s*ID\s+TAKEN AT\s+HOST\s+LABEL\s+CHANGE\s+SOCKETS\s+COVERAGE$/);
    expect(lines[1]).toMatch(/^\s*\d+\s+2026-11-02T00:00:00\+00:00\s+\S+\s+pre\s+CHG-7\s+1\s/);
    expect(lines[2]).toMatch(/^\s*\d+\s+2026-11-04T00:00:00\+00:00\s+\S+\s+post\s+CHG-7\s+1\s/);
    expect(text.stderr).toBe(`netmon: 2 of 6 snapshots in ${db} selected\n`);
    for (const [args, message] of [
      [['--last', '0'], '--last "0" is not a positive whole number'],
      [['--from', 'last week'], '--from "last week" is neither an ISO 8601 time nor an age'],
    ] as const) {
      const bad = runCli(['snapshots', '--db', db, ...args]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain(message);
    }
  });

  it('netmon snapshots lists a long store a page at a time, exactly as the whole table and document, and stops when its reader goes away', async () => {
    const { db } = freshPath();
    const store = EvidenceStore.open(db);
    store.beginSession({ interval: 10 });
    // More than two pages (2,000 each), with tags that change the widths late in the list: a host
    // name that appears only at the end, a label with a control character, a ticket longer than
    // the table shows, and a socket count with more digits.
    const t0 = Date.UTC(2026, 10, 1);
    for (let i = 0; i < 4_500; i++) {
      const snap = makeSnapshot({ sockets: i === 4_321 ? manySockets(1_234, 1) : [makeSocket()], takenAt: new Date(t0 + i * 10_000) });
      const tags = i === 4_400 ? { label: 'post\x1b[31m', change: `CHG-${'9'.repeat(60)}` } : i === 7 ? { label: 'pre', change: 'CHG-1' } : {};
      store.appendSnapshot(i > 4_450 ? { ...snap, host: { ...snap.host, hostname: 'renamed-host-after-a-migration' } } : snap, tags);
    }
    const whole = store.listSnapshots();
    store.close();
    expect(whole).toHaveLength(4_500);

    const json = runCli(['snapshots', '--db', db, '-o', 'json']);
    expect(json.status, json.stderr).toBe(0);
    expect(json.stdout).toBe(`${JSON.stringify({ store: db, snapshots: whole }, null, 2)}\n`);

    // The table as one piece would make it: every column as wide as its widest cell.
    const table = (rows: SnapshotSummary[]): string => {
      const cut = (text: string): string => (text.length > 40 ? `${text.slice(0, 39)}…` : text);
      const cells = rows.map((s) => [String(s.id), isoWithOffset(new Date(s.takenAt)), cut(printable(s.host)), cut(printable(s.label ?? '')), cut(printable(s.change ?? '')), String(s.sockets), `${(s.coverage * 100).toFixed(1)}%`]);
      const header = ['ID', 'TAKEN AT', 'HOST', 'LABEL', 'CHANGE', 'SOCKETS', 'COVERAGE'];
      const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
      return `${[header, ...cells].map((c) => c.map((cell, i) => (i === 0 || i >= 5 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')}\n`;
    };
    const text = runCli(['snapshots', '--db', db]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toBe(table(whole));
    expect(text.stdout).toContain('post\\x1b[31m');
    expect(text.stderr).toBe(`netmon: 4500 snapshots in ${db}\n`);
    // --last across a page boundary, and a selection with nothing in it.
    const last = runCli(['snapshots', '--db', db, '--last', '2100']);
    expect(last.stdout).toBe(table(whole.slice(-2100)));
    expect(last.stderr).toBe(`netmon: 2100 of 4500 snapshots in ${db} selected\n`);
    expect(runCli(['snapshots', '--db', db, '--last', '2100', '-o', 'json']).stdout).toBe(`${JSON.stringify({ store: db, snapshots: whole.slice(-2100) }, null, 2)}\n`);
    const none = runCli(['snapshots', '--db', db, '--label', 'nothing']);
    expect(none.stdout).toBe(table([]));
    expect(runCli(['snapshots', '--db', db, '--label', 'nothing', '-o', 'json']).stdout).toBe(`${JSON.stringify({ store: db, snapshots: [] }, null, 2)}\n`);

    // A reader that takes the first line and goes (`netmon snapshots | head -1`): netmon ends
    // quietly with 0, without formatting the rest into a closed pipe.
    const child = spawn(process.execPath, [CLI, 'snapshots', '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    child.stdout.destroy();
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(first).toMatch(/^\s*ID\s+TAKEN AT/);
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });

  it('netmon snapshots gives coverage of the sockets a process can own: kernel-owned ones (TIME_WAIT) neither lower nor raise it', () => {
    const { db } = freshPath();
    const store = EvidenceStore.open(db);
    store.beginSession({ interval: null });
    const timeWait = (port: number) => makeSocket({ localPort: port, inode: 0, owners: [], unattributed: 'kernel-owned', state: 'TIME_WAIT', listening: false });
    // Every ownable socket attributed, among many TIME_WAIT ones; then one ownable of two denied.
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 80 }), timeWait(1), timeWait(2), timeWait(3)] }), { label: 'busy' });
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 80 }), makeSocket({ localPort: 81, inode: 81, owners: [], unattributed: 'permission-denied' }), timeWait(1)] }), { label: 'denied' });
    store.appendSnapshot(makeSnapshot({ sockets: [timeWait(1)] }), { label: 'idle' });
    store.close();
    const listed = runCli(['snapshots', '--db', db, '-o', 'json']);
    expect(listed.status, listed.stderr).toBe(0);
    const rows = (JSON.parse(listed.stdout) as { snapshots: SnapshotSummary[] }).snapshots;
    expect(rows.map((r) => [r.label, r.sockets, r.attributed, r.kernelOwned, r.coverage])).toEqual([
      ['busy', 4, 1, 3, 1],
      ['denied', 3, 1, 1, 0.5],
      ['idle', 1, 0, 1, 1],
    ]);
    const text = runCli(['snapshots', '--db', db]);
    expect(text.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/).at(-1))).toEqual(['100.0%', '50.0%', '100.0%']);
  });

  it('netmon gaps lists the gaps and clock steps in chain order, with durations and reasons in words; --from/--to select; JSON for scripts', () => {
    const { db } = freshPath();
    let clock = Date.parse('2026-11-01T00:00:00Z');
    const store = EvidenceStore.open(db, { now: () => new Date(clock) });
    store.beginSession({ interval: 10 });
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()], takenAt: new Date(clock) }));
    clock += 10_000;
    store.recordGap(new Date(clock), new Date(clock + 95_000), 'paused');
    clock += 100_000;
    store.recordClockStep(-3_600_400);
    store.recordGap(new Date('2026-11-02T00:00:00Z'), new Date('2026-11-02T02:00:30Z'), 'store-busy');
    store.close();
    const text = runCli(['gaps', '--db', db]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.trimEnd().split('\n')).toEqual([
      'FROM                       TO                         DURATION  WHAT',
      '2026-11-01T00:00:10+00:00  2026-11-01T00:01:45+00:00    1m 35s  paused: the capture did not run: the system was suspended, or the process was stopped or got no CPU',
      '2026-11-01T00:01:50+00:00                                       clock set back by about 1h 0m (not a gap: snapshot times after it are shifted)',
      '2026-11-02T00:00:00+00:00  2026-11-02T02:00:30+00:00     2h 0m  store-busy: captures could not be stored: another process (a prune, or a long reader of a store on a shared file system) kept the evidence store locked for longer than netmon waits',
    ]);
    expect(text.stderr).toBe(`netmon: 2 gaps in monitoring recorded in ${db}, 2h 2m without evidence in all; 1 clock step\n`);
    const json = runCli(['gaps', '--db', db, '--from', '2026-11-01T12:00:00Z', '-o', 'json']);
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      store: db,
      gaps: [{ seq: expect.any(Number), from: '2026-11-02T00:00:00.000Z', to: '2026-11-02T02:00:30.000Z', seconds: 7230, reason: 'store-busy', description: expect.stringContaining('locked') }],
      clockSteps: [],
      retention: null,
    });
    const none = runCli(['gaps', '--db', db, '--to', '2026-11-01T00:00:05Z']);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe(`netmon: no gap in monitoring recorded in the selected time in ${db} (1 snapshot)\n`);
    expect(runCli(['gaps', '--db', join(db, '..', 'missing.db')]).status).toBe(3);
    // verify-store points to them.
    const verified = runCli(['verify-store', '--db', db]);
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stderr).toBe(`netmon: note: the store records 2 gaps in monitoring: netmon gaps --db ${db} lists them\n`);
    expect(JSON.parse(runCli(['verify-store', '--db', db, '-o', 'json']).stdout)).toMatchObject({ ok: true, gaps: 2 });
  });

  it('an unknown snapshot id is refused with a hint that names the ids the store has', () => {
    const { db } = freshPath();
    const hintFor = (store: EvidenceStore): string => {
      try {
        store.loadSnapshot(999);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect((e as Error).message).toBe(`no snapshot 999 in ${db}`);
        return (e as ConfigError).hint ?? '';
      }
      throw new Error('loadSnapshot(999) did not throw');
    };
    const store = EvidenceStore.open(db);
    try {
      store.beginSession({ interval: null });
      expect(hintFor(store)).toMatch(/^it holds no snapshot yet; /);
      const ticks = changingSequence();
      appendAll(store, ticks.slice(0, 1));
      const [only] = store.listSnapshots();
      expect(hintFor(store)).toMatch(new RegExp(`^its only snapshot has id ${only!.id} \\(`));
      appendAll(store, ticks.slice(1, 2));
      const ids = store.listSnapshots().map((s) => s.id);
      expect(hintFor(store)).toMatch(new RegExp(`^its 2 snapshots have ids from ${ids[0]} to ${ids[1]} \\(not consecutive`));
    } finally {
      store.close();
    }
  });

  it('a second writer object in the same process is refused while the first session is open', () => {
    const { db } = freshPath();
    const a = EvidenceStore.open(db);
    a.beginSession({ interval: null });
    a.appendSnapshot(changingSequence()[0]!.snapshot);
    const b = EvidenceStore.open(db);
    try {
      expect(() => b.beginSession({ interval: null })).toThrow(`in use by pid ${process.pid}`);
      expect(b.gaps()).toEqual([]);
    } finally {
      b.close();
      a.close();
    }
  });

  it('a lock whose live pid is now another process (the writer died, its pid was reused) is stale: taken over, recorded as a gap', async () => {
    const { dir, db, csv } = freshPath();
    const first = runCli(['--once', '--no-hash-binaries', '--db', db, '--csv', csv], { cwd: dir });
    expect(first.status, first.stderr).toBe(0);
    // The capture recorded who held the lock: boot id and start time of its process.
    const recorded = JSON.parse(withRaw(db, (raw) => String(raw.prepare("SELECT value FROM meta WHERE key = 'writer_identity'").pluck().get()))) as { identity: string };
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    expect(recorded.identity).toMatch(new RegExp(`^${bootId}/\\d+$`));
    // A real process, alive, standing in for whatever got the dead writer's pid.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => other.once('spawn', resolve));
      const startTicks = readFileSync(`/proc/${other.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19];
      // A lock as a writer of that pid takes it: a session record naming its pid and host at the
      // head of the chain, the writer row, and the identity it recorded.
      const lock = (identity: string, host = hostname()): void =>
        withRaw(db, (raw) => {
          const head = raw.prepare('SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string };
          const session = head.seq + 1;
          const at = new Date().toISOString();
          const body = JSON.stringify({ interval: null, pid: other.pid, host, tool: 'netmon' });
          raw.prepare('INSERT INTO records (seq, kind, at, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)').run(session, 'session', at, body, head.hash, recordHash(head.hash, session, 'session', at, body));
          raw.prepare('INSERT OR REPLACE INTO writer (id, pid, host, since, session) VALUES (1, ?, ?, ?, ?)').run(other.pid, host, at, session);
          raw.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('writer_identity', ?)").run(JSON.stringify({ session, pid: other.pid, identity }));
        });
      // The writer recorded another identity (an earlier boot): that pid is not the writer.
      lock(`00000000-0000-0000-0000-000000000000/${startTicks}`);
      const next = runCli(['--once', '--no-hash-binaries', '--db', db, '--csv', csv], { cwd: dir });
      expect(next.status, next.stderr).toBe(0);
      expect(next.stderr).toMatch(/recorded a gap in monitoring from .* \(the previous capture stopped without closing the store\)/);
      // The identity of the live process itself: it is the writer, and the store stays busy.
      lock(`${bootId}/${startTicks}`);
      // (--lock-wait 0: that writer recorded a one-shot capture, which --once would wait a minute for.)
      const busy = runCli(['--once', '--no-hash-binaries', '--lock-wait', '0', '--db', db, '--csv', csv], { cwd: dir });
      expect(busy.status, busy.stderr).toBe(3);
      expect(busy.stderr).toContain(`in use by pid ${other.pid}`);
      // Taken in this boot under another host name (the host was renamed since): still this
      // machine's lock, and the store stays busy; with another boot's id it is another machine's.
      const renamed = (identity: string): void => lock(identity, 'renamed-host');
      renamed(`${bootId}/${startTicks}`);
      const stillBusy = runCli(['--once', '--no-hash-binaries', '--lock-wait', '0', '--db', db, '--csv', csv], { cwd: dir });
      expect(stillBusy.status, stillBusy.stderr).toBe(3);
      expect(stillBusy.stderr).toContain(`in use by pid ${other.pid}`);
      lock(`${bootId}/${startTicks}`);
      // No record (a lock taken by an older netmon): a live pid keeps the store busy, as before.
      withRaw(db, (raw) => raw.prepare("DELETE FROM meta WHERE key = 'writer_identity'").run());
      expect(runCli(['--once', '--no-hash-binaries', '--lock-wait', '0', '--db', db, '--csv', csv], { cwd: dir }).status).toBe(3);
      expect(runCli(['verify-store', '--db', db], { cwd: dir }).status).toBe(0);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('captures started together on a new store: one creates it, the others find it made and none fails on its schema', async () => {
    const { dir, db } = freshPath();
    // A netmon in the middle of creating the store: a WAL store still at schema 0 for everyone
    // else, whose write lock it holds. Captures that start now read schema 0 and wait for the lock.
    const reference = join(dir, 'reference.db');
    EvidenceStore.open(reference).close();
    const schema = withRaw(reference, (raw) => raw.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid").pluck().all() as unknown as string[]);
    writeFileSync(db, '', { mode: 0o640 });
    const creator = openRaw(db);
    creator.pragma('journal_mode = WAL');
    creator.exec('BEGIN IMMEDIATE');
    const runs = [1, 2, 3].map(() => {
      const child = spawn(process.execPath, [CLI, '--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      return new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // The creator finishes: the schema netmon makes, then its version, committed.
    for (const sql of schema) creator.exec(sql);
    creator.pragma(`user_version = ${STORE_SCHEMA_VERSION}`);
    creator.exec('COMMIT');
    creator.close();
    const results = await Promise.all(runs);
    // Each one either captured, or found another capture holding the store (exit 3, "in use").
    for (const r of results) {
      if (r.code === 0) continue;
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/is in use by pid \d+/);
    }
    expect(results.some((r) => r.code === 0)).toBe(true);
    expect(withRaw(db, (raw) => raw.pragma('user_version', { simple: true }))).toBe(STORE_SCHEMA_VERSION);
    const verified = runCli(['verify-store', '--db', db], { cwd: dir });
    expect(verified.status, verified.stderr).toBe(0);
  });

  it('another one-shot capture holding the store is waited for: --once and --interval capture once it lets go; --lock-wait 0 fails at once', async () => {
    const { dir, db, csv } = freshPath();
    const start = (args: string[]) => {
      const child = spawn(process.execPath, [CLI, ...args, '--no-hash-binaries', '--filter', ':1', '--db', db, ...(args[0] === 'init' ? [] : ['--csv', csv])], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const waiting = new Promise<void>((resolve) => child.stderr!.on('data', () => stderr.includes('waiting for it to finish') && resolve()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, waiting, exited, stderr: () => stderr };
    };
    /** A one-shot writer of this process holds the store while `during` runs. */
    const holding = async (during: () => Promise<void>): Promise<void> => {
      const holder = EvidenceStore.open(db);
      try {
        holder.beginSession({ interval: null });
        holder.appendSnapshot(changingSequence()[0]!.snapshot);
        await during();
      } finally {
        holder.close();
      }
    };
    await holding(async () => {
      const impatient = runCli(['--once', '--lock-wait', '0', '--no-hash-binaries', '--db', db, '--csv', csv], { cwd: dir });
      expect(impatient.status, impatient.stderr).toBe(3);
      expect(impatient.stderr).toContain(`in use by pid ${process.pid}`);
      expect(impatient.stderr).toContain('a one-shot capture');
      expect(impatient.stderr).not.toContain('waiting');
    });
    // --once: waits, and captures once the holder lets go.
    let once: ReturnType<typeof start> | undefined;
    await holding(async () => {
      once = start(['--once']);
      await once.waiting;
      expect(once.stderr()).toContain(`netmon: note: the evidence store ${db} is in use by pid ${process.pid} (since `);
      expect(once.stderr()).toContain('a one-shot capture; waiting for it to finish, up to 60 s');
    });
    expect(await once!.exited, once!.stderr()).toBe(0);
    expect(once!.stderr()).toMatch(/snapshot \d+ in /);
    // init: a capture too, so it waits as --once does (and --lock-wait 0 does not).
    await holding(async () => {
      const impatient = runCli(['init', '--lock-wait', '0', '--no-hash-binaries', '--filter', ':1', '--db', db], { cwd: dir });
      expect(impatient.status, impatient.stderr).toBe(3);
      expect(impatient.stderr).toContain(`in use by pid ${process.pid}`);
    });
    let init: ReturnType<typeof start> | undefined;
    await holding(async () => {
      init = start(['init']);
      await init.waiting;
    });
    expect(await init!.exited, init!.stderr()).toBe(0);
    expect(init!.stderr()).toMatch(/baseline of \d+ sockets? saved as snapshot \d+ in /);
    // --interval: the same, then captures until SIGTERM.
    let loop: ReturnType<typeof start> | undefined;
    await holding(async () => {
      loop = start(['--interval', '0.2']);
      await loop.waiting;
    });
    const count = () => (JSON.parse(runCli(['snapshots', '--db', db, '--output', 'json'], { cwd: dir }).stdout) as { snapshots: unknown[] }).snapshots.length;
    const stored = count();
    const until = Date.now() + 20_000;
    while (count() <= stored && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    loop!.child.kill('SIGTERM');
    expect(await loop!.exited, loop!.stderr()).toBe(0);
    expect(loop!.stderr()).toMatch(/stopped after [1-9]\d* captures?/);
    expect(runCli(['verify-store', '--db', db], { cwd: dir }).status).toBe(0);
  });

  it('a second writer process is refused with "in use by pid <ours>" (exit 3) while readers keep working', () => {
    const { dir, db, csv } = freshPath();
    const ticks = changingSequence();
    const writer = EvidenceStore.open(db);
    try {
      writer.beginSession({ interval: null });
      appendAll(writer, ticks.slice(0, 3));
      const recordsBefore = count(db, 'SELECT COUNT(*) FROM records');

      // (--lock-wait 0: a one-shot writer like this one would be waited for, up to a minute.)
      const second = runCli(['--once', '--lock-wait', '0', '--db', db, '--csv', csv], { cwd: dir });
      expect(second.status, second.stderr).toBe(3);
      expect(second.stderr).toContain(`in use by pid ${process.pid}`);
      expect(second.stderr).toContain(db);
      expect(count(db, 'SELECT COUNT(*) FROM records')).toBe(recordsBefore); // it wrote nothing
      expect(existsSync(csv)).toBe(false);

      // Readers while the writer session is open: in-process...
      const reader = EvidenceStore.open(db, { readonly: true });
      const list = reader.listSnapshots();
      expect(list.map((s) => s.label)).toEqual(['pre', null, null]);
      expect(reader.loadSnapshot(list[2]!.id)).toStrictEqual(expected(ticks[2]!));
      reader.close();
      // ...and the CLI
      const listed = runCli(['snapshots', '--db', db, '--output', 'json'], { cwd: dir });
      expect(listed.status, listed.stderr).toBe(0);
      const parsed = JSON.parse(listed.stdout) as { snapshots: { id: number }[] };
      expect(parsed.snapshots.map((s) => s.id)).toEqual(list.map((s) => s.id));
      const text = runCli(['snapshots', '--db', db], { cwd: dir });
      expect(text.status).toBe(0);
      expect(text.stdout).toContain('testhost');
      const shown = runCli(['show', String(list[1]!.id), '--db', db, '--output', 'json'], { cwd: dir });
      expect(shown.status, shown.stderr).toBe(0);
      expect((JSON.parse(shown.stdout) as Snapshot).sockets).toStrictEqual(ticks[1]!.snapshot.sockets);
      // show takes what diff takes: first, latest, a label, a time
      const byRef = (ref: string) => runCli(['show', ref, '--db', db, '--output', 'json'], { cwd: dir });
      expect((JSON.parse(byRef('latest').stdout) as Snapshot).sockets).toStrictEqual(ticks[2]!.snapshot.sockets);
      expect((JSON.parse(byRef('pre').stdout) as Snapshot).sockets).toStrictEqual(ticks[0]!.snapshot.sockets);
      expect((JSON.parse(byRef(ticks[1]!.snapshot.takenAt).stdout) as Snapshot).takenAt).toBe(ticks[1]!.snapshot.takenAt);
      // A time without an offset is local time: the wall time of a snapshot in UTC, and the same
      // moment's wall time in Kathmandu (5:45 ahead), each in its own zone, select it.
      const shownAt = (ref: string, tz: string) => (JSON.parse(runCli(['show', ref, '--db', db, '--output', 'json'], { cwd: dir, env: { ...process.env, TZ: tz } }).stdout) as Snapshot).takenAt;
      const t1 = new Date(ticks[1]!.snapshot.takenAt);
      const wall = (offsetMinutes: number) => new Date(t1.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 23); // no offset
      expect(shownAt(wall(0), 'UTC')).toBe(ticks[1]!.snapshot.takenAt);
      expect(shownAt(wall(345), 'Asia/Kathmandu')).toBe(ticks[1]!.snapshot.takenAt);
      expect(runCli(['show', wall(0), '--db', db], { cwd: dir, env: { ...process.env, TZ: 'Asia/Kathmandu' } }).status).not.toBe(0);
      const badTime = byRef('2026-02-30T10:00');
      expect(badTime.status).toBe(2);
      expect(badTime.stderr).toContain('snapshot "2026-02-30T10:00" has the form of a time but names no such moment');
      const unknown = byRef('no-such-label');
      expect(unknown.status).toBe(2);
      expect(unknown.stderr).toContain('no snapshot labelled "no-such-label"');
      const missing = runCli(['show', '1', '--db', db], { cwd: dir });
      expect(missing.status).toBe(2); // an id the store does not have is a usage error, as a label it does not have
      expect(missing.stderr).toContain(`ids from ${list[0]!.id} to ${list[2]!.id}`);

      // The writer goes on after the readers
      appendAll(writer, ticks.slice(3, 4));
    } finally {
      writer.close();
    }
    // Once the writer closed cleanly, another writer gets in without a gap.
    const after = runCli(['--once', '--db', db, '--csv', csv], { cwd: dir });
    expect(after.status, after.stderr).toBe(0);
    expect(after.stderr).not.toContain('gap');
    const reader = EvidenceStore.open(db, { readonly: true });
    expect(reader.listSnapshots()).toHaveLength(5);
    expect(reader.gaps()).toEqual([]);
    expect(reader.verify().ok).toBe(true);
    reader.close();
  });

  it('records an unclean-stop gap after a writer killed with SIGKILL, and the next --once says so', async () => {
    const { dir, db, csv } = freshPath();
    const child = spawn(process.execPath, [CLI, '--interval', '1', '--db', db, '--csv', csv], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const deadline = Date.now() + 30_000;
      let snapshots: { id: number; takenAt: string }[] = [];
      while (snapshots.length < 2) {
        if (child.exitCode !== null) throw new Error(`netmon --interval exited ${child.exitCode}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`netmon --interval did not store 2 snapshots in 30 s: ${stderr}`);
        await sleep(200);
        const r = runCli(['snapshots', '--db', db, '--output', 'json'], { cwd: dir });
        if (r.status === 0) snapshots = (JSON.parse(r.stdout) as { snapshots: { id: number; takenAt: string }[] }).snapshots;
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(child.signalCode).toBe('SIGKILL');
    // The killed writer left its lock behind
    expect(withRaw(db, (raw) => raw.prepare('SELECT pid FROM writer').pluck().all())).toEqual([child.pid]);
    const before = EvidenceStore.open(db, { readonly: true });
    const last = before.listSnapshots().at(-1)!;
    expect(before.gaps()).toEqual([]);
    before.close();

    const once = runCli(['--once', '--db', db, '--csv', csv], { cwd: dir });
    expect(once.status, once.stderr).toBe(0);
    expect(once.stderr).toContain(`recorded a gap in monitoring from ${isoWithOffset(new Date(last.takenAt))}`);
    expect(once.stderr).toContain('stopped without closing the store');

    const store = EvidenceStore.open(db, { readonly: true });
    const gaps = store.gaps();
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ reason: 'unclean-stop', from: last.takenAt });
    expect(Date.parse(gaps[0]!.to)).toBeGreaterThanOrEqual(Date.parse(last.takenAt));
    // The gap record comes right before the new session's record, after the killed session's snapshots
    const kinds = withRaw(db, (raw) => raw.prepare('SELECT kind FROM records WHERE seq >= ? ORDER BY seq').pluck().all(last.id));
    expect(kinds).toEqual(['snapshot', 'gap', 'session', 'snapshot']);
    expect(gaps[0]!.seq).toBe(last.id + 1);
    expect(store.verify().ok).toBe(true);
    store.close();
    expect(count(db, 'SELECT COUNT(*) FROM writer')).toBe(0);
  });

  it('hashCache(): set then get returns the hashes, another identity misses, and entries kept by the next snapshot survive close and reopen', () => {
    const { db } = freshPath();
    const identity: ExecutableIdentity = { device: 2049n, inode: 1234567n, size: 4096n, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: 1_700_000_000_123_456_790n };
    const hashes = { blake3: 'c'.repeat(64), sha256: 'd'.repeat(64), size: 4096 };
    const store = EvidenceStore.open(db);
    const cache = store.hashCache();
    expect(cache.get(identity)).toBeUndefined();
    cache.set(identity, hashes);
    expect(cache.get(identity)).toEqual(hashes);
    for (const other of [
      { ...identity, mtimeNs: identity.mtimeNs + 1n },
      { ...identity, ctimeNs: identity.ctimeNs + 1n },
      { ...identity, inode: identity.inode + 1n },
      { ...identity, device: 2050n },
      { ...identity, size: 4097n },
    ]) {
      expect(cache.get(other)).toBeUndefined();
    }
    // Kept by the snapshot record appended next, which lists them.
    store.beginSession({ interval: null });
    const { id } = store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()] }));
    store.close();
    const body = JSON.parse(withRaw(db, (raw) => String(raw.prepare('SELECT body FROM records WHERE seq = ?').pluck().get(id)))) as { hashed: unknown };
    expect(body.hashed).toEqual([['2049:1234567:4096:1700000000123456789:1700000000123456790', 'c'.repeat(64), 'd'.repeat(64), 4096]]);

    const reopened = EvidenceStore.open(db, { readonly: true });
    expect(reopened.hashCache().get(identity)).toEqual(hashes);
    expect(reopened.hashCache().get({ ...identity, inode: 1n })).toBeUndefined();
    reopened.close();
    expect(readFileSync(db).length).toBeGreaterThan(0);
  });

  it('hashCache(): a cache row its snapshot record does not commit is not believed (a trojan given a trusted binary\'s hashes is hashed again)', () => {
    const { dir, db } = freshPath();
    const trusted: ExecutableIdentity = { device: 2049n, inode: 100n, size: 4096n, mtimeNs: 1n, ctimeNs: 2n };
    const trojan: ExecutableIdentity = { device: 2049n, inode: 200n, size: 4096n, mtimeNs: 3n, ctimeNs: 4n };
    const real = { blake3: 'a'.repeat(64), sha256: 'b'.repeat(64), size: 4096 };
    const store = EvidenceStore.open(db);
    store.hashCache().set(trusted, real);
    store.beginSession({ interval: null });
    const { id } = store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()] }));
    store.close();
    const believed = (file: string, identity: ExecutableIdentity) => {
      const reader = EvidenceStore.open(file, { readonly: true });
      try {
        return reader.hashCache().get(identity);
      } finally {
        reader.close();
      }
    };
    const variant = (name: string, sql: string, ...params: unknown[]): string => {
      const file = join(dir, `${name}.db`);
      copyFileSync(db, file);
      withRaw(file, (raw) => raw.prepare(sql).run(...params));
      return file;
    };
    const trojanKey = '2049:200:4096:3:4';
    // The trojan's identity with the trusted binary's hashes, naming the record that holds the real ones.
    expect(believed(variant('planted', 'INSERT INTO hash_cache (identity, blake3, sha256, size, seen, seq) VALUES (?, ?, ?, ?, ?, ?)', trojanKey, real.blake3, real.sha256, 4096, 'x', id), trojan)).toBeUndefined();
    // A row that names no record (as rows of stores before schema 7 do).
    expect(believed(variant('unnamed', 'INSERT INTO hash_cache (identity, blake3, sha256, size, seen, seq) VALUES (?, ?, ?, ?, ?, NULL)', trojanKey, real.blake3, real.sha256, 4096, 'x'), trojan)).toBeUndefined();
    // The trusted row's hashes changed.
    expect(believed(variant('changed', 'UPDATE hash_cache SET sha256 = ?', 'e'.repeat(64)), trusted)).toBeUndefined();
    // The record's list edited to hold the trojan too: the record no longer matches its hash.
    const edited = variant('edited', "UPDATE records SET body = replace(body, '\"hashed\":[', ?) WHERE seq = ?", `"hashed":[["${trojanKey}","${real.blake3}","${real.sha256}",4096],`, id);
    withRaw(edited, (raw) => raw.prepare('INSERT INTO hash_cache (identity, blake3, sha256, size, seen, seq) VALUES (?, ?, ?, ?, ?, ?)').run(trojanKey, real.blake3, real.sha256, 4096, 'x', id));
    expect(believed(edited, trojan)).toBeUndefined();
    // The untouched store still vouches for the trusted binary.
    expect(believed(db, trusted)).toEqual(real);
  });

});

describe('an older store that an older netmon is writing now (from an upgrade probe)', () => {
  /** Take the writer lock of `db` as a netmon of its schema would: a session record in the chain, naming this process. */
  function holdAsOlderWriter(db: string): number {
    return withRaw(db, (raw) => {
      const last = raw.prepare('SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string };
      const seq = last.seq + 1;
      const when = new Date().toISOString();
      const body = JSON.stringify({ interval: 10, pid: process.pid, host: hostname() });
      raw.prepare('INSERT INTO records (seq, kind, at, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)').run(seq, 'session', when, body, last.hash, recordHash(last.hash, seq, 'session', when, body));
      raw.prepare('INSERT INTO writer (id, pid, host, since, session) VALUES (1, ?, ?, ?, ?)').run(process.pid, hostname(), when, seq);
      return seq;
    });
  }

  it('is not migrated by a newer writer that is refused (the older one could no longer open it at its next start); once that one stopped, it is', () => {
    const { dir } = freshPath();
    const db = join(dir, 'old.db');
    copyFileSync(FIXTURE(6), db);
    holdAsOlderWriter(db);
    const schema = () => withRaw(db, (raw) => Number(raw.pragma('user_version', { simple: true })));
    for (const args of [['--once', '--no-csv', '--no-hash-binaries', '--filter', ':1', '--lock-wait', '0'], ['prune', '--older-than', '400d']]) {
      const refused = runCli([...args, '--db', db], { cwd: dir });
      expect(refused.status, refused.stderr).toBe(3);
      expect(refused.stderr).toContain(`the evidence store ${db} is in use by pid ${process.pid}`);
      expect(refused.stderr).toContain(`a netmon that writes store schema 6; it was not migrated to schema ${STORE_SCHEMA_VERSION}, so that netmon can still open it`);
      expect(schema()).toBe(6);
    }
    // That netmon stopped (its lock released): the next capture migrates the store.
    withRaw(db, (raw) => raw.prepare('DELETE FROM writer WHERE id = 1').run());
    const next = runCli(['--once', '--no-csv', '--no-hash-binaries', '--filter', ':1', '--db', db], { cwd: dir });
    expect(next.status, next.stderr).toBe(0);
    expect(schema()).toBe(STORE_SCHEMA_VERSION);
    expect(runCli(['verify-store', '--db', db], { cwd: dir }).status).toBe(0);
  });
});
