import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../src/diff/diff-snapshots.js';
import { loadControlsCatalogue } from '../../src/findings/controls.js';
import { evaluateFindings } from '../../src/findings/evaluate-findings.js';
import { pdfSafeText, renderSignedPdf, reportBlocks, type ReportInput } from '../../src/pack/pdf-report.js';
import { checkPdfSignature, createPdfIdentity, openP12 } from '../../src/pack/pki.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';
import { haveCommand, skipWithReason } from '../helpers/processes.js';

// The report prints local time with its offset: here UTC, +00:00.
process.env.TZ = 'UTC';
import { opensslIdentity } from '../helpers/identities.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-pdf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOSTILE = 'evil\u202egnp.exe\nFAKE: approved\u0007 \u{1F600} Ω';

function input(listeners: number): ReportInput {
  const web = makeProcess({ pid: 100 });
  const hostile = makeProcess({ pid: 200, name: HOSTILE, commandLine: [HOSTILE, `--token=${'x'.repeat(400)}`], executable: `/tmp/${'very-long-directory-name-'.repeat(12)}/bin/agent` });
  const after = Array.from({ length: listeners }, (_, i) => makeSocket({ localPort: 20000 + i, inode: 5000 + i, owners: [{ pid: 200, fd: 3 + i }] }));
  const pre = makeSnapshot({ sockets: [makeSocket()], processes: [web], takenAt: new Date('2026-11-23T01:00:00.000Z') });
  const post = makeSnapshot({ sockets: [makeSocket(), ...after], processes: [web, hostile], takenAt: new Date('2026-11-23T01:30:00.000Z') });
  const catalogue = loadControlsCatalogue();
  const findings = evaluateFindings(diffSnapshots(pre, post), catalogue);
  return {
    packId: 'db01-CHG-9-20261123T020000Z',
    change: 'CHG-9',
    generatedAt: '2026-11-23T02:00:00.000Z',
    netmonVersion: '0.0.0',
    pre: { id: 2, label: 'pre', recordHash: 'ab'.repeat(32), snapshot: pre },
    post: { id: 4, label: 'post', recordHash: 'ef'.repeat(32), snapshot: post },
    findings,
    signerFingerprint: 'cd'.repeat(32),
    frameworks: catalogue.frameworks,
    disclaimer: 'Mappings are guidance.',
    gaps: [],
    store: { path: '/var/lib/netmon/netmon.db', headHash: '12'.repeat(32) },
  };
}

describe('pdfSafeText', () => {
  it('keeps Windows-1252 text and writes everything else as \\u{hex}', () => {
    expect(pdfSafeText('plain ASCII, Zürich café ±')).toBe('plain ASCII, Zürich café ±');
    expect(pdfSafeText(HOSTILE)).toBe('evil\\u{202e}gnp.exe\\u{a}FAKE: approved\\u{7} \\u{1f600} \\u{3a9}');
  });

  it('writes a byte that was not valid UTF-8 as \\xNN', () => {
    expect(pdfSafeText('no\udcff\udcfede')).toBe('no\\xff\\xfede');
    // A name that holds the text of an escape stays apart from one that holds the character.
    expect(pdfSafeText('nl\\u{a}X')).toBe('nl\\\\u{a}X');
    expect(pdfSafeText('nl\nX')).toBe('nl\\u{a}X');
  });
});

describe('reportBlocks', () => {
  it('lists every finding with its id and severity, worst first, with the window and snapshots', () => {
    const i = input(2);
    const blocks = reportBlocks(i);
    const findings = blocks.filter((b) => b.kind === 'finding');
    expect(findings).toHaveLength(i.findings.length);
    for (const f of i.findings) expect(findings.some((b) => b.kind === 'finding' && b.head.startsWith(f.id))).toBe(true);
    expect(blocks).toContainEqual({ kind: 'field', label: 'Window', value: '2026-11-23T01:00:00+00:00 to 2026-11-23T01:30:00+00:00' });
    expect(blocks).toContainEqual({ kind: 'field', label: 'Findings by approval', value: `0 approved, ${i.findings.length} unexpected, 0 missing` });
    const headings = blocks.filter((b) => b.kind === 'heading').map((b) => (b as { text: string }).text);
    expect(headings).toEqual(['Executive summary', 'Findings', 'Control coverage', 'Inventory', 'Monitoring continuity', 'Evidence integrity', 'Methodology and limitations', 'How to verify']);
  });

  it('states the attribution coverage of each side with the kernel-owned sockets no process can own', () => {
    const i = input(1);
    const timeWait = makeSocket({ localAddress: '10.0.0.5', localPort: 443, remoteAddress: '203.0.113.9', remotePort: 40001, state: 'TIME_WAIT', listening: false, inode: 0, uid: 0, owners: [], unattributed: 'kernel-owned' });
    const post = makeSnapshot({ sockets: [...i.post.snapshot.sockets, timeWait], processes: i.post.snapshot.processes, takenAt: new Date(i.post.snapshot.takenAt) });
    const blocks = reportBlocks({ ...i, post: { ...i.post, snapshot: post } });
    expect(blocks).toContainEqual({ kind: 'field', label: 'Attribution coverage', value: 'before 100.0% of 1 socket, after 100.0% of the 2 sockets a process can own (3 in all, 1 kernel-owned); kernel-owned sockets (TIME_WAIT and other closing states) have no owning process' });
  });

  it('lists control coverage per framework with the findings behind each control', () => {
    const i = input(1);
    const blocks = reportBlocks(i);
    const listener = i.findings.find((f) => f.kind === 'listener-opened')!;
    const primary = listener.controls.find((c) => c.role === 'primary' && !c.legacy)!;
    const fw = i.frameworks.get(primary.framework)!;
    const at = blocks.findIndex((b) => b.kind === 'field' && b.label.startsWith(fw.name));
    expect(at).toBeGreaterThan(0);
    const rows = blocks[at + 1] as { kind: 'rows'; rows: string[] };
    expect(rows.rows.some((r) => r.startsWith(`${primary.id}  `) && r.includes(listener.id))).toBe(true);
  });

  it('marks the findings that only support a control another finding evidences (an auditor probe: they were listed as primary)', () => {
    const i = input(1);
    const listener = i.findings.find((f) => f.kind === 'listener-opened')!;
    const primary = listener.controls.find((c) => c.role === 'primary' && !c.legacy)!;
    const supporting = { ...listener, id: 'NM-00000000000b', controls: listener.controls.map((c) => (c.key === primary.key ? { ...c, role: 'supporting' as const } : c)) };
    const blocks = reportBlocks({ ...i, findings: [listener, supporting] });
    const fw = i.frameworks.get(primary.framework)!;
    const at = blocks.findIndex((b) => b.kind === 'field' && b.label.startsWith(fw.name));
    const rows = (blocks[at + 1] as { kind: 'rows'; rows: string[] }).rows;
    expect(rows.find((r) => r.startsWith(`${primary.id}  `))).toBe(`${primary.id}  ${primary.title}: ${listener.id}; supporting: NM-00000000000b`);
    // Only supporting findings: the control is labelled supporting.
    const alone = reportBlocks({ ...i, findings: [supporting] });
    const rowsAlone = (alone[alone.findIndex((b) => b.kind === 'field' && b.label.startsWith(fw.name)) + 1] as { kind: 'rows'; rows: string[] }).rows;
    expect(rowsAlone.find((r) => r.startsWith(`${primary.id}  `))).toBe(`${primary.id}  ${primary.title} (supporting): NM-00000000000b`);
  });

  it('shows at most inventoryLimit rows per list and points to the CSV for the rest', () => {
    const blocks = reportBlocks({ ...input(30), inventoryLimit: 10 });
    const after = blocks.findIndex((b) => b.kind === 'field' && b.label === 'Listeners after');
    expect(blocks[after]).toMatchObject({ value: '31 listeners' });
    const rows = (blocks[after + 1] as { rows: string[] }).rows;
    expect(rows).toHaveLength(11);
    expect(rows[10]).toBe('... and 21 more: every socket is in inventory-post.csv');
  });

  it('names capture gaps inside the window', () => {
    const blocks = reportBlocks({ ...input(1), gaps: [{ from: '2026-11-23T01:05:00.000Z', to: '2026-11-23T01:10:00.000Z', reason: 'unclean-stop' }] });
    expect(blocks).toContainEqual({ kind: 'rows', rows: ['2026-11-23T01:05:00+00:00 to 2026-11-23T01:10:00+00:00  unclean-stop: the previous capture stopped without closing the store'] });
  });

  it('names the clock steps the store recorded inside the window, as shifts of the snapshot times, not as gaps', () => {
    const blocks = reportBlocks({ ...input(1), clockSteps: [{ at: '2026-11-23T01:15:00.000Z', stepMs: 600_000 }, { at: '2026-11-23T01:06:00.000Z', stepMs: -599_800 }] });
    expect(blocks).toContainEqual({ kind: 'text', text: 'The system clock was set 2 times in the window, by the time since boot (a step is not a gap in itself; gaps are listed above); the times of the snapshots after each step are shifted by it:' });
    expect(blocks).toContainEqual({ kind: 'rows', rows: ['2026-11-23T01:15:00+00:00  set forward by about 10m 0s', '2026-11-23T01:06:00+00:00  set back by about 10m 0s'] });
    expect(JSON.stringify(reportBlocks(input(1)))).not.toContain('system clock');
  });

  it('says in words why each gap was recorded, a pause inside a running capture too', () => {
    const gaps = [
      { from: '2026-11-23T01:05:00.000Z', to: '2026-11-23T01:06:00.000Z', reason: 'not-running' },
      { from: '2026-11-23T01:07:00.000Z', to: '2026-11-23T01:08:00.000Z', reason: 'paused' },
    ];
    expect(reportBlocks({ ...input(1), gaps })).toContainEqual({
      kind: 'rows',
      rows: [
        '2026-11-23T01:05:00+00:00 to 2026-11-23T01:06:00+00:00  not-running: no capture was running',
        '2026-11-23T01:07:00+00:00 to 2026-11-23T01:08:00+00:00  paused: the capture did not run: the system was suspended, or the process was stopped or got no CPU',
      ],
    });
  });

  it('says "No findings" for an unchanged window', () => {
    const blocks = reportBlocks({ ...input(0), findings: [] });
    expect(blocks.some((b) => b.kind === 'text' && b.text === 'No findings: the network exposure after the window matches the exposure before it.')).toBe(true);
  });

  it('says why a side was not captured with full privilege: attribution not requested, or what could not be read (an auditor probe read "0 processes unreadable")', () => {
    const i = input(1);
    const post = { ...i.post.snapshot, selection: { ...i.post.snapshot.selection, processInfo: false }, coverage: { ...i.post.snapshot.coverage, privileged: false, processesDenied: 0 } };
    const blocks = reportBlocks({ ...i, post: { ...i.post, snapshot: post } });
    const after = [...blocks].reverse().find((b) => b.kind === 'field' && b.label === 'After') as { value: string };
    expect(after.value).toMatch(/^processes not read \(--no-process-info\): no socket attributed to a process;/);
    const unread = { ...i.pre.snapshot, coverage: { ...i.pre.snapshot.coverage, privileged: false, processesDenied: 3 }, namespaces: [...i.pre.snapshot.namespaces, { inode: 4026532001, name: null, host: false, processes: 1, sockets: 0, read: false }] };
    const before = [...reportBlocks({ ...i, pre: { ...i.pre, snapshot: unread } })].reverse().find((b) => b.kind === 'field' && b.label === 'Before') as { value: string };
    expect(before.value).toMatch(/^captured WITHOUT full privilege \(3 processes unreadable, 1 network namespace not read\);/);
  });

  it('names who approved an approved finding beside its justification', () => {
    const base = input(1);
    const [first, ...rest] = base.findings;
    const approved = { ...first!, approval: 'approved' as const, expected: { action: 'open' as const, pattern: 'tcp:20000', path: null, justification: 'agent port', approvedBy: 'J. Doe, CAB of 2026-11-20', line: 4, source: 'expected-changes.yaml' } };
    const blocks = reportBlocks({ ...base, findings: [approved, ...rest] });
    const block = blocks.find((b) => b.kind === 'finding' && b.head.startsWith(approved.id)) as { lines: string[] } | undefined;
    expect(block?.lines).toContain(`Kind: ${approved.kind}. Approval: approved (agent port; approver: J. Doe, CAB of 2026-11-20)`);
  });

  it('says in its verdict that a comparison was narrowed, not that the exposure matches (an auditor probe), and where approvals came from', () => {
    const notes = ['the post snapshot was taken with --filter :8001: the pre snapshot is compared only in the sockets that selection keeps'];
    const none = reportBlocks({ ...input(0), findings: [], selectionNotes: notes, expectedChanges: false });
    const texts = none.filter((b) => b.kind === 'text').map((b) => (b as { text: string }).text);
    expect(texts.some((t) => t.startsWith('No findings in what the two snapshots both let netmon compare'))).toBe(true);
    expect(texts.some((t) => t.includes('matches the exposure before it'))).toBe(false);
    expect(none).toContainEqual({ kind: 'field', label: 'Approvals', value: 'none: no expected-changes file was given (--expect), so every change is unexpected' });
    const some = reportBlocks({ ...input(1), selectionNotes: notes, expectedChanges: true });
    expect(some.some((b) => b.kind === 'text' && b.text.startsWith('The two snapshots were taken with different selections or attribution'))).toBe(true);
    expect(some).toContainEqual({ kind: 'field', label: 'Approvals', value: 'from the expected-changes file given to the report (--expect), in this pack as expected-changes.yaml' });
  });
});

const skip = skipWithReason(!haveCommand('pdfsig') || !haveCommand('pdftotext'), 'PDF rendering tests: need pdfsig and pdftotext (poppler-utils)');

describe.skipIf(skip)('renderSignedPdf', () => {
  it('renders many findings over several pages with page N of M, hostile names escaped, and a valid signature', async () => {
    const i = input(60);
    const pdf = await renderSignedPdf(reportBlocks(i), { title: 'netmon evidence db01', header: 'netmon evidence pack db01-CHG-9-20261123T020000Z', signingTime: new Date('2026-11-23T02:00:00Z') }, openP12(createPdfIdentity().p12, ''));
    const file = join(dir, 'many.pdf');
    writeFileSync(file, pdf);
    const text = spawnSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' }).stdout;
    const pages = text.split('\f').filter((p) => p.trim() !== '');
    expect(pages.length).toBeGreaterThan(2);
    pages.forEach((p, n) => {
      expect(p).toContain(`Page ${n + 1} of ${pages.length}`);
      expect(p).toContain('netmon evidence pack db01-CHG-9-20261123T020000Z');
    });
    for (const f of i.findings) expect(text).toContain(f.id);
    // The hostile name cannot break a line or fake a field: it shows escaped.
    expect(text).toContain('evil\\u{202e}gnp.exe\\u{a}FAKE: approved\\u{7}');
    expect(text).not.toMatch(/^FAKE: approved/m);
    expect(text).toContain('very-long-directory-name-very-long');
    const sig = spawnSync('pdfsig', [file], { encoding: 'utf8' }).stdout;
    expect(sig).toContain('Signature is Valid.');
    expect(sig).toContain('Total document signed');

    // No word outside the margins on any page, long unbreakable paths and hashes included.
    const bbox = spawnSync('pdftotext', ['-bbox', file, '-'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
    const pageSizes = [...bbox.matchAll(/<page width="([\d.]+)" height="([\d.]+)">/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    expect(pageSizes.length).toBe(pages.length);
    let words = 0;
    for (const [n, pageHtml] of bbox.split('<page ').slice(1).entries()) {
      const [w, h] = pageSizes[n]!;
      for (const m of pageHtml.matchAll(/<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">/g)) {
        const [x0, y0, x1, y1] = m.slice(1, 5).map(Number) as [number, number, number, number];
        words++;
        expect(x0, `page ${n + 1}`).toBeGreaterThanOrEqual(20);
        expect(y0, `page ${n + 1}`).toBeGreaterThanOrEqual(20);
        expect(x1, `page ${n + 1}`).toBeLessThanOrEqual(w - 20);
        expect(y1, `page ${n + 1}`).toBeLessThanOrEqual(h - 20);
      }
    }
    expect(words).toBeGreaterThan(500);
  });

  /** An identity of `kind`: the keygen one (RSA, made by node-forge), or an EC P-256 one made by openssl. Its PKCS#12 and certificate PEM. */
  function identityOf(kind: 'rsa' | 'ec'): { p12: Buffer; passphrase: string; certPem: string } {
    if (kind === 'rsa') return { ...createPdfIdentity('PAdES test signer'), passphrase: '' };
    const { crt, p12 } = opensslIdentity(dir, 'ec', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'PAdES EC signer', 'ec');
    return { p12: readFileSync(p12), passphrase: 'ec', certPem: readFileSync(crt, 'utf8') };
  }

  it.for([
    ['rsa', 'rsaEncryption'],
    ['ec', 'ecdsa-with-SHA256'],
  ] as const)('signs as PAdES baseline with an %s key: ETSI.CAdES.detached, a CMS that openssl verifies (%s), signing-certificate-v2, no signing-time; netmon reads it back', async ([kind, algorithm], { skip }) => {
    if (!haveCommand('openssl')) return skip('openssl not installed');
    const identity = identityOf(kind);
    const pdf = await renderSignedPdf(reportBlocks(input(2)), { title: 't', header: 'h', signingTime: new Date() }, openP12(identity.p12, identity.passphrase));
    const text = pdf.toString('latin1');
    expect(text).toContain('/SubFilter /ETSI.CAdES.detached');
    const m = /\/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(text.slice(text.lastIndexOf('/ByteRange')))!;
    const [, len1, start2, len2] = m.slice(1).map(Number) as [number, number, number, number];
    const contents = Buffer.from(text.slice(len1 + 1, start2 - 1), 'hex');
    // The DER length of the CMS (the rest of /Contents is zero padding).
    const lengthBytes = contents[1]! & 0x7f;
    const derLength = (contents[1]! & 0x80 ? contents.subarray(2, 2 + lengthBytes).reduce((n, b) => n * 256 + b, 0) + 2 + lengthBytes : contents[1]! + 2);
    writeFileSync(join(dir, 'cms.der'), contents.subarray(0, derLength));
    writeFileSync(join(dir, 'signed.bin'), Buffer.concat([pdf.subarray(0, len1), pdf.subarray(start2, start2 + len2)]));
    writeFileSync(join(dir, 'signer.pem'), identity.certPem);
    const verify = spawnSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', join(dir, 'cms.der'), '-content', join(dir, 'signed.bin'), '-CAfile', join(dir, 'signer.pem'), '-purpose', 'any', '-out', '/dev/null'], { encoding: 'utf8' });
    expect(verify.stderr).toContain('Verification successful');
    const printed = spawnSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', join(dir, 'cms.der')], { encoding: 'utf8' }).stdout;
    expect(printed).toContain('1.2.840.113549.1.9.16.2.47');
    expect(printed).toContain(algorithm);
    expect(printed).not.toContain('signingTime');
    // netmon's own check (netmon verify) reads the same signature, and names a changed byte.
    const checked = checkPdfSignature(pdf);
    expect(checked.problem).toBeNull();
    expect(checked.certificatePem?.replace(/\s+/g, '')).toBe(identity.certPem.replace(/\s+/g, ''));
    const changed = Buffer.from(pdf);
    changed[len1 - 10] = changed[len1 - 10]! ^ 1;
    expect(checkPdfSignature(changed).problem).toMatch(/no longer matches the digest|cannot be read/);
  });

  it('page 1 renders with visible content (pdftoppm)', async ({ skip }) => {
    if (!haveCommand('pdftoppm')) return skip('pdftoppm (poppler-utils) not installed');
    const file = join(dir, 'page1.pdf');
    writeFileSync(file, await renderSignedPdf(reportBlocks(input(3)), { title: 't', header: 'h', signingTime: new Date() }, openP12(createPdfIdentity().p12, '')));
    expect(spawnSync('pdftoppm', ['-r', '40', '-gray', '-f', '1', '-l', '1', file, join(dir, 'page')], { encoding: 'utf8' }).status).toBe(0);
    const pgm = readFileSync(join(dir, readdirSync(dir).find((f) => f.startsWith('page') && f.endsWith('.pgm'))!));
    // P5 header: "P5\n<w> <h>\n<max>\n", then one byte per pixel.
    const header = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(pgm.subarray(0, 40).toString('latin1'))!;
    const pixels = pgm.subarray(header[0].length);
    expect(pixels.length).toBe(Number(header[1]) * Number(header[2]));
    const dark = pixels.filter((v) => v < 128).length;
    expect(dark / pixels.length).toBeGreaterThan(0.005);
  });
});
