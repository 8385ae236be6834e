import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { constants } from 'node:os';
import { errnoError, errnoName, loadNativeProcScan, type NativeProcScan } from '../collect/native-procscan.js';
import { seconds } from '../model/format.js';
import type { ExecutableHashes, ExecutableIdentity } from '../model/types.js';
import { loadBlake3, type Blake3Implementation } from './blake3.js';

/**
 * A cache of executable hashes keyed by file identity (device, inode, size, mtime, ctime).
 * The in-memory default lives for one process; the evidence store provides a persistent one.
 */
export interface HashCache {
  get(identity: ExecutableIdentity): ExecutableHashes | undefined;
  set(identity: ExecutableIdentity, hashes: ExecutableHashes): void;
}

export function identityKey(id: ExecutableIdentity): string {
  return `${id.device}:${id.inode}:${id.size}:${id.mtimeNs}:${id.ctimeNs}`;
}

export class MemoryHashCache implements HashCache {
  private readonly entries = new Map<string, ExecutableHashes>();
  get(identity: ExecutableIdentity): ExecutableHashes | undefined {
    return this.entries.get(identityKey(identity));
  }
  set(identity: ExecutableIdentity, hashes: ExecutableHashes): void {
    this.entries.set(identityKey(identity), hashes);
  }
  get size(): number {
    return this.entries.size;
  }
}

/** What hashing needs of a file's status (node:fs's BigIntStats has it). */
export interface FileIdentityStats {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** File operations used for hashing; tests may swap them. Errors carry an errno `code`. */
export interface HashFs {
  openSync(path: string, flags: 'r'): number;
  fstatSync(fd: number, options: { bigint: true }): FileIdentityStats;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: null): number;
  closeSync(fd: number): void;
  /** The status of each file the paths name (links followed), each failure as its error: one call for many files. */
  statMany?(paths: string[]): (FileIdentityStats | Error)[];
  /** Paths whose calls missed their deadline and have not returned yet (see deadlineHashFs). */
  pending?(): string[];
}

/**
 * The file system with a deadline on every call (the native addon's deadline I/O), or null when
 * the addon is not built. An executable on a file system that no longer answers (a hard NFS
 * mount whose server is gone, a stopped FUSE daemon) then fails with ETIMEDOUT after
 * `timeoutMs` instead of stopping the capture, and the process can still exit: the call that
 * hangs runs on a thread nobody waits for.
 */
export function deadlineHashFs(timeoutMs: number): HashFs | null {
  const native = loadNativeProcScan(true);
  if (native === null || typeof native.deadlineStatEach !== 'function') return null;
  return new DeadlineHashFs(native, timeoutMs);
}

class DeadlineHashFs implements HashFs {
  /** Paths of open descriptors, for errors and labels. */
  private readonly paths = new Map<number, string>();
  /** Descriptors whose fstat or read missed the deadline: the abandoned call closes them. */
  private readonly abandoned = new Set<number>();

  constructor(
    private readonly native: NativeProcScan,
    private readonly timeoutMs: number,
  ) {}

  openSync(path: string): number {
    const fd = this.check(this.native.deadlineOpen(path, this.timeoutMs, path), 'open', path);
    this.abandoned.delete(fd);
    this.paths.set(fd, path);
    return fd;
  }

  /**
   * One hand-over for all files while every file system answers. Once one does not (a call
   * missed its deadline, here or in an earlier capture, and has not returned), the files not
   * done yet are asked all at once, so that those on that file system cost one deadline together
   * rather than one each.
   */
  statMany(paths: string[]): (FileIdentityStats | Error)[] {
    const results = this.native.deadlinePending().length > 0 ? this.native.deadlineStatEach(paths, this.timeoutMs) : this.native.deadlineStatMany(paths, this.timeoutMs);
    const EAGAIN = -constants.errno.EAGAIN;
    const rest = results.flatMap((r, i) => (r === EAGAIN ? [i] : []));
    if (rest.length > 0 && results.includes(-constants.errno.ETIMEDOUT)) {
      const again = this.native.deadlineStatEach(rest.map((i) => paths[i]!), this.timeoutMs);
      rest.forEach((i, k) => (results[i] = again[k]!));
    }
    return results.map((result, i) => {
      try {
        return stats(this.check(result, 'stat', paths[i]!));
      } catch (error) {
        return error as Error;
      }
    });
  }

  fstatSync(fd: number): FileIdentityStats {
    const path = this.paths.get(fd) ?? `descriptor ${fd}`;
    return stats(this.check(this.native.deadlineFstat(fd, this.timeoutMs, path), 'fstat', path, fd));
  }

  readSync(fd: number, buffer: Uint8Array, offset: number, length: number): number {
    const path = this.paths.get(fd) ?? `descriptor ${fd}`;
    return this.check(this.native.deadlineRead(fd, buffer.subarray(offset, offset + length), this.timeoutMs, path), 'read', path, fd);
  }

  closeSync(fd: number): void {
    const path = this.paths.get(fd) ?? `descriptor ${fd}`;
    this.paths.delete(fd);
    if (this.abandoned.delete(fd)) return;
    this.check(this.native.deadlineClose(fd, this.timeoutMs, path), 'close', path);
  }

  pending(): string[] {
    return this.native.deadlinePending();
  }

  private check<T>(result: T | number, syscall: string, path: string, fd?: number): T {
    if (typeof result !== 'number' || result >= 0) return result as T;
    const code = errnoName(-result);
    if (code === 'ETIMEDOUT' && fd !== undefined) this.abandoned.add(fd);
    const message =
      code === 'ETIMEDOUT'
        ? `${syscall} ${path}: the file system did not answer within ${seconds(this.timeoutMs)}`
        : code === 'EAGAIN'
          ? `${syscall} ${path}: not tried, as 16 earlier calls to file systems that do not answer have not returned`
          : `${code}: ${syscall} ${path}`;
    throw errnoError(-result, syscall, path, message);
  }
}

function stats(values: BigInt64Array): FileIdentityStats {
  return { dev: values[0]!, ino: values[1]!, size: values[2]!, mtimeNs: values[3]!, ctimeNs: values[4]! };
}

export function identityOf(st: FileIdentityStats): ExecutableIdentity {
  return { device: st.dev, inode: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export interface HashFileResult {
  identity: ExecutableIdentity;
  hashes: ExecutableHashes;
  /** True when the hashes came from the cache and the file was not read. */
  cached: boolean;
}

const CHUNK = 1 << 20;
let sharedBuffer: Buffer | undefined;

/**
 * BLAKE3 and SHA-256 of a file in one read, unless the cache already holds its identity.
 * Opening `/proc/<pid>/exe` reaches the running binary even if it was deleted or lives in
 * another mount namespace. Throws the file system error (with its errno code) on failure;
 * ETIMEDOUT when `fsImpl` has a deadline and the file system did not answer.
 */
export function hashFile(
  path: string,
  cache: HashCache,
  blake3: Blake3Implementation | (() => Blake3Implementation) = () => loadBlake3(),
  fsImpl: HashFs = fs,
): HashFileResult {
  const fd = fsImpl.openSync(path, 'r');
  try {
    const identity = identityOf(fsImpl.fstatSync(fd, { bigint: true }));
    const hit = cache.get(identity);
    if (hit) return { identity, hashes: hit, cached: true };
    const sha = createHash('sha256');
    const b3 = (typeof blake3 === 'function' ? blake3() : blake3).create();
    const buffer = (sharedBuffer ??= Buffer.allocUnsafe(CHUNK));
    let total = 0;
    for (;;) {
      const n = fsImpl.readSync(fd, buffer, 0, CHUNK, null);
      if (n === 0) break;
      const chunk = buffer.subarray(0, n);
      sha.update(chunk);
      b3.update(chunk);
      total += n;
    }
    const hashes: ExecutableHashes = { blake3: b3.digestHex(), sha256: sha.digest('hex'), size: total };
    cache.set(identity, hashes);
    return { identity, hashes, cached: false };
  } finally {
    fsImpl.closeSync(fd);
  }
}
