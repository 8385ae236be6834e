import { inboundTest } from '../model/direction.js';
import { namespaceLabel } from '../model/namespace-label.js';
import type { ProcessRecord, Snapshot, SocketRecord } from '../model/types.js';

/** ECS release the documents follow. */
export const ECS_VERSION = '9.0.0';

/**
 * Fields netmon writes that ECS 9 does not define, each following ECS naming and typed keyword.
 * `process.hash.blake3`: ECS hash fields are named after the algorithm; BLAKE3 is not (yet) among them.
 */
export const ECS_EXTENSION_FIELDS: Readonly<Record<string, 'keyword'>> = {
  'process.hash.blake3': 'keyword',
};

/** An ECS document under construction. */
export type EcsDocument = Record<string, unknown>;

const IANA_NUMBERS = { tcp: '6', udp: '17' } as const;

/** Lone surrogates only (the u flag keeps a valid pair whole). */
const LONE_SURROGATE = /[\ud800-\udfff]/gu;

function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd');
}

/** Set a dotted path on a nested object; null and undefined are left out. */
export function putField(doc: EcsDocument, path: string, value: unknown): void {
  if (value === undefined || value === null) return;
  // A byte that was not valid UTF-8 (a lone surrogate, see decodeExact) as U+FFFD: ECS documents
  // go to tools that may refuse a lone surrogate; the exact bytes are in the snapshot JSON.
  value = wellFormedValue(value);
  const parts = path.split('.');
  let node = doc;
  for (const key of parts.slice(0, -1)) node = (node[key] ??= {}) as EcsDocument;
  node[parts[parts.length - 1]!] = value;
}

/** A value with every string in it (in arrays and objects too, such as `labels`) made well-formed. */
function wellFormedValue(value: unknown): unknown {
  if (typeof value === 'string') return wellFormed(value);
  if (Array.isArray(value)) return value.map(wellFormedValue);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k), wellFormedValue(v)]));
  return value;
}

/**
 * The start of every netmon ECS document: time, ECS version, and an event in the network category
 * of the given kind and types.
 */
export function newNetworkEvent(timestamp: string, kind: 'state' | 'event' | 'alert', type: string[]): EcsDocument {
  const doc: EcsDocument = {};
  putField(doc, '@timestamp', timestamp);
  putField(doc, 'ecs.version', ECS_VERSION);
  putField(doc, 'event.kind', kind);
  putField(doc, 'event.category', ['network']);
  putField(doc, 'event.type', type);
  return doc;
}

/** One NDJSON line; U+2028/U+2029 are valid in JSON but split lines for some readers: escaped. */
export function ndjsonLine(doc: unknown): string {
  return JSON.stringify(doc).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

const put = putField;

function processFields(doc: EcsDocument, proc: ProcessRecord): void {
  put(doc, 'process.pid', proc.pid);
  put(doc, 'process.name', proc.name);
  put(doc, 'process.parent.pid', proc.ppid);
  put(doc, 'process.executable', proc.executable);
  if (proc.commandLine.length > 0) {
    put(doc, 'process.args', proc.commandLine);
    put(doc, 'process.args_count', proc.commandLine.length);
    put(doc, 'process.command_line', proc.commandLine.join(' '));
  }
  put(doc, 'process.start', proc.startTime);
  // ECS: process.user is the effective user, process.real_user the real one.
  if (proc.euid !== null) {
    put(doc, 'process.user.id', String(proc.euid));
    if (proc.euid === proc.uid) put(doc, 'process.user.name', proc.user);
  }
  if (proc.uid !== null) {
    put(doc, 'process.real_user.id', String(proc.uid));
    put(doc, 'process.real_user.name', proc.user);
  }
  // The gid /proc/<pid>/status gives first is the real one (ECS process.group is the effective).
  if (proc.gid !== null) put(doc, 'process.real_group.id', String(proc.gid));
  put(doc, 'process.real_group.name', proc.group);
  if (proc.hashes) {
    put(doc, 'process.hash.sha256', proc.hashes.sha256);
    put(doc, 'process.hash.blake3', proc.hashes.blake3);
  }
  put(doc, 'container.id', proc.containerId);
}

/** Sockets that opened or closed since the last capture of a session, rather than its inventory. */
export interface EcsChange {
  change: 'opened' | 'closed';
  /** The capture's whole inventory: its listeners tell an inbound connection from an outbound one (model/direction.ts). */
  inventory: readonly SocketRecord[];
}

/**
 * NDJSON: one ECS document per socket, as inventory state (`event.kind: state`). A listener is
 * the `server`; a connection on a listening port of the capture is inbound (`source` the remote
 * peer), any other connection outbound (`source` the local end): see model/direction.ts. With `change`, the sockets are
 * those that opened or closed since the last capture (`event.kind: event`, `event.type` with
 * `start` or `end`). Pure.
 */
export function renderEcs(snapshot: Snapshot, change?: EcsChange): string {
  const processes = new Map(snapshot.processes.map((p) => [p.pid, p]));
  // The namespace as findings name it: host, its ip netns name, or netns:<inode>.
  const namespaces = new Map(snapshot.namespaces.map((n) => [n.inode, namespaceLabel(n)]));
  const isInbound = inboundTest(snapshot, change?.inventory ?? snapshot.sockets);

  const lines: string[] = [];
  for (const s of snapshot.sockets) {
    const phase = change === undefined ? 'info' : change.change === 'opened' ? 'start' : 'end';
    const doc = newNetworkEvent(snapshot.takenAt, change === undefined ? 'state' : 'event', s.listening ? [phase] : ['connection', phase]);
    if (change !== undefined) put(doc, 'event.action', change.change === 'opened' ? 'socket-opened' : 'socket-closed');
    put(doc, 'event.module', 'netmon');
    put(doc, 'event.dataset', 'netmon.socket');
    put(doc, 'observer.product', 'netmon');
    put(doc, 'observer.version', snapshot.tool.version);
    put(doc, 'host.hostname', snapshot.host.hostname);
    put(doc, 'host.name', snapshot.host.hostname);
    put(doc, 'host.os.type', snapshot.host.platform);
    put(doc, 'host.os.kernel', snapshot.host.kernel);
    put(doc, 'network.transport', s.transport);
    // ECS network.type is the network-layer protocol: an IPv4 peer of a dual-stack IPv6 socket
    // sends IPv4 packets (and netmon shows its addresses as IPv4), so it follows the address.
    put(doc, 'network.type', s.localAddress.includes(':') ? 'ipv6' : 'ipv4');
    put(doc, 'network.iana_number', IANA_NUMBERS[s.transport]);
    const ips = [s.localAddress];
    if (s.listening) {
      put(doc, 'server.ip', s.localAddress);
      put(doc, 'server.port', s.localPort);
    } else {
      ips.push(s.remoteAddress);
      const inbound = isInbound(s);
      const local = { ip: s.localAddress, port: s.localPort };
      const remote = { ip: s.remoteAddress, port: s.remotePort };
      const [src, dst] = inbound ? [remote, local] : [local, remote];
      put(doc, 'network.direction', inbound ? 'ingress' : 'egress');
      put(doc, 'source.ip', src.ip);
      put(doc, 'source.port', src.port);
      put(doc, 'destination.ip', dst.ip);
      put(doc, 'destination.port', dst.port);
      put(doc, 'client.ip', src.ip);
      put(doc, 'client.port', src.port);
      put(doc, 'server.ip', dst.ip);
      put(doc, 'server.port', dst.port);
    }
    put(doc, 'related.ip', [...new Set(ips)]);
    const proc = s.owners.map((o) => processes.get(o.pid)).find((p) => p !== undefined);
    if (proc) {
      processFields(doc, proc);
      if (proc.user) put(doc, 'related.user', [proc.user]);
      if (proc.hashes) put(doc, 'related.hash', [proc.hashes.sha256, proc.hashes.blake3]);
    }
    const labels: Record<string, string> = {
      netmon_socket_state: s.state,
      netmon_netns: String(s.netns),
      netmon_namespace: namespaces.get(s.netns) ?? `netns:${s.netns}`,
      netmon_socket_inode: String(s.inode),
      netmon_socket_uid: String(s.uid),
    };
    if (s.owners.length > 1) labels.netmon_owner_pids = s.owners.map((o) => o.pid).join(',');
    if (s.unattributed) labels.netmon_unattributed = s.unattributed;
    put(doc, 'labels', labels);
    lines.push(ndjsonLine(doc));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
