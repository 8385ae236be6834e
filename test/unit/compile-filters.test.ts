import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterError } from '../../src/errors.js';
import { formatEndpoint, formatIpv6 } from '../../src/collect/parse/address.js';
import { compileFilters, patternMatchingNothing, socketKeys, tuplesWithoutListeners } from '../../src/filter/compile-filters.js';
import { compileGlob, type Glob } from '../../src/filter/glob.js';
import { protoName } from '../../src/model/types.js';
import type { FilterSpec, SocketRecord } from '../../src/model/types.js';
import { makeProcess, makeSocket } from '../helpers/make.js';

// A small socket zoo.
const tcp4Listen80 = makeSocket({ localAddress: '127.0.0.1', localPort: 80 });
const tcp6Listen80 = makeSocket({ family: 'ipv6', localAddress: '::1', localPort: 80, remoteAddress: '::' });
const tcp4Listen22 = makeSocket({ localAddress: '0.0.0.0', localPort: 22 });
const tcp6Listen443 = makeSocket({ family: 'ipv6', localAddress: '::', localPort: 443, remoteAddress: '::' });
const udp4Dns = makeSocket({ transport: 'udp', localAddress: '127.0.0.53', localPort: 53, state: 'UNCONN' });
const udp6Unconn = makeSocket({ transport: 'udp', family: 'ipv6', localAddress: '::', localPort: 5353, remoteAddress: '::', state: 'UNCONN' });
/** An outgoing web connection from an ephemeral port to 72.14.207.99:80. */
const tcp4ToWeb = makeSocket({
  localAddress: '192.168.1.5',
  localPort: 51000,
  remoteAddress: '72.14.207.99',
  remotePort: 80,
  state: 'ESTABLISHED',
  listening: false,
});
const tcp6Estab = makeSocket({
  family: 'ipv6',
  localAddress: '2001:db8::5',
  localPort: 40000,
  remoteAddress: '2001:db8::99',
  remotePort: 443,
  state: 'ESTABLISHED',
  listening: false,
});
/** IPv4-mapped connection accepted by a dual-stack listener: an IPv6 socket showing IPv4 text. */
const tcp6Mapped = makeSocket({
  family: 'ipv6',
  localAddress: '127.0.0.1',
  localPort: 41003,
  remoteAddress: '127.0.0.1',
  remotePort: 47402,
  state: 'ESTABLISHED',
  listening: false,
});
const udp4Connected = makeSocket({
  transport: 'udp',
  localAddress: '127.0.0.1',
  localPort: 41006,
  remoteAddress: '127.0.0.1',
  remotePort: 41004,
  state: 'ESTABLISHED',
  listening: false,
});
const ALL: SocketRecord[] = [tcp4Listen80, tcp6Listen80, tcp4Listen22, tcp6Listen443, udp4Dns, udp6Unconn, tcp4ToWeb, tcp6Estab, tcp6Mapped, udp4Connected];

/** The sockets of ALL a spec keeps. */
function kept(spec: FilterSpec, resolver?: (address: string) => string | undefined): SocketRecord[] {
  const f = compileFilters(spec);
  return ALL.filter((s) => f.socket(s, resolver));
}

function filterError(fn: () => unknown): FilterError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FilterError);
    return error as FilterError;
  }
  throw new Error('expected a FilterError, nothing was thrown');
}

describe('socket keys', () => {
  it('use tcp/udp for IPv4 tables and tcp6/udp6 for IPv6 tables', () => {
    expect(protoName(tcp4Listen80)).toBe('tcp');
    expect(protoName(tcp6Listen80)).toBe('tcp6');
    expect(protoName(udp4Dns)).toBe('udp');
    expect(protoName(udp6Unconn)).toBe('udp6');
    // The family is the table's, even when the address is shown as IPv4.
    expect(protoName(tcp6Mapped)).toBe('tcp6');
  });

  it('give a listening socket only its local key', () => {
    expect(socketKeys(tcp4Listen80)).toEqual(['tcp/127.0.0.1/80']);
    expect(socketKeys(udp6Unconn)).toEqual(['udp6/::/5353']);
  });

  it('give a connected socket its local and remote keys', () => {
    expect(socketKeys(tcp4ToWeb)).toEqual(['tcp/192.168.1.5/51000', 'tcp/72.14.207.99/80']);
    expect(socketKeys(tcp6Mapped)).toEqual(['tcp6/127.0.0.1/41003', 'tcp6/127.0.0.1/47402']);
  });
});

describe('compileFilters: key globs (--include / --exclude)', () => {
  it('an empty spec keeps everything and says so', () => {
    const f = compileFilters();
    expect(f.empty).toBe(true);
    expect(f.needsProcess).toBe(false);
    expect(f.needsHostNames).toBe(false);
    expect(ALL.every((s) => f.socket(s))).toBe(true);
    expect(f.process(undefined)).toBe(true);
  });

  it('"*/80" matches port 80 on IPv4 and IPv6, local or remote', () => {
    expect(kept({ include: ['*/80'] })).toEqual([tcp4Listen80, tcp6Listen80, tcp4ToWeb]);
  });

  it('"tcp*/*/80" matches both TCP tables but not UDP', () => {
    const udp80 = makeSocket({ transport: 'udp', localPort: 80, state: 'UNCONN' });
    const f = compileFilters({ include: ['tcp*/*/80'] });
    expect(f.socket(tcp4Listen80)).toBe(true);
    expect(f.socket(tcp6Listen80)).toBe(true);
    expect(f.socket(udp80)).toBe(false);
    expect(f.empty).toBe(false);
  });

  it('"*/72.14.207.9?/80" matches a connection by its remote end', () => {
    expect(kept({ include: ['*/72.14.207.9?/80'] })).toEqual([tcp4ToWeb]);
  });

  it('"tcp6/*" selects by the IPv6 table, including IPv4-mapped sockets', () => {
    expect(kept({ include: ['tcp6/*'] })).toEqual([tcp6Listen80, tcp6Listen443, tcp6Estab, tcp6Mapped]);
    expect(kept({ include: ['tcp/*'] })).toEqual([tcp4Listen80, tcp4Listen22, tcp4ToWeb]);
  });

  it('a listening socket has no remote key: its 0.0.0.0:0 "peer" is never matched', () => {
    expect(kept({ include: ['*/0.0.0.0/0'] })).toEqual([]);
    expect(kept({ include: ['*/*/0'] })).toEqual([]);
  });

  it('several includes are OR-ed', () => {
    expect(kept({ include: ['*/22', 'udp*/*/53'] })).toEqual([tcp4Listen22, udp4Dns]);
  });

  it('exclude alone drops matching sockets and keeps the rest', () => {
    expect(kept({ exclude: ['udp*'] })).toEqual(ALL.filter((s) => s.transport !== 'udp'));
  });

  it('exclude wins over include', () => {
    expect(kept({ include: ['*/80'], exclude: ['tcp6/*'] })).toEqual([tcp4Listen80, tcp4ToWeb]);
    expect(kept({ include: ['*/80'], exclude: ['*/80'] })).toEqual([]);
  });

  it('an exclude on the remote end drops the connection', () => {
    expect(kept({ exclude: ['*/72.14.207.*/*'] })).not.toContain(tcp4ToWeb);
  });

  it.each([
    ['tcp/1.2.3.4/80/x', 'three parts'],
    ['tcp /*/80', 'no spaces'],
    ['tcp/[1.2/80', 'never closed'],
    ['', 'empty'],
  ])('refuses key pattern %j (%s)', (pattern, problem) => {
    const e = filterError(() => compileFilters({ include: [pattern] }));
    expect(e.message).toContain('--include');
    expect(e.message).toContain(problem);
    expect(filterError(() => compileFilters({ exclude: [pattern] })).message).toContain('--exclude');
  });
});

describe('compileFilters: endpoint filters (--filter)', () => {
  it('match the local or, for connected sockets, the remote endpoint', () => {
    expect(kept({ filter: [':80'] })).toEqual([tcp4Listen80, tcp6Listen80, tcp4ToWeb]);
  });

  it('a protocol with a family restricts the table', () => {
    expect(kept({ filter: ['tcp6:80'] })).toEqual([tcp6Listen80]);
    expect(kept({ filter: ['udp'] })).toEqual([udp4Dns, udp6Unconn, udp4Connected]);
    expect(kept({ filter: ['udp4'] })).toEqual([udp4Dns, udp4Connected]);
  });

  it('addresses are compared in canonical form', () => {
    expect(kept({ filter: ['[::0001]:'] })).toEqual([tcp6Listen80]);
    expect(kept({ filter: ['[::ffff:127.0.0.1]:41003'] })).toEqual([tcp6Mapped]);
  });

  it('are OR-ed among themselves', () => {
    expect(kept({ filter: [':22', ':53'] })).toEqual([tcp4Listen22, udp4Dns]);
  });

  it('a listening socket is not matched through its 0.0.0.0 "peer"', () => {
    expect(kept({ filter: ['0.0.0.0:'] })).toEqual([tcp4Listen22]);
  });
});

describe('compileFilters: tuple globs (--match)', () => {
  it('"tcp * * * ESTABLISHED" matches IPv4 and IPv6 TCP connections, not listeners or UDP', () => {
    expect(kept({ match: ['tcp * * * ESTABLISHED'] })).toEqual([tcp4ToWeb, tcp6Estab, tcp6Mapped]);
    expect(compileFilters({ match: ['tcp * * * ESTABLISHED'] }).needsHostNames).toBe(true);
  });

  it('the proto field matches the transport or transport+family digit, case-insensitively', () => {
    expect(kept({ match: ['tcp6 * * * ESTABLISHED'] })).toEqual([tcp6Estab, tcp6Mapped]);
    expect(kept({ match: ['TCP4'] })).toEqual([tcp4Listen80, tcp4Listen22, tcp4ToWeb]);
    expect(kept({ match: ['udp* * * * established'] })).toEqual([udp4Connected]);
  });

  it('missing trailing fields match anything', () => {
    expect(kept({ match: ['udp'] })).toEqual([udp4Dns, udp6Unconn, udp4Connected]);
  });

  it('local and remote are ADDR:PORT, with brackets for IPv6; a listener\'s remote is "*:*"', () => {
    expect(kept({ match: ['* *:80'] })).toEqual([tcp4Listen80, tcp6Listen80]);
    expect(kept({ match: ['* \\[::1\\]:80'] })).toEqual([tcp6Listen80]);
    expect(kept({ match: ['* * \\*:\\*'] })).toEqual(ALL.filter((s) => s.listening));
    expect(kept({ match: ['* * *:443'] })).toEqual([tcp6Estab]);
  });

  it('the remote-host field uses the resolver, falling back to the address', () => {
    const resolver = (address: string): string | undefined => (address === '72.14.207.99' ? 'www.example.com' : undefined);
    expect(kept({ match: ['* * * *.EXAMPLE.com'] }, resolver)).toEqual([tcp4ToWeb]);
    expect(kept({ match: ['* * * 2001:db8::99'] }, resolver)).toEqual([tcp6Estab]);
    // Without a resolver the address itself is the host.
    expect(kept({ match: ['* * * 72.14.207.99'] })).toEqual([tcp4ToWeb]);
    // With one, a resolved name replaces the address.
    expect(kept({ match: ['* * * 72.14.207.99'] }, resolver)).toEqual([]);
  });

  it('the remote-host of a listener is "*"', () => {
    const seen: string[] = [];
    const resolver = (address: string): string | undefined => {
      seen.push(address);
      return 'never';
    };
    expect(kept({ match: ['* * * \\*'] }, resolver)).toEqual(ALL.filter((s) => s.listening));
    // The resolver is asked about connected sockets' peers only.
    expect(seen).toEqual(ALL.filter((s) => !s.listening).map((s) => s.remoteAddress));
  });

  it('the state field takes the live view\'s names too (ESTAB, TIME-WAIT)', () => {
    expect(kept({ match: ['tcp * * * ESTAB'] })).toEqual(kept({ match: ['tcp * * * ESTABLISHED'] }));
    const timeWait = makeSocket({ localPort: 40000, remotePort: 80, remoteAddress: '10.0.0.1', listening: false, state: 'TIME_WAIT' });
    for (const state of ['TIME_WAIT', 'TIME-WAIT', 'time-wait']) expect(compileFilters({ match: [`tcp * * * ${state}`] }).socket(timeWait)).toBe(true);
  });

  it('a protocol or state no socket can have is a FilterError that lists the names, not a filter that matches nothing', () => {
    const error = (pattern: string): FilterError => {
      try {
        compileFilters({ match: [pattern] });
      } catch (e) {
        return e as FilterError;
      }
      throw new Error(`${pattern} compiled`);
    };
    const state = error('tcp * * * ESTABLISHD');
    expect(state).toBeInstanceOf(FilterError);
    expect(state.message).toContain('no socket state is called "ESTABLISHD": the fifth field is one of ESTABLISHED (ESTAB), SYN_SENT (SYN-SENT)');
    expect(state.message).toContain('TIME_WAIT (TIME-WAIT)');
    expect(error('tcpp').message).toContain('no protocol is called "tcpp": the first field is one of tcp, udp, tcp4, tcp6, udp4, udp6');
    // Globs that can match something are fine.
    expect(() => compileFilters({ match: ['t?p * * * *WAIT*'] })).not.toThrow();
  });

  it('several tuples are OR-ed', () => {
    expect(kept({ match: ['udp * * * UNCONN', '* *:22'] })).toEqual([tcp4Listen22, udp4Dns, udp6Unconn]);
  });

  it('refuses a tuple with 6 fields, an empty tuple and a bad glob', () => {
    const six = filterError(() => compileFilters({ match: ['tcp * * * ESTABLISHED extra'] }));
    expect(six.message).toContain('--match');
    expect(six.message).toContain('found 6');
    expect(filterError(() => compileFilters({ match: ['   '] })).message).toContain('empty');
    expect(filterError(() => compileFilters({ match: ['tcp [ab'] })).pattern).toBe('[ab');
  });
});

describe('compileFilters: AND across kinds', () => {
  it('every kind given must match', () => {
    // port 80 AND IPv6 table AND LISTEN
    expect(kept({ filter: [':80'], include: ['tcp6/*'], match: ['* * * * LISTEN'] })).toEqual([tcp6Listen80]);
    // port 80 AND UDP: nothing
    expect(kept({ filter: [':80'], match: ['udp'] })).toEqual([]);
    // OR within --filter, AND with --exclude
    expect(kept({ filter: [':80', ':443'], exclude: ['tcp6/*'] })).toEqual([tcp4Listen80, tcp4ToWeb]);
  });

  it('socket and process filters are separate: a socket filter does not need the process and vice versa', () => {
    const f = compileFilters({ include: ['*/80'], process: ['nginx'] });
    expect(f.needsProcess).toBe(true);
    expect(f.socket(tcp4Listen80)).toBe(true);
    expect(f.process(makeProcess({ name: 'nginx' }))).toBe(true);
    expect(f.process(makeProcess({ name: 'sshd', executable: '/usr/sbin/sshd' }))).toBe(false);
  });
});

describe('compileFilters: process filters', () => {
  const python = makeProcess();
  const sshd = makeProcess({ pid: 200, name: 'sshd', executable: '/usr/sbin/sshd', uid: 0, user: 'root' });
  const renamed = makeProcess({ pid: 300, name: 'worker-1', executable: '/opt/app/bin/server', uid: 1001, user: null });
  const noExe = makeProcess({ pid: 400, name: 'kworker/0:1', executable: null, uid: null, user: null });

  it('--process matches the command name or the executable basename', () => {
    const f = compileFilters({ process: ['python*'] });
    expect(f.process(python)).toBe(true);
    expect(f.process(sshd)).toBe(false);
    expect(compileFilters({ process: ['server'] }).process(renamed)).toBe(true);
    expect(compileFilters({ process: ['worker-?'] }).process(renamed)).toBe(true);
    expect(compileFilters({ process: ['python3.11'] }).process(python)).toBe(true);
    // not the full path
    expect(compileFilters({ process: ['/opt/app/bin/server'] }).process(renamed)).toBe(false);
    // a process without a readable executable is matched by name only
    expect(compileFilters({ process: ['kworker*'] }).process(noExe)).toBe(true);
  });

  it('--path matches the whole executable path, never a process without one', () => {
    expect(compileFilters({ path: ['/usr/*'] }).process(python)).toBe(true);
    expect(compileFilters({ path: ['/usr/*'] }).process(renamed)).toBe(false);
    expect(compileFilters({ path: ['*'] }).process(noExe)).toBe(false);
  });

  it('--user matches the user name or the numeric uid', () => {
    expect(compileFilters({ user: ['alice'] }).process(python)).toBe(true);
    expect(compileFilters({ user: ['1000'] }).process(python)).toBe(true);
    expect(compileFilters({ user: ['root'] }).process(python)).toBe(false);
    expect(compileFilters({ user: ['0'] }).process(sshd)).toBe(true);
    expect(compileFilters({ user: ['100?'] }).process(renamed)).toBe(true);
    expect(compileFilters({ user: ['*'] }).process(noExe)).toBe(false);
  });

  it('OR within a kind, AND across kinds', () => {
    const f = compileFilters({ process: ['sshd', 'python*'], user: ['root'] });
    expect(f.process(sshd)).toBe(true);
    expect(f.process(python)).toBe(false);
  });

  it('an unattributed socket (no process) never matches a process filter', () => {
    expect(compileFilters({ process: ['*'] }).process(undefined)).toBe(false);
    expect(compileFilters({ path: ['*'] }).process(undefined)).toBe(false);
    expect(compileFilters({ user: ['*'] }).process(undefined)).toBe(false);
    // ... but passes when there is no process filter at all
    expect(compileFilters({ include: ['*'] }).process(undefined)).toBe(true);
  });

  it('names the option in errors', () => {
    expect(filterError(() => compileFilters({ process: ['[x'] })).message).toContain('--process');
    expect(filterError(() => compileFilters({ path: [''] })).message).toContain('--path');
    expect(filterError(() => compileFilters({ user: ['[z-a]'] })).message).toContain('--user');
  });
});

describe('compileFilters properties', () => {
  it('throws nothing but FilterError for arbitrary pattern arrays', () => {
    const piece = fc.constantFrom('*', '?', '[', ']', '!', '-', '\\', '/', ':', ' ', 'tcp', 'udp6', '80', '::1', '127.0.0.1', 'ESTABLISHED', 'a');
    const pattern = fc.oneof(fc.string({ maxLength: 20 }), fc.array(piece, { maxLength: 8 }).map((p) => p.join('')));
    const list = fc.option(fc.array(pattern, { maxLength: 3 }), { nil: undefined });
    const spec = fc.record({ filter: list, include: list, exclude: list, match: list, process: list, path: list, user: list }, { requiredKeys: [] });
    fc.assert(
      fc.property(spec, (s) => {
        let f;
        try {
          f = compileFilters(s as FilterSpec);
        } catch (error) {
          if (!(error instanceof FilterError)) throw error;
          return;
        }
        // A compiled filter can be applied to anything without throwing.
        for (const socket of ALL) f.socket(socket, () => 'host.example');
        f.process(makeProcess());
        f.process(undefined);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('tuplesWithoutListeners', () => {
  it('names the --match patterns no listener can match (state, remote end or remote host)', () => {
    const patterns = ['tcp', 'udp * * * UNCONN', 'tcp * * * LIST*', '* * *:* * *', 'tcp * * * ESTABLISHED', 'tcp * * * ESTAB', 'tcp * 10.0.0.1:*', 'tcp * * db.example', 'udp * * * CLOSE'];
    expect(tuplesWithoutListeners(patterns)).toEqual(['tcp * * * ESTABLISHED', 'tcp * * * ESTAB', 'tcp * 10.0.0.1:*', 'tcp * * db.example', 'udp * * * CLOSE']);
  });
});


/** A compiled glob, or null for a pattern that is not one at all (compileFilters says so). */
function globOrNull(pattern: string): Glob | null {
  try {
    return compileGlob(pattern, '--include');
  } catch {
    return null;
  }
}

describe('patternMatchingNothing', () => {
  /** Socket keys as captures make them: a protocol, an address as the collector formats it, a port. */
  const key = fc.tuple(
    fc.constantFrom('tcp', 'udp', 'tcp6', 'udp6'),
    fc.oneof(fc.ipV4(), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }).map(formatIpv6)),
    fc.integer({ min: 0, max: 65535 }),
  ).map(([proto, address, port]) => `${proto}/${address}/${port}`);
  const refused = (pattern: string, option: 'include' | 'exclude' = 'include') => patternMatchingNothing({ [option]: [pattern] });

  it('refuses patterns that no key can match, saying why', () => {
    expect(refused('tpc/*/80')?.message).toContain('(the protocol is tcp, udp, tcp6 or udp6, not "tpc")');
    expect(refused('*:80')?.message).toContain('(a port follows a "/", not a ":")');
    expect(refused('tcp/127.0.0.1:22', 'exclude')?.message).toMatch(/^invalid --exclude pattern "tcp\/127.0.0.1:22": no socket key can match it \(a port follows/);
    expect(refused('tcp6/FE80::*/*')?.message).toContain('(addresses are in lowercase)');
    for (const p of ['tcp/*/http', 'tcp6/::1', 'tcp/*/123456', 'udp/1.2.3.4/', 'tcp//80']) expect(refused(p), p).toBeInstanceOf(FilterError);
    // The first bad one is named.
    expect(patternMatchingNothing({ include: ['*/80'], exclude: ['*/22', 'x/*/*'] })?.pattern).toBe('x/*/*');
  });

  /** The LOCAL and REMOTE texts of --match: address:port, IPv6 in brackets, or a listener's *:*. */
  const endpoint = fc.oneof(
    fc.tuple(fc.oneof(fc.ipV4(), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }).map(formatIpv6)), fc.integer({ min: 0, max: 65535 })).map(([a, p]) => formatEndpoint(a, p)),
    fc.constant('*:*'),
  );
  const refusedMatch = (pattern: string) => patternMatchingNothing({ match: [pattern] });

  it('refuses a --match LOCAL or REMOTE field that no end can match, saying why', () => {
    expect(refusedMatch('tcp [::1]:22')?.message).toContain('in a glob "[" begins a set of characters: write \\[::1\\]:22');
    expect(refusedMatch('tcp ::1:22')?.message).toContain('an IPv6 address is written in brackets');
    expect(refusedMatch('tcp * 127.0.0.1/22')?.message).toMatch(/no socket's REMOTE end can match "127.0.0.1\/22" \(a port follows a ":", not a "\/"\)/);
    expect(refusedMatch('udp localhost:53')?.message).toContain("no socket's LOCAL end can match \"localhost:53\"");
    for (const p of ['tcp 1.2.3:4', 'tcp 1000.1.1.1:2', 'tcp \\[FE80::1\\]:*', 'tcp *:http']) expect(refusedMatch(p), p).toBeInstanceOf(FilterError);
    for (const p of ['tcp', 'tcp \\[::1\\]:22', 'tcp *:22', 'tcp * 10.0.0.1:*', 'tcp * * * LISTEN', 'udp ?.?.?.?:?', 'tcp 127.0.0.1:22 *:*', 'tcp6 \\[fe80::*']) {
      expect(refusedMatch(p), p).toBeNull();
    }
  });

  it('never refuses a --match field that a real end matches, and refuses only what none matches', () => {
    const edit = fc.array(fc.constantFrom('keep', 'one', 'star', 'escape'), { minLength: 50, maxLength: 50 });
    fc.assert(
      fc.property(endpoint, edit, (e, edits) => {
        let field = '';
        let star = false;
        [...e].forEach((c, i) => {
          const x = edits[i]!;
          // "[" and "]" are kept escaped: unescaped they begin a set.
          field += x === 'one' ? '?' : x === 'star' ? (star ? '' : '*') : x === 'escape' || c === '[' || c === ']' || c === '*' ? `\\${c}` : c;
          star = x === 'star';
        });
        expect(compileGlob(field, '--match').test(e)).toBe(true);
        expect(refusedMatch(`tcp ${field}`), `${field} (made from ${e})`).toBeNull();
        expect(refusedMatch(`tcp * ${field}`), `${field} (made from ${e})`).toBeNull();
      }),
      { numRuns: 500 },
    );
    const char = fc.constantFrom('*', '?', '[', ']', '\\', ':', '.', '/', '1', '2', '5', 'f', 'F', 'x');
    fc.assert(
      fc.property(fc.array(char, { minLength: 1, maxLength: 12 }).map((cs) => cs.join('')), fc.array(endpoint, { minLength: 50, maxLength: 50 }), (field, ends) => {
        const glob = globOrNull(field);
        if (glob === null) return;
        if (refusedMatch(`tcp ${field}`) !== null) for (const e of ends) expect(glob.test(e), `${field} refused, but matches ${e}`).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts the documented patterns', () => {
    for (const p of ['*', '*/80', 'tcp*/*/80', '*/72.14.207.9?/80', 'udp6/::1/*', '*/10.0.*/*', '[tu]*/*/[0-9]*', 'tcp/[!1]*/*', 'tcp6/::ffff:127.0.0.1/*', '*/*/6553?']) {
      expect(refused(p), p).toBeNull();
    }
  });

  it('never refuses a pattern that a real key matches (patterns made from keys)', () => {
    // Characters of a key replaced by "?", runs by "*", others kept, escaped or put in a set.
    const edit = fc.array(fc.constantFrom('keep', 'one', 'star', 'set', 'escape'), { minLength: 40, maxLength: 60 });
    fc.assert(
      fc.property(key, edit, (k, edits) => {
        let pattern = '';
        let star = false;
        [...k].forEach((c, i) => {
          const e = edits[i % edits.length];
          pattern += e === 'one' ? '?' : e === 'star' ? (star ? '' : '*') : e === 'set' ? `[${c}x]` : e === 'escape' ? `\\${c}` : c;
          star = e === 'star';
        });
        expect(compileGlob(pattern, '--include').test(k)).toBe(true);
        expect(refused(pattern), `${pattern} (made from ${k})`).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('only refuses what no key matches (random patterns against random keys)', () => {
    const char = fc.constantFrom('*', '?', '[', ']', '!', '-', '/', ':', '.', 't', 'c', 'p', 'u', 'd', '6', '0', '1', '8', 'f', 'F', 'x');
    fc.assert(
      fc.property(fc.array(char, { minLength: 1, maxLength: 14 }).map((cs) => cs.join('')), fc.array(key, { minLength: 50, maxLength: 50 }), (pattern, keys) => {
        const glob = globOrNull(pattern);
        if (glob === null) return;
        if (/\s/.test(pattern) || (pattern.match(/\//g) ?? []).length > 2) return;
        if (refused(pattern) !== null) for (const k of keys) expect(glob.test(k), `${pattern} refused, but matches ${k}`).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });
});
