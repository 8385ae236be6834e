import type {
  Coverage,
  HostInfo,
  CapturedBy,
  EphemeralListener,
  ListeningPort,
  NamespaceRecord,
  ProcessRecord,
  ProtectedProcesses,
  Snapshot,
  SnapshotSelection,
  SnapshotWarning,
  SocketRecord,
  UnattributedReason,
} from '../model/types.js';
import { SNAPSHOT_SCHEMA_VERSION, UNATTRIBUTED_REASONS } from '../model/types.js';
import { count } from '../model/format.js';

export interface SnapshotParts {
  version: string;
  host: HostInfo;
  takenAt: Date;
  durationMs: number;
  selection: SnapshotSelection;
  namespaces: NamespaceRecord[];
  sockets: SocketRecord[];
  processes: ProcessRecord[];
  scan: {
    processesScanned: number;
    processesDenied: number;
    processesExited: number;
    namespacesUnknown: number;
    /** netmon could read every process: as root, or holding CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH. */
    fullPrivilege: 'root' | 'capabilities' | null;
    /** Other users' processes are hidden (hidepid): why. */
    processesHidden?: { reason: string; remedy: string };
    /** With full privilege, the processes that still refused (named in W_PROTECTED). */
    protectedProcesses?: ProtectedProcesses;
  };
  warnings?: SnapshotWarning[];
  /** Listening ports the selection left out (see Snapshot.listeningPortsLeftOut); kept only when there are some. */
  listeningPortsLeftOut?: ListeningPort[];
  /** TCP listeners the ephemeral-port rule left out (see Snapshot.ephemeralTcpListeners); undefined when it was not applied. */
  ephemeralTcpListeners?: EphemeralListener[];
  /** Who took the capture (see Snapshot.capturedBy). */
  capturedBy?: CapturedBy;
}

/** Listeners first, then by transport, family, local port and address, remote endpoint, inode. */
export function compareSockets(a: SocketRecord, b: SocketRecord): number {
  return (
    Number(b.listening) - Number(a.listening) ||
    (a.transport < b.transport ? -1 : a.transport > b.transport ? 1 : 0) ||
    (a.family < b.family ? -1 : a.family > b.family ? 1 : 0) ||
    a.localPort - b.localPort ||
    (a.localAddress < b.localAddress ? -1 : a.localAddress > b.localAddress ? 1 : 0) ||
    (a.remoteAddress < b.remoteAddress ? -1 : a.remoteAddress > b.remoteAddress ? 1 : 0) ||
    a.remotePort - b.remotePort ||
    a.netns - b.netns ||
    a.inode - b.inode
  );
}

/** Attribution coverage of a set of sockets. Pure. */
export function computeCoverage(sockets: readonly SocketRecord[], scan: SnapshotParts['scan']): Coverage {
  const byReason = Object.fromEntries(UNATTRIBUTED_REASONS.map((r) => [r, 0])) as Record<UnattributedReason, number>;
  let attributed = 0;
  for (const s of sockets) {
    if (s.unattributed) byReason[s.unattributed]++;
    else attributed++;
  }
  const total = sockets.length;
  return {
    total,
    attributed,
    unattributed: total - attributed,
    byReason,
    ratio: total === 0 ? 1 : attributed / total,
    privileged: scan.processesDenied === 0 && scan.namespacesUnknown === 0 && scan.processesHidden === undefined,
    processesScanned: scan.processesScanned,
    processesDenied: scan.processesDenied,
    processesExited: scan.processesExited,
    namespacesUnknown: scan.namespacesUnknown,
  };
}

/** The remedy for missing privilege, in one sentence. */
export const PRIVILEGE_HINT =
  'run netmon as root (sudo), or give it CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: as a service through its unit ' +
  '(templates/netmon.service), which grants them to netmon alone; a setcap on the node binary grants them to every ' +
  'script that node runs (docs/deployment.md)';

/** "pid 1 (init) is protected", "pids 1 (init), 7 (name unreadable) and 3 more are protected". */
function protectedList(protectedProcesses: ProtectedProcesses | undefined): string {
  if (protectedProcesses === undefined || protectedProcesses.named.length === 0) return 'those processes are protected';
  const { count: total, named } = protectedProcesses;
  const list = named.map((p) => `${p.pid} (${p.name ?? 'name unreadable'})`).join(', ');
  const more = total > named.length ? ` and ${total - named.length} more` : '';
  return total === 1 ? `pid ${list} is protected` : `pids ${list}${more} are protected`;
}

/** Namespaces not read that the warnings name one by one; the rest are counted in one more warning. */
const UNREAD_NAMESPACES_NAMED = 5;

function coverageWarnings(
  coverage: Coverage,
  namespaces: readonly NamespaceRecord[],
  scan: Pick<SnapshotParts['scan'], 'fullPrivilege' | 'processesHidden' | 'protectedProcesses'>,
): SnapshotWarning[] {
  const { fullPrivilege, processesHidden: hidden } = scan;
  const warnings: SnapshotWarning[] = [];
  const denied = coverage.byReason['permission-denied'];
  if (coverage.processesDenied > 0 || coverage.namespacesUnknown > 0 || hidden !== undefined) {
    const parts: string[] = [];
    const processes = (n: number) => count(n, 'process', 'processes');
    if (denied > 0) parts.push(`${denied} of ${count(coverage.total, 'socket')} could not be attributed`);
    if (hidden !== undefined) parts.push(`other users' processes are hidden from netmon (${hidden.reason}), so their sockets cannot be attributed and sockets of other network namespaces may be missing`);
    if (coverage.processesDenied > 0) parts.push(`the descriptors of ${processes(coverage.processesDenied)} were not readable`);
    if (coverage.namespacesUnknown > 0) parts.push(`the network namespace of ${processes(coverage.namespacesUnknown)} was not readable, so sockets of other namespaces may be missing`);
    warnings.push(
      fullPrivilege !== null
        ? {
            code: 'W_PROTECTED',
            message: `${parts.join('; ')}, although netmon ${fullPrivilege === 'root' ? 'runs as root' : 'holds CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH'}: ${protectedList(scan.protectedProcesses)}; such a process belongs to an enclosing user namespace (the init of the sandbox or container netmon runs in, say), or a security module such as SELinux or AppArmor guards it`,
          }
        : { code: 'W_PRIVILEGE', message: `insufficient privilege: ${parts.join('; ')}; to fix, ${PRIVILEGE_HINT}${hidden === undefined ? '' : `, or ${hidden.remedy}`}` },
    );
  }
  // Each namespace not read, up to a few: a container host read without root has hundreds, and the
  // snapshot's namespaces list names each of them with why all the same.
  const unread = namespaces.filter((ns) => !ns.read);
  const named = unread.length > UNREAD_NAMESPACES_NAMED + 1 ? unread.slice(0, UNREAD_NAMESPACES_NAMED) : unread;
  for (const ns of named) {
    warnings.push({ code: 'W_NAMESPACE_UNREAD', message: `network namespace ${ns.name ?? ns.inode} was not read: ${ns.reason ?? 'unknown reason'}` });
  }
  if (named.length < unread.length) {
    const rest = unread.length - named.length;
    warnings.push({
      code: 'W_NAMESPACE_UNREAD',
      message: `${count(rest, 'more network namespace')} ${rest === 1 ? 'was' : 'were'} not read (the snapshot's namespaces list names each, with why: netmon snapshot -o json)`,
    });
  }
  return warnings;
}

/** Assemble a versioned snapshot document from collected parts. Pure. */
export function createSnapshot(parts: SnapshotParts): Snapshot {
  const sockets = [...parts.sockets].sort(compareSockets);
  const processes = [...parts.processes].sort((a, b) => a.pid - b.pid);
  const coverage = computeCoverage(sockets, parts.scan);
  return {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    tool: { name: 'netmon', version: parts.version },
    host: parts.host,
    takenAt: parts.takenAt.toISOString(),
    durationMs: Math.round(parts.durationMs * 10) / 10,
    selection: parts.selection,
    namespaces: parts.namespaces,
    sockets,
    processes,
    coverage,
    warnings: [...coverageWarnings(coverage, parts.namespaces, parts.scan), ...(parts.warnings ?? [])],
    ...(parts.listeningPortsLeftOut !== undefined && parts.listeningPortsLeftOut.length > 0 ? { listeningPortsLeftOut: parts.listeningPortsLeftOut } : {}),
    ...(parts.ephemeralTcpListeners === undefined ? {} : { ephemeralTcpListeners: sortedListeners(parts.ephemeralTcpListeners) }),
    ...(parts.capturedBy === undefined ? {} : { capturedBy: parts.capturedBy }),
  };
}

/** Listeners in order of namespace, family, address and port, each once. Pure. */
function sortedListeners(list: readonly EphemeralListener[]): EphemeralListener[] {
  const seen = new Set<string>();
  const out: EphemeralListener[] = [];
  for (const l of list) {
    const key = `${l.netns}|${l.family}|${l.address}|${l.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ netns: l.netns, family: l.family, address: l.address, port: l.port });
  }
  return out.sort((a, b) => a.netns - b.netns || (a.family < b.family ? -1 : a.family > b.family ? 1 : 0) || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0) || a.port - b.port);
}
