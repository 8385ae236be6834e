import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { ALL_STATES, PROC_NET_TABLES, parseProcNet, statesStillListed } from '../../src/collect/parse/proc-net.js';
import { ParseError } from '../../src/errors.js';
import { isListeningState, type RawSocket, type SocketRow, type SocketState } from '../../src/model/types.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/linux/${name}`, import.meta.url), 'utf8');
const LE = { littleEndian: true } as const;

const TCP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ';
const TCP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

/** The one socket whose local (and, if given, remote) port match. */
function find(sockets: RawSocket[], localPort: number, remotePort?: number): RawSocket {
  const found = sockets.filter((s) => s.localPort === localPort && (remotePort === undefined || s.remotePort === remotePort));
  expect(found, `sockets with local port ${localPort}${remotePort === undefined ? '' : ` and remote port ${remotePort}`}`).toHaveLength(1);
  return found[0]!;
}

/** The row a parser makes of `raw`: shaped as a record, with the table's namespace, listening flag and no owners yet. */
function row(raw: RawSocket, netns = 0): SocketRow {
  return { ...raw, netns, listening: isListeningState(raw.state), owners: [] };
}

/** Run `fn`, expecting a ParseError, and return it. */
function parseError(fn: () => unknown): ParseError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ParseError);
    return error as ParseError;
  }
  throw new Error('expected a ParseError, nothing was thrown');
}

describe('parseProcNet on captured /proc/net tables', () => {
  it('tcp.txt: IPv4 listener, a pre-existing wildcard listener, a connection and a real TIME_WAIT', () => {
    const sockets = parseProcNet(fixture('tcp.txt'), PROC_NET_TABLES.tcp, LE);
    expect(sockets).toHaveLength(4);
    expect(find(sockets, 41001)).toEqual(row({
      transport: 'tcp',
      family: 'ipv4',
      localAddress: '127.0.0.1',
      localPort: 41001,
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      state: 'LISTEN',
      uid: 0,
      inode: 7122,
    }));
    expect(find(sockets, 2024)).toMatchObject({ localAddress: '0.0.0.0', state: 'LISTEN', inode: 1499 });
    expect(find(sockets, 47402)).toMatchObject({
      localAddress: '127.0.0.1',
      remoteAddress: '127.0.0.1',
      remotePort: 41003,
      state: 'ESTABLISHED',
      inode: 7125,
    });
    expect(find(sockets, 34030)).toMatchObject({ remotePort: 41001, state: 'TIME_WAIT', inode: 0, uid: 0 });
  });

  it('tcp6.txt: ::1 and :: listeners, IPv4-mapped peer shown as plain IPv4, both ends of a ::1 connection', () => {
    const sockets = parseProcNet(fixture('tcp6.txt'), PROC_NET_TABLES.tcp6, LE);
    expect(sockets).toHaveLength(5);
    for (const s of sockets) expect(s).toMatchObject({ transport: 'tcp', family: 'ipv6', uid: 0 });
    expect(find(sockets, 41002, 0)).toMatchObject({ localAddress: '::1', remoteAddress: '::', state: 'LISTEN', inode: 7123 });
    expect(find(sockets, 41003, 0)).toMatchObject({ localAddress: '::', remoteAddress: '::', state: 'LISTEN', inode: 7124 });
    expect(find(sockets, 41003, 47402)).toMatchObject({
      localAddress: '127.0.0.1',
      remoteAddress: '127.0.0.1',
      state: 'ESTABLISHED',
      inode: 7126,
    });
    expect(find(sockets, 41002, 44152)).toMatchObject({ localAddress: '::1', remoteAddress: '::1', state: 'ESTABLISHED', inode: 7128 });
    expect(find(sockets, 44152, 41002)).toMatchObject({ localAddress: '::1', remoteAddress: '::1', state: 'ESTABLISHED', inode: 7127 });
  });

  it('udp.txt: unconnected sockets are UNCONN, a connected one ESTABLISHED, and the uid column is read', () => {
    const sockets = parseProcNet(fixture('udp.txt'), PROC_NET_TABLES.udp, LE);
    expect(sockets).toHaveLength(3);
    expect(find(sockets, 41004)).toEqual(row({
      transport: 'udp',
      family: 'ipv4',
      localAddress: '127.0.0.1',
      localPort: 41004,
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      state: 'UNCONN',
      uid: 0,
      inode: 7131,
    }));
    expect(find(sockets, 41006)).toMatchObject({ remoteAddress: '127.0.0.1', remotePort: 41004, state: 'ESTABLISHED', inode: 7133 });
    expect(find(sockets, 41008)).toMatchObject({ localAddress: '0.0.0.0', state: 'UNCONN', uid: 65534, inode: 7142 });
  });

  it('udp6.txt: unconnected and connected ::1 sockets', () => {
    const sockets = parseProcNet(fixture('udp6.txt'), PROC_NET_TABLES.udp6, LE);
    expect(sockets).toHaveLength(2);
    expect(find(sockets, 41005)).toMatchObject({ family: 'ipv6', localAddress: '::1', remoteAddress: '::', state: 'UNCONN', inode: 7132 });
    expect(find(sockets, 41007)).toMatchObject({ localAddress: '::1', remoteAddress: '::1', remotePort: 41005, state: 'ESTABLISHED', inode: 7134 });
  });

  it('every socket descriptor of the capturing process is in exactly one table, except its Unix socket pair', () => {
    const inodes = fixture('fd-links.txt')
      .split('\n')
      .map((line) => /socket:\[(\d+)\]/.exec(line)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number);
    expect(inodes).toHaveLength(12);
    const all = (['tcp', 'tcp6', 'udp', 'udp6'] as const).flatMap((t) => parseProcNet(fixture(`${t}.txt`), PROC_NET_TABLES[t], LE));
    for (const inode of inodes) {
      expect(all.filter((s) => s.inode === inode), `inode ${inode}`).toHaveLength(inode === 7135 ? 0 : 1);
    }
  });

  it('uses the source option in error messages, and the table name by default', () => {
    expect(parseError(() => parseProcNet('bogus\n', PROC_NET_TABLES.udp6, LE)).source).toBe('udp6');
    const e = parseError(() => parseProcNet('bogus\n', PROC_NET_TABLES.tcp, { littleEndian: true, source: '/proc/42/net/tcp' }));
    expect(e.source).toBe('/proc/42/net/tcp');
    expect(e.message).toMatch(/^\/proc\/42\/net\/tcp:1: /);
  });
});

describe('parseProcNet on hand-written lines', () => {
  it('reads a TIME_WAIT line (inode 0, uid column 0, timer fields set)', () => {
    const text = `${TCP_HEADER}\n   7: 0100007F:1F90 0100007F:D431 06 00000000:00000000 03:00001766 00000000     0        0 0 3 0000000000000000\n`;
    expect(parseProcNet(text, PROC_NET_TABLES.tcp, LE)).toEqual([
      row({
        transport: 'tcp',
        family: 'ipv4',
        localAddress: '127.0.0.1',
        localPort: 8080,
        remoteAddress: '127.0.0.1',
        remotePort: 54321,
        state: 'TIME_WAIT',
        uid: 0,
        inode: 0,
      }),
    ]);
  });

  it('decodes a big-endian host\'s table (words printed in network order)', () => {
    const v4 = `${TCP_HEADER}\n   0: 7F000001:0016 0A000002:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000\n`;
    expect(parseProcNet(v4, PROC_NET_TABLES.tcp, { littleEndian: false })[0]).toMatchObject({
      localAddress: '127.0.0.1',
      localPort: 22,
      remoteAddress: '10.0.0.2',
      remotePort: 50000,
      uid: 1000,
      inode: 4242,
    });
    const v6 =
      `${TCP6_HEADER}\n` +
      '   0: 20010DB8000000000000000000000001:01BB 00000000000000000000FFFFC0A80001:1F90 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000\n';
    expect(parseProcNet(v6, PROC_NET_TABLES.tcp6, { littleEndian: false })[0]).toMatchObject({
      localAddress: '2001:db8::1',
      localPort: 443,
      remoteAddress: '192.168.0.1',
      remotePort: 8080,
    });
    // The same text read as little-endian gives other (byte-swapped) addresses.
    expect(parseProcNet(v4, PROC_NET_TABLES.tcp, LE)[0]!.localAddress).toBe('1.0.0.127');
  });

  it('maps UDP state numbers: 7 is UNCONN, 1 ESTABLISHED, an unknown number UNKNOWN', () => {
    const line = (st: string): string => `   0: 0100007F:0035 00000000:0000 ${st} 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0`;
    const text = `${TCP_HEADER}\n${line('07')}\n${line('01')}\n${line('0A')}\n${line('FF')}\n`;
    expect(parseProcNet(text, PROC_NET_TABLES.udp, LE).map((s) => s.state)).toEqual(['UNCONN', 'ESTABLISHED', 'LISTEN', 'UNKNOWN']);
    expect(parseProcNet(text, PROC_NET_TABLES.tcp, LE).map((s) => s.state)).toEqual(['CLOSE', 'ESTABLISHED', 'LISTEN', 'UNKNOWN']);
  });

  it('accepts a header alone, blank lines and a missing final newline', () => {
    expect(parseProcNet(TCP_HEADER, PROC_NET_TABLES.tcp, LE)).toEqual([]);
    const line = '   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000';
    expect(parseProcNet(`${TCP_HEADER}\n\n   \n${line}`, PROC_NET_TABLES.tcp, LE)).toHaveLength(1);
  });

  it('refuses text without a header, naming line 1', () => {
    const body = fixture('tcp.txt').split('\n').slice(1).join('\n');
    const e = parseError(() => parseProcNet(body, PROC_NET_TABLES.tcp, LE));
    expect(e.line).toBe(1);
    expect(e.message).toMatch(/^tcp:1: .*header/);
    expect(parseError(() => parseProcNet('\n', PROC_NET_TABLES.tcp, LE)).line).toBe(1);
  });

  it('refuses empty text', () => {
    const e = parseError(() => parseProcNet('', PROC_NET_TABLES.tcp, LE));
    expect(e.line).toBeUndefined();
    expect(e.code).toBe('E_PARSE');
  });

  it('refuses a line with too few fields, naming its line number', () => {
    const lines = fixture('tcp.txt').split('\n');
    lines[3] = '   2: 0100007F:B92A 0100007F:A02B 01 00000000:00000000';
    const e = parseError(() => parseProcNet(lines.join('\n'), PROC_NET_TABLES.tcp, LE));
    expect(e.line).toBe(4);
    expect(e.message).toContain('tcp:4:');
    expect(e.message).toContain('found 5');
  });

  it.each([
    ['local address', '   0: 0100007G:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0'],
    ['short address', '   0: 100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0'],
    ['port', '   0: 0100007F:00x6 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0'],
    ['long port', '   0: 0100007F:00016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0'],
    ['remote port', '   0: 0100007F:0016 00000000: 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0'],
    ['state', '   0: 0100007F:0016 00000000:0000 QQ 00000000:00000000 00:00000000 00000000     0        0 5 1 0'],
    ['address without port', '   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0'],
    ['uid', '   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000    -1        0 5 1 0'],
    ['inode', '   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0x5 1 0'],
  ])('refuses a bad %s with a ParseError naming line 2', (_what, line) => {
    const e = parseError(() => parseProcNet(`${TCP_HEADER}\n${line}\n`, PROC_NET_TABLES.tcp, LE));
    expect(e.line).toBe(2);
  });

  it('refuses an IPv4-sized address in an IPv6 table', () => {
    const line = '   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0';
    expect(parseError(() => parseProcNet(`${TCP6_HEADER}\n${line}\n`, PROC_NET_TABLES.tcp6, LE)).line).toBe(2);
  });
});

// ---- property tests ----------------------------------------------------------------------------

const TCP_STATE_NAMES: SocketState[] = [
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];

const hex = (n: number, digits: number): string => n.toString(16).toUpperCase().padStart(digits, '0');

/** One 4-byte word as the kernel prints it: "%08X" of the word read as a host-order u32. */
function word(bytes: readonly number[], littleEndian: boolean): string {
  const [b0, b1, b2, b3] = bytes as [number, number, number, number];
  const value = littleEndian ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0 : ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
  return hex(value, 8);
}

function kernelAddress(bytes: readonly number[], littleEndian: boolean): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) out += word(bytes.slice(i, i + 4), littleEndian);
  return out;
}

/** What netmon should show for address bytes: dotted quad, RFC 5952, IPv4-mapped as IPv4. */
function expectedAddress(bytes: readonly number[]): string {
  if (bytes.length === 4) return bytes.join('.');
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return bytes.slice(12).join('.');
  return (ipaddr.fromByteArray([...bytes]) as ipaddr.IPv6).toRFC5952String();
}

const byte = fc.integer({ min: 0, max: 255 });
const ipv4Bytes = fc.array(byte, { minLength: 4, maxLength: 4 });
/** IPv6 bytes biased towards zero groups (so "::" compression is exercised) and IPv4-mapped addresses. */
const ipv6Bytes = fc.oneof(
  fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }).map((groups) =>
    groups.flatMap((g) => [g >> 8, g & 0xff]),
  ),
  fc.array(byte, { minLength: 16, maxLength: 16 }),
  ipv4Bytes.map((v4) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]),
);

interface GenSocket {
  local: number[];
  localPort: number;
  remote: number[];
  remotePort: number;
  stateNo: number;
  uid: number;
  inode: number;
}

const genSocket = (addr: fc.Arbitrary<number[]>): fc.Arbitrary<GenSocket> =>
  fc.record({
    local: addr,
    localPort: fc.integer({ min: 0, max: 65535 }),
    remote: addr,
    remotePort: fc.integer({ min: 0, max: 65535 }),
    stateNo: fc.integer({ min: 1, max: 12 }),
    uid: fc.integer({ min: 0, max: 0xffffffff }),
    inode: fc.integer({ min: 0, max: 2 ** 40 }),
  });

/** A line in the kernel's layout (net/ipv4/tcp_ipv4.c get_tcp4_sock, net/ipv6/tcp_ipv6.c get_tcp6_sock). */
function kernelLine(sl: number, s: GenSocket, littleEndian: boolean): string {
  return (
    `${String(sl).padStart(4)}: ${kernelAddress(s.local, littleEndian)}:${hex(s.localPort, 4)} ` +
    `${kernelAddress(s.remote, littleEndian)}:${hex(s.remotePort, 4)} ${hex(s.stateNo, 2)} ` +
    `00000000:00000000 00:00000000 00000000 ${String(s.uid).padStart(5)} ${String(0).padStart(8)} ${s.inode} 1 0000000000000000 100 0 0 10 0`
  );
}

const expectedState = (transport: 'tcp' | 'udp', n: number): SocketState =>
  transport === 'udp' && n === 7 ? 'UNCONN' : TCP_STATE_NAMES[n - 1]!;

describe('parseProcNet properties', () => {
  it('throws nothing but ParseError for arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom('tcp', 'tcp6', 'udp', 'udp6'), fc.boolean(), (text, t, le) => {
        try {
          parseProcNet(text, PROC_NET_TABLES[t as 'tcp'], { littleEndian: le });
        } catch (error) {
          if (!(error instanceof ParseError)) throw error;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('throws nothing but ParseError for arbitrary lines after a valid header', () => {
    const token = fc.oneof(
      fc.constantFrom('0:', '0100007F:0016', '00000000000000000000000001000000:A02A', '0A', '07', '00000000:00000000', '00:00000000', '0', '65534', '7122', ':', '', 'ZZ', '-1'),
      fc.string({ maxLength: 12 }),
    );
    const line = fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.array(token, { maxLength: 14 }).map((ts) => `  ${ts.join(' ')}`));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.constantFrom('tcp', 'tcp6', 'udp', 'udp6'), (lines, t) => {
        try {
          const out = parseProcNet([TCP6_HEADER, ...lines].join('\n'), PROC_NET_TABLES[t as 'tcp'], LE);
          expect(out.length).toBeLessThanOrEqual(lines.length);
        } catch (error) {
          if (!(error instanceof ParseError)) throw error;
          expect(error.line).toBeGreaterThanOrEqual(2);
        }
      }),
      { numRuns: 500 },
    );
  });

  for (const [name, addr] of [
    ['tcp', ipv4Bytes],
    ['udp', ipv4Bytes],
    ['tcp6', ipv6Bytes],
    ['udp6', ipv6Bytes],
  ] as const) {
    it(`round-trips sockets formatted as kernel ${name} lines (both byte orders)`, () => {
      const table = PROC_NET_TABLES[name];
      fc.assert(
        fc.property(fc.array(genSocket(addr), { maxLength: 6 }), fc.boolean(), (sockets, littleEndian) => {
          const text = [name.endsWith('6') ? TCP6_HEADER : TCP_HEADER, ...sockets.map((s, i) => kernelLine(i, s, littleEndian))].join('\n') + '\n';
          const parsed = parseProcNet(text, table, { littleEndian });
          expect(parsed).toEqual(
            sockets.map((s) => row({
              transport: table.transport,
              family: table.family,
              localAddress: expectedAddress(s.local),
              localPort: s.localPort,
              remoteAddress: expectedAddress(s.remote),
              remotePort: s.remotePort,
              state: expectedState(table.transport, s.stateNo),
              uid: s.uid,
              inode: s.inode,
            })),
          );
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('statesStillListed', () => {
  it('narrows a re-read to LISTEN (kernel state 10) only when every socket looked for is a TCP listener', () => {
    expect(statesStillListed('tcp', ['LISTEN', 'LISTEN'])).toBe(1 << 10);
    expect(statesStillListed('tcp', ['LISTEN', 'ESTABLISHED'])).toBe(ALL_STATES);
    expect(statesStillListed('tcp', ['CLOSE_WAIT'])).toBe(ALL_STATES);
    // UDP's states change with connect(): every state.
    expect(statesStillListed('udp', ['UNCONN'])).toBe(ALL_STATES);
  });
});
