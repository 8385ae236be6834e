import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/findings/evaluate-findings.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';
import { HOLDER, runCli, startJsonProcess, stop } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-diff-'));
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
});

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

async function holder(...args: string[]) {
  const h = await startJsonProcess<{ pid: number; clientPort?: number }>(process.execPath, [HOLDER, ...args]);
  children.push(h.child);
  return h;
}

describe('netmon diff over a maintenance window (real processes)', () => {
  it('reports the new, closed and replaced listeners and the new outbound connection, with processes and controls, and exits 1', async () => {
    const db = join(dir, 'w.db');
    const csv = join(dir, 'w.csv');
    const closing = await holder('--listen-port', '3131');
    const replaced = await holder('--listen-port', '3232');
    // Only this test's ports: other test files run at the same time, and their sockets (some held
    // by executables in /tmp, a critical finding) would come and go inside this window.
    const ours = ['--filter', ':3131', '--filter', ':3232', '--filter', ':3333'];
    const pre = runCli(['--once', '--label', 'pre', '--change', 'CHG-42', '--db', db, '--csv', csv, '--no-hash-binaries', ...ours]);
    expect(pre.status, pre.stderr).toBe(0);

    await stop(closing.child);
    await stop(replaced.child);
    const python = spawn('/usr/bin/python3', ['-m', 'http.server', '3232', '--bind', '127.0.0.1'], { stdio: 'ignore' });
    children.push(python);
    await listening(3232);
    const opened = await holder('--listen-port', '3333');
    const client = await holder('--connect', '127.0.0.1:3333');
    const post = runCli(['--once', '--label', 'post', '--change', 'CHG-42', '--db', db, '--csv', csv, '--no-hash-binaries', ...ours]);
    expect(post.status, post.stderr).toBe(0);

    const json = runCli(['diff', '--change', 'CHG-42', '--db', db, '-o', 'json']);
    expect(json.status, json.stderr).toBe(1);
    const report = JSON.parse(json.stdout) as { schemaVersion: number; change: string; findings: Finding[] };
    expect(report.schemaVersion).toBe(1);
    expect(report.change).toBe('CHG-42');
    const find = (kind: string, pred: (f: Finding) => boolean) => report.findings.find((f) => f.kind === kind && pred(f));

    const newListener = find('listener-opened', (f) => f.change?.kind === 'listener-opened' && f.change.after.port === 3333);
    expect(newListener?.change?.kind === 'listener-opened' && newListener.change?.after.process?.pid).toBe(opened.info.pid);
    expect(newListener?.controls.map((c) => c.key)).toEqual(expect.arrayContaining(['csf2:DE.CM-01', 'iso27001:A.8.16', 'pcidss:1.2.5']));

    const closed = find('listener-closed', (f) => f.change?.kind === 'listener-closed' && f.change.before.port === 3131);
    expect(closed?.change?.kind === 'listener-closed' && closed.change?.before.process?.pid).toBe(closing.info.pid);
    expect(closed?.controls.filter((c) => c.role === 'primary').map((c) => c.key)).toEqual(expect.arrayContaining(['csf2:DE.CM-09', 'iso27001:A.8.32', 'sp80053:CM-3']));

    const takeover = find('process-changed', (f) => f.change?.kind === 'process-changed' && f.change.after.port === 3232);
    expect(takeover).toBeDefined();
    if (takeover?.change?.kind !== 'process-changed') throw new Error('kind');
    expect(takeover.change.fields).toContain('executable');
    expect(takeover.change.after.process?.name).toMatch(/python/);
    expect(takeover.severity).toBe('high');
    expect(takeover.controls.map((c) => c.key)).toContain('csf2:DE.CM-09');

    const outbound = find('outbound-opened', (f) => f.change?.kind === 'outbound-opened' && f.change.after.remotePort === 3333);
    // Aggregated by executable: the client process and the new listener's own test connection are both node.
    if (outbound?.change?.kind !== 'outbound-opened') throw new Error('no outbound-opened finding for port 3333');
    expect(outbound.change.after.executable).toBe(realpathSync(process.execPath));
    expect(outbound.change.after.connections).toBeGreaterThanOrEqual(2);
    expect([client.info.pid, opened.info.pid]).toContain(outbound.change.after.process?.pid);
    expect(outbound.controls.map((c) => c.key)).toEqual(expect.arrayContaining(['iso27001:A.8.15', 'csf2:DE.CM-09']));

    const text = runCli(['diff', '--pre', 'pre', '--post', 'post', '--change', 'CHG-42', '--db', db]);
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(/^Port changes detected \(\d+ total\) on .+ for change CHG-42: snapshot \d+ \(.+, pre\) -> snapshot \d+ \(.+, post\)/);
    expect(text.stdout).toMatch(/\nOpened ports \(\d+\):\n/);
    expect(text.stdout).toMatch(/\nChanged listeners \(\d+\):\n  HIGH\s+unexpected listener tcp 127\.0\.0\.1:3232 now belongs to python/);
    expect(text.stdout).toMatch(/supports: NIST CSF 2\.0 /);

    // The change ticket approved the new listener and a closure that did not happen.
    const expectFile = join(dir, 'chg-42.yaml');
    writeFileSync(expectFile, 'schema_version: 1\nchange: CHG-42\napproved_by: "R. Owner, CAB of 2026-11-20"\nexpected:\n  - open: "tcp:3333"\n    justification: "new service for CHG-42"\n  - close: ":9999"\n');
    const approved = runCli(['diff', '--change', 'CHG-42', '--db', db, '-o', 'json', '--expect', expectFile]);
    expect(approved.status).toBe(1);
    const classed = JSON.parse(approved.stdout) as { findings: Finding[] };
    const listener3333 = classed.findings.find((f) => f.change?.kind === 'listener-opened' && f.change.after.port === 3333);
    expect(listener3333?.approval).toBe('approved');
    expect(listener3333?.expected?.justification).toBe('new service for CHG-42');
    expect(listener3333?.expected?.approvedBy).toBe('R. Owner, CAB of 2026-11-20');
    // The text names the entry that approved it, its justification and who approved it.
    const approvedText = runCli(['diff', '--change', 'CHG-42', '--db', db, '--expect', expectFile]);
    expect(approvedText.stdout).toContain('      approved by: open tcp:3333 (new service for CHG-42); approver: R. Owner, CAB of 2026-11-20\n');
    expect(approvedText.stdout).toMatch(/missing\s+expected close :9999 did not happen .*\n      approver: R\. Owner, CAB of 2026-11-20\n/);
    const missing = classed.findings.find((f) => f.kind === 'expected-missing');
    expect(missing).toMatchObject({ approval: 'missing', expected: { action: 'close', pattern: ':9999' } });
    expect(missing?.controls.map((c) => c.key)).toContain('csf2:ID.RA-07');
    expect(classed.findings.find((f) => f.change?.kind === 'process-changed')?.approval).toBe('unexpected');
    expect(text.stdout).toMatch(/does not by itself satisfy them/);

    // Approvals written for another change are refused, by diff and by report, before anything is written.
    const other = join(dir, 'chg-99.yaml');
    expect(runCli(['keygen', '--keys', join(dir, 'keys')]).status).toBe(0);
    writeFileSync(other, 'schema_version: 1\nchange: CHG-99\nexpected:\n  - open: "tcp:3333"\n');
    for (const args of [
      ['diff', '--change', 'CHG-42'],
      ['diff', '--pre', 'pre', '--post', 'post'],
      ['report', '--change', 'CHG-42', '--no-pdf', '--keys', join(dir, 'keys'), '--out', join(dir, 'packs')],
    ]) {
      const refused = runCli([...args, '--db', db, '--expect', other]);
      expect(refused.status, refused.stderr).toBe(2);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain(`the expected changes in ${other} are for change CHG-99, but the window compared is change CHG-42: their approvals do not apply to it`);
    }
    expect(existsSync(join(dir, 'packs'))).toBe(false);

    // With a threshold above every finding, the same diff exits 0.
    expect(runCli(['diff', '--change', 'CHG-42', '--db', db, '--fail-on', 'critical']).status).toBe(0);
  });

  it('refuses what it cannot resolve with a usage error', () => {
    const db = join(dir, 'w.db');
    const none = runCli(['diff', '--change', 'NOPE', '--db', db]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no snapshot labelled "pre" for change NOPE \(the pre snapshot, --pre\)/);
    // A capture the ticket never got: the hint says how to take it.
    expect(none.stderr).toContain('netmon: hint: capture it with `netmon --once --label pre --change NOPE`; `netmon snapshots --change NOPE` lists what this ticket has');
    const spaced = runCli(['diff', '--change', "it's 1", '--pre', 'after', '--post', 'latest', '--db', db]);
    expect(spaced.stderr).toContain("capture it with `netmon --once --label after --change 'it'\\''s 1'`");
    // An id, first, latest or a time that selects another ticket's capture: not this ticket's window.
    const other = runCli(['diff', '--change', 'CHG-43', '--pre', 'first', '--post', 'latest', '--db', db]);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(/--pre "first" selects snapshot \d+, which is tagged with change "CHG-42", not CHG-43: the window of a change compares its own captures/);
    const refusedReport = runCli(['report', '--change', 'CHG-42', '--from', '1h', '--db', db, '--no-pdf']);
    expect(refusedReport.status).toBe(2);
    expect(refusedReport.stderr).toContain('give --change (the maintenance window of a ticket) or --from/--to (a monitoring period), not both');
    // An id that is not there: no capture to take, the usual hint.
    expect(runCli(['diff', '--pre', '999', '--post', 'latest', '--db', db]).stderr).toContain('netmon: hint: list them with `netmon snapshots`');
    expect(runCli(['diff', '--db', db]).status).toBe(2);
    expect(runCli(['diff', '--change', 'CHG-42', '--db', db, '--fail-on', 'sometimes']).status).toBe(2);
    // An --expect file not written yet: where its format is shown (a new-user probe).
    const noExpect = runCli(['diff', '--change', 'CHG-42', '--db', db, '--expect', join(dir, 'not-written.yaml')]);
    expect(noExpect.status).toBe(2);
    expect(noExpect.stderr).toContain('netmon: hint: write the approved changes of the ticket there first: templates/expected-changes.example.yaml');
  });

  it('says when --pre and --post select the same snapshot, or pre was taken after post', () => {
    const db = join(dir, 'w.db');
    const same = runCli(['diff', '--pre', 'pre', '--post', 'pre', '--change', 'CHG-42', '--db', db]);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stderr).toMatch(/note: --pre and --post select the same snapshot \(\d+, [^)]+\): there is nothing to compare/);
    expect(same.stdout).toMatch(/^No port changes on .+ for change CHG-42: snapshot \d+ \(.+, pre\) -> snapshot \d+ \(.+, pre\)\n/);
    expect(same.stdout).not.toContain('Port changes detected');
    const reversed = runCli(['diff', '--pre', 'post', '--post', 'pre', '--change', 'CHG-42', '--db', db, '--fail-on', 'critical']);
    expect(reversed.stderr).toMatch(/note: the pre snapshot \d+ \([^)]+\) was captured after the post snapshot \d+/);
    const inOrder = runCli(['diff', '--change', 'CHG-42', '--db', db, '--fail-on', 'critical']);
    expect(inOrder.stderr).not.toContain('note:');
  });
});

describe('windows and times as the store holds them (milliseconds; a clock set back)', () => {
  // Captures stamped to the millisecond; the third taken after the clock was set back, with a
  // listener that was not there before.
  const db = join(dir, 'times.db');
  const ids: number[] = [];
  {
    const store = EvidenceStore.open(db);
    store.beginSession({ interval: null });
    const web = makeSocket({ localPort: 443, inode: 1 });
    const added = makeSocket({ localPort: 9090, inode: 2, localAddress: '0.0.0.0' });
    for (const [at, sockets] of [
      ['2026-11-24T10:00:00.716Z', [web]],
      ['2026-11-24T11:00:00.500Z', [web]],
      ['2026-11-24T09:30:00.200Z', [web, added]],
    ] as const) {
      ids.push(store.appendSnapshot(makeSnapshot({ sockets: [...sockets], takenAt: new Date(at) })).id);
    }
    store.close();
  }
  const utc = { env: { ...process.env, TZ: 'UTC' } };

  it('a time as netmon prints it (whole seconds), pasted back, selects the snapshot it was printed for', () => {
    const listed = runCli(['snapshots', '--db', db], utc).stdout;
    expect(listed).toContain('2026-11-24T10:00:00+00:00');
    const shown = runCli(['show', '2026-11-24T10:00:00+00:00', '--db', db, '-o', 'json'], utc);
    expect(shown.status, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { takenAt: string }).takenAt).toBe('2026-11-24T10:00:00.716Z');
    const until = runCli(['snapshots', '--db', db, '--to', '2026-11-24T11:00:00+00:00', '-o', 'json'], utc);
    // Every snapshot stamped up to the end of that second: the one printed with it too (and the
    // one captured last, whose clock was set back).
    expect((JSON.parse(until.stdout) as { snapshots: { id: number }[] }).snapshots.map((s) => s.id)).toEqual(ids);
    const before = runCli(['snapshots', '--db', db, '--to', '2026-11-24T10:59:59+00:00', '-o', 'json'], utc);
    expect((JSON.parse(before.stdout) as { snapshots: { id: number }[] }).snapshots.map((s) => s.id)).toEqual([ids[0], ids[2]]);
  });

  it('orders a window by the chain: after a clock set back, the later capture is still the post one (a note says why its time reads earlier)', () => {
    const forward = runCli(['diff', '--pre', String(ids[1]), '--post', String(ids[2]), '--db', db, '-o', 'json', '--fail-on', 'critical'], utc);
    expect(forward.status, forward.stderr).toBe(0);
    expect(forward.stderr).toContain(`the post snapshot ${ids[2]} was captured after the pre snapshot ${ids[1]} (it comes later in the store's chain), but its time`);
    expect((JSON.parse(forward.stdout) as { findings: Finding[] }).findings.map((f) => f.kind)).toEqual(['listener-opened']);
    const keys = join(dir, 'times-keys');
    expect(runCli(['keygen', '--keys', keys]).status).toBe(0);
    const backwards = runCli(['report', '--pre', String(ids[2]), '--post', String(ids[1]), '--db', db, '--keys', keys, '--out', join(dir, 'times-out'), '--no-pdf'], utc);
    expect(backwards.status, backwards.stderr).toBe(2);
    expect(backwards.stderr).toContain(`the pre snapshot ${ids[2]} (2026-11-24T09:30:00+00:00) was captured after the post snapshot ${ids[1]}`);
    const pack = runCli(['report', '--pre', String(ids[1]), '--post', String(ids[2]), '--db', db, '--keys', keys, '--out', join(dir, 'times-out'), '--no-pdf'], utc);
    expect([0, 1], pack.stderr).toContain(pack.status);
    expect(pack.stderr).toContain('the clock was set back between the two captures');
  });

  it('report refuses to make a pack while its clock reads before the post capture (verify would refuse the pack)', () => {
    const future = join(dir, 'future.db');
    const store = EvidenceStore.open(future);
    store.beginSession({ interval: null });
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()], takenAt: new Date(Date.now() - 60_000) }));
    store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()], takenAt: new Date(Date.now() + 3_600_000) }));
    store.close();
    const keys = join(dir, 'future-keys');
    expect(runCli(['keygen', '--keys', keys]).status).toBe(0);
    const r = runCli(['report', '--pre', 'first', '--post', 'latest', '--db', future, '--keys', keys, '--out', join(dir, 'future-out'), '--no-pdf']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/the clock reads .*, before the post snapshot \d+ was taken/);
    expect(existsSync(join(dir, 'future-out'))).toBe(false);
  });

  it('snapshots and gaps refuse --from after --to (exit 2) instead of listing nothing', () => {
    for (const command of ['snapshots', 'gaps']) {
      const r = runCli([command, '--db', db, '--from', '2026-11-24T12:00Z', '--to', '2026-11-24T08:00Z']);
      expect(r.status, `${command}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('--from "2026-11-24T12:00Z" is after --to "2026-11-24T08:00Z"');
    }
  });
});

describe('a window whose two captures selected differently (finding rules 2)', () => {
  it('compares only what both selected: a listener one filter left out is not "closed", and the note says why; a pack verifies', async () => {
    await holder('--listen-port', '3971');
    await holder('--listen-port', '3972');
    await listening(3971);
    await listening(3972);
    const db = join(dir, 'selections.db');
    const keys = join(dir, 'selection-keys');
    const capture = (label: string, ...filters: string[]) => {
      const r = runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--label', label, '--change', 'CHG-SEL', ...filters]);
      expect(r.status, r.stderr).toBe(0);
    };
    capture('pre', '--filter', ':3971', '--filter', ':3972');
    capture('post', '--filter', ':3971');
    const diff = runCli(['diff', '--db', db, '--change', 'CHG-SEL', '-o', 'json']);
    expect(diff.status, diff.stderr).toBe(0);
    expect((JSON.parse(diff.stdout) as { findings: Finding[] }).findings).toEqual([]);
    expect(diff.stderr).toContain('note: the post snapshot was taken with --filter :3971: the pre snapshot is compared only in the sockets that selection keeps');
    expect(runCli(['keygen', '--keys', keys]).status).toBe(0);
    const report = runCli(['report', '--db', db, '--change', 'CHG-SEL', '--keys', keys, '--out', join(dir, 'selection-packs'), '--no-pdf']);
    expect(report.status, report.stderr).toBe(0);
    const pack = report.stdout.trim();
    const manifest = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8')) as { findingRules?: number };
    expect(manifest.findingRules).toBe(5);
    // The pack's data says what the comparison left out, as diff and the PDF do (an auditor probe found evidence.json silent).
    const evidence = JSON.parse(readFileSync(join(pack, 'evidence.json'), 'utf8')) as { notes: string[] };
    expect(evidence.notes).toContain('the post snapshot was taken with --filter :3971: the pre snapshot is compared only in the sockets that selection keeps');
    expect(evidence.notes).toEqual((JSON.parse(diff.stdout) as { notes: string[] }).notes);
    const verify = runCli(['verify', pack, '--db', db]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  });
});
