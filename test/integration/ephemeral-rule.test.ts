import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/model/types.js';
import { CLI, haveCommand, HOLDER, isRoot, skipWithReason, startJsonProcess, stop, type Started } from '../helpers/processes.js';

const skip = skipWithReason(!isRoot || !haveCommand('ip'), 'the ephemeral-port rule across namespaces: needs root and ip (iproute2)');

const made: string[] = [];
const held: Started<unknown>[] = [];
afterAll(async () => {
  for (const h of held) await stop(h.child);
  for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
});

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

/** The inode of a named namespace, as /proc/<pid>/ns/net names it. */
function inodeOf(ns: string): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' });
  return Number(/net:\[(\d+)\]/.exec(r.stdout)![1]);
}

/** A network namespace of this test's own, with loopback up and these sysctls set in it. */
function namespace(suffix: string, sysctls: string[]): string {
  const name = `netmon-eph-${suffix}-${process.pid}`;
  ip('netns', 'add', name);
  made.push(name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  for (const s of sysctls) ip('netns', 'exec', name, 'sysctl', '-qw', s);
  return name;
}

async function listen(ns: string, port: number): Promise<void> {
  held.push(await startJsonProcess('ip', ['netns', 'exec', ns, process.execPath, HOLDER, '--listen-port', String(port)]));
}

/** netmon snapshot run inside namespace `ns` (its own namespace, whose range it reads). */
function snapshotIn(ns: string): Snapshot {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, CLI, 'snapshot', '--no-hash-binaries', '--listening-only', '-o', 'json'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`netmon snapshot failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Snapshot;
}

/**
 * Listeners on ports of the ephemeral range are left out by default. From a selection probe: the
 * rule used netmon's own range for every namespace (ranges are set per namespace, and a
 * container's service on port 8080 was hidden when the host's range began at 1024), and it hid
 * listeners on reserved ports (ip_local_reserved_ports), which the kernel never hands out: a
 * service put there on purpose. Each case sets the ranges in namespaces of its own.
 */
describe.skipIf(skip)('the ephemeral-port rule', () => {
  it("holds in netmon's own namespace only: a listener of another namespace on a port of netmon's range is kept", async () => {
    const own = namespace('own', ['net.ipv4.ip_local_port_range=1024 65000']);
    const other = namespace('other', []);
    await listen(own, 8081);
    await listen(other, 8080);
    const doc = snapshotIn(own);
    const inOwn = { inode: inodeOf(own) };
    const inOther = { inode: inodeOf(other) };
    expect(doc.selection.ephemeralRangeNetns).toBe(inOwn.inode);
    expect(doc.selection.ephemeralPortRange).toEqual([1024, 65000]);
    // 8080 is not in the other namespace's range (the default, 32768-60999): a service, kept.
    expect(doc.sockets.some((s) => s.netns === inOther.inode && s.localPort === 8080)).toBe(true);
    // 8081 is in netmon's own range: left out, as before.
    expect(doc.sockets.some((s) => s.netns === inOwn.inode && s.localPort === 8081)).toBe(false);
  });

  it('keeps a listener on a reserved port or a back-door port, and records the reserved ports', async () => {
    const ns = namespace('reserved', ['net.ipv4.ip_local_reserved_ports=40000,40010-40011']);
    await listen(ns, 40000);
    await listen(ns, 40001);
    // 54321, a back-door port inside the default range: never left out (from a findings probe).
    await listen(ns, 54321);
    const doc = snapshotIn(ns);
    const inode = inodeOf(ns);
    const ports = doc.sockets.filter((s) => s.netns === inode).map((s) => s.localPort);
    expect(ports).toContain(40000);
    expect(ports).toContain(54321);
    expect(ports).not.toContain(40001);
    expect(doc.selection.ephemeralPortsReserved).toEqual([40000, 40010, 40011]);
  });

  it('says which TCP listeners it left out, and a window in which one appeared says so in diff, evidence.json and the PDF (an auditor probe: a back door on port 45678 was in no file of the signed pack)', async () => {
    const ns = namespace('seen', ['net.ipv4.ip_local_port_range=40000 50000']);
    const inode = inodeOf(ns);
    const dir = mkdtempSync(join(tmpdir(), 'netmon-eph-window-'));
    try {
      const run = (args: string[]) => spawnSync('ip', ['netns', 'exec', ns, process.execPath, CLI, ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
      const capture = (label: string) => {
        const r = run(['--once', '--label', label, '--change', 'EPH-1', '--no-csv', '--no-hash-binaries']);
        expect(r.status, r.stderr).toBe(0);
        return r.stdout;
      };
      capture('pre');
      await listen(ns, 45678);
      const live = capture('post');
      expect(live).toMatch(/^left out: \d+ listeners on ephemeral ports 40000-50000, .*TCP \(.*127\.0\.0\.1:45678/m);

      const shown = run(['show', 'post', '-o', 'json']);
      expect(shown.status, shown.stderr).toBe(0);
      const post = JSON.parse(shown.stdout) as Snapshot;
      expect(post.ephemeralTcpListeners).toContainEqual({ netns: inode, family: 'ipv4', address: '127.0.0.1', port: 45678 });
      expect(post.sockets.some((s) => s.listening && s.localPort === 45678)).toBe(false);
      const pre = JSON.parse(run(['show', 'pre', '-o', 'json']).stdout) as Snapshot;
      expect(pre.ephemeralTcpListeners).toEqual([]);
      // Only those the endpoint filters would have kept; none recorded under a process filter, which cannot be applied to them.
      const filtered = JSON.parse(run(['snapshot', '--no-hash-binaries', '--filter', 'tcp:45678', '-o', 'json']).stdout) as Snapshot;
      expect(filtered.ephemeralTcpListeners).toEqual([{ netns: inode, family: 'ipv4', address: '127.0.0.1', port: 45678 }]);
      const byProcess = JSON.parse(run(['snapshot', '--no-hash-binaries', '--process', 'node', '-o', 'json']).stdout) as Snapshot;
      expect(byProcess.ephemeralTcpListeners).toBeUndefined();

      const note = 'TCP listeners on ephemeral ports (40000-50000), which the ephemeral-port rule leaves out of both inventories, appeared: 127.0.0.1:45678';
      const diff = run(['diff', '--change', 'EPH-1', '-o', 'json']);
      // Root's netmon captures every namespace of the host: what other test files (or anything
      // else on the machine) changed in theirs between the two captures may be a finding of medium
      // or above (exit 1). In this test's namespace (the one netmon runs in: `host` to it), the
      // listener on the ephemeral port is no finding, only its client's low outbound connection.
      expect([0, 1], diff.stderr).toContain(diff.status);
      expect(diff.stderr).toContain(`netmon: note: ${note}`);
      const found = (JSON.parse(diff.stdout) as { findings: { kind: string; severity: string; change?: { after?: { namespace?: string; port?: number }; before?: { namespace?: string } } }[] }).findings;
      const here = found.filter((f) => (f.change?.after?.namespace ?? f.change?.before?.namespace) === 'host');
      expect(here.length, diff.stdout).toBeGreaterThan(0);
      expect(here.filter((f) => f.severity !== 'low' && f.severity !== 'info'), JSON.stringify(here)).toEqual([]);
      expect(here.some((f) => f.kind.startsWith('listener') && f.change?.after?.port === 45678)).toBe(false);

      expect(run(['keygen']).status).toBe(0);
      const report = run(['report', '--change', 'EPH-1']);
      expect(report.status, report.stderr).toBe(0);
      const pack = join(dir, report.stdout.trim());
      const evidence = JSON.parse(readFileSync(join(pack, 'evidence.json'), 'utf8')) as { notes?: string[] };
      expect(evidence.notes?.some((n) => n.startsWith(note))).toBe(true);
      if (haveCommand('pdftotext')) {
        const text = spawnSync('pdftotext', [join(pack, 'report.pdf'), '-'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
        expect(text).toContain('Outside the inventories: TCP listeners on ephemeral ports (40000-50000)');
        expect(text).toContain('127.0.0.1:45678');
      }
      expect(run(['verify', pack, '--db', 'netmon.db']).status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
