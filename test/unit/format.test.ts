/** The model's wording helpers (src/model/format.ts), used by every output. */
import { describe, expect, it } from 'vitest';
import { clockStepWords, count, percent } from '../../src/model/format.js';

describe('count', () => {
  it('uses the singular for one and the plural otherwise, zero included', () => {
    expect(count(1, 'socket')).toBe('1 socket');
    expect(count(0, 'socket')).toBe('0 sockets');
    expect(count(28001, 'socket')).toBe('28001 sockets');
    expect(count(1, 'process', 'processes')).toBe('1 process');
    expect(count(2, 'process', 'processes')).toBe('2 processes');
  });
});

describe('percent', () => {
  it('prints one decimal', () => {
    expect(percent(0.9871)).toBe('98.7%');
    expect(percent(1)).toBe('100.0%');
    expect(percent(0)).toBe('0.0%');
  });

  it('reads 100.0% only for a whole and 0.0% only for nothing', () => {
    expect(percent(28000 / 28001)).toBe('99.9%');
    expect(percent(0.99949)).toBe('99.9%');
    expect(percent(1 / 28001)).toBe('0.1%');
    expect(percent(0.98765)).toBe('98.8%'); // otherwise the nearest tenth
    expect(percent(0.5)).toBe('50.0%');
  });
});

describe('clockStepWords', () => {
  it('gives a step under a minute in seconds, a longer one as the other durations are written (a multi-day probe read 43197.2 s beside 11h 59m)', () => {
    expect(clockStepWords(2_500)).toBe('set forward by about 2.5 s');
    expect(clockStepWords(-59_940)).toBe('set back by about 59.9 s');
    expect(clockStepWords(-43_197_200)).toBe('set back by about 11h 59m');
    expect(clockStepWords(90_061_000)).toBe('set forward by about 1d 1h 1m');
  });
});
