import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureEvery } from '../../src/capture/capture.js';
import { LinuxCollector } from '../../src/collect/linux.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';

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

/** The real collector, with its third and fourth scans failing (as a scan does that hits EMFILE). */
class FailsTwice extends LinuxCollector {
  calls = 0;
  override scanSockets(...args: Parameters<LinuxCollector['scanSockets']>) {
    this.calls++;
    if (this.calls === 3 || this.calls === 4) throw Object.assign(new Error('too many open files'), { code: 'EMFILE' });
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

  it('failed captures do not stop the session: the loop goes on, and the time they cost is one gap in the hash chain before the next capture', async () => {
    const controller = new AbortController();
    const db = join(dir, 'failing.db');
    const stored: { id: number; at: number; gap: string | null }[] = [];
    const errors: string[] = [];
    const result = await captureEvery(
      { db, csv: null, snapshot: { collector: new FailsTwice(), hashBinaries: false } },
      {
        interval: 0.2,
        signal: controller.signal,
        onTick: (tick) => {
          stored.push({ id: tick.snapshotId, at: Date.parse(tick.snapshot.takenAt), gap: tick.gap?.reason ?? null });
          if (stored.length === 4) controller.abort();
        },
        onError: (error) => errors.push((error as Error).message),
      },
    );
    expect(result.ticks).toBe(4);
    expect(errors).toEqual(['too many open files', 'too many open files']);
    // The first capture after the failures reports the gap; none other does.
    expect(stored.map((s) => s.gap)).toEqual([null, null, 'capture-failed', null]);
    const store = EvidenceStore.open(db, { readonly: true });
    try {
      const gaps = store.gaps();
      expect(gaps.map((g) => g.reason)).toEqual(['capture-failed']);
      // From after the second capture stored to the third: both failed slots lie inside.
      expect(Date.parse(gaps[0]!.from)).toBeGreaterThanOrEqual(stored[1]!.at);
      expect(Date.parse(gaps[0]!.to)).toBeLessThanOrEqual(stored[2]!.at);
      expect(Date.parse(gaps[0]!.to) - Date.parse(gaps[0]!.from)).toBeGreaterThanOrEqual(300);
      expect(store.verify().ok).toBe(true);
    } finally {
      store.close();
    }
  });
});
