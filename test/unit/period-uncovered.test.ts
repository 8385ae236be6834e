import { describe, expect, it } from 'vitest';

// The report prints local time with its offset: here UTC, +00:00.
process.env.TZ = 'UTC';
import { periodUncovered } from '../../src/pack/pdf-report.js';

describe('periodUncovered: what a monitoring period report says its snapshots leave out', () => {
  const period = { from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z' };

  it('names the time before the first snapshot and after the last, with their lengths', () => {
    expect(periodUncovered(period, '2026-11-07T23:59:00.000Z', '2026-11-07T23:59:06.000Z')).toBe(
      'The period asked for runs from 2026-11-01T00:00:00+00:00 to 2026-11-08T00:00:00+00:00; its first snapshot was taken at 2026-11-07T23:59:00+00:00 and its last at 2026-11-07T23:59:06+00:00. No evidence in this pack covers the time from 2026-11-01T00:00:00+00:00 to the first snapshot (6d 23h 59m), nor from the last snapshot to 2026-11-08T00:00:00+00:00 (54 s).',
    );
  });

  it('names the prune whose cutoff the period starts before: retention, not missing evidence (an operator probe)', () => {
    const prune = { seq: 900, at: '2026-11-07T12:00:00.000Z', cutoff: '2026-11-03T00:00:00.000Z' };
    expect(periodUncovered(period, '2026-11-03T00:00:10.000Z', '2026-11-07T23:59:59.500Z', prune)).toBe(
      'The period asked for runs from 2026-11-01T00:00:00+00:00 to 2026-11-08T00:00:00+00:00; its first snapshot was taken at 2026-11-03T00:00:10+00:00 and its last at 2026-11-07T23:59:59+00:00. No evidence in this pack covers the time from 2026-11-01T00:00:00+00:00 to the first snapshot (2d 0h 0m). A prune (record 900, run 2026-11-07T12:00:00+00:00) removed the snapshots taken before 2026-11-03T00:00:00+00:00: that part of the period was given up to retention, as the store\'s chain records.',
    );
    // A prune whose cutoff is before the period says nothing about it.
    expect(periodUncovered(period, '2026-11-03T00:00:10.000Z', '2026-11-07T23:59:59.500Z', { ...prune, cutoff: '2026-10-01T00:00:00.000Z' })).not.toContain('prune');
  });

  it('says nothing when the snapshots span the period (to within a second)', () => {
    expect(periodUncovered(period, '2026-11-01T00:00:00.500Z', '2026-11-08T00:00:00.000Z')).toBeNull();
  });

  it('names only the side that is not covered', () => {
    expect(periodUncovered(period, '2026-11-01T00:00:00.000Z', '2026-11-07T00:00:00.000Z')).toMatch(/covers the time from the last snapshot to 2026-11-08T00:00:00\+00:00 \(1d 0h 0m\)\.$/);
  });

  it('after a clock set back between the first and the last snapshot, says the times cannot tell coverage (instead of durations longer than the period)', () => {
    const text = periodUncovered(period, '2026-11-05T12:00:00.000Z', '2026-11-05T09:00:10.000Z');
    expect(text).toBe(
      'The period asked for runs from 2026-11-01T00:00:00+00:00 to 2026-11-08T00:00:00+00:00; its first snapshot was stamped 2026-11-05T12:00:00+00:00 and its last 2026-11-05T09:00:10+00:00, earlier: the clock was set back between them (see the clock steps under monitoring continuity), so these times cannot tell how much of the period the evidence covers.',
    );
  });
});
