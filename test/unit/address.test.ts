import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import {
  canonicalAddress,
  decodeIpv4,
  decodeIpv6,
  formatEndpoint,
  formatIpv6,
  isWildcardAddress,
} from '../../src/collect/parse/address.js';
import { ParseError } from '../../src/errors.js';

/** Bytes of eight 16-bit groups. */
const groupsToBytes = (groups: readonly number[]): number[] => groups.flatMap((g) => [g >> 8, g & 0xff]);

describe('decodeIpv4', () => {
  it('decodes little-endian host words (the x86 layout)', () => {
    expect(decodeIpv4('0100007F', true)).toBe('127.0.0.1');
    expect(decodeIpv4('00000000', true)).toBe('0.0.0.0');
    expect(decodeIpv4('0101A8C0', true)).toBe('192.168.1.1');
    expect(decodeIpv4('FFFFFFFF', true)).toBe('255.255.255.255');
    expect(decodeIpv4('09CF0E48', true)).toBe('72.14.207.9');
  });

  it('decodes big-endian host words (network order)', () => {
    expect(decodeIpv4('7F000001', false)).toBe('127.0.0.1');
    expect(decodeIpv4('C0A80101', false)).toBe('192.168.1.1');
    expect(decodeIpv4('0100007F', false)).toBe('1.0.0.127');
  });

  it('accepts lowercase hex', () => {
    expect(decodeIpv4('0101a8c0', true)).toBe('192.168.1.1');
  });

  it.each(['', '0100007', '0100007F0', '0100007G', ' 100007F', '+100007F'])('refuses %j with a ParseError naming the source', (hex) => {
    expect(() => decodeIpv4(hex, true, '/proc/net/tcp')).toThrow(ParseError);
    expect(() => decodeIpv4(hex, true, '/proc/net/tcp')).toThrow(/^\/proc\/net\/tcp: /);
  });
});

describe('decodeIpv6', () => {
  it('decodes little-endian host words', () => {
    expect(decodeIpv6('00000000000000000000000001000000', true)).toBe('::1');
    expect(decodeIpv6('00000000000000000000000000000000', true)).toBe('::');
    expect(decodeIpv6('0000000000000000FFFF00000100007F', true)).toBe('127.0.0.1');
    expect(decodeIpv6('B80D0120000000000000000001000000', true)).toBe('2001:db8::1');
    expect(decodeIpv6('000080FE00000000FF005002FEAC11FE', true)).toBe('fe80::250:ff:fe11:acfe');
  });

  it('decodes big-endian host words', () => {
    expect(decodeIpv6('00000000000000000000000000000001', false)).toBe('::1');
    expect(decodeIpv6('20010DB8000000000000000000000001', false)).toBe('2001:db8::1');
    expect(decodeIpv6('00000000000000000000FFFF0A000001', false)).toBe('10.0.0.1');
    expect(decodeIpv6('FE800000000000000250FFFFFE11ACFE', false)).toBe('fe80::250:ffff:fe11:acfe');
  });

  it.each(['', '0'.repeat(31), '0'.repeat(33), `${'0'.repeat(31)}g`, `${'0'.repeat(30)}-1`])('refuses %j', (hex) => {
    expect(() => decodeIpv6(hex, true)).toThrow(ParseError);
  });
});

describe('formatIpv6 (RFC 5952)', () => {
  it.each([
    // [groups, expected, why]
    [[0, 0, 0, 0, 0, 0, 0, 0], '::', 'all zero'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1', 'loopback'],
    [[1, 0, 0, 0, 0, 0, 0, 0], '1::', 'trailing run'],
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], '2001:db8::1:0:0:1', 'tie between two runs of two: the first is compressed'],
    [[0x2001, 0xdb8, 0, 0, 0, 1, 0, 0], '2001:db8::1:0:0', 'longer first run wins'],
    [[0x2001, 0, 0, 1, 0, 0, 0, 1], '2001:0:0:1::1', 'longest run wins over an earlier shorter one'],
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed'],
    [[0x2001, 0xdb8, 0xabcd, 0xef, 0, 0, 0xa, 0xbc], '2001:db8:abcd:ef::a:bc', 'lowercase, no leading zeros'],
    [[0xfe80, 0, 0, 0, 0x250, 0xff, 0xfe11, 0xacfe], 'fe80::250:ff:fe11:acfe', 'link-local'],
    [[0, 0, 0, 0, 0, 0, 0x7f00, 1], '::7f00:1', 'IPv4-compatible (deprecated) is not shown as IPv4'],
    [[0, 0, 0, 0, 0xffff, 0, 0x7f00, 1], '::ffff:0:7f00:1', 'IPv4-translated is not IPv4-mapped'],
    [[0, 0, 0, 0, 0, 0xffff, 0x7f00, 1], '127.0.0.1', 'IPv4-mapped is shown as plain IPv4'],
    [[0, 0, 0, 0, 0, 0xffff, 0, 0], '0.0.0.0', 'IPv4-mapped any address'],
    [[0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff], 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'no zero at all'],
  ])('%j -> %s (%s)', (groups, expected) => {
    expect(formatIpv6(groupsToBytes(groups))).toBe(expected);
  });

  it('agrees with ipaddr.js toRFC5952String for every address that is not IPv4-mapped', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    const bytes = fc.oneof(
      fc.array(group, { minLength: 8, maxLength: 8 }).map(groupsToBytes),
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const addr = ipaddr.fromByteArray(b) as ipaddr.IPv6;
        fc.pre(!addr.isIPv4MappedAddress());
        const text = formatIpv6(b);
        expect(text).toBe(addr.toRFC5952String());
        expect(isIPv6(text)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('shows every IPv4-mapped address as the dotted quad', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), (v4) => {
        expect(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4])).toBe(v4.join('.'));
      }),
    );
  });
});

describe('canonicalAddress', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['::0001', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::', '::'],
    ['2001:DB8::0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:7f00:1', '127.0.0.1'],
  ])('accepts %j as %j', (text, expected) => {
    expect(canonicalAddress(text)).toBe(expected);
  });

  it.each(['10.1', '0x7f.0.0.1', '127.1', '2130706433', '010.0.0.1', '1.2.3.4.5', '256.0.0.1', 'foo', '', ' ', '::1 ', '1::2::3', ':::', '[::1]', 'localhost'])(
    'refuses %j',
    (text) => {
      expect(canonicalAddress(text)).toBeNull();
    },
  );

  it('refuses an embedded IPv4 part that is not four plain decimal numbers', () => {
    expect(canonicalAddress('::ffff:0x7f.0.0.1')).toBeNull();
    expect(canonicalAddress('::ffff:1.2.3.04')).toBeNull();
  });

  it('keeps an IPv4-compatible address "::a.b.c.d" apart from the IPv4-mapped one', () => {
    expect(canonicalAddress('::10.0.0.1')).toBe('::a00:1');
  });

  it('is idempotent and agrees with formatIpv6 on random addresses', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }), (b) => {
        const full = ipaddr.fromByteArray(b).toNormalizedString();
        const canonical = canonicalAddress(full);
        expect(canonical).toBe(formatIpv6(b));
        expect(canonicalAddress(canonical!)).toBe(canonical);
      }),
    );
  });

  it('returns a string or null for any input, never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-fx:.%]{0,20}$/)), (text) => {
        const out = canonicalAddress(text);
        expect(out === null || typeof out === 'string').toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('endpoint helpers', () => {
  it('formats endpoints with brackets for IPv6 only', () => {
    expect(formatEndpoint('127.0.0.1', 22)).toBe('127.0.0.1:22');
    expect(formatEndpoint('::1', 22)).toBe('[::1]:22');
    expect(formatEndpoint('::', 0)).toBe('[::]:0');
  });

  it('knows the wildcard addresses', () => {
    expect(isWildcardAddress('0.0.0.0')).toBe(true);
    expect(isWildcardAddress('::')).toBe(true);
    expect(isWildcardAddress('127.0.0.1')).toBe(false);
    expect(isWildcardAddress('::1')).toBe(false);
  });
});
