import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SocketRecord, SocketState, UnattributedReason } from '../../src/model/types.js';
import { socketToJson } from '../../src/model/socket-json.js';
import { isArrayBody, parseSocketBody, socketBody } from '../../src/store/socket-body.js';
import { makeSocket } from '../helpers/make.js';

const STATES: SocketState[] = ['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'UNCONN', 'UNKNOWN'];
const REASONS: UnattributedReason[] = ['kernel-owned', 'permission-denied', 'process-exited', 'other-namespace', 'not-requested'];

const uint = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const port = fc.integer({ min: 0, max: 65535 });
/** Any socket record a capture can make, in a capture's key order. */
const socketArb: fc.Arbitrary<SocketRecord> = fc
  .record({
    transport: fc.constantFrom('tcp' as const, 'udp' as const),
    family: fc.constantFrom('ipv4' as const, 'ipv6' as const),
    localAddress: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()),
    localPort: port,
    remoteAddress: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()),
    remotePort: port,
    state: fc.constantFrom(...STATES),
    uid: uint,
    inode: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    netns: uint,
    listening: fc.boolean(),
    owners: fc.array(fc.tuple(fc.integer({ min: 1, max: 4194304 }), fc.integer({ min: 0, max: 1 << 20 })).map(([pid, fd]) => ({ pid, fd })), { maxLength: 4 }),
    unattributed: fc.option(fc.constantFrom(...REASONS), { nil: undefined }),
  })
  .map((r) => {
    const { unattributed, ...rest } = r;
    return unattributed === undefined ? { ...rest } : { ...rest, unattributed };
  });

describe('socket items as arrays (store schema 3)', () => {
  it('writes the documented array: proto, endpoints, state, uid, inode, netns, listening, owners as pid/fd pairs, the reason last', () => {
    const listener = makeSocket({ family: 'ipv6', localAddress: '::', localPort: 443, remoteAddress: '::', owners: [{ pid: 100, fd: 3 }, { pid: 101, fd: 7 }] });
    expect(socketBody(listener)).toBe('["tcp6","::",443,"::",0,"LISTEN",1000,1000,4026531840,1,[100,3,101,7]]');
    const timeWait = makeSocket({ transport: 'tcp', state: 'TIME_WAIT', listening: false, inode: 0, uid: 0, remoteAddress: '10.0.0.2', remotePort: 51000, owners: [], unattributed: 'kernel-owned' });
    expect(socketBody(timeWait)).toBe('["tcp","127.0.0.1",8080,"10.0.0.2",51000,"TIME_WAIT",0,0,4026531840,0,[],"kernel-owned"]');
    expect(isArrayBody(socketBody(timeWait))).toBe(true);
    expect(isArrayBody(socketToJson(timeWait))).toBe(false);
    // Less than half the bytes of the object form.
    expect(socketBody(listener).length).toBeLessThan(socketToJson(listener).length / 2);
  });

  it('reads back every record exactly, keys in capture order (so JSON output is byte for byte the captured one)', () => {
    fc.assert(
      fc.property(socketArb, (s) => {
        const body = socketBody(s);
        const back = parseSocketBody(body);
        expect(back).toStrictEqual(s);
        expect(JSON.stringify(back)).toBe(JSON.stringify(s));
        expect(socketToJson(back!)).toBe(socketToJson(s));
        // and the body is what the record writes again: one record, one body, one digest
        expect(socketBody(back!)).toBe(body);
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    ['not JSON', '["tcp","::",443'],
    ['an object', '{"transport":"tcp"}'],
    ['too few fields', '["tcp","::",443,"::",0,"LISTEN",0,1,2,1]'],
    ['too many fields', '["tcp","::",443,"::",0,"LISTEN",0,1,2,1,[],"kernel-owned","x"]'],
    ['an unknown proto', '["sctp","::",443,"::",0,"LISTEN",0,1,2,1,[]]'],
    ['a port as a string', '["tcp","::","443","::",0,"LISTEN",0,1,2,1,[]]'],
    ['a negative inode', '["tcp","::",443,"::",0,"LISTEN",0,-1,2,1,[]]'],
    ['a fractional uid', '["tcp","::",443,"::",0,"LISTEN",0.5,1,2,1,[]]'],
    ['listening as true', '["tcp","::",443,"::",0,"LISTEN",0,1,2,true,[]]'],
    ['an odd owner list', '["tcp","::",443,"::",0,"LISTEN",0,1,2,1,[100]]'],
    ['an owner pid as a string', '["tcp","::",443,"::",0,"LISTEN",0,1,2,1,["100",3]]'],
    ['a reason that is not a string', '["tcp","::",443,"::",0,"LISTEN",0,1,2,1,[],7]'],
  ])('refuses %s', (_name, body) => {
    expect(parseSocketBody(body)).toBeNull();
  });
});
