import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { HOLDER, haveCommand, runCli, skipWithReason, startJsonProcess, stop } from '../helpers/processes.js';

const skip = skipWithReason(!haveCommand('openssl') || !haveCommand('sha256sum'), 'evidence pack tests: need openssl and sha256sum');
const dir = mkdtempSync(join(tmpdir(), 'netmon-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(skip)('netmon keygen, report and verify', () => {
  let pack = '';
  const db = join(dir, 'n.db');
  const cli = (args: string[]) => runCli(args, { cwd: dir });

  beforeAll(async () => {
    expect(cli(['keygen']).status).toBe(0);
    const capture = ['--db', db, '--csv', join(dir, 'n.csv'), '--no-hash-binaries', '--filter', ':3939'];
    expect(cli(['--once', '--label', 'pre', '--change', 'CHG-77', ...capture]).status).toBe(0);
    const listener = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3939']);
    try {
      expect(cli(['--once', '--label', 'post', '--change', 'CHG-77', ...capture]).status).toBe(0);
    } finally {
      await stop(listener.child);
    }
    const r = cli(['report', '--change', 'CHG-77', '--db', db]);
    expect(r.status, r.stderr).toBe(0);
    pack = join(dir, r.stdout.trim());
  });

  it('writes the pack files; the private key stays out of it and is mode 0600', () => {
    expect(readdirSync(pack).sort()).toEqual(['SHA256SUMS', 'VERIFY.md', 'evidence.json', 'findings.csv', 'inventory-post.csv', 'inventory-pre.csv', 'manifest.json', 'manifest.sig', 'signer.pub.pem']);
    expect(statSync(join(dir, 'netmon-keys', 'signer.key.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(pack, 'findings.csv'), 'utf8')).toMatch(/new listener tcp 127\.0\.0\.1:3939/);
    const manifest = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8')) as { packFormat: number; window: { change: string }; store: { snapshots: { id: number; recordHash: string }[] } };
    expect(manifest.packFormat).toBe(1);
    expect(manifest.window.change).toBe('CHG-77');
    const store = EvidenceStore.open(db, { readonly: true });
    for (const s of manifest.store.snapshots) expect(store.recordHashOf(s.id)).toBe(s.recordHash);
    store.close();
  });

  it('verifies with standard tools only: sha256sum -c and openssl pkeyutl', () => {
    const sums = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: pack, encoding: 'utf8' });
    expect(sums.status, sums.stdout + sums.stderr).toBe(0);
    expect(sums.stdout.trim().split('\n').every((l) => l.endsWith(': OK'))).toBe(true);
    const sig = spawnSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'signer.pub.pem', '-rawin', '-in', 'manifest.json', '-sigfile', 'manifest.sig'], { cwd: pack, encoding: 'utf8' });
    expect(sig.status, sig.stderr).toBe(0);
    expect(sig.stdout).toMatch(/Signature Verified Successfully/);
    expect(readFileSync(join(pack, 'VERIFY.md'), 'utf8')).toContain('openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in manifest.json -sigfile manifest.sig');
  });

  it('netmon verify passes on the pack, and with the store', () => {
    const r = cli(['verify', pack, '--db', db]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/verified: 9 files, manifest signed by [0-9a-f]{64}, snapshots \d+ and \d+ match/);
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

  it('catches a store rewritten after the pack was made', () => {
    const copyDb = join(dir, 'rewritten.db');
    cpSync(db, copyDb);
    const store = EvidenceStore.open(copyDb);
    // A later snapshot is fine; a changed record is not: rewrite the hash of the first snapshot record.
    (store as unknown as { db: { prepare(s: string): { run(...a: unknown[]): void } } }).db.prepare("UPDATE records SET hash = 'f' || substr(hash, 2) WHERE kind = 'snapshot' AND seq = (SELECT MIN(seq) FROM records WHERE kind = 'snapshot')").run();
    store.close();
    const r = cli(['verify', pack, '--db', copyDb]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/has another record hash in the store than in the pack/);
  });
});
