import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, HOLDER, runCli, startJsonProcess, stop } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-baseline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const filter = ['--filter', ':3636-3637', '--no-hash-binaries'];

describe('init, check and watch', () => {
  it('check exits 0 against a fresh baseline, 1 with the new listener named, 0 again when an allow-list covers it', async () => {
    const db = join(dir, 'b.db');
    const init = runCli(['init', '--db', db, ...filter]);
    expect(init.status, init.stderr).toBe(0);
    expect(init.stderr).toMatch(/baseline of \d+ sockets? saved as snapshot \d+ in/);
    expect(runCli(['check', '--db', db, ...filter]).status).toBe(0);

    const listener = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3636']);
    try {
      const r = runCli(['check', '--db', db, ...filter]);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/^Port changes detected \(\d+ total\) on .+: snapshot \d+ \(.+, baseline\) -> \(.+, now\)/);
      expect(r.stdout).toContain(`unexpected new listener tcp 127.0.0.1:3636 (node, pid ${listener.info.pid}, user`);
      expect(r.stdout).not.toMatch(/Attribution coverage/);

      const allow = join(dir, 'allow.yaml');
      writeFileSync(allow, 'schema_version: 1\nexpected:\n  - open: ":3636"\n    justification: "test service"\n  - allow: "127.0.0.1:3636"\n');
      const approved = runCli(['check', '--db', db, '--allow', allow, ...filter]);
      expect(approved.status, approved.stdout).toBe(0);
      expect(approved.stdout).toMatch(/approved\s+new listener tcp 127\.0\.0\.1:3636/);
    } finally {
      await stop(listener.child);
    }
  });

  it('keeps the baseline in a file with --baseline, and refuses a missing or foreign one', () => {
    const file = join(dir, 'baseline.json');
    expect(runCli(['init', '--baseline', file, ...filter]).status).toBe(0);
    const same = runCli(['check', '--baseline', file, ...filter]);
    expect(same.status).toBe(0);
    expect(same.stderr).not.toContain('the baseline was taken on');
    // A golden baseline made on another host is compared, and the difference of hosts said.
    const golden = join(dir, 'golden.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { host: { hostname: string } };
    doc.host.hostname = 'golden-image';
    writeFileSync(golden, JSON.stringify(doc));
    const other = runCli(['check', '--baseline', golden, ...filter]);
    expect(other.status, other.stderr).toBe(0);
    expect(other.stderr).toContain(`netmon: note: the baseline was taken on "golden-image", this is "${hostname()}"`);
    const missing = runCli(['check', '--baseline', join(dir, 'nope.json'), ...filter]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the baseline/);
    writeFileSync(join(dir, 'v9.json'), '{"schemaVersion": 9}');
    const future = runCli(['check', '--baseline', join(dir, 'v9.json'), ...filter]);
    expect(future.status).toBe(3);
    expect(future.stderr).toMatch(/expected 1, received 9/);
  });

  it('watch without --interval captures every 60 s, the default netmon.conf documents (watch_interval), and stops cleanly', async () => {
    const db = join(dir, 'w-default.db');
    const child = spawn(process.execPath, [CLI, 'watch', '--db', db, '--no-csv', ...filter], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    while (!err.includes('netmon: watching') && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(err).toMatch(/netmon: watching \d+ sockets? every 60 s \(no baseline/);
    child.kill('SIGTERM');
    expect(await exited, err).toBe(0);
    // The last snapshot and its record hash, as --interval says at its stop: the store's head.
    const hash = /stopped after 1 capture; last snapshot \d+ in \S+ \(record hash ([0-9a-f]{64})\)/.exec(err)?.[1];
    expect(hash, err).toBeDefined();
    const verified = runCli(['verify-store', '--db', db, '--expect-head', hash!]);
    expect(verified.status, verified.stderr).toBe(0);
  });

  it('watch prints each change once, with its time, and keeps capturing evidence', async () => {
    const db = join(dir, 'w.db');
    const child = spawn(process.execPath, [CLI, 'watch', '--interval', '0.5', '--db', db, '--no-csv', '--fail-on', 'critical', ...filter], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 1500));
    const listener = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3637']);
    await new Promise((r) => setTimeout(r, 2000));
    await stop(listener.child);
    await new Promise((r) => setTimeout(r, 1500));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const opened = out.split('\n').filter((l) => l.includes('new listener tcp 127.0.0.1:3637'));
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatch(/^\d\d:\d\d:\d\d MEDIUM\s+unexpected new listener/);
    expect(out.split('\n').filter((l) => l.includes('listener tcp 127.0.0.1:3637 closed'))).toHaveLength(1);
    const snaps = runCli(['snapshots', '--db', db, '-o', 'json']);
    expect((JSON.parse(snaps.stdout) as { snapshots: unknown[] }).snapshots.length).toBeGreaterThanOrEqual(4);
  });
});
