import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, itemDigest, recordHash, setDigest } from '../../src/store/chain.js';

/** The stored formats, computed independently with a streaming Hash object. */
const sha = (...parts: string[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('chain digests (stored format: they must never change)', () => {
  it('item digest = sha256("<kind>\\n" + body)', () => {
    fc.assert(
      fc.property(fc.constantFrom('socket', 'process', 'namespace', 'context'), fc.string({ unit: 'binary' }), (kind, body) => {
        expect(itemDigest(kind, body)).toBe(sha(`${kind}\n`, body));
      }),
    );
  });

  it('set digest = sha256 over the sorted digests, each followed by a newline; order of input does not matter', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 64, maxLength: 64, unit: fc.constantFrom(...'0123456789abcdef') }), { maxLength: 50 }), (digests) => {
        const sorted = [...digests].sort();
        expect(setDigest(digests)).toBe(sha(...sorted.flatMap((d) => [d, '\n'])));
        expect(setDigest([...digests].reverse())).toBe(setDigest(digests));
      }),
    );
    expect(setDigest([])).toBe(sha(''));
    // a set: a digest given twice counts once
    const [x, y] = ['a'.repeat(64), 'b'.repeat(64)];
    expect(setDigest([y, x, y, x, x])).toBe(setDigest([x, y]));
  });

  it('record hash commits to previous hash, position, kind, time and body', () => {
    const h = recordHash(GENESIS_HASH, 1, 'snapshot', '2026-11-23T00:00:00.000Z', '{"a":1}');
    expect(h).toBe(sha(`${GENESIS_HASH}\n1\nsnapshot\n2026-11-23T00:00:00.000Z\n`, '{"a":1}'));
    expect(recordHash(GENESIS_HASH, 2, 'snapshot', '2026-11-23T00:00:00.000Z', '{"a":1}')).not.toBe(h);
  });
});
