import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProcessRecord, SocketRecord } from '../../src/model/types.js';
import { CSV_COLUMNS, csvRows, formatCsv, neutralizeCell, type CsvContext, type CsvEvent } from '../../src/store/csv-trail.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

/**
 * A strict RFC 4180 parser written for this test, independent of csv-stringify: fields are
 * separated by commas and records end in CRLF; a field holding a comma, a quote, CR or LF must
 * be quoted, and a quote inside a quoted field is doubled. Anything else is a syntax error
 * (so an unquoted bare LF or CR, which other readers split into a new record, is caught).
 */
function parseRfc4180(text: string): string[][] {
  const rows: string[][] = [];
  if (text === '') return rows;
  let i = 0;
  let row: string[] = [];
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i];
        i++;
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`a quote inside an unquoted field at offset ${i}`);
        field += text[i];
        i++;
      }
    }
    row.push(field);
    if (i >= text.length) throw new Error('the last record does not end in CRLF');
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '\r' && text[i + 1] === '\n') {
      rows.push(row);
      row = [];
      i += 2;
      if (i === text.length) return rows;
      continue;
    }
    throw new Error(`${JSON.stringify(text[i])} at offset ${i} after a field: a line break inside a field must be quoted, records end in CRLF`);
  }
}

/** A row as a column -> cell object, so a failure names the column. */
function byColumn(row: string[]): Record<(typeof CSV_COLUMNS)[number], string> {
  expect(row).toHaveLength(CSV_COLUMNS.length);
  return Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, row[i]!])) as Record<(typeof CSV_COLUMNS)[number], string>;
}

const CONTEXT: CsvContext = { snapshotId: 7, label: 'pre', change: 'CHG-1234' };
const TAKEN = new Date('2026-11-23T01:02:03.000Z');
const ISO_WITH_OFFSET = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)$/;

function rowsFor(sockets: SocketRecord[], processes: ProcessRecord[], event: CsvEvent = 'present', context: CsvContext = CONTEXT, takenAt = TAKEN): string[][] {
  const snap = makeSnapshot({ sockets, processes, takenAt });
  return csvRows(snap, sockets, new Map(processes.map((p) => [p.pid, p])), event, context);
}

/** The cell a spreadsheet-safe trail must hold for `text`, spelled out independently of neutralizeCell. */
function expectedCell(text: string): string {
  return ['=', '+', '-', '@', '\t', '\r'].includes(text.charAt(0)) ? `'${text}` : text;
}

const HOSTILE_NAMES = ['a,b', 'say "hi"', 'naïve', '🚀 rocket', 'grüße,"x"', "=cmd|' /C calc'!A0", '+1+1', '-2+3', '@SUM(A1)', '\tindent', ' =lead', "'quoted"];
const LINE_BREAK_NAMES = ['line1\nline2', 'cr\rhere', 'crlf\r\nafter', '\rstart', 'end\n', '"\n"'];

describe('neutralizeCell', () => {
  it.each(['=', '+', '-', '@', '\t', '\r'])('prefixes an apostrophe to a cell starting with %j', (first) => {
    expect(neutralizeCell(first)).toBe(`'${first}`);
    expect(neutralizeCell(`${first}SUM(A1:A9)`)).toBe(`'${first}SUM(A1:A9)`);
    expect(neutralizeCell(`${first}cmd|' /C calc'!A0`)).toBe(`'${first}cmd|' /C calc'!A0`);
  });

  it.each(['', 'python3', ' =SUM(A1)', ' -1', "'=already", "'", 'a=b', 'x+y', '/usr/bin/python3.11', '(kernel-owned)', 'naïve', '🚀', '＝fullwidth', '\nnewline-first', '0', '127.0.0.1'])(
    'leaves safe text %j unchanged',
    (text) => {
      expect(neutralizeCell(text)).toBe(text);
    },
  );

  it('is idempotent: a neutralised cell is not prefixed again', () => {
    for (const text of ['=1', '+1', '-1', '@a', '\tx', '\rx']) {
      expect(neutralizeCell(neutralizeCell(text))).toBe(neutralizeCell(text));
    }
  });
});

describe('csvRows', () => {
  it('has the columns the CSV trail requires, in CSV_COLUMNS order', () => {
    for (const column of [
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
      'label',
      'change_ticket',
    ]) {
      expect(CSV_COLUMNS).toContain(column);
    }
    expect(new Set(CSV_COLUMNS).size).toBe(CSV_COLUMNS.length);
    const [row] = rowsFor([makeSocket()], [makeProcess()]);
    expect(row).toHaveLength(CSV_COLUMNS.length);
  });

  it('a listener: every cell, no remote end', () => {
    const rows = rowsFor([makeSocket()], [makeProcess()]);
    expect(rows).toHaveLength(1);
    const r = byColumn(rows[0]!);
    expect({ ...r, timestamp: '(checked below)' }).toEqual({
      timestamp: '(checked below)',
      host: 'testhost',
      snapshot_id: '7',
      event: 'present',
      proto: 'tcp',
      local_address: '127.0.0.1',
      local_port: '8080',
      remote_address: '',
      remote_port: '',
      state: 'LISTEN',
      pid: '100',
      process: 'python3',
      user: 'alice',
      executable: '/usr/bin/python3.11',
      executable_blake3: 'a'.repeat(64),
      executable_sha256: 'b'.repeat(64),
      netns: '4026531840',
      label: 'pre',
      change_ticket: 'CHG-1234',
    });
    expect(r.timestamp).toMatch(ISO_WITH_OFFSET);
  });

  it('a connection: remote address and port, the event given', () => {
    const socket = makeSocket({ localPort: 51514, remoteAddress: '93.184.216.34', remotePort: 443, state: 'ESTABLISHED', listening: false, owners: [{ pid: 4242, fd: 9 }] });
    const proc = makeProcess({ pid: 4242, name: 'curl', executable: '/usr/bin/curl', user: 'bob', uid: 1001 });
    const r = byColumn(rowsFor([socket], [proc], 'opened')[0]!);
    expect(r).toMatchObject({
      event: 'opened',
      proto: 'tcp',
      local_address: '127.0.0.1',
      local_port: '51514',
      remote_address: '93.184.216.34',
      remote_port: '443',
      state: 'ESTABLISHED',
      pid: '4242',
      process: 'curl',
      user: 'bob',
      executable: '/usr/bin/curl',
    });
  });

  it('IPv6 sockets are tcp6 / udp6 with the address as the kernel table gave it', () => {
    const tcp = makeSocket({ family: 'ipv6', localAddress: '2001:db8::1', localPort: 443, remoteAddress: '2001:db8::2', remotePort: 50000, state: 'ESTABLISHED', listening: false });
    const udp = makeSocket({ transport: 'udp', family: 'ipv6', localAddress: '::', localPort: 5353, remoteAddress: '::', remotePort: 0, state: 'UNCONN', listening: true });
    const [a, b] = rowsFor([tcp, udp], [makeProcess()], 'closed').map(byColumn);
    expect(a).toMatchObject({ event: 'closed', proto: 'tcp6', local_address: '2001:db8::1', local_port: '443', remote_address: '2001:db8::2', remote_port: '50000', state: 'ESTABLISHED' });
    expect(b).toMatchObject({ proto: 'udp6', local_address: '::', local_port: '5353', remote_address: '', remote_port: '', state: 'UNCONN' });
    // IPv4 UDP stays plain udp
    expect(byColumn(rowsFor([makeSocket({ transport: 'udp', state: 'UNCONN' })], [makeProcess()])[0]!).proto).toBe('udp');
  });

  it('an unattributed socket: no pid, the process cell gives the reason, no user or executable', () => {
    for (const reason of ['kernel-owned', 'permission-denied', 'process-exited', 'other-namespace', 'not-requested'] as const) {
      const socket = makeSocket({ owners: [], unattributed: reason, inode: 0, state: 'TIME_WAIT', listening: false, remoteAddress: '10.0.0.9', remotePort: 2222 });
      const r = byColumn(rowsFor([socket], [])[0]!);
      expect(r).toMatchObject({ pid: '', process: `(${reason})`, user: '', executable: '', executable_blake3: '', executable_sha256: '', state: 'TIME_WAIT', remote_address: '10.0.0.9', remote_port: '2222' });
    }
  });

  it('a process with no user name shows its uid; no hashes, no executable: empty cells', () => {
    const proc = makeProcess({ user: null, uid: 0, executable: null, hashes: undefined });
    const r = byColumn(rowsFor([makeSocket()], [proc])[0]!);
    expect(r).toMatchObject({ user: '0', executable: '', executable_blake3: '', executable_sha256: '' });
  });

  it('label and change ticket: empty when absent, neutralised when hostile', () => {
    expect(byColumn(rowsFor([makeSocket()], [makeProcess()], 'present', { snapshotId: 1, label: null, change: null })[0]!)).toMatchObject({ snapshot_id: '1', label: '', change_ticket: '' });
    const r = byColumn(rowsFor([makeSocket()], [makeProcess()], 'present', { snapshotId: 2, label: '=HYPERLINK("http://x")', change: '-CHG-1' })[0]!);
    expect(r).toMatchObject({ label: '\'=HYPERLINK("http://x")', change_ticket: "'-CHG-1" });
  });

  it('one row per socket, in the order given', () => {
    const sockets = [makeSocket({ localPort: 22 }), makeSocket({ localPort: 80, inode: 2 }), makeSocket({ localPort: 443, inode: 3 })];
    const rows = rowsFor(sockets, [makeProcess()]);
    expect(rows.map((r) => byColumn(r).local_port)).toEqual(['22', '80', '443']);
    expect(rowsFor([], [makeProcess()])).toEqual([]);
  });

  it('every cell is neutralised: hostile process, user, executable and host', () => {
    const proc = makeProcess({ name: '=1+1', user: '@evil', executable: '-/tmp/x' });
    const snap = { ...makeSnapshot(), host: { ...makeSnapshot().host, hostname: '+host' } };
    const r = byColumn(csvRows(snap, [makeSocket()], new Map([[100, proc]]), 'present', CONTEXT)[0]!);
    expect(r).toMatchObject({ process: "'=1+1", user: "'@evil", executable: "'-/tmp/x", host: "'+host" });
  });

  describe('timestamp', () => {
    const savedTz = process.env.TZ;
    afterEach(() => {
      if (savedTz === undefined) delete process.env.TZ;
      else process.env.TZ = savedTz;
    });

    it('is ISO 8601 with an offset and parses back to the snapshot time', () => {
      const r = byColumn(rowsFor([makeSocket()], [makeProcess()])[0]!);
      expect(r.timestamp).toMatch(ISO_WITH_OFFSET);
      expect(new Date(r.timestamp).getTime()).toBe(TAKEN.getTime());
    });

    it.each([
      ['UTC', '+00:00'],
      ['Asia/Kolkata', '+05:30'],
      ['America/St_Johns', '-03:30'],
      ['Pacific/Chatham', '+13:45'],
      ['America/Los_Angeles', '-08:00'],
    ])('in time zone %s the offset is explicit (%s in November) and the instant is the same', (tz, november) => {
      process.env.TZ = tz;
      expect(byColumn(rowsFor([makeSocket()], [makeProcess()])[0]!).timestamp.endsWith(november)).toBe(true);
      for (const taken of [TAKEN, new Date('2026-07-01T23:59:59.000Z'), new Date('2026-03-29T01:30:00.000Z')]) {
        const r = byColumn(rowsFor([makeSocket()], [makeProcess()], 'present', CONTEXT, taken)[0]!);
        expect(r.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
        expect(new Date(r.timestamp).getTime(), `${tz} ${r.timestamp}`).toBe(taken.getTime());
      }
    });

    it('a snapshot time with milliseconds parses back to the same second', () => {
      const taken = new Date('2026-11-23T01:02:03.987Z');
      const r = byColumn(rowsFor([makeSocket()], [makeProcess()], 'present', CONTEXT, taken)[0]!);
      const back = new Date(r.timestamp).getTime();
      expect(back).toBeLessThanOrEqual(taken.getTime());
      expect(taken.getTime() - back).toBeLessThan(1000);
    });
  });
});

describe('formatCsv', () => {
  it('no rows: no text', () => {
    expect(formatCsv([])).toBe('');
  });

  it('the header is the column names, comma separated, ending in CRLF', () => {
    expect(formatCsv([[...CSV_COLUMNS]])).toBe(`${CSV_COLUMNS.join(',')}\r\n`);
  });

  it('every record ends in CRLF; plain cells are not quoted', () => {
    const text = formatCsv(rowsFor([makeSocket(), makeSocket({ localPort: 9090, inode: 5 })], [makeProcess()]));
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.split('\r\n')).toHaveLength(3);
    expect(text).not.toMatch(/(?<!\r)\n/);
    expect(text).not.toContain('"');
  });

  function hostileRows(names: string[]): string[][] {
    const processes = names.map((name, i) => makeProcess({ pid: 1000 + i, name }));
    const sockets = names.map((_, i) => makeSocket({ localPort: 10000 + i, inode: 5000 + i, owners: [{ pid: 1000 + i, fd: 3 }] }));
    return rowsFor(sockets, processes);
  }

  it('hostile process names (comma, quote, non-ASCII, emoji, formulas) round-trip through an independent RFC 4180 parser', () => {
    const rows = hostileRows(HOSTILE_NAMES);
    const parsed = parseRfc4180(formatCsv([[...CSV_COLUMNS], ...rows]));
    expect(parsed[0]).toEqual([...CSV_COLUMNS]);
    expect(parsed.slice(1)).toEqual(rows);
    expect(parsed.slice(1).map((r) => byColumn(r).process)).toEqual(HOSTILE_NAMES.map(expectedCell));
    expect(byColumn(parsed[HOSTILE_NAMES.indexOf("=cmd|' /C calc'!A0") + 1]!).process).toBe("'=cmd|' /C calc'!A0");
  });

  it('process names with line breaks (LF, CR, CRLF) are quoted and round-trip through an independent RFC 4180 parser', () => {
    const rows = hostileRows([...LINE_BREAK_NAMES, ...HOSTILE_NAMES]);
    const parsed = parseRfc4180(formatCsv(rows));
    expect(parsed).toEqual(rows);
    expect(parsed.map((r) => byColumn(r).process)).toEqual([...LINE_BREAK_NAMES, ...HOSTILE_NAMES].map(expectedCell));
  });

  it('any process name without line breaks round-trips (property)', () => {
    const name = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.array(fc.constantFrom('=', '+', '-', '@', '\t', '"', ',', "'", ' ', 'ï', '🚀', 'a', '|', '!'), { maxLength: 12 }).map((cs) => cs.join('')),
    );
    fc.assert(
      fc.property(fc.array(name.filter((s) => !/[\r\n]/.test(s)), { minLength: 1, maxLength: 8 }), (names) => {
        const rows = hostileRows(names);
        const parsed = parseRfc4180(formatCsv(rows));
        expect(parsed).toEqual(rows);
        expect(parsed.map((r) => byColumn(r).process)).toEqual(names.map(expectedCell));
      }),
    );
  });

  it('any process name at all round-trips (property)', () => {
    const name = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.array(fc.constantFrom('=', '\r', '\n', '\r\n', '"', ',', "'", ' ', 'ï', '🚀', 'a'), { maxLength: 12 }).map((cs) => cs.join('')),
    );
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 8 }), (names) => {
        const rows = hostileRows(names);
        expect(parseRfc4180(formatCsv(rows))).toEqual(rows);
      }),
    );
  });
});
