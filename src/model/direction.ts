import type { ListeningPort, Snapshot, SocketRecord } from './types.js';

/**
 * How netmon tells a connection the host accepted (inbound) from one it made (outbound): a
 * connection whose local port is a listening port of its network namespace and transport was
 * accepted there. The listening ports are the whole capture's: those of the listeners in the
 * inventory, and those its selection left out (`listeningPortsLeftOut`), so that a narrowed
 * selection or the ephemeral-port rule never turns an accepted connection into an outbound one.
 * Pure.
 */
export function inboundTest(snapshot: Pick<Snapshot, 'sockets' | 'listeningPortsLeftOut'>, listeners: readonly SocketRecord[] = snapshot.sockets): (s: SocketRecord) => boolean {
  const ports = new Set<number>();
  for (const s of listeners) if (s.listening) ports.add(portKey(s.netns, s.transport, s.localPort));
  for (const p of snapshot.listeningPortsLeftOut ?? []) ports.add(portKey(p.netns, p.transport, p.port));
  return (s) => !s.listening && ports.has(portKey(s.netns, s.transport, s.localPort));
}

/** One number a port: netns inode x 2^17, + 2^16 for UDP, + the port (below 2^53 for any inode). */
function portKey(netns: number, transport: ListeningPort['transport'], port: number): number {
  return netns * 131072 + (transport === 'udp' ? 65536 : 0) + port;
}

/**
 * The listening ports of `left` (listeners a selection dropped) that a connection of `kept` is
 * on, and that no listener of `kept` has, once each, in order of namespace, transport and port:
 * what the kept connections' direction needs, and nothing more (a filter for one port on a host
 * of thousands of listeners records one port, not thousands). Pure.
 */
export function listeningPortsLeftOut(left: readonly Pick<SocketRecord, 'netns' | 'transport' | 'localPort'>[], kept: readonly SocketRecord[]): ListeningPort[] {
  if (left.length === 0) return []; // the usual capture: nothing to look up in its tens of thousands of sockets
  const have = new Set<number>();
  const used = new Set<number>();
  for (const s of kept) (s.listening ? have : used).add(portKey(s.netns, s.transport, s.localPort));
  const out = new Map<number, ListeningPort>();
  for (const s of left) {
    const key = portKey(s.netns, s.transport, s.localPort);
    if (used.has(key) && !have.has(key) && !out.has(key)) out.set(key, { netns: s.netns, transport: s.transport, port: s.localPort });
  }
  return [...out.keys()].sort((a, b) => a - b).map((k) => out.get(k)!);
}
