import type { SocketOwner, UnattributedReason } from '../model/types.js';

/** What the descriptor walk found, as needed to attribute one socket. */
export interface AttributionContext {
  /** Socket inode -> holders; undefined when attribution was not requested. */
  owners: Map<number, SocketOwner[]> | undefined;
  /** Processes whose descriptors could not be read. */
  processesDenied: number;
  /**
   * uids of those processes; null when some of their uids are unknown. A socket is created with
   * its creator's uid (the kernel table shows it), so an unreadable process can only explain
   * sockets of its own uids.
   */
  deniedUids: ReadonlySet<number> | null;
  /** Processes of users other than `uid` are hidden (hidepid): they can explain any socket of another uid. */
  hiddenFrom?: number;
}

export interface Attribution {
  owners: SocketOwner[];
  unattributed?: UnattributedReason;
}

/**
 * Owners of a socket, or the reason there are none. Pure. A socket with inode 0 has no
 * descriptor by construction; one found in no readable descriptor table most likely sits in an
 * unreadable one, when a process of the socket's uid could not be read. What remains is
 * `other-namespace` for now: `snapshot()` re-reads the tables and turns the sockets that are gone
 * by then into `process-exited` (closed, or owner exited, during the scan).
 */
export function attributeSocket(inode: number, uid: number, ctx: AttributionContext): Attribution {
  // No descriptor holds an inode-0 socket (TIME_WAIT), whether or not owners were looked for.
  if (inode === 0) return { owners: [], unattributed: 'kernel-owned' };
  if (ctx.owners === undefined) return { owners: [], unattributed: 'not-requested' };
  const owners = ctx.owners.get(inode);
  if (owners !== undefined) return { owners };
  if (ctx.processesDenied > 0 && (ctx.deniedUids === null || ctx.deniedUids.has(uid))) {
    return { owners: [], unattributed: 'permission-denied' };
  }
  if (ctx.hiddenFrom !== undefined && uid !== ctx.hiddenFrom) return { owners: [], unattributed: 'permission-denied' };
  return { owners: [], unattributed: 'other-namespace' };
}
