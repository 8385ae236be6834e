import { userInfo } from 'node:os';
import { platformCollector } from '../collect/index.js';
import type { PlatformCollector } from '../collect/collector.js';
import { attributeSocket } from '../enrich/attribute.js';
import { loadBlake3 } from '../enrich/blake3.js';
import { deadlineHashFs, MemoryHashCache, type HashCache } from '../enrich/hash-executables.js';
import { hashExecutables, readProcesses, type HashStats } from '../enrich/read-processes.js';
import { ConfigError } from '../errors.js';
import { compileFilters, patternMatchingNothing } from '../filter/compile-filters.js';
import { isListeningState, type CapturedBy, type EphemeralListener, type Family, type FilterSpec, type NamespaceRecord, type RawSocket, type Snapshot, type SnapshotWarning, type SocketOwner, type SocketRecord } from '../model/types.js';
import { listeningPortsLeftOut } from '../model/direction.js';
import { leftOutAsEphemeral, type EphemeralRule } from '../model/ports.js';
import { NETMON_VERSION } from '../version.js';
import { createSnapshot } from './create-snapshot.js';
import { count, seconds } from '../model/format.js';

/** Options of `snapshot()`. Every field is optional; the defaults take a full inventory. */
export interface SnapshotOptions {
  /** Only listening sockets (TCP LISTEN and unconnected UDP). Default false: every state. */
  listeningOnly?: boolean;
  /** Keep listeners on ports inside the ephemeral range. Default false. */
  includeEphemeral?: boolean;
  onlyIpv4?: boolean;
  onlyIpv6?: boolean;
  /** Attribute sockets to processes. Default true. */
  processInfo?: boolean;
  /** Hash each owner's executable (BLAKE3 and SHA-256). Default true. */
  hashBinaries?: boolean;
  filters?: FilterSpec;
  /** Executable hash cache; the evidence store passes a persistent one. */
  hashCache?: HashCache;
  /** Force a BLAKE3 implementation (default: native, else WebAssembly). */
  blake3?: 'native' | 'wasm';
  /**
   * How long one call reading an executable may take before netmon gives up on that file (it is
   * then not hashed, and the snapshot warns W_HASH_TIMEOUT), in milliseconds. Default 10,000.
   * Needs the native addon; without it, a file system that does not answer stops the capture.
   */
  hashTimeoutMs?: number;
  /** Platform collector; default: the one for this OS. */
  collector?: PlatformCollector;
  /**
   * Repeated snapshots with the same `collector` (`--interval`): reuse the previous descriptor
   * walk when it provably still holds (see ScanOptions.reuseOwners).
   */
  reuseOwners?: boolean;
  /**
   * A capture loop's previous capture: the socket inodes it attributed to a process. One of them
   * that the scan finds in the tables without a holder, and that is gone from them when they are
   * read again, closed since: it is left out, as if the scan had begun a moment later (the
   * previous capture holds its owner, and the store and the trail record it closed with it),
   * rather than kept as a socket whose process exited. A socket no capture attributed before keeps
   * that reason.
   */
  ownedBefore?: { has(inode: number): boolean };
  /** Clock; default `() => new Date()`. */
  now?: () => Date;
  /**
   * Hears what the scan is doing, for a progress line: each phase as it starts, and the
   * executables hashed so far (at most every 100 ms). A first capture of a busy host hashes
   * hundreds of megabytes of executables and can take seconds.
   */
  onProgress?: (text: string) => void;
}

const defaultHashCache = new MemoryHashCache();
const NO_OWNERS: SocketOwner[] = [];

/** A socket record with its fields spelled out: one object shape for all, cheap to build and sort. */
/**
 * Turn a freshly collected row into a socket record in place: at 10^5 sockets, a second object
 * per socket costs more in garbage collection than anything else in the assembly.
 */
function toRecord(raw: RawSocket, netns: number, listening: boolean, owners: SocketOwner[]): SocketRecord {
  const record = raw as SocketRecord;
  record.netns = netns;
  record.listening = listening;
  record.owners = owners;
  return record;
}

/** The default deadline of one call reading an executable (see SnapshotOptions.hashTimeoutMs). */
export const DEFAULT_HASH_TIMEOUT_MS = 10_000;

/** Executables hashed between two turns of the event loop. */
const HASH_SLICE = 16;

/** Who this process captures as: its effective uid, that user's name, and its privilege; nothing where there are no uids. */
function capturedBy(privilege: 'root' | 'capabilities' | null): { capturedBy?: CapturedBy } {
  if (typeof process.geteuid !== 'function') return {};
  const uid = process.geteuid();
  let user: string | null = null;
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry for this uid (a container's arbitrary uid): the number alone
  }
  return { capturedBy: { uid, user, privilege } };
}

/** One turn of the event loop: pending signal handlers and I/O callbacks run. */
function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Take a process-attributed inventory of the host's TCP and UDP sockets across every
 * network namespace the collector can read. Never fails for lack of privilege: what could
 * not be attributed carries a reason and is counted in `coverage`.
 *
 * @throws FilterError when a filter pattern is invalid (before any I/O)
 * @throws CollectorError when the platform is unsupported
 */
/** Filter specs already found to hold no pattern that can match nothing (patternMatchingNothing). */
const reachableSpecs = new WeakSet<FilterSpec>();

export async function snapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
  if (options.onlyIpv4 && options.onlyIpv6) {
    throw new ConfigError('E_USAGE', 'onlyIpv4 and onlyIpv6 exclude each other: give at most one');
  }
  const filters = compileFilters(options.filters);
  // A pattern no socket can match would make an empty capture, silently, whoever calls. Checked
  // once per filter spec: a capture loop passes the same one at every tick.
  if (options.filters !== undefined && !reachableSpecs.has(options.filters)) {
    const unmatchable = patternMatchingNothing(options.filters);
    if (unmatchable !== null) throw unmatchable;
    reachableSpecs.add(options.filters);
  }
  const collector = options.collector ?? platformCollector();
  const now = options.now ?? (() => new Date());
  const listeningOnly = options.listeningOnly ?? false;
  const includeEphemeral = options.includeEphemeral ?? false;
  const processInfo = options.processInfo ?? true;
  const hashBinaries = processInfo && (options.hashBinaries ?? true);
  const families: Family[] = options.onlyIpv4 ? ['ipv4'] : options.onlyIpv6 ? ['ipv6'] : ['ipv4', 'ipv6'];

  const takenAt = now();
  const started = performance.now();
  const progress = options.onProgress;
  progress?.(processInfo ? "reading the socket tables and every process's descriptors" : 'reading the socket tables');
  const scan = collector.scanSockets({ families, owners: processInfo, reuseOwners: options.reuseOwners ?? false });
  const range = collector.ephemeralPortRange();
  const skipRange = includeEphemeral ? null : range;
  // The rule holds in netmon's own namespace, whose range it read, and not for reserved ports
  // (the kernel never hands those out: a listener there was put there on purpose) nor for
  // back-door ports (a back door on 54321 is no client's socket).
  const reserved = skipRange === null ? [] : (collector.reservedPorts?.() ?? []);
  const rule: EphemeralRule | null = skipRange === null ? null : { range: skipRange, ...(scan.selfNetns === undefined ? {} : { netns: scan.selfNetns }), reserved: new Set(reserved) };
  const hostNames = filters.needsHostNames ? collector.readHostNames() : undefined;
  const remoteHost = hostNames ? (address: string) => hostNames.get(address) : undefined;
  const ctx = {
    owners: processInfo ? scan.owners : undefined,
    processesDenied: scan.processesDenied,
    deniedUids: scan.deniedUids,
    ...(scan.processesHidden === undefined ? {} : { hiddenFrom: scan.processesHidden.uid }),
  };

  let sockets: SocketRecord[] = [];
  const filtering = !filters.empty;
  const namespaces: NamespaceRecord[] = [];
  /** Listeners the selection leaves out: their ports still make accepted connections inbound. */
  const listenersLeft: Pick<SocketRecord, 'netns' | 'transport' | 'localPort'>[] = [];
  /**
   * TCP listeners the ephemeral-port rule left out: the evidence says they were there. Those the
   * endpoint filters would have kept, since the selection asked for no other; not recorded under
   * process filters, which cannot be applied without reading their processes.
   */
  const tcpLeft: EphemeralListener[] | undefined = rule === null || filters.needsProcess ? undefined : [];
  for (const ns of scan.namespaces) {
    const { sockets: raws, ...meta } = ns;
    namespaces.push({ ...meta, sockets: raws.length });
    for (const raw of raws) {
      const listening = isListeningState(raw.state);
      if (listeningOnly && !listening) continue;
      if (rule !== null && listening && leftOutAsEphemeral(rule, raw.localPort, ns.inode)) {
        listenersLeft.push({ netns: ns.inode, transport: raw.transport, localPort: raw.localPort });
        if (tcpLeft !== undefined && raw.transport === 'tcp' && (!filtering || filters.socket({ ...raw, listening: true }, remoteHost))) {
          tcpLeft.push({ netns: ns.inode, family: raw.family, address: raw.localAddress, port: raw.localPort });
        }
        continue;
      }
      const found = raw.inode === 0 ? undefined : ctx.owners?.get(raw.inode);
      const record = toRecord(raw, ns.inode, listening, found ?? NO_OWNERS);
      if (filtering && !filters.socket(record, remoteHost)) {
        if (listening) listenersLeft.push(record);
        continue;
      }
      if (found === undefined) {
        const attribution = attributeSocket(raw.inode, raw.uid, ctx);
        record.owners = attribution.owners;
        if (attribution.unattributed) record.unattributed = attribution.unattributed;
      }
      sockets.push(record);
    }
  }

  // Sockets no readable descriptor refers to: those gone from the tables by now were closed (or
  // their owner exited) while the scan ran, whatever process might otherwise have held them. A
  // closed socket that lingers (FIN_WAIT, TIME_WAIT) shows inode 0, so a re-read by inode is
  // conclusive.
  const unfound = new Map<number, SocketRecord[]>();
  for (const s of sockets) {
    if (s.unattributed === 'other-namespace' || s.unattributed === 'permission-denied') {
      let list = unfound.get(s.netns);
      if (!list) unfound.set(s.netns, (list = []));
      list.push(s);
    }
  }
  for (const [netns, list] of unfound) {
    const present = collector.presentInodes(netns, list);
    if (present !== null) for (const s of list) if (!present.has(s.inode)) s.unattributed = 'process-exited';
  }
  const ownedBefore = options.ownedBefore;
  if (ownedBefore !== undefined && unfound.size > 0) {
    const closed = new Set(sockets.filter((s) => s.unattributed === 'process-exited' && ownedBefore.has(s.inode)));
    if (closed.size > 0) {
      sockets = sockets.filter((s) => !closed.has(s));
      // Not read, as the namespaces' counts go: the left-out line must not put them down to the selection.
      for (const s of closed) {
        const ns = namespaces.find((n) => n.inode === s.netns);
        if (ns) ns.sockets--;
      }
    }
  }

  const warnings: SnapshotWarning[] = [];
  let processes = new Map<number, import('../model/types.js').ProcessRecord>();
  if (processInfo) {
    const pids = new Set<number>();
    for (const s of sockets) for (const o of s.owners) pids.add(o.pid);
    // The scan ran without yielding: let a signal handler or a closed pipe be heard now.
    await breathe();
    progress?.(`reading ${count(pids.size, 'process', 'processes')}`);
    processes = readProcesses(collector, [...pids].sort((a, b) => a - b), scan.pidNetns);
    if (filters.needsProcess) {
      sockets = sockets.filter((s) => {
        const keep = s.owners.some((o) => filters.process(processes.get(o.pid)));
        if (!keep && s.listening) listenersLeft.push(s);
        return keep;
      });
      const kept = new Set<number>();
      for (const s of sockets) for (const o of s.owners) kept.add(o.pid);
      for (const pid of processes.keys()) if (!kept.has(pid)) processes.delete(pid);
    }
    if (hashBinaries) {
      let said = 0;
      const onFile =
        progress === undefined
          ? undefined
          : (done: number): void => {
              if (performance.now() - said < 100) return;
              said = performance.now();
              progress(`hashing executables: ${done} of ${processes.size}`);
            };
      // In slices, with the event loop let in between: a first capture into a new store hashes
      // every executable, which takes seconds on a busy host, and a Ctrl-C should be answered
      // (the capture still finishes) rather than wait for the end.
      const all = [...processes.values()];
      let implementation: ReturnType<typeof loadBlake3> | undefined;
      const blake3 = (): ReturnType<typeof loadBlake3> => (implementation ??= loadBlake3(options.blake3));
      const stats = { failed: 0, exited: 0, unanswered: [] as HashStats['unanswered'] };
      const timeoutMs = options.hashTimeoutMs ?? DEFAULT_HASH_TIMEOUT_MS;
      // The calls that never returned are the addon's to remember, across captures.
      const fsImpl = deadlineHashFs(timeoutMs) ?? undefined;
      for (let first = 0; first < all.length; first += HASH_SLICE) {
        if (first > 0) await breathe();
        const slice = hashExecutables(collector, all.slice(first, first + HASH_SLICE), options.hashCache ?? defaultHashCache, blake3, onFile && ((done) => onFile(first + done)), fsImpl);
        stats.failed += slice.failed;
        stats.exited += slice.exited;
        stats.unanswered.push(...slice.unanswered);
      }
      // A process that ended between the descriptor walk and its hash is no failure to warn of: on a
      // host of short-lived processes a loop said so every few ticks (a probe). Its record says it.
      const failed = stats.failed - stats.exited;
      if (failed > 0) {
        warnings.push({ code: 'W_HASH', message: `${failed} of ${count(processes.size, 'executable')} could not be hashed (see each process's issues)` });
      }
      if (stats.unanswered.length > 0) {
        const shown = stats.unanswered.slice(0, 5).map((u) => `pid ${u.pid}${u.executable === null ? '' : ` ${u.executable}`}`);
        const more = stats.unanswered.length > shown.length ? ` and ${stats.unanswered.length - shown.length} more` : '';
        warnings.push({
          code: 'W_HASH_TIMEOUT',
          message:
            `the file system holding ${count(stats.unanswered.length, 'executable')} did not answer within ${seconds(timeoutMs)}, so ${stats.unanswered.length === 1 ? 'it was' : 'they were'} not hashed ` +
            `(${shown.join(', ')}${more}): a hung network or FUSE mount? The capture went on; a later one hashes ${stats.unanswered.length === 1 ? 'it' : 'them'} once the file system answers`,
        });
      }
    }
  } else if (filters.needsProcess) {
    throw new ConfigError('E_USAGE', '--process, --path and --user filters need process information: drop --no-process-info');
  }

  const privilege = collector.fullPrivilege();
  return createSnapshot({
    version: NETMON_VERSION,
    host: collector.hostInfo(),
    takenAt,
    durationMs: performance.now() - started,
    selection: {
      listeningOnly,
      includeEphemeral,
      families,
      processInfo,
      hashBinaries,
      ephemeralPortRange: range,
      ...(scan.selfNetns === undefined ? {} : { ephemeralRangeNetns: scan.selfNetns }),
      ...(reserved.length > 0 ? { ephemeralPortsReserved: reserved } : {}),
      filters: options.filters ?? {},
    },
    namespaces,
    sockets,
    processes: [...processes.values()],
    scan: { ...scan, fullPrivilege: privilege },
    warnings,
    listeningPortsLeftOut: listeningPortsLeftOut(listenersLeft, sockets),
    ...(tcpLeft === undefined ? {} : { ephemeralTcpListeners: tcpLeft }),
    ...capturedBy(privilege),
  });
}
