import type { Family, HostInfo, ProtectedProcesses, RawSocket, SocketOwner } from '../model/types.js';

/** Sockets read from one network namespace. */
export interface NamespaceScan {
  inode: number;
  name: string | null;
  host: boolean;
  /** Processes seen in the namespace. */
  processes: number;
  /** False when its tables could not be read; `reason` says why. */
  read: boolean;
  reason?: string;
  sockets: RawSocket[];
}

/** Result of one pass over the socket tables and the process descriptor tables. */
export interface SocketScan {
  namespaces: NamespaceScan[];
  /** Socket inode -> processes holding it (empty map when owners were not requested). */
  owners: Map<number, SocketOwner[]>;
  /** pid -> network namespace inode, for the processes whose namespace could be read. */
  pidNetns: Map<number, number>;
  processesScanned: number;
  /** Processes whose descriptors could not be read for lack of privilege. */
  processesDenied: number;
  /** Their uids (real, effective, saved, fs); null when some could not be read. */
  deniedUids: Set<number> | null;
  /** Processes that vanished while being read. */
  processesExited: number;
  /** Processes whose network namespace could not be read. */
  namespacesUnknown: number;
  /**
   * The network namespace netmon itself runs in, whose ephemeral port range and reserved ports
   * it reads (null when unreadable). Absent from collectors that do not say (the range then holds
   * for every namespace).
   */
  selfNetns?: number | null;
  /**
   * With full privilege (root, or both capabilities), how many processes' descriptors or namespace
   * still could not be read, and the first few of them by pid, with their names when readable: the
   * warning names them.
   */
  protectedProcesses?: ProtectedProcesses;
  /** The descriptor walk was skipped and the previous walk's owners were used (`reuseOwners`). */
  ownersReused?: boolean;
  /**
   * Other users' processes are hidden from this collector (proc mounted with hidepid=invisible):
   * why, and the uid they are hidden from. Neither their descriptors nor their namespaces can be
   * read, and how many there are is unknown.
   */
  processesHidden?: { reason: string; uid: number; remedy: string };
}

export interface ScanOptions {
  families: Family[];
  /** Walk process descriptors to find socket owners. */
  owners: boolean;
  /**
   * Repeated scans (`--interval`): skip the descriptor walk when every socket inode in the tables
   * was seen by the previous walk and every owner is still running; owners are then the previous
   * walk's. A full walk still runs every `fullWalkEvery` scans (default 30).
   */
  reuseOwners?: boolean;
  fullWalkEvery?: number;
}

/** What netmon reads about one process; names of ids are resolved later. */
export interface RawProcess {
  pid: number;
  ppid: number | null;
  name: string;
  executable: string | null;
  executableDeleted: boolean;
  commandLine: string[];
  uid: number | null;
  euid: number | null;
  gid: number | null;
  startTime: string | null;
  containerId: string | null;
  issues: import('../model/types.js').ProcessReadIssue[];
  /** The process was gone before anything could be read. */
  gone: boolean;
}

/** Account names by numeric id. */
export interface Accounts {
  users: Map<number, string>;
  groups: Map<number, string>;
}

/**
 * One platform's source of sockets and processes. `collect/index.ts` picks the implementation;
 * nothing else in netmon looks at the platform.
 */
export interface PlatformCollector {
  readonly platform: string;
  scanSockets(options: ScanOptions): SocketScan;
  /**
   * Of the given sockets of a namespace, the inodes still present in its tables now (re-reads
   * only the tables they came from); null when the tables cannot be read again, so that nothing
   * is taken for closed that was not seen gone.
   */
  presentInodes(netns: number, sockets: ReadonlyArray<Pick<RawSocket, 'inode' | 'transport' | 'family' | 'state'>>): Set<number> | null;
  readProcess(pid: number): RawProcess;
  /** readProcess of each pid, in order; a collector may read them together (faster). */
  readProcessList?(pids: readonly number[]): RawProcess[];
  /**
   * What tells this process apart from any other that had or will have its pid, immune to clock
   * changes (on Linux: the boot id and the start time in clock ticks since boot); null when the
   * process is gone or it cannot be read. A process that exited and was not reaped yet (a zombie)
   * has another identity than it had while it ran.
   */
  processIdentity(pid: number): string | null;
  /**
   * The PID namespace this process sees pids in (on Linux, `pid:[inode]`), or null when unknown.
   * A pid recorded by a process of another namespace (a container) names another process here.
   */
  pidNamespace(): string | null;
  /**
   * The kind of file system `path` is on when hosts may share it (a network or cluster file
   * system, or FUSE, which many of those are), else null. The evidence store then keeps no
   * write-ahead log: SQLite's WAL needs memory shared by every process using the store, and
   * processes on two hosts share none (see docs/evidence-store.md).
   */
  sharedFileSystem(path: string): string | null;
  /** A path whose open() yields the process's executable, even if deleted or in another mount namespace. */
  executableFile(pid: number): string;
  readAccounts(): Accounts;
  /**
   * How the collector holds the privilege to read every process: as root, through the
   * capabilities CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, or not at all (null).
   */
  fullPrivilege(): 'root' | 'capabilities' | null;
  /** Address -> host name from the local hosts file (no DNS). */
  readHostNames(): Map<string, string>;
  hostInfo(): HostInfo;
  /** Ephemeral port range, or null when it cannot be read. */
  ephemeralPortRange(): [number, number] | null;
  /** Ports reserved from the ephemeral range (ip_local_reserved_ports of netmon's namespace); [] when none or unreadable. */
  reservedPorts?(): number[];
}
