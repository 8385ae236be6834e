import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureSession, captureEvery } from '../../src/capture/capture.js';
import { CSV_COLUMNS } from '../../src/store/csv-trail.js';
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
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    // A loaded machine may start one tick late (a GC pause, a moment without CPU): that tick is off
    // the grid and the gap after it is shorter. One such tick is allowed for, no more.
    // No two ticks back to back: even after the slow one, the next waits for its slot (a tick run
    // back to back would follow the one before at once).
    const shortest = [...gaps].sort((a, b) => a - b);
    expect(shortest[0], JSON.stringify(gaps)).toBeGreaterThan(150);
    expect(shortest[1], JSON.stringify(gaps)).toBeGreaterThan(250);
    // No drift: every tick but at most one starts near a multiple of 400 ms after the others
    // (lateness does not accumulate). The grid is taken from the tick it fits best, in case the
    // late one is the first.
    const offGrid = (origin: number) =>
      starts
        .map((t) => {
          const offset = (((t - origin) % 400) + 400) % 400;
          return Math.min(offset, 400 - offset);
        })
        .sort((a, b) => a - b);
    const allButWorst = Math.min(...starts.map((origin) => offGrid(origin).at(-2)!));
    expect(allButWorst, JSON.stringify(starts)).toBeLessThan(150);
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

  it('log rotation during a capture (after its check of the trail, before its rows) still starts the new trail file with the inventory', async () => {
    const trail = join(dir, 'race.csv');
    /** The real collector; the trail is rotated away while the second capture scans. */
    class RotatesDuringScan extends LinuxCollector {
      calls = 0;
      override scanSockets(...args: Parameters<LinuxCollector['scanSockets']>) {
        if (++this.calls === 2) renameSync(trail, `${trail}.1`);
        return super.scanSockets(...args);
      }
    }
    const session = CaptureSession.start({ db: join(dir, 'race.db'), csv: trail, snapshot: { collector: new RotatesDuringScan(), hashBinaries: false, includeEphemeral: true } }, 1);
    try {
      const first = await session.tick();
      expect(first.csv!.rows).toBe(first.snapshot.sockets.length);
      const second = await session.tick();
      expect(existsSync(`${trail}.1`)).toBe(true);
      expect(second.csvRestarted).toBe('it is another file (replaced, or moved away and created again)');
      // The new file: the header, then every socket of the second snapshot as present.
      const lines = readFileSync(trail, 'utf8').trimEnd().split('\r\n');
      expect(lines[0]).toBe(CSV_COLUMNS.join(','));
      expect(lines.length - 1).toBe(second.snapshot.sockets.length);
      const event = CSV_COLUMNS.indexOf('event');
      const id = CSV_COLUMNS.indexOf('snapshot_id');
      for (const line of lines.slice(1)) {
        const cells = line.split(',');
        expect(cells[event]).toBe('present');
        expect(cells[id]).toBe(String(second.snapshotId));
      }
      // And changes again after it.
      const third = await session.tick();
      expect(third.csvRestarted).toBeUndefined();
      expect(readFileSync(trail, 'utf8').trimEnd().split('\r\n')).toHaveLength(lines.length + third.opened.length + third.closed.length - countChanged(third));
    } finally {
      session.close();
    }
  });
});

/** Sockets both opened and closed in a tick (the same inode, changed) are one CSV row. */
function countChanged(tick: { opened: { inode: number }[]; closed: { inode: number }[] }): number {
  const closed = new Set(tick.closed.filter((s) => s.inode !== 0).map((s) => s.inode));
  return tick.opened.filter((s) => s.inode !== 0 && closed.has(s.inode)).length;
}
