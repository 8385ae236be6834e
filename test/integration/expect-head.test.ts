import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/processes.js';
import { prunedCopy } from '../helpers/store-fixtures.js';

// A store cut back to an earlier copy of itself still verifies: its chain is consistent. A head
// hash recorded outside the store (--expect-head) is what tells.

const dir = mkdtempSync(join(tmpdir(), 'netmon-expect-head-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'netmon.db');
const earlier = join(dir, 'earlier.db');
let first = '';
let later = '';

function head(path: string): string {
  const r = runCli(['verify-store', '--db', path, '-o', 'json'], { cwd: dir });
  expect(r.status).toBe(0);
  return (JSON.parse(r.stdout) as { headHash: string }).headHash;
}

beforeAll(() => {
  for (let i = 0; i < 2; i++) expect(runCli(['--once', '--db', db, '--no-csv'], { cwd: dir }).status).toBe(0);
  first = head(db);
  copyFileSync(db, earlier);
  let printed = '';
  for (let i = 0; i < 2; i++) {
    const once = runCli(['--once', '--db', db, '--no-csv'], { cwd: dir });
    expect(once.status).toBe(0);
    // Each capture prints the hash of its record: what a log collector keeps to give back later.
    printed = /snapshot \d+ in \S+ \(record hash ([0-9a-f]{64})\)\n/.exec(once.stderr)?.[1] ?? '';
  }
  later = head(db);
  expect(printed).toBe(later);
}, 60_000);

describe('verify-store --expect-head', () => {
  it('passes while every head recorded earlier is still a record of the chain', () => {
    const r = runCli(['verify-store', '--db', db, '--expect-head', first, '--expect-head', later.toUpperCase()], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/verified: .*; head hash [0-9a-f]{64}\nthe 2 heads recorded earlier are still in its chain\n$/);
  });

  it('fails (exit 4) on a store put back to an earlier copy, which verifies on its own', () => {
    expect(runCli(['verify-store', '--db', earlier], { cwd: dir }).status).toBe(0);
    const r = runCli(['verify-store', '--db', earlier, '--expect-head', later], { cwd: dir });
    expect(r.status).toBe(4);
    expect(r.stderr).toContain(`the evidence store ${earlier} verifies on its own, but the head recorded earlier, ${later}, is not a record of this store: records at or before it were rewritten or removed after it was recorded`);
    const json = JSON.parse(runCli(['verify-store', '--db', earlier, '--expect-head', later, '-o', 'json'], { cwd: dir }).stdout) as { ok: boolean; problem: { kind: string }; expectedHeads: string[] };
    expect(json.ok).toBe(false);
    expect(json.problem.kind).toBe('head');
    expect(json.expectedHeads).toEqual([later]);
    // Every head that is missing is named, and the problem's seq is the store's last record.
    const two = runCli(['verify-store', '--db', earlier, '--expect-head', later, '--expect-head', '0'.repeat(64), '--expect-head', first], { cwd: dir });
    expect(two.status).toBe(4);
    expect(two.stderr).toContain(`the heads recorded earlier ${later}, ${'0'.repeat(64)} are not a record of this store`);
    expect(two.stderr).toContain('or they were never records of this store');
  });

  it('says when a prune may have removed the head, and accepts a head recorded after the prune', () => {
    const pruned = prunedCopy(db, join(dir, 'pruned.db'));
    let r = runCli(['verify-store', '--db', pruned, '--expect-head', first], { cwd: dir });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/; a prune \(record \d+, at \S+\) removed records 1 to \d+, so a head recorded before it may be gone with them: check a head recorded after that prune/);
    r = runCli(['verify-store', '--db', pruned, '--expect-head', head(pruned)], { cwd: dir });
    expect(r.status).toBe(0);
  });

  it('refuses a value that is not a hash (exit 2) before it opens the store', () => {
    const r = runCli(['verify-store', '--db', join(dir, 'none.db'), '--expect-head', 'abc'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--expect-head "abc" is not a record hash (64 hex digits)');
  });
});
