import { formatEndpoint } from '../collect/parse/address.js';
import { FilterError } from '../errors.js';
import { protoName, STATE_LABELS, type FilterSpec, type ProcessRecord, type SocketRecord, type SocketState } from '../model/types.js';
import { endpointMatches, parseEndpointFilter, type EndpointFilter } from './endpoint-filter.js';
import { compileGlob, globMeets, type Glob, type TextLanguage } from './glob.js';

/** The socket fields filters look at; `SocketRecord` satisfies it. */
export type FilterableSocket = Pick<
  SocketRecord,
  'transport' | 'family' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort' | 'state' | 'listening'
>;

/** Compiled filters. Within one kind any pattern may match; every kind given must match. */
export interface CompiledFilters {
  /** Nothing to filter on. */
  empty: boolean;
  /** Filters on addresses, ports, protocol and state. */
  socket(socket: FilterableSocket, remoteHost?: (address: string) => string | undefined): boolean;
  /** True when `--process`, `--path` or `--user` were given. */
  needsProcess: boolean;
  /** Tuple patterns use the remote host name. */
  needsHostNames: boolean;
  /** Filters on the owning process (undefined for an unattributed socket). */
  process(process: ProcessRecord | undefined): boolean;
}

/** `<proto>/<ip>/<port>` keys of a socket: the local endpoint, and the remote one when connected. */
export function socketKeys(socket: FilterableSocket): string[] {
  const proto = protoName(socket);
  const keys = [`${proto}/${socket.localAddress}/${socket.localPort}`];
  if (!socket.listening) keys.push(`${proto}/${socket.remoteAddress}/${socket.remotePort}`);
  return keys;
}

function compileKeyGlob(pattern: string, option: string): Glob {
  if (/\s/.test(pattern)) throw new FilterError(pattern, option, 'keys have no spaces: use <proto>/<ip>/<port>, e.g. "tcp*/*/80"');
  if ((pattern.match(/\//g) ?? []).length > 2) throw new FilterError(pattern, option, 'a key has three parts, <proto>/<ip>/<port>');
  return compileGlob(pattern, option);
}

/**
 * Every text a socket key can be, and some more: tcp, udp, tcp6 or udp6, "/", an address of
 * lowercase hexadecimal digits, dots and colons, "/", a port of one to five digits. Enough to
 * tell a key pattern that no socket can ever match ("*:80", "tpc/*\/80", "tcp6/FE80::*\/*").
 */
const KEY_LANGUAGE: TextLanguage = (() => {
  const DIGITS = '0123456789';
  const ADDRESS = `${DIGITS}abcdef.:`;
  // States: 0 start; 1 t; 2 tc; 3 u; 4 ud; 5 tcp or udp; 6 with 6; 7 "/" read; 8 in the address; 9 second "/"; 10 to 14 port digits.
  const edges = new Map<string, number>([
    ['0t', 1], ['1c', 2], ['2p', 5], ['0u', 3], ['3d', 4], ['4p', 5], ['56', 6], ['5/', 7], ['6/', 7], ['8/', 9],
  ]);
  const alphabet = [...new Set(`tcpud6/${ADDRESS}`)];
  return {
    alphabet,
    start: 0,
    accepting: new Set([10, 11, 12, 13, 14]),
    next(state, c) {
      const edge = edges.get(`${state}${c}`);
      if (edge !== undefined) return [edge];
      if ((state === 7 || state === 8) && ADDRESS.includes(c)) return [8];
      if (state >= 9 && state < 14 && DIGITS.includes(c)) return [state + 1];
      return [];
    },
  };
})();

/**
 * Every text the LOCAL and REMOTE fields of `--match` are matched against, and some more: an IPv4
 * address of digits and dots or an IPv6 one of lowercase hexadecimal digits, colons and dots in
 * brackets, then ":" and a port of one to five digits; or "*:*", the remote end of a listener.
 */
const ENDPOINT_LANGUAGE: TextLanguage = (() => {
  const DIGITS = '0123456789';
  const V6 = `${DIGITS}abcdef:.`;
  // States: 0 start; 2 "[" read; 3 in an IPv6 address; 4 "]" read; 5 ":" before the port; 6 to 10
  // port digits; 11 "*"; 12 "*:"; 13 "*:*"; IPv4: 100 + 3 * group + digits - 1 in a group of one to
  // three digits, 200 + group after the dot that begins it.
  const group = (state: number): number => Math.floor((state - 100) / 3);
  return {
    alphabet: [...new Set(`${V6}[]*`)],
    start: 0,
    accepting: new Set([6, 7, 8, 9, 10, 13]),
    next(state, c) {
      const digit = DIGITS.includes(c);
      if (state === 0 && digit) return [100];
      if (state >= 200 && digit) return [100 + 3 * (state - 200)];
      if (state >= 100 && state < 112) {
        if (digit && (state - 100) % 3 < 2) return [state + 1];
        if (c === '.' && group(state) < 3) return [200 + group(state) + 1];
        if (c === ':' && group(state) === 3) return [5];
        return [];
      }
      if (state === 0 && c === '[') return [2];
      if ((state === 2 || state === 3) && V6.includes(c)) return [3];
      if (state === 3 && c === ']') return [4];
      if (state === 4 && c === ':') return [5];
      if (state >= 5 && state < 10 && DIGITS.includes(c)) return [state + 1];
      if (state === 0 && c === '*') return [11];
      if (state === 11 && c === ':') return [12];
      if (state === 12 && c === '*') return [13];
      return [];
    },
  };
})();

/**
 * The first `--include` or `--exclude` pattern that no socket key can match, or `--match` pattern
 * whose LOCAL or REMOTE field no end can match, as the error that names it, or null. A typo there
 * would otherwise select nothing (an include, a match) or leave out nothing (an exclude),
 * silently, at every capture. Given patterns only: those stored with earlier captures are read as
 * they are. Pure.
 */
export function patternMatchingNothing(spec: Pick<FilterSpec, 'include' | 'exclude' | 'match'>): FilterError | null {
  for (const [option, patterns] of [['--include', spec.include ?? []], ['--exclude', spec.exclude ?? []]] as const) {
    for (const pattern of patterns) {
      if (globMeets(compileKeyGlob(pattern, option), KEY_LANGUAGE)) continue;
      const hints: string[] = [];
      if (/(^[^/]*|\.[0-9]+):[0-9*?]+$/.test(pattern)) hints.push('a port follows a "/", not a ":"');
      if (/[A-F]/.test(pattern)) hints.push('addresses are in lowercase');
      const proto = pattern.split('/')[0] ?? '';
      if (pattern.includes('/') && !/[*?[\\]/.test(proto) && !['tcp', 'udp', 'tcp6', 'udp6'].includes(proto)) hints.push(`the protocol is tcp, udp, tcp6 or udp6, not ${JSON.stringify(proto)}`);
      return new FilterError(pattern, option, `no socket key can match it${hints.length > 0 ? ` (${hints.join('; ')})` : ''}: keys are <proto>/<ip>/<port>, e.g. tcp/127.0.0.1/22, udp6/::1/53; patterns such as "tcp*/*/80", "*/10.0.*/*"`);
    }
  }
  // The LOCAL and REMOTE fields of --match (compileTuple has checked the protocol and the state).
  for (const pattern of spec.match ?? []) {
    const parts = pattern.trim().split(/\s+/);
    for (const [k, field] of [[1, 'LOCAL'], [2, 'REMOTE']] as const) {
      const part = parts[k];
      if (part === undefined || globMeets(compileGlob(part, '--match'), ENDPOINT_LANGUAGE)) continue;
      const hints: string[] = [];
      if (/^[^[]*[0-9a-f]*:[0-9a-f]*:/.test(part) && !part.includes('[')) hints.push('an IPv6 address is written in brackets, [::1]:22, which a glob writes \\[::1\\]:22');
      if (part.startsWith('[')) hints.push('in a glob "[" begins a set of characters: write \\[::1\\]:22 for [::1]:22');
      if (/\//.test(part)) hints.push('a port follows a ":", not a "/"');
      if (/[A-F]/.test(part)) hints.push('addresses are in lowercase');
      return new FilterError(pattern, '--match', `no socket's ${field} end can match ${JSON.stringify(part)}${hints.length > 0 ? ` (${hints.join('; ')})` : ''}: it is address:port, e.g. 127.0.0.1:22, [::1]:22, *:443 (the REMOTE of a listener is *:*)`);
    }
  }
  return null;
}

interface TuplePattern {
  proto: Glob;
  local: Glob;
  remote: Glob;
  remoteHost: Glob;
  state: Glob;
}

const TUPLE_FIELDS = ['proto', 'local', 'remote', 'remote-host', 'state'] as const;

function compileTuple(pattern: string): TuplePattern {
  const option = '--match';
  const parts = pattern.trim().split(/\s+/).filter((p) => p !== '');
  if (parts.length === 0) throw new FilterError(pattern, option, 'the pattern is empty');
  if (parts.length > TUPLE_FIELDS.length) {
    throw new FilterError(pattern, option, `expected at most 5 space-separated globs (${TUPLE_FIELDS.join(' ')}), found ${parts.length}`);
  }
  const glob = (i: number, flags = ''): Glob => compileGlob(parts[i] ?? '*', option, flags);
  const tuple = { proto: glob(0, 'i'), local: glob(1), remote: glob(2), remoteHost: glob(3, 'i'), state: glob(4, 'i') };
  // A protocol or state glob that no socket could ever match is a typo ("ESTABLISHD", "tcpp"), not a filter: said, not an empty table.
  if (!PROTOCOL_NAMES.some((p) => tuple.proto.test(p))) {
    throw new FilterError(pattern, option, `no protocol is called ${JSON.stringify(parts[0])}: the first field is one of ${PROTOCOL_NAMES.join(', ')} (globs allowed, e.g. tcp*)`);
  }
  if (!STATE_NAMES.some((name) => tuple.state.test(name) || tuple.state.test(STATE_LABELS[name]))) {
    throw new FilterError(pattern, option, `no socket state is called ${JSON.stringify(parts[4])}: the fifth field is one of ${STATE_NAMES.filter((n) => n !== 'UNKNOWN').map((n) => (STATE_LABELS[n] === n ? n : `${n} (${STATE_LABELS[n]})`)).join(', ')}`);
  }
  return tuple;
}

/**
 * The `--match` patterns that no listener can match: a listener's state is LISTEN (TCP) or UNCONN
 * (UDP), its remote end `*:*` and its remote host `*`. With `--listening-only` such a pattern
 * selects nothing. Pure.
 */
export function tuplesWithoutListeners(patterns: readonly string[]): string[] {
  return patterns.filter((pattern) => {
    const t = compileTuple(pattern);
    const state = (['LISTEN', 'UNCONN'] as const).some((s) => t.state.test(s) || t.state.test(STATE_LABELS[s]));
    return !(state && t.remote.test('*:*') && t.remoteHost.test('*'));
  });
}

/** What the protocol field of --match can match: the transport, with or without the IP version. */
const PROTOCOL_NAMES = ['tcp', 'udp', 'tcp4', 'tcp6', 'udp4', 'udp6'] as const;
const STATE_NAMES = Object.keys(STATE_LABELS) as SocketState[];

function tupleMatches(t: TuplePattern, socket: FilterableSocket, remoteHost?: (address: string) => string | undefined): boolean {
  const family = socket.family === 'ipv6' ? '6' : '4';
  if (!t.proto.test(socket.transport) && !t.proto.test(`${socket.transport}${family}`)) return false;
  if (!t.local.test(formatEndpoint(socket.localAddress, socket.localPort))) return false;
  const remote = socket.listening ? '*:*' : formatEndpoint(socket.remoteAddress, socket.remotePort);
  if (!t.remote.test(remote)) return false;
  const host = socket.listening ? '*' : (remoteHost?.(socket.remoteAddress) ?? socket.remoteAddress);
  if (!t.remoteHost.test(host)) return false;
  // The kernel's name (TIME_WAIT) or the live view's (TIME-WAIT, ESTAB).
  return t.state.test(socket.state) || t.state.test(STATE_LABELS[socket.state]);
}

function endpointFilterMatches(f: EndpointFilter, socket: FilterableSocket): boolean {
  if (f.transport !== undefined && f.transport !== socket.transport) return false;
  if (f.family !== undefined && f.family !== socket.family) return false;
  if (endpointMatches(f, socket.localAddress, socket.localPort)) return true;
  return !socket.listening && endpointMatches(f, socket.remoteAddress, socket.remotePort);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Compile every pattern of a filter spec, or throw a `FilterError` naming the first bad one.
 * Pure: no I/O.
 */
export function compileFilters(spec: FilterSpec = {}): CompiledFilters {
  const endpoints = (spec.filter ?? []).map(parseEndpointFilter);
  const includes = (spec.include ?? []).map((p) => compileKeyGlob(p, '--include'));
  const excludes = (spec.exclude ?? []).map((p) => compileKeyGlob(p, '--exclude'));
  const tuples = (spec.match ?? []).map(compileTuple);
  const processes = (spec.process ?? []).map((p) => compileGlob(p, '--process'));
  const paths = (spec.path ?? []).map((p) => compileGlob(p, '--path'));
  const users = (spec.user ?? []).map((p) => compileGlob(p, '--user'));
  const needsProcess = processes.length + paths.length + users.length > 0;
  const socketFilters = endpoints.length + includes.length + excludes.length + tuples.length > 0;

  return {
    empty: !needsProcess && !socketFilters,
    needsProcess,
    needsHostNames: tuples.length > 0,
    socket(socket, remoteHost) {
      if (endpoints.length > 0 && !endpoints.some((f) => endpointFilterMatches(f, socket))) return false;
      if (includes.length > 0 || excludes.length > 0) {
        const keys = socketKeys(socket);
        if (includes.length > 0 && !includes.some((re) => keys.some((k) => re.test(k)))) return false;
        if (excludes.some((re) => keys.some((k) => re.test(k)))) return false;
      }
      if (tuples.length > 0 && !tuples.some((t) => tupleMatches(t, socket, remoteHost))) return false;
      return true;
    },
    process(process) {
      if (!needsProcess) return true;
      if (!process) return false;
      if (processes.length > 0) {
        const names = [process.name];
        if (process.executable) names.push(basename(process.executable));
        if (!processes.some((re) => names.some((n) => re.test(n)))) return false;
      }
      if (paths.length > 0 && (process.executable === null || !paths.some((re) => re.test(process.executable!)))) return false;
      if (users.length > 0) {
        const ids = [process.user ?? '', process.uid === null ? '' : String(process.uid)].filter((s) => s !== '');
        if (!users.some((re) => ids.some((id) => re.test(id)))) return false;
      }
      return true;
    },
  };
}
