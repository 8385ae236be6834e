import { resolve } from 'node:path';
import type { ProcessRecord, Snapshot, SocketRecord } from '../model/types.js';
import { csvRows, type CsvCleanEnd, type CsvContext } from '../store/csv-trail.js';
import type { EvidenceStore } from '../store/evidence-store.js';
import type { SnapshotWalk } from '../store/snapshot-walk.js';
import { socketBody } from '../store/socket-body.js';

/**
 * The CSV rows of a snapshot, made from the store the way the capture that stored it made them:
 * shared by the completion of an unfinished trail and by `verify-trail`.
 */

/** Which rows a capture wrote for its snapshot: the whole inventory, or its changes against the snapshot before it. */
export type TrailRows = 'inventory' | 'changes';

/**
 * The mark a capture commits with its snapshot, in the store's meta table, before it writes the
 * snapshot's CSV rows: which snapshot, and whether its rows are the inventory or the changes.
 */
export interface CsvMark {
  snapshotId: number;
  rows: TrailRows;
}

/** The prefixes of the store's meta keys for a trail, each followed by the trail's absolute path. */
export const CLEAN_END_KEY = 'csv_clean_end:';
export const MARK_KEY = 'csv_mark:';
/** A capture loop could not write the trail since a snapshot (TrailOutage), until one writes it again. */
export const DOWN_KEY = 'csv_down:';
/** The outages of the trail that ended (TrailOutage[], the last OUTAGES_KEPT). */
export const OUTAGES_KEY = 'csv_outages:';

/** The store's meta keys for a CSV trail: where netmon last left it complete, the last mark, and its outages. */
export function csvKeys(csv: string): { cleanEnd: string; mark: string; down: string; outages: string } {
  const path = resolve(csv);
  return { cleanEnd: `${CLEAN_END_KEY}${path}`, mark: `${MARK_KEY}${path}`, down: `${DOWN_KEY}${path}`, outages: `${OUTAGES_KEY}${path}` };
}

/**
 * Snapshots whose rows a capture loop could not write to the trail (no permission, no space): from
 * `from` (to `to`, once it could again, when it wrote the full inventory), and why. They are in the
 * store only; the store keeps the record so that a restarted loop and verify-trail can say so.
 */
export interface TrailOutage {
  from: number;
  to?: number;
  reason: string;
}

/** The ended outages a store keeps per trail. */
export const OUTAGES_KEPT = 200;

/**
 * A JSON value netmon keeps in the store's meta table, or null when there is none or it is not
 * JSON: meta is bookkeeping outside the evidence chain, and a damaged entry only costs the
 * shortcut it stood for (a rescan of the trail, a completion not tried).
 */
export function metaJson<T>(text: string | null): T | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

/** A CSV mark as kept in meta, or null when the text is none. Pure. */
export function parseMark(text: string | null): CsvMark | null {
  const mark = metaJson<CsvMark>(text);
  return mark !== null && Number.isSafeInteger(mark.snapshotId) && (mark.rows === 'inventory' || mark.rows === 'changes') ? mark : null;
}

/** The mark when the clean end `known` has not confirmed it (its run stopped, or is writing, in between), else null. Pure. */
export function unconfirmedMark(mark: CsvMark | null, known: CsvCleanEnd | null): CsvMark | null {
  const confirmed = known?.snapshotId;
  return mark === null || (confirmed !== undefined && confirmed >= mark.snapshotId) ? null : mark;
}

/** The CSV mark (meta text) left by an earlier run whose rows were never confirmed (it stopped in between), or null. Pure. */
export function unfinishedMark(text: string | null, known: CsvCleanEnd | null): CsvMark | null {
  return unconfirmedMark(parseMark(text), known);
}

/**
 * Rows of a tick that follows another: sockets that opened, changed (the same inode on both sides:
 * new owner, state, ...) and closed (with their owner as the previous tick saw it). Pure.
 */
export function changeRows(snap: Pick<Snapshot, 'takenAt' | 'host'>, opened: SocketRecord[], closed: SocketRecord[], processes: ReadonlyMap<number, ProcessRecord>, previousProcesses: ReadonlyMap<number, ProcessRecord>, context: CsvContext): string[][] {
  const closedInodes = new Set(closed.filter((s) => s.inode !== 0).map((s) => s.inode));
  const changed = opened.filter((s) => s.inode !== 0 && closedInodes.has(s.inode));
  const changedInodes = new Set(changed.map((s) => s.inode));
  return [
    ...csvRows(snap, opened.filter((s) => !changedInodes.has(s.inode)), processes, 'opened', context),
    ...csvRows(snap, changed, processes, 'changed', context),
    ...csvRows(snap, closed.filter((s) => !changedInodes.has(s.inode)), previousProcesses, 'closed', context),
  ];
}

/**
 * The rows a capture wrote for stored snapshot `id`: its inventory, or its changes against the
 * snapshot the store holds before it. Null for changes when the store no longer holds that one
 * (a prune removed it). Loads are checked as every reader's are (a changed store throws).
 */
export function storedSnapshotRows(store: EvidenceStore, id: number, rows: TrailRows): string[][] | null {
  const { label, change, ...snap } = store.loadSnapshot(id);
  const context = { snapshotId: id, label, change };
  const processes = new Map<number, ProcessRecord>(snap.processes.map((p) => [p.pid, p]));
  if (rows === 'inventory') return csvRows(snap, snap.sockets, processes, 'present', context);
  const [before] = store.listSnapshots({ idBelow: id, newestFirst: true, limit: 1 });
  if (before === undefined) return null;
  // The same comparison as the store's: a socket is its stored body.
  const previous = store.loadSnapshot(before.id);
  const hadBodies = previous.sockets.map(socketBody);
  const hasBodies = snap.sockets.map(socketBody);
  const had = new Set(hadBodies);
  const has = new Set(hasBodies);
  const opened = snap.sockets.filter((_, k) => !had.has(hasBodies[k]!));
  const closed = previous.sockets.filter((_, k) => !has.has(hadBodies[k]!));
  return changeRows(snap, opened, closed, processes, new Map(previous.processes.map((p) => [p.pid, p])), context);
}

/**
 * storedSnapshotRows() through a walk of the store (EvidenceStore.walk()): the same rows, at the
 * cost of the changes since the snapshot the walk reached last rather than of the whole set, twice.
 * For a reader that goes through many snapshots in order (verify-trail).
 */
export function walkedSnapshotRows(store: EvidenceStore, walk: SnapshotWalk, id: number, rows: TrailRows): string[][] | null {
  if (rows === 'inventory') {
    const snap = walk.snapshot(id);
    return csvRows(snap, snap.sockets(), snap.processes, 'present', { snapshotId: id, label: snap.label, change: snap.change });
  }
  const [before] = store.listSnapshots({ idBelow: id, newestFirst: true, limit: 1 });
  if (before === undefined) return null;
  const { snapshot: snap, opened, closed, previousProcesses } = walk.changes(before.id, id);
  return changeRows(snap, opened, closed, snap.processes, previousProcesses, { snapshotId: id, label: snap.label, change: snap.change });
}
