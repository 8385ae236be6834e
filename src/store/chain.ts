import * as crypto from 'node:crypto';

/** SHA-256 hex of a text. One-shot `crypto.hash` (Node.js 20.12+) where there is one: half the
 * cost of a Hash object, which matters at tens of thousands of items per snapshot. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
function sha256Hex(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex');
}

/** Hash of a chain record: commits to its predecessor, position, kind, time and body. Pure. */
export function recordHash(prevHash: string, seq: number, kind: string, at: string, body: string): string {
  return sha256Hex(`${prevHash}\n${seq}\n${kind}\n${at}\n${body}`);
}

/** The previous hash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** Digest of one stored item (socket, process or namespace), over its kind and body as stored. */
export function itemDigest(kind: string, body: string): string {
  return sha256Hex(`${kind}\n${body}`);
}

/**
 * Digest of a set of items: sha256 over their distinct digests in sorted order, each followed by a
 * newline. Pure.
 */
export function setDigest(digests: Iterable<string>): string {
  const sorted = [...digests].sort();
  const distinct = sorted.filter((d, k) => k === 0 || d !== sorted[k - 1]);
  return sha256Hex(distinct.length === 0 ? '' : `${distinct.join('\n')}\n`);
}
