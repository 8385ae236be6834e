import { ParseError } from '../../errors.js';
import { isListeningState, type Family, type RawSocket, type SocketOwner, type SocketRow, type SocketState, type Transport } from '../../model/types.js';
import { decodeIpv4, decodeIpv6 } from './address.js';

/** Kernel TCP state numbers, include/net/tcp_states.h. */
const TCP_STATES: Record<number, SocketState> = {
  1: 'ESTABLISHED',
  2: 'SYN_SENT',
  3: 'SYN_RECV',
  4: 'FIN_WAIT1',
  5: 'FIN_WAIT2',
  6: 'TIME_WAIT',
  7: 'CLOSE',
  8: 'CLOSE_WAIT',
  9: 'LAST_ACK',
  10: 'LISTEN',
  11: 'CLOSING',
  12: 'NEW_SYN_RECV',
};

/** Every kernel state: a sock_diag state mask (1 << state number) that filters nothing. */
export const ALL_STATES = 0xffffffff;

/**
 * The states, as a sock_diag mask (1 << state number), in which sockets of one table seen in
 * `states` can still be in the table. A TCP listener stays LISTEN while it is listed (shut down
 * or closed, it leaves the table: a CLOSE socket is in no table); any other socket may have moved
 * to any state. With LISTEN alone the kernel walks only its listening hash. Pure.
 */
export function statesStillListed(transport: Transport, states: Iterable<SocketState>): number {
  if (transport !== 'tcp') return ALL_STATES;
  for (const state of states) if (state !== 'LISTEN') return ALL_STATES;
  return 1 << 10;
}

export interface ProcNetTable {
  transport: Transport;
  family: Family;
}

/** The four tables netmon reads, by file name under /proc/<pid>/net/. */
export const PROC_NET_TABLES: Record<'tcp' | 'tcp6' | 'udp' | 'udp6', ProcNetTable> = {
  tcp: { transport: 'tcp', family: 'ipv4' },
  tcp6: { transport: 'tcp', family: 'ipv6' },
  udp: { transport: 'udp', family: 'ipv4' },
  udp6: { transport: 'udp', family: 'ipv6' },
};

export interface ParseProcNetOptions {
  /** Name used in error messages, e.g. "/proc/1/net/tcp6". */
  source?: string;
  /** Byte order of the host that produced the text (see address.ts). */
  littleEndian: boolean;
  /** Inode of the network namespace the table belongs to, stored in each row (default 0: unknown). */
  netns?: number;
}

/** The owners of a row until attribution gives it its own list. Never modified. */
const NO_OWNERS: SocketOwner[] = [];

/**
 * Parse the text of /proc/net/{tcp,tcp6,udp,udp6} (format: proc(5), "/proc/net/tcp").
 * Pure: never touches the OS. Throws only `ParseError`, naming the line.
 */
export function parseProcNet(text: string, table: ProcNetTable, options: ParseProcNetOptions): SocketRow[] {
  const source = options.source ?? `${table.transport}${table.family === 'ipv6' ? '6' : ''}`;
  const decode = table.family === 'ipv4' ? decodeIpv4 : decodeIpv6;
  const addrLen = table.family === 'ipv4' ? 8 : 32;
  // Tables repeat the same few addresses thousands of times; decode each once.
  const addresses = new Map<string, string>();
  const address = (hex: string, lineNo: number): string => {
    let value = addresses.get(hex);
    if (value === undefined) {
      if (hex.length !== addrLen) {
        throw new ParseError(source, lineNo, `address ${JSON.stringify(hex)} should have ${addrLen} hex digits`);
      }
      try {
        value = decode(hex, options.littleEndian, source);
      } catch (error) {
        throw new ParseError(source, lineNo, (error as Error).message);
      }
      addresses.set(hex, value);
    }
    return value;
  };

  // IPv4 addresses are looked up by their numeric value: no substring per row.
  const v4 = table.family === 'ipv4';
  const addresses4 = new Map<number, string>();
  const address4 = (t: string, start: number, end: number, lineNo: number): string => {
    let key = end - start === 8 ? 0 : -1;
    for (let i = start; key >= 0 && i < end; i++) {
      const c = t.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
      key = d < 0 ? -1 : key * 16 + d;
    }
    if (key < 0) return address(t.slice(start, end), lineNo); // reports the error
    let value = addresses4.get(key);
    if (value === undefined) {
      value = address(t.slice(start, end), lineNo);
      addresses4.set(key, value);
    }
    return value;
  };

  const out: SocketRow[] = [];
  const netns = options.netns ?? 0;
  const udp = table.transport === 'udp';
  // Token bounds of the first ten fields of a row, reused for every row: the tables of a busy
  // host have tens of thousands of rows, and splitting each into strings costs more than parsing.
  const from = new Int32Array(10);
  const to = new Int32Array(10);
  let start = 0;
  let lineNo = 0;
  const length = text.length;
  while (start < length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = length;
    lineNo++;
    if (lineNo === 1) {
      if (!/^\s*sl\s+local_address/.test(text.slice(start, end))) {
        throw new ParseError(source, 1, 'missing header line ("sl local_address rem_address ...")');
      }
      start = end + 1;
      continue;
    }
    let count = 0;
    let i = start;
    while (count < 10) {
      while (i < end && text.charCodeAt(i) <= 32) i++;
      if (i >= end) break;
      from[count] = i;
      while (i < end && text.charCodeAt(i) > 32) i++;
      to[count++] = i;
    }
    if (count === 0) {
      start = end + 1;
      continue;
    }
    if (count < 10) {
      const found = text.slice(start, end).trim().split(/\s+/).length;
      throw new ParseError(source, lineNo, `expected at least 10 fields, found ${found}`);
    }
    const lc = text.indexOf(':', from[1]!);
    const rc = text.indexOf(':', from[2]!);
    if (lc < 0 || lc >= to[1]! || rc < 0 || rc >= to[2]!) throw new ParseError(source, lineNo, 'address fields must be ADDR:PORT');
    const localPort = hexAt(text, lc + 1, to[1]!, 4, source, lineNo, 'local port');
    const remotePort = hexAt(text, rc + 1, to[2]!, 4, source, lineNo, 'remote port');
    const stateNo = hexAt(text, from[3]!, to[3]!, 2, source, lineNo, 'state');
    const uid = decimalAt(text, from[7]!, to[7]!, source, lineNo, 'uid');
    const inode = decimalAt(text, from[9]!, to[9]!, source, lineNo, 'inode');
    const state = stateOf(udp, stateNo);
    out.push({
      transport: table.transport,
      family: table.family,
      localAddress: v4 ? address4(text, from[1]!, lc, lineNo) : address(text.slice(from[1]!, lc), lineNo),
      localPort,
      remoteAddress: v4 ? address4(text, from[2]!, rc, lineNo) : address(text.slice(from[2]!, rc), lineNo),
      remotePort,
      state,
      uid,
      inode,
      netns,
      listening: isListeningState(state),
      owners: NO_OWNERS,
    });
    start = end + 1;
  }
  if (lineNo === 0) throw new ParseError(source, undefined, 'empty table (no header line)');
  return out;
}

/** UDP reuses TCP state numbers: 7 (TCP_CLOSE) is an unconnected socket, 1 a connected one. */
function stateOf(udp: boolean, stateNo: number): SocketState {
  if (udp) return stateNo === 7 ? 'UNCONN' : stateNo === 1 ? 'ESTABLISHED' : (TCP_STATES[stateNo] ?? 'UNKNOWN');
  return TCP_STATES[stateNo] ?? 'UNKNOWN';
}

/** A table already split into columns (by the native scanner): five numbers and two address indices per row. */
export interface ProcNetColumns {
  /** localPort, remotePort, state, uid, inode for each row. */
  nums: ArrayLike<number>;
  /** local and remote address, as indices into `hex`, for each row. */
  addrs: ArrayLike<number>;
  /** Distinct address fields, as in the text. */
  hex: string[];
}

/** Rows from columns: the same records `parseProcNet` makes from the text. Pure. */
export function socketsFromColumns(columns: ProcNetColumns, table: ProcNetTable, options: ParseProcNetOptions): SocketRow[] {
  const source = options.source ?? `${table.transport}${table.family === 'ipv6' ? '6' : ''}`;
  const decode = table.family === 'ipv4' ? decodeIpv4 : decodeIpv6;
  const addresses = columns.hex.map((hex) => {
    try {
      return decode(hex, options.littleEndian, source);
    } catch (error) {
      throw new ParseError(source, undefined, (error as Error).message);
    }
  });
  const { nums, addrs } = columns;
  const udp = table.transport === 'udp';
  const rows = Math.floor(nums.length / 5);
  const out: SocketRow[] = new Array(rows);
  const netns = options.netns ?? 0;
  for (let r = 0; r < rows; r++) {
    const n = r * 5;
    const state = stateOf(udp, nums[n + 2]!);
    out[r] = {
      transport: table.transport,
      family: table.family,
      localAddress: addresses[addrs[2 * r]!]!,
      localPort: nums[n]!,
      remoteAddress: addresses[addrs[2 * r + 1]!]!,
      remotePort: nums[n + 1]!,
      state,
      uid: nums[n + 3]!,
      inode: nums[n + 4]!,
      netns,
      listening: isListeningState(state),
      owners: NO_OWNERS,
    };
  }
  return out;
}

/** Hex number in text[start, end), at most `maxDigits` digits. */
function hexAt(text: string, start: number, end: number, maxDigits: number, source: string, line: number, what: string): number {
  const digits = end - start;
  let value = 0;
  let ok = digits > 0 && digits <= maxDigits;
  for (let i = start; ok && i < end; i++) {
    const c = text.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) ok = false;
    else value = value * 16 + d;
  }
  if (!ok) {
    throw new ParseError(source, line, `${what} ${JSON.stringify(text.slice(start, end))} is not a hex number of at most ${maxDigits} digits`);
  }
  return value;
}

/** Unsigned decimal number in text[start, end), at most 15 digits. */
function decimalAt(text: string, start: number, end: number, source: string, line: number, what: string): number {
  const digits = end - start;
  let value = 0;
  let ok = digits > 0 && digits <= 15;
  for (let i = start; ok && i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) ok = false;
    else value = value * 10 + d;
  }
  if (!ok) throw new ParseError(source, line, `${what} ${JSON.stringify(text.slice(start, end))} is not a decimal number`);
  return value;
}

/**
 * Call `visit` with the inode (field 10) of every row of a /proc/net table, decoding nothing
 * else: for re-checking which sockets are still there. Rows it cannot read are skipped.
 */
export function forEachProcNetInode(text: string, visit: (inode: number) => void): void {
  const length = text.length;
  let start = text.indexOf('\n') + 1; // past the header line
  while (start > 0 && start < length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = length;
    let i = start;
    for (let field = 0; i < end; field++) {
      while (i < end && text.charCodeAt(i) === 32) i++;
      let j = i;
      while (j < end && text.charCodeAt(j) !== 32) j++;
      if (field === 9) {
        const inode = Number(text.slice(i, j));
        if (j > i && Number.isInteger(inode)) visit(inode);
        break;
      }
      i = j;
    }
    start = end + 1;
  }
}
