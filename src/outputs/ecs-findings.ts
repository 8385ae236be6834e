import type { ListenerView, OutboundView, ProcessView } from '../diff/diff-snapshots.js';
import type { Finding, FindingKind } from '../findings/evaluate-findings.js';
import { SEVERITIES } from '../findings/evaluate-findings.js';
import { ndjsonLine, newNetworkEvent, putField, type EcsDocument } from './ecs.js';
import { sortFindings, type FindingsReport } from './findings.js';

/** ECS event.type and event.action of each kind; every finding is in the network category (types allowed for it in ECS 9). */
const ECS_KIND: Record<FindingKind, { type: string[]; action: string }> = {
  'listener-opened': { type: ['start'], action: 'port_opened' },
  'listener-closed': { type: ['end'], action: 'port_closed' },
  'binary-changed': { type: ['info'], action: 'binary_changed' },
  'process-changed': { type: ['info'], action: 'process_changed' },
  'exposure-widened': { type: ['info'], action: 'exposure_widened' },
  'listener-count-changed': { type: ['info'], action: 'listener_count_changed' },
  'outbound-opened': { type: ['connection', 'start'], action: 'outbound_opened' },
  'outbound-closed': { type: ['connection', 'end'], action: 'outbound_closed' },
  'new-external-destination': { type: ['connection', 'start'], action: 'new_external_destination' },
  'coverage-changed': { type: ['info'], action: 'coverage_changed' },
  'expected-missing': { type: ['info'], action: 'expected_change_missing' },
};

type Doc = EcsDocument;
const put = putField;

function processFields(doc: Doc, p: ProcessView | null): void {
  if (!p) return;
  put(doc, 'process.pid', p.pid);
  put(doc, 'process.name', p.name);
  put(doc, 'process.executable', p.executable);
  if (p.commandLine.length > 0) {
    put(doc, 'process.args', p.commandLine);
    put(doc, 'process.command_line', p.commandLine.join(' '));
  }
  if (p.uid !== null) put(doc, 'process.real_user.id', String(p.uid));
  put(doc, 'process.real_user.name', p.user);
  put(doc, 'process.hash.sha256', p.sha256);
  put(doc, 'process.hash.blake3', p.blake3);
}

function subject(f: Finding): ListenerView | OutboundView | null {
  const c = f.change;
  if (!c) return null;
  switch (c.kind) {
    case 'listener-closed':
    case 'outbound-closed':
      return c.before;
    case 'exposure-widened':
      return c.after[0] ?? null;
    case 'coverage-changed':
      return null;
    default:
      return c.after;
  }
}

/**
 * NDJSON: one ECS document per finding. Unapproved findings of medium severity or above are
 * alerts (`event.kind: alert`), the rest events; the controls a finding supports are its tags. Pure.
 */
export function renderFindingsEcs(report: FindingsReport): string {
  // Worst first, as the JSON and text outputs give them.
  const lines = sortFindings(report.findings).map((f) => {
    const ecs = ECS_KIND[f.kind];
    const alert = f.approval !== 'approved' && SEVERITIES.indexOf(f.severity) >= SEVERITIES.indexOf('medium');
    const doc = newNetworkEvent(report.after.takenAt, alert ? 'alert' : 'event', ecs.type);
    put(doc, 'event.action', ecs.action);
    put(doc, 'event.severity', SEVERITIES.indexOf(f.severity) + 1);
    put(doc, 'event.module', 'netmon');
    put(doc, 'event.dataset', 'netmon.finding');
    put(doc, 'event.id', f.id);
    put(doc, 'message', f.summary);
    put(doc, 'host.hostname', report.host);
    put(doc, 'host.name', report.host);
    put(doc, 'rule.id', f.id);
    put(doc, 'rule.name', f.title);
    put(doc, 'rule.category', f.kind);
    put(doc, 'rule.ruleset', 'netmon');
    put(doc, 'tags', f.controls.filter((c) => c.role === 'primary').map((c) => c.key));
    const view = subject(f);
    if (view && 'port' in view) {
      put(doc, 'network.transport', view.proto.replace('6', ''));
      put(doc, 'network.type', view.address.includes(':') ? 'ipv6' : 'ipv4');
      put(doc, 'server.ip', view.address);
      put(doc, 'server.port', view.port);
      put(doc, 'related.ip', [view.address]);
    } else if (view) {
      put(doc, 'network.transport', view.proto.replace('6', ''));
      put(doc, 'network.type', view.remoteAddress.includes(':') ? 'ipv6' : 'ipv4');
      put(doc, 'network.direction', 'egress');
      put(doc, 'destination.ip', view.remoteAddress);
      put(doc, 'destination.port', view.remotePort);
      put(doc, 'related.ip', [view.remoteAddress]);
    }
    processFields(doc, view?.process ?? null);
    const labels: Record<string, string> = { netmon_approval: f.approval, netmon_severity: f.severity };
    // The network namespace of the listener or of the connections (host, its ip netns name, or
    // netns:<inode>): the same endpoint in two namespaces is two findings that must not read alike.
    if (view && ('port' in view || view.namespace !== undefined)) labels.netmon_namespace = view.namespace!;
    if (report.change) labels.netmon_change = report.change;
    if (f.reasons.length > 0) labels.netmon_reasons = f.reasons.join('; ');
    if (f.expected?.approvedBy) labels.netmon_approved_by = f.expected.approvedBy;
    put(doc, 'labels', labels);
    return ndjsonLine(doc);
  });
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
