import type { ProcessRecord, Snapshot, SocketRecord } from '../../src/model/types.js';
import { createSnapshot } from '../../src/snapshot/create-snapshot.js';

/** A socket record with sensible defaults: a TCP IPv4 listener on 127.0.0.1:8080. */
export function makeSocket(overrides: Partial<SocketRecord> = {}): SocketRecord {
  const base: SocketRecord = {
    transport: 'tcp',
    family: 'ipv4',
    localAddress: '127.0.0.1',
    localPort: 8080,
    remoteAddress: '0.0.0.0',
    remotePort: 0,
    state: 'LISTEN',
    uid: 1000,
    inode: 1000,
    netns: 4026531840,
    listening: true,
    owners: [{ pid: 100, fd: 3 }],
  };
  return { ...base, ...overrides };
}

/** A process record with sensible defaults (pid 100, python3 run by alice; the effective uid is the real one unless given). */
export function makeProcess(overrides: Partial<ProcessRecord> = {}): ProcessRecord {
  return {
    pid: 100,
    ppid: 1,
    name: 'python3',
    executable: '/usr/bin/python3.11',
    executableDeleted: false,
    commandLine: ['python3', '-m', 'http.server', '8080'],
    uid: 1000,
    user: 'alice',
    euid: overrides.uid ?? 1000,
    gid: 1000,
    group: 'alice',
    startTime: '2026-11-23T00:00:00.000Z',
    containerId: null,
    netns: 4026531840,
    hashes: {
      blake3: 'a'.repeat(64),
      sha256: 'b'.repeat(64),
      size: 1234,
    },
    issues: [],
    ...overrides,
  };
}

/** A snapshot built in memory from sockets and processes. */
export function makeSnapshot(parts: { sockets?: SocketRecord[]; processes?: ProcessRecord[]; takenAt?: Date } = {}): Snapshot {
  return createSnapshot({
    version: '0.0.0-test',
    host: { hostname: 'testhost', platform: 'linux', kernel: '6.1.0', bootTime: '2026-11-22T00:00:00.000Z' },
    takenAt: parts.takenAt ?? new Date('2026-11-23T01:02:03.000Z'),
    durationMs: 12.3,
    selection: {
      listeningOnly: false,
      includeEphemeral: false,
      families: ['ipv4', 'ipv6'],
      processInfo: true,
      hashBinaries: true,
      ephemeralPortRange: [32768, 60999],
      filters: {},
    },
    namespaces: [{ inode: 4026531840, name: 'host', host: true, processes: 10, sockets: parts.sockets?.length ?? 0, read: true }],
    sockets: parts.sockets ?? [makeSocket()],
    processes: parts.processes ?? [makeProcess()],
    scan: { processesScanned: 10, processesDenied: 0, processesExited: 0, namespacesUnknown: 0, fullPrivilege: 'root' },
  });
}
