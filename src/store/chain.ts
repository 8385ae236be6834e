import { createHash } from 'node:crypto';

/** Hash of a chain record: commits to its predecessor, position, kind, time and body. Pure. */
export function recordHash(prevHash: string, seq: number, kind: string, at: string, body: string): string {
  return createHash('sha256').update(`${prevHash}\n${seq}\n${kind}\n${at}\n`).update(body).digest('hex');
}

/** The previous hash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** Digest of one stored item (socket, process or namespace), over its kind and body as stored. */
export function itemDigest(kind: string, body: string): string {
  return createHash('sha256').update(`${kind}\n`).update(body).digest('hex');
}

/** Digest of a set of items: sha256 over their digests in sorted order. Pure. */
export function setDigest(digests: Iterable<string>): string {
  const sorted = [...digests].sort();
  const hash = createHash('sha256');
  for (const d of sorted) hash.update(d).update('\n');
  return hash.digest('hex');
}
