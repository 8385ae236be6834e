import { attributionComparison, commonSelection } from '../diff/common-selection.js';
import { diffSnapshots } from '../diff/diff-snapshots.js';
import { formatEndpoint } from '../collect/parse/address.js';
import { namespaceLabel } from '../model/namespace-label.js';
import type { EphemeralListener, Snapshot } from '../model/types.js';
import type { ControlsCatalogue } from './controls.js';
import { evaluateFindings, type EvaluateOptions, type Finding } from './evaluate-findings.js';
import { FINDING_RULES } from './rules.js';

/** The findings of a window, and what the comparison had to leave out, in words. */
export interface WindowFindings {
  findings: Finding[];
  notes: string[];
  /** What changed outside both inventories, which the findings cannot show (rules 5: listeners the ephemeral-port rule left out). */
  outside: string[];
}

/**
 * The findings between a window's pre and post snapshots, as `diff`, `report` and `verify --db`
 * make them, by the rules of version `rules` (rules.ts): from version 2 on, the two are first
 * narrowed to what both selected, and each narrowing is a note; from version 3 on, what one side's
 * attribution cannot show (no process information, no hashes) is not compared, and said; from
 * version 5 on, approvals expire by the post snapshot's time (`options.now` is not used). Pure.
 */
export function windowFindings(before: Snapshot, after: Snapshot, catalogue: ControlsCatalogue, options: EvaluateOptions = {}): WindowFindings {
  const rules = options.rules ?? FINDING_RULES;
  const common = rules >= 2 ? commonSelection(before, after) : { before, after, notes: [] };
  const attribution = rules >= 3 && options.form !== 'compare-unattributed' ? attributionComparison(before, after) : { outbound: true, coverage: true, notes: [] };
  const diff = diffSnapshots(common.before, common.after, { rules, compareOutbound: attribution.outbound, compareCoverage: attribution.coverage, ...(options.form === undefined ? {} : { form: options.form }) });
  // From rules 5 on, approvals expire by the time the change was seen: the post capture's.
  const judged = rules >= 5 ? { now: new Date(after.takenAt), judgedAtCapture: true } : {};
  const hidden = rules >= 5 ? ephemeralListenerNotes(before, after) : [];
  return { findings: evaluateFindings(diff, catalogue, { ...options, ...judged, rules }), notes: [...common.notes, ...attribution.notes], outside: hidden };
}

/** Listeners a note names one by one; more are counted. */
const NAMED_LISTENERS = 10;

/**
 * The TCP listeners the ephemeral-port rule left out of both inventories, which appeared or went
 * between the two captures, as a note (rules 5): they are no findings, since neither inventory
 * holds them, but a listener that opened on a port of the range must not pass unseen (an auditor
 * probe's back door on port 45678 was in no finding and no file of the signed pack). Pure.
 */
function ephemeralListenerNotes(before: Snapshot, after: Snapshot): string[] {
  const was = before.ephemeralTcpListeners;
  const now = after.ephemeralTcpListeners;
  if (was === undefined || now === undefined) return [];
  const label = (snapshot: Snapshot, l: EphemeralListener): string => {
    const ns = snapshot.namespaces.find((n) => n.inode === l.netns);
    return ns === undefined || ns.host ? '' : ` in namespace ${namespaceLabel(ns)}`;
  };
  const key = (snapshot: Snapshot, l: EphemeralListener): string => `${formatEndpoint(l.address, l.port)}${label(snapshot, l)}`;
  const beforeKeys = new Set(was.map((l) => key(before, l)));
  const afterKeys = new Set(now.map((l) => key(after, l)));
  const appeared = [...afterKeys].filter((k) => !beforeKeys.has(k));
  const went = [...beforeKeys].filter((k) => !afterKeys.has(k));
  if (appeared.length === 0 && went.length === 0) return [];
  const listed = (keys: string[]): string => (keys.length > NAMED_LISTENERS ? `${keys.slice(0, NAMED_LISTENERS).join(', ')} and ${keys.length - NAMED_LISTENERS} more` : keys.join(', '));
  const range = after.selection.ephemeralPortRange;
  const parts = [...(appeared.length > 0 ? [`appeared: ${listed(appeared)}`] : []), ...(went.length > 0 ? [`went: ${listed(went)}`] : [])];
  return [
    `TCP listeners on ephemeral ports${range === null ? '' : ` (${range[0]}-${range[1]})`}, which the ephemeral-port rule leaves out of both inventories, ${parts.join('; ')}; capture with --include-ephemeral to compare them as listeners, with their processes`,
  ];
}
