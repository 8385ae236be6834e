import { CSV_COLUMNS, readTrail, type CsvCleanEnd, type TrailRecord } from '../store/csv-trail.js';
import type { EvidenceStore } from '../store/evidence-store.js';
import { csvKeys, metaJson, storedSnapshotRows, unfinishedMark, type TrailRows } from './trail-rows.js';

/**
 * `netmon verify-trail`: the CSV trail read back and checked row by row against the evidence
 * store. The store is the evidence (hash-chained); the trail is the copy people open in a
 * spreadsheet. Each snapshot's rows are made again from the store, exactly as the capture made them
 * (the inventory, or the changes against the snapshot before), and must be in the trail as one
 * block: a row edited, added, removed or copied in is named with its line.
 *
 * Timestamps are compared as instants: a trail written in another time zone holds the same times
 * with another offset. Rows of snapshots a prune removed from the store cannot be checked and are
 * counted apart.
 */

/** What is wrong with a trail, at a line of it (null: the snapshot as a whole). */
export interface TrailProblem {
  kind: 'header' | 'malformed' | 'bad-row' | 'not-in-store' | 'repeated' | 'row-changed' | 'row-added' | 'rows-missing' | 'truncated';
  line: number | null;
  snapshotId: number | null;
  message: string;
}

export interface TrailVerification {
  ok: boolean;
  /** Data rows read (the header and a torn last line not counted). */
  rows: number;
  /** Snapshot blocks read, and of them those checked against the store. */
  snapshots: number;
  checked: number;
  /** Blocks of snapshots the store no longer holds (a prune removed them), and their rows. */
  pruned: { snapshots: number; rows: number };
  /** The first problems found (at most PROBLEMS_KEPT), and how many there are in all. */
  problems: TrailProblem[];
  problemCount: number;
  /** Notes that are not problems: a torn last line, a second header, rows still being written. */
  notes: string[];
  /** The bytes of the file that were read (it may have grown since). */
  size: number;
}

/** The most problems a verification lists one by one. */
export const PROBLEMS_KEPT = 100;

const TIME = CSV_COLUMNS.indexOf('timestamp');
const SNAPSHOT = CSV_COLUMNS.indexOf('snapshot_id');
const EVENT = CSV_COLUMNS.indexOf('event');
/** The cells that name a socket in a row: when a row of the trail and one of the store agree on these, one was edited into the other. */
const IDENTITY = (['event', 'proto', 'local_address', 'local_port', 'remote_address', 'remote_port'] as const).map((c) => CSV_COLUMNS.indexOf(c));

/** A row as compared: the timestamp as an instant (ms since the epoch), every other cell as it is. */
function rowKey(cells: readonly string[]): string {
  const at = Date.parse(cells[TIME]!);
  const parts = cells.slice();
  parts[TIME] = Number.isNaN(at) ? cells[TIME]! : String(at);
  return parts.join('\u0000');
}

function identityKey(cells: readonly string[]): string {
  return IDENTITY.map((i) => cells[i]).join('\u0000');
}

/** A socket as a row names it, for messages. */
function describeRow(cells: readonly string[]): string {
  const c = (name: (typeof CSV_COLUMNS)[number]): string => cells[CSV_COLUMNS.indexOf(name)] ?? '';
  const remote = c('remote_address') === '' ? '' : ` -> ${c('remote_address')}:${c('remote_port')}`;
  return `${c('event')} ${c('proto')} ${c('local_address')}:${c('local_port')}${remote} ${c('state')}`.replace(/\s+$/, '');
}

export interface VerifyTrailOptions {
  /** The trail's path, as captures were given it (--csv): the store keeps its marks under it. */
  csv: string;
  store: EvidenceStore;
  /** Called after each snapshot block with the rows read so far. */
  onProgress?: (rows: number, snapshots: number) => void;
}

/** Reads the trail and checks every block of rows against the store. Throws StoreError when the trail cannot be read. */
export async function verifyTrail(options: VerifyTrailOptions): Promise<TrailVerification> {
  const { store } = options;
  const result: TrailVerification = { ok: true, rows: 0, snapshots: 0, checked: 0, pruned: { snapshots: 0, rows: 0 }, problems: [], problemCount: 0, notes: [], size: 0 };
  const problem = (p: TrailProblem): void => {
    result.problemCount++;
    if (result.problems.length < PROBLEMS_KEPT) result.problems.push(p);
  };
  const retention = store.retention();
  const keys = csvKeys(options.csv);
  const confirmed = metaJson<CsvCleanEnd>(store.getMeta(keys.cleanEnd));
  // A snapshot whose rows a capture is writing now, or that a killed capture left unfinished (the
  // next capture completes it): missing rows of it are not a problem yet.
  const unfinished = unfinishedMark(store.getMeta(keys.mark), confirmed);
  const seen = new Map<number, number>(); // snapshot id -> first line of its block
  let header = false;
  let block: { id: number; line: number; records: TrailRecord[] } | null = null;

  const finish = (): void => {
    if (block === null) return;
    const { id, line, records } = block;
    block = null;
    result.snapshots++;
    const earlier = seen.get(id);
    if (earlier !== undefined) {
      problem({ kind: 'repeated', line, snapshotId: id, message: `line ${line}: rows of snapshot ${id} again (its rows began at line ${earlier}); netmon writes each snapshot's rows once, together` });
      return;
    }
    seen.set(id, line);
    const [summary] = store.listSnapshots({ id });
    if (summary === undefined) {
      if (retention !== null && id <= retention.removedThrough) {
        result.pruned.snapshots++;
        result.pruned.rows += records.length;
      } else {
        problem({ kind: 'not-in-store', line, snapshotId: id, message: `line ${line}: snapshot ${id} is not in the evidence store (${records.length} rows); the rows are not evidence of this store` });
      }
      return;
    }
    const events = new Set(records.map((r) => r.cells[EVENT]));
    const form: TrailRows = events.size === 1 && events.has('present') ? 'inventory' : 'changes';
    const expected = storedSnapshotRows(store, id, form);
    if (expected === null) {
      // Changes against a snapshot a prune removed: they cannot be made again.
      result.pruned.snapshots++;
      result.pruned.rows += records.length;
      return;
    }
    result.checked++;
    compareBlock(id, records, expected, unfinished?.snapshotId === id, problem, result.notes);
  };

  const read = await readTrail(options.csv, (record) => {
    if (!header) {
      header = true;
      if (record.cells.length !== CSV_COLUMNS.length || record.cells.some((c, i) => c !== CSV_COLUMNS[i])) {
        problem({ kind: 'header', line: record.line, snapshotId: null, message: `line ${record.line} is not netmon's CSV header (${CSV_COLUMNS.length} columns: ${CSV_COLUMNS.join(',')})` });
        throw new HeaderMismatch();
      }
      return;
    }
    const cells = record.cells;
    if (cells.length === CSV_COLUMNS.length && cells.every((c, i) => c === CSV_COLUMNS[i])) {
      result.notes.push(`line ${record.line} is a second header: trails were joined here (netmon writes one header per file)`);
      return;
    }
    if (cells.length !== CSV_COLUMNS.length) {
      problem({ kind: 'bad-row', line: record.line, snapshotId: null, message: `line ${record.line} has ${cells.length} cells, not ${CSV_COLUMNS.length}` });
      return;
    }
    const id = /^[1-9][0-9]{0,15}$/.test(cells[SNAPSHOT]!) ? Number(cells[SNAPSHOT]) : null;
    if (id === null) {
      problem({ kind: 'bad-row', line: record.line, snapshotId: null, message: `line ${record.line}: snapshot_id ${JSON.stringify(cells[SNAPSHOT])} is not a snapshot id` });
      return;
    }
    result.rows++;
    if (block !== null && block.id === id) {
      block.records.push(record);
      return;
    }
    finish();
    options.onProgress?.(result.rows, result.snapshots);
    block = { id, line: record.line, records: [record] };
  }).catch((error: unknown) => {
    if (error instanceof HeaderMismatch) return null;
    throw error;
  });
  finish();
  if (read !== null) {
    result.size = read.size;
    // Where the last capture that wrote this file left it: the file is never shorter than that.
    if (confirmed !== null && confirmed.device === read.device && confirmed.inode === read.inode && read.size < confirmed.size) {
      const after = confirmed.snapshotId === undefined ? '' : ` after the rows of snapshot ${confirmed.snapshotId}`;
      problem({ kind: 'truncated', line: null, snapshotId: confirmed.snapshotId ?? null, message: `the trail is ${read.size} bytes, but netmon left it ${confirmed.size} bytes long${after}: its end was cut off` });
    }
    if (read.torn !== null) result.notes.push(`line ${read.torn.line} (byte ${read.torn.offset}) is cut off: a capture is writing the trail now, or one was killed while it wrote; the next capture sets it aside`);
    if (read.malformed !== null) problem({ kind: 'malformed', line: read.malformed.line, snapshotId: null, message: `line ${read.malformed.line} is not RFC 4180 CSV (${read.malformed.message}); the rest of the trail was not read` });
  }
  result.ok = result.problemCount === 0;
  return result;
}

class HeaderMismatch extends Error {}

/** Rows grouped by a key, each group in the rows' order. */
function groupBy(rows: readonly string[][], key: (row: readonly string[]) => string): Map<string, string[][]> {
  const groups = new Map<string, string[][]>();
  for (const row of rows) {
    const k = key(row);
    const list = groups.get(k);
    if (list) list.push(row);
    else groups.set(k, [row]);
  }
  return groups;
}

/** The rows of one snapshot's block against the rows the store makes of it. */
function compareBlock(id: number, records: TrailRecord[], expected: string[][], beingWritten: boolean, problem: (p: TrailProblem) => void, notes: string[]): void {
  const wanted = groupBy(expected, rowKey);
  const extra: TrailRecord[] = [];
  for (const record of records) {
    const list = wanted.get(rowKey(record.cells));
    if (list !== undefined && list.length > 0) list.pop();
    else extra.push(record);
  }
  const missing: string[][] = [];
  for (const list of wanted.values()) missing.push(...list);
  // A row of the trail and a row of the store that name the same socket: one was edited into the other.
  const byIdentity = groupBy(missing, identityKey);
  const unmatched = new Set(missing);
  for (const record of extra) {
    const twin = byIdentity.get(identityKey(record.cells))?.find((row) => unmatched.has(row));
    if (twin !== undefined) {
      unmatched.delete(twin);
      const differs = CSV_COLUMNS.filter((_, i) => (i === TIME ? rowKey([record.cells[i]!]) !== rowKey([twin[i]!]) : record.cells[i] !== twin[i]));
      const shown = differs
        .slice(0, 3)
        .map((c) => `${c} ${JSON.stringify(record.cells[CSV_COLUMNS.indexOf(c)])} (the store: ${JSON.stringify(twin[CSV_COLUMNS.indexOf(c)])})`)
        .join(', ');
      problem({ kind: 'row-changed', line: record.line, snapshotId: id, message: `line ${record.line}: a row of snapshot ${id} was changed: ${shown}${differs.length > 3 ? `, and ${differs.length - 3} more` : ''}` });
    } else {
      problem({ kind: 'row-added', line: record.line, snapshotId: id, message: `line ${record.line}: a row of snapshot ${id} that the store does not hold (${describeRow(record.cells)})` });
    }
  }
  if (unmatched.size > 0) {
    const first = [...unmatched][0]!;
    const words = `${unmatched.size} ${unmatched.size === 1 ? 'row' : 'rows'} of snapshot ${id} (rows from line ${records[0]!.line}) ${unmatched.size === 1 ? 'is' : 'are'} missing, for example ${describeRow(first)}`;
    if (beingWritten) notes.push(`${words}: a capture is writing them now, or was stopped before it finished; the next capture completes them`);
    else problem({ kind: 'rows-missing', line: records[0]!.line, snapshotId: id, message: words });
  }
}
