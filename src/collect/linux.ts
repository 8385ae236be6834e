import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { describeErrno, errnoCode, ParseError } from '../errors.js';
import { protoName, type Family, type HostInfo, type ProcessReadIssue, type RawSocket, type SocketOwner } from '../model/types.js';
import type { Accounts, NamespaceScan, PlatformCollector, RawProcess, ScanOptions, SocketScan } from './collector.js';
import { parseHostsFile } from './parse/hosts.js';
import { parseAccountFile } from './parse/passwd.js';
import {
  parseBootTime,
  parseCmdline,
  parseContainerId,
  parseNamespaceLink,
  parsePortRange,
  parseReservedPorts,
  parseProcStat,
  PF_KTHREAD,
  parseProcStatus,
  parseSocketLink,
  hasEffectiveCapability,
  hidesProcesses,
  parseProcMount,
  decodeExact,
} from './parse/proc-process.js';
import { forEachProcNetInode, parseProcNet, PROC_NET_TABLES, socketsFromColumns, statesStillListed } from './parse/proc-net.js';
import { NativeWork, ProcHelper, type ProcWork, type TableResult } from './linux-helper.js';
import { errnoError, loadNativeProcScan, sockDiagEnabled, type NativeProcScan } from './native-procscan.js';

/** The side effects the Linux collector uses; tests and replay swap them. */
export interface LinuxDeps {
  procRoot: string;
  /** Directory where `ip netns` binds named namespaces. */
  netnsDirs: string[];
  etcRoot: string;
  readFile(path: string): string;
  /** A file's text with every byte kept (decodeExact): process names and command lines. */
  readExact(path: string): string;
  readdir(path: string): string[];
  readlink(path: string): string;
  /** A link's target with every byte kept (decodeExact): executable paths. */
  readlinkExact(path: string): string;
  /** Inode of a path (following links), or throws. */
  statInode(path: string): number;
  /** Hard link count of a path (following links), or throws: 0 for a running executable's deleted file. */
  linkCount(path: string): number;
  /**
   * What a stat of /proc/<pid>/fd tells of a process's descriptor table: its inode (new for a
   * new process, even one given the same pid) and its size (the number of open descriptors,
   * Linux 6.2 and later); '' when it cannot be read.
   */
  fdTableKey(path: string): string;
  /** The file system type (statfs f_type) of a path, or throws. */
  fsType(path: string): number;
  exec(command: string, args: string[]): { status: number | null; stdout: string; stderr: string; error?: Error };
  getuid(): number;
  /** Supplementary group ids of the collector. */
  getgroups(): number[];
  littleEndian: boolean;
  hostname(): string;
  kernelRelease(): string;
}

/** The buffer readWhole() reads into, reused; a file that outgrows it gets a larger one. */
let readBuffer = Buffer.allocUnsafe(64 * 1024);

/**
 * A whole file's bytes, read into a reused buffer, handed to `decode` before the next read
 * reuses it. For the small files of /proc, of which a capture reads four or five per process:
 * readFileSync also fstats each one and allocates a buffer for it, which on a host of 3,000
 * processes cost about a third more CPU time (/proc files report size 0, so the size is of no
 * use). Reads until end of file, whatever the size.
 */
function readWhole<T>(path: string, decode: (bytes: Buffer) => T): T {
  const fd = fs.openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === readBuffer.length) {
        const larger = Buffer.allocUnsafe(readBuffer.length * 2);
        readBuffer.copy(larger, 0, 0, length);
        readBuffer = larger;
      }
      const n = fs.readSync(fd, readBuffer, length, readBuffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    const bytes = readBuffer.subarray(0, length);
    // A large file (a busy host's /proc/net text) does not keep its buffer for the next small one.
    if (readBuffer.length > 1024 * 1024) readBuffer = Buffer.allocUnsafe(64 * 1024);
    return decode(bytes);
  } finally {
    fs.closeSync(fd);
  }
}

export const defaultLinuxDeps: LinuxDeps = {
  procRoot: '/proc',
  netnsDirs: ['/run/netns', '/var/run/netns'],
  etcRoot: '/etc',
  readFile: (path) => readWhole(path, (bytes) => bytes.toString('utf8')),
  readExact: (path) => readWhole(path, decodeExact),
  readdir: (path) => fs.readdirSync(path),
  readlink: (path) => fs.readlinkSync(path),
  readlinkExact: (path) => decodeExact(fs.readlinkSync(path, { encoding: 'buffer' })),
  statInode: (path) => Number(fs.statSync(path).ino),
  linkCount: (path) => Number(fs.statSync(path).nlink),
  fdTableKey: (path) => {
    try {
      const st = fs.statSync(path, { throwIfNoEntry: false });
      return st === undefined ? '' : `${st.ino}:${st.size}`;
    } catch {
      return '';
    }
  },
  fsType: (path) => Number(fs.statfsSync(path).type),
  exec: (command, args) => {
    // child_process is loaded only here: most scans never run a command.
    const { spawnSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
    const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '', ...(result.error ? { error: result.error } : {}) };
  },
  getuid: () => (typeof process.getuid === 'function' ? process.getuid() : -1),
  getgroups: () => (typeof process.getgroups === 'function' ? process.getgroups() : []),
  littleEndian: os.endianness() === 'LE',
  hostname: () => os.hostname(),
  kernelRelease: () => os.release(),
};

type TableName = keyof typeof PROC_NET_TABLES;

/**
 * statfs(2) f_type values of file systems that hosts can share (linux/magic.h, statfs(2)). FUSE
 * is among them: sshfs, s3fs, rclone, GlusterFS and CephFS clients, virtiofs are FUSE mounts, and
 * a local one (bindfs, ntfs-3g) only loses the write-ahead log.
 */
/** statfs type of the namespace file system (nsfs): what an `ip netns` binding is a mount of. */
const NSFS_MAGIC = 0x6e736673;

const SHARED_FILE_SYSTEMS = new Map<number, string>([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x65735546, 'fuse'],
  [0x01021997, '9p'],
  [0x00c36400, 'ceph'],
  [0x5346414f, 'afs'],
  [0x6b414653, 'afs'],
  [0x73757245, 'coda'],
  [0x564c, 'ncp'],
  [0x7461636f, 'ocfs2'],
  [0x01161970, 'gfs2'],
  [0x0bd00bd0, 'lustre'],
  [0x47504653, 'gpfs'],
]);
/** What to do with the text of one table: parse it (the default) or just look at it. */
type TableReader = (text: string, name: TableName, source: string, netns?: number) => RawSocket[];
const TABLES_BY_FAMILY: Record<Family, TableName[]> = { ipv4: ['tcp', 'udp'], ipv6: ['tcp6', 'udp6'] };

/** The files of /proc/<pid> that readProcess reads, in the order readProcessList asks for them. */
const PROCESS_FILES = ['stat', 'status', 'cmdline', 'cgroup', 'exe'] as const;
/** The one of them that is a link. */
const EXE_INDEX = PROCESS_FILES.indexOf('exe');

/** Each file (or link target, where `links[i]` is 1) through the native scanner's readFiles: its bytes, or its error as node:fs throws it. */
function readNativeFiles(native: NativeProcScan, paths: readonly string[], links: Uint8Array): (Buffer | Error)[] {
  const { bytes, offsets, errors } = native.readFiles([...paths], links);
  const all = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return paths.map((path, i) => (errors[i] !== 0 ? errnoError(errors[i]!, links[i] ? 'readlink' : 'open', path) : all.subarray(offsets[i], offsets[i + 1])));
}

/** USER_HZ: clock ticks per second in /proc/<pid>/stat. It is 100 on every Linux architecture
 * netmon supports (time(7): "the number of clock ticks per second ... USER_HZ"). */
const CLOCK_TICKS = 100;

/** How many protected processes a scan names (the warning gives the count of the rest). */
const PROTECTED_NAMED = 5;

/** Capability bits (linux/capability.h) a collector that is not root needs to read every process. */
const CAP_DAC_READ_SEARCH = 2;
const CAP_SYS_PTRACE = 19;

function isGone(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ESRCH';
}

function isDenied(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'EACCES' || code === 'EPERM';
}

/** `ended`: every candidate had exited or left the namespace (none was merely unreadable). */
type TableTexts = { ok: true; texts: { name: string; path: string; text: string }[] } | { ok: false; reason: string; ended: boolean };

/**
 * Texts of a namespace's tables, read through the first candidate process still in it
 * (`self` for the collector's own namespace). A member may have moved to another namespace
 * since its link was read, so the link is checked again, before and after the read. Used by both
 * collector threads.
 */
export function readTableTexts(deps: LinuxDeps, inode: number, candidates: (number | 'self')[], tables: string[]): TableTexts {
  let lastError = '';
  let ended = true;
  for (const who of candidates) {
    const base = `${deps.procRoot}/${who}`;
    try {
      if (who !== 'self' && parseNamespaceLink(deps.readlink(`${base}/ns/net`)) !== inode) continue;
      const texts: { name: string; path: string; text: string }[] = [];
      for (const name of tables) {
        const path = `${base}/net/${name}`;
        try {
          texts.push({ name, path, text: deps.readFile(path) });
        } catch (error) {
          // A kernel built without IPv6 has no tcp6/udp6 tables while the process is still there.
          if (isGone(error) && name.endsWith('6') && readable(deps, `${base}/net/${name.slice(0, -1)}`)) continue;
          throw error;
        }
      }
      // Still there after the read: else the tables may be another namespace's (see readAllNamespaces).
      if (who !== 'self' && parseNamespaceLink(deps.readlink(`${base}/ns/net`)) !== inode) continue;
      return { ok: true, texts };
    } catch (error) {
      // Only a file system error means "try the next process"; anything else is a bug to report.
      if (errnoCode(error) === undefined) throw error;
      lastError = describeErrno(error, 'reading', `${base}/net`);
      // A member that could not be read (rather than one that is gone) may still hold the namespace.
      if (who === 'self' || !isGone(error) || stillThere(deps, base)) ended = false;
    }
  }
  return { ok: false, reason: lastError || 'no process of this namespace could be read', ended: ended && candidates.length > 0 };
}

/** Whether the process of /proc/<pid> `base` still exists (its namespace link reads). */
function stillThere(deps: LinuxDeps, base: string): boolean {
  try {
    deps.readlink(`${base}/ns/net`);
    return true;
  } catch {
    return false;
  }
}

function readable(deps: LinuxDeps, path: string): boolean {
  try {
    deps.readFile(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * readlink every given descriptor of a process and report the socket ones. Returns false when
 * the descriptors cannot be read for lack of privilege: some processes let root list their
 * descriptors but not read them (a process of an enclosing user namespace, or a security module's policy). A descriptor closed
 * between listing and reading is skipped.
 */
export function readSocketLinks(deps: LinuxDeps, pid: number, fds: ArrayLike<number | string>, visit: (inode: number, fd: number) => void): boolean {
  const dir = `${deps.procRoot}/${pid}/fd/`;
  for (let i = 0; i < fds.length; i++) {
    const fd = fds[i]!;
    let link: string;
    try {
      link = deps.readlink(dir + fd);
    } catch (error) {
      if (isDenied(error)) return false;
      continue;
    }
    const inode = parseSocketLink(link);
    if (inode !== null) visit(inode, Number(fd));
  }
  return true;
}

/** Which implementation of the two hot loops a Linux collector uses. */
export type ScanEngine = 'auto' | 'native' | 'javascript';

/** Reads sockets from /proc/<pid>/net and owners from /proc/<pid>/fd. */
export class LinuxCollector implements PlatformCollector {
  readonly platform = 'linux';
  private readonly deps: LinuxDeps;
  private bootSeconds: number | null | undefined;
  /** netns inode -> a path through which its tables can be read. */
  private readonly netnsReaders = new Map<number, { pids: number[]; self: boolean; bound?: string }>();

  /** Use a helper thread (only with the real file system: injected functions cannot cross threads). */
  private readonly threaded: boolean;

  private readonly engine: ScanEngine;

  /**
   * @param deps side effects to replace (tests, replay); the helper thread and the native
   *   scanner use the real file system, so they are used only when no I/O function is replaced.
   * @param engine `native` (the addon, else the JavaScript scanner), `javascript`, or `auto`
   *   (default: native when built and `NETMON_NATIVE` is not 0)
   */
  constructor(deps: Partial<LinuxDeps> = {}, engine: ScanEngine = 'auto') {
    this.deps = { ...defaultLinuxDeps, ...deps };
    this.threaded = Object.keys(deps).every((k) => k === 'procRoot' || k === 'netnsDirs' || k === 'etcRoot');
    this.engine = engine;
  }

  /** The native scanner, when this collector uses it (real file system, not the JavaScript engine, built). */
  private native(): NativeProcScan | null {
    return this.threaded && this.engine !== 'javascript' ? loadNativeProcScan(this.engine === 'native') : null;
  }

  /** The scanner this collector uses for tables and descriptors. */
  scannerName(): 'native' | 'javascript-threads' | 'javascript' {
    if (this.native()) return 'native';
    return this.threaded ? 'javascript-threads' : 'javascript';
  }

  private pids(): number[] {
    const { procRoot } = this.deps;
    let entries: string[];
    try {
      entries = this.deps.readdir(procRoot);
    } catch (error) {
      throw new ParseError(procRoot, undefined, describeErrno(error, 'listing', procRoot));
    }
    const pids: number[] = [];
    for (const entry of entries) {
      const c = entry.charCodeAt(0);
      if (c >= 48 && c <= 57) pids.push(Number(entry));
    }
    return pids.sort((a, b) => a - b);
  }

  private boundNamespaces(): Map<number, { name: string; path: string }> {
    const bound = new Map<number, { name: string; path: string }>();
    for (const dir of this.deps.netnsDirs) {
      let names: string[];
      try {
        names = this.deps.readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const path = `${dir}/${name}`;
        try {
          // A file left there that binds no namespace (a stale file, not an nsfs mount) is none:
          // taken for one, it was "not read" at every capture.
          if (this.deps.fsType(path) !== NSFS_MAGIC) continue;
        } catch {
          // statfs refused: the stat below decides
        }
        try {
          const inode = this.deps.statInode(path);
          if (!bound.has(inode)) bound.set(inode, { name, path });
        } catch {
          // A stale or unreadable binding: nothing to read through it.
        }
      }
    }
    return bound;
  }

  scanSockets(options: ScanOptions): SocketScan {
    const { procRoot } = this.deps;
    const pids = this.pids();
    const owners = new Map<number, SocketOwner[]>();
    const pidNetns = new Map<number, number>();
    const nsPids = new Map<number, number[]>();
    let denied = 0;
    let deniedUids: Set<number> | null = new Set<number>();
    /** Pids whose descriptors or namespace could not be read. */
    const unreadable = new Set<number>();
    const noteDenied = (pid: number): void => {
      denied++;
      unreadable.add(pid);
      if (deniedUids === null) return;
      try {
        // status stays readable when fd/ is not; take every uid the process has.
        const line = /^Uid:\s+(.*)$/m.exec(this.deps.readFile(`${procRoot}/${pid}/status`));
        if (!line) throw new Error('no Uid line');
        for (const id of line[1]!.trim().split(/\s+/)) deniedUids.add(Number(id));
      } catch {
        deniedUids = null;
      }
    };
    let exited = 0;
    let nsUnknown = 0;
    let scanned = 0;

    let hostNs: number | null = null;
    let selfNs: number | null = null;
    try {
      selfNs = parseNamespaceLink(this.deps.readlink(`${procRoot}/self/ns/net`));
    } catch {
      selfNs = null;
    }

    const tables = options.families.flatMap((f) => TABLES_BY_FAMILY[f]);
    // Pass 1: the network namespace of every process (one readlink each, all in one call to the
    // native scanner when it reads them).
    const nsLinks = this.readLinkList(pids.map((pid) => `${procRoot}/${pid}/ns/net`));
    this.leaderGone.clear();
    for (let k = 0; k < pids.length; k++) {
      const pid = pids[k]!;
      const first = nsLinks[k]!;
      const link = typeof first === 'string' ? first : this.namespaceThroughThread(pid, first);
      if (typeof link !== 'string') {
        if (!isGone(link)) {
          nsUnknown++;
          unreadable.add(pid);
        }
        continue;
      }
      const ns = parseNamespaceLink(link);
      if (ns === null) continue;
      pidNetns.set(pid, ns);
      let list = nsPids.get(ns);
      if (!list) nsPids.set(ns, (list = []));
      // Members read the namespace's tables: through a live thread when the main one has exited.
      list.push(this.viaThread(pid));
      if (pid === 1) hostNs = ns;
    }

    // Pass 1b: threads in a network namespace of their own (setns, unshare in one thread).
    this.addThreadNamespaces(pids, pidNetns, nsPids);

    if (hostNs === null) hostNs = selfNs;
    // Without privilege the namespace links of other users' processes are unreadable; the
    // collector's own namespace is always readable through /proc/self.
    if (selfNs !== null && !nsPids.has(selfNs)) nsPids.set(selfNs, []);

    // Pass 2: each namespace's tables, once per namespace. Tables are read before descriptors
    // so that a socket closed meanwhile is seen as such (snapshot() re-checks unfound inodes).
    const native = this.native();
    const work: ProcWork = native ? new NativeWork(native) : ProcHelper.start(this.threaded);
    let namespaces: NamespaceScan[];
    let fdTables: Map<number, string> | null = null;
    try {
      namespaces = this.readAllNamespaces(work, nsPids, hostNs, selfNs, tables);

      // Pass 3: one walk of every process's descriptor table, mapping socket inodes to holders,
      // unless a repeated scan can prove the previous walk still holds (reuseOwners). Processes
      // are listed again: one started while the tables were read may hold their sockets (a
      // service that has just forked its workers, and closed its own copies).
      const walkPids = options.owners ? this.pids() : pids;
      if (options.owners) this.addNamespaces(walkPids, pids, pidNetns);
      const reused = options.owners && options.reuseOwners ? this.reusableWalk(namespaces, walkPids, options.fullWalkEvery ?? 30) : null;
      if (reused) {
        this.walkMemory!.reuses++;
        return { namespaces, owners: reused, pidNetns, ...this.walkMemory!.stats, ownersReused: true, selfNetns: selfNs };
      }
      // Taken before the walk: a table that changes during it differs at the next scan, which then walks again.
      fdTables = options.owners && options.reuseOwners ? this.fdTableKeys(walkPids) : null;
      // A process whose main thread has exited is walked through a live thread's /proc/<tid>.
      const byThread = new Map<number, number>();
      for (const [pid, tid] of this.leaderGone) byThread.set(tid, pid);
      const walkDirs = byThread.size === 0 ? walkPids : walkPids.map((pid) => this.viaThread(pid));
      const walked = options.owners
        ? work.walk(procRoot, walkDirs, this.deps.readdir, (pid, fds, result) => {
            const ok = readSocketLinks(this.deps, pid, fds, (inode, fd) => result.triples.push(inode, pid, fd));
            if (!ok) result.denied.add(pid);
          })
        : { triples: [], denied: new Set<number>(), exited: new Set<number>() };
      if (byThread.size > 0) {
        const back = (id: number): number => byThread.get(id) ?? id;
        walked.denied = new Set([...walked.denied].map(back));
        walked.exited = new Set([...walked.exited].map(back));
      }
      const t = walked.triples;
      for (let i = 0; i < t.length; i += 3) {
        const inode = t[i]!;
        const holder = t[i + 1]!;
        const entry = { pid: byThread.get(holder) ?? holder, fd: t[i + 2]! };
        const list = owners.get(inode);
        if (list) list.push(entry);
        else owners.set(inode, [entry]);
      }
      // Owners in a stable order whichever thread found them: by pid, then descriptor.
      for (const list of owners.values()) {
        if (list.length > 1) list.sort((a, b) => a.pid - b.pid || a.fd - b.fd);
      }
      for (const pid of walked.denied) noteDenied(pid);
      exited = walked.exited.size;
      scanned = options.owners ? walkPids.length - walked.denied.size - walked.exited.size : pids.length;
    } finally {
      work.close();
    }

    const hidden = this.processesHidden();
    const stats = {
      processesScanned: scanned,
      processesDenied: denied,
      deniedUids,
      processesExited: exited,
      namespacesUnknown: nsUnknown,
      ...(hidden === null ? {} : { processesHidden: hidden }),
      ...(unreadable.size > 0 && this.fullPrivilege() !== null ? { protectedProcesses: { count: unreadable.size, named: this.processNames([...unreadable].sort((a, b) => a - b).slice(0, PROTECTED_NAMED)) } } : {}),
    };
    // Remember the walk for the next scan only when that scan may reuse it (a capture session).
    this.walkMemory = null;
    if (options.owners && options.reuseOwners) {
      const unfound = new Set<number>();
      for (const ns of namespaces) for (const s of ns.sockets) if (s.inode !== 0 && !owners.has(s.inode)) unfound.add(s.inode);
      this.walkMemory = { owners, unfound, stats, reuses: 0, fdTables: fdTables! };
    }
    return { namespaces, owners, pidNetns, ...stats, selfNetns: selfNs };
  }

  /**
   * Processes whose main thread has exited while other threads run (the leader is a zombie):
   * their /proc/<pid> links and descriptor list are empty, and /proc/<tid> of a live thread
   * shows the same process. pid -> tid, found at each scan.
   */
  private leaderGone = new Map<number, number>();

  /** The id whose /proc directory shows process `pid`: its own, or a live thread's (see leaderGone). */
  private viaThread(pid: number): number {
    return this.leaderGone.get(pid) ?? pid;
  }

  /** The /proc directory that shows process `pid` (see viaThread). */
  private procDir(pid: number): string {
    return `${this.deps.procRoot}/${this.viaThread(pid)}`;
  }

  /**
   * A process's network namespace link, read through a live thread when the main thread has
   * exited (then noted in leaderGone); the error of the first read when neither works.
   */
  private namespaceThroughThread(pid: number, error: Error): string | Error {
    if (!isGone(error)) return error;
    let tids: string[];
    try {
      tids = this.deps.readdir(`${this.deps.procRoot}/${pid}/task`);
    } catch {
      return error; // the process is gone
    }
    for (const entry of tids) {
      const tid = Number(entry);
      if (tid === pid || !Number.isInteger(tid)) continue;
      try {
        const link = this.deps.readlink(`${this.deps.procRoot}/${tid}/ns/net`);
        this.leaderGone.set(pid, tid);
        return link;
      } catch {
        // that thread ended too: try the next
      }
    }
    return error;
  }

  /** Pids with the name in their /proc/<pid>/comm (null when that is unreadable too). */
  private processNames(pids: number[]): { pid: number; name: string | null }[] {
    return pids.map((pid) => {
      try {
        return { pid, name: this.deps.readFile(`${this.procDir(pid)}/comm`).replace(/\n$/, '') };
      } catch {
        return { pid, name: null };
      }
    });
  }

  /** What the last descriptor walk found, for `reuseOwners`. */
  private walkMemory: {
    owners: Map<number, SocketOwner[]>;
    unfound: Set<number>;
    stats: Pick<SocketScan, 'processesScanned' | 'processesDenied' | 'deniedUids' | 'processesExited' | 'namespacesUnknown' | 'processesHidden' | 'protectedProcesses'>;
    reuses: number;
    /** pid -> fdTableKey of /proc/<pid>/fd when the walk began (and for processes seen since). */
    fdTables: Map<number, string>;
  } | null = null;

  /** fdTableKey of every process's /proc/<pid>/fd. */
  private fdTableKeys(pids: number[]): Map<number, string> {
    const keys = new Map<number, string>();
    for (const pid of pids) keys.set(pid, this.deps.fdTableKey(`${this.procDir(pid)}/fd`));
    return keys;
  }

  /**
   * Namespaces that only a thread has entered: a thread can move to another network namespace
   * (setns, unshare) while its process stays, and /proc/<pid>/ns/net shows the main thread's. The
   * sockets it makes there are held in the process's descriptors (shared by its threads) but
   * listed only in that namespace's tables, which no process leads to when nothing binds it (an
   * unnamed namespace). Such a thread is added as a reader of its namespace (/proc/<tid> shows
   * the thread's view), once per process and namespace. One task listing per process, and a
   * link per thread of the processes that have several.
   */
  private addThreadNamespaces(pids: readonly number[], pidNetns: ReadonlyMap<number, number>, nsPids: Map<number, number[]>): void {
    const { procRoot } = this.deps;
    const tids: number[] = [];
    const of: number[] = [];
    for (const pid of pids) {
      if (!pidNetns.has(pid)) continue;
      let entries: string[];
      try {
        entries = this.deps.readdir(`${procRoot}/${pid}/task`);
      } catch {
        continue; // exited, or not readable: its main thread's namespace is all that can be known
      }
      if (entries.length < 2) continue;
      for (const entry of entries) {
        const tid = Number(entry);
        if (tid !== pid && Number.isInteger(tid)) {
          tids.push(tid);
          of.push(pid);
        }
      }
    }
    if (tids.length === 0) return;
    const links = this.readLinkList(tids.map((tid) => `${procRoot}/${tid}/ns/net`));
    const seen = new Set<string>();
    for (let k = 0; k < tids.length; k++) {
      const link = links[k]!;
      const ns = typeof link === 'string' ? parseNamespaceLink(link) : null;
      if (ns === null || ns === pidNetns.get(of[k]!) || seen.has(`${of[k]}:${ns}`)) continue;
      seen.add(`${of[k]}:${ns}`);
      let list = nsPids.get(ns);
      if (!list) nsPids.set(ns, (list = []));
      list.push(tids[k]!);
    }
  }

  /** The network namespaces of processes listed after pass 1 (their tables were not read). */
  private addNamespaces(pids: number[], before: number[], pidNetns: Map<number, number>): void {
    const listed = new Set(before);
    const later = pids.filter((pid) => !listed.has(pid));
    if (later.length === 0) return;
    const links = this.readLinkList(later.map((pid) => `${this.deps.procRoot}/${pid}/ns/net`));
    for (let k = 0; k < later.length; k++) {
      const first = links[k]!;
      const link = typeof first === 'string' ? first : this.namespaceThroughThread(later[k]!, first);
      const ns = typeof link === 'string' ? parseNamespaceLink(link) : null;
      if (ns !== null) pidNetns.set(later[k]!, ns);
    }
  }

  /**
   * The previous walk's owners when they still describe the tables: every socket inode was either
   * attributed or unfound last time (so no socket is new), every owner still runs, no process's
   * descriptor table changed its size or identity (a socket handed to another process and closed
   * by its sender; a pid taken by a new process), and no process started since holds one of the
   * sockets (a fork). The map is returned as it is: entries of sockets closed since are never
   * looked up (socket inodes are not reused), so it need not be copied at every tick.
   *
   * Before Linux 6.2 the size of /proc/<pid>/fd is 0, so a socket passed between two processes
   * that both ran at the last walk goes unnoticed until the next full walk (every `fullWalkEvery`
   * scans).
   */
  private reusableWalk(namespaces: NamespaceScan[], pids: number[], fullWalkEvery: number): Map<number, SocketOwner[]> | null {
    const memory = this.walkMemory;
    if (!memory || memory.reuses + 1 >= fullWalkEvery) return null;
    const running = new Set(pids);
    for (const ns of namespaces) {
      const sockets = ns.sockets;
      for (let i = 0; i < sockets.length; i++) {
        const inode = sockets[i]!.inode;
        if (inode === 0 || memory.unfound.has(inode)) continue;
        const known = memory.owners.get(inode);
        if (!known) return null;
        for (let k = 0; k < known.length; k++) if (!running.has(known[k]!.pid)) return null;
      }
    }
    const tables = new Map<number, string>();
    const started: number[] = [];
    for (const pid of pids) {
      const key = this.deps.fdTableKey(`${this.procDir(pid)}/fd`);
      const before = memory.fdTables.get(pid);
      if (before === undefined) started.push(pid);
      else if (before !== key) return null;
      tables.set(pid, key);
    }
    // A process started since the walk: read its descriptors (usually a short-lived command
    // holding no socket of the tables). One that holds any is a fork of an owner, or got a socket
    // handed over: the walk is out of date.
    for (const pid of started) {
      let fds: string[];
      try {
        fds = this.deps.readdir(`${this.procDir(pid)}/fd`);
      } catch {
        continue; // exited, or unreadable: a walk would read no more of it
      }
      let holds = false;
      readSocketLinks(this.deps, this.viaThread(pid), fds, (inode) => {
        if (memory.owners.has(inode) || memory.unfound.has(inode)) holds = true;
      });
      if (holds) return null;
    }
    memory.fdTables = tables;
    return memory.owners;
  }

  /**
   * Every namespace's tables: one reader process per namespace, then all files read at once
   * (shared with the helper thread, largest first). A namespace whose reader left meanwhile is
   * read again through its other members; one no process lives in, through its binding.
   */
  private readAllNamespaces(
    work: ProcWork,
    nsPids: Map<number, number[]>,
    hostNs: number | null,
    selfNs: number | null,
    tables: TableName[],
  ): NamespaceScan[] {
    const { procRoot } = this.deps;
    // This scan's readers only: a namespace that ended is forgotten (a multi-day probe found the
    // map holding 79 ended namespaces of a host that had 2, each with its pid list).
    this.netnsReaders.clear();
    const bound = this.boundNamespaces();
    const ordered = [...nsPids.keys()].sort((a, b) => (a === hostNs ? -1 : b === hostNs ? 1 : a - b));
    const jobs = ordered.map((inode) => {
      const members = nsPids.get(inode) ?? [];
      const reader = inode === selfNs ? ('self' as const) : members.find((pid) => this.stillIn(pid, inode));
      return { inode, members, reader, binding: bound.get(inode) };
    });
    const paths: string[] = [];
    const netnsOf = new Map<string, number>();
    for (const name of tables) {
      for (const job of jobs) {
        if (job.reader === undefined) continue;
        const path = `${procRoot}/${job.reader}/net/${name}`;
        paths.push(path);
        netnsOf.set(path, job.inode);
      }
    }
    const tableOf = (path: string): TableName => path.slice(path.lastIndexOf('/') + 1) as TableName;
    const results = new Map<string, TableResult>();
    work
      .readTables(
        paths,
        this.deps.readFile,
        (text, path) => this.parseTable(text, tableOf(path), path, netnsOf.get(path)),
        (columns, path) => socketsFromColumns(columns, PROC_NET_TABLES[tableOf(path)], { source: path, littleEndian: this.deps.littleEndian, netns: netnsOf.get(path) }),
      )
      .forEach((result, i) => results.set(paths[i]!, result));

    const namespaces: NamespaceScan[] = [];
    for (const job of jobs) {
      this.netnsReaders.set(job.inode, { pids: job.members, self: job.inode === selfNs, ...(job.binding ? { bound: job.binding.path } : {}) });
      let scan: { read: boolean; reason?: string; sockets: RawSocket[] } | undefined;
      if (job.reader !== undefined) {
        let sockets: RawSocket[] = [];
        let complete = true;
        for (const name of tables) {
          const path = `${procRoot}/${job.reader}/net/${name}`;
          const result = results.get(path)!;
          // concat, not push(...rows): spreading a table of ~125k rows overflows the call stack.
          if (Array.isArray(result)) sockets = sockets.length === 0 ? result : sockets.concat(result);
          // A kernel built without IPv6 has no tcp6/udp6 tables.
          else if (!(result.code === 'ENOENT' && name.endsWith('6') && Array.isArray(results.get(path.slice(0, -1))))) complete = false;
        }
        // The reader must still be in the namespace after the read: a process that left it
        // (or exited, its pid taken by a process elsewhere) may have shown another namespace's
        // tables. Then the namespace is read again through its other members.
        if (complete && (job.reader === 'self' || this.stillIn(job.reader, job.inode))) scan = { read: true, sockets };
      }
      scan ??= this.readNamespace(job.inode, job.members, job.inode === selfNs, job.binding?.path, tables);
      // A namespace that ended during the scan is not one netmon failed to read: left out, as if
      // the scan had begun a moment later (its sockets closed with it).
      if ('ended' in scan) continue;
      namespaces.push({
        inode: job.inode,
        name: job.inode === hostNs ? 'host' : (job.binding?.name ?? null),
        host: job.inode === hostNs,
        processes: job.members.length,
        ...scan,
      });
    }
    // Named namespaces no visible process lives in (e.g. right after `ip netns add`).
    for (const [inode, binding] of bound) {
      if (nsPids.has(inode)) continue;
      this.netnsReaders.set(inode, { pids: [], self: false, bound: binding.path });
      const scan = this.readBoundNamespace(binding.path, tables, this.parseTable);
      // Deleted since it was listed: it ended, as one whose processes all exited.
      if (!scan.read && !this.stillBound(binding.path, inode)) continue;
      namespaces.push({ inode, name: binding.name, host: false, processes: 0, ...scan });
    }
    return namespaces;
  }

  /** Whether `path` still binds namespace `inode` (an `ip netns del` removes the binding). */
  private stillBound(path: string, inode: number): boolean {
    try {
      return this.deps.statInode(path) === inode;
    } catch {
      return false;
    }
  }

  private stillIn(pid: number, inode: number): boolean {
    try {
      return parseNamespaceLink(this.deps.readlink(`${this.deps.procRoot}/${pid}/ns/net`)) === inode;
    } catch {
      return false;
    }
  }

  /** Read and parse a namespace's tables (used again by presentInodes). */
  private readNamespace(
    inode: number,
    members: number[],
    isSelf: boolean,
    boundPath: string | undefined,
    tables: TableName[],
    readTable: TableReader = this.parseTable,
  ): { read: boolean; reason?: string; sockets: RawSocket[]; ended?: true } {
    const result = readTableTexts(this.deps, inode, isSelf ? ['self', ...members] : members, tables);
    if (result.ok) return { read: true, sockets: this.parseTexts(result.texts, readTable) };
    if (boundPath !== undefined) {
      // Its processes gone and its binding removed meanwhile (`ip netns del`): it ended too, not
      // a namespace netmon failed to read (nor its sockets ones it could not attribute).
      if (result.ended && !this.stillBound(boundPath, inode)) return { read: false, reason: result.reason, sockets: [], ended: true };
      const bound = this.readBoundNamespace(boundPath, tables, readTable);
      if (!bound.read && result.ended && !this.stillBound(boundPath, inode)) return { read: false, reason: result.reason, sockets: [], ended: true };
      return bound;
    }
    // Every process in it exited (or left it) and nothing binds it: the namespace ended.
    if (result.ended) return { read: false, reason: result.reason, sockets: [], ended: true };
    return { read: false, reason: result.reason, sockets: [] };
  }

  private parseTexts(texts: { name: string; path: string; text: string }[], readTable: TableReader = this.parseTable): RawSocket[] {
    const sockets: RawSocket[] = [];
    // No push(...rows): spreading a table of ~125k rows overflows the call stack.
    for (const { name, path, text } of texts) for (const row of readTable(text, name as TableName, path)) sockets.push(row);
    return sockets;
  }

  private readonly parseTable: TableReader = (text, name, source, netns) =>
    parseProcNet(text, PROC_NET_TABLES[name], { source, littleEndian: this.deps.littleEndian, netns });

  /**
   * A namespace that only an `ip netns` binding keeps alive has no process whose /proc/<pid>/net
   * shows it. Entering it needs setns(2), which needs root (CAP_SYS_ADMIN). The native scanner
   * dumps its tables from a thread of its own that enters it; without the scanner (or when that
   * fails), netmon runs `nsenter` (util-linux) once per such namespace, since Node cannot call
   * setns.
   */
  private readBoundNamespace(path: string, tables: TableName[], readTable: TableReader): { read: boolean; reason?: string; sockets: RawSocket[] } {
    if (this.deps.getuid() !== 0) {
      // Without root, "no process" means none this user can see the namespace of.
      return { read: false, reason: `no process in it is readable by this user, and entering ${path} needs root`, sockets: [] };
    }
    // The native dump gives columns; a caller with a reader of its own (presentInodes) reads text.
    const native = readTable === this.parseTable && sockDiagEnabled() ? this.native() : null;
    if (native) {
      const sources = tables.map((t) => `${path}:/proc/net/${t}`);
      const results = native.readTables(sources, true);
      if (results.every((r) => typeof r !== 'number' && r.via === 'sock_diag' && r.badLine === 0)) {
        const sockets: RawSocket[] = [];
        results.forEach((r, k) => {
          for (const row of socketsFromColumns(r as Exclude<typeof r, number>, PROC_NET_TABLES[tables[k]!], { source: sources[k]!, littleEndian: this.deps.littleEndian })) sockets.push(row);
        });
        return { read: true, sockets };
      }
    }
    const marker = '@@netmon-table ';
    const script = tables.map((t) => `echo '${marker}${t}'; cat /proc/self/net/${t}`).join('; ');
    const result = this.deps.exec('nsenter', [`--net=${path}`, '--', 'sh', '-c', script]);
    if (result.error || result.status !== 0) {
      const why = result.error ? describeErrno(result.error, 'running', 'nsenter') : `nsenter exited ${result.status}: ${result.stderr.trim()}`;
      return { read: false, reason: `could not enter ${path}: ${why}`, sockets: [] };
    }
    const sockets: RawSocket[] = [];
    const chunks = result.stdout.split(marker).slice(1);
    for (const chunk of chunks) {
      const nl = chunk.indexOf('\n');
      const name = chunk.slice(0, nl) as TableName;
      const table = PROC_NET_TABLES[name];
      if (!table) continue;
      for (const row of readTable(chunk.slice(nl + 1), name, `${path}:/proc/net/${name}`)) sockets.push(row);
    }
    return { read: true, sockets };
  }

  presentInodes(netns: number, sockets: ReadonlyArray<Pick<RawSocket, 'inode' | 'transport' | 'family' | 'state'>>): Set<number> | null {
    const present = new Set<number>();
    if (sockets.length === 0) return present;
    const reader = this.netnsReaders.get(netns);
    if (!reader) return null;
    const wanted = new Set(sockets.map((s) => s.inode));
    const tables = new Set<TableName>(sockets.map((s) => protoName(s) as TableName));
    // The collector's own namespace through the native scanner (sock_diag): the text tables of
    // a busy host take tens of milliseconds, and one unreadable process (a protected init, say)
    // is enough to need this re-read on every capture.
    const native = reader.self ? this.native() : null;
    if (native) {
      // Only the states the wanted sockets can be listed in (for listeners: LISTEN).
      const states = [...tables].map((t) => statesStillListed(PROC_NET_TABLES[t].transport, sockets.filter((s) => protoName(s) === t).map((s) => s.state)));
      const results = native.readTables(
        [...tables].map((t) => `${this.deps.procRoot}/self/net/${t}`),
        sockDiagEnabled(),
        states,
      );
      if (results.every((r) => typeof r !== 'number' && r.badLine === 0)) {
        for (const r of results) {
          const { nums } = r as Exclude<typeof r, number>;
          for (let i = 4; i < nums.length; i += 5) if (wanted.has(nums[i]!)) present.add(nums[i]!);
        }
        return present;
      }
    }
    // Only the inode column matters here: no need to decode whole tables a second time.
    const lookup: TableReader = (text) => {
      forEachProcNetInode(text, (inode) => {
        if (wanted.has(inode)) present.add(inode);
      });
      return [];
    };
    const again = this.readNamespace(netns, reader.pids, reader.self, reader.bound, [...tables], lookup);
    // A namespace whose every process has exited since: its sockets closed with them.
    if ('ended' in again) return present;
    return again.read ? present : null;
  }

  readProcess(pid: number): RawProcess {
    return this.readProcessFrom(pid, this.deps);
  }

  /**
   * The processes of `pids`, each as readProcess reads it. With the native scanner, the five
   * files of every process (stat, status, cmdline, cgroup, the exe link) are read in one call,
   * spread over its threads, and parsed here the same way: on a host of thousands of processes
   * these reads are most of a capture (five system-call rounds per process from JavaScript).
   * Files are read as the default dependencies would; other dependencies (replayed fixtures)
   * are asked one file at a time.
   */
  readProcessList(pids: readonly number[]): RawProcess[] {
    const native = pids.length > 1 && this.readsProcFiles() ? this.native() : null;
    if (!native) return pids.map((pid) => this.readProcess(pid));
    const paths: string[] = [];
    const links = new Uint8Array(pids.length * PROCESS_FILES.length);
    pids.forEach((pid, k) => {
      for (const name of PROCESS_FILES) paths.push(this.processFile(pid, name));
      links[k * PROCESS_FILES.length + EXE_INDEX] = 1;
    });
    const files = readNativeFiles(native, paths, links);
    return pids.map((pid, k) => {
      const start = k * PROCESS_FILES.length;
      const file = (path: string): Buffer => {
        let j = 0;
        while (j < PROCESS_FILES.length && paths[start + j] !== path) j++;
        if (j === PROCESS_FILES.length) throw new Error(`${path} is not among the files readProcessList reads`);
        const result = files[start + j]!;
        if (result instanceof Error) throw result;
        return result;
      };
      return this.readProcessFrom(pid, {
        readExact: (path) => decodeExact(file(path)),
        readFile: (path) => file(path).toString('utf8'),
        readlinkExact: (path) => decodeExact(file(path)),
      });
    });
  }

  /**
   * The targets of links (or the error of each), as deps.readlink gives them: through the native
   * scanner in one call when this collector reads links as the default dependencies do.
   */
  private readLinkList(paths: readonly string[]): (string | Error)[] {
    const native = paths.length > 1 && this.deps.readlink === defaultLinuxDeps.readlink ? this.native() : null;
    if (!native) {
      return paths.map((path) => {
        try {
          return this.deps.readlink(path);
        } catch (error) {
          return error instanceof Error ? error : new Error(String(error));
        }
      });
    }
    return readNativeFiles(native, paths, new Uint8Array(paths.length).fill(1)).map((r) => (r instanceof Error ? r : r.toString('utf8')));
  }

  /** Whether this collector reads /proc files as the default dependencies do (not a replay). */
  private readsProcFiles(): boolean {
    const d = this.deps;
    return d.readExact === defaultLinuxDeps.readExact && d.readFile === defaultLinuxDeps.readFile && d.readlinkExact === defaultLinuxDeps.readlinkExact;
  }

  /**
   * The path of one of a process's files. stat and status are the process's own (its start time
   * and ids); the command line, the executable and the cgroup are read through a live thread
   * when the main thread has exited (see leaderGone), whose own are then empty.
   */
  private processFile(pid: number, name: (typeof PROCESS_FILES)[number]): string {
    return name === 'stat' || name === 'status' ? `${this.deps.procRoot}/${pid}/${name}` : `${this.procDir(pid)}/${name}`;
  }

  private readProcessFrom(pid: number, files: Pick<LinuxDeps, 'readExact' | 'readFile' | 'readlinkExact'>): RawProcess {
    const path = (name: (typeof PROCESS_FILES)[number]): string => this.processFile(pid, name);
    const issues: ProcessReadIssue[] = [];
    const proc: RawProcess = {
      pid,
      ppid: null,
      name: '',
      executable: null,
      executableDeleted: false,
      commandLine: [],
      uid: null,
      euid: null,
      gid: null,
      startTime: null,
      containerId: null,
      issues,
      gone: false,
    };
    const reason = (error: unknown): ProcessReadIssue['reason'] =>
      isGone(error) ? 'process-exited' : isDenied(error) ? 'permission-denied' : 'io-error';

    /** From stat's flags: a kernel thread (true), a process (false), or not known (null). */
    let kernelThread: boolean | null = null;
    try {
      // Names, command lines and executable paths are bytes whoever starts the process chose: read exactly.
      const stat = parseProcStat(files.readExact(path('stat')), path('stat'));
      if (stat.flags !== undefined) kernelThread = (stat.flags & PF_KTHREAD) !== 0;
      proc.name = stat.name;
      proc.ppid = stat.ppid;
      const boot = this.bootTime();
      if (boot !== null) proc.startTime = new Date((boot + stat.startTicks / CLOCK_TICKS) * 1000).toISOString();
    } catch (error) {
      if (error instanceof ParseError) issues.push({ field: 'status', reason: 'io-error', detail: error.message });
      else {
        issues.push({ field: 'status', reason: reason(error), detail: describeErrno(error, 'reading', path('stat')) });
        if (isGone(error)) {
          proc.gone = true;
          return proc;
        }
      }
    }
    try {
      const status = parseProcStatus(files.readExact(path('status')), path('status'));
      proc.uid = status.uid;
      proc.euid = status.euid;
      proc.gid = status.gid;
      if (!proc.name && status.name) proc.name = status.name;
    } catch (error) {
      issues.push({ field: 'status', reason: error instanceof ParseError ? 'io-error' : reason(error), detail: error instanceof ParseError ? error.message : describeErrno(error, 'reading', path('status')) });
    }
    try {
      proc.commandLine = parseCmdline(files.readExact(path('cmdline')));
    } catch (error) {
      issues.push({ field: 'commandLine', reason: reason(error), detail: describeErrno(error, 'reading', path('cmdline')) });
    }
    try {
      const target = files.readlinkExact(path('exe'));
      // proc(5): a deleted executable's link target ends in " (deleted)". A file may be named
      // so too ("sshd (deleted)", to pass for a deleted binary): the running image's link count
      // decides (the link leads to it even when deleted), and only the kernel's suffix is cut.
      proc.executable = target;
      if (target.endsWith(' (deleted)')) {
        let deleted = true;
        try {
          deleted = this.deps.linkCount(path('exe')) === 0;
        } catch {
          // Unreadable or gone meanwhile: the kernel's word stands.
        }
        if (deleted) {
          proc.executable = target.slice(0, -' (deleted)'.length);
          proc.executableDeleted = true;
        }
      }
    } catch (error) {
      // Kernel threads have no executable: readlink fails with ENOENT while the process exists.
      // So does a process that is exiting (its memory released, a zombie), whose command line
      // reads empty too: the kernel's flag tells them apart, where stat could be read.
      const code = errnoCode(error);
      if (code === 'ENOENT' && proc.commandLine.length === 0 && !proc.gone && kernelThread !== false) {
        issues.push({ field: 'executable', reason: 'kernel-thread' });
      } else if (code === 'ENOENT' && kernelThread === false && proc.commandLine.length === 0) {
        issues.push({ field: 'executable', reason: 'process-exited', detail: `${describeErrno(error, 'reading link', path('exe'))}: the process is exiting` });
      } else {
        issues.push({ field: 'executable', reason: reason(error), detail: describeErrno(error, 'reading link', path('exe')) });
      }
    }
    try {
      proc.containerId = parseContainerId(files.readFile(path('cgroup')));
    } catch (error) {
      issues.push({ field: 'cgroup', reason: reason(error), detail: describeErrno(error, 'reading', path('cgroup')) });
    }
    return proc;
  }

  private privilege: 'root' | 'capabilities' | null | undefined;

  /** Read once per collector, as processesHidden(): a process's privilege does not grow. */
  fullPrivilege(): 'root' | 'capabilities' | null {
    if (this.privilege !== undefined) return this.privilege;
    if (this.deps.getuid() === 0) return (this.privilege = 'root');
    // Listing another user's /proc/<pid>/fd takes CAP_DAC_READ_SEARCH; reading its links and its
    // network namespace takes CAP_SYS_PTRACE (ptrace read access). A service granted both (the
    // remedy netmon names) reads every process a root run would.
    try {
      const status = this.deps.readFile(`${this.deps.procRoot}/self/status`);
      this.privilege = hasEffectiveCapability(status, CAP_SYS_PTRACE) && hasEffectiveCapability(status, CAP_DAC_READ_SEARCH) ? 'capabilities' : null;
    } catch {
      this.privilege = null;
    }
    return this.privilege;
  }

  pidNamespace(): string | null {
    try {
      return this.deps.readlink(`${this.deps.procRoot}/self/ns/pid`);
    } catch {
      return null;
    }
  }

  sharedFileSystem(path: string): string | null {
    try {
      return SHARED_FILE_SYSTEMS.get(this.deps.fsType(path)) ?? null;
    } catch {
      return null; // the store's own open reports a path that cannot be reached
    }
  }

  processIdentity(pid: number): string | null {
    try {
      const boot = this.deps.readFile(`${this.deps.procRoot}/sys/kernel/random/boot_id`).trim();
      const stat = parseProcStat(this.deps.readFile(`${this.deps.procRoot}/${pid}/stat`));
      // A zombie (exited, not yet reaped by a parent that does not wait) is not the process it
      // was: it holds no file and no lock any more.
      return `${boot}/${stat.startTicks}${stat.state === 'Z' || stat.state === 'X' ? '/exited' : ''}`;
    } catch {
      return null;
    }
  }

  private hidden: { reason: string; uid: number; remedy: string } | null | undefined;

  /**
   * Whether other users' processes are invisible here: procfs mounted with hidepid=invisible (or
   * ptraceable), as hardening guides recommend, hides them from a collector that is not root, has
   * no CAP_SYS_PTRACE and is not in the mount's gid= group. Their sockets are in the tables, but
   * nothing says who holds them. Read once per collector.
   */
  private processesHidden(): { reason: string; uid: number; remedy: string } | null {
    if (this.hidden !== undefined) return this.hidden;
    const { procRoot } = this.deps;
    const uid = this.deps.getuid();
    let hidden: { reason: string; uid: number; remedy: string } | null = null;
    if (uid !== 0) {
      try {
        const mount = parseProcMount(this.deps.readFile(`${procRoot}/self/mountinfo`), fs.realpathSync(procRoot));
        if (mount && hidesProcesses(mount.hidepid)) {
          const exempt = mount.gid !== null && this.deps.getgroups().includes(mount.gid);
          if (!exempt && !hasEffectiveCapability(this.deps.readFile(`${procRoot}/self/status`), CAP_SYS_PTRACE)) {
            hidden = {
              reason: `${procRoot} is mounted with hidepid=${mount.hidepid}`,
              uid,
              remedy: mount.gid === null ? `remount ${procRoot} with gid=GROUP and add netmon's user to that group` : `add netmon's user to group ${mount.gid} (the gid= option of ${procRoot})`,
            };
          }
        }
      } catch {
        // No mountinfo to read (a replayed /proc): nothing is known to be hidden.
      }
    }
    return (this.hidden = hidden);
  }

  executableFile(pid: number): string {
    return `${this.procDir(pid)}/exe`;
  }

  private bootTime(): number | null {
    if (this.bootSeconds === undefined) {
      try {
        this.bootSeconds = parseBootTime(this.deps.readFile(`${this.deps.procRoot}/stat`));
      } catch {
        this.bootSeconds = null;
      }
    }
    return this.bootSeconds;
  }

  readAccounts(): Accounts {
    const read = (name: string): Map<number, string> => {
      try {
        return parseAccountFile(this.deps.readFile(`${this.deps.etcRoot}/${name}`));
      } catch {
        return new Map();
      }
    };
    return { users: read('passwd'), groups: read('group') };
  }

  readHostNames(): Map<string, string> {
    try {
      return parseHostsFile(this.deps.readFile(`${this.deps.etcRoot}/hosts`));
    } catch {
      return new Map();
    }
  }

  hostInfo(): HostInfo {
    const boot = this.bootTime();
    return {
      hostname: this.deps.hostname(),
      platform: 'linux',
      kernel: this.deps.kernelRelease(),
      bootTime: boot === null ? null : new Date(boot * 1000).toISOString(),
    };
  }

  ephemeralPortRange(): [number, number] | null {
    const path = `${this.deps.procRoot}/sys/net/ipv4/ip_local_port_range`;
    try {
      return parsePortRange(this.deps.readFile(path), path);
    } catch {
      return null;
    }
  }

  reservedPorts(): number[] {
    const path = `${this.deps.procRoot}/sys/net/ipv4/ip_local_reserved_ports`;
    try {
      return parseReservedPorts(this.deps.readFile(path), path);
    } catch {
      return [];
    }
  }
}
