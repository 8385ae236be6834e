import { listeningPortsLeftOut } from '../model/direction.js';
import { leftOutAsEphemeral, type EphemeralRule } from '../model/ports.js';
import type { FilterSpec, Snapshot, SocketRecord } from '../model/types.js';
import { compileFilters } from '../filter/compile-filters.js';
import { computeCoverage } from '../snapshot/create-snapshot.js';

/** What filterSnapshot narrows a snapshot by. */
export interface Narrowing {
  filters?: FilterSpec;
  listeningOnly?: boolean;
  families?: ('ipv4' | 'ipv6')[];
  /** Leave out the listeners another capture's ephemeral-port rule left out. */
  leaveOutListeners?: EphemeralRule;
  /** Host names of remote addresses, for --match's REMOTE-HOST (as the capture read them). */
  remoteHost?: (address: string) => string | undefined;
}

/**
 * A snapshot narrowed to the sockets a selection keeps (filters, listening-only, families,
 * ephemeral listeners), with only their processes: so that two captures of different selections
 * compare like with like. Pure.
 */
export function filterSnapshot(snapshot: Snapshot, selection: Narrowing): Snapshot {
  const rule = selection.leaveOutListeners;
  const ruled = (s: SocketRecord): boolean => rule !== undefined && s.listening && leftOutAsEphemeral(rule, s.localPort, s.netns);
  const filters = compileFilters(selection.filters);
  const processes = new Map(snapshot.processes.map((p) => [p.pid, p]));
  const dropped: SocketRecord[] = [];
  const sockets = snapshot.sockets.filter((s) => {
    const keep =
      (!selection.listeningOnly || s.listening) &&
      (!selection.families || selection.families.includes(s.family)) &&
      !ruled(s) &&
      filters.socket(s, selection.remoteHost) &&
      (!filters.needsProcess || s.owners.some((o) => filters.process(processes.get(o.pid))));
    if (!keep && s.listening) dropped.push(s);
    return keep;
  });
  // The listeners dropped here still tell an accepted connection from an outbound one.
  const leftOut = listeningPortsLeftOut([...(snapshot.listeningPortsLeftOut ?? []).map((p) => ({ netns: p.netns, transport: p.transport, localPort: p.port })), ...dropped], sockets);
  const pids = new Set(sockets.flatMap((s) => s.owners.map((o) => o.pid)));
  const c = snapshot.coverage;
  const coverage = computeCoverage(sockets, { ...c, fullPrivilege: 'root' });
  const { listeningPortsLeftOut: _before, ...rest } = snapshot;
  return {
    ...rest,
    sockets,
    processes: snapshot.processes.filter((p) => pids.has(p.pid)),
    coverage: { ...coverage, privileged: c.privileged },
    ...(leftOut.length > 0 ? { listeningPortsLeftOut: leftOut } : {}),
  };
}
