import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilterError } from '../../src/errors.js';
import type { Snapshot, SocketRecord } from '../../src/model/types.js';
import { snapshot } from '../../src/snapshot/snapshot.js';
import { HOLDER, haveCommand, skipWithReason, startJsonProcess, stop, type Started } from '../helpers/processes.js';

interface HolderInfo {
  pid: number;
  tcp4: number;
  tcp6: number;
  dual: number;
  client4: number;
  client6: number;
  clientMapped: number;
  udp4: number;
  udp6: number;
  udpConnectedLocal: number;
}

let holder: Started<HolderInfo>;
let remote: Started<{ pid: number; clientPort: number }>;
let snap: Snapshot;

beforeAll(async () => {
  holder = await startJsonProcess<HolderInfo>(process.execPath, [HOLDER]);
  // A second process connected to the first: both ends of that connection have different owners.
  remote = await startJsonProcess(process.execPath, [HOLDER, '--connect', `127.0.0.1:${holder.info.tcp4}`]);
  snap = await snapshot({ includeEphemeral: true });
});

afterAll(async () => {
  await stop(remote?.child);
  await stop(holder?.child);
});

function find(pred: (s: SocketRecord) => boolean): SocketRecord[] {
  return snap.sockets.filter(pred);
}

function one(pred: (s: SocketRecord) => boolean, what: string): SocketRecord {
  const found = find(pred);
  expect(found, what).toHaveLength(1);
  return found[0]!;
}

describe('snapshot() on real sockets opened by the test', () => {
  it('reports TCP listeners on IPv4, IPv6 and dual-stack with the holder as owner', () => {
    const pid = holder.info.pid;
    const v4 = one((s) => s.transport === 'tcp' && s.family === 'ipv4' && s.state === 'LISTEN' && s.localPort === holder.info.tcp4, 'tcp4 listener');
    expect(v4).toMatchObject({ family: 'ipv4', localAddress: '127.0.0.1', listening: true });
    expect(v4.owners.map((o) => o.pid)).toEqual([pid]);
    const v6 = one((s) => s.transport === 'tcp' && s.family === 'ipv6' && s.state === 'LISTEN' && s.localPort === holder.info.tcp6, 'tcp6 listener');
    expect(v6).toMatchObject({ family: 'ipv6', localAddress: '::1' });
    const dual = one((s) => s.transport === 'tcp' && s.family === 'ipv6' && s.state === 'LISTEN' && s.localPort === holder.info.dual, 'dual-stack listener');
    expect(dual).toMatchObject({ family: 'ipv6', localAddress: '::' });
  });

  it('reports both ends of established loopback connections, IPv4-mapped addresses shown as IPv4', () => {
    const pid = holder.info.pid;
    const client = one((s) => s.state === 'ESTABLISHED' && s.localPort === holder.info.client4 && s.remotePort === holder.info.tcp4, 'v4 client end');
    expect(client).toMatchObject({ transport: 'tcp', localAddress: '127.0.0.1', remoteAddress: '127.0.0.1', remotePort: holder.info.tcp4, listening: false });
    expect(client.owners[0]?.pid).toBe(pid);
    const server = one((s) => s.state === 'ESTABLISHED' && s.remotePort === holder.info.client4 && s.localPort === holder.info.tcp4, 'v4 server end');
    expect(server.owners[0]?.pid).toBe(pid);
    const c6 = one((s) => s.state === 'ESTABLISHED' && s.localPort === holder.info.client6 && s.remotePort === holder.info.tcp6, 'v6 client end');
    expect(c6).toMatchObject({ family: 'ipv6', localAddress: '::1', remoteAddress: '::1', remotePort: holder.info.tcp6 });
    const mapped = one((s) => s.state === 'ESTABLISHED' && s.localPort === holder.info.dual && s.remotePort === holder.info.clientMapped, 'mapped server end');
    expect(mapped).toMatchObject({ family: 'ipv6', localAddress: '127.0.0.1', remoteAddress: '127.0.0.1' });
  });

  it('attributes the other end of a connection to the other process', () => {
    const c = one((s) => s.state === 'ESTABLISHED' && s.localPort === remote.info.clientPort && s.remotePort === holder.info.tcp4, 'remote client');
    expect(c.owners.map((o) => o.pid)).toEqual([remote.info.pid]);
  });

  it('reports unconnected UDP as listening-like and connected UDP as ESTABLISHED', () => {
    const u4 = one((s) => s.transport === 'udp' && s.family === 'ipv4' && s.state === 'UNCONN' && s.localPort === holder.info.udp4, 'udp4');
    expect(u4).toMatchObject({ family: 'ipv4', state: 'UNCONN', listening: true, localAddress: '127.0.0.1' });
    const u6 = one((s) => s.transport === 'udp' && s.family === 'ipv6' && s.localPort === holder.info.udp6, 'udp6');
    expect(u6).toMatchObject({ family: 'ipv6', state: 'UNCONN', listening: true, localAddress: '::1' });
    const uc = one((s) => s.transport === 'udp' && s.family === 'ipv4' && s.localPort === holder.info.udpConnectedLocal, 'connected udp');
    expect(uc).toMatchObject({ state: 'ESTABLISHED', listening: false, remotePort: holder.info.udp4 });
  });

  it('describes the owning process: pid, ppid, name, executable, command line, user, start time, hashes', () => {
    const proc = snap.processes.find((p) => p.pid === holder.info.pid);
    expect(proc).toBeDefined();
    expect(proc!.ppid).toBe(process.pid);
    expect(proc!.name).toBe('node');
    expect(proc!.executable).toBe(realpathSync(process.execPath));
    expect(proc!.executableDeleted).toBe(false);
    expect(proc!.commandLine).toEqual([process.execPath, HOLDER]);
    expect(proc!.uid).toBe(process.getuid!());
    expect(proc!.gid).toBe(process.getgid!());
    if (process.getuid!() === 0) {
      expect(proc!.user).toBe('root');
      expect(proc!.group).toBe('root');
    }
    const started = Date.parse(proc!.startTime!);
    expect(Math.abs(started - Date.now())).toBeLessThan(5 * 60_000);
    expect(proc!.hashes?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(proc!.hashes?.blake3).toMatch(/^[0-9a-f]{64}$/);
    const sha = spawnSync('sha256sum', [realpathSync(process.execPath)], { encoding: 'utf8' });
    if (sha.status === 0) expect(proc!.hashes!.sha256).toBe(sha.stdout.split(' ')[0]);
  });

  it('names the namespace of every socket and counts coverage', () => {
    const ns = new Set(snap.namespaces.map((n) => n.inode));
    for (const s of snap.sockets) expect(ns.has(s.netns)).toBe(true);
    expect(snap.coverage.total).toBe(snap.sockets.length);
    expect(snap.coverage.attributed + snap.coverage.unattributed).toBe(snap.coverage.total);
    for (const s of snap.sockets) {
      if (s.owners.length === 0) expect(s.unattributed).toBeDefined();
      else expect(s.unattributed).toBeUndefined();
    }
  });

  it('leaves out listeners on ephemeral ports by default, and keeps connections', async () => {
    const range = snap.selection.ephemeralPortRange!;
    expect(holder.info.tcp4 >= range[0] && holder.info.tcp4 <= range[1]).toBe(true);
    const dflt = await snapshot({ hashBinaries: false });
    expect(dflt.sockets.some((s) => s.state === 'LISTEN' && s.localPort === holder.info.tcp4)).toBe(false);
    expect(dflt.sockets.some((s) => s.state === 'ESTABLISHED' && s.localPort === holder.info.client4)).toBe(true);
  });

  it('applies --listening-only, --only-ipv6 and filters to real sockets', async () => {
    const listening = await snapshot({ includeEphemeral: true, listeningOnly: true, hashBinaries: false });
    expect(listening.sockets.every((s) => s.listening)).toBe(true);
    expect(listening.sockets.some((s) => s.localPort === holder.info.tcp4)).toBe(true);
    const v6 = await snapshot({ includeEphemeral: true, onlyIpv6: true, hashBinaries: false });
    expect(v6.sockets.every((s) => s.family === 'ipv6')).toBe(true);
    const filtered = await snapshot({ includeEphemeral: true, hashBinaries: false, filters: { filter: [`tcp:${holder.info.tcp4}`] } });
    // The listener, the server ends of two connections, and the two client ends (remote port matches).
    expect(filtered.sockets.length).toBeGreaterThanOrEqual(4);
    expect(filtered.sockets.every((s) => s.transport === 'tcp' && (s.localPort === holder.info.tcp4 || s.remotePort === holder.info.tcp4))).toBe(true);
    const byProcess = await snapshot({ includeEphemeral: true, hashBinaries: false, filters: { process: ['no-such-process-*'] } });
    expect(byProcess.sockets).toHaveLength(0);
    // The library refuses a pattern no socket can match, as the CLI does, before it reads anything.
    await expect(snapshot({ hashBinaries: false, filters: { include: ['*:80'] } })).rejects.toThrow(FilterError);
    await expect(snapshot({ hashBinaries: false, filters: { match: ['tcp [::1]:22'] } })).rejects.toThrow(/no socket's LOCAL end can match "\[::1\]:22"/);
  });

  it('lets the event loop run while it reads processes and hashes executables (a Ctrl-C is heard during a long first capture)', async () => {
    // Twenty more socket owners: with the holders and this process, more than one slice of
    // executables to hash, so the event loop must get a turn between slices too.
    const owners = await Promise.all(Array.from({ length: 20 }, () => startJsonProcess<HolderInfo>(process.execPath, [HOLDER])));
    try {
      let turns = 0;
      let done = false;
      const spin = (): void => {
        if (done) return;
        turns++;
        setImmediate(spin);
      };
      setImmediate(spin);
      const taken = await snapshot({ includeEphemeral: true, hashBinaries: true });
      done = true;
      const owning = new Set(taken.sockets.flatMap((s) => s.owners.map((o) => o.pid)));
      expect(owning.size).toBeGreaterThan(16);
      // One turn after the scan, and at least one between two slices of sixteen executables.
      expect(turns).toBeGreaterThanOrEqual(2);
      for (const o of owners) expect(taken.processes.find((p) => p.pid === o.info.pid)?.hashes?.blake3).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await Promise.all(owners.map((o) => stop(o.child)));
    }
  });

  it('runs without process info: sockets unattributed with reason not-requested (kernel-owned for inode 0), no processes', async () => {
    const bare = await snapshot({ includeEphemeral: true, processInfo: false });
    expect(bare.processes).toHaveLength(0);
    expect(bare.sockets.length).toBeGreaterThan(0);
    expect(bare.sockets.every((s) => s.owners.length === 0 && s.unattributed === (s.inode === 0 ? 'kernel-owned' : 'not-requested'))).toBe(true);
  });
});

const noSs = skipWithReason(!haveCommand('ss'), 'comparison with ss: the ss command (Debian package iproute2) is not installed');

describe.skipIf(noSs)('agreement with ss -tunapH', () => {
  /** "127.0.0.1:80", "[::1]:80", "[::ffff:127.0.0.1]:80", "*:80", "0.0.0.0:*" -> [address, port]. */
  function endpoint(text: string): [string, string] {
    const i = text.lastIndexOf(':');
    let address = text.slice(0, i).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    if (address.startsWith('::ffff:') && address.includes('.')) address = address.slice(7);
    return [address, text.slice(i + 1)];
  }
  const SS_STATES: Record<string, string> = { ESTAB: 'ESTABLISHED', LISTEN: 'LISTEN', UNCONN: 'UNCONN' };

  it('sees the same (proto, local, remote, state, pid) for the sockets the test owns', async () => {
    const mine = new Set([holder.info.pid, remote.info.pid]);
    const ss = spawnSync('ss', ['-tunapH'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const ours = await snapshot({ includeEphemeral: true, hashBinaries: false });
    expect(ss.status).toBe(0);
    const fromSs = new Set<string>();
    for (const line of ss.stdout.split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 6) continue;
      const [proto, state, , , local, peer, ...rest] = cols as [string, string, string, string, string, string, ...string[]];
      const pids = [...rest.join(' ').matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
      const owned = pids.filter((p) => mine.has(p));
      if (owned.length === 0) continue;
      const [la, lp] = endpoint(local);
      const [ra, rp] = endpoint(peer);
      const listening = state === 'LISTEN' || state === 'UNCONN';
      for (const pid of owned) {
        fromSs.add([proto, la === '*' ? '::' : la, lp, listening ? '*' : `${ra}:${rp}`, SS_STATES[state] ?? state, pid].join(' '));
      }
    }
    const fromNetmon = new Set<string>();
    for (const s of ours.sockets) {
      for (const o of s.owners) {
        if (!mine.has(o.pid)) continue;
        const remote = s.listening ? '*' : `${s.remoteAddress}:${s.remotePort}`;
        fromNetmon.add([s.transport, s.localAddress, String(s.localPort), remote, s.state, o.pid].join(' '));
      }
    }
    expect(fromSs.size).toBeGreaterThanOrEqual(12);
    expect([...fromNetmon].sort()).toEqual([...fromSs].sort());
  });
});
