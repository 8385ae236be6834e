import { closeSync, constants, existsSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { makeDirectories } from './make-dirs.js';
import { basename, dirname, join } from 'node:path';
import { ConfigError, describeErrno, errnoCode, specialFileKind, StoreError } from '../errors.js';
import { EVIDENCE_DIR_MODE, EVIDENCE_FILE_MODE } from '../model/types.js';
import { printable } from '../outputs/sanitize.js';
import { cellAsInstant, neutralizeCell, parseCsvText } from '../store/csv-trail.js';
import { FINDINGS_CSV_APPROVER_COLUMN, FINDINGS_CSV_COLUMNS, FINDINGS_CSV_CONTEXT_COLUMNS } from './report-files.js';
import { certificateFingerprint, checkPdfSignature } from './pki.js';
import { CERT_FILE, fingerprintOf, PUBLIC_KEY_FILE, signBytes, verifyBytes, type Signer } from './signing.js';
import { earlierForms, FINDING_RULES, FINDING_RULES_KNOWN } from '../findings/rules.js';
import { fileEntry, PACK_FORMAT, PACK_FORMATS, parseSha256Sums, renderManifest, renderSha256Sums, renderVerifyGuide, SUMS_SIGNATURE_FILE, type Manifest } from './manifest.js';

export interface PackContent {
  /** Data files (CSV, evidence.json, later report.pdf), written first and listed in the manifest. */
  files: { name: string; content: Buffer }[];
  manifest: Omit<Manifest, 'files' | 'signer' | 'packFormat'>;
  signer: Signer;
}

/**
 * Create the directory of a new pack: `base`, or `base-2`, `base-3`... when a pack of the same
 * name exists (two reports of one window in one second). Made with one mkdir each, so two
 * reports at once never share one; a pack is never written over another.
 */
export function reservePackDir(base: string): string {
  try {
    makeDirectories(dirname(base), EVIDENCE_DIR_MODE);
    for (let k = 1; k <= 100; k++) {
      const dir = k === 1 ? base : `${base}-${k}`;
      try {
        mkdirSync(dir, { mode: EVIDENCE_DIR_MODE });
        // Its staging directory at once: a report killed outright from here on (while it renders
        // the PDF, say) leaves one, which names the reserved directory for the next report to
        // remove (clearUnfinishedPacks); an empty reserved directory alone would stay for good.
        try {
          mkdirSync(stagingDir(dir, process.pid), { mode: EVIDENCE_DIR_MODE });
        } catch (error) {
          removeIfEmpty(dir);
          throw error;
        }
        return dir;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  } catch (error) {
    throw new StoreError('E_PACK_WRITE', `cannot create the evidence pack directory: ${describeErrno(error, 'creating', base)}`);
  }
  throw new StoreError('E_PACK_EXISTS', `${base} and 99 more packs of that name exist already; a pack is never written over another`, { hint: 'give another --out directory' });
}

/** Remove a reserved pack directory that nothing was written to (the report failed first), and its staging directory. */
export function releasePackDir(dir: string): void {
  rmSync(stagingDir(dir, process.pid), { recursive: true, force: true });
  removeIfEmpty(dir);
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, or gone: leave it as it is
  }
}

/** The hidden directory a pack is written in before it takes its name; it names the writing process. */
function stagingDir(dir: string, pid: number): string {
  return join(dirname(dir), `.${basename(dir)}.${pid}.partial`);
}

const STAGING_NAME = /^\.(.+)\.([1-9][0-9]{0,9})\.partial$/;

/** What a report that did not finish left in an output directory, and was removed. */
export interface UnfinishedPack {
  /** The pack's reserved name (the directory removed when it was empty). */
  name: string;
  /** The report's process, which no longer runs. */
  pid: number;
}

/**
 * Remove what reports that were killed outright (SIGKILL, power loss) left in `outDir`: each
 * staging directory (`.NAME.PID.partial`) whose process no longer runs and that belongs to the
 * user netmon runs as (`processRuns` says which run), and then the pack directory it had reserved
 * when that is still empty.
 * A staging directory never holds a complete pack (that is renamed to its name first), so
 * nothing a verifier could check is removed; a report still running is left alone. A name that
 * is not such a directory (a symbolic link, a file) is left alone too. Returns what was removed.
 */
export function clearUnfinishedPacks(outDir: string, processRuns: (pid: number) => boolean): UnfinishedPack[] {
  let names: string[];
  try {
    names = readdirSync(outDir);
  } catch {
    return []; // no directory yet, or not readable: reservePackDir() says why if it matters
  }
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  const removed: UnfinishedPack[] = [];
  for (const entry of names) {
    const m = STAGING_NAME.exec(entry);
    if (!m) continue;
    const pid = Number(m[2]);
    const path = join(outDir, entry);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st?.isDirectory() || st.uid !== uid || pid === process.pid || processRuns(pid)) continue;
    try {
      rmSync(path, { recursive: true });
    } catch {
      continue; // another netmon removed it first, or it cannot be: leave it as it is
    }
    removeIfEmpty(join(outDir, m[1]!));
    removed.push({ name: m[1]!, pid });
  }
  return removed;
}

/** Write a new file and flush it to disk before returning. */
function writeDurable(path: string, bytes: Buffer): void {
  const fd = openSync(path, 'wx', EVIDENCE_FILE_MODE);
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flush a directory's entries (new files, a rename) to disk. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write a pack into `dir`, the empty directory reservePackDir() made, and sign its manifest: the
 * data files, VERIFY.md and the signer's public key, then manifest.json (every one of them with
 * size and SHA-256), manifest.sig (Ed25519 over manifest.json), SHA256SUMS (every file, for
 * `sha256sum -c`) and SHA256SUMS.sig (Ed25519 over SHA256SUMS); no file is ever written over another. They are written and flushed in a
 * hidden staging directory beside `dir`, which then takes the reserved name in one rename: a
 * report that fails (a full disk) or is killed never leaves a directory under the pack's name
 * that holds part of a pack. What a report killed outright leaves is that staging directory
 * (`.NAME.PID.partial`) and the empty reserved one, which clearUnfinishedPacks() removes later.
 */
export function writePack(dir: string, content: PackContent): Manifest {
  const staging = stagingDir(dir, process.pid);
  let made = false;
  try {
    // Made when the directory was reserved; made here for a caller that did not reserve it.
    if (!existsSync(staging)) mkdirSync(staging, { mode: EVIDENCE_DIR_MODE });
    made = true;
    const manifestBase = { packFormat: PACK_FORMAT, ...content.manifest, signer: { algorithm: 'Ed25519' as const, publicKey: PUBLIC_KEY_FILE, fingerprint: content.signer.fingerprint } };
    const written: { name: string; content: Buffer }[] = [
      ...content.files,
      {
        name: 'VERIFY.md',
        content: Buffer.from(
          renderVerifyGuide(
            manifestBase,
            content.files.some((f) => f.name === 'report.pdf'),
            certificateFingerprint(content.files.find((f) => f.name === CERT_FILE)?.content.toString('utf8') ?? ''),
          ),
        ),
      },
      { name: PUBLIC_KEY_FILE, content: Buffer.from(content.signer.publicKeyPem) },
    ];
    for (const f of written) writeDurable(join(staging, f.name), f.content);
    const manifest: Manifest = { ...manifestBase, files: written.map((f) => fileEntry(f.name, f.content)) };
    const manifestBytes = Buffer.from(renderManifest(manifest));
    const signature = signBytes(content.signer, manifestBytes);
    writeDurable(join(staging, 'manifest.json'), manifestBytes);
    writeDurable(join(staging, 'manifest.sig'), signature);
    const all = [...manifest.files, fileEntry('manifest.json', manifestBytes), fileEntry('manifest.sig', signature)];
    const sums = Buffer.from(renderSha256Sums(all));
    writeDurable(join(staging, 'SHA256SUMS'), sums);
    // The list sha256sum -c reads, signed too: VERIFY.md checks it with openssl before the files.
    writeDurable(join(staging, SUMS_SIGNATURE_FILE), signBytes(content.signer, sums));
    syncDirectory(staging);
    // The reserved directory is empty, and rename(2) replaces an empty directory in one step.
    renameSync(staging, dir);
    made = false;
    syncDirectory(dirname(dir));
    return manifest;
  } catch (error) {
    if (made) rmSync(staging, { recursive: true, force: true });
    if (error instanceof StoreError) throw error;
    throw new StoreError('E_PACK_WRITE', `cannot write the evidence pack: ${describeErrno(error, 'writing', dir)}; nothing of it was left under that name`);
  }
}

export interface PackProblem {
  file: string;
  message: string;
}

/** What a pack made from a store's two snapshots says about them, made again from the store. */
export interface WitnessedContent {
  /** The inventory files, byte for byte as `report` writes them. */
  files: Map<string, Buffer>;
  /** Each snapshot as evidence.json holds it, parsed. */
  snapshots: { pre: unknown; post: unknown };
  /** The findings of the window, with the approvals the pack's expected-changes file makes (none without it). */
  findings: PackedFinding[];
  /** The same, by other rules or an earlier form of them (findings/rules.ts EARLIER_FORMS). */
  findingsBy(rules: number, form?: string): PackedFinding[];
}

/** The pack's copy of the expected changes given to `report --expect`, whose approvals its findings carry. */
export const EXPECTED_FILE = 'expected-changes.yaml';

/** What a store can confirm about a pack: the records it names, and what it says of them. */
export interface StoreWitness {
  /** The store's path, as the user gave it: problems with the store name it. */
  path: string;
  recordHashOf(seq: number): string | null;
  /** Whether a record of this hash is in the store at `fromSeq` or later. */
  hasRecordHash(hash: string, fromSeq: number): boolean;
  verifyOk(): boolean;
  /** Why record `seq` is not in the store when a prune removed it (its words), else null. */
  prunedAway?(seq: number): string | null;
  /** The cutoff of the last prune (ISO time), if there was one. */
  prunedBefore?(): string | null;
  /**
   * What a pack of these two snapshots holds, made again from the store, in the time zone the
   * pack was made in (null: this process's); with `approvals`, the findings approved by that
   * expected-changes file as of `at` (the time the pack was made). Throws ConfigError (code
   * E_EXPECT) when the file is not expected changes of the window's change `change`.
   */
  content?(pre: number, post: number, options: { timeZone: string | null; approvals: { bytes: Buffer; at: string; change: string | null } | null; rules: number }): WitnessedContent;
}

/** How far before the end of its window a pack's generatedAt may read (clocks of two hosts, or one set right meanwhile). */
export const PACK_CLOCK_TOLERANCE_MS = 5 * 60_000;

/**
 * The largest file verifyPack() reads: far above any file of a pack netmon writes, and below the
 * 2 GiB a Node.js Buffer holds (a larger file failed with ERR_FS_FILE_TOO_LARGE, then was called
 * missing).
 */
const PACK_FILE_MAX_BYTES = 1024 * 1024 * 1024;

/**
 * Check a pack: every file against SHA256SUMS and the manifest, nothing added, the manifest
 * signature, the signer fingerprint, and (with the store) the snapshot records the manifest names.
 * Returns every problem, each naming its file; none means the pack holds.
 */
export function verifyPack(dir: string, store?: StoreWitness): { problems: PackProblem[]; manifest: Manifest | null; notes: string[]; unreadable: PackProblem[] } {
  const problems: PackProblem[] = [];
  const notes: string[] = [];
  // Files this user may not read (packs are 0640 in a 0750 directory): the pack cannot be checked
  // here, which says nothing of whether it was changed. Reported apart from the problems.
  const unreadable: PackProblem[] = [];
  const denied = (error: unknown): boolean => errnoCode(error) === 'EACCES' || errnoCode(error) === 'EPERM';
  // A pack may come from anyone: a name in it that is a symbolic link, a FIFO or a device is
  // reported, never followed or read (a FIFO would block, /dev/zero would never end).
  const read = (name: string): Buffer | null => {
    const path = join(dir, name);
    let fd: number | null = null;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const st = fstatSync(fd);
      if (!st.isFile()) {
        problems.push({ file: name, message: `it is ${st.isDirectory() ? 'a directory' : specialFileKind(st) ?? 'not a regular file'}, not a file of a pack; it was not read` });
        return null;
      }
      if (st.size > PACK_FILE_MAX_BYTES) {
        problems.push({ file: name, message: `it holds ${st.size} bytes, more than any file netmon writes into a pack (${PACK_FILE_MAX_BYTES}); it was not read` });
        return null;
      }
      return readFileSync(fd);
    } catch (error) {
      const link = errnoCode(error) === 'ELOOP';
      (denied(error) ? unreadable : problems).push({ file: name, message: link ? 'it is a symbolic link, not a file of a pack; it was not followed' : describeErrno(error, 'reading', path) });
      return null;
    } finally {
      if (fd !== null) closeSync(fd);
    }
  };
  let present: string[] = [];
  try {
    present = readdirSync(dir);
  } catch (error) {
    (denied(error) ? unreadable : problems).push({ file: dir, message: describeErrno(error, 'listing', dir) });
  }
  if (unreadable.length > 0) return { problems: [], manifest: null, notes, unreadable };
  // Each file is read once; the checks below use these bytes and hashes.
  const contents = new Map<string, Buffer>();
  // findings.csv read once, for the check of the pack against itself and the one against the store.
  let table: FindingsTable | null | undefined;
  const tableOf = (bytes: Buffer): FindingsTable | null => (table === undefined ? (table = findingsTable(bytes)) : table);
  const actual = new Map<string, string>();
  for (const name of present) {
    const bytes = read(name);
    if (bytes) {
      contents.set(name, bytes);
      actual.set(name, fileEntry(name, bytes).sha256);
    }
  }

  // The signed manifest is the authority; SHA256SUMS is a convenience for sha256sum -c.
  const manifestBytes = contents.get('manifest.json') ?? null;
  // A name that is there but could not be read was named above: not "missing" as well.
  const missing = (name: string): boolean => !present.includes(name);
  /** A file a list (the manifest, else SHA256SUMS) names: there, with its hash (and size). */
  const checkListed = (name: string, sha256: string, size: number | null, list: 'manifest.json' | 'SHA256SUMS'): void => {
    const hash = actual.get(name);
    if (hash === undefined && !missing(name)) return; // there, but not readable as a file: said above
    if (hash === undefined) problems.push({ file: name, message: `it is listed in ${list} but missing` });
    else if (list === 'manifest.json' && (hash !== sha256 || contents.get(name)!.length !== size)) problems.push({ file: name, message: 'its size or SHA-256 does not match manifest.json (the file was changed)' });
    else if (list === 'SHA256SUMS' && hash !== sha256) problems.push({ file: name, message: 'it does not match its SHA256SUMS line (the file was changed)' });
  };
  if (!manifestBytes && missing('manifest.json')) problems.push({ file: 'manifest.json', message: 'it is missing' });
  let manifest: Manifest | null = null;
  if (manifestBytes) {
    try {
      manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
    } catch {
      problems.push({ file: 'manifest.json', message: 'it is not valid JSON' });
    }
  }
  let signed = false;
  if (manifest && manifestBytes) {
    if (!PACK_FORMATS.includes(manifest.packFormat)) problems.push({ file: 'manifest.json', message: `pack format expected one of ${PACK_FORMATS.join(', ')}, received ${JSON.stringify(manifest.packFormat)}` });
    const pub = contents.get(PUBLIC_KEY_FILE)?.toString('utf8') ?? null;
    const sig = contents.get('manifest.sig') ?? null;
    if (!pub && missing(PUBLIC_KEY_FILE)) problems.push({ file: PUBLIC_KEY_FILE, message: 'it is missing' });
    if (!sig && missing('manifest.sig')) problems.push({ file: 'manifest.sig', message: 'it is missing' });
    if (pub && sig) {
      signed = verifyBytes(pub, manifestBytes, sig);
      if (!signed) problems.push({ file: 'manifest.sig', message: 'the signature over manifest.json does not verify with signer.pub.pem (manifest.json, manifest.sig or the key was changed)' });
      let fingerprint = '';
      try {
        fingerprint = fingerprintOf(pub);
      } catch {
        problems.push({ file: PUBLIC_KEY_FILE, message: 'it is not a public key' });
      }
      if (fingerprint && fingerprint !== manifest.signer?.fingerprint) problems.push({ file: PUBLIC_KEY_FILE, message: 'its fingerprint differs from the one in manifest.json' });
    }
    for (const f of manifest.files ?? []) checkListed(f.name, f.sha256, f.size, 'manifest.json');
  }
  const sums = contents.get('SHA256SUMS')?.toString('utf8') ?? null;
  // Without a manifest to read (missing, not JSON, no list of files), the files are checked
  // against SHA256SUMS, which says at least which of them changed: else every file of the pack
  // would be named as added, and every line of SHA256SUMS as naming no file of the pack.
  const listed = manifest !== null && Array.isArray(manifest.files);
  const bySums = !listed && sums !== null ? parseSha256Sums(sums) : null;
  // Format 3 on: SHA256SUMS is signed too (not listed anywhere: it is made after SHA256SUMS).
  // Without a readable manifest the format is unknown: a signature there is checked all the same.
  const sumsSigned = manifest !== null ? typeof manifest.packFormat === 'number' && manifest.packFormat >= 3 : present.includes(SUMS_SIGNATURE_FILE);
  const inManifest = new Set([...(listed ? manifest!.files.map((f) => f.name) : (bySums?.entries ?? []).map((e) => e.name)), 'manifest.json', 'manifest.sig', 'SHA256SUMS', ...(sumsSigned ? [SUMS_SIGNATURE_FILE] : [])]);
  for (const name of present) if (!inManifest.has(name)) problems.push({ file: name, message: `it is not listed in ${listed ? 'SHA256SUMS or manifest.json' : 'SHA256SUMS'} (a file was added)` });
  if (bySums !== null) {
    notes.push(`without a readable manifest.json, the other files were checked against SHA256SUMS only${sumsSigned ? ', whose own signature (SHA256SUMS.sig) is checked below' : ', which is not signed'}`);
    for (const e of bySums.entries) checkListed(e.name, e.sha256, null, 'SHA256SUMS');
    for (const message of bySums.problems) problems.push({ file: 'SHA256SUMS', message });
  }

  if (sumsSigned && sums !== null) {
    const pub = contents.get(PUBLIC_KEY_FILE)?.toString('utf8') ?? null;
    const sig = contents.get(SUMS_SIGNATURE_FILE) ?? null;
    if (!sig && missing(SUMS_SIGNATURE_FILE)) problems.push({ file: SUMS_SIGNATURE_FILE, message: 'it is missing (a pack of format 3 signs its SHA256SUMS)' });
    else if (pub && sig && !verifyBytes(pub, contents.get('SHA256SUMS')!, sig)) {
      problems.push({ file: SUMS_SIGNATURE_FILE, message: 'the signature over SHA256SUMS does not verify with signer.pub.pem (SHA256SUMS, SHA256SUMS.sig or the key was changed)' });
    }
  }
  if (sums === null && missing('SHA256SUMS')) problems.push({ file: 'SHA256SUMS', message: 'it is missing' });
  else if (listed && sums !== null) {
    const parsed = parseSha256Sums(sums);
    const sumsProblems = [...parsed.problems];
    const named = new Set(parsed.entries.map((e) => e.name));
    for (const e of parsed.entries) {
      if (!inManifest.has(e.name) || e.name === 'SHA256SUMS' || e.name === SUMS_SIGNATURE_FILE) sumsProblems.push(`it names "${printable(e.name)}", which is not part of the pack`);
      else if (actual.get(e.name) !== undefined && actual.get(e.name) !== e.sha256) {
        // The file matches the signed manifest: the sum is what changed. Otherwise the file was reported above.
        const authentic = signed && (e.name === 'manifest.json' || e.name === 'manifest.sig' || manifest?.files.some((f) => f.name === e.name && f.sha256 === actual.get(e.name)));
        if (authentic) sumsProblems.push(`its line for ${e.name} does not match the file, which matches the signed manifest`);
      }
    }
    for (const name of inManifest) if (name !== 'SHA256SUMS' && name !== SUMS_SIGNATURE_FILE && !named.has(name)) sumsProblems.push(`it has no line for ${name}`);
    // Without a valid signature, the sums say which of the signature's inputs was changed.
    if (!signed) {
      for (const e of parsed.entries) {
        if ((e.name === 'manifest.json' || e.name === 'manifest.sig' || e.name === PUBLIC_KEY_FILE) && actual.get(e.name) !== undefined && actual.get(e.name) !== e.sha256) {
          problems.push({ file: e.name, message: 'it does not match its SHA256SUMS line and the manifest signature fails: the file was changed' });
        }
      }
    }
    for (const message of sumsProblems) problems.push({ file: 'SHA256SUMS', message });
  }

  // The PDF's own embedded signature, and that it was made by the certificate the pack names.
  if (manifest?.files.some((f) => f.name === 'report.pdf') && actual.has('report.pdf')) {
    const check = checkPdfSignature(contents.get('report.pdf')!);
    if (!check.ok) problems.push({ file: 'report.pdf', message: `its embedded PDF signature fails: ${check.problem}` });
    const packCert = contents.get(CERT_FILE)?.toString('utf8') ?? null;
    const bare = (pem: string) => pem.replace(/\s+/g, '');
    if (check.certificatePem && packCert !== null && bare(packCert) !== bare(check.certificatePem)) problems.push({ file: 'report.pdf', message: `it was signed by another certificate than ${CERT_FILE}` });
  }

  // evidence.json names the same two records as the signed manifest.
  let evidence: EvidenceSides | null = null;
  const evidenceBytes = manifest?.files.some((f) => f.name === 'evidence.json') ? (contents.get('evidence.json') ?? null) : null;
  if (manifest && evidenceBytes) {
    evidence = evidenceSides(evidenceBytes);
    const listed = manifest.store?.snapshots ?? [];
    const sides = evidence === null ? [] : [evidence.pre, evidence.post];
    if (evidence === null || listed.length !== 2 || sides.some((side, k) => side.id !== listed[k]!.id || side.recordHash !== listed[k]!.recordHash)) {
      problems.push({ file: 'evidence.json', message: 'its snapshots are not the two records manifest.json names (their ids or record hashes differ)' });
      evidence = null;
    }
  }

  // When the pack was made: a time after its window, the same in evidence.json (the expiry of an
  // approval is judged at it).
  if (manifest) {
    const made = typeof manifest.generatedAt === 'string' ? Date.parse(manifest.generatedAt) : Number.NaN;
    const windowEnd = typeof manifest.window?.to === 'string' ? Date.parse(manifest.window.to) : Number.NaN;
    if (Number.isNaN(made)) problems.push({ file: 'manifest.json', message: `its generatedAt ${JSON.stringify(manifest.generatedAt)} is not a time` });
    // A report runs after its post capture, on the same clock; a few minutes allow for a clock step between them.
    else if (!Number.isNaN(windowEnd) && made < windowEnd - PACK_CLOCK_TOLERANCE_MS) problems.push({ file: 'manifest.json', message: `its generatedAt (${manifest.generatedAt}) is before the end of its window (${manifest.window.to}): a pack is made after its post capture` });
    if (evidence !== null && evidence.generatedAt !== manifest.generatedAt) problems.push({ file: 'evidence.json', message: `its generatedAt ${JSON.stringify(evidence.generatedAt)} is not the manifest's (${JSON.stringify(manifest.generatedAt)})` });
    // The pack against itself, without a store: findings.csv lists the findings of evidence.json,
    // with the same severity, approval and justification (an auditor probe re-signed a pack whose
    // findings.csv said approved where evidence.json and the PDF said unexpected, and verify without
    // --db passed it).
    // (Format 1 packs did not keep approvals: not compared.)
    const csvBytes = evidence !== null && manifest.packFormat !== 1 && manifest.files?.some((f) => f.name === 'findings.csv') ? contents.get('findings.csv') : undefined;
    if (evidence !== null && csvBytes !== undefined) {
      const listed = tableOf(csvBytes)?.findings ?? null;
      const asCells = asCsvCells(evidence.findings);
      if (listed === null) problems.push({ file: 'findings.csv', message: 'it is not a findings table netmon wrote' });
      else if (findingRows(listed) !== findingRows(asCells)) {
        const theirs = new Set(asCells.map(findingRow));
        const apart = listed.filter((f) => !theirs.has(findingRow(f))).slice(0, FINDINGS_NAMED).map((f) => `${f.id} ${f.kind} ${f.severity} ${f.approval}`);
        problems.push({ file: 'findings.csv', message: `its findings are not those of evidence.json (their id, kind, severity, approval, justification or approver differ${apart.length > 0 ? `: ${apart.join(', ')}` : ''})` });
      }
      // The host and ticket on each row (packs of 2026-11-25 on) are the signed manifest's.
      const context = tableOf(csvBytes)?.context ?? null;
      const host = neutralizeCell(printable(String(manifest.host?.hostname ?? '')));
      const change = typeof manifest.window?.change === 'string' ? neutralizeCell(printable(manifest.window.change)) : '';
      const stray = context?.find((c) => c.host !== host || c.change !== change);
      if (stray !== undefined) {
        problems.push({ file: 'findings.csv', message: `a row names host ${JSON.stringify(stray.host)} and change ${JSON.stringify(stray.change)}, where the signed manifest names host ${JSON.stringify(host)} and change ${JSON.stringify(change)}` });
      }
    }
  }

  if (manifest && store) {
    if (!store.verifyOk()) problems.push({ file: store.path, message: 'the evidence store itself fails verification (netmon verify-store names the record)' });
    let confirmed = 0;
    const cutoff = store.prunedBefore?.() ?? null;
    for (const s of manifest.store.snapshots) {
      const hash = store.recordHashOf(s.id);
      if (hash === null) {
        // Retention, not tampering, when a prune removed it: the store can no longer confirm it.
        // A prune removes snapshots taken before its cutoff; one taken after it was removed otherwise.
        const pruned = store.prunedAway?.(s.id) ?? null;
        if (pruned !== null && cutoff !== null && Date.parse(s.takenAt) >= Date.parse(cutoff)) {
          problems.push({ file: store.path, message: `snapshot ${s.id} is no longer in the store, although it was taken at ${s.takenAt}, after the cutoff of the last prune (${cutoff}): records were removed or rewritten outside netmon` });
        } else {
          problems.push({ file: store.path, message: `snapshot ${s.id} is no longer in the store${pruned === null ? '' : `: ${pruned}; the store cannot confirm it any more, while the pack's own hashes and signature still can`}` });
        }
      } else if (hash !== s.recordHash) {
        problems.push({ file: store.path, message: `snapshot ${s.id} has another record hash in the store than in the pack` });
      } else {
        confirmed++;
      }
    }
    // The store's head when the pack was made must still be a record of the store: records after
    // it may follow, but none up to it may have been removed or rewritten since.
    if (confirmed === 2 && typeof manifest.store.headHash === 'string' && !store.hasRecordHash(manifest.store.headHash, manifest.store.snapshots[1]!.id)) {
      problems.push({ file: store.path, message: `the record that was the store's head when the pack was made (hash ${manifest.store.headHash.slice(0, 16)}…) is no longer in the store: records after snapshot ${manifest.store.snapshots[1]!.id} were removed or rewritten` });
    }
    // What the pack says of the two snapshots, against the same snapshots read from the store.
    if (confirmed === 2 && store.content) {
      const [pre, post] = manifest.store.snapshots as unknown as [{ id: number }, { id: number }];
      // Format 2 says where its approvals came from (expectedChanges, null for none) and in which
      // time zone it was made; format 1 is checked for its findings, not for what was approved.
      const approvalsKept = manifest.packFormat !== 1;
      let expectedBytes: Buffer | undefined;
      if (approvalsKept) {
        if (manifest.expectedChanges !== null && manifest.expectedChanges !== EXPECTED_FILE) {
          problems.push({ file: 'manifest.json', message: `its expectedChanges must be ${JSON.stringify(EXPECTED_FILE)} or null, not ${JSON.stringify(manifest.expectedChanges)}` });
        } else if (manifest.expectedChanges === EXPECTED_FILE) {
          expectedBytes = manifest.files.some((f) => f.name === EXPECTED_FILE) ? contents.get(EXPECTED_FILE) : undefined;
          if (expectedBytes === undefined) problems.push({ file: EXPECTED_FILE, message: 'manifest.json names it as the expected changes the findings were approved by, but the pack does not hold it' });
        }
        if (typeof manifest.timeZone !== 'string') problems.push({ file: 'manifest.json', message: 'it has no timeZone, which a pack of format 2 records' });
      } else {
        notes.push('a pack of format 1: the approvals of its findings cannot be checked against the store, only the findings themselves');
      }
      let witnessed: WitnessedContent | null = null;
      // The findings are made again by the rules the pack was made with (1 before packs said).
      const rules = manifest.findingRules ?? 1;
      try {
        if (!FINDING_RULES_KNOWN.includes(rules)) {
          problems.push({ file: 'manifest.json', message: `its findings were made by finding rules ${JSON.stringify(rules)}, which this netmon does not know (it applies ${FINDING_RULES_KNOWN.slice(0, -1).join(', ')} and ${FINDING_RULES_KNOWN.at(-1)}): verify the pack with the netmon that made it (${String(manifest.netmonVersion)}) or a later one` });
        } else {
          witnessed = store.content(pre.id, post.id, {
            timeZone: typeof manifest.timeZone === 'string' ? manifest.timeZone : null,
            approvals: expectedBytes === undefined ? null : { bytes: expectedBytes, at: manifest.generatedAt, change: manifest.window.change },
            rules,
          });
        }
      } catch (error) {
        if (error instanceof ConfigError && error.code === 'E_EXPECT') problems.push({ file: EXPECTED_FILE, message: error.message });
        else problems.push({ file: store.path, message: `the snapshots cannot be read back from the store: ${error instanceof Error ? error.message : String(error)}` });
      }
      if (witnessed) {
        /** The findings the store makes, by the form of the rules that made the pack's (below). */
        let made = witnessed.findings;
        for (const [name, bytes] of witnessed.files) {
          const packed = contents.get(name);
          // A pack of format 1 does not say its time zone: its times are compared as instants.
          if (packed !== undefined && manifest.files.some((f) => f.name === name) && !packed.equals(bytes) && !(manifest.packFormat === 1 && sameRowsAsInstants(packed, bytes))) {
            problems.push({ file: name, message: `it differs from the snapshot the store holds (snapshot ${name.includes('pre') ? pre.id : post.id}): the pack was made from other data than the records it names` });
          }
        }
        if (evidence) {
          for (const side of ['pre', 'post'] as const) {
            if (JSON.stringify(evidence[side].snapshot) !== JSON.stringify(witnessed.snapshots[side])) {
              problems.push({ file: 'evidence.json', message: `its ${side} snapshot differs from snapshot ${side === 'pre' ? pre.id : post.id} in the store: the pack was made from other data than the records it names` });
            }
          }
          // By the current form of the pack's rules, else by an earlier form of them (a pack made
          // before a change that kept the rules' number), which is then named.
          let problem = findingsDiffer(evidence.findings, made, approvalsKept, manifest.expectedChanges);
          let usedForm: string | null = null;
          if (problem !== null) {
            for (const form of earlierForms(rules)) {
              const earlier = witnessed.findingsBy(rules, form.id);
              if (findingsDiffer(evidence.findings, earlier, approvalsKept, manifest.expectedChanges) !== null) continue;
              made = earlier;
              problem = null;
              usedForm = form.id;
              notes.push(`its findings were made by an earlier form of finding rules ${rules}, in which ${form.differs}; this netmon makes them again by that form (docs/findings.md)`);
              break;
            }
          }
          if (problem !== null) problems.push({ file: 'evidence.json', message: problem });
          // Older rules are what the pack says it was made by, which its signer chose: what this
          // netmon's rules make of the same window is said beside it, so that a reader sees what a
          // pack made now would hold (a pack claiming older rules cannot hide a finding unseen).
          else if (rules !== FINDING_RULES || usedForm !== null) {
            const otherwise = findingsApart(evidence.findings, witnessed.findingsBy(FINDING_RULES), `made by rules ${FINDING_RULES}`);
            const checked = `its findings were checked by finding rules ${rules}${usedForm === null ? '' : ` (form ${usedForm})`}, as the pack says it was made`;
            notes.push(
              otherwise === null
                ? `${checked}; this netmon's rules (${FINDING_RULES}) make the same ones of this window`
                : `${checked}; by this netmon's rules (${FINDING_RULES}) the window's findings differ (${otherwise}): a pack made now would hold those`,
            );
          }
        }
        const csvBytes = manifest.files.some((f) => f.name === 'findings.csv') ? contents.get('findings.csv') : undefined;
        if (csvBytes !== undefined) {
          const listed = tableOf(csvBytes)?.findings ?? null;
          const asCells = asCsvCells(made);
          const problem = listed === null ? 'it is not a findings table netmon wrote' : findingsDiffer(listed, asCells, approvalsKept, manifest.expectedChanges);
          // (Not again what the check of the pack against itself said already.)
          if (problem !== null && !problems.some((p) => p.file === 'findings.csv' && p.message === problem)) problems.push({ file: 'findings.csv', message: problem });
        }
      }
    }
  }
  return { problems, manifest, notes, unreadable };
}

/**
 * The findings (id, kind, severity) on one side only, in words, so that a reader can tell a changed
 * severity from a finding taken out; null when both hold the same. `made` names the other side.
 */
function findingsApart(packed: readonly PackedFinding[], other: readonly PackedFinding[], made: string): string | null {
  // Without approvals checked, an expected change that did not happen is not compared either.
  const changes = (list: readonly PackedFinding[]): string[] =>
    list
      .filter((f) => f.kind !== 'expected-missing')
      .map((f) => `${f.id} ${f.kind} ${f.severity}`)
      .sort();
  const [inPack, theirs] = [changes(packed), changes(other)];
  if (inPack.join('\n') === theirs.join('\n')) return null;
  const listed = (items: string[]): string => `${items.slice(0, FINDINGS_NAMED).join(', ')}${items.length > FINDINGS_NAMED ? ` and ${items.length - FINDINGS_NAMED} more` : ''}`;
  const only = (a: string[], b: string[]): string[] => a.filter((x) => !b.includes(x));
  const [extra, lacking] = [only(inPack, theirs), only(theirs, inPack)];
  return [...(extra.length > 0 ? [`in the pack, not ${made}: ${listed(extra)}`] : []), ...(lacking.length > 0 ? [`${made}, not in the pack: ${listed(lacking)}`] : [])].join('; ');
}

/** Findings a verification problem names, on each side; the rest are counted. */
const FINDINGS_NAMED = 5;

/**
 * Why a pack's findings are not those the store makes (null when they are): compared by id, kind
 * and severity, and (format 2) by approval and justification, which come from the pack's
 * expected-changes file.
 */
function findingsDiffer(packed: readonly PackedFinding[], witnessed: readonly PackedFinding[], approvalsKept: boolean, expectedChanges: string | null | undefined): string | null {
  const differing = findingsApart(packed, witnessed, 'made from the store');
  if (differing !== null) return `its findings are not those of the two snapshots in the store (findings were added, removed or changed): ${differing}`;
  if (approvalsKept && findingRows(packed) !== findingRows(witnessed)) {
    const by = typeof expectedChanges === 'string' ? `the pack's ${expectedChanges} approves them` : 'without expected changes (every finding unexpected)';
    return `its findings are approved otherwise than ${by} (approvals, their justifications or approvers were added, removed or changed)`;
  }
  return null;
}

/** One finding as compared: id, kind, severity, approval, justification, approver. */
function findingRow(f: PackedFinding): string {
  return JSON.stringify([f.id, f.kind, f.severity, f.approval, f.justification, f.approvedBy]);
}

/** A list of findings as compared, in a stable order. */
function findingRows(list: readonly PackedFinding[]): string {
  return list.map(findingRow).sort().join('\n');
}

/** Findings as findings.csv holds them: the justification neutralised as the CSV trail's cells (it may start with "="). */
function asCsvCells(list: readonly PackedFinding[]): PackedFinding[] {
  return list.map((f) => ({ ...f, justification: neutralizeCell(f.justification), approvedBy: neutralizeCell(f.approvedBy) }));
}

/** Whether two CSV texts hold the same rows when timestamps in netmon's form count as the instants they name (an inventory made in another time zone). */
function sameRowsAsInstants(a: Buffer, b: Buffer): boolean {
  const norm = (bytes: Buffer): string => {
    try {
      return parseCsvText(bytes.toString('utf8'))
        .map((row) => row.map(cellAsInstant).join('\u0000'))
        .join('\n');
    } catch {
      return `unreadable ${bytes.length}`;
    }
  };
  return norm(a) === norm(b);
}

interface EvidenceSide {
  id: number;
  recordHash: string;
  snapshot: unknown;
}
interface EvidenceSides {
  pre: EvidenceSide;
  post: EvidenceSide;
  generatedAt: unknown;
  findings: PackedFinding[];
}

/** What a pack's findings are compared by: not their controls, which follow the catalogue of the netmon that made the pack. */
export interface PackedFinding {
  id: string;
  kind: string;
  severity: string;
  approval: string;
  justification: string;
  /** Who approved it ('' when no one is named, as in packs made before approved_by). */
  approvedBy: string;
}

/**
 * A findings.csv as verify compares it: its findings (the id, severity, approval, kind,
 * justification and, when there, approved_by columns), and the host and change cells of each row
 * (null when it has neither column, as packs made before them); null when it is not such a table.
 */
interface FindingsTable {
  findings: PackedFinding[];
  context: { host: string; change: string }[] | null;
}

function findingsTable(bytes: Buffer): FindingsTable | null {
  try {
    const [header, ...rows] = parseCsvText(bytes.toString('utf8'));
    if (!header || FINDINGS_CSV_COLUMNS.some((c) => !header.includes(c))) return null;
    const cell = (r: string[], name: string): string => {
      const at = header.indexOf(name);
      return at === -1 ? '' : (r[at] ?? '');
    };
    const findings = rows.map((r) => ({ id: cell(r, 'id'), kind: cell(r, 'kind'), severity: cell(r, 'severity'), approval: cell(r, 'approval'), justification: cell(r, 'justification'), approvedBy: cell(r, FINDINGS_CSV_APPROVER_COLUMN) }));
    const hasContext = FINDINGS_CSV_CONTEXT_COLUMNS.some((c) => header.includes(c));
    return { findings, context: hasContext ? rows.map((r) => ({ host: cell(r, 'host'), change: cell(r, 'change') })) : null };
  } catch {
    return null;
  }
}

/** The two snapshots and the findings of an evidence.json, or null when it is not one. */
function evidenceSides(bytes: Buffer): EvidenceSides | null {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as {
      generatedAt?: unknown;
      snapshots?: { pre?: EvidenceSide; post?: EvidenceSide };
      findings?: { id: string; kind: string; severity: string; approval?: string; expected?: { justification?: string | null; approvedBy?: string | null } }[];
    };
    const { pre, post } = doc.snapshots ?? {};
    if (!pre || !post || !Array.isArray(doc.findings)) return null;
    return {
      pre,
      post,
      generatedAt: doc.generatedAt,
      findings: doc.findings.map((f) => ({ id: String(f.id), kind: String(f.kind), severity: String(f.severity), approval: String(f.approval), justification: String(f.expected?.justification ?? ''), approvedBy: String(f.expected?.approvedBy ?? '') })),
    };
  } catch {
    return null;
  }
}
