import { describe, expect, it } from 'vitest';
import { RecentSet } from '../../src/diff/recent-set.js';

describe('RecentSet', () => {
  it('keeps the most recently added or seen values up to its capacity, forgetting the oldest', () => {
    const set = new RecentSet(3);
    for (const v of ['a', 'b', 'c']) set.add(v);
    expect(['a', 'b', 'c'].map((v) => set.has(v))).toEqual([true, true, true]);
    set.add('a'); // seen again: now the most recent
    set.add('d'); // beyond the capacity: b, the oldest, goes
    expect(set.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((v) => set.has(v))).toEqual([true, false, true, true]);
  });

  it('holds a million distinct values in a bounded set', () => {
    const set = new RecentSet(1000);
    for (let i = 0; i < 1_000_000; i++) set.add(`198.51.${(i >> 8) & 255}.${i & 255}#${i}`);
    expect(set.size).toBe(1000);
    expect(set.has('198.51.66.63#999999')).toBe(true);
    expect(set.has('198.51.0.0#0')).toBe(false);
  });
});
