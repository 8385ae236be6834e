import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
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

/** File operations used for hashing; tests may swap them. */
export interface HashFs {
  openSync(path: string, flags: 'r'): number;
  fstatSync(fd: number, options: { bigint: true }): fs.BigIntStats;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: null): number;
  closeSync(fd: number): void;
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
 * another mount namespace. Throws the file system error (with its errno code) on failure.
 */
export function hashFile(
  path: string,
  cache: HashCache,
  blake3: Blake3Implementation | (() => Blake3Implementation) = () => loadBlake3(),
  fsImpl: HashFs = fs,
): HashFileResult {
  const fd = fsImpl.openSync(path, 'r');
  try {
    const st = fsImpl.fstatSync(fd, { bigint: true });
    const identity: ExecutableIdentity = {
      device: st.dev,
      inode: st.ino,
      size: st.size,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
    };
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
