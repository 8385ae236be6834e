import { cellAsInstant, CSV_COLUMNS, readTrail, type CsvCleanEnd, type TrailRecord } from '../store/csv-trail.js';
import { count } from '../model/format.js';
import type { EvidenceStore } from '../store/evidence-store.js';
import type { SnapshotWalk } from '../store/snapshot-walk.js';
import { CLEAN_END_KEY, csvKeys, DOWN_KEY, MARK_KEY, metaJson, OUTAGES_KEY, parseMark, unconfirmedMark, walkedSnapshotRows, type CsvMark, type TrailOutage, type TrailRows } from './trail-rows.js';

/**
 * `netmon verify-trail`: the CSV trail read back and checked row by row against the evidence
 * store. The store is the evidence (hash-chained); the trail is the copy people open in a
 * spreadsheet. Each snapshot's rows are made again from the store, exactly as the capture made them
 * (the inventory, or the changes against the snapshot before), and must be in the trail as one
 * block: a row edited, added, removed or copied in is named with its line.
 *
 * Timestamps in netmon's form are compared as instants: a trail written in another time zone
 * holds the same times with another offset. Rows of snapshots a prune removed from the store cannot
 * be checked and are counted apart. The end of the file is checked against where netmon recorded
 * it left this very file (device and inode).
 */

/** What is wrong with a trail, at a line of it (null: the file as a whole). */
export interface TrailProblem {
  kind: 'header' | 'malformed' | 'bad-row' | 'not-in-store' | 'repeated' | 'out-of-order' | 'row-changed' | 'row-added' | 'rows-missing' | 'shortened' | 'torn';
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
  /** Blocks of change rows whose snapshot before was pruned (so they cannot be made again), and their rows. */
  afterPruned: { snapshots: number; rows: number };
  /** The first problems found (at most PROBLEMS_KEPT), and how many there are in all. */
  problems: TrailProblem[];
  problemCount: number;
  /** Notes that are not problems: a torn last line a capture is writing, a second header, rows still being written, what could not be checked. */
  notes: string[];
  /** The bytes of the file that were read (it may have grown since). */
  size: number;
  /** Where netmon recorded it left this file (matched by device and inode), or null when the store has no record of this file. */
  cleanEnd: { size: number; snapshotId: number | null } | null;
}

/** The most problems a verification lists one by one. */
export const PROBLEMS_KEPT = 100;

const TIME = CSV_COLUMNS.indexOf('timestamp');
const SNAPSHOT = CSV_COLUMNS.indexOf('snapshot_id');
const EVENT = CSV_COLUMNS.indexOf('event');
/** The cells that name a socket in a row: when a row of the trail and one of the store agree on these, one was edited into the other. */
const IDENTITY = (['event', 'proto', 'local_address', 'local_port', 'remote_address', 'remote_port'] as const).map((c) => CSV_COLUMNS.indexOf(c));
/** A row as compared: its timestamp as the instant it names (cellAsInstant), every other cell as it is. */
function rowKey(cells: readonly string[]): string {
  const parts = cells.slice();
  parts[TIME] = cellAsInstant(cells[TIME]!);
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
  /** The trail's path. */
  csv: string;
  store: EvidenceStore;
  /** Called at each snapshot block with the rows and blocks read so far. */
  onProgress?: (rows: number, snapshots: number) => void;
}

/** What the store recorded of a trail file: where netmon left it, its last mark, and whether it is this very file. */
interface RecordedTrail {
  /** The clean end recorded for this file (matched by device and inode), or for the path when `replaced`. */
  end: CsvCleanEnd;
  /** The last mark under the same path: which snapshot's rows, in which form, a capture last began to write. */
  mark: CsvMark | null;
  /** The record is of another file at the same path (the trail was replaced since netmon wrote it). */
  replaced: boolean;
  /** The path the record is kept under (the trail's absolute path when a capture wrote it). */
  path: string;
}

/**
 * Where netmon recorded it left this very file (device and inode), under whatever path a capture
 * named it, with that path's last mark; else the record of the path given, for a file that
 * replaced the one netmon wrote; else null.
 */
function recordedTrail(store: EvidenceStore, csv: string, device: number, inode: number): RecordedTrail | null {
  const markOf = (path: string): CsvMark | null => parseMark(store.getMeta(`${MARK_KEY}${path}`));
  for (const { key, value } of store.metaEntries(CLEAN_END_KEY)) {
    const end = metaJson<CsvCleanEnd>(value);
    if (end === null || end.device !== device || end.inode !== inode) continue;
    const path = key.slice(CLEAN_END_KEY.length);
    return { end, mark: markOf(path), replaced: false, path };
  }
  const key = csvKeys(csv).cleanEnd;
  const end = metaJson<CsvCleanEnd>(store.getMeta(key));
  const path = key.slice(CLEAN_END_KEY.length);
  return end === null ? null : { end, mark: markOf(path), replaced: true, path };
}

/** Reads the trail and checks every block of rows against the store. Throws StoreError when the trail cannot be read. */
export async function verifyTrail(options: VerifyTrailOptions): Promise<TrailVerification> {
  const { store } = options;
  const result: TrailVerification = { ok: true, rows: 0, snapshots: 0, checked: 0, pruned: { snapshots: 0, rows: 0 }, afterPruned: { snapshots: 0, rows: 0 }, problems: [], problemCount: 0, notes: [], size: 0, cleanEnd: null };
  const problem = (p: TrailProblem): void => {
    result.problemCount++;
    if (result.problems.length < PROBLEMS_KEPT) result.problems.push(p);
  };
  // Read once the file is open (its size fixed): from then on one read transaction, so that a
  // prune or a capture committing during a long check is not taken for rows the store lacks.
  // Rows within that size were written after their snapshot's commit, so it is in the view.
  let retention: ReturnType<typeof store.retention> = null;
  let release: (() => void) | null = null;
  // Blocks come in the order of their snapshots: each one's rows are made by following the set
  // from the one before (at the cost of the changes in between), not by loading it whole again.
  let walk: SnapshotWalk | null = null;
  const rowsOf = (id: number, form: TrailRows): string[][] | null => walkedSnapshotRows(store, (walk ??= store.walk()), id, form);
  // Filled in once the file is open (its device and inode name it): what the store recorded of
  // it, and the snapshot whose rows a capture marked and has not confirmed yet (writing now, or
  // killed while it wrote).
  let recorded: RecordedTrail | null = null;
  let unfinished: CsvMark | null = null;
  const seen = new Map<number, number>(); // snapshot id -> first line of its block
  let header = false;
  let lastId = 0;
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
    if (id < lastId) {
      problem({ kind: 'out-of-order', line, snapshotId: id, message: `line ${line}: rows of snapshot ${id} after those of snapshot ${lastId}; netmon writes snapshots in the order it takes them` });
    }
    lastId = Math.max(lastId, id);
    const [summary] = store.listSnapshots({ id });
    if (summary === undefined) {
      if (retention !== null && id <= retention.removedThrough) {
        result.pruned.snapshots++;
        result.pruned.rows += records.length;
      } else {
        problem({ kind: 'not-in-store', line, snapshotId: id, message: `line ${line}: snapshot ${id} is not in the evidence store (${records.length} ${records.length === 1 ? 'row' : 'rows'}); the rows are not evidence of this store` });
      }
      return;
    }
    const events = new Set(records.map((r) => r.cells[EVENT]));
    const form: TrailRows = events.size === 1 && events.has('present') ? 'inventory' : 'changes';
    const expected = rowsOf(id, form);
    if (expected === null) {
      // Changes against a snapshot a prune removed: they cannot be made again.
      result.afterPruned.snapshots++;
      result.afterPruned.rows += records.length;
      return;
    }
    result.checked++;
    compareBlock(id, records, expected, unfinished?.snapshotId === id, problem, result.notes);
  };

  try {
    const read = await readTrail(options.csv, (record) => {
      if (!header) {
        header = true;
        if (record.cells.length !== CSV_COLUMNS.length || record.cells.some((c, i) => c !== CSV_COLUMNS[i])) {
          const bom = record.cells[0]?.startsWith('\ufeff') ? ': it begins with a UTF-8 byte order mark, which netmon never writes (the file was saved by another program)' : ` (${CSV_COLUMNS.length} columns: ${CSV_COLUMNS.join(',')})`;
          problem({ kind: 'header', line: record.line, snapshotId: null, message: `line ${record.line} is not netmon's CSV header${bom}` });
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
        problem({ kind: 'bad-row', line: record.line, snapshotId: null, message: `line ${record.line} has ${cells.length} ${cells.length === 1 ? 'cell' : 'cells'}, not ${CSV_COLUMNS.length}` });
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
      block = { id, line: record.line, records: [record] };
      options.onProgress?.(result.rows, result.snapshots + 1);
    }, (file) => {
      release = store.holdRead();
      retention = store.retention();
      recorded = recordedTrail(store, options.csv, file.device, file.inode);
      if (recorded !== null && !recorded.replaced) {
        result.cleanEnd = { size: recorded.end.size, snapshotId: recorded.end.snapshotId ?? null };
        unfinished = unconfirmedMark(recorded.mark, recorded.end);
      } else if (file.size > 0) {
        result.notes.push(
          recorded !== null
            ? `this file is not the one netmon last wrote at ${options.csv} (another device and inode): it was replaced since (saved by an editor or another program, or rotated), so its size cannot be checked against what netmon wrote`
            : `the store has no record of where netmon left this file (a copy, a file rotated away since, or a trail of another store), so its end cannot be checked against what netmon wrote`,
        );
      }
    })
      .catch((error: unknown) => {
        if (error instanceof HeaderMismatch) return null;
        throw error;
      });
    finish();
    if (read !== null) {
      result.size = read.size;
      if (read.size === 0) result.notes.push('the trail is empty: no header and no rows');
      for (const bad of read.malformed) problem({ kind: 'malformed', line: bad.line, snapshotId: null, message: `line ${bad.line} is not RFC 4180 CSV (${bad.message}); it was skipped, and reading went on after it` });
      const end = result.cleanEnd;
      // Where netmon left this file: it is never shorter than that (but empty just after log
      // rotation by copytruncate, until the next capture), and only a capture writing after that end
      // (or killed while it wrote there) leaves a line without its line end.
      if (end !== null && read.size < end.size && read.size > 0) {
        const after = end.snapshotId === null ? '' : `, after the rows of snapshot ${end.snapshotId}`;
        problem({ kind: 'shortened', line: null, snapshotId: end.snapshotId, message: `the trail is ${read.size} bytes, shorter than the ${end.size} bytes netmon had written to it${after}: bytes were removed, at its end or elsewhere` });
      }
      if (read.torn !== null) {
        const where = `line ${read.torn.line} (byte ${read.torn.offset}) has no line end`;
        if (end !== null && read.torn.offset >= end.size && unfinished !== null) {
          result.notes.push(`${where}: a capture is writing the rows of snapshot ${(unfinished as CsvMark).snapshotId} now, or was killed while it wrote them; the next capture sets the line aside and completes them`);
        } else {
          problem({
            kind: 'torn',
            line: read.torn.line,
            snapshotId: null,
            message:
              end === null
                ? `${where}, and the store has no record of where netmon left this file to tell a capture writing it from an edit`
                : read.torn.offset < end.size
                  ? `${where}, inside what netmon had finished writing (${end.size} bytes): the trail was changed there`
                  : `${where}, after the ${end.size} bytes netmon had finished writing, while no capture is writing to it: netmon did not write it`,
          });
        }
      }
      // A snapshot stored, whose rows a capture has not written yet (writing now, or stopped
      // before it wrote any): not a problem, but the trail lacks it until the next capture.
      const pending = unfinished as CsvMark | null;
      if (pending !== null && !seen.has(pending.snapshotId) && store.listSnapshots({ id: pending.snapshotId }).length === 1) {
        const rows = rowsOf(pending.snapshotId, pending.rows);
        if (rows !== null && rows.length > 0 && read.torn === null) {
          result.notes.push(`snapshot ${pending.snapshotId} is in the store, but none of its ${count(rows.length, 'row')} is in the trail yet: a capture is writing them now, was stopped before it wrote them, or could not write the trail (a capture loop then goes on into the store, and writes the full inventory once it can); the next capture writes them`);
        }
      }
      // Snapshots a capture loop could not write to this trail (no permission, no space): in the
      // store only, as the store recorded, not rows that went missing from the file.
      const outagesOf = recorded as RecordedTrail | null;
      if (outagesOf !== null && seen.size > 0) {
        // A loop, not Math.min(...ids): a trail of weeks holds more snapshots than a call takes
        // arguments (a multi-day probe: "Maximum call stack size exceeded" at 125,000).
        let firstId = Infinity;
        let lastId = -Infinity;
        for (const id of seen.keys()) {
          if (id < firstId) firstId = id;
          if (id > lastId) lastId = id;
        }
        const ended = metaJson<TrailOutage[]>(store.getMeta(`${OUTAGES_KEY}${outagesOf.path}`));
        for (const o of Array.isArray(ended) ? ended : []) {
          if (typeof o?.from !== 'number' || typeof o.to !== 'number' || o.to < firstId || o.from > lastId) continue;
          result.notes.push(`${o.from === o.to ? `snapshot ${o.from} is` : `snapshots ${o.from} to ${o.to} are`} not in this trail: a capture loop could not write it then (${o.reason}), and wrote the full inventory once it could; ${o.from === o.to ? 'it is' : 'they are'} in the store (netmon show)`);
        }
        const down = metaJson<TrailOutage>(store.getMeta(`${DOWN_KEY}${outagesOf.path}`));
        if (down !== null && typeof down.from === 'number') {
          result.notes.push(`since snapshot ${down.from} a capture loop could not write this trail (${down.reason}): later snapshots are in the store only, until a capture can write it (it then writes the full inventory)`);
        }
      }
      // The rows of the last snapshot netmon confirmed writing to this path must be in the file
      // (unless they were none: a tick without change). This also holds for a file saved again
      // under the path (a new inode), whose size says nothing.
      const last = recorded as RecordedTrail | null;
      const lastId = last?.end.snapshotId;
      // A new file at the path that holds only the header (a rotation that wrote netmon's header
      // into the new file) is as an empty one: the next capture writes the inventory to it.
      const headerOnly = last !== null && last.replaced && read.size > 0 && result.rows === 0;
      if (headerOnly) {
        result.notes.push(`the trail holds its header and no rows: it is a new file since netmon last wrote to ${options.csv} (rotated, say); the next capture writes the full inventory to it`);
      }
      if (!headerOnly && last !== null && lastId !== undefined && read.size > 0 && !seen.has(lastId) && last.mark?.snapshotId === lastId && store.listSnapshots({ id: lastId }).length === 1) {
        const rows = rowsOf(lastId, last.mark.rows);
        if (rows !== null && rows.length > 0) {
          problem({ kind: 'rows-missing', line: null, snapshotId: lastId, message: `the ${rows.length} ${rows.length === 1 ? 'row' : 'rows'} of snapshot ${lastId}, the last netmon wrote to this trail, are not in it: rows were removed from its end` });
        }
      }
    }
    result.ok = result.problemCount === 0;
    return result;
  } finally {
    (release as (() => void) | null)?.();
  }
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
