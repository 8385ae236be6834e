import { ParseError } from '../../errors.js';
import { createRequire } from 'node:module';
import type IpAddr from 'ipaddr.js';

/**
 * Kernel socket tables print addresses as hex of the in-memory bytes read as host-order
 * 32-bit words: IPv4 with "%08X" (net/ipv4/tcp_ipv4.c, get_tcp4_sock) and IPv6 as four
 * such words (net/ipv6/tcp_ipv6.c, get_tcp6_sock). On a little-endian host each word's
 * bytes therefore appear reversed, which is why 127.0.0.1 reads "0100007F".
 */

const HEX = /^[0-9A-Fa-f]+$/;

function wordBytes(hex: string, offset: number, littleEndian: boolean): number[] {
  const b0 = parseInt(hex.slice(offset, offset + 2), 16);
  const b1 = parseInt(hex.slice(offset + 2, offset + 4), 16);
  const b2 = parseInt(hex.slice(offset + 4, offset + 6), 16);
  const b3 = parseInt(hex.slice(offset + 6, offset + 8), 16);
  return littleEndian ? [b3, b2, b1, b0] : [b0, b1, b2, b3];
}

/** Decode an 8-hex-digit IPv4 address from a kernel table. */
export function decodeIpv4(hex: string, littleEndian: boolean, source = 'address'): string {
  if (hex.length !== 8 || !HEX.test(hex)) {
    throw new ParseError(source, undefined, `expected 8 hex digits for an IPv4 address, got ${JSON.stringify(hex)}`);
  }
  return wordBytes(hex, 0, littleEndian).join('.');
}

/** Format 16 address bytes as RFC 5952 text; IPv4-mapped addresses (::ffff:a.b.c.d) as plain IPv4. */
export function formatIpv6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // RFC 5952 4.2: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

/** Decode a 32-hex-digit IPv6 address from a kernel table. */
export function decodeIpv6(hex: string, littleEndian: boolean, source = 'address'): string {
  if (hex.length !== 32 || !HEX.test(hex)) {
    throw new ParseError(source, undefined, `expected 32 hex digits for an IPv6 address, got ${JSON.stringify(hex)}`);
  }
  const bytes: number[] = [];
  for (let w = 0; w < 32; w += 8) bytes.push(...wordBytes(hex, w, littleEndian));
  return formatIpv6(bytes);
}

/** True for 0.0.0.0 and ::, the "any address" a wildcard listener binds. */
export function isWildcardAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** "127.0.0.1:22" or "[::1]:22"; IPv4-mapped addresses are already plain IPv4 text. */
export function formatEndpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

let ipaddrModule: typeof IpAddr | undefined;
/** ipaddr.js, loaded on first use: only user-given addresses need it, never a scan. */
function ipaddrLib(): typeof IpAddr {
  return (ipaddrModule ??= createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr);
}

/**
 * Canonical text of a user-given address ("::0001" -> "::1", "::ffff:10.0.0.1" -> "10.0.0.1"),
 * in the form the parsers produce, or null when it is not an IPv4 or IPv6 address.
 * IPv4 must be four decimal parts: "10.1" or "0x7f.1" are refused, not guessed at.
 * ipaddr.js enters netmon here and nowhere else.
 */
export function canonicalAddress(text: string): string | null {
  const ipaddr = ipaddrLib();
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text).toString();
  if (!text.includes(':')) return null;
  // An embedded IPv4 part ("::ffff:10.0.0.1") must be four decimal parts too. Rewrite it as two
  // hex groups ourselves: ipaddr.js reads it with parseInt (accepting "0x7f") and turns the
  // IPv4-compatible "::a.b.c.d" into the IPv4-mapped "::ffff:a.b.c.d".
  let v6 = text;
  const last = text.lastIndexOf(':');
  const tail = text.slice(last + 1);
  if (tail.includes('.')) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(tail)) return null;
    const [a, b, c, d] = ipaddr.IPv4.parse(tail).octets as [number, number, number, number];
    v6 = `${text.slice(0, last + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  if (!ipaddr.IPv6.isValid(v6)) return null;
  return formatIpv6(ipaddr.IPv6.parse(v6).toByteArray());
}

/** ipaddr.js range names of addresses that do not reach the public internet. */
const NOT_EXTERNAL = new Set(['unspecified', 'broadcast', 'multicast', 'linkLocal', 'loopback', 'carrierGradeNat', 'private', 'reserved', 'uniqueLocal']);

/**
 * True for a globally routable address: not private (RFC 1918, ULA), loopback, link-local,
 * shared (CGNAT), multicast, unspecified or reserved, which includes the documentation ranges
 * (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32). False for text that is not an address.
 */
export function isExternalAddress(address: string): boolean {
  const ipaddr = ipaddrLib();
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as IpAddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as IpAddr.IPv6).toIPv4Address();
  return !NOT_EXTERNAL.has(parsed.range());
}
