import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureEvery } from '../../src/capture/capture.js';
import { LinuxCollector } from '../../src/collect/linux.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-schedule-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The real collector, with one scan made slow on purpose (a tick that overruns its slot). */
class SlowOnce extends LinuxCollector {
  calls = 0;
  override scanSockets(...args: Parameters<LinuxCollector['scanSockets']>) {
    this.calls++;
    if (this.calls === 3) {
      const until = Date.now() + 900;
      while (Date.now() < until);
    }
    return super.scanSockets(...args);
  }
}

describe('--interval scheduling', () => {
  it('keeps ticks on the start + k x interval grid and skips slots after a long tick instead of piling up', async () => {
    const controller = new AbortController();
    const starts: number[] = [];
    const collector = new SlowOnce();
    const result = await captureEvery(
      { db: join(dir, 's.db'), csv: null, snapshot: { collector, hashBinaries: false } },
      {
        interval: 0.4,
        signal: controller.signal,
        onTick: (tick) => {
          starts.push(Date.parse(tick.snapshot.takenAt));
          if (starts.length === 7) controller.abort();
        },
      },
    );
    expect(result.ticks).toBe(7);
    const first = starts[0]!;
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    // No two ticks back to back: even after the slow one, the next waits for its slot.
    for (const g of gaps) expect(g).toBeGreaterThan(250);
    // No drift: every tick starts near a multiple of 400 ms after the first (a loaded machine
    // may start a tick late, but lateness does not accumulate).
    for (const t of starts) {
      const offset = (t - first) % 400;
      expect(Math.min(offset, 400 - offset)).toBeLessThan(150);
    }
    // The slow tick (the third) made the schedule skip at least one slot.
    expect(starts[3]! - starts[2]!).toBeGreaterThanOrEqual(800);
  });
});
