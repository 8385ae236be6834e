import { createRequire } from 'node:module';
import type PDFKit from 'pdfkit';
import type { Finding } from '../findings/evaluate-findings.js';
import { sortFindings } from '../outputs/findings.js';

/**
 * The PDF report of an evidence pack. `reportBlocks` (pure) decides what the report says;
 * `renderSignedPdf` is the adapter to pdfkit and @signpdf that lays the blocks out and embeds a
 * PKCS#7 signature that `pdfsig` and PDF readers check.
 */

export type Block =
  | { kind: 'title'; text: string }
  | { kind: 'heading'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'field'; label: string; value: string }
  | { kind: 'finding'; head: string; lines: string[] };

export interface ReportInput {
  hostname: string;
  change: string | null;
  generatedAt: string;
  netmonVersion: string;
  pre: { id: number; takenAt: string; label: string | null; sockets: number; processes: number; recordHash: string };
  post: { id: number; takenAt: string; label: string | null; sockets: number; processes: number; recordHash: string };
  findings: readonly Finding[];
  signerFingerprint: string;
  disclaimer: string;
}

/**
 * Text for the standard PDF fonts, which cover Windows-1252 only: other characters (and control
 * characters, which a hostile process name may carry) are written as \u{hex}, so nothing is
 * silently dropped and nothing can move the text around. Pure.
 */
export function pdfSafeText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out += (cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp <= 0xff) ? ch : `\\u{${cp.toString(16)}}`;
  }
  return out;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'] as const;

/** What the report says, in order. Pure. */
export function reportBlocks(input: ReportInput): Block[] {
  const findings = sortFindings(input.findings);
  const blocks: Block[] = [
    { kind: 'title', text: `Network change evidence: ${input.hostname}` },
    { kind: 'field', label: 'Change', value: input.change ?? '(none given)' },
    { kind: 'field', label: 'Window', value: `${input.pre.takenAt} to ${input.post.takenAt}` },
    { kind: 'field', label: 'Generated', value: `${input.generatedAt} by netmon ${input.netmonVersion}` },
    { kind: 'field', label: 'Signer', value: `Ed25519 ${input.signerFingerprint} (manifest) and the embedded PDF signature` },
    { kind: 'heading', text: 'Summary' },
  ];
  const counts = SEVERITY_ORDER.map((s) => [s, findings.filter((f) => f.severity === s).length] as const).filter(([, n]) => n > 0);
  const unapproved = findings.filter((f) => f.approval !== 'approved').length;
  blocks.push({
    kind: 'text',
    text:
      findings.length === 0
        ? 'No findings: the network exposure after the window matches the exposure before it.'
        : `${findings.length} ${findings.length === 1 ? 'finding' : 'findings'} (${counts.map(([s, n]) => `${n} ${s}`).join(', ')}); ${unapproved} not approved by an expected-change entry.`,
  });
  blocks.push({ kind: 'heading', text: 'Snapshots compared' });
  for (const [name, s] of [['Before', input.pre], ['After', input.post]] as const) {
    blocks.push({ kind: 'field', label: name, value: `snapshot ${s.id}${s.label ? ` (${s.label})` : ''} at ${s.takenAt}: ${plural(s.sockets, 'socket')}, ${plural(s.processes, 'process', 'processes')}; record hash ${s.recordHash}` });
  }
  blocks.push({ kind: 'heading', text: 'Findings' });
  if (findings.length === 0) blocks.push({ kind: 'text', text: 'None.' });
  for (const f of findings) {
    const lines = [f.summary];
    if (f.reasons.length > 0) lines.push(`Why: ${f.reasons.join('; ')}`);
    lines.push(`Approval: ${f.approval}${f.expected?.justification ? ` (${f.expected.justification})` : ''}`);
    const primary = f.controls.filter((c) => c.role === 'primary' && !c.legacy);
    if (primary.length > 0) lines.push(`Controls: ${primary.map((c) => `${c.framework} ${c.id}`).join('; ')}`);
    lines.push(`Observed: before ${f.observed.before}, after ${f.observed.after}`);
    blocks.push({ kind: 'finding', head: `${f.id}  [${f.severity.toUpperCase()}]  ${f.title}`, lines });
  }
  blocks.push({ kind: 'heading', text: 'How to verify' });
  blocks.push({
    kind: 'text',
    text: 'This PDF carries an embedded signature (check it with `pdfsig report.pdf` or a PDF reader). The pack it belongs to lists every file with its SHA-256 in manifest.json, signed with Ed25519; VERIFY.md in the pack gives the openssl and sha256sum commands. The full data is in evidence.json and the CSV files of the pack.',
  });
  blocks.push({ kind: 'text', text: input.disclaimer });
  return blocks;
}

export interface PdfIdentity {
  p12: Buffer;
  passphrase: string;
}

/** Lay out the blocks with pdfkit and sign the result (PKCS#7 detached, adbe.pkcs7.detached). */
export async function renderSignedPdf(blocks: readonly Block[], meta: { title: string; header: string; signingTime: Date }, identity: PdfIdentity): Promise<Buffer> {
  const require = createRequire(import.meta.url);
  const PDFDocument = require('pdfkit') as typeof PDFKit;
  const { pdfkitAddPlaceholder } = require('@signpdf/placeholder-pdfkit') as typeof import('@signpdf/placeholder-pdfkit');
  const { P12Signer } = require('@signpdf/signer-p12') as typeof import('@signpdf/signer-p12');
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
  pdfkitAddPlaceholder({ pdf: doc, pdfBuffer: Buffer.alloc(0), reason: 'netmon evidence pack', contactInfo: '', name: 'netmon', location: '', signingTime: meta.signingTime, signatureLength: 8192 });
  doc.end();
  await ended;
  return signpdf.sign(Buffer.concat(chunks), new P12Signer(identity.p12, { passphrase: identity.passphrase }), meta.signingTime);
}
