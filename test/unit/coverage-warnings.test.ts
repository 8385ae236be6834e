import { describe, expect, it } from 'vitest';
import { createSnapshot, PRIVILEGE_HINT } from '../../src/snapshot/create-snapshot.js';
import { makeProcess, makeSocket } from '../helpers/make.js';

/** A snapshot of test parts: its namespaces, sockets and what the scan could not read. */
function snapshotOf(parts: Pick<Parameters<typeof createSnapshot>[0], 'namespaces' | 'sockets' | 'scan'>) {
  return createSnapshot({
    version: '0.0.0-test',
    host: { hostname: 'testhost', platform: 'linux', kernel: '6.1.0', bootTime: '2026-11-22T00:00:00.000Z' },
    takenAt: new Date('2026-11-23T01:02:03.000Z'),
    durationMs: 1,
    selection: { listeningOnly: false, includeEphemeral: false, families: ['ipv4', 'ipv6'], processInfo: true, hashBinaries: true, ephemeralPortRange: [32768, 60999], filters: {} },
    processes: [makeProcess()],
    ...parts,
  });
}

/** A snapshot of one socket its owner's descriptors did not let netmon attribute. */
function denied(fullPrivilege: 'root' | 'capabilities' | null) {
  return snapshotOf({
    namespaces: [{ inode: 4026531840, name: 'host', host: true, processes: 2, sockets: 1, read: true }],
    sockets: [makeSocket({ owners: [], unattributed: 'permission-denied' })],
    scan: { processesScanned: 2, processesDenied: 1, processesExited: 0, namespacesUnknown: 0, fullPrivilege },
  });
}

describe('the privilege warning of a snapshot with an unreadable process', () => {
  it('without root or the two capabilities: W_PRIVILEGE, naming the remedy', () => {
    const [w] = denied(null).warnings;
    expect(w?.code).toBe('W_PRIVILEGE');
    expect(w?.message).toContain('1 of 1 socket could not be attributed');
    expect(w?.message).toContain(PRIVILEGE_HINT);
  });

  it('as root: W_PROTECTED, and no remedy netmon already has', () => {
    const [w] = denied('root').warnings;
    expect(w?.code).toBe('W_PROTECTED');
    expect(w?.message).toContain('although netmon runs as root: those processes are protected');
    expect(w?.message).not.toContain('setcap');
  });

  it('holding CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: W_PROTECTED, not the advice to grant them', () => {
    const snap = denied('capabilities');
    expect(snap.warnings.map((w) => w.code)).toEqual(['W_PROTECTED']);
    expect(snap.warnings[0]!.message).toContain('although netmon holds CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: those processes are protected');
    expect(snap.warnings[0]!.message).not.toContain('setcap');
    // Coverage still says that a process was unreadable.
    expect(snap.coverage.privileged).toBe(false);
  });
});

/** A snapshot of a host with `unread` network namespaces netmon could not enter (a container host read without root). */
function withUnread(unread: number) {
  const namespaces = [
    { inode: 4026531840, name: 'host', host: true, processes: 2, sockets: 0, read: true },
    ...Array.from({ length: unread }, (_, k) => ({ inode: 4026532000 + k, name: `ct-${k}`, host: false, processes: 1, sockets: 0, read: false, reason: `entering /run/netns/ct-${k} needs root` })),
  ];
  return snapshotOf({ namespaces, sockets: [], scan: { processesScanned: 2, processesDenied: 0, processesExited: 0, namespacesUnknown: 0, fullPrivilege: 'root' } });
}

describe('warnings for network namespaces not read', () => {
  it('up to six: one warning each, naming the namespace and why', () => {
    const messages = withUnread(6).warnings.map((w) => `${w.code} ${w.message}`);
    expect(messages).toEqual(Array.from({ length: 6 }, (_, k) => `W_NAMESPACE_UNREAD network namespace ct-${k} was not read: entering /run/netns/ct-${k} needs root`));
  });

  it('150 of them (from a probe: 150 lines of warnings): the first five named, the rest counted in one warning; the namespaces list still names each', () => {
    const snap = withUnread(150);
    const messages = snap.warnings.map((w) => `${w.code} ${w.message}`);
    expect(messages).toEqual([
      ...Array.from({ length: 5 }, (_, k) => `W_NAMESPACE_UNREAD network namespace ct-${k} was not read: entering /run/netns/ct-${k} needs root`),
      "W_NAMESPACE_UNREAD 145 more network namespaces were not read (the snapshot's namespaces list names each, with why: netmon snapshot -o json)",
    ]);
    expect(snap.namespaces.filter((n) => !n.read)).toHaveLength(150);
    expect(snap.namespaces.at(-1)).toMatchObject({ name: 'ct-149', read: false, reason: 'entering /run/netns/ct-149 needs root' });
  });
});
