import { describe, expect, it } from 'vitest';
import { parseProcNet, PROC_NET_TABLES, socketsFromColumns } from '../../src/collect/parse/proc-net.js';
import { ParseError } from '../../src/errors.js';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

describe('socketsFromColumns (rows split by the native scanner)', () => {
  it('gives the records parseProcNet gives for the same rows', () => {
    const text = [
      HEADER,
      '   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:A1B2 0100007F:0016 01 00000000:00000000 00:00000000 00000000  1000        0 5678 1 0000000000000000 20 4 30 10 -1',
    ].join('\n');
    const columns = {
      nums: [0x16, 0, 0x0a, 0, 1234, 0xa1b2, 0x16, 0x01, 1000, 5678],
      addrs: [0, 1, 0, 0],
      hex: ['0100007F', '00000000'],
    };
    const fromText = parseProcNet(text, PROC_NET_TABLES.tcp, { littleEndian: true });
    expect(socketsFromColumns(columns, PROC_NET_TABLES.tcp, { littleEndian: true })).toEqual(fromText);
    // Both give rows shaped as records: the table's namespace, the listening flag, no owners yet.
    const inNs = { littleEndian: true, netns: 4026531840 };
    expect(socketsFromColumns(columns, PROC_NET_TABLES.tcp, inNs)).toEqual(parseProcNet(text, PROC_NET_TABLES.tcp, inNs));
    expect(socketsFromColumns(columns, PROC_NET_TABLES.tcp, inNs).map((r) => [r.netns, r.listening, r.owners])).toEqual([
      [4026531840, true, []],
      [4026531840, false, []],
    ]);
  });

  it('maps UDP state numbers as the text parser does', () => {
    const columns = { nums: [53, 0, 7, 0, 1, 53, 9, 1, 0, 2], addrs: [0, 1, 0, 0], hex: ['00000000000000000000000001000000', '00000000000000000000000000000000'] };
    const rows = socketsFromColumns(columns, PROC_NET_TABLES.udp6, { littleEndian: true });
    expect(rows.map((r) => [r.state, r.localAddress, r.remoteAddress])).toEqual([
      ['UNCONN', '::1', '::'],
      ['ESTABLISHED', '::1', '::1'],
    ]);
  });

  it('throws a ParseError for an address that is not hex', () => {
    expect(() => socketsFromColumns({ nums: [1, 2, 10, 0, 1], addrs: [0, 0], hex: ['XYZ'] }, PROC_NET_TABLES.tcp, { littleEndian: true })).toThrow(ParseError);
  });
});
