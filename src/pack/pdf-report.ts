import { createRequire } from 'node:module';
import type PDFKit from 'pdfkit';
import { formatEndpoint } from '../collect/parse/address.js';
import { filterFlags } from '../diff/common-selection.js';
import { exposureIndex, type ProcessView } from '../diff/diff-snapshots.js';
import { SEVERITIES, type ControlRef, type Finding } from '../findings/evaluate-findings.js';
import { clockStepWords, count, duration, gapReason, percent } from '../model/format.js';
import { attributableRatio, type Coverage, type Snapshot } from '../model/types.js';
import { controlsLine, sortFindings } from '../outputs/findings.js';
import { storedTime } from '../outputs/time.js';
import { cadesDetachedSignature, type CadesIdentity } from './pki.js';

/**
 * The PDF report of an evidence pack. `reportBlocks` (pure) decides what the report says;
 * `renderSignedPdf` is the adapter to pdfkit and @signpdf that lays the blocks out and embeds a
 * PAdES baseline (ETSI.CAdES.detached) signature that `pdfsig` and PDF readers check.
 */

export type Block =
  | { kind: 'title'; text: string }
  | { kind: 'heading'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'field'; label: string; value: string }
  | { kind: 'finding'; head: string; lines: string[] }
  /** Fixed-width rows (inventories, control lists). */
  | { kind: 'rows'; rows: string[] };

export interface ReportSide {
  id: number;
  label: string | null;
  recordHash: string;
  snapshot: Snapshot;
}

export interface ReportInput {
  /** The pack directory's name, shown in every page header. */
  packId: string;
  change: string | null;
  generatedAt: string;
  netmonVersion: string;
  pre: ReportSide;
  post: ReportSide;
  findings: readonly Finding[];
  signerFingerprint: string;
  /** Framework names by id, from the controls catalogue. */
  frameworks: ReadonlyMap<string, { name: string; version: string; legacy: boolean }>;
  disclaimer: string;
  /** Capture gaps recorded by the store that overlap the window. */
  gaps: readonly { from: string; to: string; reason: string }[];
  /** System clock steps recorded by the store inside the window (they shift the snapshot times after them). */
  clockSteps?: readonly { at: string; stepMs: number }[];
  /** The controls the pack as a whole is evidence for (packIntegrityControls). */
  integrityControls?: readonly ControlRef[];
  /** The store the snapshots came from; a report is only made from a store that verified. */
  store: { path: string; headHash: string | null };
  /** A monitoring period's --from and --to (ISO times), when the report is of one: the window is its first and last snapshot. */
  requestedPeriod?: { from: string; to: string };
  /** The store's last prune, when there was one: a period that starts before its cutoff says so. */
  retention?: { seq: number; at: string; cutoff: string } | null;
  /** Rows per inventory list before the PDF points to the CSV (default 40). */
  inventoryLimit?: number;
  /** What the comparison left out because the two snapshots' selections or attribution differ (commonSelection, attributionComparison). */
  selectionNotes?: readonly string[];
  /** How the window was captured (EvidenceStore.windowCapture); absent: not said. */
  capture?: { between: number; oneShotEdges: boolean };
  /** What changed outside both inventories (windowFindings' `outside`): shown with the verdict. */
  outsideNotes?: readonly string[];
  /** Whether an expected-changes file (--expect) approved changes; it is in the pack as expected-changes.yaml. */
  expectedChanges?: boolean;
}

/**
 * "100.0% of the 2 sockets a process can own (55 in all, 53 kernel-owned)": the share of the
 * sockets a process can own, as every output gives it, with the sockets no process can own.
 */
function coverageText(c: Coverage): string {
  const kernel = c.byReason['kernel-owned'];
  if (kernel === 0) return `${percent(c.ratio)} of ${count(c.total, 'socket')}`;
  return `${percent(attributableRatio(c))} of the ${count(c.total - kernel, 'socket')} a process can own (${c.total} in all, ${kernel} kernel-owned)`;
}

/** How much of the host a capture could read: why it was not all, when it was not. */
function privilegeText(side: Snapshot): string {
  const by = side.capturedBy;
  // Who ran it, and with what (an auditor probe found neither): "captured by root (uid 0)", "by netmon (uid 998) holding CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH".
  const account = by === undefined ? '' : `by ${by.user ?? 'a user without a name'} (uid ${by.uid})${by.privilege === 'capabilities' ? ' holding CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH' : by.privilege === null ? ' without privilege' : ''}, `;
  return `${account === '' ? '' : `captured ${account.slice(0, -2)}; `}${readText(side)}`;
}

function readText(side: Snapshot): string {
  if (!side.selection.processInfo) return 'processes not read (--no-process-info): no socket attributed to a process';
  if (side.coverage.privileged) return 'captured with full privilege';
  const unread = side.namespaces.filter((n) => !n.read).length + (side.coverage.namespacesUnknown ?? 0);
  const what = [
    ...(side.coverage.processesDenied > 0 ? [`${count(side.coverage.processesDenied, 'process', 'processes')} unreadable`] : []),
    ...(unread > 0 ? [`${count(unread, 'network namespace')} not read`] : []),
  ];
  return `captured WITHOUT full privilege${what.length > 0 ? ` (${what.join(', ')})` : ''}`;
}

/**
 * Text for the standard PDF fonts, which cover Windows-1252 only: other characters (and control
 * characters, which a hostile process name may carry) are written as \u{hex}, and a byte that was
 * not valid UTF-8 (see decodeExact) as \xNN, so nothing is silently dropped and nothing can move
 * the text around; a backslash is doubled, so that an escape and the same characters typed in a
 * name stay apart. Pure.
 */
export function pdfSafeText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    // A backslash doubled: else a name that holds the text \u{a} would print as one holding a line break.
    if (ch === '\\') out += '\\\\';
    else if ((cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp <= 0xff)) out += ch;
    else if (cp >= 0xdc80 && cp <= 0xdcff) out += `\\x${(cp - 0xdc00).toString(16)}`;
    else out += `\\u{${cp.toString(16)}}`;
  }
  return out;
}


function who(p: ProcessView | null): string {
  return p ? `${p.name} (pid ${p.pid}${p.user ? `, ${p.user}` : ''})` : 'no process attributed';
}

/** At most `limit` rows, then a pointer to the CSV that holds them all. */
function limited(rows: string[], limit: number, csv: string): string[] {
  return rows.length <= limit ? rows : [...rows.slice(0, limit), `... and ${rows.length - limit} more: every socket is in ${csv}`];
}

/** What the report says, in order. Pure. */
/**
 * What a monitoring period's window leaves out of the period asked for: the time before its first
 * snapshot and after its last, which no evidence covers. Null when they meet. Pure.
 */
export function periodUncovered(period: { from: string; to: string }, first: string, last: string, pruned: { seq: number; at: string; cutoff: string } | null = null): string | null {
  // The first snapshot stamped after the last: the clock was set back between them (the pack's
  // clock steps say by how much), and the stamps no longer tell how much of the period is covered.
  if (Date.parse(last) < Date.parse(first)) {
    return `The period asked for runs from ${when(period.from)} to ${when(period.to)}; its first snapshot was stamped ${when(first)} and its last ${when(last)}, earlier: the clock was set back between them (see the clock steps under monitoring continuity), so these times cannot tell how much of the period the evidence covers.`;
  }
  const before = Date.parse(first) - Date.parse(period.from);
  const after = Date.parse(period.to) - Date.parse(last);
  const parts = [
    ...(before > 1000 ? [`from ${when(period.from)} to the first snapshot (${duration(before / 1000)})`] : []),
    ...(after > 1000 ? [`from the last snapshot to ${when(period.to)} (${duration(after / 1000)})`] : []),
  ];
  if (parts.length === 0) return null;
  // The start of the period before a prune's cutoff: retention removed that evidence, by a record of the chain.
  const retention =
    before > 1000 && pruned !== null && Date.parse(period.from) < Date.parse(pruned.cutoff)
      ? ` A prune (record ${pruned.seq}, run ${when(pruned.at)}) removed the snapshots taken before ${when(pruned.cutoff)}: that part of the period was given up to retention, as the store's chain records.`
      : '';
  return `The period asked for runs from ${when(period.from)} to ${when(period.to)}; its first snapshot was taken at ${when(first)} and its last at ${when(last)}. No evidence in this pack covers the time ${parts.join(', nor ')}.${retention}`;
}

/**
 * A stored time as the report prints it: as the command line does (storedTime); the manifest
 * names the zone (timeZone), and evidence.json keeps every time exactly as stored.
 */
const when = (iso: string): string => storedTime(iso);

export function reportBlocks(input: ReportInput): Block[] {
  const findings = sortFindings(input.findings);
  const before = input.pre.snapshot;
  const after = input.post.snapshot;
  const limit = input.inventoryLimit ?? 40;
  const blocks: Block[] = [
    { kind: 'title', text: `Network change evidence: ${after.host.hostname}` },
    { kind: 'field', label: 'Host', value: `${after.host.hostname} (${after.host.platform}, kernel ${after.host.kernel})` },
    // A window compared across a rename (--allow-host-change): both names, as evidence.json has them.
    ...(before.host.hostname === after.host.hostname ? [] : [{ kind: 'field' as const, label: 'Host before', value: `${before.host.hostname} (the pre snapshot was taken under this name)` }]),
    { kind: 'field', label: 'Change', value: input.change ?? '(no ticket: a monitoring period)' },
    { kind: 'field', label: 'Window', value: `${when(before.takenAt)} to ${when(after.takenAt)}` },
    { kind: 'field', label: 'Generated', value: `${when(input.generatedAt)} by netmon ${input.netmonVersion}` },
    { kind: 'field', label: 'Pack', value: input.packId },
    { kind: 'field', label: 'Signer', value: `Ed25519 key ${input.signerFingerprint} signs manifest.json and SHA256SUMS; this PDF carries its own embedded signature` },
  ];

  // Executive summary.
  blocks.push({ kind: 'heading', text: 'Executive summary' });
  const bySeverity = [...SEVERITIES].reverse().map((sev) => [sev, findings.filter((f) => f.severity === sev).length] as const).filter(([, n]) => n > 0);
  const byApproval = (a: Finding['approval']) => findings.filter((f) => f.approval === a).length;
  const unexpected = byApproval('unexpected');
  const missing = byApproval('missing');
  const worst = findings.find((f) => f.approval !== 'approved');
  // A comparison narrowed to what both snapshots selected, or that left out what one side's
  // attribution cannot show, says so where its verdict is read, not only in the methodology.
  const narrowed = (input.selectionNotes ?? []).length > 0;
  const verdict =
    findings.length === 0
      ? narrowed
        ? 'No findings in what the two snapshots both let netmon compare: they were taken with different selections or attribution, and the comparison left out what one of them did not capture (Methodology and limitations says what).'
        : (input.outsideNotes ?? []).length > 0
          ? 'No findings in the two inventories; outside them, what the note below says changed.'
          : 'No findings: the network exposure after the window matches the exposure before it.'
      : unexpected + missing === 0
        ? `Every change in the window was approved by an expected-change entry (${count(findings.length, 'finding')}).`
        : `${count(unexpected, 'unexpected change')} and ${count(missing, 'approved change')} that did not happen need review; the most severe of them is ${worst!.severity}: ${worst!.summary}.`;
  blocks.push({ kind: 'text', text: verdict });
  // Listeners neither inventory holds (the ephemeral-port rule) that appeared or went: beside the verdict, not in the methodology.
  for (const note of input.outsideNotes ?? []) blocks.push({ kind: 'text', text: `Outside the inventories: ${note}.` });
  if (narrowed && findings.length > 0) blocks.push({ kind: 'text', text: 'The two snapshots were taken with different selections or attribution: the comparison left out what one of them did not capture (Methodology and limitations says what).' });
  if (input.expectedChanges !== undefined) {
    blocks.push({
      kind: 'field',
      label: 'Approvals',
      value: input.expectedChanges ? 'from the expected-changes file given to the report (--expect), in this pack as expected-changes.yaml' : 'none: no expected-changes file was given (--expect), so every change is unexpected',
    });
  }
  blocks.push({ kind: 'field', label: 'Findings by severity', value: bySeverity.length === 0 ? 'none' : bySeverity.map(([sev, n]) => `${n} ${sev}`).join(', ') });
  blocks.push({ kind: 'field', label: 'Findings by approval', value: `${byApproval('approved')} approved, ${unexpected} unexpected, ${missing} missing` });
  blocks.push({
    kind: 'field',
    label: 'Attribution coverage',
    value: `before ${coverageText(before.coverage)}, after ${coverageText(after.coverage)}${before.coverage.byReason['kernel-owned'] + after.coverage.byReason['kernel-owned'] > 0 ? '; kernel-owned sockets (TIME_WAIT and other closing states) have no owning process' : ''}`,
  });

  // Findings.
  blocks.push({ kind: 'heading', text: 'Findings' });
  if (findings.length === 0) blocks.push({ kind: 'text', text: 'None.' });
  for (const f of findings) {
    const lines = [f.summary];
    if (f.reasons.length > 0) lines.push(`Why: ${f.reasons.join('; ')}`);
    const approval = [f.expected?.justification, f.expected?.approvedBy ? `approver: ${f.expected.approvedBy}` : null].filter((part): part is string => typeof part === 'string' && part !== '');
    lines.push(`Kind: ${f.kind}. Approval: ${f.approval}${approval.length > 0 ? ` (${approval.join('; ')})` : ''}`);
    const primary = f.controls.filter((c) => c.role === 'primary' && !c.legacy);
    if (primary.length > 0) lines.push(`Controls: ${controlsLine(primary, 'primary')}`);
    lines.push(`Observed: before ${when(f.observed.before)}, after ${when(f.observed.after)}`);
    blocks.push({ kind: 'finding', head: `${f.id}  [${f.severity.toUpperCase()}]  ${f.title}`, lines });
  }

  // Control coverage: per framework, the controls this pack is evidence for and the findings behind each.
  blocks.push({ kind: 'heading', text: 'Control coverage' });
  // A control is primary when some finding cites it as primary; else it only supports (labelled
  // so). Each finding is listed in the role it cites the control in: one that only supports a
  // control another finding evidences is marked so.
  type Covered = { title: string; primary: string[]; supporting: string[] };
  const coverage = new Map<string, Map<string, Covered>>();
  for (const f of findings) {
    for (const c of f.controls) {
      if (c.legacy) continue;
      const framework = coverage.get(c.framework) ?? new Map<string, Covered>();
      coverage.set(c.framework, framework);
      const control = framework.get(c.id) ?? { title: c.title, primary: [], supporting: [] };
      framework.set(c.id, control);
      const list = c.role === 'primary' ? control.primary : control.supporting;
      if (!list.includes(f.id)) list.push(f.id);
    }
  }
  const coverageRow = (cid: string, c: Covered): string =>
    c.primary.length === 0 ? `${cid}  ${c.title} (supporting): ${c.supporting.join(', ')}` : `${cid}  ${c.title}: ${c.primary.join(', ')}${c.supporting.length > 0 ? `; supporting: ${c.supporting.join(', ')}` : ''}`;
  if (coverage.size === 0) blocks.push({ kind: 'text', text: `No findings, so no control is evidenced by a change; the inventories below still document the state before and after${(input.integrityControls ?? []).length > 0 ? ', and the pack itself is evidence for the controls under Evidence integrity' : ''}.` });
  for (const [id, controls] of [...coverage].sort(([a], [b]) => a.localeCompare(b))) {
    const fw = input.frameworks.get(id);
    const primary = [...controls.values()].filter((c) => c.primary.length > 0).length;
    blocks.push({ kind: 'field', label: fw ? `${fw.name}, version ${fw.version}` : id, value: `${count(primary, 'primary control')}${controls.size > primary ? `, ${controls.size - primary} supporting` : ''}` });
    blocks.push({
      kind: 'rows',
      rows: [...controls].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([cid, c]) => coverageRow(cid, c)),
    });
  }
  blocks.push({ kind: 'text', text: input.disclaimer });

  // Inventory.
  blocks.push({ kind: 'heading', text: 'Inventory' });
  const indexes = { pre: exposureIndex(input.pre.snapshot), post: exposureIndex(after) };
  for (const [name, index, csv] of [['Listeners before', indexes.pre, 'inventory-pre.csv'], ['Listeners after', indexes.post, 'inventory-post.csv']] as const) {
    const listeners = [...index.listeners.values()].sort((a, b) => a.port - b.port || a.address.localeCompare(b.address));
    blocks.push({ kind: 'field', label: name, value: count(listeners.length, 'listener') });
    if (listeners.length > 0) blocks.push({ kind: 'rows', rows: limited(listeners.map((l) => `${l.proto.padEnd(5)} ${formatEndpoint(l.address, l.port).padEnd(28)} ${who(l.process)}${l.namespace === 'host' ? '' : ` [${l.namespace}]`}`), limit, csv) });
  }
  const outbound = [...indexes.post.outbound.values()].sort((a, b) => b.connections - a.connections || a.remoteAddress.localeCompare(b.remoteAddress));
  blocks.push({ kind: 'field', label: 'Outbound destinations after', value: `${count(outbound.length, 'destination')} (connections aggregated by network namespace, executable and remote endpoint)` });
  if (outbound.length > 0) blocks.push({ kind: 'rows', rows: limited(outbound.map((o) => `${o.proto.padEnd(5)} ${formatEndpoint(o.remoteAddress, o.remotePort).padEnd(28)} x${String(o.connections).padEnd(4)} ${o.executable ?? who(o.process)}${o.namespace === undefined || o.namespace === 'host' ? '' : ` [${o.namespace}]`}`), limit, 'inventory-post.csv') });

  // Monitoring continuity and evidence integrity.
  blocks.push({ kind: 'heading', text: 'Monitoring continuity' });
  const uncovered = input.requestedPeriod ? periodUncovered(input.requestedPeriod, before.takenAt, after.takenAt, input.retention ?? null) : null;
  if (uncovered !== null) blocks.push({ kind: 'text', text: uncovered });
  blocks.push({
    kind: 'text',
    text:
      input.gaps.length === 0
        ? input.capture !== undefined && input.capture.between === 0 && input.capture.oneShotEdges
          ? `The window is two point-in-time captures (netmon --once) at ${when(before.takenAt)} and ${when(after.takenAt)}, with no capture between them: nothing ran to record a gap, and what opened and closed again between the two is not in this evidence.`
          : `The evidence store records no capture gap (unclean stop or time without a running capture) between ${when(before.takenAt)} and ${when(after.takenAt)}${input.capture !== undefined && input.capture.between > 0 ? ` (${count(input.capture.between, 'snapshot')} stored between the two compared here)` : ''}.`
        : `The evidence store records ${count(input.gaps.length, 'capture gap')} inside the window; changes that came and went inside a gap are not in this evidence:`,
  });
  if (input.gaps.length > 0) blocks.push({ kind: 'rows', rows: input.gaps.map((g) => `${when(g.from)} to ${when(g.to)}  ${g.reason}: ${gapReason(g.reason)}`) });
  const steps = input.clockSteps ?? [];
  if (steps.length > 0) {
    blocks.push({
      kind: 'text',
      text: `The system clock was set ${count(steps.length, 'time')} in the window, by the time since boot (a step is not a gap in itself; gaps are listed above); the times of the snapshots after each step are shifted by it:`,
    });
    blocks.push({ kind: 'rows', rows: steps.map((c) => `${when(c.at)}  ${clockStepWords(c.stepMs)}`) });
  }
  blocks.push({ kind: 'heading', text: 'Evidence integrity' });
  blocks.push({ kind: 'field', label: 'Evidence store', value: input.store.path });
  blocks.push({ kind: 'field', label: 'Hash chain', value: `verified at report time; head ${input.store.headHash ?? '(empty)'}` });
  const integrity = (input.integrityControls ?? []).filter((c) => c.role === 'primary' && !c.legacy);
  if (integrity.length > 0) blocks.push({ kind: 'field', label: 'Controls', value: `this pack, a verified hash chain and signed files, is evidence for ${controlsLine(integrity, 'primary')}` });
  for (const [name, side] of [['Before', input.pre], ['After', input.post]] as const) {
    blocks.push({ kind: 'field', label: name, value: `snapshot ${side.id}${side.label ? ` (${side.label})` : ''} at ${when(side.snapshot.takenAt)}: ${count(side.snapshot.sockets.length, 'socket')}, ${count(side.snapshot.processes.length, 'process', 'processes')}; record hash ${side.recordHash}` });
  }

  // Methodology and limitations.
  blocks.push({ kind: 'heading', text: 'Methodology and limitations' });
  blocks.push({
    kind: 'text',
    text: 'Each snapshot reads the kernel socket tables of every network namespace and attributes sockets to processes through their open descriptors; executables are hashed (SHA-256, BLAKE3) when hashing was on. Snapshots are appended to a hash-chained SQLite evidence store. A snapshot is a point in time: connections that opened and closed between captures are not seen.',
  });
  for (const [name, side] of [['Before', before], ['After', after]] as const) {
    const reasons = Object.entries(side.coverage.byReason).filter(([, n]) => n > 0).map(([r, n]) => `${n} ${r}`);
    const notes = [
      privilegeText(side),
      reasons.length > 0 ? `unattributed sockets: ${reasons.join(', ')}` : 'every socket attributed',
      side.selection.hashBinaries ? 'executables hashed' : 'executables NOT hashed',
      side.selection.listeningOnly ? 'listeners only' : 'listeners and connections',
      side.selection.families.length === 1 ? `${side.selection.families[0]} only` : 'IPv4 and IPv6',
      side.selection.includeEphemeral ? 'listeners on ephemeral ports included' : `listeners on ephemeral ports${side.selection.ephemeralPortRange ? ` (${side.selection.ephemeralPortRange.join('-')})` : ''} left out`,
      Object.values(side.selection.filters).some((v) => Array.isArray(v) && v.length > 0) ? `selected by ${filterFlags(side.selection.filters)}` : 'no filter',
      ...side.warnings.map((w) => `warning ${w.code}: ${w.message}`),
    ];
    blocks.push({ kind: 'field', label: name, value: notes.join('; ') });
  }
  for (const note of input.selectionNotes ?? []) blocks.push({ kind: 'text', text: `Left out of the comparison: ${note}.` });

  blocks.push({ kind: 'heading', text: 'How to verify' });
  blocks.push({
    kind: 'text',
    text: 'Check this PDF\'s embedded signature with `pdfsig report.pdf` or a PDF reader. The pack lists every file with its SHA-256 in manifest.json, signed with Ed25519; SHA256SUMS is signed too (SHA256SUMS.sig), and VERIFY.md in the pack gives the openssl and sha256sum commands. The complete data is in evidence.json and the CSV files of the pack.',
  });
  return blocks;
}

/** Lay out the blocks with pdfkit and sign the result (PAdES baseline, ETSI.CAdES.detached). */
export async function renderSignedPdf(blocks: readonly Block[], meta: { title: string; header: string; signingTime: Date }, identity: CadesIdentity): Promise<Buffer> {
  const require = createRequire(import.meta.url);
  const PDFDocument = require('pdfkit') as typeof PDFKit;
  const { pdfkitAddPlaceholder } = require('@signpdf/placeholder-pdfkit') as typeof import('@signpdf/placeholder-pdfkit');
  const { Signer, SUBFILTER_ETSI_CADES_DETACHED } = require('@signpdf/utils') as { Signer: new () => object; SUBFILTER_ETSI_CADES_DETACHED: string };
  const signpdf = (require('@signpdf/signpdf') as { default: typeof import('@signpdf/signpdf').default }).default;

  const doc = new PDFDocument({ size: 'A4', margins: { top: 60, bottom: 60, left: 56, right: 56 }, bufferPages: true, info: { Title: pdfSafeText(meta.title), Creator: 'netmon', Producer: 'netmon' } });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    doc.on('end', resolve);
    doc.on('error', reject);
  });
  const width = doc.page.width - 112;
  for (const b of blocks) {
    switch (b.kind) {
      case 'title':
        doc.font('Helvetica-Bold').fontSize(16).text(pdfSafeText(b.text), { width });
        doc.moveDown(0.6);
        break;
      case 'heading':
        doc.moveDown(0.6).font('Helvetica-Bold').fontSize(12).text(pdfSafeText(b.text), { width });
        doc.moveDown(0.3);
        break;
      case 'text':
        doc.font('Helvetica').fontSize(9.5).text(pdfSafeText(b.text), { width });
        doc.moveDown(0.4);
        break;
      case 'field':
        doc.font('Helvetica-Bold').fontSize(9.5).text(`${pdfSafeText(b.label)}: `, { continued: true, width }).font('Helvetica').text(pdfSafeText(b.value), { width });
        break;
      case 'rows':
        doc.font('Courier').fontSize(7.5);
        for (const row of b.rows) doc.text(pdfSafeText(row), { width, indent: 6 });
        doc.moveDown(0.4);
        break;
      case 'finding':
        if (doc.y > doc.page.height - 140) doc.addPage();
        doc.font('Helvetica-Bold').fontSize(9.5).text(pdfSafeText(b.head), { width });
        doc.font('Helvetica').fontSize(9);
        for (const line of b.lines) doc.text(pdfSafeText(line), { width, indent: 12 });
        doc.moveDown(0.5);
        break;
    }
  }
  // Header and "page N of M" footer on every page, once the page count is known.
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc.font('Helvetica').fontSize(8).fillColor('#555555');
    doc.text(pdfSafeText(meta.header), 56, 30, { width, lineBreak: false });
    doc.text(`Page ${i - range.start + 1} of ${range.count}`, 56, doc.page.height - 40, { width, align: 'right', lineBreak: false });
    doc.fillColor('black');
    doc.page.margins.bottom = bottom;
  }
  doc.switchToPage(range.start + range.count - 1);
  pdfkitAddPlaceholder({ pdf: doc, pdfBuffer: Buffer.alloc(0), reason: 'netmon evidence pack', contactInfo: '', name: 'netmon', location: '', signingTime: meta.signingTime, signatureLength: 8192, subFilter: SUBFILTER_ETSI_CADES_DETACHED });
  doc.end();
  await ended;
  // A PAdES baseline signature: the CMS is built by pki.ts; @signpdf fills the placeholder.
  class PadesSigner extends Signer {
    sign(content: Buffer): Promise<Buffer> {
      return Promise.resolve(cadesDetachedSignature(content, identity));
    }
  }
  return signpdf.sign(Buffer.concat(chunks), new PadesSigner() as never, meta.signingTime);
}
