import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, FilterError } from '../../src/errors.js';
import { endpointMatches, parseEndpointFilter } from '../../src/filter/endpoint-filter.js';

describe('parseEndpointFilter', () => {
  it.each([
    [':22', { portLow: 22, portHigh: 22 }],
    ['127.0.0.1:', { address: '127.0.0.1' }],
    ['127.0.0.1:22', { address: '127.0.0.1', portLow: 22, portHigh: 22 }],
    ['127.0.0.1', { address: '127.0.0.1' }],
    ['tcp:8080', { transport: 'tcp', portLow: 8080, portHigh: 8080 }],
    ['udp:53', { transport: 'udp', portLow: 53, portHigh: 53 }],
    ['[::1]:22', { address: '::1', portLow: 22, portHigh: 22 }],
    ['[::1]', { address: '::1' }],
    ['[::1]:', { address: '::1' }],
    ['tcp6:[::]:443', { transport: 'tcp', family: 'ipv6', address: '::', portLow: 443, portHigh: 443 }],
    [':8000-8100', { portLow: 8000, portHigh: 8100 }],
    [':0', { portLow: 0, portHigh: 0 }],
    [':65535', { portLow: 65535, portHigh: 65535 }],
    ['::1', { address: '::1' }],
    ['2001:db8::1', { address: '2001:db8::1' }],
    ['fe80::1', { address: 'fe80::1' }],
    ['2001:db8::100', { address: '2001:db8::100' }],
    ['[::1:8830]', { address: '::1:8830' }],
    ['tcp', { transport: 'tcp' }],
    ['tcp:', { transport: 'tcp' }],
    ['TCP4', { transport: 'tcp', family: 'ipv4' }],
    ['udp6', { transport: 'udp', family: 'ipv6' }],
    ['udp4:127.0.0.1:53', { transport: 'udp', family: 'ipv4', address: '127.0.0.1', portLow: 53, portHigh: 53 }],
    ['tcp:1-1023', { transport: 'tcp', portLow: 1, portHigh: 1023 }],
    ['tcp:*', { transport: 'tcp' }],
    ['*:22', { portLow: 22, portHigh: 22 }],
    ['[::0001]:22', { address: '::1', portLow: 22, portHigh: 22 }],
    ['[::ffff:127.0.0.1]:22', { address: '127.0.0.1', portLow: 22, portHigh: 22 }],
    ['  :22  ', { portLow: 22, portHigh: 22 }],
  ])('%j', (pattern, expected) => {
    expect(parseEndpointFilter(pattern)).toEqual(expected);
  });

  it.each([
    ['foo:bar', 'neither an IPv4/IPv6 address nor a protocol'],
    [':99999', 'above 65535'],
    [':65536', 'above 65535'],
    [':100000', 'port "100000" is above 65535'],
    ['tcp:1844300', 'port "1844300" is above 65535'],
    [':80-100000', 'above 65535'],
    ['22', '"22" is a number, not an address: a port is written after a colon, ":22"'],
    ['8000-8100', 'a port is written after a colon, ":8000-8100"'],
    [':20-10', 'reversed'],
    [':22x', 'not a number'],
    [':-5', 'not a number'],
    ['[::1', 'closing "]"'],
    ['[::1]x', 'after "]"'],
    ['[127.0.0.1]:22', 'brackets are for IPv6'],
    ['[]:22', 'brackets are for IPv6'],
    ['', 'empty'],
    ['   ', 'empty'],
    [':', 'selects nothing'],
    ['*:*', 'selects nothing'],
    ['10.1:22', 'neither'],
    ['0x7f.0.0.1:', 'neither'],
    ['localhost:22', 'neither'],
    ['sctp:22', 'neither'],
    ['tcp:foo', 'neither'],
    // An IPv6 address written with its port but without brackets would select nothing, silently.
    ['::1:8830', '"::1:8830" reads as the IPv6 address ::1:8830, and may be meant as ::1 port 8830: write [::1:8830] for the address, or [::1]:8830 for the address and port'],
    ['0:0:0:0:0:0:0:1:8830', 'an IPv6 address with a port takes brackets: write [0:0:0:0:0:0:0:1]:8830 for the address and port'],
    ['tcp6:fe80::1:8000-8100', 'an IPv6 address with a port takes brackets: write [fe80::1]:8000-8100 for the address and port'],
    // A zone was dropped, and the filter then matched the address on every interface.
    ['[fe80::1%eth1]:7000', 'has a zone (the part after "%"): sockets carry no zone'],
    ['fe80::1%nosuchif', 'has a zone'],
  ])('%j is a FilterError (%s)', (pattern, problem) => {
    let error: unknown;
    try {
      parseEndpointFilter(pattern);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FilterError);
    // FilterError is a ConfigError: the CLI maps it to exit code 2.
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as FilterError;
    expect(e.code).toBe('E_FILTER');
    expect(e.pattern).toBe(pattern);
    expect(e.message).toContain('--filter');
    expect(e.message).toContain(JSON.stringify(pattern));
    expect(e.message).toContain(problem);
  });

  it('throws nothing but FilterError for arbitrary strings', () => {
    const piece = fc.constantFrom('tcp', 'udp6', ':', '[', ']', '::', '1', '127.0.0.1', '-', '*', '65536', 'ffff', '.', ' ', 'x');
    const pattern = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.array(piece, { maxLength: 8 }).map((p) => p.join('')));
    fc.assert(
      fc.property(pattern, (p) => {
        try {
          const f = parseEndpointFilter(p);
          // A parsed filter always selects something and has a sane port range.
          expect(f.transport !== undefined || f.address !== undefined || f.portLow !== undefined).toBe(true);
          if (f.portLow !== undefined) {
            expect(f.portLow).toBeGreaterThanOrEqual(0);
            expect(f.portHigh!).toBeGreaterThanOrEqual(f.portLow);
            expect(f.portHigh!).toBeLessThanOrEqual(65535);
          }
        } catch (error) {
          if (!(error instanceof FilterError)) throw error;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('endpointMatches', () => {
  it('compares canonical addresses and inclusive port ranges', () => {
    const f = parseEndpointFilter('[::0001]:8000-8100');
    expect(endpointMatches(f, '::1', 8000)).toBe(true);
    expect(endpointMatches(f, '::1', 8100)).toBe(true);
    expect(endpointMatches(f, '::1', 8101)).toBe(false);
    expect(endpointMatches(f, '::1', 7999)).toBe(false);
    expect(endpointMatches(f, '127.0.0.1', 8000)).toBe(false);
  });

  it('matches any endpoint when neither address nor port is given', () => {
    expect(endpointMatches(parseEndpointFilter('tcp'), '10.0.0.1', 1)).toBe(true);
  });

  it('does not treat a wildcard listener as matching a specific address', () => {
    expect(endpointMatches(parseEndpointFilter('127.0.0.1:'), '0.0.0.0', 22)).toBe(false);
  });
});
