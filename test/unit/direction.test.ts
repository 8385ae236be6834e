import { describe, expect, it } from 'vitest';
import { filterSnapshot } from '../../src/diff/filter-snapshot.js';
import { inboundTest, listeningPortsLeftOut } from '../../src/model/direction.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';

const HOST = 4026531840;
const OTHER = 4026532001;
const listener = (port: number, extra = {}) => makeSocket({ localPort: port, inode: port, ...extra });
const conn = (localPort: number, remotePort: number, extra = {}) =>
  makeSocket({ listening: false, state: 'ESTABLISHED', localPort, remoteAddress: '203.0.113.9', remotePort, inode: localPort * 10 + 1, ...extra });

describe('inboundTest: a connection on a listening port of its namespace and transport was accepted there', () => {
  it('judges by the listeners of the inventory and the ports the selection left out', () => {
    const inbound = inboundTest({ sockets: [listener(22)], listeningPortsLeftOut: [{ netns: HOST, transport: 'tcp', port: 45000 }] });
    expect(inbound(conn(22, 51000))).toBe(true);
    expect(inbound(conn(45000, 51000))).toBe(true);
    expect(inbound(conn(51000, 443))).toBe(false);
    // Another namespace or transport has ports of its own; a listener itself is not a connection.
    expect(inbound(conn(22, 51000, { netns: OTHER }))).toBe(false);
    expect(inbound(conn(45000, 51000, { transport: 'udp' }))).toBe(false);
    expect(inbound(listener(22))).toBe(false);
  });

  it('takes the listeners from another list when given (a tick\'s changes judged against its whole capture)', () => {
    const inbound = inboundTest({ sockets: [conn(22, 51000)] }, [listener(22)]);
    expect(inbound(conn(22, 51000))).toBe(true);
  });
});

describe('listeningPortsLeftOut', () => {
  it('keeps the ports a kept connection is on, each once, leaves out ports a kept listener has, and sorts by namespace, transport and port', () => {
    const left = [listener(9000), listener(9000, { family: 'ipv6', localAddress: '::' }), listener(53, { transport: 'udp' }), listener(80, { netns: OTHER }), listener(22), listener(8080), listener(7000)];
    const kept = [listener(22), conn(22, 50000), conn(8080, 40000), conn(9000, 40001), conn(53, 40002, { transport: 'udp' }), conn(80, 40003, { netns: OTHER })];
    expect(listeningPortsLeftOut(left, kept)).toEqual([
      { netns: HOST, transport: 'tcp', port: 8080 },
      { netns: HOST, transport: 'tcp', port: 9000 },
      { netns: HOST, transport: 'udp', port: 53 },
      { netns: OTHER, transport: 'tcp', port: 80 },
    ]);
    // Port 7000: no kept connection is on it, so its direction question never comes up.
    expect(listeningPortsLeftOut([listener(7000)], [conn(51000, 7000)])).toEqual([]);
  });

  it('is carried by filterSnapshot: listeners a narrower selection drops still make their connections inbound', () => {
    const snap = { ...makeSnapshot({ sockets: [listener(22), conn(22, 51000)] }), listeningPortsLeftOut: [{ netns: HOST, transport: 'tcp' as const, port: 45000 }] };
    const narrowed = filterSnapshot(snap, { filters: { match: ['tcp * * * ESTABLISHED'] } });
    expect(narrowed.sockets.map((s) => s.state)).toEqual(['ESTABLISHED']);
    // Port 22's listener was dropped here; 45000's record is dropped too, as no connection kept is on it.
    expect(narrowed.listeningPortsLeftOut).toEqual([{ netns: HOST, transport: 'tcp', port: 22 }]);
    expect(inboundTest(narrowed)(narrowed.sockets[0]!)).toBe(true);
    // Nothing dropped, nothing recorded: the field stays absent.
    expect(filterSnapshot(makeSnapshot({ sockets: [listener(22)] }), {}).listeningPortsLeftOut).toBeUndefined();
  });
});
