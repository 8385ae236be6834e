import { formatEndpoint, isExternalAddress } from '../collect/parse/address.js';
import { inboundTest } from '../model/direction.js';
import { namespaceLabel } from '../model/namespace-label.js';
import { protoName, type ProcessRecord, type Snapshot, type SocketRecord } from '../model/types.js';

/** A new listener or a new external destination, found between two consecutive captures. */
export interface Exposure {
  kind: 'new-listener' | 'new-external-destination';
  socket: SocketRecord;
  process: ProcessRecord | null;
  text: string;
}

/**
 * What `netmon --once` warns about: listeners that were not there before (not the same listener
 * with a new owner) and outbound connections to external addresses no socket of the previous
 * capture or of this one's unchanged sockets used. A connection accepted on one of the capture's
 * listening ports is a client coming in, not a destination (model/direction.ts). `opened`/`closed`
 * are the store's change sets. Pure.
 */
export function newExposures(snapshot: Pick<Snapshot, 'sockets' | 'processes' | 'listeningPortsLeftOut'> & Partial<Pick<Snapshot, 'namespaces'>>, opened: readonly SocketRecord[], closed: readonly SocketRecord[]): Exposure[] {
  const { sockets, processes } = snapshot;
  // A socket of another namespace is named with it, as findings name it: never read as one of the
  // host (a container named "host" is netns-name:host).
  const namespaces = new Map((snapshot.namespaces ?? []).map((n) => [n.inode, n]));
  const where = (s: SocketRecord): string => {
    const n = namespaces.get(s.netns);
    return n === undefined || n.host ? '' : ` in namespace ${namespaceLabel(n)}`;
  };
  const inbound = inboundTest(snapshot);
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const listenerKey = (s: SocketRecord) => `${s.netns}|${s.transport}|${s.family}|${s.localAddress}|${s.localPort}`;
  const wasListening = new Set(closed.filter((s) => s.listening).map(listenerKey));
  const openedSet = new Set(opened);
  const knownRemote = new Set<string>();
  for (const s of closed) if (!s.listening) knownRemote.add(s.remoteAddress);
  for (const s of sockets) if (!s.listening && !openedSet.has(s)) knownRemote.add(s.remoteAddress);
  const out: Exposure[] = [];
  const reported = new Set<string>();
  for (const s of opened) {
    const owner = s.owners[0];
    const proc = owner ? (byPid.get(owner.pid) ?? null) : null;
    const who = proc ? `${proc.name}, pid ${proc.pid}, user ${proc.user ?? proc.uid ?? '?'}` : 'no process visible';
    const proto = protoName(s);
    if (s.listening && !wasListening.has(listenerKey(s))) {
      out.push({ kind: 'new-listener', socket: s, process: proc, text: `new listener ${proto} ${formatEndpoint(s.localAddress, s.localPort)}${where(s)} (${who})` });
    } else if (!s.listening && !inbound(s) && !knownRemote.has(s.remoteAddress) && !reported.has(s.remoteAddress) && isExternalAddress(s.remoteAddress)) {
      reported.add(s.remoteAddress);
      out.push({ kind: 'new-external-destination', socket: s, process: proc, text: `new external destination ${formatEndpoint(s.remoteAddress, s.remotePort)}${where(s)} (${who})` });
    }
  }
  return out;
}
