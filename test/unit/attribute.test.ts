import { describe, expect, it } from 'vitest';
import { attributeSocket, type AttributionContext } from '../../src/enrich/attribute.js';
import type { SocketOwner } from '../../src/model/types.js';

const owners = (entries: [number, SocketOwner[]][]): Map<number, SocketOwner[]> => new Map(entries);

const ctx = (over: Partial<AttributionContext> = {}): AttributionContext => ({
  owners: owners([[7122, [{ pid: 4123, fd: 19 }]]]),
  processesDenied: 0,
  processesExited: 0,
  ...over,
});

describe('attributeSocket', () => {
  it('not-requested when attribution was switched off, whatever the inode and counters', () => {
    expect(attributeSocket(7122, ctx({ owners: undefined }))).toEqual({ owners: [], unattributed: 'not-requested' });
    expect(attributeSocket(0, ctx({ owners: undefined, processesDenied: 3, processesExited: 2 }))).toEqual({
      owners: [],
      unattributed: 'not-requested',
    });
  });

  it('kernel-owned for inode 0 (TIME_WAIT and orphans), even when processes were denied', () => {
    expect(attributeSocket(0, ctx())).toEqual({ owners: [], unattributed: 'kernel-owned' });
    expect(attributeSocket(0, ctx({ processesDenied: 5, processesExited: 1 }))).toEqual({ owners: [], unattributed: 'kernel-owned' });
  });

  it('the owners found, with no reason, when the inode is in the map', () => {
    const shared: SocketOwner[] = [
      { pid: 100, fd: 3 },
      { pid: 101, fd: 3 },
    ];
    const c = ctx({ owners: owners([[5000, shared]]), processesDenied: 2, processesExited: 2 });
    const result = attributeSocket(5000, c);
    expect(result).toEqual({ owners: shared });
    expect('unattributed' in result).toBe(false);
  });

  it('permission-denied when not found and some descriptor tables could not be read', () => {
    expect(attributeSocket(9999, ctx({ processesDenied: 1 }))).toEqual({ owners: [], unattributed: 'permission-denied' });
    // denied takes precedence over exited
    expect(attributeSocket(9999, ctx({ processesDenied: 1, processesExited: 4 }))).toEqual({ owners: [], unattributed: 'permission-denied' });
  });

  it('process-exited when not found, nothing was denied and some process went away during the scan', () => {
    expect(attributeSocket(9999, ctx({ processesExited: 1 }))).toEqual({ owners: [], unattributed: 'process-exited' });
  });

  it('other-namespace when not found and the scan saw every process', () => {
    expect(attributeSocket(9999, ctx())).toEqual({ owners: [], unattributed: 'other-namespace' });
    expect(attributeSocket(9999, ctx({ owners: new Map() }))).toEqual({ owners: [], unattributed: 'other-namespace' });
  });
});
