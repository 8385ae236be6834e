import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/findings/evaluate-findings.js';
import type { Snapshot } from '../../src/model/types.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';
import { haveCommand, runCli } from '../helpers/processes.js';

/**
 * One store holding two hosts' captures (a store on a shared file system, `netmon --once` run from
 * the same directory on both): a window's before and after must come from one host, or every
 * difference between the hosts would be reported as a change.
 */

const dir = mkdtempSync(join(tmpdir(), 'netmon-hosts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const on = (hostname: string, snapshot: Snapshot, minutes: number): Snapshot => ({
  ...snapshot,
  host: { ...snapshot.host, hostname },
  takenAt: new Date(Date.UTC(2026, 10, 23, 1, minutes)).toISOString(),
});

const db = join(dir, 'shared.db');
const ids: Record<string, number> = {};
{
  const store = EvidenceStore.open(db);
  store.beginSession({ interval: null });
  const web = makeSocket({ localPort: 443, inode: 1 });
  const admin = makeSocket({ localPort: 9090, inode: 2, localAddress: '0.0.0.0' });
  const db5432 = makeSocket({ localPort: 5432, inode: 3 });
  // alpha opens an admin port in the window; beta, a database host, does not change.
  const steps: [string, string, Snapshot][] = [
    ['alpha-pre', 'pre', on('alpha', makeSnapshot({ sockets: [web] }), 0)],
    ['beta-pre', 'pre', on('beta', makeSnapshot({ sockets: [db5432] }), 1)],
    ['beta-post', 'post', on('beta', makeSnapshot({ sockets: [db5432] }), 20)],
    ['alpha-post', 'post', on('alpha', makeSnapshot({ sockets: [web, admin] }), 21)],
  ];
  for (const [name, label, snapshot] of steps) ids[name] = store.appendSnapshot(snapshot, { label, change: 'CHG-7' }).id;
  store.close();
}

const cli = (...args: string[]) => runCli([...args, '--db', db], { cwd: dir });

describe('a store with two hosts', () => {
  it('diff --change refuses to pair one host\'s pre with another\'s post (exit 2) and says how to choose', () => {
    const r = cli('diff', '--change', 'CHG-7');
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`the before snapshot ${ids['beta-pre']} was taken on "beta" and the after snapshot ${ids['alpha-post']} on "alpha": a window compares one host with itself`);
    expect(r.stderr).toContain('--host NAME');
    expect(r.stdout).toBe('');
  });

  it('diff --host compares that host\'s own pre and post', () => {
    const alpha = cli('diff', '--change', 'CHG-7', '--host', 'alpha', '--output', 'json', '--fail-on', 'critical');
    expect(alpha.status, alpha.stderr).toBe(0);
    const a = JSON.parse(alpha.stdout) as { before: { id: number }; after: { id: number }; findings: Finding[] };
    expect([a.before.id, a.after.id]).toEqual([ids['alpha-pre'], ids['alpha-post']]);
    expect(a.findings.map((f) => f.summary).join('\n')).toContain('9090');
    const beta = cli('diff', '--change', 'CHG-7', '--host', 'beta', '--output', 'json');
    expect(beta.status, beta.stderr).toBe(0);
    const b = JSON.parse(beta.stdout) as { before: { id: number }; after: { id: number }; findings: Finding[] };
    expect([b.before.id, b.after.id]).toEqual([ids['beta-pre'], ids['beta-post']]);
    expect(b.findings).toEqual([]);
    const none = cli('diff', '--change', 'CHG-7', '--host', 'gamma');
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('no snapshot labelled "pre" for change CHG-7 on host "gamma" (the pre snapshot, --pre)');
  });

  it('--allow-host-change compares across hosts when asked', () => {
    const r = cli('diff', '--change', 'CHG-7', '--allow-host-change', '--output', 'json', '--fail-on', 'critical');
    expect(r.status, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as { before: { id: number }; after: { id: number } };
    expect([d.before.id, d.after.id]).toEqual([ids['beta-pre'], ids['alpha-post']]);
  });

  it('snapshots --host lists one host\'s snapshots', () => {
    const r = cli('snapshots', '--host', 'beta', '--output', 'json');
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { snapshots: { id: number; host: string }[] }).snapshots.map((s) => [s.id, s.host])).toEqual([
      [ids['beta-pre'], 'beta'],
      [ids['beta-post'], 'beta'],
    ]);
  });

  it('report refuses the mixed window too, before writing a pack; with --host it makes one', () => {
    const keys = join(dir, 'keys');
    expect(runCli(['keygen', '--keys', keys], { cwd: dir }).status).toBe(0);
    const out = join(dir, 'packs');
    const mixed = cli('report', '--change', 'CHG-7', '--keys', keys, '--out', out, '--no-pdf');
    expect(mixed.status, mixed.stderr).toBe(2);
    expect(mixed.stderr).toContain('a window compares one host with itself');
    expect(existsSync(out)).toBe(false);
    const alpha = cli('report', '--change', 'CHG-7', '--host', 'alpha', '--keys', keys, '--out', out, '--no-pdf');
    expect([0, 1]).toContain(alpha.status);
    expect(alpha.stderr).not.toContain('error');
    expect(existsSync(out)).toBe(true);
  });

  it.skipIf(!haveCommand('pdftotext'))('a pack across a rename (--allow-host-change) names both hosts in its PDF, as in evidence.json', () => {
    const keys = join(dir, 'keys-rename');
    expect(runCli(['keygen', '--keys', keys], { cwd: dir }).status).toBe(0);
    const r = cli('report', '--change', 'CHG-7', '--allow-host-change', '--keys', keys, '--out', join(dir, 'renamed'));
    expect([0, 1], r.stderr).toContain(r.status);
    const pack = r.stdout.trim();
    const text = spawnSync('pdftotext', ['-layout', join(pack, 'report.pdf'), '-'], { encoding: 'utf8' }).stdout;
    expect(text).toMatch(/Host:\s+alpha \(/);
    expect(text).toMatch(/Host before:\s+beta \(the pre snapshot was taken under this name\)/);
  });
});
