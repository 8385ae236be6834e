import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changesDigest, GENESIS_HASH, itemDigest, recordHash, setDigest, SortedDigests } from '../../src/store/chain.js';

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

  it('changes digest = sha256 over "+<digest>\\n" of the sorted digests that entered, then "-<digest>\\n" of the sorted ones that left', () => {
    const hex = fc.string({ minLength: 64, maxLength: 64, unit: fc.constantFrom(...'0123456789abcdef') });
    fc.assert(
      fc.property(fc.uniqueArray(hex, { maxLength: 20 }), fc.uniqueArray(hex, { maxLength: 20 }), (added, removed) => {
        const text = [...[...added].sort().map((d) => `+${d}\n`), ...[...removed].sort().map((d) => `-${d}\n`)].join('');
        expect(changesDigest(added, removed)).toBe(sha(text));
        expect(changesDigest([...added].reverse(), [...removed].reverse())).toBe(changesDigest(added, removed));
        // Entering is not leaving: the same digests on the other side give another digest.
        if ([...added].sort().join() !== [...removed].sort().join()) expect(changesDigest(removed, added)).not.toBe(changesDigest(added, removed));
      }),
    );
    expect(changesDigest([], [])).toBe(sha(''));
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
    expect(setDigest([y, x, y, x, x])).toBe(sha(`${x}\n${y}\n`));
    // Text that is not a digest (verify-store hashes what a store holds, whatever it is) by the same definition.
    expect(setDigest(['b', 'a', 'b', x])).toBe(sha(`a\n${x}\nb\n`));
  });

  it('set digest of digests that share long prefixes, or repeat: sorted by the whole digest, each once', () => {
    // Two hex digits only: most digests share their first 8 digits with another, and repeats are common.
    const digest = fc.string({ minLength: 64, maxLength: 64, unit: fc.constantFrom('0', 'f') }).map((d) => `0000abcd${d.slice(8)}`);
    fc.assert(
      fc.property(fc.array(fc.oneof(digest, fc.string({ minLength: 64, maxLength: 64, unit: fc.constantFrom(...'0123456789abcdef') })), { maxLength: 80 }), (digests) => {
        const distinct = [...new Set(digests)].sort();
        const expected = sha(...distinct.flatMap((d) => [d, '\n']));
        expect(setDigest(digests)).toBe(expected);
        expect(SortedDigests.of(digests).digest()).toBe(expected);
        expect(SortedDigests.of(digests).size).toBe(distinct.length);
      }),
    );
  });

  it('record hash commits to previous hash, position, kind, time and body', () => {
    const h = recordHash(GENESIS_HASH, 1, 'snapshot', '2026-11-23T00:00:00.000Z', '{"a":1}');
    expect(h).toBe(sha(`${GENESIS_HASH}\n1\nsnapshot\n2026-11-23T00:00:00.000Z\n`, '{"a":1}'));
    expect(recordHash(GENESIS_HASH, 2, 'snapshot', '2026-11-23T00:00:00.000Z', '{"a":1}')).not.toBe(h);
  });
});

describe('SortedDigests: the digest of a set made from the previous one by merging changes', () => {
  const hex64 = fc.string({ minLength: 64, maxLength: 64, unit: fc.constantFrom(...'0123456789abcdef') });
  /** A digest of its own for each number, so that steps can name digests in and out of the set. */
  const digestOf = (n: number): string => sha(String(n));

  it('gives setDigest() of the set after any sequence of removals and additions', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(300), { maxLength: 60 }),
        fc.array(fc.record({ remove: fc.array(fc.nat(), { maxLength: 8 }), add: fc.uniqueArray(fc.nat(300), { maxLength: 8 }) }), { maxLength: 12 }),
        (start, steps) => {
          const set = new Set(start.map(digestOf));
          let sorted = SortedDigests.of(set);
          expect(sorted.digest()).toBe(setDigest(set));
          for (const step of steps) {
            const members = [...set];
            const removed = [...new Set(step.remove.filter(() => members.length > 0).map((k) => members[k % members.length]!))];
            for (const d of removed) set.delete(d);
            const added = step.add.map(digestOf).filter((d) => !set.has(d));
            for (const d of added) set.add(d);
            const before = sorted.digest();
            const next = sorted.with(removed, added);
            expect(sorted.digest(), 'the set it was made from is unchanged').toBe(before);
            sorted = next;
            expect(sorted.size).toBe(set.size);
            expect(sorted.digest()).toBe(setDigest(set));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts a digest given twice at the start once, like setDigest()', () => {
    fc.assert(
      fc.property(fc.array(hex64, { maxLength: 20 }), (digests) => {
        expect(SortedDigests.of([...digests, ...digests]).digest()).toBe(setDigest(digests));
      }),
    );
    expect(SortedDigests.of([]).digest()).toBe(sha(''));
  });

  it('refuses what would make it differ from the set: a removal of a digest not in it, an addition of one already in it, a digest that is not sha256 hex', () => {
    const [a, b, c] = [digestOf(1), digestOf(2), digestOf(3)];
    const sorted = SortedDigests.of([a, b]);
    expect(() => sorted.with([c], [])).toThrow('is not in the set');
    expect(() => sorted.with([], [a])).toThrow('is in the set already');
    expect(() => sorted.with([], [c, c])).toThrow('is added twice');
    expect(() => sorted.with([], ['A'.repeat(64)])).toThrow('not a sha256 hex digest');
    expect(() => SortedDigests.of(['abc'])).toThrow('not a sha256 hex digest');
    expect(sorted.digest()).toBe(setDigest([a, b]));
  });
});
