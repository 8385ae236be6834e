import type { Finding } from '../findings/evaluate-findings.js';
import type { Snapshot } from '../model/types.js';
import { sortFindings } from '../outputs/findings.js';
import { CSV_COLUMNS, csvRows, formatCsv, neutralizeCell } from '../store/csv-trail.js';

/** Version of evidence.json. */
export const EVIDENCE_SCHEMA_VERSION = 1 as const;

export const FINDINGS_CSV_COLUMNS = ['id', 'severity', 'approval', 'kind', 'title', 'summary', 'reasons', 'controls', 'observed_before', 'observed_after', 'justification'] as const;

/** findings.csv: one row per finding, worst first; text cells neutralised as in the CSV trail. Pure. */
export function findingsCsv(findings: readonly Finding[]): string {
  const rows = sortFindings(findings).map((f) =>
    [
      f.id,
      f.severity,
      f.approval,
      f.kind,
      f.title,
      f.summary,
      f.reasons.join('; '),
      f.controls.filter((c) => c.role === 'primary').map((c) => c.key).join(' '),
      f.observed.before,
      f.observed.after,
      f.expected?.justification ?? '',
    ].map(neutralizeCell),
  );
  return formatCsv([[...FINDINGS_CSV_COLUMNS], ...rows]);
}

/** inventory-pre.csv / inventory-post.csv: the CSV trail's columns, every socket of a snapshot. Pure. */
export function inventoryCsv(snapshot: Snapshot, id: number, label: string | null, change: string | null): string {
  const processes = new Map(snapshot.processes.map((p) => [p.pid, p]));
  return formatCsv([[...CSV_COLUMNS], ...csvRows(snapshot, snapshot.sockets, processes, 'present', { snapshotId: id, label, change })]);
}

/** evidence.json: the machine-readable findings, both snapshots and the window. Pure. */
export function evidenceJson(input: {
  generatedAt: string;
  change: string | null;
  before: { id: number; snapshot: Snapshot; recordHash: string };
  after: { id: number; snapshot: Snapshot; recordHash: string };
  findings: readonly Finding[];
  disclaimer: string;
}): string {
  return `${JSON.stringify(
    {
      schemaVersion: EVIDENCE_SCHEMA_VERSION,
      generatedAt: input.generatedAt,
      change: input.change,
      window: { from: input.before.snapshot.takenAt, to: input.after.snapshot.takenAt },
      snapshots: {
        pre: { id: input.before.id, recordHash: input.before.recordHash, snapshot: input.before.snapshot },
        post: { id: input.after.id, recordHash: input.after.recordHash, snapshot: input.after.snapshot },
      },
      findings: sortFindings(input.findings),
      disclaimer: input.disclaimer,
    },
    null,
    1,
  )}\n`;
}
