import { lstatSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Whether a file or directory belongs to this process's user or to root: owners it can trust. */
export function ownedByUsOrRoot(uid: number): boolean {
  return uid === (typeof process.geteuid === 'function' ? process.geteuid() : -1) || uid === 0;
}

/** Whether a mode lets the group or everyone write. */
export function othersMayWrite(mode: number): boolean {
  return (mode & 0o022) !== 0;
}

/**
 * Whether `path` is a symbolic link that someone other than this user (or root) could have
 * planted or pointed elsewhere: the link itself, or the directory holding it, belongs to another
 * user, or that directory is writable by its group or by everyone (a shared directory, /tmp).
 * netmon often runs as root, and writing evidence through such a link would let its planter have
 * root create or append to a file of their choosing. A link in a directory only this user and
 * root control (/dev/stdout, a trail the owner linked on purpose) is the owner's own choice.
 * False for a path that is not a link, or cannot be looked at (the open that follows says why).
 */
export function untrustedLink(path: string): boolean {
  let link;
  try {
    link = lstatSync(path);
  } catch {
    return false;
  }
  if (!link.isSymbolicLink()) return false;
  try {
    const dir = statSync(dirname(resolve(path)));
    return !ownedByUsOrRoot(link.uid) || !ownedByUsOrRoot(dir.uid) || othersMayWrite(dir.mode);
  } catch {
    return true;
  }
}

/**
 * Whether `path` is an existing file of another user (not this one, not root) in a directory
 * that its group or everyone may write to. Such a file in /tmp or a shared directory may have
 * been put there for netmon to write into: its owner could then read the command lines netmon
 * records and change the evidence at will. A file of another user in a directory no one else
 * may write to (a service user's store that root captures into) is not suspect.
 */
export function foreignFileInSharedDir(path: string): number | null {
  let file;
  try {
    file = lstatSync(path);
  } catch {
    return null;
  }
  if (ownedByUsOrRoot(file.uid)) return null;
  try {
    return othersMayWrite(statSync(dirname(resolve(path))).mode) ? file.uid : null;
  } catch {
    return null;
  }
}

/**
 * Whether `path` is a symbolic link that a writer may follow (one untrustedLink() accepts): the
 * writer then opens without O_NOFOLLOW, which otherwise refuses a link planted after the checks.
 */
export function followableLink(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true && !untrustedLink(path);
}

/**
 * Whether nothing is at `path` (it, or a directory on the way, does not exist). Unlike existsSync,
 * a path this user may not look at (a directory of root's, mode 0750, above it) is not "nothing":
 * the open that follows says it is a permission the user lacks, rather than a store or baseline
 * that was never made (a new-user probe was told to capture one first).
 */
export function nothingAt(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return code === 'ENOENT' || code === 'ENOTDIR';
  }
}
