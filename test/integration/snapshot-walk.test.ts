import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedSnapshotRows, walkedSnapshotRows } from '../../src/capture/trail-rows.js';
import { VerificationError } from '../../src/errors.js';
import { compareSockets } from '../../src/snapshot/create-snapshot.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';
import { withRaw } from '../helpers/store-fixtures.js';

// A walk of a real store (SnapshotWalk, what verify-trail reads through) against loading each
// snapshot whole: the same CSV rows for every snapshot, in any order of visits, across
// checkpoints, a prune, items that leave and come back, and a pid taken by another process.

const dir = mkdtempSync(join(tmpdir(), 'netmon-walk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'churn.db');
const N = 45;

/** A small deterministic generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

beforeAll(() => {
  const next = random(20261124);
  const store = EvidenceStore.open(db, { checkpointEvery: 6 });
  store.beginSession({ interval: 60 });
  const listeners = Array.from({ length: 8 }, (_, k) => makeSocket({ localPort: 2000 + k, inode: 9000 + k, owners: [{ pid: 100 + (k % 3), fd: 3 + k }] }));
  const connection = (k: number) =>
    makeSocket({ localPort: 40000 + k, remoteAddress: '192.0.2.7', remotePort: 443, state: 'ESTABLISHED', listening: false, inode: 70000 + k, owners: [{ pid: 100 + (k % 4), fd: 20 + k }] });
  for (let i = 0; i < N; i++) {
    // Connections from a pool of 25: each present or not at random, so items leave and enter again.
    const picked = Array.from({ length: 25 }, (_, k) => k).filter(() => next() < 0.4);
    // A socket whose state changes under the same inode now and then (a "changed" row).
    const flipping = makeSocket({ localPort: 41000, remoteAddress: '192.0.2.9', remotePort: 22, state: i % 5 < 2 ? 'ESTABLISHED' : 'CLOSE_WAIT', listening: false, inode: 71000 });
    const sockets = [...listeners, ...picked.map(connection), flipping].sort(compareSockets);
    // pid 103 is a different process (another start time) every 7 snapshots.
    const processes = [100, 101, 102, 103].map((pid) =>
      makeProcess({ pid, name: `svc${pid}`, startTime: pid === 103 ? `2026-11-2${Math.floor(i / 7) % 10}T00:00:00.000Z` : '2026-11-23T00:00:00.000Z' }),
    );
    // Some snapshots are unchanged (no events at all).
    const unchanged = i > 0 && next() < 0.2;
    if (unchanged) {
      const last = store.loadSnapshot(store.listSnapshots({ newestFirst: true, limit: 1 })[0]!.id);
      store.appendSnapshot(makeSnapshot({ sockets: last.sockets, processes: last.processes, takenAt: new Date(Date.UTC(2026, 0, 1, 0, i)) }), { label: `t${i}` });
    } else {
      store.appendSnapshot(makeSnapshot({ sockets, processes, takenAt: new Date(Date.UTC(2026, 0, 1, 0, i)) }), { label: `t${i}`, change: i % 9 === 0 ? 'CHG-1' : null });
    }
  }
  store.close();
});

/** The rows of every snapshot in `order`, loaded whole and walked, compared. */
function compareAll(path: string, order: (ids: number[]) => number[]): number {
  const store = EvidenceStore.open(path, { readonly: true });
  try {
    return store.reading(() => {
      const ids = store.listSnapshots().map((s) => s.id);
      const walk = store.walk();
      let changes = 0;
      for (const id of order(ids)) {
        for (const form of ['changes', 'inventory'] as const) {
          const walked = walkedSnapshotRows(store, walk, id, form);
          const loaded = storedSnapshotRows(store, id, form);
          expect(walked, `snapshot ${id}, ${form}`).toEqual(loaded);
          if (form === 'changes' && loaded !== null && loaded.length > 0) changes++;
        }
      }
      return changes;
    });
  } finally {
    store.close();
  }
}

describe('SnapshotWalk', () => {
  it('makes every snapshot\'s rows as loading it whole does, forward through checkpoints', () => {
    const changed = compareAll(db, (ids) => ids);
    // The store holds what the comparison relies on: checkpoints, unchanged snapshots, changes.
    expect(withRaw(db, (raw) => Number(raw.prepare('SELECT COUNT(DISTINCT snapshot_id) FROM checkpoint_items').pluck().get()))).toBeGreaterThan(5);
    expect(changed).toBeGreaterThan(20);
    expect(changed).toBeLessThan(N - 1);
  });

  it('gives the same rows when it goes back, jumps ahead or skips', () => {
    const shuffle = random(7);
    compareAll(db, (ids) => [...ids].reverse());
    compareAll(db, (ids) => ids.filter((_, k) => k % 7 === 3));
    compareAll(db, (ids) => [...ids].sort(() => shuffle() - 0.5));
  });

  it('walks a pruned store from the first snapshot kept', () => {
    const pruned = join(dir, 'pruned.db');
    copyFileSync(db, pruned);
    const store = EvidenceStore.open(pruned);
    const result = store.prune(new Date(Date.UTC(2026, 0, 1, 0, 17, 30)));
    expect(result.removedSnapshots).toBe(18);
    store.close();
    compareAll(pruned, (ids) => ids);
  });

  it('refuses a set whose events were changed, and an item whose body was edited', () => {
    const eventGone = join(dir, 'event-gone.db');
    copyFileSync(db, eventGone);
    // An event of a snapshot between checkpoints removed: that snapshot's set and every later one until the next base differ.
    const victim = withRaw(eventGone, (raw) => {
      const row = raw.prepare('SELECT snapshot_id, item_id FROM events WHERE op = 1 ORDER BY snapshot_id LIMIT 1 OFFSET 10').get() as { snapshot_id: number; item_id: number };
      raw.prepare('DELETE FROM events WHERE snapshot_id = ? AND item_id = ?').run(row.snapshot_id, row.item_id);
      return row.snapshot_id;
    });
    const store = EvidenceStore.open(eventGone, { readonly: true });
    try {
      const walk = store.walk();
      const failure = (() => {
        try {
          store.reading(() => walk.snapshot(victim));
          return null;
        } catch (error) {
          return error;
        }
      })();
      expect(failure).toBeInstanceOf(VerificationError);
      expect((failure as VerificationError).code).toBe('E_STORE_SET_CHANGED');
      expect((failure as VerificationError).message).toContain(`snapshot ${victim}`);
      // The walk starts again from a base after a failure: a snapshot before the damage still reads.
      const before = store.listSnapshots({ idBelow: victim, newestFirst: true, limit: 1 })[0]!.id;
      expect(store.reading(() => walk.snapshot(before).sockets().length)).toBe(store.loadSnapshot(before).sockets.length);
    } finally {
      store.close();
    }

    const edited = join(dir, 'edited.db');
    copyFileSync(db, edited);
    const itemId = withRaw(edited, (raw) => {
      const row = raw.prepare("SELECT id, body FROM items WHERE kind = 'process' ORDER BY id LIMIT 1").get() as { id: number; body: string };
      raw.prepare('UPDATE items SET body = ? WHERE id = ?').run(row.body.replace('svc', 'evil'), row.id);
      return row.id;
    });
    const reader = EvidenceStore.open(edited, { readonly: true });
    try {
      const first = reader.listSnapshots()[0]!.id;
      expect(() => reader.reading(() => reader.walk().snapshot(first))).toThrow(new RegExp(`item ${itemId} \\(process\\) of snapshot ${first} .*no longer matches its digest`));
    } finally {
      reader.close();
    }
  });
});
