import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NamespaceRecord, ProcessRecord, Snapshot, SocketRecord, SocketState, UnattributedReason } from '../../src/model/types.js';
import { renderCoverageLine, renderLeftOutLine, renderText } from '../../src/outputs/text.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

const LONG_V6_A = '2001:db8:1234:5678:9abc:def0:1234:5678';
const LONG_V6_B = 'fd12:3456:789a:bcde:f012:3456:789a:bcde';

/** The table part of the output: the column header and one line per socket. */
function tableLines(text: string, snapshot: Snapshot): string[] {
  const lines = text.split('\n');
  // title, header, rows..., coverage (one line or more, fitted to the width), '' (after the final newline)
  expect(lines[2 + snapshot.sockets.length]).toMatch(/^coverage: /);
  expect(lines.slice(3 + snapshot.sockets.length, -1).every((l) => l.startsWith('  '))).toBe(true);
  expect(lines.at(-1)).toBe('');
  return lines.slice(1, 2 + snapshot.sockets.length);
}

/** Display columns of a line made of ASCII and the "…" ellipsis (one column each). */
const columns = (line: string): number => [...line].length;

const HOST_NS: NamespaceRecord = { inode: 4026531840, name: 'host', host: true, processes: 10, sockets: 1, read: true };

function withNamespaces(snapshot: Snapshot, namespaces: NamespaceRecord[]): Snapshot {
  return { ...snapshot, namespaces };
}

/** A busy-looking table: long IPv6 endpoints, long process and user names. */
function wideSnapshot(): Snapshot {
  const processes = [
    makeProcess({ pid: 31337, name: 'a-very-long-name', user: 'a-very-long-user-name-from-ldap' }),
    makeProcess({ pid: 2, name: 'sshd', user: 'root', uid: 0 }),
  ];
  const sockets = [
    makeSocket({
      family: 'ipv6',
      localAddress: LONG_V6_A,
      localPort: 65001,
      remoteAddress: LONG_V6_B,
      remotePort: 54321,
      state: 'ESTABLISHED',
      listening: false,
      owners: [{ pid: 31337, fd: 7 }],
    }),
    makeSocket({ family: 'ipv6', localAddress: LONG_V6_B, localPort: 443, remoteAddress: '::', state: 'LISTEN', owners: [{ pid: 31337, fd: 3 }] }),
    makeSocket({ transport: 'udp', family: 'ipv6', localAddress: LONG_V6_A, localPort: 5353, remoteAddress: '::', state: 'UNCONN', owners: [{ pid: 2, fd: 4 }] }),
    makeSocket({ localAddress: '255.255.255.255', localPort: 65535, state: 'LISTEN', owners: [{ pid: 2, fd: 5 }] }),
  ];
  return makeSnapshot({ sockets, processes });
}

describe('renderText: width', () => {
  it('keeps every table line within the width given (a terminal\'s), with long IPv6 addresses and names', () => {
    const snapshot = wideSnapshot();
    const text = renderText(snapshot, { width: 80 });
    const lines = tableLines(text, snapshot);
    for (const line of lines) expect(columns(line), line).toBeLessThanOrEqual(80);
    // Something was shortened to get there.
    expect(text).toContain('…');
    expect(text).not.toContain(LONG_V6_A);
  });

  it('shortens and breaks nothing without a width (a library caller, a pipe or a file): an address cut short is one grep misses', () => {
    const snapshot = wideSnapshot();
    const text = renderText(snapshot);
    expect(text).toContain(LONG_V6_A);
    expect(text).not.toContain('…');
  });

  it('keeps the ports visible when an address is shortened', () => {
    const snapshot = wideSnapshot();
    const text = renderText(snapshot, { width: 80 });
    const row = tableLines(text, snapshot).find((l) => l.includes('ESTAB'))!;
    expect(row).toMatch(/…[0-9a-f]*\]:65001 /);
    expect(row).toMatch(/…[0-9a-f]*\]:54321 /);
    expect(text).toMatch(/…[0-9a-f]*\]:443 /);
  });

  it('shows everything untruncated when the terminal is wide enough', () => {
    const snapshot = wideSnapshot();
    const text = renderText(snapshot, { width: 250 });
    expect(text).toContain(`[${LONG_V6_A}]:65001`);
    expect(text).toContain(`[${LONG_V6_B}]:54321`);
    expect(text).toContain('a-very-long-user-name-from-ldap');
    expect(text).not.toContain('…');
  });

  it('honours a wider width and never goes below 60 columns', () => {
    const snapshot = wideSnapshot();
    for (const line of tableLines(renderText(snapshot, { width: 100 }), snapshot)) expect(columns(line)).toBeLessThanOrEqual(100);
    const narrow = tableLines(renderText(snapshot, { width: 10 }), snapshot);
    expect(narrow).toEqual(tableLines(renderText(snapshot, { width: 60 }), snapshot));
  });

  it('stays within 80 columns for the common states and pids in one namespace (property)', () => {
    const state = fc.constantFrom<SocketState>('LISTEN', 'ESTABLISHED', 'UNCONN', 'SYN_SENT', 'SYN_RECV', 'LAST_ACK', 'CLOSE', 'CLOSING');
    const address = fc.oneof(fc.constantFrom('127.0.0.1', '0.0.0.0', '::', '::1', LONG_V6_A, LONG_V6_B), fc.ipV4(), fc.ipV6());
    const name = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
    const row = fc.record({
      state,
      localAddress: address,
      remoteAddress: address,
      localPort: fc.integer({ min: 0, max: 65535 }),
      remotePort: fc.integer({ min: 0, max: 65535 }),
      pid: fc.integer({ min: 1, max: 99999 }),
      name,
      user: name,
    });
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 6 }), (rows) => {
        const sockets = rows.map((r, i) =>
          makeSocket({
            family: r.localAddress.includes(':') ? 'ipv6' : 'ipv4',
            localAddress: r.localAddress,
            localPort: r.localPort,
            remoteAddress: r.remoteAddress,
            remotePort: r.remotePort,
            state: r.state,
            listening: r.state === 'LISTEN' || r.state === 'UNCONN',
            inode: i + 1,
            owners: [{ pid: r.pid, fd: 3 }],
          }),
        );
        const processes = rows.map((r) => makeProcess({ pid: r.pid, name: r.name, user: r.user }));
        const snapshot = makeSnapshot({ sockets, processes });
        for (const line of tableLines(renderText(snapshot, { width: 80 }), snapshot)) expect(columns(line), line).toBeLessThanOrEqual(80);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps within 80 columns with a NETNS column, long state labels and long PIDs', () => {
    const processes = [makeProcess({ pid: 4194304, name: 'a-very-long-name', user: 'a-very-long-user-name' })];
    const long = (over: Partial<SocketRecord>): SocketRecord =>
      makeSocket({
        family: 'ipv6',
        localAddress: LONG_V6_A,
        localPort: 65001,
        remoteAddress: LONG_V6_B,
        remotePort: 54321,
        listening: false,
        owners: [
          { pid: 4194304, fd: 7 },
          { pid: 4194303, fd: 7 },
        ],
        ...over,
      });
    const cases: Snapshot[] = [
      makeSnapshot({ sockets: [long({ state: 'CLOSE_WAIT', owners: [{ pid: 12345, fd: 3 }] })], processes: [makeProcess({ pid: 12345, name: 'a-very-long-name', user: 'a-very-long-user-name' })] }),
      makeSnapshot({ sockets: [long({ state: 'NEW_SYN_RECV' })], processes }),
      withNamespaces(makeSnapshot({ sockets: [long({ state: 'ESTABLISHED', netns: 1 }), long({ state: 'LISTEN', listening: true })], processes }), [
        HOST_NS,
        { inode: 1, name: 'a-long-netns-name', host: false, processes: 1, sockets: 1, read: true },
      ]),
    ];
    for (const snapshot of cases) {
      for (const line of tableLines(renderText(snapshot, { width: 80 }), snapshot)) expect(columns(line), line).toBeLessThanOrEqual(80);
    }
  });
});

describe('renderText: hostile text', () => {
  const HOSTILE = 'ev\u001b[2J\nil\r\t\u202eexe\u0007\u009b';
  // Anything that can move the cursor, end a line or reorder text; "\n" is checked separately.
  // eslint-disable-next-line no-control-regex
  const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

  function hostileSnapshot(): Snapshot {
    const sockets = [makeSocket(), makeSocket({ localPort: 9090, inode: 2, owners: [{ pid: 200, fd: 3 }] })];
    const processes = [makeProcess({ name: HOSTILE }), makeProcess({ pid: 200, name: 'ok', user: 'mallory\u001b]0;owned\u0007' })];
    const snapshot = makeSnapshot({ sockets, processes });
    return { ...snapshot, host: { ...snapshot.host, hostname: 'host\u001b[31m\n' } };
  }

  it('leaves no raw control or direction character in the output, and no extra line', () => {
    const snapshot = hostileSnapshot();
    for (const width of [80, 200]) {
      const text = renderText(snapshot, { width });
      expect(text).not.toMatch(RAW_CONTROL);
      // Only the line endings: title, header, two rows, coverage.
      expect(text.split('\n')).toHaveLength(6);
      expect(text.endsWith('\n')).toBe(true);
    }
  });

  it('shows the hostile name escaped', () => {
    const text = renderText(hostileSnapshot(), { width: 200 });
    expect(text).toContain('ev\\x1b[2J\\x0ail\\x0d\\x09\\u{202e}exe\\x07\\u{9b}');
    expect(text).toContain('mallory\\x1b]0;owned\\x07');
    expect(text).toContain('netmon snapshot of host\\x1b[31m\\x0a at ');
  });

  it('escapes a backslash so an escape cannot be forged', () => {
    const snapshot = makeSnapshot({ processes: [makeProcess({ name: 'a\\x1b' })] });
    expect(renderText(snapshot, { width: 200 })).toContain('a\\\\x1b');
  });

  it('escapes namespace names too', () => {
    const snapshot = withNamespaces(makeSnapshot({ sockets: [makeSocket(), makeSocket({ netns: 7, inode: 2 })] }), [
      HOST_NS,
      { inode: 7, name: 'x\u001b[2Jy', host: false, processes: 1, sockets: 1, read: true },
    ]);
    expect(renderText(snapshot, { width: 200 })).not.toMatch(RAW_CONTROL);
  });
});

describe('renderText: rows', () => {
  it('shows the reason label for unattributed sockets, "-" as PID and the table uid as USER ("-" when kernel-owned)', () => {
    const reasons: [UnattributedReason, string][] = [
      ['kernel-owned', '(kernel)'],
      ['permission-denied', '(no access)'],
      ['process-exited', '(exited)'],
      ['other-namespace', '(other ns)'],
    ];
    const sockets = reasons.map(([reason], i) =>
      makeSocket({ localPort: 1000 + i, inode: i + 1, uid: 4000 + i, owners: [], unattributed: reason }),
    );
    const snapshot = makeSnapshot({ sockets, processes: [] });
    const rows = tableLines(renderText(snapshot, { width: 80 }), snapshot).slice(1);
    reasons.forEach(([, label], i) => {
      const row = rows.find((r) => r.includes(`127.0.0.1:${1000 + i} `))!;
      const user = reasons[i]![0] === 'kernel-owned' ? '-' : String(4000 + i);
      expect(row).toMatch(new RegExp(` - ${label.replace(/[()]/g, '\\$&')} +${user}$`));
    });
  });

  it('names the table uid of an unattributed socket as a process of that user is named, when the snapshot has one', () => {
    const sockets = [
      makeSocket({ localPort: 2000, inode: 1, uid: 0, owners: [], unattributed: 'permission-denied' }),
      makeSocket({ localPort: 2001, inode: 2, uid: 4242, owners: [], unattributed: 'permission-denied' }),
      makeSocket({ localPort: 2002, inode: 3, uid: 1000, owners: [{ pid: 100, fd: 3 }] }),
    ];
    const snapshot = makeSnapshot({ sockets, processes: [makeProcess({ pid: 100, uid: 1000, user: 'alice' }), makeProcess({ pid: 1, uid: 0, user: 'root', name: 'init' })] });
    const rows = tableLines(renderText(snapshot, { width: 80 }), snapshot).slice(1);
    expect(rows.find((r) => r.includes('127.0.0.1:2000 '))).toMatch(/ \(no access\) +root$/);
    // No process of uid 4242 was seen: its number.
    expect(rows.find((r) => r.includes('127.0.0.1:2001 '))).toMatch(/ \(no access\) +4242$/);
  });

  it('leaves the PROCESS column empty when attribution was not requested', () => {
    const snapshot = makeSnapshot({ sockets: [makeSocket({ owners: [], unattributed: 'not-requested', uid: 33 })], processes: [] });
    const row = tableLines(renderText(snapshot, { width: 80 }), snapshot)[1]!;
    expect(row).toMatch(/ - +33$/);
  });

  it('counts extra owners in the PID column and shows "?" for an owner without a process record', () => {
    const sockets = [
      makeSocket({ owners: [{ pid: 100, fd: 3 }, { pid: 101, fd: 3 }, { pid: 102, fd: 3 }] }),
      makeSocket({ localPort: 9999, inode: 2, uid: 77, owners: [{ pid: 555, fd: 3 }] }),
    ];
    const snapshot = makeSnapshot({ sockets });
    const rows = tableLines(renderText(snapshot, { width: 80 }), snapshot).slice(1);
    expect(rows.find((r) => r.includes(':8080 '))).toMatch(/ 100\+2 python3 +alice$/);
    expect(rows.find((r) => r.includes(':9999 '))).toMatch(/ 555 \? +77$/);
  });

  it('shows proto with the family digit for IPv6 tables, "*:*" for listeners and short state names', () => {
    const sockets = [
      makeSocket({ family: 'ipv6', localAddress: '::1', localPort: 22, remoteAddress: '::' }),
      makeSocket({ transport: 'udp', localPort: 53, state: 'UNCONN', inode: 2 }),
      makeSocket({ family: 'ipv6', localAddress: '127.0.0.1', localPort: 41003, remoteAddress: '127.0.0.1', remotePort: 47402, state: 'ESTABLISHED', listening: false, inode: 3 }),
      makeSocket({ localPort: 5000, remoteAddress: '10.0.0.1', remotePort: 80, state: 'TIME_WAIT', listening: false, owners: [], unattributed: 'kernel-owned', inode: 0 }),
    ];
    const snapshot = makeSnapshot({ sockets });
    const text = renderText(snapshot, { width: 80 });
    expect(text).toMatch(/ tcp6 +\[::1\]:22 +\*:\* +LISTEN /);
    expect(text).toMatch(/ udp +127\.0\.0\.1:53 +\*:\* +UNCONN /);
    expect(text).toMatch(/ tcp6 +127\.0\.0\.1:41003 +127\.0\.0\.1:47402 +ESTAB /);
    expect(text).toMatch(/ tcp +127\.0\.0\.1:5000 +10\.0\.0\.1:80 +TIME-WAIT +- \(kernel\)/);
  });

  it('has no NETNS column with one namespace', () => {
    const text = renderText(makeSnapshot());
    expect(text).not.toContain('NETNS');
    expect(text.split('\n')[1]).toMatch(/^TIME +PROTO +LOCAL +REMOTE +STATE +PID +PROCESS +USER$/);
  });

  it('adds a NETNS column with several namespaces: "host", the netns name, or the inode', () => {
    const sockets = [
      makeSocket(),
      makeSocket({ netns: 4026532200, localPort: 81, inode: 2 }),
      makeSocket({ netns: 4026532300, localPort: 82, inode: 3 }),
    ];
    const snapshot = withNamespaces(makeSnapshot({ sockets }), [
      HOST_NS,
      { inode: 4026532200, name: 'blue', host: false, processes: 1, sockets: 1, read: true },
      { inode: 4026532300, name: null, host: false, processes: 1, sockets: 1, read: true },
    ]);
    const [header, ...rows] = tableLines(renderText(snapshot, { width: 120 }), snapshot);
    expect(header).toMatch(/^TIME +PROTO +NETNS +LOCAL /);
    expect(rows.find((r) => r.includes(':8080 '))).toMatch(/ tcp +host +127\.0\.0\.1:8080 /);
    expect(rows.find((r) => r.includes(':81 '))).toMatch(/ tcp +blue +127\.0\.0\.1:81 /);
    expect(rows.find((r) => r.includes(':82 '))).toMatch(/ tcp +4026532300 +127\.0\.0\.1:82 /);
  });

  it('never shows a container named "host" (or by digits) as the host (or as an unnamed namespace): netns-name:<name> (from a probe)', () => {
    const sockets = [makeSocket(), makeSocket({ netns: 4026532200, localPort: 81, inode: 2 }), makeSocket({ netns: 4026532300, localPort: 82, inode: 3 })];
    const snapshot = withNamespaces(makeSnapshot({ sockets }), [
      HOST_NS,
      { inode: 4026532200, name: 'host', host: false, processes: 1, sockets: 1, read: true },
      { inode: 4026532300, name: '4026531840', host: false, processes: 1, sockets: 1, read: true },
    ]);
    const [, ...rows] = tableLines(renderText(snapshot, { width: 120 }), snapshot);
    expect(rows.find((r) => r.includes(':8080 '))).toMatch(/ tcp +host +127\.0\.0\.1:8080 /);
    expect(rows.find((r) => r.includes(':81 '))).toMatch(/ tcp +netns-name:host +127\.0\.0\.1:81 /);
    expect(rows.find((r) => r.includes(':82 '))).toMatch(/ tcp +netns-name:4026531840 +127\.0\.0\.1:82 /);
  });

  it('starts with a title naming the host', () => {
    expect(renderText(makeSnapshot()).split('\n')[0]).toMatch(/^netmon snapshot of testhost at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
  });
});

describe('coverage line', () => {
  it('gives totals, listening count, attributed percentage and each non-zero reason', () => {
    const sockets = [
      makeSocket(),
      makeSocket({ localPort: 1, inode: 0, owners: [], unattributed: 'kernel-owned', state: 'TIME_WAIT', listening: false }),
      makeSocket({ localPort: 2, inode: 2, owners: [], unattributed: 'permission-denied' }),
      makeSocket({ localPort: 3, inode: 3, owners: [], unattributed: 'process-exited', state: 'ESTABLISHED', listening: false }),
      makeSocket({ localPort: 4, inode: 4, owners: [], unattributed: 'other-namespace' }),
      makeSocket({ localPort: 5, inode: 5, owners: [], unattributed: 'permission-denied' }),
    ];
    const snapshot = makeSnapshot({ sockets });
    const full =
      'coverage: 6 sockets (4 listening), 1 attributed (20.0% of the 5 a process can own), 1 kernel-owned, 2 permission denied, ' +
      '1 closed or exited during the scan, 1 owner in another namespace';
    expect(renderCoverageLine(snapshot.coverage, 4)).toBe(full);
    // In the live view it is broken after commas to fit the terminal, continuation lines indented.
    const lines = renderText(snapshot, { width: 80 }).trimEnd().split('\n');
    const from = lines.findIndex((l) => l.startsWith('coverage: '));
    expect(lines.slice(from)).toEqual([
      'coverage: 6 sockets (4 listening),',
      '  1 attributed (20.0% of the 5 a process can own), 1 kernel-owned,',
      '  2 permission denied, 1 closed or exited during the scan,',
      '  1 owner in another namespace',
    ]);
    for (const width of [60, 100, 200]) {
      const wrapped = renderText(snapshot, { width }).trimEnd().split('\n');
      const part = wrapped.slice(wrapped.findIndex((l) => l.startsWith('coverage: ')));
      for (const l of part) expect(l.length).toBeLessThanOrEqual(width);
      expect(part.map((l, k) => (k === 0 ? l : l.slice(2))).join(' ')).toBe(full);
    }
  });

  it('says 100% for an empty snapshot', () => {
    const snapshot = makeSnapshot({ sockets: [], processes: [] });
    expect(renderText(snapshot, { width: 80 }).trimEnd().split('\n').at(-1)).toBe('coverage: 0 sockets (0 listening), 0 attributed (100.0%)');
  });

  it('renderCoverageLine names attribution switched off', () => {
    const snapshot = makeSnapshot({ sockets: [makeSocket({ owners: [], unattributed: 'not-requested' })], processes: [] as ProcessRecord[] });
    expect(renderCoverageLine(snapshot.coverage, 1)).toBe('coverage: 1 socket (1 listening), 0 attributed (0.0%), 1 attribution off');
  });
});

describe('the left-out line', () => {
  const read = (snapshot: Snapshot, sockets: number): Snapshot => withNamespaces(snapshot, [{ ...HOST_NS, sockets }]);

  it('names the listeners on ephemeral ports the default selection left out, after the coverage line', () => {
    const snapshot = read(makeSnapshot({ sockets: [makeSocket()] }), 4);
    expect(renderLeftOutLine(snapshot)).toBe('left out: 3 listeners on ephemeral ports 32768-60999 (--include-ephemeral keeps them)');
    const lines = renderText(snapshot, { width: 80 }).split('\n');
    expect(lines.at(-3)).toMatch(/^coverage: /);
    expect(lines.at(-2)).toBe('left out: 3 listeners on ephemeral ports 32768-60999 (--include-ephemeral keeps them)');
  });

  it('says what else of the selection left sockets out, and nothing when it kept them all', () => {
    const base = makeSnapshot({ sockets: [makeSocket()] });
    const filtered = read({ ...base, selection: { ...base.selection, filters: { filter: [':22'] } } }, 10);
    expect(renderLeftOutLine(filtered)).toBe('left out: 9 sockets of 10 read, by the filters or the ephemeral-port rule');
    const kept = read({ ...base, selection: { ...base.selection, includeEphemeral: true, filters: { process: ['sshd'] } } }, 2);
    expect(renderLeftOutLine(kept)).toBe('left out: 1 socket of 2 read, by the filters');
    expect(renderLeftOutLine(read(base, 1))).toBeNull();
    expect(renderText(read(base, 1))).not.toContain('left out');
  });
});

describe('renderText: names with wide characters (CJK, emoji) and combining marks', () => {
  // Before, widths counted UTF-16 units: a CJK or emoji name pushed the next columns right and
  // past the terminal's width, and a cut could split an emoji in two.
  const ns: NamespaceRecord = { inode: 4026532777, name: '网络命名空间🚀', host: false, processes: 1, sockets: 1, read: true };
  const snapshot = withNamespaces(
    makeSnapshot({
      sockets: [
        makeSocket({ localAddress: '127.0.0.1', localPort: 8080, netns: ns.inode, owners: [{ pid: 7, fd: 3 }] }),
        makeSocket({ localAddress: '127.0.0.1', localPort: 9090, netns: HOST_NS.inode, owners: [{ pid: 8, fd: 3 }] }),
      ],
      processes: [makeProcess({ pid: 7, name: '服务器进程名字🚀🚀', user: 'café\u0301' }), makeProcess({ pid: 8, name: 'sshd', user: 'root' })],
    }),
    [HOST_NS, ns],
  );
  const stringWidth = (text: string): number => {
    let w = 0;
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (/\p{Mn}/u.test(ch)) continue;
      w += (cp >= 0x4e00 && cp <= 0x9fff) || cp >= 0x1f300 ? 2 : 1;
    }
    return w;
  };
  const body = (text: string) => text.split('\n').slice(1, 4);

  it('aligns columns by terminal cells: the PID column (right-aligned) ends at the same cell on every row', () => {
    const lines = body(renderText(snapshot, { width: 200 }));
    const pidEnd = (line: string) => {
      const m = / (PID|\d+) /.exec(line)!;
      return stringWidth(line.slice(0, m.index + m[0].length));
    };
    expect(new Set(lines.map(pidEnd)).size, lines.join('\n')).toBe(1);
  });

  it('keeps every line within the width, and cuts names between characters, never inside an emoji', () => {
    for (const width of [60, 64, 70]) {
      const text = renderText(snapshot, { width });
      for (const line of body(text)) {
        expect(stringWidth(line), line).toBeLessThanOrEqual(width);
        expect(line).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      }
    }
  });
});
