import { nothingAt } from '../store/links.js';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, describeErrno, ExitError, StoreError, VerificationError } from '../errors.js';
import { loadControlsCatalogue } from '../findings/controls.js';
import { checkExpectedFor, expectedChangesText, loadExpectedChanges, parseExpectedChanges } from '../findings/expected-changes.js';
import { FINDING_RULES } from '../findings/rules.js';
import { windowFindings } from '../findings/window-findings.js';
import { packIntegrityControls } from '../findings/evaluate-findings.js';
import { clearUnfinishedPacks, EXPECTED_FILE, PACK_CLOCK_TOLERANCE_MS, releasePackDir, reservePackDir, verifyPack, writePack, type StoreWitness } from '../pack/pack.js';
import type { Manifest } from '../pack/manifest.js';
import { evidenceJson, findingsCsv, inventoryCsv } from '../pack/report-files.js';
import { periodUncovered, reportBlocks, renderSignedPdf } from '../pack/pdf-report.js';
import { certificateFingerprint, openP12 } from '../pack/pki.js';
import { CERT_FILE, generateSigningKeys, loadPdfIdentity, loadSigner, P12_FILE } from '../pack/signing.js';
import { printable, printableMessage } from '../outputs/sanitize.js';
import { renderJson } from '../outputs/json.js';
import { EvidenceStore, processAlive, type SnapshotSummary } from '../store/evidence-store.js';
import { NETMON_VERSION } from '../version.js';
import { checkOneHost, clockSetBack, onHost, selectPeriod, selectSnapshot } from './diff-command.js';
import { prunedWords, timeFlag } from './store-commands.js';
import { progressLine, type CliIo } from './program.js';
import { count } from '../model/format.js';
import { isoWithOffset } from '../model/iso-time.js';

/** `netmon keygen` */
export function runKeygen(flags: { keys: string }, io: CliIo): void {
  const keys = generateSigningKeys(flags.keys);
  io.stdout(`fingerprint ${keys.fingerprint}\n`);
  io.stderr(`netmon: wrote ${keys.privateKeyPath} and ${keys.p12Path} (private, mode 0600, never copied into a pack), ${keys.publicKeyPath} and ${keys.certPath}\n`);
  // The certificate that signs report.pdf has a fingerprint of its own, which VERIFY.md has auditors
  // compare with the registered one: printed here, where it is registered (an auditor probe).
  const certificate = certificateFingerprint(readFileSync(keys.certPath, 'utf8'));
  if (certificate !== null) io.stderr(`netmon: register both fingerprints for this host: the key's (above) and the PDF signing certificate's, SHA-256 ${certificate}\n`);
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
  /** A PKCS#12 identity of the user's own (for example CA-issued) to sign the PDF with. */
  signP12?: string;
  signP12Passphrase?: string;
  signP12PassphraseFile?: string;
  /** Skip the PDF (CSV and JSON only). */
  pdf?: boolean;
  /** A monitoring period without a ticket: an ISO 8601 time or an age (24h, 7d). */
  from?: string;
  to?: string;
  /** Select only snapshots of this host. */
  host?: string;
  /** Compare snapshots of two hosts (a host renamed in the window). */
  allowHostChange?: boolean;
}

/** The first line of a passphrase file, without its line ending. */
function readPassphrase(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (error) {
    throw new ConfigError('E_USAGE', `cannot read --sign-p12-passphrase-file: ${describeErrno(error, 'reading', path)}`);
  }
}

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * `--out` is the directory packs are written into: a file there, or a pack itself (a new pack
 * written into an old one would make the old one fail verification), is refused before anything
 * is read or written.
 */
function checkOutDir(out: string): void {
  // A path this user may not look at (a directory of root's above it) cannot be written either.
  const look = <T>(read: () => T): T => {
    try {
      return read();
    } catch (error) {
      throw new StoreError('E_PACK_WRITE', `cannot write evidence packs into --out ${out}: ${describeErrno(error, 'looking up', out)}`, {
        hint: 'give an --out directory this user may write to (default: reports in the current directory), or run as a user who may',
      });
    }
  };
  const link = look(() => lstatSync(out, { throwIfNoEntry: false }));
  if (link === undefined) return; // made with the first pack
  const st = look(() => statSync(out, { throwIfNoEntry: false }));
  if (st === undefined) throw new ConfigError('E_USAGE', `--out ${out} is a symbolic link to ${readlinkSync(out)}, which does not exist`, { hint: 'make the directory it points to, or give another --out directory' });
  if (!st.isDirectory()) throw new ConfigError('E_USAGE', `--out ${out} is not a directory`, { hint: 'give the directory the packs are written into (default: reports); each pack is a new directory inside it' });
  if (existsSync(join(out, 'manifest.json')) || existsSync(join(out, 'manifest.sig'))) {
    throw new ConfigError('E_USAGE', `--out ${out} is an evidence pack (it holds manifest.json): a pack is never written into another, which would then fail verification`, {
      hint: `give the directory that holds the packs, e.g. --out ${dirname(resolve(out))}`,
    });
  }
}

/**
 * A pack compares a window's first capture with its last: the same snapshot twice compares
 * nothing, and a window read backwards reports what it added as removed, both under a signature.
 * `diff` notes either (windowNotes); a pack refuses them.
 */
function checkWindowOrder(pre: SnapshotSummary, post: SnapshotSummary): void {
  if (pre.id === post.id) {
    throw new ConfigError('E_USAGE', `the pre and the post snapshot are the same snapshot (${pre.id}, ${isoWithOffset(new Date(pre.takenAt))}): a pack of it would compare nothing`, {
      hint: 'take the post capture first (netmon --once --label post --change TICKET), or give --pre and --post two snapshots (netmon snapshots lists them)',
    });
  }
  // Snapshot ids are positions in the chain: the order of capture, whatever the clock said.
  if (pre.id > post.id) {
    throw new ConfigError('E_USAGE', `the pre snapshot ${pre.id} (${isoWithOffset(new Date(pre.takenAt))}) was captured after the post snapshot ${post.id} (${isoWithOffset(new Date(post.takenAt))}): a pack of it would report what the window added as removed`, {
      hint: `swap them: --pre ${post.id} --post ${pre.id}`,
    });
  }
}

/** `netmon report`: a signed evidence pack of a maintenance window. */
export async function runReport(flags: ReportFlags, io: CliIo): Promise<void> {
  if (flags.change !== undefined && flags.from !== undefined) {
    throw new ConfigError('E_USAGE', 'give --change (the maintenance window of a ticket) or --from/--to (a monitoring period), not both');
  }
  checkOutDir(flags.out);
  // One progress line on a terminal, rewritten in place; the next message clears it.
  const progress = progressLine(io, 'report');
  const signer = loadSigner(flags.keys);
  const wantPdf = flags.pdf !== false;
  if (flags.signP12Passphrase !== undefined && flags.signP12PassphraseFile !== undefined) throw new ConfigError('E_USAGE', 'give --sign-p12-passphrase or --sign-p12-passphrase-file, not both');
  const passphrase = flags.signP12PassphraseFile !== undefined ? readPassphrase(flags.signP12PassphraseFile) : (flags.signP12Passphrase ?? '');
  const pdfIdentity = wantPdf ? openP12(flags.signP12 ? loadPdfIdentity(flags.signP12, true) : loadPdfIdentity(flags.keys), passphrase, flags.signP12 ?? join(flags.keys, P12_FILE)) : null;
  const catalogue = loadControlsCatalogue(flags.controls);
  const expected = flags.expect === undefined ? null : loadExpectedChanges(flags.expect);
  if (nothingAt(flags.db)) throw new StoreError('E_STORE_MISSING', `there is no evidence store at ${flags.db}`, { hint: 'capture with `netmon --once --label pre --change TICKET` first' });
  const store = EvidenceStore.open(flags.db, { readonly: true });
  // Everything the pack says about the store is read in one read transaction: a capture or a
  // prune that commits meanwhile cannot pair a verified chain with a snapshot or a record hash
  // from another state of the store. The store is closed before the PDF is rendered.
  let read;
  try {
    read = store.reading(() => {
      progress(`verifying the evidence store ${flags.db}`);
      const verified = store.verify({ onProgress: (done, total) => progress(`verifying the evidence store ${flags.db}: record ${done} of ${total}`) });
      if (!verified.ok) throw new VerificationError('E_VERIFY', `the evidence store ${flags.db} fails verification at record ${verified.problem!.seq}: ${verified.problem!.message}; no report is made from it`);
      const find = onHost((query) => store.listSnapshots(query), flags.host);
      const period = flags.from !== undefined ? { from: timeFlag('--from', flags.from), to: timeFlag('--to', flags.to ?? new Date().toISOString()) } : null;
      const pruned = () => store.retention();
      const { pre, post } = period !== null ? selectPeriod(find, period.from, period.to, flags.host) : { pre: selectSnapshot(find, flags.pre ?? 'pre', flags.change, 'pre', flags.host, pruned), post: selectSnapshot(find, flags.post ?? 'post', flags.change, 'post', flags.host, pruned) };
      checkOneHost(pre, post, flags.allowHostChange);
      if (expected) checkExpectedFor(expected, flags.change ?? post.change ?? pre.change);
      checkWindowOrder(pre, post);
      const stepped = clockSetBack(pre, post);
      if (stepped !== null) io.stderr(`netmon: note: ${stepped}\n`);
      progress(`loading snapshots ${pre.id} and ${post.id}`);
      // verify() checked every item of the chain in this read transaction: no second check.
      const { label: preLabel, change: preChange, ...before } = store.loadSnapshot(pre.id, { checkItems: false });
      const { label: postLabel, change: postChange, ...after } = store.loadSnapshot(post.id, { checkItems: false });
      return {
        headHash: verified.headHash,
        pre: { id: pre.id, label: preLabel, change: preChange, recordHash: store.recordHashOf(pre.id)!, snapshot: before },
        post: { id: post.id, label: postLabel, change: postChange, recordHash: store.recordHashOf(post.id)!, snapshot: after },
        // The window's continuity by position in the chain, not by the times written in the
        // records: a gap or step between the two captures is recorded between their records, and
        // after a clock set back the times no longer say which those are.
        gaps: store.gaps().filter((g) => g.seq > pre.id && g.seq < post.id),
        capture: store.windowCapture(pre.id, post.id),
        clockSteps: store.clockSteps().filter((c) => c.seq > pre.id && c.seq < post.id),
        requestedPeriod: period === null ? null : { from: period.from.toISOString(), to: period.to.toISOString() },
        retention: pruned(),
      };
    });
  } finally {
    store.close();
  }
  const { pre, post, headHash } = read;
  // A period's snapshots may cover only part of it: said here, and in the PDF.
  const uncovered = read.requestedPeriod === null ? null : periodUncovered(read.requestedPeriod, pre.snapshot.takenAt, post.snapshot.takenAt, read.retention);
  // The PDF's sentence, begun in lower case after "note:" as every other note is.
  if (uncovered !== null) io.stderr(`netmon: note: ${uncovered.charAt(0).toLowerCase()}${uncovered.slice(1)}\n`);
  const { snapshot: before, label: preLabel, change: preChange, recordHash: preHash } = pre;
  const { snapshot: after, label: postLabel, change: postChange, recordHash: postHash } = post;
  progress(`comparing ${before.sockets.length} and ${count(after.sockets.length, 'socket')}`);
  // The findings name the approvals by the file the pack holds (expected-changes.yaml), not by the
  // path given to --expect, which the pack's reader does not have.
  const packed = expected === null ? null : { ...expected, source: EXPECTED_FILE };
  const { findings, notes: selectionNotes, outside } = windowFindings(before, after, catalogue, { expected: packed, now: new Date(), rules: FINDING_RULES });
  for (const note of [...selectionNotes, ...outside]) io.stderr(`netmon: note: ${printableMessage(note)}\n`);
  const generatedAt = new Date();
  // A pack is made after its post capture: one dated before it (this host's clock behind the
  // capture's) would judge approvals at a time before the window ended, and verify refuses it.
  if (generatedAt.getTime() < Date.parse(after.takenAt) - PACK_CLOCK_TOLERANCE_MS) {
    throw new ConfigError('E_CLOCK', `the clock reads ${isoWithOffset(generatedAt)}, before the post snapshot ${post.id} was taken (${isoWithOffset(new Date(after.takenAt))}): a pack made now would say it was made before its window ended, and \`netmon verify\` refuses such a pack`, {
      hint: 'set the clock right (timedatectl, NTP), then make the report',
    });
  }
  const host = after.host.hostname.replace(/[^A-Za-z0-9._-]/g, '_');
  for (const left of clearUnfinishedPacks(flags.out, processAlive)) {
    io.stderr(`netmon: report: removed the unfinished pack ${printable(left.name)} in ${flags.out}, left by a report (pid ${left.pid}) that was killed before it finished\n`);
  }
  // Ctrl-C (or SIGTERM, SIGHUP) while the pack is made stops the report before it writes the
  // pack, and leaves no empty pack directory behind (the default action would kill the process
  // and leave it). Listened for before the directory is reserved, so that no moment is left in
  // which a signal kills the report with the directory made. Heard between steps: a signal during
  // writePack(), which is synchronous, comes after the pack is complete, and the pack stays.
  let stopping: NodeJS.Signals | null = null;
  const interrupted = (signal: NodeJS.Signals): void => {
    stopping ??= signal;
  };
  const stopIfAsked = async (): Promise<void> => {
    await new Promise((resolve) => setImmediate(resolve));
    if (stopping === null) return;
    io.stderr(`netmon: report: ${stopping}: stopped before writing the pack; nothing was written\n`);
    throw new ExitError(128 + (osConstants.signals[stopping] ?? 0));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, interrupted);
  // Reserved now: the signed PDF names its pack directory.
  let dir: string;
  try {
    dir = reservePackDir(join(flags.out, `${host}-${(flags.change ?? (flags.from !== undefined ? 'period' : 'window')).replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp(generatedAt)}`));
  } catch (error) {
    for (const s of signals) process.off(s, interrupted);
    throw error;
  }
  let written = false;
  try {
    const files: { name: string; content: Buffer }[] = [];
    if (pdfIdentity) {
      await stopIfAsked();
      progress(`rendering and signing report.pdf (${count(findings.length, 'finding')})`);
      const blocks = reportBlocks({
        packId: basename(dir),
        change: flags.change ?? null,
        generatedAt: generatedAt.toISOString(),
        netmonVersion: NETMON_VERSION,
        pre: { id: pre.id, label: preLabel, recordHash: preHash, snapshot: before },
        post: { id: post.id, label: postLabel, recordHash: postHash, snapshot: after },
        findings,
        signerFingerprint: signer.fingerprint,
        frameworks: catalogue.frameworks,
        disclaimer: catalogue.disclaimer,
        gaps: read.gaps,
        clockSteps: read.clockSteps,
        capture: read.capture,
        store: { path: resolve(flags.db), headHash },
        integrityControls: packIntegrityControls(catalogue),
        ...(read.requestedPeriod === null ? {} : { requestedPeriod: read.requestedPeriod, retention: read.retention }),
        selectionNotes,
        outsideNotes: outside,
        expectedChanges: expected !== null,
      });
      try {
        files.push({ name: CERT_FILE, content: Buffer.from(pdfIdentity.certificatePem) });
        files.push({ name: 'report.pdf', content: await renderSignedPdf(blocks, { title: `netmon evidence ${after.host.hostname} ${flags.change ?? ''}`.trim(), header: `netmon evidence pack ${basename(dir)}`, signingTime: generatedAt }, pdfIdentity) });
      } catch (error) {
        throw new ConfigError('E_PDF_SIGN', `cannot sign report.pdf: ${error instanceof Error ? error.message : String(error)}`, { hint: flags.signP12 ? 'check --sign-p12 and its passphrase' : 'recreate the keys with `netmon keygen --keys NEWDIR`' });
      }
    }
    await stopIfAsked();
    progress('writing the evidence files and the signed manifest');
    const manifest = writePack(dir, {
      files: [
        ...files,
        { name: 'findings.csv', content: Buffer.from(findingsCsv(findings, { host: after.host.hostname, change: flags.change ?? null })) },
        { name: 'inventory-pre.csv', content: Buffer.from(inventoryCsv(before, pre.id, preLabel, preChange)) },
        { name: 'inventory-post.csv', content: Buffer.from(inventoryCsv(after, post.id, postLabel, postChange)) },
        ...(expected === null ? [] : [{ name: EXPECTED_FILE, content: Buffer.from(expected.text) }]),
        {
          name: 'evidence.json',
          content: Buffer.from(
            evidenceJson({ generatedAt: generatedAt.toISOString(), change: flags.change ?? null, before: { id: pre.id, snapshot: before, recordHash: preHash }, after: { id: post.id, snapshot: after, recordHash: postHash }, findings, notes: [...selectionNotes, ...outside], disclaimer: catalogue.disclaimer, continuity: { gaps: read.gaps, clockSteps: read.clockSteps } }),
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
          headHash,
        },
        expectedChanges: expected === null ? null : EXPECTED_FILE,
        timeZone: reportTimeZone(),
        findingRules: FINDING_RULES,
      },
      signer,
    });
    written = true;
    io.stdout(`${dir}\n`);
    io.stderr(`netmon: evidence pack with ${count(findings.length, 'finding')} and ${count(manifest.files.length + 4, 'file') /* and manifest.json, manifest.sig, SHA256SUMS, SHA256SUMS.sig */} written to ${dir}; signed by key ${signer.fingerprint}\n`);
  } finally {
    for (const s of signals) process.off(s, interrupted);
    if (!written) releasePackDir(dir);
  }
}

/** The error for a pack this user may not read: it cannot be checked here, which is not a failed check (exit 3, not 4). */
function unreadablePack(dir: string, why: string[]): StoreError {
  return new StoreError('E_PACK_UNREADABLE', `cannot check the evidence pack ${dir}: ${why.join('; ')}`, {
    hint: "netmon writes packs readable by their owner and group only (files 0640 in a 0750 directory): run as the pack's owner, a member of its group, or root, or have a copy made for you; nothing was checked",
  });
}

/** `netmon verify PACK_DIR` */
export function runVerify(dir: string, flags: { db?: string; signer?: string }, io: CliIo): void {
  const signer = flags.signer === undefined ? null : flags.signer.toLowerCase().replace(/[:\s]/g, '');
  if (signer !== null && !/^[0-9a-f]{16,64}$/.test(signer)) {
    throw new ConfigError('E_USAGE', `--signer ${JSON.stringify(flags.signer)} is not a key fingerprint`, { hint: 'give the SHA-256 fingerprint `netmon keygen` printed (64 hex digits), or at least its first 16' });
  }
  // A path that is not there is a mistake in the command, not a pack that failed verification.
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(dir, { throwIfNoEntry: false });
  } catch (error) {
    throw unreadablePack(dir, [describeErrno(error, 'opening', dir)]);
  }
  if (!stat) {
    throw new ConfigError('E_USAGE', `there is no evidence pack at ${dir}`, { hint: 'give the pack directory that `netmon report` printed (reports/<host>-<ticket>-<time>)' });
  }
  if (!stat.isDirectory()) {
    throw new ConfigError('E_USAGE', `${dir} is a file; an evidence pack is a directory`, { hint: 'give the directory that holds manifest.json' });
  }
  const db = flags.db ?? null;
  const progress = progressLine(io, 'verify');
  let store: EvidenceStore | null = null;
  if (db !== null) {
    if (nothingAt(db)) throw new StoreError('E_STORE_MISSING', `there is no evidence store at ${db}`);
    store = EvidenceStore.open(db, { readonly: true });
  }
  try {
    const catalogue = store ? loadControlsCatalogue() : null;
    let chainVerified = false;
    const witness: StoreWitness | undefined = store
      ? {
          path: db!,
          recordHashOf: (seq: number) => store!.recordHashOf(seq),
          hasRecordHash: (hash: string, fromSeq: number) => store!.hasRecordHash(hash, fromSeq),
          prunedBefore: () => store!.retention()?.cutoff ?? null,
          content: (preId: number, postId: number, options: { timeZone: string | null; approvals: { bytes: Buffer; at: string; change: string | null } | null; rules: number }) => {
            progress(`reading snapshots ${preId} and ${postId} back from ${db}`);
            // When the chain verified (verifyPack asks first, in this read transaction), its items were checked with it.
            const checkItems = !chainVerified;
            const { label: preLabel, change: preChange, ...before } = store!.loadSnapshot(preId, { checkItems });
            const { label: postLabel, change: postChange, ...after } = store!.loadSnapshot(postId, { checkItems });
            const { approvals } = options;
            // In the pack's time zone: its inventories' times carry its offset, and a date-only
            // expiry of an approval ends at its midnight.
            return inTimeZone(options.timeZone, () => {
              // The approvals as the pack's own expected-changes file makes them, at the time the pack was made.
              const source = `${EXPECTED_FILE} in the pack`;
              const expected = approvals === null ? null : parseExpectedChanges(expectedChangesText(approvals.bytes, source), source);
              if (expected !== null) checkExpectedFor(expected, approvals!.change);
              // By the rules the pack was made with (a pack made before a rule changed still verifies),
              // and, asked, by an earlier form of them.
              const packed = (rules: number, form?: string) =>
                windowFindings(before, after, catalogue!, { expected, now: approvals === null ? new Date() : new Date(approvals.at), rules, ...(form === undefined ? {} : { form }) }).findings.map((f) => ({
                  id: f.id,
                  kind: f.kind,
                  severity: f.severity,
                  approval: f.approval,
                  justification: f.expected?.justification ?? '',
                  approvedBy: f.expected?.approvedBy ?? '',
                }));
              return {
                files: new Map([
                  ['inventory-pre.csv', Buffer.from(inventoryCsv(before, preId, preLabel, preChange))],
                  ['inventory-post.csv', Buffer.from(inventoryCsv(after, postId, postLabel, postChange))],
                ]),
                snapshots: { pre: JSON.parse(renderJson(before)) as unknown, post: JSON.parse(renderJson(after)) as unknown },
                findings: packed(options.rules),
                findingsBy: (rules: number, form?: string) => inTimeZone(options.timeZone, () => packed(rules, form)),
              };
            });
          },
          // A year of 10-second captures is millions of records: say how far the check is.
          verifyOk: () => (chainVerified = store!.verify({ onProgress: (done, total) => progress(`verifying the evidence store ${db}: record ${done} of ${total}`) }).ok),
          prunedAway: (seq: number) => {
            const r = store!.retention();
            return r !== null && seq <= r.removedThrough ? prunedWords(r) : null;
          },
        }
      : undefined;
    progress(`checking the evidence pack ${dir}`);
    // One read transaction: the record hashes and the chain are checked against one state of the store.
    const { problems, manifest, notes, unreadable } = store ? store.reading(() => verifyPack(dir, witness)) : verifyPack(dir, witness);
    progress(null);
    if (unreadable.length > 0) throw unreadablePack(dir, unreadable.map((p) => p.message));
    for (const note of notes) io.stderr(`netmon: note: ${printableMessage(note)}\n`);
    if (signer !== null && manifest && !String(manifest.signer?.fingerprint ?? '').startsWith(signer)) {
      problems.push({ file: 'manifest.json', message: `it is signed by key ${String(manifest.signer?.fingerprint ?? '(none)')}, not by the key --signer names (${signer})` });
    }
    if (problems.length > 0) {
      // Names come from the pack, which may be hostile: escaped, so that no control character
      // can rewrite the terminal's lines (a FAILED line overwritten to read as verified).
      for (const p of problems) io.stderr(`netmon: FAILED ${printable(p.file)}: ${printableMessage(p.message)}\n`);
      io.stderr(`netmon: the evidence pack ${printable(dir)} failed verification (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'})\n`);
      throw new ExitError(4);
    }
    io.stdout(
      `evidence pack ${printable(dir)} verified: ${packSubject(manifest!)}; ${manifest!.files.length + (manifest!.packFormat >= 3 ? 4 : 3)} files, manifest signed by ${manifest!.signer.fingerprint}${signer !== null ? ' (the key --signer names)' : ''}${manifest!.files.some((f) => f.name === 'report.pdf') ? ', report.pdf signature valid' : ''}${store ? `, snapshots ${manifest!.store.snapshots.map((s) => s.id).join(' and ')}, their inventories and findings${manifest!.packFormat === 1 ? '' : manifest!.expectedChanges === null ? ' (none approved)' : ` and the approvals of ${EXPECTED_FILE}`} match ${db}` : ''}\n`,
    );
    // A valid signature says the pack is whole, not whose it is: anyone can sign with a key of their own.
    if (signer === null) io.stderr('netmon: note: any key makes a valid signature; compare the fingerprint above with the one your organisation published, or give --signer FINGERPRINT\n');
  } finally {
    store?.close();
  }
}

/** What a pack is the evidence of, as `verify` names it: host, change and window, from the signed manifest. */
function packSubject(manifest: Manifest): string {
  const { host, window: w } = manifest;
  return `host ${printable(String(host?.hostname))}, ${w?.change === null || w?.change === undefined ? 'no change ticket' : `change ${printable(String(w.change))}`}, window ${printable(String(w?.from))} to ${printable(String(w?.to))}`;
}

/** The time zone this process runs in, as a pack records it: TZ when set, else the system's. */
function reportTimeZone(): string {
  return process.env.TZ || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** `make()` run with this process in time zone `zone` (null: as it is), which is then put back. */
function inTimeZone<T>(zone: string | null, make: () => T): T {
  if (zone === null || zone === reportTimeZone()) return make();
  const before = process.env.TZ;
  process.env.TZ = zone;
  try {
    return make();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}
