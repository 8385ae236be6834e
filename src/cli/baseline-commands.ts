import { nothingAt } from '../store/links.js';
import { lstatSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { captureEvery, captureOnce, type CaptureOptions } from '../capture/capture.js';
import { diffSnapshots } from '../diff/diff-snapshots.js';
import { RecentSet } from '../diff/recent-set.js';
import { isExternalAddress } from '../collect/parse/address.js';
import { namespaceShown } from '../model/namespace-label.js';
import { ConfigError, describeErrno, ExitError, specialFileKind, StoreError, VerificationError } from '../errors.js';
import { loadControlsCatalogue, type ControlsCatalogue } from '../findings/controls.js';
import { evaluateFindings, type Finding, type Severity } from '../findings/evaluate-findings.js';
import { loadExpectedChanges, type ExpectedChanges } from '../findings/expected-changes.js';
import { EVIDENCE_FILE_MODE, type Snapshot, type SocketRecord } from '../model/types.js';
import { snapshotDocumentProblem } from '../model/snapshot-document.js';
import { renderFindingsEcs } from '../outputs/ecs-findings.js';
import { ndjsonLine } from '../outputs/ecs.js';
import { failsAt, renderFindingsJson, renderFindingsText, sortFindings, type FindingsReport } from '../outputs/findings.js';
import { printable } from '../outputs/sanitize.js';
import { clockTime, DayLines, isoWithOffset } from '../model/iso-time.js';
import { attributionComparison, commonSelection } from '../diff/common-selection.js';
import { platformCollector } from '../collect/index.js';
import { snapshot } from '../snapshot/snapshot.js';
import { EvidenceStore } from '../store/evidence-store.js';
import { captureError, captureNotices, firstCaptureProgress, lockKeptWarning, storeWaitNotice, trailDownWarning } from './capture-command.js';
import { loopWarnings, printWarnings, toSnapshotOptions, untilStopped, type CaptureFlags, type CliIo, type CollectFlags } from './program.js';
import { count } from '../model/format.js';
import { WATCH_DEFAULT_INTERVAL_S } from '../config/config.js';

export interface BaselineFlags extends CollectFlags {
  db: string;
  baseline?: string;
  allow?: string;
  controls?: string;
  failOn: Severity;
  interval?: number;
  csv?: string | false;
}

const BASELINE_KEY = 'baseline_snapshot';
/** The store holds no baseline yet (watch then starts from its first capture). */
const NO_BASELINE = 'E_NO_BASELINE';

/** `netmon init`: take a snapshot and keep it as the baseline (in the store, or a file). */
export async function runInit(flags: BaselineFlags & { lockWait?: number }, io: CliIo): Promise<void> {
  if (!flags.baseline) {
    // A capture like --once (the store's lock, journal and hash cache, gaps), kept as the baseline.
    const options: CaptureOptions = { db: flags.db, csv: null, label: 'baseline', snapshot: toSnapshotOptions(flags), ...(flags.lockWait === undefined ? {} : { lockWaitMs: flags.lockWait * 1000 }) };
    // Waits for a store another --once or a prune holds, as --once does (--lock-wait).
    const tick = (await captureOnce(options, storeWaitNotice(io, flags.db, options.lockWaitMs), (session, result) => session.store.setMeta(BASELINE_KEY, String(result.snapshotId))))!;
    printWarnings(tick.snapshot, io);
    captureNotices(tick, io, { db: flags.db, csv: null });
    io.stderr(`netmon: baseline of ${count(tick.snapshot.sockets.length, 'socket')} saved as snapshot ${tick.snapshotId} in ${flags.db}\n`);
    if (tick.lockKept !== undefined) lockKeptWarning(io, tick.lockKept);
    return;
  }
  // A baseline replaces a regular file (or a link, which the rename replaces, not its target):
  // never a device or a FIFO, whose name the rename would take over (/dev/null as root).
  const existing = lstatSync(flags.baseline, { throwIfNoEntry: false });
  if (existing !== undefined && !existing.isFile() && !existing.isSymbolicLink()) {
    throw new StoreError('E_BASELINE_WRITE', `cannot write the baseline: ${flags.baseline} is ${existing.isDirectory() ? 'a directory' : (specialFileKind(existing) ?? 'not a regular file')}, not a baseline file; it was left as it is`, {
      hint: 'give --baseline the path of a file (netmon init --baseline baseline.json)',
    });
  }
  const snap = await snapshot(toSnapshotOptions(flags));
  const tmp = `${flags.baseline}.tmp-${process.pid}`;
  try {
    // wx: a new file only, never through a link someone planted under that name; the rename
    // then replaces whatever the baseline's name holds (a link too), not the file it points at.
    writeFileSync(tmp, `${JSON.stringify(snap)}\n`, { mode: EVIDENCE_FILE_MODE, flag: 'wx' });
    renameSync(tmp, flags.baseline);
  } catch (error) {
    throw new StoreError('E_BASELINE_WRITE', `cannot write the baseline: ${describeErrno(error, 'writing', flags.baseline)}`);
  }
  printWarnings(snap, io);
  io.stderr(`netmon: baseline of ${count(snap.sockets.length, 'socket')} written to ${flags.baseline}${existing !== undefined ? ' (it replaced the baseline that was there)' : ''}\n`);
}

/** The baseline snapshot: a file written by `init --baseline`, or the store's. */
export function loadBaseline(flags: Pick<BaselineFlags, 'baseline' | 'db'>): { snapshot: Snapshot; id: number | null } {
  if (flags.baseline) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(flags.baseline, 'utf8'));
    } catch (error) {
      throw new ConfigError('E_BASELINE', `cannot read the baseline ${flags.baseline}: ${error instanceof SyntaxError ? 'not valid JSON' : describeErrno(error, 'reading', flags.baseline)}`, {
        hint: 'create it with `netmon init --baseline PATH`',
      });
    }
    const problem = snapshotDocumentProblem(doc);
    if (problem !== null) {
      throw new ConfigError('E_BASELINE', `the baseline ${flags.baseline} is not a snapshot netmon wrote: ${problem}`, {
        hint: `take it again with \`netmon init --baseline ${flags.baseline}\` (a baseline file is only as trustworthy as who may write it; \`netmon init\` keeps one in the evidence store instead)`,
      });
    }
    // Every part the comparison reads is there, with its type (snapshotDocumentProblem).
    return { snapshot: doc as Snapshot, id: null };
  }
  // No store is no baseline: the same exit (2) as a store without one, for a cron job to tell apart from a failure.
  if (nothingAt(flags.db)) throw new ConfigError(NO_BASELINE, `there is no evidence store at ${flags.db}, so no baseline to compare with`, { hint: 'save a baseline first with `netmon init` (or give --db PATH, or --baseline FILE)' });
  const store = EvidenceStore.open(flags.db, { readonly: true });
  try {
    const pointer = store.getMeta(BASELINE_KEY);
    const id = Number(pointer);
    if (!pointer) throw new ConfigError(NO_BASELINE, `the evidence store ${flags.db} has no baseline`, { hint: 'save one with `netmon init`' });
    // The pointer sits outside the hash chain: the snapshot it names must be one init took.
    const outside = (what: string): VerificationError =>
      new VerificationError('E_BASELINE_POINTER', `the evidence store's baseline pointer (meta ${BASELINE_KEY} in ${flags.db}) names ${what}: it was changed outside netmon`, {
        hint: '`netmon snapshots` lists the snapshots labelled baseline; `netmon init` takes a new one and points at it',
      });
    if (!Number.isSafeInteger(id) || id <= 0) throw outside(JSON.stringify(pointer));
    if (store.listSnapshots({ id }).length === 0) {
      // Removed by a prune (which keeps only the newest snapshot for sure): retention, not an edit.
      const pruned = store.retention();
      if (pruned !== null && id <= pruned.removedThrough) {
        throw new ConfigError(NO_BASELINE, `the baseline of ${flags.db} (snapshot ${id}) was removed by a prune (record ${pruned.seq}, at ${pruned.at}) with the snapshots taken before ${pruned.cutoff}`, {
          hint: 'take a new baseline with `netmon init`',
        });
      }
      throw outside(`snapshot ${id}, which is not in the store`);
    }
    const { label, change: _change, ...snap } = store.loadSnapshot(id);
    if (label !== 'baseline') throw outside(`snapshot ${id}, which netmon init did not take (it is labelled ${label === null ? 'nothing' : JSON.stringify(label)}, not baseline)`);
    return { snapshot: snap, id };
  } finally {
    store.close();
  }
}

/** A baseline of another host (a golden one, or a store shared by hosts) is allowed, and said. */
function hostNote(baseline: Snapshot, now: Snapshot, io: CliIo): void {
  if (baseline.host.hostname !== now.host.hostname) {
    io.stderr(`netmon: note: the baseline was taken on ${JSON.stringify(baseline.host.hostname)}, this is ${JSON.stringify(now.host.hostname)}: findings are differences between the two hosts\n`);
  }
}

/**
 * The baseline and a capture made comparable: the baseline narrowed to what the capture selects
 * and, when the baseline's own selection was narrower (taken with --listening-only, a filter, one
 * family), the capture narrowed to it too, so that what the baseline never looked at does not
 * come out as new. With what the comparison cannot see, said once: sockets outside the
 * baseline's selection, processes this capture may not read, binaries the baseline did not hash.
 */
function comparable(base: Snapshot, now: Snapshot, resumedFrom: number | null = null, remoteHost?: (address: string) => string | undefined): { before: Snapshot; after: Snapshot; notes: string[] } {
  // A watch without a baseline compares its first capture with the store's last snapshot.
  const theBase = resumedFrom === null ? 'the baseline' : `snapshot ${resumedFrom}`;
  const again = resumedFrom === null ? "take the baseline again with this capture's options (netmon init ...) to compare the rest" : 'the captures after this one are compared with each other whole';
  const notes: string[] = [];
  // Each side narrowed to what the other selected (filters, listeners only, families, the
  // ephemeral-port rule), so that what one of them never looked at does not come out as new or closed.
  const common = commonSelection(base, now, { before: theBase, after: 'this capture' }, remoteHost);
  for (const note of common.notes) notes.push(note.startsWith(theBase) ? `${note}; ${again}` : note);
  let before = common.before;
  // A namespace this capture could not read (without root, say) holds sockets it cannot see:
  // the baseline's sockets there are left out, not reported closed. So does one it did not find
  // at all while it could not read the namespace of more processes than the baseline's capture:
  // without root, another user's namespaces cannot even be listed, and their absence says nothing.
  const unread = new Map(now.namespaces.filter((ns) => !ns.read).map((ns) => [ns.inode, ns]));
  if ((now.coverage.namespacesUnknown ?? 0) > (base.coverage.namespacesUnknown ?? 0)) {
    const found = new Set(now.namespaces.map((ns) => ns.inode));
    for (const ns of base.namespaces) if (!found.has(ns.inode)) unread.set(ns.inode, ns);
  }
  const unseen = before.sockets.filter((s) => unread.has(s.netns));
  if (unseen.length > 0) {
    before = withoutSockets(before, (s) => unread.has(s.netns));
    const names = [...new Set(unseen.map((s) => unread.get(s.netns)!))].map((ns) => namespaceShown(ns));
    notes.push(`this capture could not read the network ${names.length === 1 ? 'namespace' : 'namespaces'} ${names.join(', ')}: the ${count(unseen.length, 'socket')} ${theBase} holds there ${unseen.length === 1 ? 'is' : 'are'} not compared (run it as root to compare them)`);
  }
  let after = common.after;
  const deniedNow = now.coverage.processesDenied ?? 0;
  const deniedThen = base.coverage.processesDenied ?? 0;
  // A connection still there whose holder this capture cannot read (a check without root) is
  // not one that ended and another that began: the pair is left out of the comparison.
  const unreadable = new Set(after.sockets.filter((s) => !s.listening && s.unattributed === 'permission-denied').map(connectionKey));
  if (unreadable.size > 0) {
    const held = new Set(before.sockets.filter((s) => !s.listening && s.owners.length > 0 && unreadable.has(connectionKey(s))).map(connectionKey));
    if (held.size > 0) {
      before = withoutSockets(before, (s) => !s.listening && held.has(connectionKey(s)));
      after = withoutSockets(after, (s) => !s.listening && held.has(connectionKey(s)));
      notes.push(`${count(held.size, 'connection')} ${theBase} attributed ${held.size === 1 ? 'is' : 'are'} still open, held by a process this capture cannot read: not compared (run it as root to compare ${held.size === 1 ? 'it' : 'them'})`);
    }
  }
  if (!now.coverage.privileged && deniedNow > deniedThen) {
    notes.push(`this capture could not read ${count(deniedNow, 'process', 'processes')}, ${theBase}'s ${deniedThen}: a replaced binary or a changed user of a process it cannot read is not seen; run it with the privileges ${theBase} had (as root)`);
  }
  // What one side's attribution cannot show (no process information, no hashes) is not compared
  // (findingsBetween), and said.
  for (const note of attributionComparison(base, now, { before: theBase, after: 'this capture' }).notes) {
    notes.push(note.startsWith(theBase) && resumedFrom === null ? `${note}; take it again without that option` : note);
  }
  return { before, after, notes };
}

/**
 * Names of remote addresses as a capture reads them (/etc/hosts), for a --match REMOTE-HOST
 * narrowing a baseline: read the first time one is asked for.
 */
function hostNames(): (address: string) => string | undefined {
  let names: Map<string, string> | undefined;
  return (address) => (names ??= platformCollector().readHostNames()).get(address);
}

/** A connection's identity across two captures: namespace, protocol and both ends. */
function connectionKey(s: SocketRecord): string {
  return `${s.netns}|${s.transport}|${s.localAddress}|${s.localPort}|${s.remoteAddress}|${s.remotePort}`;
}

/** A snapshot without the sockets `drop` names (and without processes left holding none). */
function withoutSockets(snap: Snapshot, drop: (s: SocketRecord) => boolean): Snapshot {
  const sockets = snap.sockets.filter((s) => !drop(s));
  const pids = new Set(sockets.flatMap((s) => s.owners.map((o) => o.pid)));
  return { ...snap, sockets, processes: snap.processes.filter((p) => pids.has(p.pid)) };
}

/** How many external destinations `watch` remembers, to tell a new one (about 10 MB of addresses). */
export const WATCH_DESTINATIONS_KEPT = 100_000;

function standing(flags: Pick<BaselineFlags, 'allow'>): ExpectedChanges | null {
  return flags.allow === undefined ? null : loadExpectedChanges(flags.allow);
}

/** A standing allow-list approves; what it lists but did not happen is not a finding. */
function findingsBetween(before: Snapshot, after: Snapshot, catalogue: ControlsCatalogue, allow: ExpectedChanges | null, known?: { has(address: string): boolean }): Finding[] {
  const filtered = Object.keys(after.selection.filters).length > 0;
  const attribution = attributionComparison(before, after);
  const diff = diffSnapshots(before, after, { compareCoverage: !filtered && attribution.coverage, compareOutbound: attribution.outbound, ...(known ? { knownDestinations: known } : {}) });
  return evaluateFindings(diff, catalogue, { expected: allow, now: new Date() }).filter((f) => f.approval !== 'missing');
}

/** `netmon check`: now against the baseline; exit 1 at --fail-on (cron and CI). */
export async function runCheck(flags: BaselineFlags & { output: 'text' | 'json' | 'ecs' }, io: CliIo): Promise<void> {
  const catalogue = loadControlsCatalogue(flags.controls);
  const allow = standing(flags);
  const base = loadBaseline(flags);
  const now = await snapshot(toSnapshotOptions(flags));
  hostNote(base.snapshot, now, io);
  // Compare like with like (comparable()).
  const { before, after, notes } = comparable(base.snapshot, now, null, hostNames());
  for (const note of notes) io.stderr(`netmon: note: ${note}\n`);
  const findings = findingsBetween(before, after, catalogue, allow);
  const report: FindingsReport = {
    before: { id: base.id, takenAt: base.snapshot.takenAt, label: 'baseline' },
    after: { id: null, takenAt: now.takenAt, label: 'now' },
    host: now.host.hostname,
    findings,
    disclaimer: catalogue.disclaimer,
    ...(notes.length > 0 ? { notes } : {}),
  };
  io.stdout(flags.output === 'json' ? renderFindingsJson(report) : flags.output === 'ecs' ? renderFindingsEcs(report) : renderFindingsText(report));
  printWarnings(now, io);
  if (failsAt(findings, flags.failOn)) throw new ExitError(1);
}


/** `netmon watch --interval N`: capture like --interval and print each change once, as it happens. */
export async function runWatch(flags: BaselineFlags & CaptureFlags & { output: 'text' | 'json' | 'ecs' }, io: CliIo): Promise<void> {
  // Unset on the command line and in the configuration: the default netmon.conf documents.
  const interval = flags.interval ?? WATCH_DEFAULT_INTERVAL_S;
  const catalogue = loadControlsCatalogue(flags.controls);
  const allow = standing(flags);
  const selection = toSnapshotOptions(flags);
  const baseline = flags.baseline || !nothingAt(flags.db) ? tryBaseline(flags) : null;
  // Without a baseline, the first capture is compared with the store's last snapshot of this
  // host: what changed while netmon was not watching (a restart of the service) is reported too.
  const resumed = baseline === null && !nothingAt(flags.db) ? lastStored(flags.db) : null;
  const reference = baseline ?? resumed?.snapshot ?? null;
  let previous: Snapshot | null = reference;
  // The external destinations seen since the watch began, the most recent WATCH_DESTINATIONS_KEPT
  // of them (an internet-facing host may see millions; one not seen for that long is new again).
  const seenDestinations = new RecentSet(WATCH_DESTINATIONS_KEPT);
  const remember = (sockets: readonly SocketRecord[]): void => {
    for (const s of sockets) if (!s.listening && isExternalAddress(s.remoteAddress)) seenDestinations.add(s.remoteAddress);
  };
  if (reference) remember(reference.sockets);
  let worst = false;
  const options: CaptureOptions = {
    db: flags.db,
    csv: flags.csv === false || flags.csv === undefined ? null : flags.csv,
    label: flags.label ?? null,
    change: flags.change ?? null,
    snapshot: selection,
    takeOver: flags.takeOver === true,
    ...(flags.lockWait === undefined ? {} : { lockWaitMs: flags.lockWait * 1000 }),
  };
  const first = firstCaptureProgress(io, 'watch', options);
  const warnings = loopWarnings(io);
  const onError = captureError(io, options.db);
  // The last snapshot stored, named with its record hash at the stop, as --interval does: an anchor for verify-store --expect-head.
  let last = 0;
  let lastHash = '';
  // The day the times of day printed so far are of (none yet: the first finding's day is named).
  const days = new DayLines();
  await untilStopped(io, async (signal) => {
    const { ticks, lockKept, trailDownSince } = await captureEvery(first.options, {
      interval,
      signal,
      onWait: storeWaitNotice(io, options.db, options.lockWaitMs),
      onTick: (tick) => {
        first.quiet();
        [last, lastHash] = [tick.snapshotId, tick.recordHash];
        if (previous) {
          if (baseline !== null && previous === baseline) {
            // Said at the start, or watch reads as hung until something changes (a new-user probe).
            io.stderr(`netmon: watching ${count(tick.snapshot.sockets.length, 'socket')} every ${interval} s against the baseline of ${isoWithOffset(new Date(baseline.takenAt))}${flags.baseline ? ` (${flags.baseline})` : ''}; each change is printed as it is seen, Ctrl-C stops\n`);
          }
          if (resumed !== null && previous === resumed.snapshot) {
            io.stderr(`netmon: watching ${count(tick.snapshot.sockets.length, 'socket')} every ${interval} s (no baseline: this first capture is compared with snapshot ${resumed.id}, the store's last, taken ${isoWithOffset(new Date(resumed.snapshot.takenAt))}, then each capture with the one before)\n`);
          }
          const pair = previous === reference ? comparable(previous, tick.snapshot, resumed?.id ?? null, hostNames()) : { before: previous, after: tick.snapshot, notes: [] };
          for (const note of pair.notes) io.stderr(`netmon: note: ${note}\n`);
          // "New" external destinations are new to the whole watch, not only to the last capture.
          const findings = sortFindings(findingsBetween(pair.before, pair.after, catalogue, allow, seenDestinations));
          if (failsAt(findings, flags.failOn)) worst = true;
          const takenAt = new Date(tick.snapshot.takenAt);
          const at = clockTime(takenAt);
          // As under --interval: a line naming the day before the first line of another day.
          const dayLine = flags.output !== 'json' && flags.output !== 'ecs' && findings.length > 0 ? days.before(takenAt) : null;
          if (dayLine !== null) io.stdout(`${dayLine}\n`);
          for (const f of findings) {
            if (flags.output === 'json') io.stdout(`${ndjsonLine({ at: tick.snapshot.takenAt, snapshotId: tick.snapshotId, ...f })}\n`);
            else if (flags.output === 'ecs') {
              io.stdout(renderFindingsEcs({ before: { id: null, takenAt: previous.takenAt }, after: { id: tick.snapshotId, takenAt: tick.snapshot.takenAt }, host: tick.snapshot.host.hostname, findings: [f], disclaimer: '', ...(flags.change ? { change: flags.change } : {}) }));
            } else io.stdout(`${at} ${f.severity.toUpperCase().padEnd(8)} ${f.approval.padEnd(10)} ${printable(f.summary)}  [${f.id}]\n`);
          }
        } else {
          io.stderr(`netmon: watching ${count(tick.snapshot.sockets.length, 'socket')} every ${interval} s (no baseline: changes are reported from the next capture on)\n`);
        }
        if (previous === baseline && baseline !== null) hostNote(baseline, tick.snapshot, io);
        // The first capture's warnings (privileges, protected processes), and later ones that are new, as --interval prints them.
        warnings(tick.snapshot);
        captureNotices(tick, io, options);
        remember(tick.snapshot.sockets);
        previous = tick.snapshot;
      },
      onError: (error) => {
        first.quiet();
        onError(error);
      },
    });
    io.stderr(`netmon: stopped after ${count(ticks, 'capture')}${last > 0 ? `; last snapshot ${last} in ${options.db} (record hash ${lastHash})` : ''}\n`);
    trailDownWarning(io, options.csv, trailDownSince, last);
    if (lockKept !== undefined) lockKeptWarning(io, lockKept);
  });
  if (worst) throw new ExitError(1);
}

/** The baseline, or null when the store has none yet; a baseline that cannot be loaded stops watch, as it stops check. */
/** The store's last snapshot of this host (by capture order), or null when it holds none. */
function lastStored(db: string): { snapshot: Snapshot; id: number } | null {
  const store = EvidenceStore.open(db, { readonly: true });
  try {
    const [last] = store.listSnapshots({ host: hostname(), newestFirst: true, limit: 1 });
    if (last === undefined) return null;
    const { label: _label, change: _change, ...snapshot } = store.loadSnapshot(last.id);
    return { snapshot, id: last.id };
  } finally {
    store.close();
  }
}

function tryBaseline(flags: Pick<BaselineFlags, 'baseline' | 'db'>): Snapshot | null {
  try {
    return loadBaseline(flags).snapshot;
  } catch (error) {
    if (!flags.baseline && error instanceof ConfigError && error.code === NO_BASELINE) return null;
    throw error;
  }
}
