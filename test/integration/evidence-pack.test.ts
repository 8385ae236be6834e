import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { isoWithOffset } from '../../src/model/iso-time.js';
import { CLI, HOLDER, haveCommand, isRoot, runCli, skipWithReason, startJsonProcess, stop } from '../helpers/processes.js';
import { opensslIdentity } from '../helpers/identities.js';
import { manyProcesses, manySockets, snapshotOf } from '../helpers/store-fixtures.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';

/** A store whose window is 8,000 sockets: a report of it takes long enough to be interrupted. */
function largeWindowStore(path: string): string {
  const store = EvidenceStore.open(path);
  store.beginSession({ interval: null });
  const processes = manyProcesses(20);
  store.appendSnapshot(snapshotOf({ sockets: manySockets(8000, 20), processes, takenAt: new Date(Date.now() - 60_000) }));
  store.appendSnapshot(snapshotOf({ sockets: manySockets(8001, 20), processes, takenAt: new Date() }));
  store.close();
  return path;
}

const SIGNER_NOTE = 'netmon: note: any key makes a valid signature; compare the fingerprint above with the one your organisation published, or give --signer FINGERPRINT\n';
const skip = skipWithReason(!haveCommand('openssl') || !haveCommand('sha256sum'), 'evidence pack tests: need openssl and sha256sum');
const dir = mkdtempSync(join(tmpdir(), 'netmon-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(skip)('netmon keygen, report and verify', () => {
  let pack = '';
  let keygenStderr = '';
  const db = join(dir, 'n.db');
  const cli = (args: string[]) => runCli(args, { cwd: dir });

  beforeAll(async () => {
    const keygen = cli(['keygen']);
    expect(keygen.status).toBe(0);
    keygenStderr = keygen.stderr;
    const capture = ['--db', db, '--csv', join(dir, 'n.csv'), '--no-hash-binaries', '--filter', ':3939'];
    expect(cli(['--once', '--label', 'pre', '--change', 'CHG-77', ...capture]).status).toBe(0);
    // During the window an unexpected listener appears, and a process connects out to it.
    const listener = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3939']);
    const client = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--connect', '127.0.0.1:3939']);
    try {
      expect(cli(['--once', '--label', 'post', '--change', 'CHG-77', ...capture]).status).toBe(0);
    } finally {
      await stop(client.child);
      await stop(listener.child);
    }
    const r = cli(['report', '--change', 'CHG-77', '--db', db]);
    expect(r.status, r.stderr).toBe(0);
    pack = join(dir, r.stdout.trim());
    reportStderr = r.stderr;
  });
  let reportStderr = '';

  it('the key report says it signed with is what verify --signer takes, pasted as printed', () => {
    const printed = /signed by key ([0-9a-f]{64})\n/.exec(reportStderr)?.[1];
    expect(printed, reportStderr).toBeDefined();
    const r = cli(['verify', pack, '--signer', printed!]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`manifest signed by ${printed} (the key --signer names)`);
  });

  it('writes the pack files; the private key stays out of it and is mode 0600', () => {
    expect(readdirSync(pack).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', 'VERIFY.md', 'evidence.json', 'findings.csv', 'inventory-post.csv', 'inventory-pre.csv', 'manifest.json', 'manifest.sig', 'report.pdf', 'signer.cert.pem', 'signer.pub.pem']);
    // The count report prints is the files written.
    expect(reportStderr).toContain(`and ${readdirSync(pack).length} files written to `);
    expect(statSync(join(dir, 'netmon-keys', 'signer.key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'netmon-keys', 'signer.p12')).mode & 0o777).toBe(0o600);
    // What it captured (command lines among it) is for the owner and the group, not every user.
    expect(statSync(pack).mode & 0o777).toBe(0o750);
    for (const f of readdirSync(pack)) expect([f, statSync(join(pack, f)).mode & 0o777]).toEqual([f, 0o640]);
    expect(readFileSync(join(pack, 'findings.csv'), 'utf8')).toMatch(/new listener tcp 127\.0\.0\.1:3939/);
    const manifest = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8')) as { packFormat: number; timeZone: string; expectedChanges: string | null; window: { change: string }; store: { snapshots: { id: number; recordHash: string }[] } };
    expect(manifest.packFormat).toBe(3);
    expect(typeof manifest.timeZone).toBe('string');
    expect(manifest.expectedChanges).toBeNull();
    expect(manifest.window.change).toBe('CHG-77');
    const store = EvidenceStore.open(db, { readonly: true });
    for (const s of manifest.store.snapshots) expect(store.recordHashOf(s.id)).toBe(s.recordHash);
    store.close();
  });

  it('evidence.json holds both snapshots exactly as stored, one socket or finding per line', () => {
    const text = readFileSync(join(pack, 'evidence.json'), 'utf8');
    const evidence = JSON.parse(text) as {
      schemaVersion: number;
      change: string;
      snapshots: Record<'pre' | 'post', { id: number; recordHash: string; snapshot: unknown }>;
      findings: unknown[];
    };
    expect([evidence.schemaVersion, evidence.change]).toEqual([3, 'CHG-77']);
    expect((evidence as unknown as { notes: string[] }).notes).toEqual([]);
    // Nothing interrupted the captures of this window.
    expect(JSON.parse(text).continuity).toEqual({ gaps: [], clockSteps: [] });
    const store = EvidenceStore.open(db, { readonly: true });
    try {
      for (const side of ['pre', 'post'] as const) {
        const { id, recordHash, snapshot } = evidence.snapshots[side];
        expect(recordHash).toBe(store.recordHashOf(id));
        // The snapshot document as captured (label and change ticket are the window's, above).
        const { label: _label, change: _change, ...stored } = store.loadSnapshot(id);
        expect(snapshot).toStrictEqual(JSON.parse(JSON.stringify(stored)));
      }
    } finally {
      store.close();
    }
    const lines = text.split('\n');
    const socketLines = lines.filter((l) => l.trimStart().startsWith('{"transport":'));
    const sockets = (['pre', 'post'] as const).reduce((n, side) => n + (evidence.snapshots[side].snapshot as { sockets: unknown[] }).sockets.length, 0);
    expect(socketLines).toHaveLength(sockets);
    for (const line of socketLines) expect(() => JSON.parse(line.trim().replace(/,$/, ''))).not.toThrow();
    expect(lines.filter((l) => l.trimStart().startsWith('{"id":"NM-'))).toHaveLength(evidence.findings.length);
  });

  it('verifies with standard tools only: sha256sum -c and openssl pkeyutl', () => {
    const sums = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: pack, encoding: 'utf8' });
    expect(sums.status, sums.stdout + sums.stderr).toBe(0);
    expect(sums.stdout.trim().split('\n').every((l) => l.endsWith(': OK'))).toBe(true);
    const sig = spawnSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'signer.pub.pem', '-rawin', '-in', 'manifest.json', '-sigfile', 'manifest.sig'], { cwd: pack, encoding: 'utf8' });
    expect(sig.status, sig.stderr).toBe(0);
    expect(sig.stdout).toMatch(/Signature Verified Successfully/);
    expect(readFileSync(join(pack, 'VERIFY.md'), 'utf8')).toContain('openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in manifest.json -sigfile manifest.sig');
    const sumsSig = spawnSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'signer.pub.pem', '-rawin', '-in', 'SHA256SUMS', '-sigfile', 'SHA256SUMS.sig'], { cwd: pack, encoding: 'utf8' });
    expect(sumsSig.status, sumsSig.stderr).toBe(0);
    expect(sumsSig.stdout).toMatch(/Signature Verified Successfully/);
    expect(readFileSync(join(pack, 'VERIFY.md'), 'utf8')).toContain('openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig');
  });

  it('VERIFY.md, run as written, finds a file added to the pack and shows the signed host, ticket and window (an auditor probe: an added ERRATA.txt passed every step)', () => {
    const guide = readFileSync(join(pack, 'VERIFY.md'), 'utf8');
    const command = (step: number): string => {
      const m = new RegExp(`^${step}\\. [\\s\\S]*?\\n\\n {7}(\\S[^\\n]*)\\n`, 'm').exec(guide);
      expect(m, `step ${step} of VERIFY.md`).not.toBeNull();
      return m![1]!;
    };
    const added = command(3);
    expect(added).toContain('uniq -u');
    const copy = join(dir, 'added');
    cpSync(pack, copy, { recursive: true });
    const clean = spawnSync('sh', ['-c', added], { cwd: copy, encoding: 'utf8' });
    expect(clean.status, clean.stderr).toBe(0);
    expect(clean.stdout).toBe('');
    writeFileSync(join(copy, 'ERRATA.txt'), 'corrected findings: all approved\n');
    expect(spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: copy, encoding: 'utf8' }).status).toBe(0);
    expect(spawnSync('sh', ['-c', added], { cwd: copy, encoding: 'utf8' }).stdout).toBe('ERRATA.txt\n');
    expect(cli(['verify', copy]).status).toBe(4);

    const manifest = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8')) as { host: { hostname: string }; window: { from: string; to: string } };
    const shown = spawnSync('sh', ['-c', command(4)], { cwd: pack, encoding: 'utf8' });
    expect(shown.status, shown.stderr).toBe(0);
    for (const value of [manifest.host.hostname, manifest.window.from, manifest.window.to]) expect(shown.stdout).toContain(JSON.stringify(value));
    expect(shown.stdout).toContain('"change":');
    expect(guide).toContain(`window ${manifest.window.from} to ${manifest.window.to}.`);
  });

  it('a file changed together with its SHA256SUMS line fails the steps of VERIFY.md (an auditor probe: sha256sum -c passed, and nothing compared the files with the signed manifest)', () => {
    const copy = join(dir, 'resummed');
    cpSync(pack, copy, { recursive: true });
    const evidence = join(copy, 'evidence.json');
    writeFileSync(evidence, readFileSync(evidence, 'utf8').replace('"severity":', '"severity" :'));
    const sum = spawnSync('sha256sum', ['evidence.json'], { cwd: copy, encoding: 'utf8' }).stdout.split(' ')[0]!;
    const sumsFile = join(copy, 'SHA256SUMS');
    writeFileSync(sumsFile, readFileSync(sumsFile, 'utf8').replace(/^[0-9a-f]{64}(?=  evidence\.json$)/m, sum));
    expect(spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: copy, encoding: 'utf8' }).status).toBe(0);
    // Step 1 of VERIFY.md catches it with openssl alone.
    const step1 = spawnSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'signer.pub.pem', '-rawin', '-in', 'SHA256SUMS', '-sigfile', 'SHA256SUMS.sig'], { cwd: copy, encoding: 'utf8' });
    expect(step1.status).not.toBe(0);
    expect(step1.stdout + step1.stderr).not.toMatch(/Signature Verified Successfully/);
    const r = cli(['verify', copy]);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('netmon: FAILED SHA256SUMS.sig: the signature over SHA256SUMS does not verify with signer.pub.pem (SHA256SUMS, SHA256SUMS.sig or the key was changed)');
    expect(r.stderr).toContain('netmon: FAILED evidence.json: its size or SHA-256 does not match manifest.json (the file was changed)');
    // A pack of format 3 without its SHA256SUMS.sig is incomplete.
    rmSync(join(copy, 'SHA256SUMS.sig'));
    expect(cli(['verify', copy]).stderr).toContain('netmon: FAILED SHA256SUMS.sig: it is missing (a pack of format 3 signs its SHA256SUMS)');
  });

  it('netmon verify passes on the pack, and with the store', () => {
    const r = cli(['verify', pack, '--db', db]);
    expect(r.status, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8')) as { host: { hostname: string }; window: { from: string; to: string; change: string | null } };
    const change = manifest.window.change === null ? 'no change ticket' : `change ${manifest.window.change}`;
    // It names what the pack is the evidence of (an auditor probe: another window's pack, copied under this one's name, passed with no word of its ticket).
    expect(r.stdout).toContain(`verified: host ${manifest.host.hostname}, ${change}, window ${manifest.window.from} to ${manifest.window.to}; 12 files`);
    expect(r.stdout).toMatch(/; 12 files, manifest signed by [0-9a-f]{64}, report.pdf signature valid, snapshots \d+ and \d+, their inventories and findings \(none approved\) match /);
    expect(r.stderr).toBe('netmon: note: any key makes a valid signature; compare the fingerprint above with the one your organisation published, or give --signer FINGERPRINT\n');
  });

  it('a path that is no pack is a usage error (exit 2), not a failed verification', () => {
    const missing = cli(['verify', join(dir, 'reports', 'no-such-pack')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('there is no evidence pack at');
    expect(missing.stderr).not.toContain('FAILED');
    const file = cli(['verify', db]);
    expect(file.status).toBe(2);
    expect(file.stderr).toContain('is a file; an evidence pack is a directory');
  });

  it.skipIf(!isRoot || !haveCommand('setpriv'))('a pack this user may not read cannot be checked (exit 3, what to do), never a failed verification', () => {
    // As nobody, outside the pack's group: the pack directory, one file, or the directory above it unreadable.
    const above = mkdtempSync(join(tmpdir(), 'netmon-pack-unreadable-'));
    const copy = join(above, 'pack');
    chmodSync(above, 0o755);
    cpSync(pack, copy, { recursive: true });
    const asNobody = (target: string) => runCli(['verify', target], { cwd: dir, prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] });
    const expectUnreadable = (r: ReturnType<typeof asNobody>, what: string) => {
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toContain(`netmon: error: cannot check the evidence pack ${copy}: `);
      expect(r.stderr).toContain(what);
      expect(r.stderr).toContain("run as the pack's owner, a member of its group, or root");
      expect(r.stderr).not.toContain('FAILED');
      expect(r.stderr).not.toContain('internal error');
    };
    chmodSync(copy, 0o755);
    for (const f of readdirSync(copy)) chmodSync(join(copy, f), 0o644);
    const readable = asNobody(copy);
    expect(readable.status, readable.stderr).toBe(0);
    chmodSync(join(copy, 'evidence.json'), 0o600);
    expectUnreadable(asNobody(copy), `permission denied) reading ${join(copy, 'evidence.json')}`);
    chmodSync(copy, 0o700);
    expectUnreadable(asNobody(copy), `permission denied) listing ${copy}`);
    chmodSync(copy, 0o755);
    chmodSync(above, 0o700);
    expectUnreadable(asNobody(copy), `permission denied) opening ${copy}`);
    rmSync(above, { recursive: true, force: true });
  });

  it('names every file changed by one byte, and an added file, with exit 4', () => {
    for (const name of readdirSync(pack)) {
      const copy = join(dir, `tamper-${name}`);
      cpSync(pack, copy, { recursive: true });
      const bytes = readFileSync(join(copy, name));
      const at = Math.floor(bytes.length / 2);
      bytes[at] = bytes[at]! ^ 0x01;
      writeFileSync(join(copy, name), bytes);
      const r = cli(['verify', copy]);
      expect(r.status, name).toBe(4);
      expect(r.stderr, name).toContain(`FAILED ${name}:`);
    }
    const added = join(dir, 'tamper-added');
    cpSync(pack, added, { recursive: true });
    writeFileSync(join(added, 'extra.txt'), 'planted');
    const r = cli(['verify', added]);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('FAILED extra.txt: it is not listed in SHA256SUMS');
  });

  it('a pack file replaced by a symbolic link, a FIFO or a directory is named, not followed or read (no hang on a FIFO or /dev/zero)', () => {
    const cases: [string, (path: string) => void, RegExp][] = [
      ['link to /dev/zero', (path) => symlinkSync('/dev/zero', path), /FAILED findings\.csv: it is a symbolic link, not a file of a pack; it was not followed/],
      ['link to the real file', (path) => { const real = `${path}.real`; cpSync(join(pack, 'findings.csv'), real); symlinkSync(real, path); }, /FAILED findings\.csv: it is a symbolic link/],
      ['FIFO', (path) => expect(spawnSync('mkfifo', [path]).status).toBe(0), /FAILED findings\.csv: it is a pipe \(FIFO\), not a file of a pack; it was not read/],
      ['directory', (path) => mkdirSync(path), /FAILED findings\.csv: it is a directory, not a file of a pack/],
    ];
    for (const [what, plant, expected] of cases) {
      const copy = join(dir, `special-${what.replace(/\W+/g, '-')}`);
      cpSync(pack, copy, { recursive: true });
      rmSync(join(copy, 'findings.csv'));
      plant(join(copy, 'findings.csv'));
      // A verify that blocked on the FIFO or read /dev/zero forever would be stopped here.
      const r = spawnSync(process.execPath, [CLI, 'verify', copy], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
      expect(r.signal, what).toBeNull();
      expect(r.status, `${what}: ${r.stderr}`).toBe(4);
      expect(r.stderr, what).toMatch(expected);
    }
  });

  it('refuses to sign with keys others could read or replace (exit 2), and to make keys in a directory others can write to', () => {
    const keys = join(dir, 'exposed-keys');
    expect(cli(['keygen', '--keys', keys]).status).toBe(0);
    const report = () => cli(['report', '--change', 'CHG-77', '--db', db, '--keys', keys, '--out', join(dir, 'exposed-out'), '--no-pdf']);
    const key = join(keys, 'signer.key.pem');
    chmodSync(key, 0o644);
    let r = report();
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('signer.key.pem can be read or written by others than its owner (mode 0644)');
    expect(r.stderr).toContain(`hint: chmod 600 ${key}`);
    chmodSync(key, 0o600);
    chmodSync(keys, 0o777);
    r = report();
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('the directory is writable by everyone (mode 0777)');
    chmodSync(keys, 0o700);
    // A key file that is a link to a key elsewhere: refused too.
    const elsewhere = join(dir, 'elsewhere.key.pem');
    cpSync(key, elsewhere);
    rmSync(key);
    symlinkSync(elsewhere, key);
    r = report();
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('signer.key.pem is a symbolic link');
    rmSync(key);
    cpSync(elsewhere, key);
    chmodSync(key, 0o600);
    expect(report().status).toBe(0);
    expect(existsSync(join(dir, 'exposed-out'))).toBe(true);
    // keygen into a directory everyone can write to.
    const shared = join(dir, 'shared-keys');
    mkdirSync(shared, { mode: 0o777 });
    chmodSync(shared, 0o777);
    const k = cli(['keygen', '--keys', shared]);
    expect(k.status, k.stderr).toBe(2);
    expect(readdirSync(shared)).toEqual([]);
  });

  it('refuses a key directory whose keys are not a pair, are not PEM keys, are not files, or are half there (exit 2, the file named)', () => {
    const keys = join(dir, 'odd-keys');
    const other = join(dir, 'other-keys');
    expect(cli(['keygen', '--keys', keys]).status).toBe(0);
    expect(cli(['keygen', '--keys', other]).status).toBe(0);
    const out = join(dir, 'odd-out');
    const report = () => cli(['report', '--change', 'CHG-77', '--db', db, '--keys', keys, '--out', out, '--no-pdf']);
    const pub = join(keys, 'signer.pub.pem');
    const key = join(keys, 'signer.key.pem');
    const original = readFileSync(pub);
    const expectRefused = (text: string) => {
      const r = report();
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(text);
      expect(r.stderr).not.toContain('internal error');
      expect(existsSync(out)).toBe(false);
    };
    // The public key of another pair: every pack would fail verification, under a fingerprint that signed nothing.
    cpSync(join(other, 'signer.pub.pem'), pub);
    expectRefused(`${pub} is not the public key of ${key}: packs signed with them would fail verification`);
    writeFileSync(pub, '');
    expectRefused(`${pub} is not a public key in PEM form`);
    // A link to a device that never ends is not read.
    rmSync(pub);
    symlinkSync('/dev/zero', pub);
    expectRefused(`${pub} is not a regular file (a character device)`);
    rmSync(pub);
    const missing = report();
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(`cannot read the signing key ${pub}: ENOENT`);
    expect(missing.stderr).toContain(`${keys} holds signer.key.pem but not signer.pub.pem: restore signer.pub.pem from your backup`);
    writeFileSync(pub, original);
    const privateKey = readFileSync(key);
    writeFileSync(key, 'not a key\n');
    expectRefused(`${key} is not a private key in PEM form`);
    writeFileSync(key, privateKey);
    expect(report().status).toBe(0);
  });

  it.skipIf(!isRoot)('keygen on a full disk leaves no half key set behind (exit 3), so keygen can be run again', () => {
    const small = join(dir, 'small-keys');
    mkdirSync(small);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', small]).status).toBe(0);
    try {
      const r = cli(['keygen', '--keys', join(small, 'k')]);
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toContain('ENOSPC (no space left on device)');
      expect(r.stderr).toContain(`nothing of them was left in ${join(small, 'k')}`);
      expect(readdirSync(small)).toEqual([]);
    } finally {
      spawnSync('umount', [small]);
    }
  });

  it('refuses an --out that is a pack (which a pack written into would break) or not a directory (exit 2)', () => {
    const before = readdirSync(pack).sort();
    const into = cli(['report', '--change', 'CHG-77', '--db', db, '--out', pack, '--no-pdf']);
    expect(into.status, into.stderr).toBe(2);
    expect(into.stderr).toContain(`--out ${pack} is an evidence pack (it holds manifest.json): a pack is never written into another`);
    expect(readdirSync(pack).sort()).toEqual(before);
    expect(cli(['verify', pack]).status).toBe(0);
    const file = join(dir, 'out-file');
    writeFileSync(file, '');
    const r = cli(['report', '--change', 'CHG-77', '--db', db, '--out', file, '--no-pdf']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`--out ${file} is not a directory`);
  });

  it('refuses a window read backwards or made of one snapshot (exit 2): a signed pack would report additions as removals, or nothing', () => {
    const out = join(dir, 'backwards');
    const store = EvidenceStore.open(db, { readonly: true });
    const [pre, post] = [store.listSnapshots({ label: 'pre', change: 'CHG-77' })[0]!.id, store.listSnapshots({ label: 'post', change: 'CHG-77' })[0]!.id];
    store.close();
    const reversed = cli(['report', '--db', db, '--pre', String(post), '--post', String(pre), '--out', out]);
    expect(reversed.status, reversed.stderr).toBe(2);
    expect(reversed.stderr).toMatch(new RegExp(`the pre snapshot ${post} \\([^)]+\\) was captured after the post snapshot ${pre} \\([^)]+\\): a pack of it would report what the window added as removed`));
    expect(reversed.stderr).toContain(`hint: swap them: --pre ${pre} --post ${post}`);
    const same = cli(['report', '--db', db, '--pre', String(pre), '--post', String(pre), '--out', out]);
    expect(same.status, same.stderr).toBe(2);
    expect(same.stderr).toContain(`the pre and the post snapshot are the same snapshot (${pre}, `);
    expect(existsSync(out)).toBe(false);
  });

  it('prints names from a pack escaped: a file name cannot rewrite the terminal line that says FAILED', () => {
    const copy = join(dir, 'hostile-names');
    cpSync(pack, copy, { recursive: true });
    writeFileSync(join(copy, '\r\x1b[2Kevidence pack verified\x1b[8m'), '');
    const r = cli(['verify', copy]);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('netmon: FAILED \\x0d\\x1b[2Kevidence pack verified\\x1b[8m: it is not listed in SHA256SUMS or manifest.json (a file was added)');
    expect(r.stderr).not.toMatch(/[\r\x1b]/);
  });

  it('a damaged manifest.json is named, and the other files are checked against SHA256SUMS rather than all named as added', () => {
    const copy = join(dir, 'bad-manifest');
    cpSync(pack, copy, { recursive: true });
    const manifest = join(copy, 'manifest.json');
    writeFileSync(manifest, `x${readFileSync(manifest, 'utf8').slice(1)}`);
    const r = cli(['verify', copy]);
    expect(r.status).toBe(4);
    expect(r.stderr.match(/FAILED/g)).toHaveLength(2);
    expect(r.stderr).toContain('netmon: FAILED manifest.json: it is not valid JSON');
    expect(r.stderr).toContain('netmon: FAILED manifest.json: it does not match its SHA256SUMS line (the file was changed)');
    expect(r.stderr).toContain('without a readable manifest.json, the other files were checked against SHA256SUMS only, whose own signature (SHA256SUMS.sig) is checked below');
    // A file changed too is still named.
    writeFileSync(join(copy, 'findings.csv'), 'changed\n');
    const both = cli(['verify', copy]);
    expect(both.stderr).toContain('netmon: FAILED findings.csv: it does not match its SHA256SUMS line (the file was changed)');
    expect(both.stderr.match(/FAILED/g)).toHaveLength(3);
  });

  it('a pack file grown past any size netmon writes is named as such and not read, not also called missing', () => {
    const copy = join(dir, 'huge-file');
    cpSync(pack, copy, { recursive: true });
    // Sparse: 3 GiB of length, no blocks.
    truncateSync(join(copy, 'SHA256SUMS'), 3 * 1024 ** 3);
    const r = cli(['verify', copy]);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('netmon: FAILED SHA256SUMS: it holds 3221225472 bytes, more than any file netmon writes into a pack');
    expect(r.stderr).not.toContain('missing');
    expect(r.stderr).not.toContain('ERR_FS_FILE_TOO_LARGE');
    rmSync(copy, { recursive: true });
  });

  it('a store SQLite cannot read whole fails verification (exit 4, "corrupt"), for verify-store, report and verify --db alike', () => {
    const copy = join(dir, 'corrupt.db');
    cpSync(db, copy);
    // A page of the items table overwritten: the file still opens, its evidence is no longer all there.
    const raw = EvidenceStore.open(copy, { readonly: true });
    raw.close();
    const root = Number(spawnSync('sqlite3', [copy, "SELECT rootpage FROM sqlite_master WHERE name = 'items'"], { encoding: 'utf8' }).stdout.trim());
    expect(root).toBeGreaterThan(1);
    const bytes = readFileSync(copy);
    const pageSize = bytes.readUInt16BE(16);
    bytes.fill(0xff, (root - 1) * pageSize, (root - 1) * pageSize + 64);
    writeFileSync(copy, bytes);
    for (const args of [['verify-store', '--db', copy], ['report', '--change', 'CHG-77', '--db', copy, '--out', join(dir, 'corrupt-out')], ['verify', pack, '--db', copy]]) {
      const r = cli(args);
      expect(r.status, `${args[0]}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain(`${copy} is corrupt: SQLite cannot read it as a database`);
      expect(r.stderr).toContain(`sqlite3 ${copy} 'PRAGMA integrity_check'`);
      expect(r.stderr).not.toContain('internal error');
    }
    expect(existsSync(join(dir, 'corrupt-out'))).toBe(false);
  });

  it('report.pdf carries a valid embedded signature over the whole document (pdfsig)', ({ skip }) => {
    if (!haveCommand('pdfsig') || !haveCommand('pdftotext')) return skip('pdfsig/pdftotext (poppler-utils) not installed');
    const sig = spawnSync('pdfsig', [join(pack, 'report.pdf')], { encoding: 'utf8' });
    expect(sig.stdout).toContain('Signature Validation: Signature is Valid.');
    expect(sig.stdout).toContain('Total document signed');
    expect(sig.stdout).toContain('Signer Certificate Common Name: netmon evidence signer');
    const fp = (file: string, args: string[]) => spawnSync('openssl', [...args, file], { encoding: 'utf8' }).stdout.trim();
    // The certificate in the pack is the one in the key directory.
    expect(fp(join(pack, 'signer.cert.pem'), ['x509', '-noout', '-fingerprint', '-sha256', '-in'])).toBe(fp(join(dir, 'netmon-keys', 'signer.cert.pem'), ['x509', '-noout', '-fingerprint', '-sha256', '-in']));
    expect(readFileSync(join(pack, 'VERIFY.md'), 'utf8')).toContain('pdfsig report.pdf');
    // VERIFY.md prints the certificate's fingerprint exactly as openssl does, to compare.
    const printed = fp(join(pack, 'signer.cert.pem'), ['x509', '-noout', '-fingerprint', '-sha256', '-in']).replace(/^sha256 Fingerprint=/i, '');
    expect(printed).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    // And keygen printed it, where the owner registers it (an auditor probe: only the key's was printed).
    expect(keygenStderr).toContain(`the PDF signing certificate's, SHA-256 ${printed}\n`);
    expect(readFileSync(join(pack, 'VERIFY.md'), 'utf8')).toContain(`Its SHA-256\n   fingerprint is\n\n       ${printed}\n`);
  });

  it('report.pdf says what the pack says: findings, window, snapshots, page N of M', ({ skip }) => {
    if (!haveCommand('pdftotext')) return skip('pdftotext (poppler-utils) not installed');
    const text = spawnSync('pdftotext', ['-layout', join(pack, 'report.pdf'), '-'], { encoding: 'utf8' }).stdout;
    const evidence = JSON.parse(readFileSync(join(pack, 'evidence.json'), 'utf8')) as { findings: { id: string; summary: string }[]; window: { from: string; to: string } };
    expect(evidence.findings.length).toBeGreaterThan(0);
    for (const f of evidence.findings) expect(text).toContain(f.id);
    expect(text).toContain('new listener tcp 127.0.0.1:3939');
    // Both findings of the story, each with its controls, and the outbound destination in the inventory.
    const csv = readFileSync(join(pack, 'findings.csv'), 'utf8');
    expect(csv).toMatch(/outbound-opened/);
    const outbound = evidence.findings.find((f) => f.summary.startsWith('new outbound connection') && f.summary.includes('127.0.0.1:3939'))!;
    expect(outbound).toBeDefined();
    expect(text).toContain(outbound.id);
    // Controls are named with the framework's edition, and every framework's heading gives its version.
    expect(text).toMatch(/Controls: .*ISO\/IEC 27001:2022 A\.8\.16/);
    expect(text).toMatch(/Payment Card Industry Data Security Standard, version 4\.0\.1/);
    expect(text).toMatch(/\d+ primary controls?/);
    expect(text).toMatch(/Outbound destinations after: [1-9]\d* destination/);
    // The PDF prints times as the command line does: local time with its offset, to the second.
    expect(text).toContain(`${isoWithOffset(new Date(evidence.window.from))} to ${isoWithOffset(new Date(evidence.window.to))}`);
    expect(text).toContain('Change: CHG-77');
    expect(text).toMatch(/Page 1 of \d+/);
    // Two --once captures: no claim that a watched window had no gap (an auditor probe).
    expect(text.replace(/\s+/g, ' ')).toContain('The window is two point-in-time captures (netmon --once) at ');
    expect(text).not.toContain('records no capture gap');
    // The pack's own integrity is evidence for the catalogue's evidence_integrity_verified controls (an auditor probe found them cited nowhere).
    expect(text.replace(/\s+/g, ' ')).toMatch(/Controls: this pack, a verified hash chain and signed files, is evidence for .*AU-9/);
    // Who took each capture (an auditor probe found no word of it).
    if (isRoot) expect(text.replace(/\s+/g, ' ')).toMatch(/Before: captured by root \(uid 0\); captured (with|WITHOUT) full privilege/);
  });

  it('netmon verify checks the PDF signature itself: appended bytes and a swapped certificate are named', () => {
    // The manifest catches both as changed files; the PDF check names what is wrong with the PDF.
    const copy = join(dir, 'pdf-appended');
    cpSync(pack, copy, { recursive: true });
    writeFileSync(join(copy, 'report.pdf'), Buffer.concat([readFileSync(join(copy, 'report.pdf')), Buffer.from('\n%%EOF\n')]));
    const r = cli(['verify', copy]);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('FAILED report.pdf: its embedded PDF signature fails: its signature does not cover the whole document');
    const other = join(dir, 'pdf-othercert');
    cpSync(pack, other, { recursive: true });
    const key = join(dir, 'other.key');
    spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', join(other, 'signer.cert.pem'), '-days', '1', '-subj', '/CN=Someone Else'], { encoding: 'utf8' });
    const r2 = cli(['verify', other]);
    expect(r2.status).toBe(4);
    expect(r2.stderr).toContain('FAILED report.pdf: it was signed by another certificate than signer.cert.pem');
  });

  it('a changed byte inside report.pdf breaks its embedded signature, and appended bytes leave it no longer whole', ({ skip }) => {
    if (!haveCommand('pdfsig')) return skip('pdfsig (poppler-utils) not installed');
    const bytes = readFileSync(join(pack, 'report.pdf'));
    // Change the page content: the first "Network change evidence" text object is in the signed range.
    const at = bytes.indexOf('stream') + 20;
    bytes[at] = bytes[at]! ^ 0x01;
    const copy = join(dir, 'tampered.pdf');
    writeFileSync(copy, bytes);
    const sig = spawnSync('pdfsig', [copy], { encoding: 'utf8' });
    expect(sig.stdout + sig.stderr).not.toContain('Signature is Valid.');
    const appended = join(dir, 'appended.pdf');
    writeFileSync(appended, Buffer.concat([readFileSync(join(pack, 'report.pdf')), Buffer.from('\n% appended after signing\n')]));
    const sig2 = spawnSync('pdfsig', [appended], { encoding: 'utf8' });
    expect(sig2.stdout).not.toContain('Total document signed');
  });

  it('signs the PDF with a PKCS#12 identity of the user (--sign-p12), and refuses a wrong passphrase', ({ skip }) => {
    if (!haveCommand('pdfsig')) return skip('pdfsig (poppler-utils) not installed');
    const { p12 } = opensslIdentity(dir, 'own', ['rsa:2048'], 'Change Board Signer', 's3cret');
    const wrong = cli(['report', '--change', 'CHG-77', '--db', db, '--out', join(dir, 'own-wrong'), '--sign-p12', p12, '--sign-p12-passphrase', 'nope']);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/cannot open the PKCS#12 identity .*own\.p12/);
    expect(() => readdirSync(join(dir, 'own-wrong'))).toThrow();
    writeFileSync(join(dir, 'p12.pass'), 's3cret\n', { mode: 0o600 });
    const r = cli(['report', '--change', 'CHG-77', '--db', db, '--out', join(dir, 'own'), '--sign-p12', p12, '--sign-p12-passphrase-file', join(dir, 'p12.pass')]);
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout.trim();
    const sig = spawnSync('pdfsig', [join(out.startsWith('/') ? out : join(dir, out), 'report.pdf')], { encoding: 'utf8' });
    expect(sig.stdout).toContain('Signer Certificate Common Name: Change Board Signer');
    expect(sig.stdout).toContain('Signature is Valid.');
    const { crt: ecCrt, p12: ecP12 } = opensslIdentity(dir, 'ec', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'ec', 'x');
    const v = cli(['verify', out.startsWith('/') ? out : join(dir, out)]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toContain('report.pdf signature valid');
    // An EC (ECDSA P-256) identity, as many CAs issue now: signed with ecdsa-with-SHA256, which
    // pdfsig and netmon verify accept.
    const ec = cli(['report', '--change', 'CHG-77', '--db', db, '--out', join(dir, 'own-ec'), '--sign-p12', ecP12, '--sign-p12-passphrase', 'x']);
    expect(ec.status, ec.stderr).toBe(0);
    const ecPack = ec.stdout.trim();
    const ecSig = spawnSync('pdfsig', [join(ecPack, 'report.pdf')], { encoding: 'utf8' });
    expect(ecSig.stdout).toContain('Signer Certificate Common Name: ec');
    expect(ecSig.stdout).toContain('Signature is Valid.');
    expect(readFileSync(join(ecPack, 'signer.cert.pem'), 'utf8').replace(/\s+/g, '')).toBe(readFileSync(ecCrt, 'utf8').replace(/\s+/g, ''));
    const ecVerified = cli(['verify', ecPack]);
    expect(ecVerified.status, ecVerified.stderr).toBe(0);
    expect(ecVerified.stdout).toContain('report.pdf signature valid');
    // A key type the PDF signature does not support is refused before anything is written.
    const { p12: edP12 } = opensslIdentity(dir, 'ed', ['ed25519'], 'ed', 'x');
    const ed = cli(['report', '--change', 'CHG-77', '--db', db, '--out', join(dir, 'own-ed'), '--sign-p12', edP12, '--sign-p12-passphrase', 'x']);
    expect(ed.status).toBe(2);
    expect(ed.stderr).toContain('holds a ed25519 key; the PDF signature supports RSA and EC (ECDSA) keys');
    expect(() => readdirSync(join(dir, 'own-ed'))).toThrow();
  });

  it('a second pack of the same window in the same second goes to <name>-2: never over another, never refused', () => {
    const out = join(dir, 'same-second');
    // The names this report can take over the next minute are taken already, as by a report a
    // moment before (host and ticket as in the pack made above).
    const first = pack.split('/').pop()!.replace(/-\d{8}T\d{6}Z$/, '');
    const now = Date.now();
    const taken = Array.from({ length: 60 }, (_, k) => join(out, `${first}-${new Date(now + k * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`));
    for (const t of taken) mkdirSync(t, { recursive: true });
    const r = cli(['report', '--change', 'CHG-77', '--db', db, '--out', out, '--no-pdf']);
    expect(r.status, r.stderr).toBe(0);
    const made = r.stdout.trim();
    const p = made.startsWith('/') ? made : join(dir, made);
    expect(taken).toContain(p.replace(/-2$/, ''));
    expect(p).toMatch(/-2$/);
    expect(cli(['verify', p]).status).toBe(0);
    for (const t of taken) expect(readdirSync(t)).toEqual([]);
  });

  it('a report that runs out of room leaves nothing under the pack name, and the store as it was (exit 3)', ({ skip }) => {
    if (!isRoot) skip('needs root to mount a small tmpfs');
    const small = join(dir, 'small-out');
    mkdirSync(small);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48k', 'tmpfs', small]).status).toBe(0);
    try {
      const before = readFileSync(db);
      const r = cli(['report', '--change', 'CHG-77', '--db', db, '--out', join(small, 'reports')]);
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/cannot write the evidence pack: ENOSPC \(no space left on device\) writing .*; nothing of it was left under that name/);
      expect(r.stdout).toBe('');
      // No directory that looks like a pack, complete or not, and no staging directory either.
      expect(readdirSync(join(small, 'reports'))).toEqual([]);
      expect(readFileSync(db).equals(before)).toBe(true);
    } finally {
      spawnSync('umount', [small]);
    }
  });

  it('Ctrl-C while the pack is made stops the report (exit 130) and leaves no pack directory behind', async () => {
    const big = largeWindowStore(join(dir, 'big.db'));
    const out = join(dir, 'interrupted');
    mkdirSync(out);
    const child = spawn(process.execPath, [CLI, 'report', '--db', big, '--pre', 'first', '--post', 'latest', '--out', out], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Interrupted as soon as the pack's directory is reserved.
    while (readdirSync(out).length === 0 && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 2));
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(stderr).toContain('netmon: report: SIGINT: stopped before writing the pack; nothing was written');
    expect(readdirSync(out)).toEqual([]);
  });

  it('a report killed outright while it writes the pack leaves no pack; the next report removes what it left, not what a running report holds', async () => {
    const big = largeWindowStore(join(dir, 'killed.db'));
    const out = join(dir, 'killed');
    mkdirSync(out);
    // SIGKILL as soon as the staging directory appears: it is made with the reserved directory,
    // before the PDF is rendered, so the kill lands while the report renders or writes; a report
    // that finished first is tried again.
    let left: string[] = [];
    for (let attempt = 0; attempt < 8 && left.length === 0; attempt++) {
      for (const f of readdirSync(out)) rmSync(join(out, f), { recursive: true });
      const child = spawn(process.execPath, [CLI, 'report', '--db', big, '--pre', 'first', '--post', 'latest', '--out', out], { cwd: dir, stdio: 'ignore' });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      while (child.exitCode === null && !readdirSync(out).some((f) => f.endsWith('.partial'))) await new Promise((resolve) => setTimeout(resolve, 1));
      child.kill('SIGKILL');
      await exited;
      if (child.signalCode === 'SIGKILL') left = readdirSync(out).sort();
    }
    expect(left.length, 'a report killed while it wrote its pack').toBe(2);
    const [staging, reserved] = left as [string, string];
    expect(staging).toMatch(/^\.(.+)\.\d+\.partial$/);
    expect(staging.startsWith(`.${reserved}.`)).toBe(true);
    expect(readdirSync(join(out, reserved))).toEqual([]);
    // What a report still running holds (this test's own process stands for it) stays.
    const running = `.${reserved}-other.${process.pid}.partial`;
    mkdirSync(join(out, running));
    writeFileSync(join(out, running, 'findings.csv'), 'x');
    mkdirSync(join(out, `${reserved}-other`));

    const next = cli(['report', '--db', big, '--pre', 'first', '--post', 'latest', '--out', out, '--no-pdf']);
    expect(next.status, next.stderr).toBe(0);
    const pid = /\.(\d+)\.partial$/.exec(staging)![1];
    expect(next.stderr).toContain(`netmon: report: removed the unfinished pack ${reserved} in ${out}, left by a report (pid ${pid}) that was killed before it finished\n`);
    const made = next.stdout.trim();
    expect(readdirSync(out).sort()).toEqual([running, `${reserved}-other`, made.split('/').pop()!].sort());
    expect(cli(['verify', made]).status).toBe(0);
    expect(readdirSync(join(out, running))).toEqual(['findings.csv']);
  });

  it('--no-pdf leaves report.pdf and the certificate out; the pack still verifies', () => {
    const r = cli(['report', '--change', 'CHG-77', '--db', db, '--out', join(dir, 'nopdf'), '--no-pdf']);
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout.trim();
    const p = out.startsWith('/') ? out : join(dir, out);
    expect(readdirSync(p)).not.toContain('report.pdf');
    expect(readdirSync(p)).not.toContain('signer.cert.pem');
    expect(cli(['verify', p]).status).toBe(0);
  });

  it('--from/--to makes a pack of a monitoring period without a ticket: first and last snapshot inside', () => {
    const r = cli(['report', '--from', '1h', '--db', db, '--out', join(dir, 'period'), '--no-pdf']);
    expect(r.status, r.stderr).toBe(0);
    // The captures are minutes old at most: the hour asked for is mostly without evidence, and the report says so.
    expect(r.stderr).toMatch(/netmon: note: the period asked for runs from \S+ to \S+; its first snapshot was taken at \S+ and its last at \S+\. No evidence in this pack covers the time from \S+ to the first snapshot \((5\dm|1h)/);
    if (haveCommand('pdftotext')) {
      const withPdf = cli(['report', '--from', '1h', '--db', db, '--out', join(dir, 'period-pdf')]);
      expect(withPdf.status, withPdf.stderr).toBe(0);
      const made = withPdf.stdout.trim();
      // Page footers and headers taken out: the note may run across a page break.
      const text = spawnSync('pdftotext', ['-layout', join(made.startsWith('/') ? made : join(dir, made), 'report.pdf'), '-'], { encoding: 'utf8' })
        .stdout.replace(/\s+/g, ' ')
        .replace(/ Page \d+ of \d+ netmon evidence pack \S+/g, '');
      expect(text).toMatch(/The period asked for runs from \S+ to \S+; its first snapshot was taken at/);
      expect(text).toContain('No evidence in this pack covers the time from');
    }
    const out = r.stdout.trim();
    const p = out.startsWith('/') ? out : join(dir, out);
    expect(p).toMatch(/-period-\d{8}T\d{6}Z$/);
    const manifest = JSON.parse(readFileSync(join(p, 'manifest.json'), 'utf8')) as { window: { change: string | null }; store: { snapshots: { id: number }[] } };
    expect(manifest.window.change).toBeNull();
    const store = EvidenceStore.open(db, { readonly: true });
    const ids = store.listSnapshots().map((s) => s.id);
    store.close();
    expect(manifest.store.snapshots.map((s) => s.id)).toEqual([ids[0], ids[ids.length - 1]]);
    expect(readFileSync(join(p, 'findings.csv'), 'utf8')).toMatch(/new listener tcp 127\.0\.0\.1:3939/);

    const empty = runCli(['report', '--from', '2020-01-01T00:00:00Z', '--to', '2020-01-02T00:00:00Z', '--db', db, '--out', join(dir, 'period-empty')], { cwd: dir, env: { ...process.env, TZ: 'Asia/Kathmandu' } });
    expect(empty.status).toBe(2);
    expect(empty.stderr).toContain('no snapshot was taken between 2020-01-01T05:45:00+05:45 and 2020-01-02T05:45:00+05:45; a period needs two');
    const reversed = cli(['report', '--from', '1m', '--to', '2h', '--db', db]);
    expect(reversed.status).toBe(2);
    expect(reversed.stderr).toMatch(/--from .* is not before --to/);
    const bad = cli(['report', '--from', 'yesterday', '--db', db]);
    expect(bad.stderr).toContain('--from "yesterday" is neither an ISO 8601 time nor an age');
    expect(cli(['report', '--from', '1h', '--pre', '1', '--db', db]).stderr).toContain('not both');
  });

  it('a gap inside the window is in evidence.json (continuity) as in the PDF, with its record in the chain', () => {
    const gapDb = join(dir, 'gap.db');
    const capture = ['--db', gapDb, '--no-csv', '--no-hash-binaries', '--filter', ':3939', '--change', 'CHG-GAP'];
    expect(cli(['--once', '--label', 'pre', ...capture]).status).toBe(0);
    // The capture after it finds a lock whose process is gone: the previous one was killed.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const raw = spawnSync('sqlite3', [gapDb, `INSERT INTO writer (id, pid, host, since, session) VALUES (1, ${Number(dead.stdout)}, '${hostname()}', '${new Date().toISOString()}', (SELECT MAX(seq) FROM records WHERE kind = 'session'))`]);
    expect(raw.status, raw.stderr?.toString()).toBe(0);
    const post = cli(['--once', '--label', 'post', ...capture]);
    expect(post.stderr).toMatch(/recorded a gap in monitoring/);
    const r = cli(['report', '--change', 'CHG-GAP', '--db', gapDb, '--out', join(dir, 'gap-packs'), '--no-pdf']);
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout.trim();
    const evidence = JSON.parse(readFileSync(join(out.startsWith('/') ? out : join(dir, out), 'evidence.json'), 'utf8')) as { continuity: { gaps: { seq: number; reason: string; from: string; to: string }[] } };
    const gaps = EvidenceStore.open(gapDb, { readonly: true });
    try {
      expect(evidence.continuity.gaps).toEqual(gaps.gaps().map(({ seq, from, to, reason }) => ({ seq, from, to, reason })));
      expect(evidence.continuity.gaps.map((g) => g.reason)).toEqual(['unclean-stop']);
      // show of a time inside the gap says the snapshot is the last before it (a multi-day probe).
      const [gap] = gaps.gaps();
      const inside = new Date((Date.parse(gap!.from) + Date.parse(gap!.to)) / 2).toISOString();
      const shown = cli(['show', inside, '--db', gapDb]);
      expect(shown.status, shown.stderr).toBe(0);
      expect(shown.stderr).toContain(`netmon: note: ${inside} falls in a gap in monitoring, from `);
      expect(shown.stderr).toMatch(/\(unclean-stop: [^)]*\): no capture ran then, and snapshot \d+ is the last one before it\n/);
    } finally {
      gaps.close();
    }
  });

  it('a window across a clock set back keeps its gaps and clock steps: chosen by their place in the chain, not by their times', () => {
    // Before, the pack chose them by time between the two captures' times, which then run
    // backwards: a gap and a step inside the window were left out of evidence.json and the PDF.
    const backDb = join(dir, 'back.db');
    const t0 = Date.now() - 3_600_000;
    let now = t0;
    const store = EvidenceStore.open(backDb, { now: () => new Date(now) });
    store.beginSession({ interval: 10 });
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 3000, inode: 3000 })], takenAt: new Date(now) }), { label: 'pre', change: 'CHG-BACK' });
    // The clock is set back three hours, then the capture is stopped for a while.
    now = t0 - 3 * 3_600_000 + 10_000;
    const step = store.recordClockStep(-3 * 3_600_000);
    const gap = store.recordGap(new Date(now), new Date(now + 60_000), 'paused');
    now += 60_000;
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 3000, inode: 3000 })], takenAt: new Date(now) }), { label: 'post', change: 'CHG-BACK' });
    store.close();
    const r = cli(['report', '--change', 'CHG-BACK', '--db', backDb, '--out', join(dir, 'back-packs'), '--no-pdf']);
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout.trim();
    const evidence = JSON.parse(readFileSync(join(out.startsWith('/') ? out : join(dir, out), 'evidence.json'), 'utf8')) as { continuity: { gaps: { seq: number }[]; clockSteps: { seq: number; stepMs: number }[] } };
    expect(evidence.continuity.gaps.map((g) => g.seq)).toEqual([gap.seq]);
    expect(evidence.continuity.clockSteps).toEqual([{ seq: step.seq, at: step.at, stepMs: -3 * 3_600_000 }]);
  });

  it('shows a progress line on a terminal and clears it; none when stderr is not a terminal', async () => {
    const { runReport } = await import('../../src/cli/pack-commands.js');
    const { withProgressLine } = await import('../../src/cli/program.js');
    const run = async (tty: boolean, out: string) => {
      const err: string[] = [];
      const stdout: string[] = [];
      await runReport({ change: 'CHG-77', db, out: join(dir, out), keys: join(dir, 'netmon-keys') }, withProgressLine({ stdout: (t) => void stdout.push(t), stderr: (t) => void err.push(t), env: {}, stderrIsTTY: tty }));
      return { err: err.join(''), stdout: stdout.join('') };
    };
    const tty = await run(true, 'progress-tty');
    for (const stage of ['verifying the evidence store', 'loading snapshots', 'comparing', 'rendering and signing report.pdf', 'writing the evidence files']) expect(tty.err).toContain(`\r\x1b[2Knetmon: report: ${stage}`);
    expect(tty.err).toMatch(/\r\x1b\[2Knetmon: evidence pack with/);
    const plain = await run(false, 'progress-plain');
    expect(plain.err).not.toContain('\r');
    expect(plain.err).toMatch(/^netmon: evidence pack with \d+ findings?/);
  });

  it('verify --db says on a terminal how far its check of a long chain is, and clears the line', async () => {
    const { runReport, runVerify } = await import('../../src/cli/pack-commands.js');
    const { withProgressLine } = await import('../../src/cli/program.js');
    const longDb = join(dir, 'long.db');
    const store = EvidenceStore.open(longDb);
    store.beginSession({ interval: 10 });
    const t0 = Date.UTC(2026, 10, 1);
    for (let i = 0; i < 2_100; i++) store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()], takenAt: new Date(t0 + i * 10_000) }));
    store.close();
    const io = (terminal: boolean, err: string[], out: string[]) => withProgressLine({ stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {}, stderrIsTTY: terminal });
    await runReport({ pre: 'first', post: 'latest', db: longDb, out: join(dir, 'long-packs'), keys: join(dir, 'netmon-keys'), pdf: false }, io(false, [], []));
    const pack = join(dir, 'long-packs', readdirSync(join(dir, 'long-packs'))[0]!);
    for (const terminal of [true, false]) {
      const err: string[] = [];
      const out: string[] = [];
      runVerify(pack, { db: longDb }, io(terminal, err, out));
      expect(out.join('')).toMatch(/^evidence pack .* verified: /);
      const shown = err.join('');
      if (terminal) {
        expect(shown.startsWith(`\r\x1b[2Knetmon: verify: checking the evidence pack ${pack}`)).toBe(true);
        expect(shown).toContain(`\r\x1b[2Knetmon: verify: verifying the evidence store ${longDb}: record 2000 of 2101`);
        // The progress line is cleared before the note that follows the result.
        expect(shown.endsWith(`\r\x1b[2K${SIGNER_NOTE}`)).toBe(true);
      } else {
        expect(shown).toBe(SIGNER_NOTE);
      }
    }
  });

  it('catches a store rewritten after the pack was made', () => {
    const copyDb = join(dir, 'rewritten.db');
    cpSync(db, copyDb);
    const store = EvidenceStore.open(copyDb);
    // A later snapshot is fine; a changed record is not: rewrite the hash of the first snapshot record.
    (store as unknown as { db: { prepare(s: string): { run(...a: unknown[]): void } } }).db.prepare("UPDATE records SET hash = (CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END) || substr(hash, 2) WHERE kind = 'snapshot' AND seq = (SELECT MIN(seq) FROM records WHERE kind = 'snapshot')").run();
    store.close();
    const r = cli(['verify', pack, '--db', copyDb]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/has another record hash in the store than in the pack/);
  });

  it('says when a prune removed the snapshots a pack names: retention, not a changed record', () => {
    const copyDb = join(dir, 'pruned.db');
    cpSync(db, copyDb);
    const store = EvidenceStore.open(copyDb);
    // A later capture, so that every snapshot the pack names can be pruned (the newest one stays).
    const later = store.listSnapshots().at(-1)!;
    const loaded = store.loadSnapshot(later.id);
    store.appendSnapshot({ ...loaded, takenAt: new Date(Date.parse(later.takenAt) + 3_600_000).toISOString() });
    const cutoff = new Date(Date.parse(later.takenAt) + 1_800_000);
    expect(store.prune(cutoff).removedSnapshots).toBeGreaterThanOrEqual(2);
    store.close();
    const r = cli(['verify', pack, '--db', copyDb]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`snapshot \\d+ is no longer in the store: a prune \\(record \\d+, [^)]+\\) removed the snapshots taken before ${isoWithOffset(cutoff).replace('+', '\\+')}; the store cannot confirm it any more, while the pack's own hashes and signature still can`));
    expect(r.stderr).not.toMatch(/another record hash/);
    // Without the store, the pack still verifies.
    expect(cli(['verify', pack]).status).toBe(0);
  });
});

describe.skipIf(skip)('a pack of a window in which a hostile-named process listened', () => {
  const hdir = mkdtempSync(join(tmpdir(), 'netmon-pack-hostile-'));
  afterAll(() => rmSync(hdir, { recursive: true, force: true }));
  // An escape sequence, a newline that would forge a CSV row or PDF line, a formula, a bidi override.
  const title = '=cmd|x\u001b[2J\nFAKE,row\u202e';

  it('keeps the CSVs one row per record with formulas neutralised, and prints the name escaped in the PDF', async () => {
    const cli = (args: string[]) => runCli(args, { cwd: hdir });
    expect(cli(['keygen']).status).toBe(0);
    const capture = ['--db', join(hdir, 'h.db'), '--no-csv', '--no-hash-binaries', '--filter', ':3838'];
    expect(cli(['--once', '--label', 'pre', '--change', 'H-1', ...capture]).status).toBe(0);
    const holder = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3838', '--title', title]);
    try {
      expect(cli(['--once', '--label', 'post', '--change', 'H-1', ...capture]).status).toBe(0);
    } finally {
      await stop(holder.child);
    }
    const r = cli(['report', '--change', 'H-1', '--db', join(hdir, 'h.db')]);
    expect(r.status, r.stderr).toBe(0);
    const pack = join(hdir, r.stdout.trim());
    // An independent RFC 4180 reader sees the same number of columns on every row; no cell starts a formula.
    for (const name of ['findings.csv', 'inventory-post.csv']) {
      const py = spawnSync('/usr/bin/python3', ['-c', 'import csv,sys,json; rows=list(csv.reader(open(sys.argv[1], newline=""))); print(json.dumps(rows))', join(pack, name)], { encoding: 'utf8' });
      expect(py.status, py.stderr).toBe(0);
      const rows = JSON.parse(py.stdout) as string[][];
      expect(new Set(rows.map((row) => row.length)).size, name).toBe(1);
      for (const row of rows) for (const cell of row) expect(cell, name).not.toMatch(/^[=+\-@]/);
      expect(rows.some((row) => row.some((cell) => cell.includes('cmd|x'))), name).toBe(true);
      // findings.csv's text is escaped as the PDF's: cat of it cannot clear the screen or forge a line (an auditor probe).
      if (name === 'findings.csv') {
        for (const row of rows) for (const cell of row) expect(cell, name).not.toMatch(/[\u0000-\u001f\u202e]/);
        expect(rows.some((row) => row.some((cell) => cell.includes('=cmd|x\\x1b[2J\\x0aFAKE'))), name).toBe(true);
      }
    }
    if (haveCommand('pdftotext')) {
      const text = spawnSync('pdftotext', ['-layout', join(pack, 'report.pdf'), '-'], { encoding: 'utf8' }).stdout;
      // comm keeps 15 bytes of the title: the escape and the newline are among them.
      expect(text).toContain('(=cmd|x\\u{1b}[2J\\u{a}FAKE, pid');
      expect(text).not.toMatch(/^FAKE/m);
    }
    expect(cli(['verify', pack]).status).toBe(0);
  });
});
