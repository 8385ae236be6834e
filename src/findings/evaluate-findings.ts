import { createHash } from 'node:crypto';
import { formatEndpoint, isWildcardAddress } from '../collect/parse/address.js';
import { count, percent } from '../model/format.js';
import { isoWithOffset } from '../model/iso-time.js';
import { attributableRatio } from '../model/types.js';
import type { Change, ChangeKind, Diff, ListenerView, OutboundView, ProcessView } from '../diff/diff-snapshots.js';
import type { ControlCondition, ControlsCatalogue } from './controls.js';
import { SUSPICIOUS_PORTS } from '../model/ports.js';
import { FINDING_RULES } from './rules.js';
import { classifyFindings, type ExpectedAction, type ExpectedChange, type ExpectedChanges } from './expected-changes.js';

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

/** A change between snapshots, or an approved change that did not happen. */
export type FindingKind = ChangeKind | 'expected-missing';

/** approved: an expected change covers it; unexpected: nothing does; missing: an expected change no finding matched. */
export type Approval = 'approved' | 'unexpected' | 'missing';

/**
 * Per-kind metadata. `satisfies` makes a new change kind fail to compile until it has a title,
 * a base severity and the catalogue entry (templates/controls.yaml `findings`) that maps it to
 * controls.
 */
export const FINDING_KINDS = {
  'listener-opened': { title: 'New listening port', severity: 'medium', mapping: 'new_listening_port' },
  'listener-closed': { title: 'Listening port closed', severity: 'low', mapping: 'listening_port_closed' },
  'binary-changed': { title: 'Listener executable replaced', severity: 'high', mapping: 'listener_binary_changed' },
  'process-changed': { title: 'Port taken over by another process', severity: 'high', mapping: 'port_owner_changed' },
  'exposure-widened': { title: 'Listener exposed beyond loopback', severity: 'high', mapping: 'listening_all_interfaces' },
  'listener-count-changed': { title: 'Number of sockets on a listener changed', severity: 'info', mapping: 'monitoring_evidence_collected' },
  'outbound-opened': { title: 'New outbound connection', severity: 'low', mapping: 'monitoring_evidence_collected' },
  'outbound-closed': { title: 'Outbound connection ended', severity: 'info', mapping: 'monitoring_evidence_collected' },
  'new-external-destination': { title: 'New outbound connection to an external address', severity: 'medium', mapping: 'new_outbound_external' },
  'coverage-changed': { title: 'Attribution coverage changed', severity: 'low', mapping: 'monitoring_evidence_collected' },
  'expected-missing': { title: 'Approved change not observed', severity: 'medium', mapping: 'expected_change_missing' },
} as const satisfies Record<FindingKind, { title: string; severity: Severity; mapping: string }>;

/** A control a finding is evidence for. The evidence supports it; it does not by itself satisfy it. */
export interface ControlRef {
  key: string;
  framework: string;
  id: string;
  title: string;
  role: 'primary' | 'supporting';
  /** From a retired framework, shown only as a legacy cross-reference. */
  legacy: boolean;
}

export interface Finding {
  /** Stable across runs for the same change: kind, identity and executable hashes. */
  id: string;
  kind: FindingKind;
  severity: Severity;
  title: string;
  /** One line a reviewer acts on. */
  summary: string;
  /** Why the severity is what it is, beyond the kind's base severity. */
  reasons: string[];
  /** The change; absent for `expected-missing`. */
  change?: Change;
  /** When the two sides were captured. */
  observed: { before: string; after: string };
  approval: Approval;
  /** The expected change that approves this finding, or that is missing. */
  expected?: { action: ExpectedAction; pattern: string; path: string | null; justification: string | null; approvedBy: string | null; line: number | null; source: string };
  controls: ControlRef[];
}

/** Services that send credentials or data in cleartext. */
export const CLEARTEXT_SERVICES: ReadonlyMap<number, string> = new Map([
  [21, 'FTP'],
  [23, 'Telnet'],
  [69, 'TFTP'],
  [110, 'POP3'],
  [143, 'IMAP'],
  [512, 'rexec'],
  [513, 'rlogin'],
  [514, 'rsh'],
]);

const RISKY_PLACES = [/^\/tmp\//, /^\/var\/tmp\//, /^\/dev\/shm\//, /^\/home\//, /^\/root\//, /^\/run\/user\//];

function raise(current: Severity, to: Severity): Severity {
  return SEVERITIES.indexOf(to) > SEVERITIES.indexOf(current) ? to : current;
}

function who(p: ProcessView | null): string {
  if (!p) return 'no process visible';
  const user = p.user ?? (p.uid === null ? '?' : `uid ${p.uid}`);
  // A process that ended while the capture read it may have left a record without its name (a
  // probe saw "was , pid 11170").
  return `${p.name === '' ? '(name not read)' : p.name}, pid ${p.pid}, user ${user}`;
}

/** A value quoted, and cut to 80 characters with an ellipsis: a command line may be kilobytes. */
function shortQuoted(text: string): string {
  const chars = [...text];
  return JSON.stringify(chars.length > 80 ? `${chars.slice(0, 79).join('')}\u2026` : text);
}

function listenerText(l: ListenerView): string {
  return `${l.proto} ${formatEndpoint(l.address, l.port)}${l.namespace === 'host' ? '' : ` in namespace ${l.namespace}`}`;
}

/** " in namespace X" for a namespace other than the host's (rules 3 name it; earlier rules did not). */
function namespaceText(namespace: string | undefined): string {
  return namespace === undefined || namespace === 'host' ? '' : ` in namespace ${namespace}`;
}

function outboundText(o: OutboundView): string {
  return `${o.proto} to ${formatEndpoint(o.remoteAddress, o.remotePort)}${namespaceText(o.namespace)}`;
}

function summarize(change: Change): string {
  switch (change.kind) {
    case 'listener-opened':
      return `new listener ${listenerText(change.after)} (${who(change.after.process)})`;
    case 'listener-closed':
      return `listener ${listenerText(change.before)} closed (was ${who(change.before.process)})`;
    case 'binary-changed': {
      const [p, q] = [change.before.process, change.after.process];
      if (p?.sha256 === q?.sha256 && q?.executableDeleted) {
        return `the executable file of listener ${listenerText(change.after)}, ${q.executable ?? '?'}, was replaced or deleted on disk while ${who(q)} runs on (the running image is still sha256 ${q.sha256?.slice(0, 12) ?? 'unknown'}...)`;
      }
      return `the executable of listener ${listenerText(change.after)} changed: ${q?.executable ?? '?'} sha256 ${p?.sha256?.slice(0, 12)}... -> ${q?.sha256?.slice(0, 12)}...`;
    }
    case 'process-changed': {
      // Each changed field with its value before and after (an auditor probe read "changed: commandLine" and had to open evidence.json to learn how).
      const [p, q] = [change.before.process, change.after.process];
      const values: Record<(typeof change.fields)[number], (v: ProcessView | null) => string> = {
        executable: (v) => v?.executable ?? '?',
        user: (v) => v?.user ?? (v?.uid === null || v?.uid === undefined ? '?' : `uid ${v.uid}`),
        commandLine: (v) => v?.commandLine.join(' ') ?? '',
      };
      const changed = change.fields.map((f) => `${f} ${shortQuoted(values[f](p))} -> ${shortQuoted(values[f](q))}`);
      return `listener ${listenerText(change.after)} now belongs to ${who(q)} (was ${who(p)}; changed: ${changed.join('; ')})`;
    }
    case 'exposure-widened':
      return `${transportOf(change.after[0]!).toUpperCase()} port ${change.after[0]!.port}${change.after[0]!.namespace === 'host' ? '' : ` in namespace ${change.after[0]!.namespace}`} was bound to loopback only, now to ${change.after.map((l) => l.address).join(', ')} (${who(change.after[0]!.process)})`;
    case 'listener-count-changed':
      return `listener ${listenerText(change.after)} has ${count(change.after.sockets, 'socket')} (was ${change.before.sockets})`;
    case 'outbound-opened':
      return `new outbound connection ${outboundText(change.after)} (${who(change.after.process)})`;
    case 'outbound-closed':
      return `outbound connection ${outboundText(change.before)} ended (was ${who(change.before.process)})`;
    case 'new-external-destination':
      return `new external destination ${formatEndpoint(change.after.remoteAddress, change.after.remotePort)}${namespaceText(change.after.namespace)} (${who(change.after.process)})`;
    case 'coverage-changed':
      return `attribution coverage ${percent(attributableRatio(change.before))} -> ${percent(attributableRatio(change.after))} of the sockets a process can own (kernel-owned ones, such as TIME_WAIT, left out)${change.before.privileged !== change.after.privileged ? `; every process readable: ${change.before.privileged ? 'yes' : 'no'} -> ${change.after.privileged ? 'yes' : 'no'}` : ''}`;
  }
}

function identity(change: Change, rules: number, form?: string): string {
  switch (change.kind) {
    case 'exposure-widened': {
      const l = change.after[0]!;
      // Rules 2: TCP and UDP on one port are two exposures (one approved must not approve the other).
      return `${l.namespace}|${rules >= 2 ? `${transportOf(l)}|` : ''}${l.port}|${change.after.map((v) => v.address).join(',')}`;
    }
    case 'coverage-changed':
      // Rules 1 in its first form: the ratios over every socket.
      if (form === 'raw-coverage') return `${change.before.ratio}|${change.after.ratio}`;
      return `${attributableRatio(change.before)}|${attributableRatio(change.after)}|${change.before.privileged}|${change.after.privileged}`;
    default: {
      const side = 'after' in change ? change.after : change.before;
      const hashes = [('before' in change ? change.before : undefined)?.process?.sha256, ('after' in change ? change.after : undefined)?.process?.sha256].join('|');
      return `${JSON.stringify({ ...side, process: side.process?.executable ?? null, sockets: undefined, connections: undefined })}|${hashes}`;
    }
  }
}

/** The severity heuristics for one side of a change: reasons a reviewer would look harder. */
/** tcp or udp: the transport of a listener's protocol (tcp, tcp6, udp, udp6). */
function transportOf(l: ListenerView): string {
  return l.proto.replace('6', '');
}

function assess(change: Change, rules: number, form?: string): { severity: Severity; reasons: string[] } {
  let severity: Severity = FINDING_KINDS[change.kind].severity;
  const reasons: string[] = [];
  // What appeared or changed: the side a reviewer has to judge. Closings and coverage carry no such risk.
  let views: (ListenerView | OutboundView)[];
  switch (change.kind) {
    case 'listener-closed':
    case 'outbound-closed':
      return { severity, reasons };
    case 'coverage-changed': {
      if (rules < 2 || form === 'flat-coverage') return { severity, reasons };
      // Rules 2: attribution that collapsed is a capture that lost sight of the host (a run
      // without root, a hardened /proc), not a detail: 10 points down is medium, 50 high.
      const drop = attributableRatio(change.before) - attributableRatio(change.after);
      if (drop >= 0.5) severity = raise(severity, 'high');
      else if (drop >= 0.1) severity = raise(severity, 'medium');
      else if (drop < 0) severity = 'info';
      if (drop >= 0.1) reasons.push(`attribution fell by ${(drop * 100).toFixed(1)} percentage points: the capture could not see which processes hold ${drop >= 0.5 ? 'most' : 'many'} sockets (compare the privileges the two captures ran with)`);
      return { severity, reasons };
    }
    case 'exposure-widened':
      views = change.after;
      break;
    default:
      views = [change.after];
  }
  for (const view of views) {
    const port = 'port' in view ? view.port : view.remotePort;
    const suspicious = SUSPICIOUS_PORTS.get(port);
    if (suspicious) {
      severity = raise(severity, 'high');
      reasons.push(`port ${port} is ${suspicious}`);
    }
    const cleartext = 'port' in view ? CLEARTEXT_SERVICES.get(port) : undefined;
    if (cleartext) {
      severity = raise(severity, 'high');
      reasons.push(`port ${port} is ${cleartext}, a cleartext service`);
    }
    const p = view.process;
    // Rules 2: the effective uid is what the process acts as (a setuid root binary is root).
    const uid = p === null ? null : rules >= 2 ? (p.euid ?? p.uid) : p.uid;
    if ('port' in view && view.port < 1024 && uid !== null && uid !== 0) {
      severity = raise(severity, 'high');
      reasons.push(`privileged port ${view.port} held by a non-root process (uid ${uid})`);
    }
    if (p?.executableDeleted) {
      severity = raise(severity, 'critical');
      // The kernel marks the running image "(deleted)" when its file was removed or replaced (a new
      // file renamed over the path): which of the two, the path alone cannot say.
      reasons.push(`the executable ${p.executable ?? ''} was deleted or replaced on disk after the process started (it runs an image no longer at that path)`);
    } else if (p?.executable && RISKY_PLACES.some((re) => re.test(p.executable!))) {
      severity = raise(severity, 'critical');
      reasons.push(`the executable runs from ${p.executable}, a temporary or home directory`);
    }
  }
  return { severity, reasons: [...new Set(reasons)] };
}

/**
 * The catalogue entries a change is evidence for: its kind's, and for a new listener on every
 * interface (0.0.0.0, ::) also the all-interfaces entry, which a listener widened to the same
 * exposure cites: the new one is no less exposed.
 */
function mappingsOf(change: Change): string[] {
  const own = FINDING_KINDS[change.kind].mapping;
  return change.kind === 'listener-opened' && isWildcardAddress(change.after.address) ? [own, FINDING_KINDS['exposure-widened'].mapping] : [own];
}

/** The facts of a change that a catalogue's conditions name (controls.ts CONTROL_CONDITIONS). Pure. */
function conditionsOf(change: Change | null): Record<ControlCondition, boolean> {
  if (change === null) return { cleartext_service: false, executable_changed: false, executables_hashed: false };
  const sides: (ListenerView | OutboundView)[] =
    change.kind === 'coverage-changed' ? [] : change.kind === 'exposure-widened' ? [...change.before, ...change.after] : [...('before' in change ? [change.before] : []), ...('after' in change ? [change.after] : [])];
  const processes = sides.map((v) => v.process);
  const [first, last] = [processes[0], processes.at(-1)];
  return {
    cleartext_service: sides.some((v) => 'port' in v && CLEARTEXT_SERVICES.has(v.port)),
    executable_changed:
      change.kind === 'binary-changed' || (change.kind === 'process-changed' && (change.fields.includes('executable') || (first?.sha256 ?? null) !== (last?.sha256 ?? null))),
    executables_hashed: processes.length > 0 && processes.every((p) => p !== null && p.sha256 !== null),
  };
}

function controlsOf(mappings: readonly string[], catalogue: ControlsCatalogue, change: Change | null): ControlRef[] {
  const controls: ControlRef[] = [];
  const seen = new Set<string>();
  const facts = conditionsOf(change);
  /** A control's role for this finding under its mapping's conditions: its own, supporting, or none. */
  const roleOf = (name: string, key: string, role: 'primary' | 'supporting'): 'primary' | 'supporting' | null => {
    const condition = catalogue.findings.get(name)?.conditions.find((c) => c.control === key);
    if (condition === undefined || facts[condition.when]) return role;
    return condition.otherwise === 'supporting' ? 'supporting' : null;
  };
  // Primary of every entry first, then supporting: a control primary for one entry is primary.
  for (const pass of ['primary', 'supporting'] as const) {
    for (const name of mappings) {
      const mapping = catalogue.findings.get(name);
      for (const listed of ['primary', 'supporting'] as const) {
        for (const key of mapping?.[listed] ?? []) {
          if (seen.has(key) || roleOf(name, key, listed) !== pass) continue;
          seen.add(key);
          const control = catalogue.controls.get(key)!;
          controls.push({ key, framework: control.framework, id: control.id, title: control.title, role: pass, legacy: catalogue.frameworks.get(control.framework)?.legacy ?? false });
        }
      }
    }
  }
  return controls;
}

function expectedRef(e: ExpectedChange, source: string): NonNullable<Finding['expected']> {
  return { action: e.action, pattern: e.pattern, path: e.pathPattern, justification: e.justification, approvedBy: e.approvedBy, line: e.line, source };
}

export interface EvaluateOptions {
  /** What the change ticket (or the standing allow-list) approved. */
  expected?: ExpectedChanges | null;
  /** The version of the finding rules to apply (rules.ts; default the current one). */
  rules?: number;
  /** An earlier form of that version (rules.ts EARLIER_FORMS), for verifying a pack made by it. */
  form?: string;
  /** Expiry dates are compared with this; default now. */
  now?: Date;
  /** `now` is the time the post snapshot was taken (finding rules 5): the reasons say so. */
  judgedAtCapture?: boolean;
}

/**
 * One finding per change: kind, severity (raised by the heuristics above), a stable id, a summary
 * and the controls it is evidence for, from the catalogue; classed approved or unexpected against
 * the expected changes, each of which that did not happen being its own `expected-missing`
 * finding. Pure.
 */
/**
 * The controls an evidence pack as a whole is evidence for: a store whose hash chain verified, and
 * files signed and listed with their hashes (the catalogue's `evidence_integrity_verified`, which no
 * finding cites: an auditor probe found the pack's own integrity mapped to nothing). Pure.
 */
export function packIntegrityControls(catalogue: ControlsCatalogue): ControlRef[] {
  return catalogue.findings.has('evidence_integrity_verified') ? controlsOf(['evidence_integrity_verified'], catalogue, null) : [];
}

export function evaluateFindings(diff: Diff, catalogue: ControlsCatalogue, options: EvaluateOptions = {}): Finding[] {
  const observed = { before: diff.before.takenAt, after: diff.after.takenAt };
  const rules = options.rules ?? FINDING_RULES;
  const form = options.form;
  const findings: Finding[] = diff.changes.map((change) => {
    const { severity, reasons } = assess(change, rules, form);
    const id = `NM-${createHash('sha256').update(`${change.kind}\n${identity(change, rules, form)}`).digest('hex').slice(0, 12)}`;
    // A listener whose executable stayed, its user or command line changed, was not taken over by another process.
    const title = change.kind === 'process-changed' && !change.fields.includes('executable') ? 'Listener process changed (same executable)' : FINDING_KINDS[change.kind].title;
    return { id, kind: change.kind, severity, title, summary: summarize(change), reasons, change, observed, approval: 'unexpected', controls: controlsOf(mappingsOf(change), catalogue, change) };
  });
  const expected = options.expected ?? null;
  if (!expected) return findings;
  const classes = classifyFindings(findings, expected, options.now ?? new Date());
  for (const f of findings) {
    const e = classes.approved.get(f.id);
    if (e) {
      f.approval = 'approved';
      f.expected = expectedRef(e, expected.source);
      continue;
    }
    // Unexpected, though an entry matches it: say so, or the reviewer looks for a typo in the pattern.
    const late = classes.expiredMatch.get(f.id);
    if (late) {
      const passed = options.judgedAtCapture === true ? `which had passed when the post snapshot was taken (${isoWithOffset(options.now!)})` : 'which has passed';
      f.reasons = [...f.reasons, `${late.line === null ? expected.source : `${expected.source}:${late.line}`} approved it until ${isoWithOffset(late.expires!)}, ${passed}`];
    }
  }
  for (const e of classes.missing) {
    const where = e.line === null ? expected.source : `${expected.source}:${e.line}`;
    findings.push({
      id: `NM-${createHash('sha256').update(`expected-missing\n${e.action}\n${e.pattern}\n${e.pathPattern ?? ''}`).digest('hex').slice(0, 12)}`,
      kind: 'expected-missing',
      severity: FINDING_KINDS['expected-missing'].severity,
      title: FINDING_KINDS['expected-missing'].title,
      summary: `expected ${e.action} ${e.pattern}${e.pathPattern ? ` (${e.pathPattern})` : ''} did not happen (${where})`,
      reasons: e.justification ? [`approved as: ${e.justification}`] : [],
      observed,
      approval: 'missing',
      expected: expectedRef(e, expected.source),
      controls: controlsOf([FINDING_KINDS['expected-missing'].mapping], catalogue, null),
    });
  }
  return findings;
}
