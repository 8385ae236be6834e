import * as crypto from 'node:crypto';

/** SHA-256 hex of a text or bytes. One-shot `crypto.hash` (Node.js 20.12+) where there is one:
 * half the cost of a Hash object, which matters at tens of thousands of items per snapshot. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Buffer, encoding: 'hex') => string }).hash;
function sha256Hex(data: string | Buffer): string {
  return oneShot ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
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

/** itemDigest() of an item given as the text it is taken over, `${kind}\n${body}`. Pure. */
export function joinedItemDigest(kindAndBody: string): string {
  return sha256Hex(kindAndBody);
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

/**
 * setDigest() of the items of one loaded set, from the digests of their bodies. A digest given
 * twice is kept twice: a set netmon stored never holds two items of one body, so one that does (a
 * row copied behind netmon's back) must not digest like the set without the copy. Pure.
 */
export function itemSetDigest(digests: readonly string[]): string {
  return sha256Hex(digests.length === 0 ? '' : `${[...digests].sort().join('\n')}\n`);
}

/**
 * Digest of what one snapshot changed in the set of the snapshot before it (record layout 3):
 * sha256 over the digests of the items that entered, each as "+<digest>\n", then of those that
 * left, each as "-<digest>\n", each group sorted. With it, verify-store checks a snapshot stored
 * as changes at the cost of its changes, not of its whole set. Pure.
 */
export function changesDigest(added: Iterable<string>, removed: Iterable<string>): string {
  let text = '';
  for (const d of [...added].sort()) text += `+${d}\n`;
  for (const d of [...removed].sort()) text += `-${d}\n`;
  return sha256Hex(text);
}

/** Bytes of one digest in a SortedDigests buffer: 64 hex digits and a newline. */
const ENTRY = 65;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The distinct item digests of a set, sorted, held as the very bytes setDigest() hashes
 * ("<digest>\n" each). The next set is made by merging the changes in: a set of tens of thousands
 * of items with a few changes is hashed again without sorting or joining it again. Immutable.
 */
export class SortedDigests {
  private constructor(
    private readonly buf: Buffer,
    private readonly n: number,
  ) {}

  static of(digests: Iterable<string>): SortedDigests {
    const sorted = [...new Set(digests)].sort();
    for (const d of sorted) checkDigest(d);
    return new SortedDigests(Buffer.from(sorted.length === 0 ? '' : `${sorted.join('\n')}\n`, 'latin1'), sorted.length);
  }

  get size(): number {
    return this.n;
  }

  /** setDigest() of the set. */
  digest(): string {
    return sha256Hex(this.n === 0 ? '' : this.buf.subarray(0, this.n * ENTRY));
  }

  /** The set without digests that are in it and with ones that are not (or that are removed too); anything else throws. */
  with(removed: Iterable<string>, added: Iterable<string>): SortedDigests {
    const leaving = new Set(removed);
    const entering: string[] = [];
    for (const d of added) {
      if (leaving.has(d)) leaving.delete(d); // out and in again: no change
      else entering.push(d);
    }
    const gone = [...leaving].map((d) => {
      const key = Buffer.from(d, 'latin1');
      const at = this.lowerBound(key);
      if (at >= this.n || this.compareAt(key, at) !== 0) throw new Error(`digest ${d} is not in the set`);
      return at;
    });
    gone.sort((a, b) => a - b);
    const fresh = entering.sort();
    const freshAt = fresh.map((d, k) => {
      checkDigest(d);
      if (k > 0 && fresh[k - 1] === d) throw new Error(`digest ${d} is added twice`);
      const key = Buffer.from(d, 'latin1');
      const at = this.lowerBound(key);
      if (at < this.n && this.compareAt(key, at) === 0) throw new Error(`digest ${d} is in the set already`);
      return at;
    });
    const out = Buffer.allocUnsafe((this.n - gone.length + fresh.length) * ENTRY);
    let o = 0;
    let src = 0;
    const copyUpTo = (end: number): void => {
      if (end > src) o += this.buf.copy(out, o, src * ENTRY, end * ENTRY);
      src = Math.max(src, end);
    };
    let a = 0;
    let r = 0;
    while (a < fresh.length || r < gone.length) {
      const nextAdd = a < fresh.length ? freshAt[a]! : Infinity;
      const nextGone = r < gone.length ? gone[r]! : Infinity;
      if (nextAdd <= nextGone) {
        copyUpTo(nextAdd);
        o += out.write(`${fresh[a++]!}\n`, o, 'latin1');
      } else {
        copyUpTo(nextGone);
        src = nextGone + 1;
        r++;
      }
    }
    copyUpTo(this.n);
    return new SortedDigests(out, out.length / ENTRY);
  }

  /** First position whose digest is not below `key`. */
  private lowerBound(key: Buffer): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareAt(key, mid) > 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** `key` (a digest's 64 bytes) compared with the digest at position `i`: negative, 0 or positive. */
  private compareAt(key: Buffer, i: number): number {
    return key.compare(this.buf, i * ENTRY, i * ENTRY + 64);
  }
}

function checkDigest(d: string): void {
  if (!HEX64.test(d)) throw new Error(`not a sha256 hex digest: ${JSON.stringify(d.slice(0, 80))}`);
}
