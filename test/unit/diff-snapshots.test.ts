import { describe, expect, it } from 'vitest';
import { isExternalAddress } from '../../src/collect/parse/address.js';
import { diffSnapshots, exposureIndex, type ChangeKind } from '../../src/diff/diff-snapshots.js';
import type { ProcessRecord, SocketRecord } from '../../src/model/types.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

const nginx = makeProcess({ pid: 10, name: 'nginx', executable: '/usr/sbin/nginx', user: 'root', uid: 0, commandLine: ['nginx'] });
const curl = makeProcess({ pid: 20, name: 'curl', executable: '/usr/bin/curl', user: 'alice', uid: 1000, commandLine: ['curl', 'x'] });

const listener = (port: number, address = '0.0.0.0', pid = 10, extra: Partial<SocketRecord> = {}) =>
  makeSocket({ localAddress: address, localPort: port, inode: port * 10 + (address === '127.0.0.1' ? 1 : 0), owners: [{ pid, fd: 3 }], ...extra });
const outbound = (remote: string, remotePort: number, localPort: number, pid = 20) =>
  makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '10.0.0.5', localPort, remoteAddress: remote, remotePort, inode: 70000 + localPort, owners: [{ pid, fd: 5 }] });

function kinds(before: SocketRecord[], after: SocketRecord[], processesBefore: ProcessRecord[] = [nginx, curl], processesAfter: ProcessRecord[] = [nginx, curl]): ChangeKind[] {
  return diffSnapshots(makeSnapshot({ sockets: before, processes: processesBefore }), makeSnapshot({ sockets: after, processes: processesAfter })).changes.map((c) => c.kind);
}

describe('diffSnapshots', () => {
  it('indexes an inventory once: the same record arrays give the same index, other processes or namespaces a new one', () => {
    const snap = makeSnapshot({ sockets: [listener(80), outbound('93.184.216.34', 443, 40001)], processes: [nginx, curl] });
    const index = exposureIndex(snap);
    expect([...index.listeners.keys()]).toEqual(['host|tcp|0.0.0.0|80']);
    expect([...index.outbound.values()].map((o) => [o.executable, o.remoteAddress, o.connections])).toEqual([['/usr/bin/curl', '93.184.216.34', 1]]);
    // Another snapshot object over the same arrays (what a store hands out for an unchanged set).
    expect(exposureIndex({ ...snap, takenAt: '2026-01-02T00:00:00.000Z' })).toBe(index);
    // The same sockets with other processes: indexed again, and the owner seen is the new one.
    const renamed = exposureIndex({ ...snap, processes: [{ ...nginx, executable: '/opt/nginx' }, curl] });
    expect(renamed).not.toBe(index);
    expect(renamed.listeners.get('host|tcp|0.0.0.0|80')!.process!.executable).toBe('/opt/nginx');
    expect(index.listeners.get('host|tcp|0.0.0.0|80')!.process!.executable).toBe('/usr/sbin/nginx');
    expect(exposureIndex({ ...snap, namespaces: [...snap.namespaces] })).not.toBe(index);
  });

  it('reports nothing for the same inventory, even with new pids and ephemeral ports', () => {
    const nginx2 = { ...nginx, pid: 11 };
    expect(kinds([listener(80), outbound('93.184.216.34', 443, 40001)], [listener(80, '0.0.0.0', 11), outbound('93.184.216.34', 443, 40999)], [nginx, curl], [nginx2, curl])).toEqual([]);
  });

  it('reports opened and closed listeners by namespace, protocol, address and port', () => {
    const diff = diffSnapshots(makeSnapshot({ sockets: [listener(80)], processes: [nginx] }), makeSnapshot({ sockets: [listener(443)], processes: [nginx] }));
    expect(diff.changes).toEqual([
      expect.objectContaining({ kind: 'listener-opened', after: expect.objectContaining({ port: 443, namespace: 'host', proto: 'tcp', address: '0.0.0.0' }) }),
      expect.objectContaining({ kind: 'listener-closed', before: expect.objectContaining({ port: 80 }) }),
    ]);
    expect(diff.schemaVersion).toBe(1);
  });

  it('reports a replaced binary: same listener and executable path, different hash', () => {
    const patched = { ...nginx, hashes: { blake3: 'c'.repeat(64), sha256: 'd'.repeat(64), size: 1 } };
    expect(kinds([listener(80)], [listener(80)], [nginx], [patched])).toEqual(['binary-changed']);
  });

  it('reports a port taken over by another executable, user or command line', () => {
    const other = makeProcess({ pid: 99, name: 'python3', executable: '/tmp/x/python3', user: 'bob', uid: 1001, commandLine: ['python3', '-m', 'http.server', '80'] });
    const diff = diffSnapshots(makeSnapshot({ sockets: [listener(80)], processes: [nginx] }), makeSnapshot({ sockets: [listener(80, '0.0.0.0', 99)], processes: [other] }));
    expect(diff.changes).toEqual([expect.objectContaining({ kind: 'process-changed', fields: ['executable', 'user', 'commandLine'] })]);
  });

  it('reports widened exposure once, instead of a closed and an opened listener', () => {
    const diff = diffSnapshots(
      makeSnapshot({ sockets: [listener(8080, '127.0.0.1'), listener(8080, '::1', 10, { family: 'ipv6', inode: 9 })], processes: [nginx] }),
      makeSnapshot({ sockets: [listener(8080, '0.0.0.0')], processes: [nginx] }),
    );
    expect(diff.changes.map((c) => c.kind)).toEqual(['exposure-widened']);
    const change = diff.changes[0]!;
    if (change.kind !== 'exposure-widened') throw new Error('kind');
    expect(change.before.map((l) => l.address).sort()).toEqual(['127.0.0.1', '::1']);
    expect(change.after.map((l) => l.address)).toEqual(['0.0.0.0']);
    // Loopback to loopback is no widening.
    expect(kinds([listener(8080, '127.0.0.1')], [listener(8080, '::1', 10, { family: 'ipv6' })])).toEqual(['listener-opened', 'listener-closed']);
  });

  it('reports a change in the number of sockets on one listener (SO_REUSEPORT)', () => {
    expect(kinds([listener(80)], [listener(80), listener(80, '0.0.0.0', 10, { inode: 5555 })])).toEqual(['listener-count-changed']);
  });

  it('aggregates outbound connections: a reconnect from a new local port is no change', () => {
    expect(kinds([outbound('10.9.9.9', 5432, 41000)], [outbound('10.9.9.9', 5432, 41001), outbound('10.9.9.9', 5432, 41002)])).toEqual([]);
  });

  it('reports a new external destination once, and private, loopback or documentation ones only as outbound-opened', () => {
    expect(kinds([], [outbound('185.220.101.5', 4444, 42000), outbound('185.220.101.5', 80, 42001)])).toEqual(['outbound-opened', 'new-external-destination', 'outbound-opened']);
    expect(kinds([], [outbound('192.168.1.10', 22, 42000), outbound('198.51.100.7', 443, 42001), outbound('127.0.0.1', 5432, 42002)])).toEqual(['outbound-opened', 'outbound-opened', 'outbound-opened']);
    // Known from history: not new.
    const diff = diffSnapshots(makeSnapshot({ sockets: [], processes: [curl] }), makeSnapshot({ sockets: [outbound('185.220.101.5', 4444, 42000)], processes: [curl] }), { knownDestinations: new Set(['185.220.101.5']) });
    expect(diff.changes.map((c) => c.kind)).toEqual(['outbound-opened']);
  });

  it('does not count inbound connections to a local listener as outbound', () => {
    const inbound = makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '10.0.0.5', localPort: 80, remoteAddress: '203.0.113.50', remotePort: 51515, inode: 888, owners: [{ pid: 10, fd: 9 }] });
    expect(kinds([listener(80)], [listener(80), inbound])).toEqual([]);
  });

  it('reports a change in attribution coverage beyond the tolerance', () => {
    const before = makeSnapshot({ sockets: [listener(80)], processes: [nginx] });
    const after = makeSnapshot({ sockets: [listener(80), makeSocket({ localPort: 81, inode: 81, owners: [], unattributed: 'permission-denied' })], processes: [nginx] });
    expect(diffSnapshots(before, after).changes.map((c) => c.kind)).toContain('coverage-changed');
  });

  it('leaves kernel-owned sockets out of the coverage comparison: TIME_WAIT sockets coming and going is no change, a drop in attribution still is', () => {
    const timeWait = (n: number) =>
      Array.from({ length: n }, (_, i) => makeSocket({ localAddress: '10.0.0.5', localPort: 443, remoteAddress: '203.0.113.9', remotePort: 40000 + i, state: 'TIME_WAIT', listening: false, inode: 0, uid: 0, owners: [], unattributed: 'kernel-owned' }));
    const quiet = makeSnapshot({ sockets: [listener(80)], processes: [nginx] });
    const busy = makeSnapshot({ sockets: [listener(80), ...timeWait(60)], processes: [nginx] });
    expect(quiet.coverage.ratio).toBe(1);
    expect(busy.coverage.ratio).toBeLessThan(0.02); // the snapshot's own figure still counts every socket
    expect(diffSnapshots(quiet, busy).changes).toEqual([]);
    expect(diffSnapshots(busy, quiet).changes).toEqual([]);
    const denied = makeSnapshot({ sockets: [listener(80), makeSocket({ localPort: 81, inode: 81, owners: [], unattributed: 'permission-denied' }), ...timeWait(5)], processes: [nginx] });
    const change = diffSnapshots(busy, denied).changes.find((c) => c.kind === 'coverage-changed');
    expect(change).toBeDefined();
  });
});

describe('isExternalAddress', () => {
  it('is true only for globally routable addresses', () => {
    for (const a of ['8.8.8.8', '185.220.101.5', '2606:4700::1111']) expect(isExternalAddress(a), a).toBe(true);
    for (const a of ['10.1.2.3', '172.16.0.1', '192.168.1.1', '100.64.0.1', '127.0.0.1', '169.254.1.1', '192.0.2.1', '198.51.100.1', '203.0.113.1', '224.0.0.1', '0.0.0.0', '::', '::1', 'fe80::1', 'fd00::1', '2001:db8::1', '::ffff:10.0.0.1', 'nonsense']) {
      expect(isExternalAddress(a), a).toBe(false);
    }
  });
});
