import type { Finding } from '../findings/evaluate-findings.js';
import type { Snapshot } from '../model/types.js';
import { sortFindings } from '../outputs/findings.js';
import { renderJson } from '../outputs/json.js';
import { printable } from '../outputs/sanitize.js';
import { CSV_COLUMNS, csvRows, formatCsv, neutralizeCell } from '../store/csv-trail.js';

/** Version of evidence.json (3: `notes`, what the comparison of the two snapshots left out). */
export const EVIDENCE_SCHEMA_VERSION = 3 as const;

export const FINDINGS_CSV_COLUMNS = ['id', 'severity', 'approval', 'kind', 'title', 'summary', 'reasons', 'controls', 'observed_before', 'observed_after', 'justification'] as const;

/**
 * Columns after FINDINGS_CSV_COLUMNS and the approver since 2026-11-25: the host and change ticket
 * of the pack on every row, so that the findings of many packs pasted into one table still say
 * where they come from (packs made before lack them, and verify as they are).
 */
export const FINDINGS_CSV_CONTEXT_COLUMNS = ['host', 'change'] as const;

/** The column after justification since the same day: who approved the change (the expected change's `approved_by`). */
export const FINDINGS_CSV_APPROVER_COLUMN = 'approved_by';

/**
 * findings.csv: one row per finding, worst first; text cells neutralised as in the CSV trail. The
 * title, summary and reasons, which quote process names and paths, are escaped as the PDF prints
 * them (control and direction characters as `\x1b`, `\u{202e}`): a table a reviewer opens or
 * `cat`s must not let a process name recolour, rewrite or reorder its lines (an auditor probe).
 * evidence.json keeps the exact text. Pure.
 */
export function findingsCsv(findings: readonly Finding[], context: { host: string; change: string | null }): string {
  const rows = sortFindings(findings).map((f) =>
    [
      f.id,
      f.severity,
      f.approval,
      f.kind,
      printable(f.title),
      printable(f.summary),
      printable(f.reasons.join('; ')),
      f.controls.filter((c) => c.role === 'primary').map((c) => c.key).join(' '),
      f.observed.before,
      f.observed.after,
      f.expected?.justification ?? '',
      f.expected?.approvedBy ?? '',
      printable(context.host),
      context.change === null ? '' : printable(context.change),
    ].map(neutralizeCell),
  );
  return formatCsv([[...FINDINGS_CSV_COLUMNS, FINDINGS_CSV_APPROVER_COLUMN, ...FINDINGS_CSV_CONTEXT_COLUMNS], ...rows]);
}

/** inventory-pre.csv / inventory-post.csv: the CSV trail's columns, every socket of a snapshot. Pure. */
export function inventoryCsv(snapshot: Snapshot, id: number, label: string | null, change: string | null): string {
  const processes = new Map(snapshot.processes.map((p) => [p.pid, p]));
  return formatCsv([[...CSV_COLUMNS], ...csvRows(snapshot, snapshot.sockets, processes, 'present', { snapshotId: id, label, change })]);
}

/**
 * evidence.json: the machine-readable findings, both snapshots, the window and its continuity
 * (version 2: the gaps and clock steps the store records inside the window, as the PDF lists
 * them; version 3: the notes of the comparison). Pure. Written
 * like the snapshot document: one key per line, and one socket, process or finding per line, so
 * that two 28,000-socket snapshots stay greppable and diffable at about two thirds of the size of
 * an indented document, and are written as one string rather than a tree of small ones.
 */
export function evidenceJson(input: {
  generatedAt: string;
  change: string | null;
  before: { id: number; snapshot: Snapshot; recordHash: string };
  after: { id: number; snapshot: Snapshot; recordHash: string };
  findings: readonly Finding[];
  /** What the comparison left out or could not show (selections, attribution), as `diff` and the PDF say it. */
  notes: readonly string[];
  disclaimer: string;
  continuity: { gaps: readonly { seq: number; from: string; to: string; reason: string }[]; clockSteps: readonly { seq: number; at: string; stepMs: number }[] };
}): string {
  const q = JSON.stringify;
  const side = (s: { id: number; snapshot: Snapshot; recordHash: string }): string =>
    `{"id": ${s.id}, "recordHash": ${q(s.recordHash)}, "snapshot":\n${renderJson(s.snapshot).trimEnd()}}`;
  const findings = sortFindings(input.findings);
  return [
    '{',
    ` "schemaVersion": ${EVIDENCE_SCHEMA_VERSION},`,
    ` "generatedAt": ${q(input.generatedAt)},`,
    ` "change": ${q(input.change)},`,
    ` "window": ${q({ from: input.before.snapshot.takenAt, to: input.after.snapshot.takenAt })},`,
    ` "continuity": ${q({ gaps: input.continuity.gaps.map(({ seq, from, to, reason }) => ({ seq, from, to, reason })), clockSteps: input.continuity.clockSteps.map(({ seq, at, stepMs }) => ({ seq, at, stepMs })) })},`,
    ' "snapshots": {',
    ` "pre": ${side(input.before)},`,
    ` "post": ${side(input.after)}`,
    ' },',
    ` "notes": ${q(input.notes)},`,
    findings.length === 0 ? ' "findings": [],' : ` "findings": [\n${findings.map((f) => `  ${q(f)}`).join(',\n')}\n ],`,
    ` "disclaimer": ${q(input.disclaimer)}`,
    '}',
    '',
  ].join('\n');
}
