import type { ControlRef, Finding, Severity } from '../findings/evaluate-findings.js';
import { SEVERITIES } from '../findings/evaluate-findings.js';
import { printable } from './sanitize.js';
import { isoWithOffset } from '../model/iso-time.js';

/** Version of the findings document. */
export const FINDINGS_SCHEMA_VERSION = 1 as const;

export interface FindingsReport {
  before: { id: number | null; takenAt: string; label?: string | null };
  after: { id: number | null; takenAt: string; label?: string | null };
  host: string;
  change?: string | null;
  findings: Finding[];
  disclaimer: string;
  /**
   * What the comparison could not compare or had to narrow, in words (the notes stderr gives):
   * in the JSON document too, so a CI job reading it learns of them. Absent when there are none.
   */
  notes?: string[];
}

const FRAMEWORK_NAMES: Record<string, string> = {
  csf2: 'NIST CSF 2.0',
  iso27001: 'ISO/IEC 27001:2022',
  pcidss: 'PCI DSS v4.0.1',
  dora: 'DORA',
  'dora-rts': 'DORA RTS 2024/1774',
  cis8: 'CIS Controls v8.1',
  sp80053: 'NIST SP 800-53 r5',
  soc2: 'SOC 2',
  hipaa: 'HIPAA',
  'cisa-cpg': 'CISA CPG',
  'ffiec-cat': 'FFIEC CAT (retired, legacy)',
};

/** "NIST CSF 2.0 DE.CM-01, DE.CM-09; ISO/IEC 27001:2022 A.8.16" for one role. */
export function controlsLine(controls: readonly ControlRef[], role: 'primary' | 'supporting'): string {
  const byFramework = new Map<string, string[]>();
  for (const c of controls) {
    if (c.role !== role) continue;
    const list = byFramework.get(c.framework);
    if (list) list.push(c.id);
    else byFramework.set(c.framework, [c.id]);
  }
  return [...byFramework].map(([f, ids]) => `${FRAMEWORK_NAMES[f] ?? f} ${ids.join(', ')}`).join('; ');
}

/** Findings worst first, then by kind and id: a stable order for reports. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
}

function side(s: FindingsReport['before']): string {
  const id = s.id === null ? '' : `snapshot ${s.id} `;
  const label = s.label ? `, ${s.label}` : '';
  return `${id}(${isoWithOffset(new Date(s.takenAt))}${label})`;
}

const GROUPS: { title: string; kinds: Finding['kind'][] }[] = [
  { title: 'Opened ports', kinds: ['listener-opened', 'exposure-widened'] },
  { title: 'Closed ports', kinds: ['listener-closed'] },
  { title: 'Changed listeners', kinds: ['process-changed', 'binary-changed', 'listener-count-changed'] },
  { title: 'Outbound connections', kinds: ['new-external-destination', 'outbound-opened', 'outbound-closed'] },
  { title: 'Attribution coverage', kinds: ['coverage-changed'] },
  { title: 'Missing expected changes', kinds: ['expected-missing'] },
];

/**
 * The grouped change report a reviewer reads: totals, then each group ("Opened ports (2):") with
 * every finding's severity, approval, summary, why, and the controls it supports. Pure.
 */
export function renderFindingsText(report: FindingsReport): string {
  const findings = sortFindings(report.findings);
  // Approved changes that did not happen are findings, not port changes: counted apart.
  const changes = findings.filter((f) => f.kind !== 'expected-missing').length;
  const missing = findings.length - changes;
  const lines = [
    `${changes === 0 ? 'No port changes' : `Port changes detected (${changes} total)`} on ${printable(report.host)}${report.change ? ` for change ${printable(report.change)}` : ''}: ${side(report.before)} -> ${side(report.after)}${missing === 0 ? '' : `; ${missing} approved ${missing === 1 ? 'change' : 'changes'} not observed`}`,
  ];
  if (findings.length > 0) {
    const bySeverity = SEVERITIES.slice()
      .reverse()
      .map((sev) => [sev, findings.filter((f) => f.severity === sev).length] as const)
      .filter(([, n]) => n > 0)
      .map(([sev, n]) => `${n} ${sev}`);
    const byApproval = (['unexpected', 'approved', 'missing'] as const)
      .map((a) => [a, findings.filter((f) => f.approval === a).length] as const)
      .filter(([, n]) => n > 0)
      .map(([a, n]) => `${n} ${a}`);
    // Counts every finding, approved changes not observed too (an auditor probe read "5 total" above "1 critical, 2 medium, 2 low, 1 info").
    lines.push(`  ${findings.length} ${findings.length === 1 ? 'finding' : 'findings'}: ${bySeverity.join(', ')}; ${byApproval.join(', ')}`);
  }
  for (const group of GROUPS) {
    const members = findings.filter((f) => group.kinds.includes(f.kind));
    if (members.length === 0) continue;
    lines.push('', `${group.title} (${members.length}):`);
    for (const f of members) {
      lines.push(`  ${f.severity.toUpperCase().padEnd(8)} ${f.approval.padEnd(10)} ${printable(f.summary)}  [${f.id}]`);
      if (f.reasons.length > 0) lines.push(`      why: ${printable(f.reasons.join('; '))}`);
      if (f.approval === 'approved' && f.expected) {
        lines.push(`      approved by: ${f.expected.action} ${printable(f.expected.pattern)}${f.expected.justification ? ` (${printable(f.expected.justification)})` : ''}${f.expected.approvedBy ? `; approver: ${printable(f.expected.approvedBy)}` : ''}`);
      }
      // An approved change that did not happen: who approved it, too.
      if (f.approval === 'missing' && f.expected?.approvedBy) lines.push(`      approver: ${printable(f.expected.approvedBy)}`);
      const primary = controlsLine(f.controls, 'primary');
      if (primary) lines.push(`      supports: ${primary}`);
    }
  }
  lines.push('', `Controls listed are those this evidence supports; it does not by itself satisfy them. ${report.disclaimer}`.trim());
  return `${lines.join('\n')}\n`;
}

/** The versioned findings document. Pure. */
export function renderFindingsJson(report: FindingsReport): string {
  return `${JSON.stringify({ schemaVersion: FINDINGS_SCHEMA_VERSION, ...report, findings: sortFindings(report.findings) }, null, 2)}\n`;
}

/** True when a finding that is not approved is at or above the threshold. Pure. */
export function failsAt(findings: readonly Finding[], threshold: Severity): boolean {
  const limit = SEVERITIES.indexOf(threshold);
  return findings.some((f) => f.approval !== 'approved' && SEVERITIES.indexOf(f.severity) >= limit);
}
