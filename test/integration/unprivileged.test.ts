import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/model/types.js';
import { AS_NOBODY, checkAsNobody, HOLDER, haveCommand, isRoot, runCli, skipWithReason, startJsonProcess, stop, type Started } from '../helpers/processes.js';

const skip = skipWithReason(!isRoot || !haveCommand('setpriv'), 'unprivileged run: needs root (to drop to nobody) and setpriv (util-linux)');

// Run the CLI as nobody, with no capabilities, while a root-owned process holds sockets.

describe.skipIf(skip)('without root', () => {
  let holder: Started<{ pid: number; tcp4: number }>;
  beforeAll(async () => {
    holder = await startJsonProcess(process.execPath, [HOLDER, '--listen-port', '2424']);
  });
  afterAll(async () => stop(holder?.child));

  it('never crashes, marks root-owned sockets permission-denied and says what would fix it', () => {
    const r = runCli(['snapshot', '--output', 'json', '--filter', ':2424'], { prefix: AS_NOBODY });
    expect(r.status, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    const listener = snap.sockets.find((s) => s.state === 'LISTEN' && s.localPort === 2424);
    expect(listener).toBeDefined();
    expect(listener!.owners).toEqual([]);
    expect(listener!.unattributed).toBe('permission-denied');
    expect(snap.coverage.privileged).toBe(false);
    expect(snap.coverage.byReason['permission-denied']).toBeGreaterThanOrEqual(1);
    expect(snap.coverage.processesDenied).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/could not be attributed/);
    expect(r.stderr).toMatch(/CAP_SYS_PTRACE/);
    expect(r.stderr).toMatch(/CAP_DAC_READ_SEARCH/);
    expect(snap.warnings.map((w) => w.code)).toContain('W_PRIVILEGE');
    // Who ran it (an auditor probe found no word of it): nobody, without privilege.
    expect(snap.capturedBy).toEqual({ uid: 65534, user: 'nobody', privilege: null });
  });

  it('keeps the table readable and counts the unattributed sockets on the coverage line', () => {
    const r = runCli(['--once', '--filter', ':2424'], { prefix: AS_NOBODY });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\(no access\)/);
    expect(r.stdout).toMatch(/coverage: \d+ sockets? [^]*permission denied/);
  });

  it('check without root does not report a connection it cannot attribute as ended: it leaves it out, with a note', async () => {
    // Before: a baseline taken as root, then a check as nobody with nothing changed reported the
    // root process's connection as ended (its holder is unreadable now, so it looked another).
    const client = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--connect', '127.0.0.1:2424']);
    try {
      const r = checkAsNobody(['--filter', ':2424', '--no-hash-binaries'], ['--fail-on', 'info', '-o', 'json']);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { findings: unknown[] }).findings).toEqual([]);
      expect(r.stderr).toMatch(/note: \d+ connections? the baseline attributed (is|are) still open, held by a process this capture cannot read: not compared/);
    } finally {
      await stop(client.child);
    }
  });
});

// The remedy netmon names: a user that is not root, holding CAP_SYS_PTRACE (to read another
// user's descriptor links and namespace) and CAP_DAC_READ_SEARCH (to list its descriptors), as a
// service unit grants them (AmbientCapabilities=). setpriv passes them on as ambient capabilities.
const withCaps = (caps: string) => ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`];
const BOTH = '+sys_ptrace,+dac_read_search';
const canAmbient = isRoot && haveCommand('setpriv') && spawnSync(withCaps(BOTH)[0]!, [...withCaps(BOTH).slice(1), 'true']).status === 0;
const skipCaps = skipWithReason(!canAmbient, 'capability run: needs root, and setpriv (util-linux) with --ambient-caps on a kernel with ambient capabilities (4.3 or later)');

describe.skipIf(skipCaps)('without root, holding CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH', () => {
  let holder: Started<{ pid: number; tcp4: number }>;
  beforeAll(async () => {
    holder = await startJsonProcess(process.execPath, [HOLDER, '--listen-port', '2427']);
  });
  afterAll(async () => stop(holder?.child));

  it("attributes a root process's socket, and never advises granting what netmon holds", () => {
    const r = runCli(['snapshot', '--output', 'json', '--no-hash-binaries'], { prefix: withCaps(BOTH) });
    expect(r.status, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    const listener = snap.sockets.find((s) => s.state === 'LISTEN' && s.localPort === 2427);
    expect(listener?.owners.map((o) => o.pid)).toEqual([holder.info.pid]);
    expect(listener?.unattributed).toBeUndefined();
    const proc = snap.processes.find((p) => p.pid === holder.info.pid);
    expect(proc?.uid).toBe(0);
    expect(proc?.commandLine.join(' ')).toContain('--listen-port 2427');
    // Whatever stays unreadable (a sandbox's init, say) is protected, not a privilege netmon lacks.
    expect(snap.warnings.map((w) => w.code)).not.toContain('W_PRIVILEGE');
    for (const w of snap.warnings.filter((x) => x.code === 'W_PROTECTED')) expect(w.message).toContain('although netmon holds CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH');
    expect(r.stderr).not.toContain('setcap');
    expect(snap.capturedBy?.privilege).toBe('capabilities');
  });

  it.for([['+sys_ptrace', 'listing its descriptors'], ['+dac_read_search', 'reading its descriptor links']])('with %s alone, the socket is permission-denied (%s needs the other one) and the remedy names both', ([caps]) => {
    const r = runCli(['snapshot', '--output', 'json', '--no-hash-binaries', '--filter', ':2427'], { prefix: withCaps(caps!) });
    expect(r.status, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    expect(snap.sockets.find((s) => s.localPort === 2427)?.unattributed).toBe('permission-denied');
    expect(snap.warnings.map((w) => w.code)).toContain('W_PRIVILEGE');
    expect(r.stderr).toContain('CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH');
  });
});

// /proc mounted with hidepid=invisible, as hardening guides (CIS) recommend: other users'
// processes are not listed at all, so nothing reports them as unreadable. A private mount
// namespace gets its own proc instance with that option; the host's /proc is not touched.
const hiddenProc = (options: string) => ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t proc -o ${options} proc /proc && exec "$@"`, 'sh'];
const canMountProc = isRoot && haveCommand('setpriv') && haveCommand('unshare') && spawnSync(hiddenProc('hidepid=2')[0]!, [...hiddenProc('hidepid=2').slice(1), 'true']).status === 0;
const skipHidden = skipWithReason(!canMountProc, 'hidepid run: needs root, setpriv and unshare (util-linux), and a kernel that lets root mount proc in a private mount namespace');

describe.skipIf(skipHidden)('without root, /proc mounted with hidepid=invisible', () => {
  let holder: Started<{ pid: number; tcp4: number }>;
  beforeAll(async () => {
    holder = await startJsonProcess(process.execPath, [HOLDER, '--listen-port', '2425']);
  });
  afterAll(async () => stop(holder?.child));

  it('marks the hidden owner\'s socket permission-denied (not "another namespace"), not privileged, and says why and what fixes it', () => {
    const r = runCli(['snapshot', '--output', 'json', '--filter', ':2425'], { prefix: [...hiddenProc('hidepid=2'), ...AS_NOBODY] });
    expect(r.status, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    const listener = snap.sockets.find((s) => s.state === 'LISTEN' && s.localPort === 2425);
    expect(listener, r.stdout).toBeDefined();
    expect(listener!.owners).toEqual([]);
    expect(listener!.unattributed).toBe('permission-denied');
    expect(snap.coverage.privileged).toBe(false);
    // Hidden processes are not counted as denied ones: nobody knows how many there are.
    expect(snap.coverage.processesDenied).toBe(0);
    const warning = snap.warnings.find((w) => w.code === 'W_PRIVILEGE');
    expect(warning?.message).toContain("other users' processes are hidden from netmon (/proc is mounted with hidepid=invisible)");
    expect(warning?.message).toContain('remount /proc with gid=GROUP');
    expect(r.stderr).toContain('hidepid=invisible');
  });

  it('a member of the gid= group sees every process: the usual unreadable-descriptor account, no hidden processes', () => {
    const r = runCli(['snapshot', '--output', 'json', '--filter', ':2425'], {
      prefix: [...hiddenProc('hidepid=2,gid=4242'), 'setpriv', '--reuid=65534', '--regid=65534', '--groups=4242', '--inh-caps=-all', '--bounding-set=-all'],
    });
    expect(r.status, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    expect(snap.sockets.find((s) => s.localPort === 2425)?.unattributed).toBe('permission-denied');
    expect(snap.coverage.processesDenied).toBeGreaterThan(0);
    expect(r.stderr).not.toContain('hidden');
  });
});
