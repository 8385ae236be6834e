import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, haveCommand, HOLDER, runCli, startJsonProcess, stop } from '../helpers/processes.js';
import { snapshotCount, withRaw } from '../helpers/store-fixtures.js';

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
    // No store at all is no baseline either: the same exit 2 as a store without one (it was 3).
    const noStore = runCli(['check', '--db', join(dir, 'no-such-store.db'), ...filter]);
    expect(noStore.status, noStore.stderr).toBe(2);
    expect(noStore.stderr).toContain(`netmon: error: there is no evidence store at ${join(dir, 'no-such-store.db')}, so no baseline to compare with`);
    expect(noStore.stderr).toContain('save a baseline first with `netmon init`');
    writeFileSync(join(dir, 'v9.json'), '{"schemaVersion": 9}');
    const future = runCli(['check', '--baseline', join(dir, 'v9.json'), ...filter]);
    expect(future.status).toBe(2);
    expect(future.stderr).toContain(`the baseline ${join(dir, 'v9.json')} is not a snapshot netmon wrote: it has snapshot schema 9, and this netmon reads schema 1`);
  });

  it('refuses a baseline file edited into something netmon did not write (exit 2, what is wrong), never an internal error', () => {
    const file = join(dir, 'edited-base.json');
    expect(runCli(['init', '--baseline', file, ...filter]).status).toBe(0);
    const good = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const socket = { transport: 'tcp', family: 'ipv4', localAddress: '127.0.0.1', localPort: 3636, remoteAddress: '0.0.0.0', remotePort: 0, state: 'LISTEN', uid: 0, inode: 1, netns: 4026531840, listening: true, owners: [] };
    const cases: [string, unknown, string][] = [
      ['null', null, 'it holds null, not a snapshot object'],
      ['an array', [good], 'it holds a JSON array, not a snapshot object'],
      ['sockets not a list', { ...good, sockets: 'x' }, 'its sockets are not a list'],
      ['a socket without its port', { ...good, sockets: [{ ...socket, localPort: undefined }] }, 'sockets[0] lacks a port (0 to 65535)'],
      ['an owner not among the processes', { ...good, sockets: [{ ...socket, owners: [{ pid: 999999, fd: 3 }] }] }, 'sockets[0] is owned by pid 999999, which is not among its processes'],
      ['a time that is none', { ...good, takenAt: 'not a date' }, 'its takenAt is not a time'],
    ];
    for (const [what, doc, problem] of cases) {
      writeFileSync(file, JSON.stringify(doc));
      const r = runCli(['check', '--baseline', file, ...filter]);
      expect(r.status, `${what}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`the baseline ${file} is not a snapshot netmon wrote: ${problem}`);
      expect(r.stderr).not.toContain('internal error');
    }
  });

  it.skipIf(!haveCommand('mkfifo'))('init --baseline never replaces what is not a regular file (a FIFO, a device such as /dev/null): exit 3, left as it was', () => {
    const fifo = join(dir, 'base.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = runCli(['init', '--baseline', fifo, ...filter]);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(`cannot write the baseline: ${fifo} is a pipe (FIFO), not a baseline file; it was left as it is`);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(dir).filter((f) => f.startsWith('base.fifo.tmp'))).toEqual([]);
  });

  it('a store baseline that does not load stops watch as it stops check (exit 4), instead of watching without it', () => {
    const db = join(dir, 'tampered-base.db');
    expect(runCli(['init', '--db', db, ...filter]).status).toBe(0);
    withRaw(db, (raw) => raw.prepare("UPDATE items SET body = replace(body, 'true', 'false') WHERE kind = 'namespace'").run());
    for (const args of [['check'], ['watch', '--interval', '1', '--no-csv']]) {
      const r = runCli([...args, '--db', db, ...filter], { killAfterMs: 20_000 });
      expect(r.status, `${args[0]}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toMatch(/item \d+ \(namespace\) of snapshot \d+ in .* no longer matches its digest/);
      expect(r.stderr).not.toContain('no baseline');
    }
  });

  it("the store's baseline pointer names only a snapshot init took: edited, it is refused (exit 4); pruned away, it is said", () => {
    const db = join(dir, 'pointer.db');
    expect(runCli(['--once', '--db', db, '--no-csv', ...filter]).status).toBe(0);
    expect(runCli(['init', '--db', db, ...filter]).status).toBe(0);
    const snaps = (JSON.parse(runCli(['snapshots', '--db', db, '-o', 'json']).stdout) as { snapshots: { id: number; label: string | null }[] }).snapshots;
    const other = snaps.find((s) => s.label !== 'baseline')!.id;
    withRaw(db, (raw) => raw.prepare("UPDATE meta SET value = ? WHERE key = 'baseline_snapshot'").run(String(other)));
    const edited = runCli(['check', '--db', db, ...filter]);
    expect(edited.status, edited.stderr).toBe(4);
    expect(edited.stderr).toContain(`the evidence store's baseline pointer (meta baseline_snapshot in ${db}) names snapshot ${other}, which netmon init did not take (it is labelled nothing, not baseline): it was changed outside netmon`);
    withRaw(db, (raw) => raw.prepare("UPDATE meta SET value = '999' WHERE key = 'baseline_snapshot'").run());
    expect(runCli(['check', '--db', db, ...filter]).stderr).toContain('names snapshot 999, which is not in the store');
    // The baseline removed by a prune (a later capture keeps the store's newest): retention, said as such.
    withRaw(db, (raw) => raw.prepare("UPDATE meta SET value = ? WHERE key = 'baseline_snapshot'").run(String(snaps.find((s) => s.label === 'baseline')!.id)));
    expect(runCli(['--once', '--db', db, '--no-csv', ...filter]).status).toBe(0);
    expect(runCli(['prune', '--older-than', new Date(Date.now() + 60_000).toISOString(), '--db', db]).status).toBe(0);
    const pruned = runCli(['check', '--db', db, ...filter]);
    expect(pruned.status, pruned.stderr).toBe(2);
    expect(pruned.stderr).toMatch(/the baseline of .* \(snapshot \d+\) was removed by a prune \(record \d+/);
  });

  it('a baseline and a check of other selections compare what both selected: the ephemeral-port rule, disjoint families and --match on a host name (from a selection probe)', async () => {
    const ephemeral = join(dir, 'ephemeral.json');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port; // port 0: one of the ephemeral range
    try {
      // Taken with the listener on an ephemeral port, checked with the default rule: not "closed".
      expect(runCli(['init', '--baseline', ephemeral, '--include-ephemeral', '--no-hash-binaries', '--filter', `:${port}`]).status).toBe(0);
      const r = runCli(['check', '--baseline', ephemeral, '--no-hash-binaries', '--filter', `:${port}`, '--fail-on', 'info']);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/closed/);
      expect(r.stderr).toMatch(/note: this capture was taken with listeners on ephemeral ports \(\d+-\d+\) left out: the baseline is compared only in the sockets that selection keeps/);
      // The JSON document carries the notes too (a CI job reading it learns of them).
      const json = runCli(['check', '--baseline', ephemeral, '--no-hash-binaries', '--filter', `:${port}`, '-o', 'json']);
      expect((JSON.parse(json.stdout) as { notes?: string[] }).notes?.join('\n')).toMatch(/this capture was taken with listeners on ephemeral ports/);
      // The other way round: a listener the baseline left out is not "new".
      const plain = join(dir, 'plain.json');
      expect(runCli(['init', '--baseline', plain, '--no-hash-binaries', '--filter', `:${port}`]).status).toBe(0);
      const back = runCli(['check', '--baseline', plain, '--include-ephemeral', '--no-hash-binaries', '--filter', `:${port}`, '--fail-on', 'info']);
      expect(back.status, back.stdout + back.stderr).toBe(0);
      expect(back.stdout).not.toMatch(/new listener/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // IPv4 only against IPv6 only: nothing in common, nothing reported, and said so.
    const v4 = join(dir, 'v4.json');
    expect(runCli(['init', '--baseline', v4, '--only-ipv4', '--no-hash-binaries']).status).toBe(0);
    const v6 = runCli(['check', '--baseline', v4, '--only-ipv6', '--no-hash-binaries', '--fail-on', 'info']);
    expect(v6.status, v6.stdout + v6.stderr).toBe(0);
    expect(v6.stderr).toContain('the baseline was taken with --only-ipv4');
    // --match on REMOTE-HOST narrows the baseline by host name as the capture does: an unchanged host has no "new" connection.
    const listener = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3638']);
    const client = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--connect', '127.0.0.1:3638']);
    try {
      const named = join(dir, 'named.json');
      const match = ['--match', 'tcp * *:3638 localhost', '--no-hash-binaries'];
      expect(runCli(['init', '--baseline', named, ...match]).status).toBe(0);
      const same = runCli(['check', '--baseline', named, ...match, '--fail-on', 'info']);
      expect(same.status, same.stdout + same.stderr).toBe(0);
      expect(same.stdout).not.toMatch(/outbound/);
    } finally {
      await stop(client.child);
      await stop(listener.child);
    }
  });

  it('a baseline of a narrower selection is compared on that selection only, and one without hashes says what it cannot show', async () => {
    const file = join(dir, 'narrow.json');
    const listener = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3636']);
    const client = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--connect', '127.0.0.1:3636']);
    try {
      expect(runCli(['init', '--baseline', file, '--listening-only', ...filter]).status).toBe(0);
      // Checked without --listening-only (and with hashes): the connection the baseline never
      // looked at is not "new", and what the baseline cannot show is said.
      const r = runCli(['check', '--baseline', file, '--filter', ':3636-3637']);
      expect(r.status, r.stdout).toBe(0);
      expect(r.stderr).toContain('netmon: note: the baseline was taken with --listening-only: this capture is compared only in the sockets that selection keeps');
      expect(r.stderr).toContain('netmon: note: the baseline was taken without executable hashes (--no-hash-binaries): a replaced binary cannot be found; take it again without that option');
      expect(r.stdout).not.toContain('outbound');
    } finally {
      await stop(client.child);
      await stop(listener.child);
    }
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

  it('watch against a baseline says so when it starts, so that a quiet host does not look hung (a new-user probe)', async () => {
    const db = join(dir, 'w-baseline.db');
    expect(runCli(['init', '--db', db, ...filter]).status).toBe(0);
    const child = spawn(process.execPath, [CLI, 'watch', '--interval', '0.5', '--db', db, '--no-csv', ...filter], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    while (!err.includes('netmon: watching') && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(err).toMatch(/netmon: watching \d+ sockets? every 0\.5 s against the baseline of \S+; each change is printed as it is seen, Ctrl-C stops\n/);
    child.kill('SIGTERM');
    expect(await exited, err).toBe(0);
  });

  it('watch started again without a baseline reports what changed while it was stopped: its first capture is compared with the store\'s last snapshot', async () => {
    // Before, a service restarted by systemd compared nothing at its first capture: a listener
    // opened while it was down was never reported.
    const db = join(dir, 'w-resume.db');
    const watchUntil = async (pattern: RegExp): Promise<{ out: string; err: string }> => {
      const child = spawn(process.execPath, [CLI, 'watch', '--interval', '0.5', '--db', db, '--no-csv', '--fail-on', 'critical', '--filter', ':3638', '--no-hash-binaries'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      for (let i = 0; i < 200 && !pattern.test(err) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGTERM');
      expect(await exited, err).toBe(0);
      return { out, err };
    };
    const first = await watchUntil(/stopped after|netmon: watching/);
    expect(first.err).toContain('(no baseline: changes are reported from the next capture on)');
    const listener = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3638']);
    try {
      const again = await watchUntil(/compared with snapshot/);
      expect(again.err).toMatch(/netmon: watching \d+ sockets? every 0\.5 s \(no baseline: this first capture is compared with snapshot \d+, the store's last, taken \S+, then each capture with the one before\)/);
      expect(again.out.split('\n').filter((l) => l.includes('new listener tcp 127.0.0.1:3638'))).toHaveLength(1);
    } finally {
      await stop(listener.child);
    }
  });

  it('watch prints each change once, with its time, and keeps capturing evidence', async () => {
    const db = join(dir, 'w.db');
    const child = spawn(process.execPath, [CLI, 'watch', '--interval', '0.5', '--db', db, '--no-csv', '--fail-on', 'critical', ...filter], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Polled with a deadline: a loaded machine starts and scans more slowly.
    const until = async (what: string, cond: () => boolean): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!cond()) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`watch: no ${what}: ${err}\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      // Printed after the first capture: the listener opened after it is a change of a later one.
      await until('start line', () => err.includes('netmon: watching'));
      const listener = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '3637']);
      try {
        await until('new listener line', () => out.includes('new listener tcp 127.0.0.1:3637'));
      } finally {
        await stop(listener.child);
      }
      await until('closed line', () => out.includes('listener tcp 127.0.0.1:3637 closed'));
      await until('fourth snapshot', () => snapshotCount(db) >= 4);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const opened = out.split('\n').filter((l) => l.includes('new listener tcp 127.0.0.1:3637'));
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatch(/^\d\d:\d\d:\d\d MEDIUM\s+unexpected new listener/);
    expect(out.split('\n').filter((l) => l.includes('listener tcp 127.0.0.1:3637 closed'))).toHaveLength(1);
    // The lines carry the time of day: the first is preceded by the day it is of, with its offset.
    expect(out).toMatch(/^--- \d{4}-\d{2}-\d{2} [+-]\d{2}:\d{2} ---\n\d\d:\d\d:\d\d /);
    const snaps = runCli(['snapshots', '--db', db, '-o', 'json']);
    expect((JSON.parse(snaps.stdout) as { snapshots: unknown[] }).snapshots.length).toBeGreaterThanOrEqual(4);
  });
});
