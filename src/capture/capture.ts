import { statSync } from 'node:fs';
import { uptime } from 'node:os';
import { dirname, resolve } from 'node:path';
import { platformCollector, type PlatformCollector } from '../collect/index.js';
import type { NamespaceRecord, ProcessRecord, Snapshot, SocketRecord } from '../model/types.js';
import { snapshot as takeSnapshot, type SnapshotOptions } from '../snapshot/snapshot.js';
import { appendCsv, checkCsvWritable, completeCsv, csvRows, trailHasRows, trailRestarted, type CsvAppendResult, type CsvCleanEnd, type CsvCompletion } from '../store/csv-trail.js';
import { changeRows, CLEAN_END_KEY, csvKeys, metaJson, OUTAGES_KEPT, storedSnapshotRows, unfinishedMark, type CsvMark, type TrailOutage } from './trail-rows.js';
import { EvidenceStore, type GapRecord, type SessionClockStep } from '../store/evidence-store.js';
import { storeBusy, storeError } from '../store/sqlite.js';
import { ConfigError, errnoCode, StoreBusyError, StoreError } from '../errors.js';
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
  /**
   * Take the store over at once from a writer whose lock cannot be checked from here (another
   * host, a container), instead of waiting until it goes stale (EvidenceStore#beginSession).
   */
  takeOver?: boolean;
  /**
   * How long to wait for a store that is locked for a moment: by SQLite (a prune, a long reader
   * on a shared file system) or by another one-shot capture. Default ONCE_STORE_WAIT_MS; 0 fails
   * at once. A capture loop's own lock is never waited for.
   */
  lockWaitMs?: number;
  /** Hears what a capture is doing (the scan's phases, storing, the CSV), for a progress line. */
  onProgress?: (text: string) => void;
  /**
   * What a trail that cannot be written does to the capture. 'stop' (captureOnce's default): a
   * trail found unwritable before anything is stored fails the capture, and one that fails after
   * the snapshot was stored fails the tick, saying so. 'continue' (captureEvery's default): the
   * snapshot is stored all the same and the tick reports `csvDown`; the first tick that can write
   * the trail again writes its full inventory and reports `csvResumed`. A trail's owner or free
   * space (a rotation that created it for the wrong user, a full file system) must not cost a
   * capture loop the evidence in the store. Mistakes in the path itself (a missing directory, a
   * directory, a pipe, a link, a file that is not a netmon trail) still stop a session before its
   * first capture.
   */
  trailDown?: 'stop' | 'continue';
}

/** A trail that could not be written ('continue'): since which snapshot, and the latest error. */
export interface TrailDown {
  /** The first snapshot whose rows did not reach the trail. */
  since: number;
  /** Why this tick's rows did not reach it. */
  error: StoreError;
  /** This tick is the first of the outage, or its cause differs from the previous tick's. */
  news: boolean;
}

/** Errors of a trail's permissions or space, rather than of its path: a capture loop goes on without the trail. */
const TRAIL_DOWN_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

/** What one capture stored. */
export interface TickResult {
  snapshot: Snapshot;
  snapshotId: number;
  /**
   * The hash of the snapshot's record, the store's head after this tick: kept outside the store
   * (a log, a ticket), it is what `verify-store --expect-head` checks the store against later.
   */
  recordHash: string;
  /** --once: why the store's writer lock could not be released after this tick (see EvidenceStore.close). */
  lockKept?: string;
  /** Sockets that appeared or changed, and that disappeared or changed, since the previous snapshot. */
  opened: SocketRecord[];
  closed: SocketRecord[];
  /** The processes of this session's tick before (none on its first): the owners of what closed, as they were last seen. */
  previousProcesses: ReadonlyMap<number, ProcessRecord>;
  /**
   * The network namespaces of this session's tick before (none on its first): where what closed
   * was. A namespace deleted since is in none of this tick's, and the kernel may have given its
   * inode to a new one.
   */
  previousNamespaces: readonly NamespaceRecord[];
  csv: CsvAppendResult | null;
  /**
   * On a session's first tick: an earlier run stored snapshot `snapshotId` and stopped before its
   * CSV rows were all written; what was found and appended for it.
   */
  csvCompleted?: CsvCompletion & { snapshotId: number };
  /** The first tick of a session (its CSV rows are the full inventory). */
  first: boolean;
  /**
   * (`trailDown: 'continue'`) This tick's snapshot is stored, but its rows did not reach the
   * trail: since when the trail has none, and why. The tick that writes it again reports `csvResumed`.
   */
  csvDown?: TrailDown;
  /**
   * (`trailDown: 'continue'`) The trail could be written again at this tick, after it could not
   * for snapshots `from` to `to` (which are in the store only): this tick's rows are the full
   * inventory. `reason`: why the first of them could not be written.
   */
  csvResumed?: { from: number; to: number; reason: string };
  /**
   * The gap in monitoring recorded before this tick, if any: on a session's first tick, the one
   * recorded when the session began; on a later one, a pause (`captureEvery`).
   */
  gap?: GapRecord | null;
  /**
   * On the first tick this store writes to a trail: the trail already held rows this store did
   * not write (another store's, or one since deleted), whose snapshot ids this store may repeat.
   */
  csvForeign?: boolean;
  /**
   * A later tick that found the trail restarted since the session's previous tick (rotated away,
   * replaced or emptied): why. Its CSV rows are the full inventory, so every trail file begins
   * with one.
   */
  csvRestarted?: string;
  /**
   * A later tick after the system clock stepped since the previous one (set by hand, corrected
   * by NTP, a virtual machine resynchronised): by how many milliseconds, forward (> 0) or back.
   * Not a pause: the capture ran meanwhile. Timestamps from this tick on differ by that much.
   */
  clockStep?: number;
  /**
   * On a session's first tick, when the clock was set since the store's previous capture (found
   * as the session began): how, and whether the time since boot measured it (see clockStep).
   */
  sessionClockStep?: SessionClockStep;
  /**
   * On a session's first tick, when it took the store over (`takeOver`) from a writer that could
   * not be checked from here: which one ("pid N on host H, last active T").
   */
  takenOver?: string;
}

/** Why captures of an `--interval` session are missing: they failed, or the store stayed locked. */
export type MissedReason = 'capture-failed' | 'store-busy';


/** Whether two paths name one file: the same path, or (when both exist) the same device and inode, as through a link. */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * A capture session on one store: `tick()` takes a snapshot, appends it to the store (one
 * transaction) and to the CSV trail. Open with `start()`, end with `close()`.
 */
export class CaptureSession {
  readonly store: EvidenceStore;
  readonly gap: GapRecord | null;
  /** The writer this session took the store over from (`takeOver`), or null. */
  readonly takenOver: string | null;
  private ticks = 0;
  private readonly options: CaptureOptions;
  /** Processes of the previous tick: a closed socket's owner as it was last seen. */
  private previousProcesses = new Map<number, ProcessRecord>();
  /** Network namespaces of the previous tick: where a closed socket was. */
  private previousNamespaces: readonly NamespaceRecord[] = [];
  /** One collector for the whole session, so a tick can reuse the previous descriptor walk. */
  private readonly collector: PlatformCollector;
  /** The last snapshot this session stored. */
  private lastSnapshotId: number | null = null;
  /** Where this session's last append left the trail (also in meta, where the next run finds it). */
  private trailEnd: CsvCleanEnd | null = null;
  /** A gap recorded since the last tick (a pause, captures missed), for the next tick to report. */
  private pause: GapRecord | null = null;
  /**
   * Since when captures failed or could not be stored (`noteMissed`), and why, and until when
   * when the loop measured it (`missedUntil`); null when none did.
   */
  private missed: { from: Date; reason: MissedReason; to?: Date } | null = null;
  /** A clock step noticed since the last tick, for the next tick to report. */
  private clockStep: number | null = null;
  /** Of it, what the store has not recorded yet. */
  private clockUnrecorded: number | null = null;
  /** The clock set since the store's previous capture, as the session began (for the first tick's result). */
  private readonly sessionClockStep: SessionClockStep | null;
  /** The trail's outage (as the store keeps it), and its last cause; null while the trail can be written. */
  private trailDown: (TrailOutage & { last: string }) | null = null;

  private constructor(store: EvidenceStore, begun: { gap: GapRecord | null; takenOver: string | null; clockStep: SessionClockStep | null }, options: CaptureOptions, collector: PlatformCollector) {
    this.store = store;
    this.gap = begun.gap;
    this.takenOver = begun.takenOver;
    this.options = options;
    this.collector = collector;
    this.sessionClockStep = begun.clockStep;
    // The clock was set since the store's previous capture. Recorded with the first snapshot, as
    // a step within a session is, so that times that jump (or go backwards) are explained.
    if (begun.clockStep !== null) this.noteClockStep(begun.clockStep.stepMs);
  }

  /** Open the store, take the writer lock and record the session (and a gap, when there was one). */
  static start(options: CaptureOptions, interval: number | null): CaptureSession {
    if (options.csv !== null && sameFile(options.db, options.csv)) {
      throw new ConfigError('E_USAGE', `--db and --csv name the same file (${options.csv}): the evidence store and the CSV trail need a file each`, {
        hint: 'e.g. --db netmon.db --csv network_connections.csv (the defaults)',
      });
    }
    if (options.csv !== null) {
      try {
        checkCsvWritable(options.csv);
      } catch (error) {
        // A loop goes on without a trail it lacks the permission or the space to write: its first
        // tick reports why (csvDown), and the trail gets the inventory once it can be written.
        const code = error instanceof StoreError && error.code === 'E_CSV_OPEN' ? errnoCode(error.cause) : undefined;
        if (options.trailDown !== 'continue' || code === undefined || !TRAIL_DOWN_CODES.has(code)) throw error;
      }
    }
    const collector = options.snapshot?.collector ?? platformCollector();
    // On a file system that hosts share, the store keeps a rollback journal (see StoreOpenOptions).
    const shared = collector.sharedFileSystem(dirname(resolve(options.db)));
    // One SQLite busy wait at most as long as the whole wait asked for (--lock-wait 0: none).
    const busyTimeoutMs = Math.min(SQLITE_BUSY_WAIT_MS, options.lockWaitMs ?? ONCE_STORE_WAIT_MS);
    const store = EvidenceStore.open(options.db, { ...(options.now ? { now: options.now } : {}), journal: shared === null ? 'wal' : 'rollback', busyTimeoutMs });
    try {
      const begun = store.beginSession({ interval, identify: (pid) => collector.processIdentity(pid), pidNamespace: collector.pidNamespace(), takeOver: options.takeOver === true });
      return new CaptureSession(store, begun, options, collector);
    } catch (error) {
      store.close();
      throw error;
    }
  }


  /**
   * Record that nothing was captured from `from` to `to` although the session ran: the system was
   * suspended, or the process stopped (SIGSTOP, a debugger). The next tick carries it. `to` is in
   * the clock frame of `from` (gapEnd): a clock set during the pause neither lengthens, shortens
   * nor reverses the gap (the step is recorded on its own, after it).
   */
  recordPause(from: Date, to: Date): void {
    this.pause = this.store.recordGap(from, to, 'paused');
  }

  /**
   * Note that a capture failed or could not be stored (`captureEvery` goes on to the next): the
   * evidence since `from`, the end of the last capture stored, is missing. The next tick whose
   * scan succeeds records it as a gap, up to its own start, before its snapshot. Several failures
   * in a row make one gap, with the first one's reason.
   */
  noteMissed(from: Date, reason: MissedReason): void {
    this.missed ??= { from, reason };
  }

  /**
   * The end of the captures missed, as `from` plus the time since boot that passed, in the same
   * clock frame as `from` (see recordPause); without it, the next tick's start ends the gap.
   */
  missedUntil(to: Date): void {
    if (this.missed !== null) this.missed.to = to;
  }

  /** Whether captures were missed since the last one stored (their gap is not recorded yet). */
  get missing(): boolean {
    return this.missed !== null;
  }

  /**
   * Note that the system clock stepped by `ms` since the last tick (not a gap: the session ran).
   * The next tick whose scan succeeds records it in the store before its snapshot.
   */
  noteClockStep(ms: number): void {
    this.clockStep = (this.clockStep ?? 0) + ms;
    this.clockUnrecorded = (this.clockUnrecorded ?? 0) + ms;
  }

  /** Take, store and append one snapshot. `last`: no tick follows (nothing is kept for comparing the next one). */
  async tick(options: { last?: boolean } = {}): Promise<TickResult> {
    const first = this.ticks === 0;
    const begunAt = this.options.now?.() ?? new Date();
    const displaced = this.store.displaced();
    if (displaced !== null) throw await this.storeDisplaced(displaced);
    const csvPath = this.options.csv;
    const keys = csvPath === null ? null : csvKeys(csvPath);
    // A trail restarted since the last tick (log rotation, say) gets the inventory again rather
    // than changes against rows it does not hold.
    let csvRestarted = !first && this.options.csvEveryTick !== true && csvPath !== null && this.trailEnd !== null ? trailRestarted(csvPath, this.trailEnd) : null;
    // After ticks whose rows could not be written, the trail gets the whole inventory again, not
    // changes against rows it lacks.
    const inventory = first || this.options.csvEveryTick === true || csvRestarted !== null || this.trailDown !== null;
    // What this store recorded of the trail before this session (read once, at the first tick).
    const recorded = first && csvPath !== null && keys !== null ? { path: csvPath, keys, cleanEnd: this.store.getMeta(keys.cleanEnd), mark: this.store.getMeta(keys.mark) } : null;
    // An earlier loop that stopped while it could not write the trail: the outage goes on from
    // where it began (this session writes the inventory once it can, and says since when).
    const outage = recorded !== null ? metaJson<TrailOutage>(this.store.getMeta(recorded.keys.down)) : null;
    if (outage !== null && Number.isSafeInteger(outage.from) && typeof outage.reason === 'string') this.trailDown ??= { from: outage.from, reason: outage.reason, last: outage.reason };
    // Before this tick's mark replaces it: complete the rows of an earlier run that stored its
    // snapshot and stopped before writing them (if this run is killed too, the mark stays); not
    // inside an outage, whose snapshots the inventory written at its end stands for.
    const csvCompleted = recorded !== null && this.trailDown === null ? this.completeEarlierRun(recorded) : undefined;
    // A store that never wrote to this trail, appending to one with rows: ids start again at this
    // store's, so the trail's snapshot ids may repeat (a deleted store, two stores on one trail).
    // (Not a trail this store wrote under another path: the store and its trail moved together.)
    const csvForeign = recorded !== null && recorded.cleanEnd === null && recorded.mark === null && trailHasRows(recorded.path) && !this.wroteTrailElsewhere(recorded.path);
    const progress = this.options.onProgress;
    const snap = await takeSnapshot({
      ...this.options.snapshot,
      collector: this.collector,
      reuseOwners: true,
      // The sockets the previous tick attributed, as the store keeps them for this append.
      ownedBefore: { has: (inode) => this.store.attributedAtLastAppend(inode) },
      hashCache: this.store.hashCache(),
      ...(progress ? { onProgress: progress } : {}),
    });
    progress?.(`storing ${count(snap.sockets.length, 'socket')} in ${this.options.db}`);
    if (this.missed !== null) {
      // Captures missed since the last one stored: a gap up to this one (kept for the next tick
      // if the store is still locked).
      this.pause = this.store.recordGap(this.missed.from, this.missed.to ?? begunAt, this.missed.reason);
      this.missed = null;
    }
    // A clock step since the last tick, in the chain before this snapshot, whose time it shifts
    // (kept for the next tick if the store is locked).
    if (this.clockUnrecorded !== null) {
      this.store.recordClockStep(this.clockUnrecorded);
      this.clockUnrecorded = null;
    }
    const appended = this.store.appendSnapshot(snap, {
      label: this.options.label ?? null,
      change: this.options.change ?? null,
      retain: !options.last,
      ...(keys === null ? {} : { marker: { key: keys.mark, value: (id: number) => JSON.stringify({ snapshotId: id, rows: inventory ? 'inventory' : 'changes' } satisfies CsvMark) } }),
    });
    this.ticks++;
    this.lastSnapshotId = appended.id;
    let csv: CsvAppendResult | null = null;
    let csvDown: TrailDown | undefined;
    let csvResumed: TickResult['csvResumed'];
    // The owners of what closed are as the snapshot before saw them: this one's are the next tick's.
    const processes = new Map<number, ProcessRecord>(snap.processes.map((p) => [p.pid, p]));
    const previousProcesses = this.previousProcesses;
    this.previousProcesses = processes;
    const previousNamespaces = this.previousNamespaces;
    this.previousNamespaces = snap.namespaces;
    if (csvPath !== null && keys !== null) {
      const context = { snapshotId: appended.id, label: this.options.label ?? null, change: this.options.change ?? null };
      // The inventory also when the trail was restarted after the check above (log rotation
      // during the scan): appendCsv looks again at the file it opens.
      const inventoryRows = (): string[][] => csvRows(snap, snap.sockets, processes, 'present', context);
      let rows = inventory ? inventoryRows() : changeRows(snap, appended.opened, appended.closed, processes, previousProcesses, context);
      const rowsFor = (restartedNow: string | null): string[][] => (restartedNow !== null && !inventory ? (rows = inventoryRows()) : rows);
      // The trail's last known clean end, so a run does not rescan the whole trail: this session's
      // own after its first append; before it, the store's (a completion may just have moved it).
      const known = this.trailEnd ?? metaJson<CsvCleanEnd>(this.store.getMeta(keys.cleanEnd));
      progress?.(`appending to ${csvPath}`);
      try {
        csv = appendCsv(csvPath, rowsFor, this.options.now, known, inventory ? null : this.trailEnd);
        if (csv.restarted !== undefined) csvRestarted ??= csv.restarted;
      } catch (error) {
        // The store has the snapshot already (it is written first): say so, so nobody looks for it in vain.
        if (!(error instanceof StoreError)) throw error;
        const failed = new StoreError(error.code, `snapshot ${appended.id} is in the evidence store ${this.options.db}, but the CSV trail was not updated (${count(rows.length, 'row')} not written): ${error.message}`, {
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          cause: error,
        });
        if (this.options.trailDown !== 'continue') throw failed;
        // A loop goes on: the snapshot is stored, the trail waits for a tick that can write it.
        const before = this.trailDown;
        this.trailDown = { from: before?.from ?? appended.id, reason: before?.reason ?? error.message, last: error.message };
        csvDown = { since: this.trailDown.from, error: failed, news: before === null || before.last !== error.message };
        // Kept in the store, for a loop started after this one stops, and for verify-trail.
        if (before === null) this.keepMeta(() => this.store.setMeta(keys.down, JSON.stringify({ from: appended.id, reason: error.message } satisfies TrailOutage)));
      }
      if (csv !== null) {
        if (this.trailDown !== null) {
          // To the snapshot before this one (records of sessions, gaps and clock steps lie between).
          const { from, reason } = this.trailDown;
          const ended = { from, to: this.store.snapshotBefore(appended.id) ?? from, reason } satisfies TrailOutage;
          csvResumed = ended;
          this.trailDown = null;
          this.keepMeta(() => {
            const kept = metaJson<TrailOutage[]>(this.store.getMeta(keys.outages));
            this.store.setMeta(keys.outages, JSON.stringify([...(Array.isArray(kept) ? kept : []), ended].slice(-OUTAGES_KEPT)));
            this.store.deleteMeta(keys.down);
          });
        }
        // Confirms the mark: this snapshot's rows (none, for a tick without change) are all in the trail.
        // A store locked by another process now leaves it unconfirmed, and this capture stands: the
        // next tick's mark and confirmation replace it, and a run killed before that finds the rows
        // present when it completes this snapshot's.
        try {
          this.store.setMeta(keys.cleanEnd, JSON.stringify({ ...csv.cleanEnd, snapshotId: appended.id } satisfies CsvCleanEnd));
        } catch (error) {
          // A full disk now: the evidence is in place, only its confirmation is not; say that, not an internal error.
          if (!storeBusy(error)) {
            throw storeError(error, this.options.db, `snapshot ${appended.id} and its ${count(csv.rows, 'row')} in ${this.options.csv} were written, but the store could not record that the trail is complete (the next capture checks the trail's end)`);
          }
        }
        this.trailEnd = csv.cleanEnd;
      }
    }
    const pause = this.pause;
    this.pause = null;
    const clockStep = this.clockStep;
    this.clockStep = null;
    return {
      snapshot: snap,
      snapshotId: appended.id,
      recordHash: appended.recordHash,
      opened: appended.opened,
      closed: appended.closed,
      previousProcesses,
      previousNamespaces,
      csv,
      ...(csvCompleted ? { csvCompleted } : {}),
      first,
      ...(csvDown ? { csvDown } : {}),
      ...(csvResumed ? { csvResumed } : {}),
      ...(first ? { gap: this.gap } : pause !== null ? { gap: pause } : {}),
      ...(first && this.takenOver !== null ? { takenOver: this.takenOver } : {}),
      ...(clockStep !== null ? { clockStep } : {}),
      ...(first && this.sessionClockStep !== null ? { sessionClockStep: this.sessionClockStep } : {}),
      ...(csvForeign ? { csvForeign } : {}),
      ...(csvRestarted === null ? {} : { csvRestarted }),
    };
  }

  /** The first snapshot whose rows have not reached the trail, while it cannot be written; else null. */
  get trailDownSince(): number | null {
    return this.trailDown?.from ?? null;
  }

  /** Bookkeeping in the store's meta table that a busy or full store may refuse: the capture stands without it. */
  private keepMeta(write: () => void): void {
    try {
      write();
    } catch {
      // what it stood for is said on stderr all the same
    }
  }

  /**
   * Whether this store recorded writing the very file at `path` (its device and inode) under
   * another path: a store and its trail moved to another directory together (`mv`), whose rows
   * are this store's own.
   */
  private wroteTrailElsewhere(path: string): boolean {
    let st;
    try {
      st = statSync(path);
    } catch {
      return false;
    }
    return this.store.metaEntries(CLEAN_END_KEY).some(({ value }) => {
      const end = metaJson<CsvCleanEnd>(value);
      return end !== null && end.device === st.dev && end.inode === st.ino;
    });
  }

  /**
   * When an earlier run's mark was never confirmed: write what the trail lacks of its snapshot and
   * confirm it. Never fails the capture: what could not be done is reported in the result.
   */
  private completeEarlierRun(recorded: { path: string; keys: { cleanEnd: string }; cleanEnd: string | null; mark: string | null }): TickResult['csvCompleted'] {
    const { path, keys } = recorded;
    const known = metaJson<CsvCleanEnd>(recorded.cleanEnd);
    const mark = unfinishedMark(recorded.mark, known);
    if (mark === null) return undefined;
    let done: CsvCompletion;
    try {
      done = this.completeUnfinished(path, mark, known);
    } catch (error) {
      // A snapshot pruned meanwhile, a trail that cannot be read or written: this capture goes on.
      return { snapshotId: mark.snapshotId, expected: 0, present: 0, written: 0, untouched: `completing it failed: ${error instanceof Error ? error.message : String(error)}`, cleanEnd: known ?? { size: 0, device: 0, inode: 0 } };
    }
    // A trail left alone keeps its old clean end: this capture appends to it as it would have without the mark.
    if (done.untouched === undefined) this.store.setMeta(keys.cleanEnd, JSON.stringify({ ...done.cleanEnd, snapshotId: mark.snapshotId } satisfies CsvCleanEnd));
    return { snapshotId: mark.snapshotId, ...done };
  }

  /**
   * The store's file was deleted, moved or replaced while this session wrote to it: copy what the
   * open file holds to a new file (deleted, it would be lost at exit), and stop. Writing on would
   * record evidence where nobody will look for it.
   */
  private async storeDisplaced(why: string): Promise<StoreError> {
    const db = this.options.db;
    const last = this.lastSnapshotId === null ? 'this session stored no snapshot' : `the last snapshot this session stored: ${this.lastSnapshotId}`;
    let copy: string;
    try {
      copy = await this.store.rescue();
    } catch (error) {
      return new StoreError('E_STORE_DISPLACED', `the evidence store ${db} ${why} while netmon was writing to it (${last}), and ${(error as Error).message}; netmon stopped`, {
        hint: `if it was moved, its evidence is where it was moved to; start netmon again to begin a new store at ${db}`,
        cause: error,
      });
    }
    return new StoreError('E_STORE_DISPLACED', `the evidence store ${db} ${why} while netmon was writing to it; netmon copied everything it held (${last}) to ${copy} and stopped rather than write evidence where nobody would find it`, {
      hint: `check the copy with \`netmon verify-store --db ${copy}\`; move it to ${db} to continue its chain there, or start netmon again to begin a new store at ${db}`,
    });
  }

  /**
   * Write what the trail lacks of a snapshot an earlier run stored and did not finish writing:
   * its rows are made from the store exactly as that run made them (the inventory, or the changes
   * against the snapshot before it).
   */
  private completeUnfinished(path: string, mark: CsvMark, known: CsvCleanEnd | null): CsvCompletion {
    // Changes against a snapshot the store no longer holds cannot be made again: the inventory then.
    const rows = storedSnapshotRows(this.store, mark.snapshotId, mark.rows) ?? storedSnapshotRows(this.store, mark.snapshotId, 'inventory')!;
    return completeCsv(path, rows, known, this.options.now);
  }

  /** Close the store: why its writer lock stayed (see EvidenceStore.close), else null. */
  close(): string | null {
    return this.store.close();
  }
}

/**
 * `netmon --once`: one snapshot, stored and appended to the trail. `stored` runs while the
 * store is still held (`netmon init` points the store's baseline at the snapshot). `signal`
 * ends a wait for a locked store (then null, nothing captured); a capture under way finishes.
 */
export async function captureOnce(options: CaptureOptions, onWait?: (error: unknown) => void, stored?: (session: CaptureSession, result: TickResult) => void, signal?: AbortSignal): Promise<TickResult | null> {
  const deadline = Date.now() + (options.lockWaitMs ?? ONCE_STORE_WAIT_MS);
  const session = await untilNotBusy(() => CaptureSession.start(options, null), deadline, onWait, passingLock, signal);
  if (session === null) return null;
  let result: TickResult | undefined;
  try {
    // A tick that found the store locked stored nothing: the next attempt scans again.
    const ticked = await untilNotBusy(() => session.tick({ last: true }), deadline, onWait, storeBusy, signal);
    if (ticked === null) return null;
    result = ticked;
    stored?.(session, result);
  } finally {
    const kept = session.close();
    if (result !== undefined && kept !== null) result.lockKept = kept;
  }
  return result;
}

/**
 * How long `--once` waits for a store that another process keeps locked (a long `prune`, a
 * report reading a store on a shared file system, another `--once`), in attempts of SQLite's
 * busy timeout each: a capture before a change window is worth a minute's wait, not a failure.
 * A capture loop (`--interval`, `watch`) waits as long for another `--once` to finish.
 */
export const ONCE_STORE_WAIT_MS = 60_000;

/** SQLite's busy wait of one attempt, as the store's default. */
const SQLITE_BUSY_WAIT_MS = 5_000;

/** Whether a failure is a lock that lets go by itself: SQLite's busy lock, or another one-shot capture's writer lock. */
function passingLock(error: unknown): boolean {
  return storeBusy(error) || (error instanceof StoreBusyError && error.oneShot);
}

/**
 * Run `attempt` again while it fails on a lock `waitFor` accepts, until `deadline` or until
 * `signal` aborts (then null); `onWait` hears the first such failure.
 */
async function untilNotBusy<T>(
  attempt: () => T | Promise<T>,
  deadline: number,
  onWait?: (error: unknown) => void,
  waitFor: (error: unknown) => boolean = passingLock,
  signal?: AbortSignal,
): Promise<T | null> {
  for (let said = false; ; said = true) {
    try {
      return await attempt();
    } catch (error) {
      if (!waitFor(error) || Date.now() >= deadline) throw error;
      if (!said) onWait?.(error);
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (signal?.aborted) return null;
    }
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
  /** The store is held by another netmon --once: the loop waits for it (up to CaptureOptions.lockWaitMs). */
  onWait?(error: unknown): void;
  /** Clock and sleep, replaceable for tests. */
  now?: () => number;
  /** Milliseconds since boot, counting time suspended (os.uptime), replaceable for tests. */
  uptime?: () => number;
}

/** A moment by the wall clock and by the time since boot (both in milliseconds). */
interface Mark {
  wall: number;
  up: number;
}

/**
 * Waiting this much longer than two intervals between ticks is a pause, not scheduling jitter;
 * the wall clock moving this much more or less than the time since boot is a clock step.
 */
const PAUSE_SLACK_MS = 1000;

/**
 * The end of a gap from `from` to `now`, in the clock frame of its start: `now`'s wall time, unless
 * the clock was set meanwhile (the wall clock moved more or less than the time since boot); then
 * the start plus the time since boot, so that the step (recorded on its own) neither lengthens,
 * shortens nor reverses the gap. (The time since boot has a 10 ms grain: used only then.)
 */
function gapEnd(from: Mark, now: Mark): Date {
  const up = now.up - from.up;
  return new Date(Math.abs(now.wall - from.wall - up) > PAUSE_SLACK_MS ? from.wall + up : now.wall);
}

/**
 * `netmon --interval N`: tick on a fixed schedule (start + k x interval) until the signal aborts.
 * A tick that runs long never piles up: missed slots are skipped, never run late back to back.
 */
export async function captureEvery(options: CaptureOptions, loop: IntervalOptions): Promise<{ ticks: number; lockKept?: string; trailDownSince?: number }> {
  const now = loop.now ?? (() => performance.now());
  // Another netmon --once lets go of the store within seconds: worth waiting for, not failing.
  // A loop goes on without a trail it cannot write for the moment (see CaptureOptions.trailDown).
  const looping: CaptureOptions = { trailDown: 'continue', ...options };
  const session = await untilNotBusy(() => CaptureSession.start(looping, loop.interval), Date.now() + (options.lockWaitMs ?? ONCE_STORE_WAIT_MS), loop.onWait, (e) => e instanceof StoreBusyError && e.oneShot, loop.signal);
  if (session === null) return { ticks: 0 };
  let ticks = 0;
  let lockKept: string | null = null;
  try {
    const period = loop.interval * 1000;
    const start = now();
    let slot = 0;
    // Start and end of the last tick, by the wall clock and by the time since boot. Between two
    // ticks the loop only sleeps until the next slot, so a longer wait means the process did not
    // run (a suspended system, a stopped process). The time since boot measures the wait: it
    // counts a suspension, and no clock setting moves it. The wall clock alone would take a clock
    // set forward for a pause, and record a gap in monitoring that never was. A clock step shows
    // from one tick's start to the next (it may fall inside a tick).
    let last: { begun: Mark; end: Mark } | null = null;
    const wall = options.now ?? (() => new Date());
    const up = loop.uptime ?? (() => uptime() * 1000);
    const mark = (): Mark => ({ wall: wall().getTime(), up: up() });
    // When the last capture stored ended (at first, when the session began).
    let stored = mark();
    while (!loop.signal.aborted) {
      const begun = mark();
      try {
        if (last !== null) {
          const step = begun.wall - last.begun.wall - (begun.up - last.begun.up);
          if (Math.abs(step) > PAUSE_SLACK_MS) session.noteClockStep(step);
          // (Not after a failed capture: the gap of the captures missed covers the pause too.)
          if (begun.up - last.end.up > 2 * period + PAUSE_SLACK_MS && !session.missing) session.recordPause(new Date(last.end.wall), gapEnd(last.end, begun));
          if (session.missing) session.missedUntil(gapEnd(stored, begun));
        }
        loop.onTick(await session.tick());
        last = { begun, end: mark() };
        stored = last.end;
        ticks++;
      } catch (error) {
        // A failed capture is reported as such, not later as a pause, and its missing evidence
        // is a gap from the end of the last capture stored, recorded before the next one.
        last = { begun, end: mark() };
        session.noteMissed(new Date(stored.wall), storeBusy(error) ? 'store-busy' : 'capture-failed');
        if (!loop.onError) throw error;
        loop.onError(error);
      }
      if (loop.signal.aborted) break;
      slot = Math.max(slot + 1, Math.floor((now() - start) / period) + 1);
      await sleep(start + slot * period - now(), loop.signal);
    }
  } finally {
    lockKept = session.close();
  }
  // The trail could not be written when the loop stopped: since which snapshot.
  const down = session.trailDownSince;
  return { ticks, ...(lockKept === null ? {} : { lockKept }), ...(down === null ? {} : { trailDownSince: down }) };
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
