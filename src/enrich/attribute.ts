import type { SocketOwner, UnattributedReason } from '../model/types.js';

/** What the descriptor walk found, as needed to attribute one socket. */
export interface AttributionContext {
  /** Socket inode -> holders; undefined when attribution was not requested. */
  owners: Map<number, SocketOwner[]> | undefined;
  processesDenied: number;
  processesExited: number;
}

export interface Attribution {
  owners: SocketOwner[];
  unattributed?: UnattributedReason;
}

/**
 * Owners of a socket, or the reason there are none. Pure. The order of the checks is the order of
 * likelihood: a socket with inode 0 has no descriptor by construction; an unfound one most likely
 * sits in a descriptor table that could not be read; failing that, its owner may have gone away
 * during the scan. What remains belongs to a process this collector cannot see (another PID
 * namespace); `snapshot()` re-reads the tables to move sockets that closed meanwhile to
 * `process-exited`.
 */
export function attributeSocket(inode: number, ctx: AttributionContext): Attribution {
  if (ctx.owners === undefined) return { owners: [], unattributed: 'not-requested' };
  if (inode === 0) return { owners: [], unattributed: 'kernel-owned' };
  const owners = ctx.owners.get(inode);
  if (owners !== undefined) return { owners };
  if (ctx.processesDenied > 0) return { owners: [], unattributed: 'permission-denied' };
  if (ctx.processesExited > 0) return { owners: [], unattributed: 'process-exited' };
  return { owners: [], unattributed: 'other-namespace' };
}
