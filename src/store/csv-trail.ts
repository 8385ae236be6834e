import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { describeErrno, StoreError } from '../errors.js';
import type { ProcessRecord, Snapshot, SocketRecord } from '../model/types.js';
import { isoWithOffset } from '../outputs/time.js';

/**
 * The CSV trail: RFC 4180, UTF-8, one header, one row per socket per snapshot (or per change).
 * csv-stringify enters netmon here and nowhere else.
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

/** Why a row is in the trail. */
export type CsvEvent = 'present' | 'opened' | 'closed';

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
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

export interface CsvContext {
  snapshotId: number;
  label: string | null;
  change: string | null;
}

/** Rows for sockets of a snapshot, in CSV_COLUMNS order. Pure. */
export function csvRows(snapshot: Pick<Snapshot, 'takenAt' | 'host'>, sockets: readonly SocketRecord[], processes: ReadonlyMap<number, ProcessRecord>, event: CsvEvent, context: CsvContext): string[][] {
  const time = isoWithOffset(new Date(snapshot.takenAt));
  return sockets.map((s) => {
    const owner = s.owners[0];
    const proc = owner ? processes.get(owner.pid) : undefined;
    const cells = [
      time,
      snapshot.host.hostname,
      String(context.snapshotId),
      event,
      s.family === 'ipv6' ? `${s.transport}6` : s.transport,
      s.localAddress,
      String(s.localPort),
      s.listening ? '' : s.remoteAddress,
      s.listening ? '' : String(s.remotePort),
      s.state,
      owner ? String(owner.pid) : '',
      proc?.name ?? (s.unattributed ? `(${s.unattributed})` : ''),
      proc?.user ?? (proc?.uid != null ? String(proc.uid) : ''),
      proc?.executable ?? '',
      proc?.hashes?.blake3 ?? '',
      proc?.hashes?.sha256 ?? '',
      String(s.netns),
      context.label ?? '',
      context.change ?? '',
    ];
    return cells.map(neutralizeCell);
  });
}

/** RFC 4180 text of rows (CRLF line ends, fields quoted when needed). Pure. */
export function formatCsv(rows: string[][]): string {
  return rows.length === 0 ? '' : csv()(rows, { record_delimiter: '\r\n' });
}

export interface CsvAppendResult {
  rows: number;
  /** Where a partial last line left by an earlier crash was moved, if there was one. */
  repaired?: string;
}

/**
 * Append rows to the trail: header first for a new or empty file; a partial last line (a crash
 * mid-write) is moved aside first; on failure the file is cut back to its size before the
 * append, so it never ends in a torn line.
 */
export function appendCsv(path: string, rows: string[][], now: () => Date = () => new Date()): CsvAppendResult {
  const header = formatCsv([[...CSV_COLUMNS]]);
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o644);
  } catch (error) {
    throw new StoreError('E_CSV_OPEN', `cannot open the CSV trail: ${describeErrno(error, 'opening', path)}`, { cause: error });
  }
  let size = 0;
  let repaired: string | undefined;
  try {
    size = fs.fstatSync(fd).size;
    if (size > 0) {
      const head = Buffer.alloc(Math.min(size, header.length));
      fs.readSync(fd, head, 0, head.length, 0);
      if (head.toString('utf8') !== header.slice(0, head.length)) {
        throw new StoreError('E_CSV_HEADER', `${path} does not start with netmon's CSV header (${CSV_COLUMNS.join(',')}); it was not modified`, {
          hint: 'give another file with --csv, or move this one aside',
        });
      }
      // A header torn by a crash is a partial line like any other.
      const tailSize = size < header.length ? size : partialTail(fd, size);
      if (tailSize > 0) {
        const tail = Buffer.alloc(tailSize);
        fs.readSync(fd, tail, 0, tailSize, size - tailSize);
        repaired = `${path}.partial-${now().toISOString().replace(/[:.]/g, '-')}`;
        fs.writeFileSync(repaired, tail, { mode: 0o644 });
        fs.ftruncateSync(fd, size - tailSize);
        size -= tailSize;
      }
    }
    const text = (size === 0 ? header : '') + formatCsv(rows);
    try {
      fs.writeSync(fd, text);
    } catch (error) {
      fs.ftruncateSync(fd, size);
      throw error;
    }
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError('E_CSV_WRITE', `could not append to the CSV trail (it is unchanged): ${describeErrno(error, 'writing', path)}`, { cause: error });
  } finally {
    fs.closeSync(fd);
  }
  return { rows: rows.length, ...(repaired ? { repaired } : {}) };
}

/** Bytes after the last line end (0 when the file ends with one). A record ends in CRLF, but a
 * quoted cell may hold a bare LF; a crash can only tear the last record, which is what follows
 * the last CRLF. */
function partialTail(fd: number, size: number): number {
  const chunk = 1 << 16;
  let end = size;
  let tail = 0;
  while (end > 0) {
    const start = Math.max(0, end - chunk);
    const buf = Buffer.alloc(end - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    for (let i = buf.length - 1; i >= 0; i--) {
      if (buf[i] === 0x0a && i > 0 && buf[i - 1] === 0x0d) return tail;
      if (buf[i] === 0x0a && i === 0 && start > 0) {
        const prev = Buffer.alloc(1);
        fs.readSync(fd, prev, 0, 1, start - 1);
        if (prev[0] === 0x0d) return tail;
      }
      tail++;
    }
    end = start;
  }
  return tail;
}
