import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isoWithOffset, looksLikeIsoTime, parseIsoTime } from '../../src/model/iso-time.js';

describe('parseIsoTime', () => {
  it('reads a time without an offset, a date alone included, as local time', () => {
    expect(parseIsoTime('2026-11-23')?.getTime()).toBe(new Date(2026, 10, 23).getTime());
    expect(parseIsoTime('2026-11-23T22:00')?.getTime()).toBe(new Date(2026, 10, 23, 22, 0).getTime());
    expect(parseIsoTime('2026-11-23 22:00:30')?.getTime()).toBe(new Date(2026, 10, 23, 22, 0, 30).getTime());
    expect(parseIsoTime(' 2026-11-23t22:00:30.25 ')?.getTime()).toBe(new Date(2026, 10, 23, 22, 0, 30, 250).getTime());
    expect(parseIsoTime('2026-11-23T24:00')?.getTime()).toBe(new Date(2026, 10, 24).getTime());
  });

  it('reads Z and every offset form', () => {
    expect(parseIsoTime('2026-11-23T22:00:00Z')?.toISOString()).toBe('2026-11-23T22:00:00.000Z');
    expect(parseIsoTime('2026-11-23T22:00:00.123456789z')?.toISOString()).toBe('2026-11-23T22:00:00.123Z');
    for (const zone of ['+01:00', '+0100', '+01']) expect(parseIsoTime(`2026-11-23T22:00${zone}`)?.toISOString(), zone).toBe('2026-11-23T21:00:00.000Z');
    expect(parseIsoTime('2026-11-23T22:00-05:45')?.toISOString()).toBe('2026-11-24T03:45:00.000Z');
  });

  it('a date alone as a deadline is the end of that local day', () => {
    expect(parseIsoTime('2026-12-31', { dateAlone: 'end' })?.getTime()).toBe(new Date(2027, 0, 1).getTime());
    expect(parseIsoTime('2026-12-31T18:00Z', { dateAlone: 'end' })?.toISOString()).toBe('2026-12-31T18:00:00.000Z');
  });

  it.for(['2026-13-01', '2026-02-30', '2025-02-29', '2026-11-23T25:00', '2026-11-23T24:01', '2026-11-23T22:60', '2026-11-23T22:00:61', '2026-11-23T22:00+24:00', '2026-11-23T22:00+01:60', '2026-00-10', '2026-11-00'])(
    '%s has the form of a time but names no moment: null',
    (text) => {
      expect(parseIsoTime(text)).toBeNull();
      expect(looksLikeIsoTime(text)).toBe(true);
    },
  );

  it.for(['pre', '2026-11-23-pre', '2026-11-23T22', '23.11.2026', '2026/11/23', '', '400d', '2026-11-23T22:00 UTC'])('%j is not of the form: null, and does not look like a time', (text) => {
    expect(parseIsoTime(text)).toBeNull();
    expect(looksLikeIsoTime(text)).toBe(false);
  });

  it('2028-02-29 exists (a leap year)', () => {
    expect(parseIsoTime('2028-02-29T12:00Z')?.toISOString()).toBe('2028-02-29T12:00:00.000Z');
  });

  it('reads back every time netmon prints (local time with its offset), to the second', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2100, 0, 1) }), (ms) => {
        const date = new Date(Math.floor(ms / 1000) * 1000);
        expect(parseIsoTime(isoWithOffset(date))?.getTime()).toBe(date.getTime());
      }),
    );
  });

  describe('at a change of daylight saving time (Europe/Berlin)', () => {
    const savedTz = process.env.TZ;
    afterEach(() => {
      if (savedTz === undefined) delete process.env.TZ;
      else process.env.TZ = savedTz;
    });

    it('refuses a local time the clock skipped or passed twice; takes either with its offset', () => {
      process.env.TZ = 'Europe/Berlin';
      // 2026-03-29 02:00 -> 03:00: 02:30 never happened.
      expect(parseIsoTime('2026-03-29T02:30')).toBeNull();
      expect(parseIsoTime('2026-03-29T03:30')?.toISOString()).toBe('2026-03-29T01:30:00.000Z');
      // 2026-10-25 03:00 -> 02:00: 02:20 happened twice.
      expect(parseIsoTime('2026-10-25T02:20')).toBeNull();
      expect(parseIsoTime('2026-10-25T02:20+02:00')?.toISOString()).toBe('2026-10-25T00:20:00.000Z');
      expect(parseIsoTime('2026-10-25T02:20+01:00')?.toISOString()).toBe('2026-10-25T01:20:00.000Z');
      // A date alone is its midnight, which exists here.
      expect(parseIsoTime('2026-03-29')?.toISOString()).toBe('2026-03-28T23:00:00.000Z');
    });
  });

  it('as an upper bound, a time stands for all it names, to its precision: the last millisecond of its second, minute or day', () => {
    expect(parseIsoTime('2026-11-24T09:00:00Z', { upperBound: true })?.toISOString()).toBe('2026-11-24T09:00:00.999Z');
    expect(parseIsoTime('2026-11-24T09:00:00.5Z', { upperBound: true })?.toISOString()).toBe('2026-11-24T09:00:00.500Z');
    // To the minute: the whole minute, so that 21:06 and 21:06:59 agree about a snapshot at 21:06:30 (a new-user probe found 21:06 and 21:06:00 disagreeing).
    expect(parseIsoTime('2026-11-24T09:00Z', { upperBound: true })?.toISOString()).toBe('2026-11-24T09:00:59.999Z');
    expect(parseIsoTime('2026-11-24T09:00+01:00', { upperBound: true })?.toISOString()).toBe('2026-11-24T08:00:59.999Z');
    // A date alone: the whole (local) day; 24:00 is already the end of one.
    expect(parseIsoTime('2026-11-24', { upperBound: true })?.getTime()).toBe(new Date(2026, 10, 25).getTime() - 1);
    expect(parseIsoTime('2026-11-24T24:00', { upperBound: true })?.getTime()).toBe(new Date(2026, 10, 25).getTime());
    // As a lower bound, the start.
    expect(parseIsoTime('2026-11-24T09:00:00Z')?.toISOString()).toBe('2026-11-24T09:00:00.000Z');
    expect(parseIsoTime('2026-11-24T09:00Z')?.toISOString()).toBe('2026-11-24T09:00:00.000Z');
  });
});
