import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot } from '../../src/snapshot/snapshot.js';
import { HOLDER, haveCommand, isRoot, runCli, skipWithReason, startJsonProcess, stop, type Started } from '../helpers/processes.js';

const skip = skipWithReason(
  !isRoot || !haveCommand('ip') || !haveCommand('nsenter'),
  'network namespace tests: need root and the ip (iproute2) and nsenter (util-linux) commands',
);

const NS = `netmon-test-${process.pid}`;
const EMPTY_NS = `netmon-empty-${process.pid}`;

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

describe.skipIf(skip)('network namespaces (ip netns add)', () => {
  let inner: Started<{ pid: number; tcp4: number; tcp6: number }>;

  beforeAll(async () => {
    ip('netns', 'add', NS);
    ip('netns', 'add', EMPTY_NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    // A listener on a fixed, non-ephemeral port inside the namespace.
    inner = await startJsonProcess('ip', ['netns', 'exec', NS, process.execPath, HOLDER, '--listen-port', '2323']);
  });

  afterAll(async () => {
    await stop(inner?.child);
    spawnSync('ip', ['netns', 'del', NS]);
    spawnSync('ip', ['netns', 'del', EMPTY_NS]);
  });

  it('reports the socket under its own namespace, named, and not as the host', async () => {
    const snap = await snapshot({ hashBinaries: false });
    const host = snap.namespaces.find((n) => n.host)!;
    const named = snap.namespaces.find((n) => n.name === NS);
    expect(named).toBeDefined();
    expect(named!.read).toBe(true);
    expect(named!.host).toBe(false);
    const listener = snap.sockets.filter((s) => s.state === 'LISTEN' && s.localPort === 2323);
    expect(listener).toHaveLength(1);
    expect(listener[0]!.netns).toBe(named!.inode);
    expect(listener[0]!.netns).not.toBe(host.inode);
    expect(listener[0]!.owners.map((o) => o.pid)).toEqual([inner.info.pid]);
    expect(snap.processes.find((p) => p.pid === inner.info.pid)?.netns).toBe(named!.inode);
  });

  it('reads a namespace no process lives in through its ip netns binding', async () => {
    const snap = await snapshot({ hashBinaries: false });
    const empty = snap.namespaces.find((n) => n.name === EMPTY_NS);
    expect(empty).toMatchObject({ read: true, processes: 0, host: false, sockets: 0 });
  });

  it('reads each namespace once, not once per process', async () => {
    const snap = await snapshot({ hashBinaries: false });
    const inodes = snap.namespaces.map((n) => n.inode);
    expect(new Set(inodes).size).toBe(inodes.length);
  });

  it('shows the namespace column in the live view', () => {
    const r = runCli(['snapshot', '--filter', ':2323']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/NETNS/);
    expect(r.stdout).toContain(NS.slice(0, 6));
  });
});
