import { captureEvery, captureOnce, ONCE_STORE_WAIT_MS, type CaptureOptions, type TickResult } from '../capture/capture.js';
import { storeBusy } from '../store/sqlite.js';
import { formatEndpoint } from '../collect/parse/address.js';
import { newExposures } from '../diff/new-exposures.js';
import { ConfigError, ExitError, StoreBusyError, StoreError } from '../errors.js';
import { protoName, type ProcessRecord, type Snapshot, type SocketRecord } from '../model/types.js';
import { printable } from '../outputs/sanitize.js';
import { REASON_LABELS } from '../outputs/text.js';
import { namespaceShown } from '../model/namespace-label.js';
import { clockTime, DayLines, isoWithOffset } from '../model/iso-time.js';
import { loopWarnings, printSnapshot, progressLine, toSnapshotOptions, untilStopped, type CaptureFlags, type CliIo } from './program.js';
import { clockStepWords, count, duration, gapReason } from '../model/format.js';

function captureOptions(flags: CaptureFlags): CaptureOptions {
  return {
    db: flags.db,
    csv: flags.csv === false ? null : flags.csv,
    label: flags.label ?? null,
    change: flags.change ?? null,
    csvEveryTick: flags.csvEveryTick ?? false,
    snapshot: toSnapshotOptions(flags),
    takeOver: flags.takeOver === true,
    ...(flags.lockWait === undefined ? {} : { lockWaitMs: flags.lockWait * 1000 }),
  };
}

/** What stderr says about a capture's bookkeeping: a gap recorded, CSV rows repaired, completed or restarted. Shared by --once, --interval and watch. */
/** New listeners and destinations `--once` names one by one; more are counted. */
export const EXPOSURE_WARNINGS = 20;

/**
 * The store kept this capture's writer lock (it could not be released: a disk that filled up).
 * The evidence stands; the next capture will take the lock over and record a gap from here, which
 * this warning explains in advance.
 */
export function lockKeptWarning(io: CliIo, why: string): void {
  io.stderr(`netmon: warning: ${printable(why)}; the capture itself is stored, but the next capture will find the lock of a process that is gone and record a gap in monitoring from now until it starts\n`);
}

export function captureNotices(
  result: Pick<TickResult, 'csv' | 'csvCompleted' | 'csvRestarted' | 'gap' | 'csvForeign' | 'clockStep' | 'sessionClockStep' | 'snapshotId' | 'takenOver' | 'first' | 'csvDown' | 'csvResumed'>,
  io: CliIo,
  paths: { db: string; csv: string | null },
): void {
  if (result.takenOver !== undefined) {
    io.stderr(
      `netmon: warning: took the evidence store ${paths.db} over (--take-over) from ${result.takenOver}; if that capture does still run, it stops at its next write (exit 3), so the two never interleave\n`,
    );
  }
  if (result.gap) {
    io.stderr(`netmon: note: recorded a gap in monitoring from ${isoWithOffset(new Date(result.gap.from))} to ${isoWithOffset(new Date(result.gap.to))} (${gapReason(result.gap.reason)})\n`);
  }
  const atStart = result.first ? result.sessionClockStep : undefined;
  if (atStart !== undefined && atStart.behind && !atStart.measured) {
    // Found when the session began: the clock reads before the store's last snapshot.
    io.stderr(
      `netmon: warning: the system clock reads about ${duration(Math.abs(atStart.stepMs) / 1000)} earlier than the time of the store's last snapshot: it was set back since (recorded in the store before snapshot ${result.snapshotId}); this snapshot's time reads earlier than the one before it, and \`netmon gaps\` lists the step\n`,
    );
  } else if (atStart !== undefined) {
    // Measured when the session began: the wall clock moved more or less than the time since boot
    // since the store's last write in this boot.
    const measure = atStart.stepMs > 0 ? 'it moved that much more than the time since boot (which also stands still while a virtual machine is paused)' : 'it moved that much less than the time since boot';
    const then = atStart.behind ? "; this snapshot's time reads earlier than the one before it" : '';
    io.stderr(
      `netmon: ${atStart.behind ? 'warning' : 'note'}: the system clock was ${clockStepWords(atStart.stepMs)} since this store's previous capture: ${measure}; recorded in the store before snapshot ${result.snapshotId}${then}; \`netmon gaps\` lists the step\n`,
    );
  } else if (result.clockStep !== undefined) {
    io.stderr(
      `netmon: note: the system clock was ${clockStepWords(result.clockStep)} between the previous capture and snapshot ${result.snapshotId} (not a gap: netmon kept capturing; recorded in the store); times from then on are shifted by that much\n`,
    );
  }
  const done = result.csvCompleted;
  for (const aside of [done?.repaired, result.csv?.repaired]) {
    if (aside) io.stderr(`netmon: note: the CSV trail ended in a partial line (an earlier capture was interrupted); moved it to ${aside}\n`);
  }
  if (done?.untouched !== undefined) {
    io.stderr(
      `netmon: warning: an earlier capture stored snapshot ${done.snapshotId} and stopped before its CSV rows were confirmed, but ${done.untouched}; the trail was left as it is (netmon show ${done.snapshotId} --db ${paths.db} prints the snapshot)\n`,
    );
  } else if (done !== undefined && done.written > 0) {
    io.stderr(
      `netmon: note: an earlier capture stored snapshot ${done.snapshotId} and stopped before writing all its CSV rows; appended the ${count(done.written, 'missing row')} to ${paths.csv}${done.present > 0 ? ` (${done.present} were there)` : ''}\n`,
    );
  }
  if (result.csvForeign === true) {
    io.stderr(
      `netmon: warning: the CSV trail ${paths.csv} already held rows that the evidence store ${paths.db} did not write (another store's, or one since deleted or replaced); their snapshot ids may repeat this store's, and only the timestamps tell them apart: give each store a trail of its own (--csv FILE)\n`,
    );
  }
  // (A trail written again after it could not be says so below, restarted or not.)
  if (result.csvRestarted !== undefined && result.csv && result.csvResumed === undefined) {
    io.stderr(`netmon: note: the CSV trail ${paths.csv} restarted since the last capture (${result.csvRestarted}); wrote the full inventory to it (${count(result.csv.rows, 'row')}), then changes again\n`);
  }
  // A loop that cannot write its trail goes on into the store: said when it begins or its cause
  // changes (not at every tick of an --interval 1 service), and when the trail is written again.
  const down = result.csvDown;
  if (down !== undefined && down.news) {
    const cause = down.error.cause instanceof StoreError ? down.error.cause : down.error;
    const since = down.since === result.snapshotId ? `snapshot ${result.snapshotId} is in the evidence store ${paths.db}, but its rows` : `snapshots ${down.since} to ${result.snapshotId} are in the evidence store ${paths.db}, but their rows`;
    io.stderr(
      `netmon: warning: ${since} did not reach the CSV trail: ${printable(cause.message)}; capturing goes on into the store, and the first capture that can write the trail writes the full inventory to it${cause.hint === undefined ? '' : ` (hint: ${printable(cause.hint)})`}\n`,
    );
  }
  const resumed = result.csvResumed;
  if (resumed !== undefined && result.csv) {
    const gone = resumed.from === resumed.to ? `snapshot ${resumed.from} is` : `snapshots ${resumed.from} to ${resumed.to} are`;
    io.stderr(
      `netmon: note: the CSV trail ${paths.csv} could be written again: wrote the full inventory of snapshot ${result.snapshotId} to it (${count(result.csv.rows, 'row')}), then changes again; ${gone} in the evidence store only (it could not be written: ${printable(resumed.reason)})\n`,
    );
  }
}

/**
 * A loop stopped while its trail could not be written (`--interval`, `watch`): which snapshots are
 * in the store only, said last. `since`: captureEvery's trailDownSince.
 */
export function trailDownWarning(io: CliIo, csv: string | null, since: number | undefined, last: number): void {
  if (since === undefined) return;
  io.stderr(
    `netmon: warning: the CSV trail ${csv} could not be written since snapshot ${since}: ${since === last ? 'that snapshot is' : `snapshots ${since} to ${last} are`} in the evidence store only (netmon show prints any of them); the next capture that can write the trail writes the full inventory to it, and says since when it lacked rows\n`,
  );
}

/** What stderr says when a capture waits for a store that another process holds for a moment. */
export function storeWaitNotice(io: CliIo, db: string, waitMs = ONCE_STORE_WAIT_MS): (error: unknown) => void {
  return (error) => {
    io.stderr(
      error instanceof StoreBusyError
        ? `netmon: note: ${printable(error.message)}; waiting for it to finish, up to ${waitMs / 1000} s\n`
        : `netmon: note: the evidence store ${db} is locked by another process (a prune, or a long reader of a store on a shared file system); waiting for it, up to ${waitMs / 1000} s\n`,
    );
  };
}

/**
 * What an `--interval` or `watch` loop does with a failed capture. The store failing is fatal
 * (evidence could no longer be recorded; a trail that cannot be written does not get here: the
 * loop goes on into the store, see CaptureOptions.trailDown), except a store that another process kept
 * locked for longer than netmon waits: that capture is lost, the next one will try again, and the
 * loop records the missed time as a gap. A configuration error stops the loop too (it would fail
 * every capture). Any other failure is reported and the next one tried.
 */
export function captureError(io: CliIo, db: string): (error: unknown) => void {
  return (error) => {
    if (storeBusy(error)) {
      io.stderr(
        `netmon: warning: the evidence store ${db} was locked by another process for longer than netmon waits (a prune, or a long reader of a store on a shared file system); this capture was not stored, the next one will try again, and the time missed is recorded as a gap\n`,
      );
      return;
    }
    // A configuration error fails every capture alike: the loop stops (exit 2).
    if (error instanceof StoreError || error instanceof ConfigError) throw error;
    io.stderr(`netmon: error in a capture (the next one will be tried; the time missed is recorded as a gap): ${(error as Error).message}\n`);
  };
}

function changeLine(sign: '+' | '-', s: SocketRecord, processes: ReadonlyMap<number, ProcessRecord>, at: Date, namespaces: Map<number, Snapshot['namespaces'][number]>): string {
  const owner = s.owners[0];
  const proc = owner ? processes.get(owner.pid) : undefined;
  const proto = protoName(s);
  const remote = s.listening ? '' : ` ${formatEndpoint(s.remoteAddress, s.remotePort)}`;
  // Without an owner, why (as the live view's PROCESS column says it): a socket whose owner became
  // unreadable shows as closed with its pid and opened "(no access)", not as a new ownerless one.
  const reason = s.unattributed === undefined || s.unattributed === 'not-requested' ? '' : ` ${REASON_LABELS[s.unattributed]}`;
  const who = owner ? ` pid ${owner.pid} ${printable(proc?.name ?? '?')}` : reason;
  // A socket of another network namespace never passes for one of the host.
  const ns = namespaces.get(s.netns);
  const where = ns?.host === true ? '' : ` netns ${printable(ns ? namespaceShown(ns) : String(s.netns))}`;
  return `${clockTime(at)} ${sign} ${proto} ${formatEndpoint(s.localAddress, s.localPort)}${remote} ${s.state}${who}${where}`;
}

/**
 * On a terminal, a progress line for the first capture of a loop (`--interval`, `watch`): the long
 * one, as a new store hashes every executable. `options` carries it; `quiet()` ends it (the
 * capture's first output clears the line). Later captures show none; nothing without a terminal.
 */
export function firstCaptureProgress(io: CliIo, command: string, options: CaptureOptions): { options: CaptureOptions; quiet: () => void } {
  if (!io.progress) return { options, quiet: () => {} };
  const line = progressLine(io, command);
  let showing = true;
  const quiet = (): void => {
    if (showing) line(null);
    showing = false;
  };
  return { options: { ...options, onProgress: (text) => showing && line(text) }, quiet };
}

/** One turn of the event loop: pending signal handlers run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `netmon --once` and `netmon --interval N`. */
export async function runCapture(flags: CaptureFlags, io: CliIo): Promise<void> {
  if (flags.once && flags.interval !== undefined) {
    throw new ConfigError('E_USAGE', '--once and --interval exclude each other: --once captures one snapshot, --interval keeps capturing');
  }
  const options = captureOptions(flags);
  if (flags.once) {
    // On a terminal, what the capture is doing (a first capture hashes every executable).
    const progress = progressLine(io, 'once');
    // SIGINT, SIGTERM and SIGHUP as under --interval: the capture under way finishes, is stored
    // and reported to its record hash, then netmon stops (a new-user probe's Ctrl-C ended a
    // --once silently with 130 after its snapshot was stored, the record hash never shown). A
    // wait for a locked store ends at once, with nothing captured.
    await untilStopped(io, async (signal) => {
      const result = await captureOnce({ ...options, ...(io.progress ? { onProgress: progress } : {}) }, storeWaitNotice(io, options.db, options.lockWaitMs), undefined, signal);
      if (result === null) {
        io.stderr('netmon: stopped while waiting for the store: nothing was captured\n');
        throw new ExitError(130);
      }
      // A turn of the event loop: a signal that came while the capture ran without yielding (a
      // long synchronous hash) is answered now, while its handler is still in place.
      await turn();
      await printSnapshot(result.snapshot, flags.output, io);
      captureNotices(result, io, options);
      // As netmon.py did: a warning for each new listener or external destination since the last
      // capture, up to EXPOSURE_WARNINGS; past that, how many more (a first capture after a big
      // change would otherwise fill a terminal or a cron mail with hundreds of lines).
      const exposures = newExposures(result.snapshot, result.opened, result.closed);
      for (const e of exposures.slice(0, EXPOSURE_WARNINGS)) io.stderr(`netmon: warning: ${printable(e.text)} since the previous capture\n`);
      if (exposures.length > EXPOSURE_WARNINGS) {
        io.stderr(`netmon: warning: and ${exposures.length - EXPOSURE_WARNINGS} more new listeners or destinations since the previous capture; \`netmon diff --pre <previous id> --post ${result.snapshotId}\` lists them all (\`netmon snapshots --last 2\` gives the ids)\n`);
      }
      const rows = result.csv ? `appended ${result.csv.rows} ${result.csv.rows === 1 ? 'row' : 'rows'} to ${options.csv}, ` : '';
      io.stderr(`netmon: ${rows}snapshot ${result.snapshotId} in ${options.db} (record hash ${result.recordHash})\n`);
      if (result.lockKept !== undefined) lockKeptWarning(io, result.lockKept);
      await turn();
    });
    return;
  }

  const outputs = await import('../outputs/index.js');
  let last = 0;
  let lastHash = '';
  const first = firstCaptureProgress(io, 'interval', options);
  const warnings = loopWarnings(io);
  const onError = captureError(io, options.db);
  await untilStopped(io, async (signal) => {
    let days = new DayLines();
    const { ticks, lockKept, trailDownSince } = await captureEvery(first.options, {
      interval: flags.interval!,
      signal,
      onWait: storeWaitNotice(io, options.db, options.lockWaitMs),
      onTick: (result) => {
        first.quiet();
        last = result.snapshotId;
        lastHash = result.recordHash;
        const snap = result.snapshot;
        // The live view names the first capture's day; a change line of another day (or, when
        // daylight saving time ends, of the repeated hour) comes after a line naming its day.
        if (result.first) {
          days = new DayLines(new Date(snap.takenAt));
          if (flags.output === 'json') io.stdout(`${outputs.ndjsonLine(snap)}\n`);
          else if (flags.output === 'ecs') io.stdout(outputs.renderEcs(snap));
          else io.stdout(outputs.renderText(snap, { width: io.columns ?? 80 }));
        } else if (flags.output === 'json') {
          io.stdout(`${outputs.ndjsonLine({ snapshotId: result.snapshotId, takenAt: snap.takenAt, sockets: snap.sockets.length, opened: result.opened, closed: result.closed })}\n`);
        } else if (flags.output === 'ecs') {
          // What closed, then what opened, as the text lines; directions from this capture's listeners
          // (and, for what closed, the last capture's too: a listener may have closed with it).
          // Their owners as the capture before saw them: a process that closed its sockets has often exited.
          // And their namespaces as the capture before saw them: one deleted since may have left its inode to a new one.
          if (result.closed.length > 0) io.stdout(outputs.renderEcs({ ...snap, sockets: result.closed, processes: [...result.previousProcesses.values()], namespaces: [...result.previousNamespaces] }, { change: 'closed', inventory: [...snap.sockets, ...result.closed] }));
          if (result.opened.length > 0) io.stdout(outputs.renderEcs({ ...snap, sockets: result.opened }, { change: 'opened', inventory: snap.sockets }));
        } else {
          const processes = new Map(snap.processes.map((p) => [p.pid, p]));
          const at = new Date(snap.takenAt);
          const namespaces = new Map(snap.namespaces.map((n) => [n.inode, n]));
          // What closed, in its namespace as the capture before saw it (deleted since, its inode
          // may now be a new namespace's).
          const before = new Map(result.previousNamespaces.map((n) => [n.inode, n]));
          const dayLine = result.closed.length + result.opened.length > 0 ? days.before(at) : null;
          if (dayLine !== null) io.stdout(`${dayLine}\n`);
          for (const s of result.closed) io.stdout(`${changeLine('-', s, result.previousProcesses, at, before)}\n`);
          for (const s of result.opened) io.stdout(`${changeLine('+', s, processes, at, namespaces)}\n`);
        }
        warnings(snap);
        captureNotices(result, io, options);
      },
      onError: (error) => {
        first.quiet();
        onError(error);
      },
    });
    io.stderr(`netmon: stopped after ${count(ticks, 'capture')}; last snapshot ${last} in ${options.db}${lastHash ? ` (record hash ${lastHash})` : ''}\n`);
    trailDownWarning(io, options.csv, trailDownSince, last);
    if (lockKept !== undefined) lockKeptWarning(io, lockKept);
  });
}
