import fc from 'fast-check';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { formatCsv } from '../../src/store/csv-trail.js';

const { stringify } = createRequire(import.meta.url)('csv-stringify/sync') as {
  stringify: (rows: string[][], options: { record_delimiter: string; quoted_match: RegExp }) => string;
};

describe('formatCsv', () => {
  it('writes exactly what csv-stringify writes, for any rows (the plain-row fast path changes nothing)', () => {
    const cell = fc.oneof(fc.string(), fc.constantFrom('', 'a,b', 'say "hi"', 'l1\nl2', 'cr\rx', '127.0.0.1', '443', 'naïve 😀'));
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 1, maxLength: 6 }), { maxLength: 20 }), (rows) => {
        const expected = rows.length === 0 ? '' : stringify(rows, { record_delimiter: '\r\n', quoted_match: /[\r\n]/ });
        expect(formatCsv(rows)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});
