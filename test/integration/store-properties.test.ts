/**
 * Properties of the evidence store over random histories (fast-check), on real SQLite files:
 * sockets open, close and change owners; checkpoints come at random intervals; captures stop and
 * start again (sessions); prunes remove the older part in steps of random size.
 *
 * - Every snapshot the store keeps loads exactly as it was appended, from a fresh connection,
 *   and the chain verifies.
 * - Any one row of the evidence tables (records, the snapshots index, items, events, checkpoint
 *   rows) changed, removed or added behind netmon's back makes verification fail.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Snapshot, SocketRecord } from '../../src/model/types.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import type { Database } from '../../src/store/sqlite.js';
import { at, manyProcesses, manySockets, scratchDirs, snapshotOf, withRaw } from '../helpers/store-fixtures.js';

const dirs = scratchDirs('netmon-store-properties-');
afterAll(() => dirs.cleanup());

const POOL = 10;
const PROCESSES = manyProcesses(3);
const SOCKETS = manySockets(POOL, PROCESSES.length);

/** One step of a history. */
type Step =
  | { kind: 'tick'; present: number; handoff: number; label: string | null }
  | { kind: 'session' }
  | { kind: 'prune'; remove: number; stepRows: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('tick' as const), present: fc.integer({ min: 0, max: (1 << POOL) - 1 }), handoff: fc.integer({ min: -1, max: POOL - 1 }), label: fc.constantFrom(null, 'pre', 'post') }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'session' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('prune' as const), remove: fc.nat({ max: 1000 }), stepRows: fc.integer({ min: 1, max: 25 }) }) },
);

const historyArb = fc.record({
  checkpointEvery: fc.integer({ min: 1, max: 4 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 20 }),
});

/** The sockets of a tick: those whose bit is set; socket `handoff` (when present) owned by another process. */
function socketsOf(present: number, handoff: number): SocketRecord[] {
  const sockets: SocketRecord[] = [];
  for (let k = 0; k < POOL; k++) {
    if ((present & (1 << k)) === 0) continue;
    const s = SOCKETS[k]!;
    sockets.push(k === handoff ? { ...s, owners: [{ pid: 100 + ((s.owners[0]!.pid - 100 + 1) % PROCESSES.length), fd: 99 }] } : s);
  }
  return sockets;
}

type Kept = Snapshot & { label: string | null; change: string | null };

/**
 * Play a history into a new store file. Returns the file and what it must hold: the snapshots
 * appended and not pruned, oldest first.
 */
function play(history: { checkpointEvery: number; steps: Step[] }): { file: string; kept: Kept[] } {
  const file = join(dirs.make(), 'history.db');
  let kept: Kept[] = [];
  let tick = 0;
  let store = EvidenceStore.open(file, { checkpointEvery: history.checkpointEvery });
  try {
    for (const step of history.steps) {
      if (step.kind === 'session') {
        store.close();
        store = EvidenceStore.open(file, { checkpointEvery: history.checkpointEvery });
      } else if (step.kind === 'tick') {
        const snapshot = snapshotOf({ sockets: socketsOf(step.present, step.handoff), processes: PROCESSES, takenAt: at(60 * tick++) });
        store.appendSnapshot(snapshot, { label: step.label, change: step.label === null ? null : 'CHG-1' });
        kept.push({ ...snapshot, label: step.label, change: step.label === null ? null : 'CHG-1' });
      } else if (kept.length > 1) {
        // Remove the oldest part, at least one snapshot; the newest is always kept.
        const first = 1 + (step.remove % (kept.length - 1));
        store.prune(new Date(kept[first]!.takenAt), { stepRows: step.stepRows });
        kept = kept.slice(first);
      }
    }
  } finally {
    store.close();
  }
  return { file, kept };
}

describe('evidence store over random histories', () => {
  it('keeps every snapshot it was not told to prune, exactly as appended, and verifies', () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        const { file, kept } = play(history);
        const reader = EvidenceStore.open(file, { readonly: true });
        try {
          const verified = reader.verify();
          expect(verified.problem).toBeUndefined();
          expect(verified.ok).toBe(true);
          const ids = reader.listSnapshots().map((s) => s.id);
          expect(ids).toHaveLength(kept.length);
          ids.forEach((id, k) => expect(reader.loadSnapshot(id)).toStrictEqual(kept[k]));
        } finally {
          reader.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  /** One edit of one row of an evidence table, made with SQL behind netmon's back. */
  const edits: Record<string, (db: Database, pick: number) => boolean> = {
    'a record body changed': (db, pick) => changeOne(db, 'SELECT seq FROM records', pick, "UPDATE records SET body = body || ' ' WHERE seq = ?"),
    'a record time changed': (db, pick) => changeOne(db, 'SELECT seq FROM records', pick, "UPDATE records SET at = '2000-01-01T00:00:00.000Z' WHERE seq = ?"),
    'a record removed': (db, pick) => changeOne(db, 'SELECT seq FROM records', pick, 'DELETE FROM records WHERE seq = ?'),
    'a snapshots index row changed': (db, pick) => changeOne(db, 'SELECT id FROM snapshots', pick, 'UPDATE snapshots SET sockets = sockets + 1 WHERE id = ?'),
    'a snapshots index row removed': (db, pick) => changeOne(db, 'SELECT id FROM snapshots', pick, 'DELETE FROM snapshots WHERE id = ?'),
    'an item body changed': (db, pick) => changeOne(db, 'SELECT id FROM items', pick, "UPDATE items SET body = body || ' ' WHERE id = ?"),
    'an item digest changed': (db, pick) => changeOne(db, 'SELECT id FROM items', pick, "UPDATE items SET digest = 'f' || substr(digest, 2) WHERE id = ? AND substr(digest, 1, 1) <> 'f'"),
    'an events row removed': (db, pick) => changeOne(db, 'SELECT rowid FROM (SELECT ROW_NUMBER() OVER () AS rowid FROM events)', pick, 'DELETE FROM events WHERE (snapshot_id, item_id) = (SELECT snapshot_id, item_id FROM events ORDER BY snapshot_id, item_id LIMIT 1 OFFSET ? - 1)'),
    'an events row turned around': (db, pick) => changeOne(db, 'SELECT rowid FROM (SELECT ROW_NUMBER() OVER () AS rowid FROM events)', pick, 'UPDATE events SET op = -op WHERE (snapshot_id, item_id) = (SELECT snapshot_id, item_id FROM events ORDER BY snapshot_id, item_id LIMIT 1 OFFSET ? - 1)'),
    'a checkpoint row removed': (db, pick) => changeOne(db, 'SELECT rowid FROM (SELECT ROW_NUMBER() OVER () AS rowid FROM checkpoint_items)', pick, 'DELETE FROM checkpoint_items WHERE (snapshot_id, item_id) = (SELECT snapshot_id, item_id FROM checkpoint_items ORDER BY snapshot_id, item_id LIMIT 1 OFFSET ? - 1)'),
    'an events row added to a snapshot': (db, pick) => {
      // An item of the store entering a snapshot whose set does not hold it, or leaving one that does.
      const snapshots = db.prepare('SELECT id FROM snapshots ORDER BY id').pluck().all() as unknown as number[];
      const items = db.prepare('SELECT id FROM items ORDER BY id').pluck().all() as unknown as number[];
      if (snapshots.length === 0 || items.length === 0) return false;
      const snapshot = snapshots[pick % snapshots.length]!;
      const item = items[Math.floor(pick / snapshots.length) % items.length]!;
      if (db.prepare('SELECT 1 FROM events WHERE snapshot_id = ? AND item_id = ?').get(snapshot, item) !== undefined) return false;
      db.prepare('INSERT INTO events (snapshot_id, item_id, op) VALUES (?, ?, ?)').run(snapshot, item, pick % 2 === 0 ? 1 : -1);
      return true;
    },
  };

  /** Apply `sql` to the `pick`-th row (mod their number) that `rows` lists; false when there is none to change. */
  function changeOne(db: Database, rows: string, pick: number, sql: string): boolean {
    const keys = db.prepare(rows).pluck().all() as unknown as number[];
    if (keys.length === 0) return false;
    return db.prepare(sql).run(keys[pick % keys.length]!).changes === 1;
  }

  it('fails verification after any one row of an evidence table is changed, removed or added', () => {
    fc.assert(
      fc.property(historyArb, fc.constantFrom(...Object.keys(edits)), fc.nat(), (history, edit, pick) => {
        const { file } = play(history);
        const changed = withRaw(file, (db) => edits[edit]!(db, pick));
        fc.pre(changed);
        const reader = EvidenceStore.open(file, { readonly: true });
        try {
          const verified = reader.verify();
          expect(verified.ok, `${edit}: ${JSON.stringify(verified)}`).toBe(false);
          expect(verified.problem?.message).toBeTruthy();
        } finally {
          reader.close();
        }
      }),
      { numRuns: 200 },
    );
  });
});
