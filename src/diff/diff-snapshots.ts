import { isExternalAddress, isWildcardAddress } from '../collect/parse/address.js';
import { attributableRatio, protoName, type ProcessRecord, type Snapshot, type SocketRecord } from '../model/types.js';
import { inboundTest } from '../model/direction.js';
import { FINDING_RULES } from '../findings/rules.js';
import { legacyNamespaceLabel, namespaceLabel } from '../model/namespace-label.js';

/** Version of the diff document. */
export const DIFF_SCHEMA_VERSION = 1 as const;

/** What a process looked like on one side of a change (the parts a reviewer compares). */
export interface ProcessView {
  pid: number;
  name: string;
  executable: string | null;
  /** The executable was deleted or replaced after the process started. */
  executableDeleted: boolean;
  user: string | null;
  uid: number | null;
  /** Effective uid (null when not recorded). */
  euid: number | null;
  commandLine: string[];
  sha256: string | null;
  blake3: string | null;
}

/** A listener, identified across snapshots by namespace, protocol, address and port. */
export interface ListenerView {
  namespace: string;
  proto: string;
  address: string;
  port: number;
  /** Sockets bound to it (several with SO_REUSEPORT or pre-forked servers). */
  sockets: number;
  process: ProcessView | null;
}

/** Outbound connections aggregated by network namespace, executable, protocol, remote address and remote port. */
export interface OutboundView {
  /** `host`, the `ip netns` name, or `netns:<inode>`; absent in the aggregates of rules 1 and 2, which did not tell namespaces apart. */
  namespace?: string;
  executable: string | null;
  proto: string;
  remoteAddress: string;
  remotePort: number;
  /** Connections in the aggregate (a client reconnecting from a new port stays one aggregate). */
  connections: number;
  process: ProcessView | null;
}

export type Change =
  | { kind: 'listener-opened'; after: ListenerView }
  | { kind: 'listener-closed'; before: ListenerView }
  | { kind: 'binary-changed'; before: ListenerView; after: ListenerView }
  | { kind: 'process-changed'; before: ListenerView; after: ListenerView; fields: ('executable' | 'user' | 'commandLine')[] }
  | { kind: 'exposure-widened'; before: ListenerView[]; after: ListenerView[] }
  | { kind: 'listener-count-changed'; before: ListenerView; after: ListenerView }
  | { kind: 'outbound-opened'; after: OutboundView }
  | { kind: 'outbound-closed'; before: OutboundView }
  | { kind: 'new-external-destination'; after: OutboundView }
  | { kind: 'coverage-changed'; before: Snapshot['coverage']; after: Snapshot['coverage'] };

export type ChangeKind = Change['kind'];

/** The changes between two snapshots. */
export interface Diff {
  schemaVersion: typeof DIFF_SCHEMA_VERSION;
  before: { takenAt: string; host: string };
  after: { takenAt: string; host: string };
  changes: Change[];
}

export interface DiffOptions {
  /** Remote addresses already known (from earlier snapshots or an allow-list): not "new". Only asked, never copied. */
  knownDestinations?: { has(address: string): boolean };
  /** Coverage ratios closer than this are not a change (default 0.01). */
  coverageTolerance?: number;
  /** Compare attribution coverage (default true; a filtered view of the host says little about it). */
  compareCoverage?: boolean;
  /** Compare outbound connections (default true; not against a snapshot without process information, where none is told apart). */
  compareOutbound?: boolean;
  /** The version of the finding rules to apply (findings/rules.ts; default the current one). */
  rules?: number;
  /** An earlier form of that version (findings/rules.ts EARLIER_FORMS). */
  form?: string;
}

function processView(p: ProcessRecord | undefined): ProcessView | null {
  if (!p) return null;
  return {
    pid: p.pid,
    name: p.name,
    executable: p.executable,
    executableDeleted: p.executableDeleted,
    user: p.user,
    uid: p.uid,
    euid: p.euid ?? null,
    commandLine: p.commandLine,
    sha256: p.hashes?.sha256 ?? null,
    blake3: p.hashes?.blake3 ?? null,
  };
}

export interface Indexed {
  readonly listeners: ReadonlyMap<string, ListenerView>;
  readonly outbound: ReadonlyMap<string, OutboundView>;
}

/**
 * The index of an inventory, by its record arrays. Snapshots are never changed once made, and a
 * store shares the arrays of snapshots with equal set digests, so `report` (the diff, then the
 * PDF's inventory section) and a diff of two equal inventories index each inventory once.
 */
const indexes = new WeakMap<readonly SocketRecord[], { processes: readonly ProcessRecord[]; namespaces: Snapshot['namespaces']; index: Indexed }>();
/** The same, with the namespace labels of rules 1 to 3 (only for a capture where they differ). */
const legacyIndexes = new WeakMap<readonly SocketRecord[], { processes: readonly ProcessRecord[]; namespaces: Snapshot['namespaces']; index: Indexed }>();

/**
 * Listeners by identity and outbound connections by aggregate. A connection on one of the
 * capture's listening ports (same namespace and transport, model/direction.ts) is inbound and not
 * counted, also when the selection left that listener out.
 * Namespaces are named `host`, by their `ip netns` name, or else by inode. The result is shared
 * by every caller that indexes the same inventory: read-only.
 */
export function exposureIndex(snapshot: Snapshot, legacyLabels = false): Indexed {
  // The labels of rules 1 to 3 differ only for a namespace whose name reads as one netmon makes.
  const legacy = legacyLabels && snapshot.namespaces.some((n) => namespaceLabel(n) !== legacyNamespaceLabel(n));
  const cache = legacy ? legacyIndexes : indexes;
  const known = cache.get(snapshot.sockets);
  if (known && known.processes === snapshot.processes && known.namespaces === snapshot.namespaces) return known.index;
  const index = buildIndex(snapshot, legacy ? legacyNamespaceLabel : namespaceLabel);
  cache.set(snapshot.sockets, { processes: snapshot.processes, namespaces: snapshot.namespaces, index });
  return index;
}

function buildIndex(snapshot: Snapshot, label: (n: Snapshot['namespaces'][number]) => string): Indexed {
  const processes = new Map(snapshot.processes.map((p) => [p.pid, p]));
  const nsName = new Map(snapshot.namespaces.map((n) => [n.inode, label(n)]));
  const listeners = new Map<string, ListenerView>();
  const inbound = inboundTest(snapshot);
  for (const s of snapshot.sockets) {
    if (!s.listening) continue;
    const namespace = nsName.get(s.netns) ?? `netns:${s.netns}`;
    const key = `${namespace}|${protoName(s)}|${s.localAddress}|${s.localPort}`;
    const known = listeners.get(key);
    if (known) {
      known.sockets++;
      continue;
    }
    const owner = s.owners[0];
    listeners.set(key, { namespace, proto: protoName(s), address: s.localAddress, port: s.localPort, sockets: 1, process: processView(owner ? processes.get(owner.pid) : undefined) });
  }
  const outbound = new Map<string, OutboundView>();
  // Aggregates found through nested maps (owner, protocol and port, remote address), so that the
  // string key is built once per aggregate rather than once per connection.
  // Keyed by namespace inode first: no string is made per connection, only per aggregate.
  const byOwner = new Map<number, Map<string, Map<number, Map<string, OutboundView>>>>();
  const sockets = snapshot.sockets;
  for (let i = 0; i < sockets.length; i++) {
    const s = sockets[i]!;
    if (s.listening || s.owners.length === 0) continue; // kernel-owned leftovers (TIME_WAIT) have no process to aggregate by
    if (inbound(s)) continue;
    const pid = s.owners[0]!.pid;
    const proc = processes.get(pid);
    const executable = proc?.executable ?? null;
    const owner = executable ?? `pid:${pid}`;
    let owners = byOwner.get(s.netns);
    if (!owners) byOwner.set(s.netns, (owners = new Map()));
    let ports = owners.get(owner);
    if (!ports) owners.set(owner, (ports = new Map()));
    const portProto = s.remotePort * 4 + (s.transport === 'udp' ? 2 : 0) + (s.family === 'ipv6' ? 1 : 0);
    let remotes = ports.get(portProto);
    if (!remotes) ports.set(portProto, (remotes = new Map()));
    const known = remotes.get(s.remoteAddress);
    if (known) {
      known.connections++;
      continue;
    }
    const namespace = nsName.get(s.netns) ?? `netns:${s.netns}`;
    const view: OutboundView = { namespace, executable, proto: protoName(s), remoteAddress: s.remoteAddress, remotePort: s.remotePort, connections: 1, process: processView(proc) };
    remotes.set(s.remoteAddress, view);
    // The namespace last: the key of rules 1 and 2 is this one without it (outboundAcrossNamespaces).
    outbound.set(`${owner}|${view.proto}|${s.remoteAddress}|${s.remotePort}|${namespace}`, view);
  }
  return { listeners, outbound };
}

const merged = new WeakMap<Indexed, ReadonlyMap<string, OutboundView>>();

/**
 * The outbound aggregates of rules 1 and 2, which did not tell namespaces apart: those of one
 * executable to one remote endpoint in several namespaces as one, holding the view of the first
 * connection (the aggregates are in the order of their first connection) and the sum of their
 * connections. Pure; shared like the index.
 */
function outboundAcrossNamespaces(index: Indexed): ReadonlyMap<string, OutboundView> {
  const known = merged.get(index);
  if (known) return known;
  const out = new Map<string, OutboundView>();
  for (const [key, view] of index.outbound) {
    const across = key.slice(0, key.length - view.namespace!.length - 1);
    const first = out.get(across);
    if (first) first.connections += view.connections;
    else {
      const { namespace: _namespace, ...rest } = view;
      out.set(across, { ...rest });
    }
  }
  merged.set(index, out);
  return out;
}

/**
 * Rules 4: a network namespace that lost its `ip netns` name (`ip netns del` while its processes
 * run on), got one (`ip netns attach`), or changed it between the two captures is one namespace,
 * with one label on both sides, so that its listeners are not read as closed in one namespace and
 * opened in another. Its inode alone does not prove that (the kernel gives a deleted namespace's
 * inode to the next one made): within one boot of one host, it is the same namespace when it has
 * the same inode and holds a socket on both sides (a socket never changes namespace, and a socket
 * inode is not reused within a boot). The label is its name now, else the name it had. Across
 * boots (a baseline from last month) names alone identify namespaces. Returns the two indexes,
 * relabelled where needed. Pure.
 */
function sameNamespaceLabels(before: Snapshot, after: Snapshot, a: Indexed, b: Indexed): [Indexed, Indexed] {
  if (before.host.bootTime === null || before.host.bootTime !== after.host.bootTime || before.host.hostname !== after.host.hostname) return [a, b];
  const earlier = new Map(before.namespaces.map((n) => [n.inode, n]));
  const candidates = new Map<number, [was: string, now: string]>();
  for (const n of after.namespaces) {
    const was = earlier.get(n.inode);
    if (was === undefined || was.host !== n.host) continue;
    const [la, lb] = [namespaceLabel(was), namespaceLabel(n)];
    if (la !== lb) candidates.set(n.inode, [la, lb]);
  }
  if (candidates.size === 0) return [a, b];
  // A socket inode on both sides in the namespace of that inode: the namespace lived on.
  const held = new Set<number>();
  for (const s of before.sockets) if (s.inode !== 0 && candidates.has(s.netns)) held.add(s.inode);
  const lived = new Set<number>();
  for (const s of after.sockets) if (s.inode !== 0 && candidates.has(s.netns) && held.has(s.inode)) lived.add(s.netns);
  const renamed: [inode: number, was: string, now: string][] = [];
  for (const [inode, [la, lb]] of candidates) if (lived.has(inode)) renamed.push([inode, la, lb]);
  if (renamed.length === 0) return [a, b];
  // Its name now, else the name it had; but not a label that another namespace of either capture
  // holds (a name moved between namespaces): then its inode, on both sides.
  const holders = new Map<string, Set<number>>();
  for (const n of [...before.namespaces, ...after.namespaces]) {
    const label = namespaceLabel(n);
    const set = holders.get(label) ?? new Set<number>();
    holders.set(label, set.add(n.inode));
  }
  const fromA = new Map<string, string>();
  const fromB = new Map<string, string>();
  const chosen = new Set<string>();
  for (const [inode, la, lb] of renamed) {
    const unnamed = `netns:${inode}`;
    let label = lb !== unnamed ? lb : la;
    if ([...(holders.get(label) ?? [])].some((other) => other !== inode) || chosen.has(label)) label = unnamed;
    chosen.add(label);
    if (la !== label) fromA.set(la, label);
    if (lb !== label) fromB.set(lb, label);
  }
  return [relabel(a, fromA), relabel(b, fromB)];
}

/** An index with the namespaces of `labels` (old label -> new) relabelled. Pure: a new index when any changes. */
function relabel(index: Indexed, labels: ReadonlyMap<string, string>): Indexed {
  if (labels.size === 0) return index;
  const listeners = new Map<string, ListenerView>();
  for (const [key, view] of index.listeners) {
    const to = labels.get(view.namespace);
    if (to === undefined) listeners.set(key, view);
    else listeners.set(`${to}${key.slice(view.namespace.length)}`, { ...view, namespace: to });
  }
  const outbound = new Map<string, OutboundView>();
  for (const [key, view] of index.outbound) {
    const to = view.namespace === undefined ? undefined : labels.get(view.namespace);
    if (to === undefined) outbound.set(key, view);
    else outbound.set(`${key.slice(0, key.length - view.namespace!.length)}${to}`, { ...view, namespace: to });
  }
  return { listeners, outbound };
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

/**
 * The changes from `before` to `after`, in a stable order (by kind, then identity). Pure.
 * A port whose listeners went from loopback-only to a wildcard or public address is reported once
 * as `exposure-widened`, not also as the listeners that closed and opened.
 */
export function diffSnapshots(before: Snapshot, after: Snapshot, options: DiffOptions = {}): Diff {
  const rules = options.rules ?? FINDING_RULES;
  let a = exposureIndex(before, rules < 4);
  let b = exposureIndex(after, rules < 4);
  if (rules >= 4) [a, b] = sameNamespaceLabels(before, after, a, b);
  // Rules 4: the process of a listener read while it exited has no executable, user or command
  // line to compare (the kernel had released them): nothing says they changed.
  const exiting = (snap: Snapshot): Set<number> => new Set(rules >= 4 ? snap.processes.filter((p) => p.issues.some((i) => i.reason === 'process-exited')).map((p) => p.pid) : []);
  const [exitingBefore, exitingAfter] = [exiting(before), exiting(after)];
  const changes: Change[] = [];

  // Exposure: group listeners by (namespace, transport, port).
  const byPort = (listeners: ReadonlyMap<string, ListenerView>) => {
    const groups = new Map<string, ListenerView[]>();
    for (const l of listeners.values()) {
      const key = `${l.namespace}|${l.proto.replace('6', '')}|${l.port}`;
      const list = groups.get(key);
      if (list) list.push(l);
      else groups.set(key, [l]);
    }
    return groups;
  };
  const portsBefore = byPort(a.listeners);
  const portsAfter = byPort(b.listeners);
  const folded = new Set<ListenerView>();
  for (const [key, now] of portsAfter) {
    const was = portsBefore.get(key);
    if (!was || !was.every((l) => isLoopback(l.address))) continue;
    if (now.some((l) => isWildcardAddress(l.address) || !isLoopback(l.address))) {
      changes.push({ kind: 'exposure-widened', before: was, after: now });
      for (const l of [...was, ...now]) folded.add(l);
    }
  }

  for (const [key, now] of b.listeners) {
    const was = a.listeners.get(key);
    if (!was) {
      if (!folded.has(now)) changes.push({ kind: 'listener-opened', after: now });
      continue;
    }
    if (was.sockets !== now.sockets) changes.push({ kind: 'listener-count-changed', before: was, after: now });
    if (was.process && now.process && !exitingBefore.has(was.process.pid) && !exitingAfter.has(now.process.pid)) {
      const [p, q] = [was.process, now.process];
      const fields: ('executable' | 'user' | 'commandLine')[] = [];
      if (p.executable !== q.executable) fields.push('executable');
      // Rules 2: a process that became root by its effective uid (setuid) changed user too.
      if (p.user !== q.user || p.uid !== q.uid || (rules >= 2 && (p.euid ?? p.uid) !== (q.euid ?? q.uid))) fields.push('user');
      if (p.commandLine.join('\0') !== q.commandLine.join('\0')) fields.push('commandLine');
      if (fields.length > 0) changes.push({ kind: 'process-changed', before: was, after: now, fields });
      const rehashed = p.sha256 !== null && q.sha256 !== null && p.sha256 !== q.sha256;
      // Rules 2: the file replaced or deleted on disk while the same process runs on (its image,
      // and so its hash, unchanged); and a replaced binary is found beside a changed user or
      // command line, not hidden by them (a changed path is a new file, said by process-changed).
      const replacedOnDisk = rules >= 2 && p.pid === q.pid && !p.executableDeleted && q.executableDeleted;
      if ((fields.length === 0 || (rules >= 2 && !fields.includes('executable'))) && (rehashed || replacedOnDisk)) {
        changes.push({ kind: 'binary-changed', before: was, after: now });
      }
    }
  }
  for (const [key, was] of a.listeners) {
    if (!b.listeners.has(key) && !folded.has(was)) changes.push({ kind: 'listener-closed', before: was });
  }

  // Rules 3: outbound aggregates per namespace; before, across namespaces.
  const none = new Map<string, OutboundView>();
  const [outA, outB] = options.compareOutbound === false ? [none, none] : rules >= 3 ? [a.outbound, b.outbound] : [outboundAcrossNamespaces(a), outboundAcrossNamespaces(b)];
  // Known: a destination of the capture before, or one the caller knows (not copied: a long
  // watch may know a great many).
  const earlier = new Set<string>();
  for (const o of outA.values()) earlier.add(o.remoteAddress);
  const known = (address: string): boolean => earlier.has(address) || options.knownDestinations?.has(address) === true;
  const reported = new Set<string>();
  for (const [key, now] of outB) {
    if (outA.has(key)) continue;
    changes.push({ kind: 'outbound-opened', after: now });
    if (!known(now.remoteAddress) && !reported.has(now.remoteAddress) && isExternalAddress(now.remoteAddress)) {
      reported.add(now.remoteAddress);
      changes.push({ kind: 'new-external-destination', after: now });
    }
  }
  for (const [key, was] of outA) if (!outB.has(key)) changes.push({ kind: 'outbound-closed', before: was });

  // Of the sockets a process can own: TIME_WAIT sockets coming and going is no change in the quality of attribution.
  const tolerance = options.coverageTolerance ?? 0.01;
  // (Rules 1 in its first form: over every socket.)
  const ratio = options.form === 'raw-coverage' ? (c: Snapshot['coverage']) => c.ratio : attributableRatio;
  if ((options.compareCoverage ?? true) && (Math.abs(ratio(before.coverage) - ratio(after.coverage)) > tolerance || before.coverage.privileged !== after.coverage.privileged)) {
    changes.push({ kind: 'coverage-changed', before: before.coverage, after: after.coverage });
  }

  return {
    schemaVersion: DIFF_SCHEMA_VERSION,
    before: { takenAt: before.takenAt, host: before.host.hostname },
    after: { takenAt: after.takenAt, host: after.host.hostname },
    changes,
  };
}
