import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appendCsv, CSV_COLUMNS } from '../../src/store/csv-trail.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-clean-end-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const row = (i: number) => CSV_COLUMNS.map((c) => `${c}-${i}`);

describe('the CSV clean end kept between runs', () => {
  it('reports where the trail ends complete, and repairs a torn record written after it', () => {
    const path = join(dir, 'a.csv');
    const first = appendCsv(path, [row(1), row(2)]);
    expect(first.cleanEnd.size).toBe(readFileSync(path).length);
    appendFileSync(path, 'torn,"half a rec');
    // A later run (fresh in-process state is simulated by a different file object: the known end is used).
    const second = appendCsv(path, [row(3)], () => new Date(), first.cleanEnd);
    expect(second.repaired).toBeDefined();
    expect(readFileSync(second.repaired!, 'utf8')).toBe('torn,"half a rec');
    expect(readFileSync(path, 'utf8').endsWith(`${row(3).join(',')}\r\n`)).toBe(true);
  });

  it('ignores a known end of another file (rotated or replaced trail) and scans it whole', () => {
    const path = join(dir, 'b.csv');
    const old = appendCsv(path, [row(1)]);
    rmSync(path);
    // A new file at the same path with a torn header: the old clean end must not be trusted.
    writeFileSync(path, CSV_COLUMNS.join(',').slice(0, 12));
    const result = appendCsv(path, [row(2)], () => new Date(), { ...old.cleanEnd, size: 5 });
    expect(result.repaired).toBeDefined();
    expect(readFileSync(path, 'utf8').startsWith(CSV_COLUMNS.join(','))).toBe(true);
  });

  it('ignores a known end beyond the file (truncated trail)', () => {
    const path = join(dir, 'c.csv');
    const a = appendCsv(path, [row(1), row(2)]);
    const text = readFileSync(path);
    writeFileSync(path, text.subarray(0, text.length - 7));
    const result = appendCsv(path, [row(3)], () => new Date(), a.cleanEnd);
    expect(result.repaired).toBeDefined();
  });
});
