import { spawnSync } from 'node:child_process';
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
});
