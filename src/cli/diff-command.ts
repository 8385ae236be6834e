import { nothingAt } from '../store/links.js';
import { ConfigError, ExitError, StoreError } from '../errors.js';
import { loadControlsCatalogue } from '../findings/controls.js';
import type { Severity } from '../findings/evaluate-findings.js';
import { checkExpectedFor, loadExpectedChanges } from '../findings/expected-changes.js';
import { windowFindings } from '../findings/window-findings.js';
import { renderFindingsEcs } from '../outputs/ecs-findings.js';
import { failsAt, renderFindingsJson, renderFindingsText, type FindingsReport } from '../outputs/findings.js';
import { isoWithOffset, looksLikeIsoTime, NO_SUCH_MOMENT, parseIsoTime } from '../model/iso-time.js';
import { printableMessage } from '../outputs/sanitize.js';
import { selectorKind } from './selectors.js';
import { EvidenceStore, type RetentionRecord, type SnapshotQuery, type SnapshotSummary } from '../store/evidence-store.js';
import type { CliIo } from './program.js';

export interface DiffFlags {
  pre?: string;
  post?: string;
  change?: string;
  /** Select only snapshots of this host. */
  host?: string;
  /** Compare snapshots of two hosts (a host renamed in the window). */
  allowHostChange?: boolean;
  db: string;
  controls?: string;
  expect?: string;
  failOn: Severity;
  output: 'text' | 'json' | 'ecs';
}

/** Finds stored snapshots (EvidenceStore#listSnapshots). */
export type SnapshotFinder = (query: SnapshotQuery) => SnapshotSummary[];

/** The time a selector names as ISO 8601 (local time without an offset), or null for another kind of selector. */
function timeSelector(selector: string, role: 'pre' | 'post' | 'show'): string | null {
  // The last snapshot taken at or before it: a time to the second includes that whole second.
  const at = parseIsoTime(selector, { upperBound: true });
  if (at !== null) return at.toISOString();
  if (looksLikeIsoTime(selector)) {
    throw new ConfigError('E_USAGE', `${role === 'show' ? 'snapshot' : `--${role}`} ${JSON.stringify(selector)} has the form of a time but ${NO_SUCH_MOMENT}`, {
      hint: 'give a time as 2026-11-23T22:00 (local time) or with an offset (2026-11-23T22:00+01:00, ...Z)',
    });
  }
  return null;
}

/** A word as a shell reads it: quoted when it holds anything but letters, digits and ._:/@%+=-. */
function shellWord(text: string): string {
  return /^[\w.:/@%+=-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * A snapshot from a selector: an id, `first`, `latest`, an ISO 8601 time (the last snapshot taken at or
 * before it), or a label (the last snapshot with it, within the change ticket when one is given).
 * Each is one query: a store of months of `--interval` ticks is not read whole.
 */
export function selectSnapshot(find: SnapshotFinder, selector: string, change: string | undefined, role: 'pre' | 'post' | 'show', host?: string, retention?: () => RetentionRecord | null): SnapshotSummary {
  const at = timeSelector(selector, role);
  const kind = selectorKind(selector);
  const [found] =
    kind === 'id'
      ? find({ id: Number(selector) })
      : kind === 'latest'
        ? find({ newestFirst: true, limit: 1 })
        : kind === 'first'
          ? find({ limit: 1 })
          : at !== null
            ? find({ to: at, newestFirst: true, byTime: true, limit: 1 })
            : find({ label: selector, ...(change === undefined ? {} : { change }), newestFirst: true, limit: 1 });
  if (!found) {
    const scope = `${change === undefined ? '' : ` for change ${change}`}${host === undefined ? '' : ` on host ${JSON.stringify(host)}`}`;
    const what = role === 'show' ? '' : `--${role} `;
    // (A text of a time's form that names no moment was refused by timeSelector.)
    const byLabel = kind === null;
    // A ticket's capture that was never taken: say how to take it.
    const hint =
      byLabel && change !== undefined && role !== 'show'
        ? `capture it with \`netmon --once --label ${shellWord(selector)} --change ${shellWord(change)}\`; \`netmon snapshots --change ${shellWord(change)}\` lists what this ticket has`
        : `list them with \`netmon snapshots\`; ${role === 'show' ? 'a snapshot is given as' : '--pre/--post take'} an id, a label, an ISO time, first or latest`;
    // By label, say so: with --change alone, --pre and --post are the labels pre and post, which the user did not type.
    const problem = byLabel ? `no snapshot labelled ${JSON.stringify(selector)}${scope}${role === 'show' ? '' : ` (the ${role} snapshot, --${role})`}` : `no snapshot matches ${what}${JSON.stringify(selector)}${scope}`;
    // A store a prune cut: the snapshot looked for may have been among those it removed (read
    // only here, when nothing was found).
    const pruned = retention?.() ?? null;
    const cut = pruned === null ? '' : `; a prune (record ${pruned.seq}, ${isoWithOffset(new Date(pruned.at))}) removed the snapshots taken before ${isoWithOffset(new Date(pruned.cutoff))}, and it may have been one of them`;
    throw new ConfigError('E_USAGE', `${problem}${cut}`, { hint });
  }
  // A window of a ticket compares that ticket's captures: an id, first, latest or a time that
  // selects another's would put its findings under this ticket's name.
  if (change !== undefined && role !== 'show' && found.change !== change) {
    const tagged = found.change === null ? 'carries no change ticket' : `is tagged with change ${JSON.stringify(found.change)}`;
    throw new ConfigError('E_USAGE', `--${role} ${JSON.stringify(selector)} selects snapshot ${found.id}, which ${tagged}, not ${change}: the window of a change compares its own captures`, {
      hint: `give the labels of its captures (--${role} ${role}), or leave out --change to compare any two snapshots`,
    });
  }
  return found;
}

/**
 * The snapshots that bound a monitoring period without a ticket: the first taken at or after
 * `from` and the last taken at or before `to`.
 */
export function selectPeriod(find: SnapshotFinder, from: Date, to: Date, host?: string): { pre: SnapshotSummary; post: SnapshotSummary } {
  if (from.getTime() >= to.getTime()) throw new ConfigError('E_USAGE', `--from ${isoWithOffset(from)} is not before --to ${isoWithOffset(to)}`);
  const period = { from: from.toISOString(), to: to.toISOString() };
  const [pre] = find({ ...period, limit: 1 });
  const [post] = find({ ...period, newestFirst: true, limit: 1 });
  if (!pre || !post || pre.id === post.id) {
    throw new ConfigError('E_USAGE', `${!pre ? 'no snapshot was' : 'only one snapshot was'} taken between ${isoWithOffset(from)} and ${isoWithOffset(to)}${host === undefined ? '' : ` on host ${JSON.stringify(host)}`}; a period needs two`, {
      hint: 'list them with `netmon snapshots`; capture with `netmon --interval N` during the period',
    });
  }
  return { pre, post };
}

/** A finder that sees only the snapshots of `host` (all of them without one). */
export function onHost(find: SnapshotFinder, host: string | undefined): SnapshotFinder {
  return host === undefined ? find : (query) => find({ ...query, host });
}

/**
 * Before and after must come from one host: a store on a shared file system can hold several,
 * and comparing two of them would report every difference between the hosts as a change. A host
 * renamed in the window is compared only when asked for.
 */
export function checkOneHost(pre: SnapshotSummary, post: SnapshotSummary, allowHostChange: boolean | undefined): void {
  if (pre.host === post.host || allowHostChange === true) return;
  throw new ConfigError('E_USAGE', `the before snapshot ${pre.id} was taken on ${JSON.stringify(pre.host)} and the after snapshot ${post.id} on ${JSON.stringify(post.host)}: a window compares one host with itself`, {
    hint: `choose one host's snapshots with --host NAME (\`netmon snapshots\` lists each snapshot's host), or give --allow-host-change if the host was renamed in the window`,
  });
}

/** What a user should hear about the window they chose: the same snapshot twice, or pre after post. */
export function windowNotes(pre: SnapshotSummary, post: SnapshotSummary): string[] {
  if (pre.id === post.id) {
    return [`--pre and --post select the same snapshot (${pre.id}, ${isoWithOffset(new Date(pre.takenAt))}): there is nothing to compare; take the post capture first (netmon --once --label post ...)`];
  }
  // Snapshot ids are positions in the chain: the order of capture, whatever the clock said.
  if (pre.id > post.id) {
    return [`the pre snapshot ${pre.id} (${isoWithOffset(new Date(pre.takenAt))}) was captured after the post snapshot ${post.id} (${isoWithOffset(new Date(post.takenAt))}): findings read from the later capture back to the earlier one`];
  }
  const stepped = clockSetBack(pre, post);
  return stepped === null ? [] : [stepped];
}

/**
 * When the later capture of a window carries the earlier time: the clock was set back between
 * them. The chain's order is the order of capture, so the window stands; said, since its times
 * read backwards. Null otherwise.
 */
export function clockSetBack(pre: SnapshotSummary, post: SnapshotSummary): string | null {
  if (pre.id < post.id && pre.takenAt > post.takenAt) {
    return `the post snapshot ${post.id} was captured after the pre snapshot ${pre.id} (it comes later in the store's chain), but its time (${isoWithOffset(new Date(post.takenAt))}) reads earlier than the pre snapshot's (${isoWithOffset(new Date(pre.takenAt))}): the clock was set back between the two captures (netmon gaps lists the clock steps the store recorded)`;
  }
  return null;
}

/** `netmon diff`: findings between two stored snapshots, mapped to controls; exit 1 at --fail-on. */
export function runDiff(flags: DiffFlags, io: CliIo): void {
  if (flags.change === undefined && (flags.pre === undefined || flags.post === undefined)) {
    throw new ConfigError('E_USAGE', 'give --change TICKET (pairs the snapshots labelled pre and post), or both --pre and --post');
  }
  const catalogue = loadControlsCatalogue(flags.controls);
  const expected = flags.expect === undefined ? null : loadExpectedChanges(flags.expect);
  if (nothingAt(flags.db)) {
    throw new StoreError('E_STORE_MISSING', `there is no evidence store at ${flags.db}`, { hint: 'capture with `netmon --once --label pre --change TICKET` first, or give --db PATH' });
  }
  const store = EvidenceStore.open(flags.db, { readonly: true });
  try {
    // One read transaction: a prune that commits meanwhile cannot remove a snapshot between its listing and its loading.
    const { pre, post, before, after } = store.reading(() => {
      const find = onHost((query) => store.listSnapshots(query), flags.host);
      const pruned = () => store.retention();
      const pre = selectSnapshot(find, flags.pre ?? 'pre', flags.change, 'pre', flags.host, pruned);
      const post = selectSnapshot(find, flags.post ?? 'post', flags.change, 'post', flags.host, pruned);
      checkOneHost(pre, post, flags.allowHostChange);
      return { pre, post, before: store.loadSnapshot(pre.id), after: store.loadSnapshot(post.id) };
    });
    if (expected) checkExpectedFor(expected, flags.change ?? post.change ?? pre.change);
    const { findings, notes: selectionNotes, outside } = windowFindings(before, after, catalogue, { expected, now: new Date() });
    const notes = [...windowNotes(pre, post), ...selectionNotes, ...outside];
    for (const note of notes) io.stderr(`netmon: note: ${printableMessage(note)}\n`);
    const report: FindingsReport = {
      before: { id: pre.id, takenAt: pre.takenAt, label: pre.label },
      after: { id: post.id, takenAt: post.takenAt, label: post.label },
      host: after.host.hostname,
      change: flags.change ?? null,
      findings,
      disclaimer: catalogue.disclaimer,
      ...(notes.length > 0 ? { notes } : {}),
    };
    io.stdout(flags.output === 'json' ? renderFindingsJson(report) : flags.output === 'ecs' ? renderFindingsEcs(report) : renderFindingsText(report));
    if (failsAt(findings, flags.failOn)) {
      io.stderr(`netmon: findings that are not approved reach ${flags.failOn} or above (exit 1)\n`);
      throw new ExitError(1);
    }
  } finally {
    store.close();
  }
}
