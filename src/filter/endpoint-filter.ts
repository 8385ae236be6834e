import { canonicalAddress } from '../collect/parse/address.js';
import { FilterError } from '../errors.js';
import type { Family, Transport } from '../model/types.js';

/** A parsed `--filter` pattern. Absent parts match anything. */
export interface EndpointFilter {
  transport?: Transport;
  family?: Family;
  address?: string;
  portLow?: number;
  portHigh?: number;
}

const PROTOS: Record<string, { transport: Transport; family?: Family }> = {
  tcp: { transport: 'tcp' },
  udp: { transport: 'udp' },
  tcp4: { transport: 'tcp', family: 'ipv4' },
  udp4: { transport: 'udp', family: 'ipv4' },
  tcp6: { transport: 'tcp', family: 'ipv6' },
  udp6: { transport: 'udp', family: 'ipv6' },
};

const OPTION = '--filter';

/**
 * Parse an endpoint filter: `[PROTO:]ENDPOINT` where PROTO is tcp, udp, tcp4, tcp6, udp4 or udp6
 * and ENDPOINT is `:PORT`, `ADDR:`, `ADDR:PORT`, `[IPV6]:PORT`, `[IPV6]`, `ADDR`, or (after a
 * PROTO) `PORT`. PORT may be a range `LOW-HIGH`. Examples: `:22`, `127.0.0.1:`, `tcp:8080`,
 * `udp:53`, `[::1]:22`, `tcp6:[::]:443`.
 */
export function parseEndpointFilter(pattern: string): EndpointFilter {
  const text = pattern.trim();
  if (text === '') throw new FilterError(pattern, OPTION, 'the pattern is empty');
  const filter: EndpointFilter = {};
  let rest = text;
  const protoMatch = /^([a-z0-9]+)(?::|$)/i.exec(text);
  const proto = protoMatch ? PROTOS[protoMatch[1]!.toLowerCase()] : undefined;
  if (protoMatch && proto) {
    filter.transport = proto.transport;
    if (proto.family) filter.family = proto.family;
    rest = text.slice(protoMatch[0].length);
    if (rest === '') return filter;
    if (/^\d+(-\d+)?$/.test(rest)) {
      setPorts(filter, rest, pattern);
      return filter;
    }
  }

  let addressText: string | undefined;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new FilterError(pattern, OPTION, 'an IPv6 address opened with "[" needs a closing "]"');
    addressText = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new FilterError(pattern, OPTION, `unexpected ${JSON.stringify(after)} after "]"`);
    portText = after.slice(1);
    if (!addressText.includes(':')) throw new FilterError(pattern, OPTION, 'brackets are for IPv6 addresses');
  } else {
    const colons = (rest.match(/:/g) ?? []).length;
    if (colons === 0) {
      addressText = rest;
    } else if (colons === 1) {
      const i = rest.indexOf(':');
      addressText = rest.slice(0, i);
      portText = rest.slice(i + 1);
    } else {
      // Several colons without brackets: a bare IPv6 address, no port. One written with its port
      // ("::1:8830") would select nothing without a word: a port needs brackets around the address.
      addressText = rest;
      const i = rest.lastIndexOf(':');
      const [head, tail] = [rest.slice(0, i), rest.slice(i + 1)];
      if (/^\d{2,5}(-\d{1,5})?$/.test(tail) && canonicalAddress(head) !== null) {
        const both = canonicalAddress(rest) !== null ? `${JSON.stringify(rest)} reads as the IPv6 address ${rest}, and may be meant as ${head} port ${tail}: write [${rest}] for the address, or` : 'an IPv6 address with a port takes brackets: write';
        throw new FilterError(pattern, OPTION, `${both} [${head}]:${tail} for the address and port`);
      }
    }
  }
  if (addressText !== undefined && addressText.includes('%')) {
    // ipaddr.js would drop the zone and select the address on every interface.
    throw new FilterError(pattern, OPTION, `${JSON.stringify(addressText)} has a zone (the part after "%"): sockets carry no zone, so it could not narrow the selection; write the address without it (it then matches that address on every interface)`);
  }
  if (addressText !== undefined && addressText !== '' && addressText !== '*') {
    const canonical = canonicalAddress(addressText);
    if (canonical === null) {
      const known = Object.keys(PROTOS).join(', ');
      // A bare number is most likely a port written without its colon.
      if (portText === undefined && /^\d+(-\d+)?$/.test(addressText)) {
        throw new FilterError(pattern, OPTION, `${JSON.stringify(addressText)} is a number, not an address: a port is written after a colon, ":${addressText}"`);
      }
      throw new FilterError(pattern, OPTION, `${JSON.stringify(addressText)} is neither an IPv4/IPv6 address nor a protocol (${known})`);
    }
    filter.address = canonical;
  }
  if (portText !== undefined && portText !== '' && portText !== '*') setPorts(filter, portText, pattern);
  if (filter.address === undefined && filter.portLow === undefined && filter.transport === undefined) {
    throw new FilterError(pattern, OPTION, 'it selects nothing: give a port (":22"), an address ("127.0.0.1:") or a protocol ("tcp:")');
  }
  return filter;
}

function setPorts(filter: EndpointFilter, text: string, pattern: string): void {
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!match) throw new FilterError(pattern, OPTION, `port ${JSON.stringify(text)} is not a number or LOW-HIGH range`);
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  if (low > 65535 || high > 65535) throw new FilterError(pattern, OPTION, `port ${JSON.stringify(text)} is above 65535`);
  if (low > high) throw new FilterError(pattern, OPTION, `port range ${JSON.stringify(text)} is reversed`);
  filter.portLow = low;
  filter.portHigh = high;
}

/** Does one endpoint (address, port) of a socket satisfy the filter's address and port? */
export function endpointMatches(filter: EndpointFilter, address: string, port: number): boolean {
  if (filter.address !== undefined && filter.address !== address) return false;
  if (filter.portLow !== undefined && (port < filter.portLow || port > (filter.portHigh ?? filter.portLow))) return false;
  return true;
}
