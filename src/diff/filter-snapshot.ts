import type { FilterSpec, Snapshot } from '../model/types.js';
import { compileFilters } from '../filter/compile-filters.js';
import { computeCoverage } from '../snapshot/create-snapshot.js';

/**
 * A snapshot narrowed to the sockets a selection keeps (filters, listening-only, families), with
 * only their processes: so that a stored baseline and a filtered current inventory compare like
 * with like. Pure.
 */
export function filterSnapshot(snapshot: Snapshot, selection: { filters?: FilterSpec; listeningOnly?: boolean; families?: ('ipv4' | 'ipv6')[] }): Snapshot {
  const filters = compileFilters(selection.filters);
  const processes = new Map(snapshot.processes.map((p) => [p.pid, p]));
  const sockets = snapshot.sockets.filter(
    (s) =>
      (!selection.listeningOnly || s.listening) &&
      (!selection.families || selection.families.includes(s.family)) &&
      filters.socket(s) &&
      (!filters.needsProcess || s.owners.some((o) => filters.process(processes.get(o.pid)))),
  );
  const pids = new Set(sockets.flatMap((s) => s.owners.map((o) => o.pid)));
  const c = snapshot.coverage;
  const coverage = computeCoverage(sockets, { ...c, fullPrivilege: 'root' });
  return { ...snapshot, sockets, processes: snapshot.processes.filter((p) => pids.has(p.pid)), coverage: { ...coverage, privileged: c.privileged } };
}
