import { ParseError } from '../../errors.js';
import type { Family, RawSocket, SocketState, Transport } from '../../model/types.js';
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
}

/**
 * Parse the text of /proc/net/{tcp,tcp6,udp,udp6} (format: proc(5), "/proc/net/tcp").
 * Pure: never touches the OS. Throws only `ParseError`, naming the line.
 */
export function parseProcNet(text: string, table: ProcNetTable, options: ParseProcNetOptions): RawSocket[] {
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

  const out: RawSocket[] = [];
  let start = 0;
  let lineNo = 0;
  const length = text.length;
  while (start < length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = length;
    const line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (lineNo === 1) {
      if (!/^\s*sl\s+local_address/.test(line)) {
        throw new ParseError(source, 1, 'missing header line ("sl local_address rem_address ...")');
      }
      continue;
    }
    const fields = line.trim().split(/\s+/);
    if (fields.length === 1 && fields[0] === '') continue;
    if (fields.length < 10) {
      throw new ParseError(source, lineNo, `expected at least 10 fields, found ${fields.length}`);
    }
    const [, local, remote, st, , , , uidText, , inodeText] = fields as [string, string, string, string, string, string, string, string, string, string];
    const lc = local.indexOf(':');
    const rc = remote.indexOf(':');
    if (lc < 0 || rc < 0) throw new ParseError(source, lineNo, 'address fields must be ADDR:PORT');
    const localPort = parseHexField(local.slice(lc + 1), 4, source, lineNo, 'local port');
    const remotePort = parseHexField(remote.slice(rc + 1), 4, source, lineNo, 'remote port');
    const stateNo = parseHexField(st, 2, source, lineNo, 'state');
    const uid = parseDecField(uidText, source, lineNo, 'uid');
    const inode = parseDecField(inodeText, source, lineNo, 'inode');
    let state: SocketState;
    if (table.transport === 'udp') {
      // UDP reuses TCP numbers: 7 (TCP_CLOSE) is an unconnected socket, 1 a connected one.
      state = stateNo === 7 ? 'UNCONN' : stateNo === 1 ? 'ESTABLISHED' : (TCP_STATES[stateNo] ?? 'UNKNOWN');
    } else {
      state = TCP_STATES[stateNo] ?? 'UNKNOWN';
    }
    out.push({
      transport: table.transport,
      family: table.family,
      localAddress: address(local.slice(0, lc), lineNo),
      localPort,
      remoteAddress: address(remote.slice(0, rc), lineNo),
      remotePort,
      state,
      uid,
      inode,
    });
  }
  if (lineNo === 0) throw new ParseError(source, undefined, 'empty table (no header line)');
  return out;
}

function parseHexField(text: string, maxDigits: number, source: string, line: number, what: string): number {
  if (text.length === 0 || text.length > maxDigits || !/^[0-9A-Fa-f]+$/.test(text)) {
    throw new ParseError(source, line, `${what} ${JSON.stringify(text)} is not a hex number of at most ${maxDigits} digits`);
  }
  return parseInt(text, 16);
}

function parseDecField(text: string, source: string, line: number, what: string): number {
  if (!/^\d{1,15}$/.test(text)) {
    throw new ParseError(source, line, `${what} ${JSON.stringify(text)} is not a decimal number`);
  }
  return Number(text);
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
