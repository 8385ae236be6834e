/**
 * Public data types of netmon. Everything written to disk or wire is versioned:
 * a `Snapshot` carries `schemaVersion`, and readers refuse versions they do not know.
 */

/** Version of the snapshot document produced by this build. */
export const SNAPSHOT_SCHEMA_VERSION = 1 as const;

/** Transport protocol of a socket. */
export type Transport = 'tcp' | 'udp';

/** Address family of the socket (the kernel table it was read from, not the address shown). */
export type Family = 'ipv4' | 'ipv6';

/**
 * Socket state. TCP states use the kernel's names (include/net/tcp_states.h);
 * `UNCONN` is an unconnected UDP socket, which netmon treats as listening-like.
 */
export type SocketState =
  | 'ESTABLISHED'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'FIN_WAIT1'
  | 'FIN_WAIT2'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'LISTEN'
  | 'CLOSING'
  | 'NEW_SYN_RECV'
  | 'UNCONN'
  | 'UNKNOWN';

/** Short state names, as `ss` prints them (the live view shows these), by kernel name. */
export const STATE_LABELS: Readonly<Record<SocketState, string>> = {
  ESTABLISHED: 'ESTAB',
  SYN_SENT: 'SYN-SENT',
  SYN_RECV: 'SYN-RECV',
  FIN_WAIT1: 'FIN-WAIT-1',
  FIN_WAIT2: 'FIN-WAIT-2',
  TIME_WAIT: 'TIME-WAIT',
  CLOSE: 'CLOSE',
  CLOSE_WAIT: 'CLOSE-WAIT',
  LAST_ACK: 'LAST-ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
  NEW_SYN_RECV: 'NEW-SYN-RECV',
  UNCONN: 'UNCONN',
  UNKNOWN: '?',
};

/** One row of a kernel socket table, as parsed from text; no process information yet. */
export interface RawSocket {
  transport: Transport;
  family: Family;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  state: SocketState;
  /** uid that created the socket, from the kernel table. */
  uid: number;
  /** Socket inode; 0 for sockets no file descriptor refers to (TIME_WAIT, orphans). */
  inode: number;
}

/** Why a socket has no owning process in the snapshot. */
export type UnattributedReason =
  /** Inode 0: owned by the kernel (TIME_WAIT, orphaned FIN_WAIT, ..., and a connection still in a listener's accept queue); no process holds it. */
  | 'kernel-owned'
  /** Some processes' descriptor tables could not be read for lack of privilege. */
  | 'permission-denied'
  /** The owner exited, or closed the socket, while the scan ran. */
  | 'process-exited'
  /** No visible process holds it: the owner lives in a namespace the collector cannot enter. */
  | 'other-namespace'
  /** Attribution was switched off (`processInfo: false`). */
  | 'not-requested';

export const UNATTRIBUTED_REASONS: readonly UnattributedReason[] = [
  'kernel-owned',
  'permission-denied',
  'process-exited',
  'other-namespace',
  'not-requested',
];

/** A process holding a descriptor of the socket. */
export interface SocketOwner {
  pid: number;
  fd: number;
}

/** A socket as reported in a snapshot. */
export interface SocketRecord extends RawSocket {
  /** Inode of the network namespace the socket lives in (see `Snapshot.namespaces`). */
  netns: number;
  /** True for TCP LISTEN and unconnected UDP sockets. */
  listening: boolean;
  /** Processes holding the socket, lowest pid first; empty when unattributed. */
  owners: SocketOwner[];
  /** Set when `owners` is empty. */
  unattributed?: UnattributedReason;
}

/**
 * A row as the table parsers build it: already shaped as a SocketRecord (the namespace of its
 * table, whether it listens, no owners yet), so that snapshot() completes it in place. At 10^5
 * sockets, adding fields to an object after it was made costs an extra allocation per socket.
 */
export type SocketRow = RawSocket & Pick<SocketRecord, 'netns' | 'listening' | 'owners'>;

/** `tcp`/`udp` for IPv4 sockets, `tcp6`/`udp6` for IPv6 ones: the names of the kernel tables, used in every output. */
export function protoName(s: Pick<RawSocket, 'transport' | 'family'>): string {
  return s.family === 'ipv6' ? `${s.transport}6` : s.transport;
}

/** TCP LISTEN and unconnected UDP: the states netmon counts as listening. */
export function isListeningState(state: SocketState): boolean {
  return state === 'LISTEN' || state === 'UNCONN';
}

/** BLAKE3 and SHA-256 of an executable file, with the file identity they were computed for. */
export interface ExecutableHashes {
  blake3: string;
  sha256: string;
  size: number;
}

/** Identity of an executable file: an unchanged identity means an unchanged file. */
export interface ExecutableIdentity {
  device: bigint;
  inode: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** A field of a process record that could not be read, and why. */
export interface ProcessReadIssue {
  field: 'executable' | 'commandLine' | 'status' | 'cgroup' | 'hash';
  reason: 'permission-denied' | 'process-exited' | 'kernel-thread' | 'io-error';
  detail?: string;
}

/** A process that owns at least one reported socket. */
export interface ProcessRecord {
  pid: number;
  ppid: number | null;
  /** Kernel command name (comm, at most 15 bytes); attacker-controlled text. */
  name: string;
  /** Executable path, without the kernel's " (deleted)" suffix; null when unreadable. */
  executable: string | null;
  /** The executable file was deleted or replaced after the process started. */
  executableDeleted: boolean;
  /** Argument vector; empty for kernel threads, zombies or when unreadable. */
  commandLine: string[];
  /** Real uid and its user name (null when no account maps it). */
  uid: number | null;
  user: string | null;
  /** Effective uid, when it differs from the real uid this is what the process acts as. */
  euid: number | null;
  gid: number | null;
  group: string | null;
  /** Process start time, ISO 8601 UTC; null when unreadable. */
  startTime: string | null;
  /** Container id when the cgroup path shows one (docker, containerd, CRI-O, podman). */
  containerId: string | null;
  /** Network namespace inode; null when it could not be read. */
  netns: number | null;
  /** Hashes of the executable; absent when hashing was off or failed (see `issues`). */
  hashes?: ExecutableHashes;
  /** Fields that could not be read. */
  issues: ProcessReadIssue[];
}

/** A network namespace seen during the scan. */
export interface NamespaceRecord {
  /** Namespace inode, as in `/proc/<pid>/ns/net` -> `net:[INODE]`. */
  inode: number;
  /** `host` for the namespace of pid 1, the `ip netns` name when one is bound, else null. */
  name: string | null;
  host: boolean;
  /** Processes seen in the namespace. */
  processes: number;
  /** Sockets read from the namespace's tables (before filtering). */
  sockets: number;
  /** False when the namespace's tables could not be read; `reason` says why. */
  read: boolean;
  reason?: string;
}

/** Processes that refused a netmon holding full privilege: how many, and the first few by pid. */
export interface ProtectedProcesses {
  count: number;
  named: { pid: number; name: string | null }[];
}

/** How complete attribution was. */
export interface Coverage {
  /** Sockets in the snapshot. */
  total: number;
  attributed: number;
  unattributed: number;
  /** Unattributed sockets by reason. */
  byReason: Record<UnattributedReason, number>;
  /** attributed / total, 1 when there are no sockets. */
  ratio: number;
  /** The collector could read every process's descriptors. */
  privileged: boolean;
  processesScanned: number;
  /** Processes whose descriptors could not be read for lack of privilege. */
  processesDenied: number;
  /** Processes that exited while the scan ran. */
  processesExited: number;
  /** Processes whose network namespace could not be determined. */
  namespacesUnknown: number;
}

/**
 * Attribution coverage of the sockets a process can own: attributed / (total - kernel-owned), 1
 * when there are none. Kernel-owned sockets (TIME_WAIT and other closing states, inode 0) have no
 * owner by nature, and their number follows the traffic of the last minute, so comparing two
 * captures' quality of attribution leaves them out. Pure.
 */
export function attributableRatio(c: Coverage): number {
  const ownable = c.total - c.byReason['kernel-owned'];
  return ownable <= 0 ? 1 : c.attributed / ownable;
}

/** A notice about the snapshot as a whole (not an error: the snapshot is still valid). */
export interface SnapshotWarning {
  code: string;
  message: string;
}

/** The selection a snapshot was taken with, recorded so a reader knows what was left out. */
export interface SnapshotSelection {
  listeningOnly: boolean;
  includeEphemeral: boolean;
  families: Family[];
  processInfo: boolean;
  hashBinaries: boolean;
  ephemeralPortRange: [number, number] | null;
  /**
   * The network namespace the ephemeral-port rule was applied in: netmon's own, whose range it
   * read (ranges are set per namespace, and a container's listener on a port in the host's range
   * is a service of its own). Absent in snapshots of earlier releases, which applied it in every
   * namespace; null when netmon could not read its own namespace (then applied in none).
   */
  ephemeralRangeNetns?: number | null;
  /** Ports of that range reserved from it (ip_local_reserved_ports): listeners on them were kept. Absent when none. */
  ephemeralPortsReserved?: number[];
  filters: FilterSpec;
}

/** Host facts recorded with a snapshot. */
export interface HostInfo {
  hostname: string;
  platform: string;
  kernel: string;
  /** Boot time, ISO 8601 UTC; null when unknown. */
  bootTime: string | null;
}

/** A versioned, process-attributed socket inventory. */
export interface Snapshot {
  schemaVersion: typeof SNAPSHOT_SCHEMA_VERSION;
  tool: { name: 'netmon'; version: string };
  host: HostInfo;
  /** When the scan started, ISO 8601 UTC. */
  takenAt: string;
  durationMs: number;
  selection: SnapshotSelection;
  namespaces: NamespaceRecord[];
  sockets: SocketRecord[];
  /** Processes owning reported sockets, by ascending pid. */
  processes: ProcessRecord[];
  coverage: Coverage;
  warnings: SnapshotWarning[];
  /**
   * Listening ports of the capture that its selection left out (the ephemeral-port rule, filters)
   * and that a connection of the inventory is on: that connection was accepted there (inbound),
   * not made by the host (see model/direction.ts). Absent when there are none, and in snapshots
   * of netmon releases that did not record them.
   */
  listeningPortsLeftOut?: ListeningPort[];
  /**
   * The TCP listeners the ephemeral-port rule left out (a listening TCP socket is never a client's:
   * one on a port of the range is a service, maybe an unexpected one), in order of namespace,
   * address and port: the inventory leaves them out, the evidence says they were there, and a
   * comparison of two captures says which appeared or went. Present, possibly empty, whenever the
   * rule was applied; absent when it was not (`--include-ephemeral`, no range read, a process
   * filter) and in snapshots of earlier releases.
   */
  ephemeralTcpListeners?: EphemeralListener[];
  /**
   * Who took the capture: the effective uid and its user name, and the privilege that let it read
   * every process (`root`, the two `capabilities`, or null: neither). Absent in snapshots of
   * earlier releases (an auditor probe found no word of who ran a capture).
   */
  capturedBy?: CapturedBy;
}

/** The account a capture ran as, and its privilege. */
export interface CapturedBy {
  uid: number;
  user: string | null;
  privilege: 'root' | 'capabilities' | null;
}

/** A TCP listener the ephemeral-port rule left out: where it listened. */
export interface EphemeralListener {
  netns: number;
  family: Family;
  address: string;
  port: number;
}

/** A port something listens on, in one network namespace, for one transport (TCP or UDP). */
export interface ListeningPort {
  netns: number;
  transport: Transport;
  port: number;
}

/** Filter patterns, each list OR-ed within itself and AND-ed with the others. */
export interface FilterSpec {
  /** Endpoint filters: `:22`, `127.0.0.1:`, `tcp:8080`, `udp:53`, `[::1]:22`. */
  filter?: string[];
  /** Key globs on `<proto>/<ip>/<port>` (proto tcp, tcp6, udp, udp6); keep matching sockets. */
  include?: string[];
  /** Key globs; drop matching sockets. */
  exclude?: string[];
  /** Globs on the process name. */
  process?: string[];
  /** Globs on the executable path. */
  path?: string[];
  /** Globs on the user name (or numeric uid). */
  user?: string[];
  /** Tuple globs on `<proto> <local> <remote> <remote-host> <state>`. */
  match?: string[];
}

/**
 * Mode of the files netmon creates that hold what it captured (the evidence store, the CSV trail,
 * baselines, evidence packs): read and write for the owner, read for its group, nothing for
 * others. They hold command lines, which can carry secrets, and keep them after the process is
 * gone (and on a host whose /proc hides other users' processes, they would show them). Share them
 * through the group (a setgid directory of an auditors group) or a copy. Directories: 0750.
 */
export const EVIDENCE_FILE_MODE = 0o640;
export const EVIDENCE_DIR_MODE = 0o750;
