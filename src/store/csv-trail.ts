import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { describeErrno, errnoCode, specialFileKind, StoreError } from '../errors.js';
import { followableLink, foreignFileInSharedDir, untrustedLink } from './links.js';
import { EVIDENCE_FILE_MODE, protoName, type ProcessRecord, type Snapshot, type SocketRecord } from '../model/types.js';
import { isoWithOffset } from '../model/iso-time.js';
import { octalMode } from '../model/format.js';

/**
 * The CSV trail: RFC 4180, UTF-8, one header, one row per socket per snapshot (or per change).
 * csv-stringify (writing) and csv-parse (reading back, for verify-trail) enter netmon here and
 * nowhere else.
 */
export const CSV_COLUMNS = [
  'timestamp',
  'host',
  'snapshot_id',
  'event',
  'proto',
  'local_address',
  'local_port',
  'remote_address',
  'remote_port',
  'state',
  'pid',
  'process',
  'user',
  'executable',
  'executable_blake3',
  'executable_sha256',
  'netns',
  'label',
  'change_ticket',
] as const;

/** Why a row is in the trail: in the inventory, appeared, disappeared, or the same socket with new attributes. */
export type CsvEvent = 'present' | 'opened' | 'closed' | 'changed';

type StringifySync = (records: string[][], options: { record_delimiter: string; quoted_match?: RegExp }) => string;
let stringify: StringifySync | undefined;
function csv(): StringifySync {
  return (stringify ??= (createRequire(import.meta.url)('csv-stringify/sync') as { stringify: StringifySync }).stringify);
}

/**
 * Text a spreadsheet would evaluate as a formula (a cell starting with =, +, -, @, tab or CR)
 * gets a leading apostrophe. Process names and command lines are chosen by whoever runs the
 * process; the exact text stays in SQLite and JSON.
 */
export function neutralizeCell(text: string): string {
  // A lone surrogate (a byte of a process name that is not UTF-8, kept as \udcXX) cannot be
  // written as UTF-8: it is U+FFFD in the trail, and so in the cell, so that verify-trail rebuilds
  // the very text the trail holds.
  const cell = LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATE_ALL, '\uFFFD') : text;
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

const LONE_SURROGATE_SOURCE = '[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';
const LONE_SURROGATE = new RegExp(LONE_SURROGATE_SOURCE);
const LONE_SURROGATE_ALL = new RegExp(LONE_SURROGATE_SOURCE, 'g');

export interface CsvContext {
  snapshotId: number;
  label: string | null;
  change: string | null;
}

/** Rows for sockets of a snapshot, in CSV_COLUMNS order, every cell neutralised. Pure. */
export function csvRows(snapshot: Pick<Snapshot, 'takenAt' | 'host'>, sockets: readonly SocketRecord[], processes: ReadonlyMap<number, ProcessRecord>, event: CsvEvent, context: CsvContext): string[][] {
  // Cells shared by every row, and the process cells of each owner, are neutralised once, not
  // once per socket: a large inventory has tens of thousands of rows and a few hundred processes.
  const time = neutralizeCell(isoWithOffset(new Date(snapshot.takenAt)));
  const host = neutralizeCell(snapshot.host.hostname);
  const id = neutralizeCell(String(context.snapshotId));
  const ev = neutralizeCell(event);
  const label = neutralizeCell(context.label ?? '');
  const change = neutralizeCell(context.change ?? '');
  const ownerCells = new Map<number, string[]>();
  const ownerOf = (pid: number): string[] => {
    let cells = ownerCells.get(pid);
    if (cells === undefined) {
      const proc = processes.get(pid);
      cells = [
        String(pid),
        proc?.name ?? '', // an owner whose process record is missing has no name
        proc?.user ?? (proc?.uid != null ? String(proc.uid) : ''),
        proc?.executable ?? '',
        proc?.hashes?.blake3 ?? '',
        proc?.hashes?.sha256 ?? '',
      ].map(neutralizeCell);
      ownerCells.set(pid, cells);
    }
    return cells;
  };
  const rows: string[][] = new Array(sockets.length);
  for (let i = 0; i < sockets.length; i++) {
    const s = sockets[i]!;
    const owner = s.owners[0];
    const o = owner ? ownerOf(owner.pid) : NO_OWNER;
    rows[i] = [
      time,
      host,
      id,
      ev,
      neutralizeCell(protoName(s)),
      neutralizeCell(s.localAddress),
      num(s.localPort),
      s.listening ? '' : neutralizeCell(s.remoteAddress),
      s.listening ? '' : num(s.remotePort),
      neutralizeCell(s.state),
      o[0]!,
      owner ? o[1]! : s.unattributed ? `(${s.unattributed})` : '', // without an owner, the reason
      o[2]!,
      o[3]!,
      o[4]!,
      o[5]!,
      num(s.netns),
      label,
      change,
    ];
  }
  return rows;
}

/** The process cells of a socket without an owner. */
const NO_OWNER: readonly string[] = ['', '', '', '', '', ''];

/** A number as a cell: only a negative one can start like a formula. */
const num = (n: number): string => (n < 0 ? neutralizeCell(String(n)) : String(n));

/** A line RFC 4180 writes as it is: no quote, CR or LF in it. */
const NEEDS_QUOTES = /["\r\n]/;

/**
 * RFC 4180 text of rows (CRLF line ends, fields quoted when needed). Pure. Rows whose cells all
 * need no quoting (nearly all: addresses, numbers, hashes, times) are joined directly, which is
 * exactly what csv-stringify writes for them; csv-stringify writes every other row. A joined row
 * needs no quoting when it has no quote, CR or LF and exactly one comma fewer than cells (so no
 * cell holds a comma): one test per row, not one per cell.
 */
export function formatCsv(rows: string[][]): string {
  const out: string[] = [];
  let special: string[][] = [];
  const flush = (): void => {
    // Quote any cell holding CR or LF: csv-stringify quotes only cells holding the record delimiter.
    if (special.length > 0) out.push(csv()(special, { record_delimiter: '\r\n', quoted_match: /[\r\n]/ }));
    special = [];
  };
  for (const row of rows) {
    const line = row.join(',');
    if (!NEEDS_QUOTES.test(line) && commas(line) === row.length - 1) {
      flush();
      out.push(line, '\r\n');
    } else {
      special.push(row);
    }
  }
  flush();
  return out.join('');
}

/** One record of a trail as read back: its cells, where it starts (a line as an editor counts them, 1 for the header; a byte offset). */
export interface TrailRecord {
  cells: string[];
  line: number;
  offset: number;
}

/** How reading a trail back ended. */
export interface TrailRead {
  /** Bytes read: the file's size when the reading began (a writer may append meanwhile). */
  size: number;
  /** The file's device and inode, to tell it from a trail that replaced it. */
  device: number;
  inode: number;
  /**
   * The last record had no line end (a capture writing now, or one killed while it wrote, or an
   * edit): it was not given to onRecord. Where it starts.
   */
  torn: { line: number; offset: number } | null;
  /** Records that are not RFC 4180 (a stray or unclosed quote, say): skipped, and reading went on after them. */
  malformed: { line: number; offset: number; message: string }[];
}

/**
 * Reads a trail back in order, record by record (RFC 4180, through csv-parse), as far as the file
 * went when the reading began. Records of any length are given as they are (the caller checks
 * them against the header); a record csv-parse cannot read is skipped and listed, and reading goes
 * on. Lines are counted as editors and grep count them: at each LF, also inside a quoted cell
 * (csv-parse also counts a lone CR). Throws StoreError when the file cannot be read.
 */
export async function readTrail(path: string, onRecord: (record: TrailRecord) => void, onOpen?: (file: { device: number; inode: number; size: number }) => void): Promise<TrailRead> {
  let fd: number;
  let size: number;
  let device = 0;
  let inode = 0;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      fs.closeSync(fd);
      throw Object.assign(new Error(st.isDirectory() ? 'it is a directory' : 'it is not a regular file'), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' });
    }
    size = st.size;
    device = st.dev;
    inode = st.ino;
    // A trail rotated with compression (logrotate's compress) is read as what it is, not as
    // rows that all fail to be CSV.
    const magic = Buffer.alloc(2);
    if (size >= 2 && fs.readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
      fs.closeSync(fd);
      throw new StoreError('E_CSV_COMPRESSED', `cannot read the CSV trail: ${path} is gzip-compressed (a rotated trail?), not CSV`, {
        hint: `decompress it first: zcat ${path} > trail.csv, then netmon verify-trail --csv trail.csv`,
      });
    }
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError(errnoCode(error) ?? 'E_CSV_READ', `cannot read the CSV trail: ${describeErrno(error, 'opening', path)}`, {
      hint:
        errnoCode(error) === 'ENOENT'
          ? 'name the trail with --csv PATH (the default is network_connections.csv in this directory)'
          : errnoCode(error) === 'EACCES' || errnoCode(error) === 'EPERM'
            ? "netmon writes trails readable by their owner and group only (0640): run as the trail's owner, a member of its group, or root"
            : 'give the CSV file a capture wrote (--csv PATH)',
    });
  }
  const result: TrailRead = { size, device, inode, torn: null, malformed: [] };
  try {
    onOpen?.({ device, inode, size });
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  const { parse, CsvError } = createRequire(import.meta.url)('csv-parse') as typeof import('csv-parse');
  // Line ends seen and not yet passed (byte offsets of each LF), and how many were passed: records
  // come in order, so those before the last record's start are dropped as reading goes on.
  let lineEnds: number[] = [];
  let passed = 0;
  let dropped = 0;
  const lineAt = (offset: number): number => {
    while (passed < lineEnds.length && lineEnds[passed]! < offset) passed++;
    if (passed > 1 << 16) {
      lineEnds = lineEnds.slice(passed);
      dropped += passed;
      passed = 0;
    }
    return dropped + passed + 1;
  };
  let ended = 0; // bytes of the records read so far
  let held: TrailRecord | null = null; // the last record read, given on when another follows (the last may be torn)
  let heldBad: { line: number; offset: number; message: string } | null = null;
  let thrown: { error: unknown } | null = null; // by onRecord: passed on as it is
  const release = (): void => {
    if (held !== null) {
      const record = held;
      held = null;
      try {
        onRecord(record);
      } catch (error) {
        thrown ??= { error };
      }
    }
    if (heldBad !== null) {
      result.malformed.push(heldBad);
      heldBad = null;
    }
  };
  const parser = parse({
    relax_column_count: true,
    skip_empty_lines: false,
    bom: false,
    skip_records_with_error: true,
    on_record: (record: string[], context: { bytes: number }) => {
      release();
      // The line it ends on, less the line ends inside its cells: where it starts (also after a
      // skipped record, whose end csv-parse does not tell).
      let inside = 0;
      for (const cell of record) for (let at = cell.indexOf('\n'); at !== -1; at = cell.indexOf('\n', at + 1)) inside++;
      held = { cells: record, line: lineAt(context.bytes - 1) - inside, offset: ended };
      ended = context.bytes;
      return null;
    },
    on_skip: (error: { message?: string; bytes?: number } | undefined) => {
      release();
      heldBad = { line: lineAt(ended), offset: ended, message: error?.message ?? 'unreadable' };
      if (typeof error?.bytes === 'number') ended = Math.max(ended, error.bytes);
      return undefined;
    },
  });
  parser.resume();
  let lastByte = -1;
  try {
    for (let pos = 0; pos < size && thrown === null; ) {
      // A buffer of its own for each piece: the parser may hold on to the last one's tail.
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, size - pos));
      const n = fs.readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      const piece = chunk.subarray(0, n);
      for (let at = piece.indexOf(0x0a); at !== -1; at = piece.indexOf(0x0a, at + 1)) lineEnds.push(pos + at);
      lastByte = piece[n - 1]!;
      await new Promise<void>((resolve, reject) => parser.write(piece, (error) => (error ? reject(error) : resolve())));
      pos += n;
    }
    if (thrown === null) await new Promise<void>((resolve, reject) => parser.end((error?: Error | null) => (error ? reject(error) : resolve())));
  } catch (error) {
    if (thrown === null && !(error instanceof CsvError)) {
      throw new StoreError(errnoCode(error) ?? 'E_CSV_READ', `cannot read the CSV trail: ${describeErrno(error, 'reading', path)}`);
    }
  } finally {
    fs.closeSync(fd);
  }
  if (thrown !== null) throw (thrown as { error: unknown }).error;
  // The last record: complete only when the file ends with a line end.
  if (lastByte === 0x0a || (held === null && heldBad === null)) release();
  else {
    const last = held ?? heldBad!;
    result.torn = { line: last.line, offset: last.offset };
    held = null;
    heldBad = null;
  }
  return result;
}

/** A timestamp as netmon writes one (isoWithOffset): seconds, and the offset of the writer's time zone. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/;

/**
 * A cell as rows read back are compared: a timestamp in netmon's form as the instant it names (ms
 * since the epoch; the same rows written in another time zone compare equal), any other text as
 * it is. Pure.
 */
export function cellAsInstant(cell: string): string {
  return TIMESTAMP.test(cell) ? String(Date.parse(cell)) : cell;
}

/** The records of a whole CSV text (RFC 4180, through csv-parse), for small files (a pack's tables). Throws on text that is not CSV. */
export function parseCsvText(text: string): string[][] {
  const { parse } = createRequire(import.meta.url)('csv-parse/sync') as typeof import('csv-parse/sync');
  return parse(text, { relax_column_count: true, skip_empty_lines: true, bom: false }) as string[][];
}

/** The header line every trail starts with. */
const HEADER = formatCsv([[...CSV_COLUMNS]]);

function commas(text: string): number {
  let n = 0;
  for (let at = text.indexOf(','); at !== -1; at = text.indexOf(',', at + 1)) n++;
  return n;
}

export interface CsvAppendResult {
  rows: number;
  /** Where a partial last line left by an earlier crash was moved, if there was one. */
  repaired?: string;
  /**
   * With `since`: why the file appended to is not the trail that end was in (restartReason), as
   * found on the very file opened; absent when it is.
   */
  restarted?: string;
  /** Where the trail now ends on a complete record, and the file's identity: the next append,
   * in this process or a later one, needs to scan only what was written after it. */
  cleanEnd: CsvCleanEnd;
}

/** A byte offset at which the trail was known to end on a complete record. */
export interface CsvCleanEnd {
  size: number;
  device: number;
  inode: number;
  /** The last snapshot whose rows (none, for a tick without change) end there; absent in older stores. */
  snapshotId?: number;
}

/** What completeCsv() found and did for one snapshot's rows. */
export interface CsvCompletion {
  /** Rows the snapshot should have in the trail. */
  expected: number;
  /** Of them, rows already in the trail after its last known clean end (a write cut short). */
  present: number;
  /** Rows appended now. */
  written: number;
  /** Why the trail was left alone, when it was: it is not the file the clean end describes, or it holds other rows after it. */
  untouched?: string;
  repaired?: string;
  cleanEnd: CsvCleanEnd;
}

/**
 * Open the trail for appending, never through a symbolic link that someone else could have
 * planted (untrustedLink): netmon often runs as root in a directory others can write to, and a
 * link there would have it create or append to a file of the planter's choosing. O_NOFOLLOW also
 * catches a link planted after the check. A link in a directory only the owner and root control
 * is followed: the owner's own choice.
 */
function openTrail(path: string, create: number): number {
  // Not blocking: a pipe put at the path (after the capture began) must not hold the capture up.
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_APPEND | fs.constants.O_NONBLOCK | (followableLink(path) ? 0 : fs.constants.O_NOFOLLOW) | create, EVIDENCE_FILE_MODE);
  // Only a regular file can be appended to, synced, measured and cut back: a FIFO swapped in
  // mid-run blocked the capture's write for good, with no reader, and SIGTERM unheard.
  let special: string | null;
  try {
    special = specialFileKind(fs.fstatSync(fd));
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  if (special !== null) {
    fs.closeSync(fd);
    throw new StoreError('E_CSV_OPEN', `cannot write the CSV trail: ${path} is ${special}, not a regular file`, {
      hint: 'give --csv the path of a regular file (the default is network_connections.csv), or move what is at that path aside',
    });
  }
  return fd;
}

function trailOpenError(error: unknown, path: string, outcome = 'nothing was written'): StoreError {
  if (error instanceof StoreError) return error;
  if (errnoCode(error) === 'ELOOP') {
    return new StoreError('E_CSV_SYMLINK', `cannot open the CSV trail: ${path} is a symbolic link in a directory others can write to (or of another user); netmon does not write evidence through such a link, which could point at any file; ${outcome}`, {
      hint: 'give --csv the file the link points to (readlink -f shows it), or remove the link',
      cause: error,
    });
  }
  return new StoreError('E_CSV_OPEN', `cannot open the CSV trail: ${describeErrno(error, 'opening', path)}`, { cause: error });
}

/**
 * Append rows to the trail: header first for a new or empty file; a partial last line (a crash
 * mid-write) is moved aside first; on failure the file is cut back to its size before the
 * append, so it never ends in a torn line.
 */
export function appendCsv(
  path: string,
  rows: string[][] | ((restarted: string | null) => string[][]),
  now: () => Date = () => new Date(),
  known?: CsvCleanEnd | null,
  since?: Pick<CsvCleanEnd, 'size' | 'device' | 'inode'> | null,
): CsvAppendResult {
  let fd: number;
  try {
    fd = openTrail(path, fs.constants.O_CREAT);
  } catch (error) {
    throw trailOpenError(error, path);
  }
  let size = 0;
  let repaired: string | undefined;
  let restarted: string | null = null;
  let lines: string[][] = [];
  let identity = { device: 0, inode: 0 };
  try {
    const st = fs.fstatSync(fd);
    size = st.size;
    identity = { device: st.dev, inode: st.ino };
    // Decided on the file opened, not on an earlier look at the path: log rotation may have
    // restarted the trail since (between a capture's check and this append).
    restarted = since ? restartReason(st, since) : null;
    lines = typeof rows === 'function' ? rows(restarted) : rows;
    // A known clean end of this very file (not a rotated or replaced one) that it has not shrunk below.
    const from = known && known.device === st.dev && known.inode === st.ino && known.size <= size ? known.size : 0;
    if (size > 0) {
      if (!startsLikeHeader(fd, size)) throw headerError(fd, size, path, 'it was not modified');
      // A header torn by a crash is a partial line like any other.
      const tailSize = size < HEADER.length ? size : cleanEnds.get(path) === size || from === size ? 0 : partialTail(fd, size, from);
      if (tailSize > 0) {
        repaired = setAside(fd, path, size, tailSize, now);
        size -= tailSize;
      }
    }
    // Formatted and written a slice at a time: an inventory of tens of thousands of rows never
    // sits in memory as one text (and its bytes) at once.
    let appended = 0;
    try {
      if (size === 0) appended += writeAll(fd, Buffer.from(HEADER, 'utf8'));
      for (let start = 0; start < lines.length; start += WRITE_ROWS) appended += writeAll(fd, Buffer.from(formatCsv(lines.slice(start, start + WRITE_ROWS)), 'utf8'));
      // On disk before the store records this end: a power cut cannot take rows the store counts as written.
      if (appended > 0) fs.fdatasyncSync(fd);
    } catch (error) {
      // Cut back to where it was; if even that fails, the write's error is the one to tell.
      try {
        fs.ftruncateSync(fd, size);
      } catch {
        // the next append finds the partial line and sets it aside
      }
      cleanEnds.delete(path);
      throw error;
    }
    cleanEnds.set(path, size + appended);
    size += appended;
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError('E_CSV_WRITE', `could not append to the CSV trail (it is unchanged): ${describeErrno(error, 'writing', path)}`, { cause: error });
  } finally {
    fs.closeSync(fd);
  }
  return { rows: lines.length, ...(repaired ? { repaired } : {}), ...(restarted === null ? {} : { restarted }), cleanEnd: { size, ...identity } };
}

/**
 * Why the trail at `path` is not the file a session's last append left at `end`, or null when it
 * is (it may have grown: another writer's rows are appendCsv's business). A file moved away or
 * deleted, another file in its place, or one cut below that end (copy-and-truncate rotation)
 * holds none of the session's earlier rows, so change rows alone would not describe it.
 */
export function trailRestarted(path: string, end: Pick<CsvCleanEnd, 'size' | 'device' | 'inode'>): string | null {
  let st;
  try {
    st = fs.statSync(path);
  } catch {
    // Missing, or unreadable: appendCsv says what is wrong when it cannot write either.
    return 'it is missing (moved away or deleted)';
  }
  return restartReason(st, end);
}

/** Why a file with these stats is not the trail that ended at `end` (another file, or cut below it), or null. Pure. */
function restartReason(st: { dev: number; ino: number; size: number }, end: Pick<CsvCleanEnd, 'size' | 'device' | 'inode'>): string | null {
  if (st.dev !== end.device || st.ino !== end.inode) return 'it is another file (replaced, or moved away and created again)';
  if (st.size < end.size) return `it was cut from ${end.size} to ${st.size} bytes (emptied or truncated)`;
  return null;
}

/** Whether the trail exists and holds more than its header (some bytes past it: rows, or a torn one). */
export function trailHasRows(path: string): boolean {
  try {
    return fs.statSync(path).size > Buffer.byteLength(HEADER, 'utf8');
  } catch {
    return false;
  }
}

/** "uid N (mode 0640)" of a file, for messages; "another user" when it cannot be read. */
function ownerOf(path: string): string {
  try {
    const st = fs.statSync(path);
    return `uid ${st.uid} (mode ${octalMode(st.mode)})`;
  } catch {
    return 'another user';
  }
}

/**
 * Throw the error appendCsv() would give if the trail cannot be written at all (a missing
 * directory, no permission, a read-only file system), before a capture stores anything: a
 * snapshot stored without its rows is a loose end. Creates nothing.
 */
export function checkCsvWritable(path: string): void {
  let target = path;
  if (untrustedLink(path)) throw trailOpenError(Object.assign(new Error('a symbolic link'), { code: 'ELOOP' }), path, 'nothing was captured');
  const owner = foreignFileInSharedDir(path);
  if (owner !== null) {
    throw new StoreError('E_CSV_FOREIGN', `cannot write the CSV trail: ${path} belongs to uid ${owner} and lies in a directory others can write to; its owner could read and change the rows netmon would append; nothing was captured`, {
      hint: 'give --csv a path in a directory of your own, or move that file aside',
    });
  }
  try {
    if (!fs.existsSync(path)) target = dirname(resolve(path));
    fs.accessSync(target, fs.constants.W_OK);
    const st = fs.statSync(target);
    const isDirectory = st.isDirectory();
    if (target !== path && !isDirectory) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    if (target === path && isDirectory) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    const special = target === path ? specialFileKind(st) : null;
    // A file that is not a netmon trail is refused before anything is captured and stored.
    if (special === null && target === path && st.size > 0) {
      const fd = fs.openSync(path, 'r');
      try {
        if (!startsLikeHeader(fd, st.size)) throw headerError(fd, st.size, path, 'nothing was captured');
      } finally {
        fs.closeSync(fd);
      }
    }
    if (special !== null) {
      // /dev/stdout, a pipe: the trail is appended to, synced, measured and checked for torn
      // lines, which only a regular file allows (a pipe took the rows and then failed the sync).
      throw new StoreError('E_CSV_OPEN', `cannot write the CSV trail: ${path} is ${special}, not a regular file; nothing was captured`, {
        hint: 'give the path of a file (the default is network_connections.csv), or --no-csv; for a document on standard output, use netmon snapshot --output json',
      });
    }
  } catch (error) {
    if (error instanceof StoreError) throw error;
    const code = errnoCode(error);
    // The two mistakes in the path itself get their own fix, as --db's do.
    const hint =
      code === 'EISDIR'
        ? `${path} is a directory: give the path of a file (e.g. ${join(path, 'network_connections.csv')})`
        : code === 'ENOENT' && target !== path
          ? `the directory ${target} does not exist: create it first (mkdir -p ${target}), or give --csv a path in a directory that exists`
          : (code === 'EACCES' || code === 'EPERM') && target === path
            ? `the trail belongs to ${ownerOf(path)}: captures append to it as its owner, so run them as that user (or root), or give --csv a trail of your own`
            : 'run netmon in a directory you can write to (the trail and the store are created there by default), fix the path or its permissions, give another --csv PATH, or --no-csv';
    throw new StoreError('E_CSV_OPEN', `cannot write the CSV trail: ${describeErrno(error, target === path ? 'writing' : 'creating a file in', target)}; nothing was captured`, { hint, cause: error });
  }
}

/** A trail that does not start with netmon's header: what is wrong with its first line, where, and what to do. */
function headerError(fd: number, size: number, path: string, outcome: string): StoreError {
  const head = Buffer.alloc(Math.min(size, HEADER.length + 1));
  fs.readSync(fd, head, 0, head.length, 0);
  const lfOnly = head.toString('utf8').startsWith(`${HEADER.slice(0, -2)}\n`);
  const what = lfOnly
    ? `${path} starts with netmon's CSV header, but its line ends in LF alone, where netmon writes CRLF (RFC 4180): a rotation script or an editor wrote it`
    : `${path} does not start with netmon's CSV header (${CSV_COLUMNS.join(',')})`;
  return new StoreError('E_CSV_HEADER', `${what}; ${outcome}`, {
    hint: lfOnly ? 'let netmon write the header: leave the new trail empty (or absent) after rotation' : 'give another file with --csv, or move this one aside',
  });
}

/** Whether a trail of `size` bytes starts with netmon's header (as much of it as the file holds: a crash can tear it). */
function startsLikeHeader(fd: number, size: number): boolean {
  const header = Buffer.from(HEADER, 'utf8');
  const head = Buffer.alloc(Math.min(size, header.length));
  fs.readSync(fd, head, 0, head.length, 0);
  return head.equals(header.subarray(0, head.length));
}

/** Move the last `tailSize` bytes of the trail to `<path>.partial-<time>` (kept, never deleted) and cut them off. */
function setAside(fd: number, path: string, size: number, tailSize: number, now: () => Date): string {
  const tail = Buffer.alloc(tailSize);
  fs.readSync(fd, tail, 0, tailSize, size - tailSize);
  const aside = `${path}.partial-${now().toISOString().replace(/[:.]/g, '-')}`;
  fs.writeFileSync(aside, tail, { mode: EVIDENCE_FILE_MODE, flag: 'wx' });
  fs.ftruncateSync(fd, size - tailSize);
  return aside;
}

/**
 * Make sure the trail holds one snapshot's rows after its last known clean end `known`: a capture
 * stored the snapshot and then stopped (a kill, a power cut) before it wrote them all. The rows
 * already there (a write cut short after some of its slices) are kept and the others appended;
 * a torn last line is moved aside first, as appendCsv() does. The
 * trail is left alone when it is not the file `known` describes (rotated, replaced, cut short) or
 * holds anything else after that end (another store's capture writes the same file): nothing is
 * appended twice and nothing is removed. Rows compare by their exact text, which is the same
 * whenever the same row is formatted (the snapshot's own time is in it).
 */
export function completeCsv(path: string, rows: string[][], known: CsvCleanEnd | null, now: () => Date = () => new Date()): CsvCompletion {
  const expected = rows.length;
  if (known === null) {
    // No record of where an append ended: the dead run was the trail's first writer. A trail that
    // is not there (or empty) lacks every row; one that is can hold only the header and that run's
    // rows, which are checked from the header's end.
    const st = fs.statSync(path, { throwIfNoEntry: false });
    if (!st || st.size === 0) return { expected, present: 0, written: expected, cleanEnd: appendCsv(path, rows, now, null).cleanEnd };
    const header = Buffer.byteLength(HEADER, 'utf8');
    const fd = fs.openSync(path, 'r');
    let whole: boolean;
    try {
      whole = st.size >= header && startsLikeHeader(fd, st.size);
    } finally {
      fs.closeSync(fd);
    }
    if (!whole) {
      return { expected, present: 0, written: 0, untouched: `there is no record of where netmon's last append to ${path} ended`, cleanEnd: { size: st.size, device: st.dev, inode: st.ino } };
    }
    return completeCsv(path, rows, { size: header, device: st.dev, inode: st.ino }, now);
  }
  let fd: number;
  try {
    fd = openTrail(path, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { expected, present: 0, written: 0, untouched: `${path} is gone`, cleanEnd: known };
    throw trailOpenError(error, path);
  }
  try {
    const st = fs.fstatSync(fd);
    let size = st.size;
    const identity = { device: st.dev, inode: st.ino };
    if (known.device !== st.dev || known.inode !== st.ino || known.size > size) {
      return { expected, present: 0, written: 0, untouched: `${path} is not the file netmon last appended to (rotated, replaced or cut short)`, cleanEnd: { size, ...identity } };
    }
    let repaired: string | undefined;
    const tailSize = size === known.size ? 0 : partialTail(fd, size, known.size);
    if (tailSize > 0) {
      repaired = setAside(fd, path, size, tailSize, now);
      size -= tailSize;
    }
    // Every record after the clean end must be one of the snapshot's rows (counted: two sockets
    // can make the same row); those are kept and the others appended, in the order of `rows`.
    const records = rows.map((row) => formatCsv([row]));
    const wanted = new Map<string, number>();
    for (const r of records) wanted.set(r, (wanted.get(r) ?? 0) + 1);
    /** Copies of each row already in the trail: skipped when appending. */
    const there = new Map<string, number>();
    let present = 0;
    if (size > known.size) {
      const region = Buffer.alloc(size - known.size);
      fs.readSync(fd, region, 0, region.length, known.size);
      for (const record of splitRecords(region)) {
        const left = wanted.get(record) ?? 0;
        if (left === 0) {
          return { expected, present: 0, written: 0, untouched: `${path} holds rows after netmon's last append that are not this snapshot's`, ...(repaired ? { repaired } : {}), cleanEnd: { size, ...identity } };
        }
        wanted.set(record, left - 1);
        there.set(record, (there.get(record) ?? 0) + 1);
        present++;
      }
    }
    const append: string[] = [];
    for (const r of records) {
      const skip = there.get(r) ?? 0;
      if (skip > 0) there.set(r, skip - 1);
      else append.push(r);
    }
    let written = 0;
    try {
      for (let start = 0; start < append.length; start += WRITE_ROWS) written += writeAll(fd, Buffer.from(append.slice(start, start + WRITE_ROWS).join(''), 'utf8'));
      if (written > 0) fs.fdatasyncSync(fd);
    } catch (error) {
      fs.ftruncateSync(fd, size);
      throw error;
    }
    cleanEnds.set(path, size + written);
    return { expected, present, written: append.length, ...(repaired ? { repaired } : {}), cleanEnd: { size: size + written, ...identity } };
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError('E_CSV_WRITE', `could not complete the CSV trail (it is unchanged): ${describeErrno(error, 'writing', path)}`, { cause: error });
  } finally {
    fs.closeSync(fd);
  }
}

/** Whole records of CSV bytes that end with a complete one, as text, each with its CRLF. */
function splitRecords(bytes: Buffer): string[] {
  const records: string[] = [];
  let start = 0;
  recordEnds()(bytes, (end) => {
    records.push(bytes.toString('utf8', start, end));
    start = end;
  });
  return records;
}

/** Rows formatted and written at a time. */
const WRITE_ROWS = 4096;

/** Write all of a buffer: write(2) may write less than asked (a nearly full disk), so go on until all is written or it fails. */
function writeAll(fd: number, bytes: Buffer): number {
  for (let written = 0; written < bytes.length; ) written += fs.writeSync(fd, bytes, written, bytes.length - written);
  return bytes.length;
}

/** Where this process last left each trail complete: an append that finds the file at that size
 * needs no scan for a torn record. */
const cleanEnds = new Map<string, number>();

/**
 * Bytes after the last complete record (0 when the file ends with one). A record ends in a CRLF
 * outside quotes; a quoted cell may hold CR, LF or CRLF, so the quote state is followed from the
 * last known clean end (or the start of the file; each '"' toggles it, a doubled "" inside a quoted
 * cell toggles twice). The evidence store keeps that end across runs, so an append reads only what
 * was written after the last append it knows of.
 */
function partialTail(fd: number, size: number, from = 0): number {
  const chunk = Buffer.alloc(1 << 16);
  const scan = recordEnds();
  let lastEnd = from;
  for (let pos = from; pos < size; ) {
    const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
    if (n === 0) break;
    const end = scan(chunk.subarray(0, n), (at) => at);
    if (end !== null) lastEnd = pos + end;
    pos += n;
  }
  return size - lastEnd;
}

/**
 * A scanner of CSV bytes fed in order, one piece after another: a record ends in CRLF outside
 * quotes (each '"' toggles the state; a doubled "" inside a quoted cell toggles twice). Calls
 * `onEnd` with the offset in the piece just after each record's LF, and returns its last result
 * (null when no record ended in the piece).
 */
function recordEnds(): <T>(piece: Uint8Array, onEnd: (end: number) => T) => T | null {
  let quoted = false;
  let previous = -1;
  return (piece, onEnd) => {
    let last = null;
    for (let i = 0; i < piece.length; i++) {
      const b = piece[i]!;
      if (b === 0x22) quoted = !quoted;
      else if (b === 0x0a && previous === 0x0d && !quoted) last = onEnd(i + 1);
      previous = b;
    }
    return last;
  };
}
