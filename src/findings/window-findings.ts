import { attributionComparison, commonSelection } from '../diff/common-selection.js';
import { diffSnapshots } from '../diff/diff-snapshots.js';
import type { Snapshot } from '../model/types.js';
import type { ControlsCatalogue } from './controls.js';
import { evaluateFindings, type EvaluateOptions, type Finding } from './evaluate-findings.js';
import { FINDING_RULES } from './rules.js';

/** The findings of a window, and what the comparison had to leave out, in words. */
export interface WindowFindings {
  findings: Finding[];
  notes: string[];
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
  return { findings: evaluateFindings(diff, catalogue, { ...options, ...judged, rules }), notes: [...common.notes, ...attribution.notes] };
}
