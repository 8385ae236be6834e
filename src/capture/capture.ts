import { resolve } from 'node:path';
import { platformCollector, type PlatformCollector } from '../collect/index.js';
import type { ProcessRecord, Snapshot, SocketRecord } from '../model/types.js';
import { snapshot as takeSnapshot, type SnapshotOptions } from '../snapshot/snapshot.js';
import { appendCsv, csvRows, type CsvAppendResult, type CsvCleanEnd } from '../store/csv-trail.js';
import { EvidenceStore, type GapRecord } from '../store/evidence-store.js';
import { StoreError } from '../errors.js';
import { count } from '../model/format.js';

/** Where and how captures are recorded. */
export interface CaptureOptions {
  /** SQLite evidence store. */
  db: string;
  /** CSV trail; null for none. */
  csv: string | null;
  label?: string | null;
  change?: string | null;
  /** Write every socket at every tick to the CSV (netmon.py's behaviour) instead of changes. */
  csvEveryTick?: boolean;
  snapshot?: SnapshotOptions;
  now?: () => Date;
}

/** What one capture stored. */
export interface TickResult {
  snapshot: Snapshot;
  snapshotId: number;
  /** Sockets that appeared or changed, and that disappeared or changed, since the previous snapshot. */
  opened: SocketRecord[];
  closed: SocketRecord[];
  csv: CsvAppendResult | null;
  /** The first tick of a session (its CSV rows are the full inventory). */
  first: boolean;
}

/**
 * A capture session on one store: `tick()` takes a snapshot, appends it to the store (one
 * transaction) and to the CSV trail. Open with `start()`, end with `close()`.
 */
export class CaptureSession {
  readonly store: EvidenceStore;
  readonly gap: GapRecord | null;
  private ticks = 0;
  private readonly options: CaptureOptions;
  /** Processes of the previous tick: a closed socket's owner as it was last seen. */
  private previousProcesses = new Map<number, ProcessRecord>();
  /** One collector for the whole session, so a tick can reuse the previous descriptor walk. */
  private readonly collector: PlatformCollector;

  private constructor(store: EvidenceStore, gap: GapRecord | null, options: CaptureOptions) {
    this.store = store;
    this.gap = gap;
    this.options = options;
    this.collector = options.snapshot?.collector ?? platformCollector();
  }

  /** Open the store, take the writer lock and record the session (and a gap, when there was one). */
  static start(options: CaptureOptions, interval: number | null): CaptureSession {
    const store = EvidenceStore.open(options.db, options.now ? { now: options.now } : {});
    try {
      const { gap } = store.beginSession({ interval });
      return new CaptureSession(store, gap, options);
    } catch (error) {
      store.close();
      throw error;
    }
  }


  /** Take, store and append one snapshot. `last`: no tick follows (nothing is kept for comparing the next one). */
  async tick(options: { last?: boolean } = {}): Promise<TickResult> {
    const snap = await takeSnapshot({ ...this.options.snapshot, collector: this.collector, reuseOwners: true, hashCache: this.store.hashCache() });
    const appended = this.store.appendSnapshot(snap, { label: this.options.label ?? null, change: this.options.change ?? null, retain: !options.last });
    const first = this.ticks === 0;
    this.ticks++;
    let csv: CsvAppendResult | null = null;
    if (this.options.csv !== null) {
      const processes = new Map<number, ProcessRecord>(snap.processes.map((p) => [p.pid, p]));
      const context = { snapshotId: appended.id, label: this.options.label ?? null, change: this.options.change ?? null };
      let rows: string[][];
      if (first || this.options.csvEveryTick) {
        rows = csvRows(snap, snap.sockets, processes, 'present', context);
      } else {
        // The same socket (inode) on both sides changed (new owner, state, ...): one 'changed' row.
        const closedInodes = new Set(appended.closed.filter((s) => s.inode !== 0).map((s) => s.inode));
        const changed = appended.opened.filter((s) => s.inode !== 0 && closedInodes.has(s.inode));
        const changedInodes = new Set(changed.map((s) => s.inode));
        rows = [
          ...csvRows(snap, appended.opened.filter((s) => !changedInodes.has(s.inode)), processes, 'opened', context),
          ...csvRows(snap, changed, processes, 'changed', context),
          // A closed socket's owner as it was last seen.
          ...csvRows(snap, appended.closed.filter((s) => !changedInodes.has(s.inode)), this.previousProcesses, 'closed', context),
        ];
      }
      // The trail's last known clean end lives in the store, so a run does not rescan the whole trail.
      const key = `csv_clean_end:${resolve(this.options.csv)}`;
      const stored = this.store.getMeta(key);
      try {
        csv = appendCsv(this.options.csv, rows, this.options.now, stored ? (JSON.parse(stored) as CsvCleanEnd) : null);
      } catch (error) {
        // The store has the snapshot already (it is written first): say so, so nobody looks for it in vain.
        if (!(error instanceof StoreError)) throw error;
        throw new StoreError(error.code, `snapshot ${appended.id} is in the evidence store ${this.options.db}, but the CSV trail was not updated (${count(rows.length, 'row')} not written): ${error.message}`, {
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          cause: error,
        });
      }
      if (rows.length > 0 || !stored) this.store.setMeta(key, JSON.stringify(csv.cleanEnd));
      this.previousProcesses = processes;
    }
    return { snapshot: snap, snapshotId: appended.id, opened: appended.opened, closed: appended.closed, csv, first };
  }

  close(): void {
    this.store.close();
  }
}

/** `netmon --once`: one snapshot, stored and appended to the trail. */
export async function captureOnce(options: CaptureOptions): Promise<TickResult & { gap: GapRecord | null }> {
  const session = CaptureSession.start(options, null);
  try {
    return { ...(await session.tick({ last: true })), gap: session.gap };
  } finally {
    session.close();
  }
}

export interface IntervalOptions {
  /** Seconds between ticks. */
  interval: number;
  /** Stops the loop after the running tick. */
  signal: AbortSignal;
  onTick(result: TickResult): void;
  /** A tick that failed; the loop goes on unless this throws. */
  onError?(error: unknown): void;
  /** Clock and sleep, replaceable for tests. */
  now?: () => number;
}

/**
 * `netmon --interval N`: tick on a fixed schedule (start + k x interval) until the signal aborts.
 * A tick that runs long never piles up: missed slots are skipped, never run late back to back.
 */
export async function captureEvery(options: CaptureOptions, loop: IntervalOptions): Promise<{ ticks: number }> {
  const now = loop.now ?? (() => performance.now());
  const session = CaptureSession.start(options, loop.interval);
  let ticks = 0;
  try {
    const period = loop.interval * 1000;
    const start = now();
    let slot = 0;
    while (!loop.signal.aborted) {
      try {
        loop.onTick(await session.tick());
        ticks++;
      } catch (error) {
        if (!loop.onError) throw error;
        loop.onError(error);
      }
      if (loop.signal.aborted) break;
      slot = Math.max(slot + 1, Math.floor((now() - start) / period) + 1);
      await sleep(start + slot * period - now(), loop.signal);
    }
  } finally {
    session.close();
  }
  return { ticks };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
