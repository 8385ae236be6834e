import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { diffSnapshots } from '../diff/diff-snapshots.js';
import { ExitError, StoreError, VerificationError } from '../errors.js';
import { loadControlsCatalogue } from '../findings/controls.js';
import { evaluateFindings } from '../findings/evaluate-findings.js';
import { loadExpectedChanges } from '../findings/expected-changes.js';
import { verifyPack, writePack } from '../pack/pack.js';
import { evidenceJson, findingsCsv, inventoryCsv } from '../pack/report-files.js';
import { generateSigningKeys, loadSigner } from '../pack/signing.js';
import { EvidenceStore } from '../store/evidence-store.js';
import { NETMON_VERSION } from '../version.js';
import { selectSnapshot } from './diff-command.js';
import type { CliIo } from './program.js';

/** `netmon keygen` */
export function runKeygen(flags: { keys: string }, io: CliIo): void {
  const keys = generateSigningKeys(flags.keys);
  io.stdout(`fingerprint ${keys.fingerprint}\n`);
  io.stderr(`netmon: wrote ${keys.privateKeyPath} (private, mode 0600, never copied into a pack) and ${keys.publicKeyPath}\n`);
}

export interface ReportFlags {
  change?: string;
  pre?: string;
  post?: string;
  db: string;
  out: string;
  keys: string;
  expect?: string;
  controls?: string;
}

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** `netmon report`: a signed evidence pack of a maintenance window. */
export function runReport(flags: ReportFlags, io: CliIo): void {
  const signer = loadSigner(flags.keys);
  const catalogue = loadControlsCatalogue(flags.controls);
  const expected = flags.expect === undefined ? null : loadExpectedChanges(flags.expect);
  if (!existsSync(flags.db)) throw new StoreError('E_STORE_MISSING', `there is no evidence store at ${flags.db}`, { hint: 'capture with `netmon --once --label pre --change TICKET` first' });
  const store = EvidenceStore.open(flags.db, { readonly: true });
  try {
    const verified = store.verify();
    if (!verified.ok) throw new VerificationError('E_VERIFY', `the evidence store ${flags.db} fails verification at record ${verified.problem!.seq}: ${verified.problem!.message}; no report is made from it`);
    const list = store.listSnapshots();
    const pre = selectSnapshot(list, flags.pre ?? 'pre', flags.change, 'pre');
    const post = selectSnapshot(list, flags.post ?? 'post', flags.change, 'post');
    const { label: preLabel, change: preChange, ...before } = store.loadSnapshot(pre.id);
    const { label: postLabel, change: postChange, ...after } = store.loadSnapshot(post.id);
    const findings = evaluateFindings(diffSnapshots(before, after), catalogue, { expected, now: new Date() });
    const generatedAt = new Date();
    const host = after.host.hostname.replace(/[^A-Za-z0-9._-]/g, '_');
    const dir = join(flags.out, `${host}-${(flags.change ?? 'window').replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp(generatedAt)}`);
    const preHash = store.recordHashOf(pre.id)!;
    const postHash = store.recordHashOf(post.id)!;
    const manifest = writePack(dir, {
      files: [
        { name: 'findings.csv', content: Buffer.from(findingsCsv(findings)) },
        { name: 'inventory-pre.csv', content: Buffer.from(inventoryCsv(before, pre.id, preLabel, preChange)) },
        { name: 'inventory-post.csv', content: Buffer.from(inventoryCsv(after, post.id, postLabel, postChange)) },
        {
          name: 'evidence.json',
          content: Buffer.from(
            evidenceJson({ generatedAt: generatedAt.toISOString(), change: flags.change ?? null, before: { id: pre.id, snapshot: before, recordHash: preHash }, after: { id: post.id, snapshot: after, recordHash: postHash }, findings, disclaimer: catalogue.disclaimer }),
          ),
        },
      ],
      manifest: {
        netmonVersion: NETMON_VERSION,
        generatedAt: generatedAt.toISOString(),
        host: { hostname: after.host.hostname, os: after.host.platform, kernel: after.host.kernel },
        window: { from: before.takenAt, to: after.takenAt, change: flags.change ?? null },
        store: {
          path: resolve(flags.db),
          snapshots: [
            { id: pre.id, takenAt: before.takenAt, recordHash: preHash },
            { id: post.id, takenAt: after.takenAt, recordHash: postHash },
          ],
          headHash: verified.headHash,
        },
      },
      signer,
    });
    io.stdout(`${dir}\n`);
    io.stderr(`netmon: evidence pack with ${findings.length} findings and ${manifest.files.length + 3} files written to ${dir}; signed by ${signer.fingerprint.slice(0, 16)}…\n`);
  } finally {
    store.close();
  }
}

/** `netmon verify PACK_DIR` */
export function runVerify(dir: string, flags: { db?: string }, io: CliIo): void {
  const db = flags.db ?? null;
  let store: EvidenceStore | null = null;
  if (db !== null) {
    if (!existsSync(db)) throw new StoreError('E_STORE_MISSING', `there is no evidence store at ${db}`);
    store = EvidenceStore.open(db, { readonly: true });
  }
  try {
    const witness = store ? { recordHashOf: (seq: number) => store!.recordHashOf(seq), verifyOk: () => store!.verify().ok } : undefined;
    const { problems, manifest } = verifyPack(dir, witness);
    if (problems.length > 0) {
      for (const p of problems) io.stderr(`netmon: FAILED ${p.file}: ${p.message}\n`);
      io.stderr(`netmon: the evidence pack ${dir} failed verification (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'})\n`);
      throw new ExitError(4);
    }
    io.stdout(`evidence pack ${dir} verified: ${manifest!.files.length + 3} files, manifest signed by ${manifest!.signer.fingerprint}${store ? `, snapshots ${manifest!.store.snapshots.map((s) => s.id).join(' and ')} match ${db}` : ''}\n`);
  } finally {
    store?.close();
  }
}
