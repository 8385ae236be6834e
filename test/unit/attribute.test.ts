import { describe, expect, it } from 'vitest';
import { attributeSocket, type AttributionContext } from '../../src/enrich/attribute.js';
import type { SocketOwner } from '../../src/model/types.js';

const owners = (entries: [number, SocketOwner[]][]): Map<number, SocketOwner[]> => new Map(entries);

const ctx = (over: Partial<AttributionContext> = {}): AttributionContext => ({
  owners: owners([[7122, [{ pid: 4123, fd: 19 }]]]),
  processesDenied: 0,
  deniedUids: new Set(),
  ...over,
});

describe('attributeSocket', () => {
  it('not-requested when attribution was switched off, whatever the counters; an inode-0 socket is still kernel-owned', () => {
    expect(attributeSocket(7122, 0, ctx({ owners: undefined }))).toEqual({ owners: [], unattributed: 'not-requested' });
    expect(attributeSocket(7122, 0, ctx({ owners: undefined, processesDenied: 3, deniedUids: null }))).toEqual({ owners: [], unattributed: 'not-requested' });
    // No descriptor holds it whether or not one was looked for (TIME_WAIT).
    expect(attributeSocket(0, 0, ctx({ owners: undefined, processesDenied: 3, deniedUids: null }))).toEqual({ owners: [], unattributed: 'kernel-owned' });
  });

  it('kernel-owned for inode 0 (TIME_WAIT and orphans), even when processes were denied', () => {
    expect(attributeSocket(0, 0, ctx())).toEqual({ owners: [], unattributed: 'kernel-owned' });
    expect(attributeSocket(0, 0, ctx({ processesDenied: 5, deniedUids: null }))).toEqual({ owners: [], unattributed: 'kernel-owned' });
  });

  it('the owners found, with no reason, when the inode is in the map', () => {
    const shared: SocketOwner[] = [
      { pid: 100, fd: 3 },
      { pid: 101, fd: 3 },
    ];
    const c = ctx({ owners: owners([[5000, shared]]), processesDenied: 2, deniedUids: null });
    const result = attributeSocket(5000, 1000, c);
    expect(result).toEqual({ owners: shared });
    expect('unattributed' in result).toBe(false);
  });

  it('permission-denied when not found and an unreadable process has the socket uid', () => {
    expect(attributeSocket(9999, 0, ctx({ processesDenied: 1, deniedUids: new Set([0]) }))).toEqual({ owners: [], unattributed: 'permission-denied' });
  });

  it('permission-denied for any uid when the unreadable processes uids are unknown', () => {
    expect(attributeSocket(9999, 1234, ctx({ processesDenied: 1, deniedUids: null }))).toEqual({ owners: [], unattributed: 'permission-denied' });
  });

  it('permission-denied for a socket of another uid when other users\' processes are hidden (hidepid); its own uid is re-checked as usual', () => {
    expect(attributeSocket(9999, 0, ctx({ hiddenFrom: 65534 }))).toEqual({ owners: [], unattributed: 'permission-denied' });
    expect(attributeSocket(9999, 65534, ctx({ hiddenFrom: 65534 }))).toEqual({ owners: [], unattributed: 'other-namespace' });
    expect(attributeSocket(7122, 0, ctx({ hiddenFrom: 65534 }))).toEqual({ owners: [{ pid: 4123, fd: 19 }] });
  });

  it('not permission-denied when no unreadable process has the socket uid', () => {
    expect(attributeSocket(9999, 1000, ctx({ processesDenied: 3, deniedUids: new Set([0, 33]) }))).toEqual({ owners: [], unattributed: 'other-namespace' });
  });

  it('other-namespace (for snapshot() to re-check) when not found and every process was read', () => {
    expect(attributeSocket(9999, 0, ctx())).toEqual({ owners: [], unattributed: 'other-namespace' });
    expect(attributeSocket(9999, 0, ctx({ owners: new Map() }))).toEqual({ owners: [], unattributed: 'other-namespace' });
  });
});
