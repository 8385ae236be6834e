import { SNAPSHOT_SCHEMA_VERSION } from './types.js';

/**
 * What is wrong with a snapshot document read from a file (a baseline written by `netmon init
 * --baseline`, which anyone who can write the file may have edited), as one phrase; null when it
 * has every part `check` and `watch` compare, with the right types. Only the parts the comparison
 * reads are checked: a field left out or of another type would otherwise surface as a crash in
 * the middle of a check, or as findings made of `undefined`. Pure.
 */
export function snapshotDocumentProblem(doc: unknown): string | null {
  if (!isObject(doc)) return `it holds ${doc === null ? 'null' : Array.isArray(doc) ? 'a JSON array' : `a JSON ${typeof doc}`}, not a snapshot object`;
  if (doc.schemaVersion !== SNAPSHOT_SCHEMA_VERSION) {
    return doc.schemaVersion === undefined ? 'it has no schemaVersion' : `it has snapshot schema ${JSON.stringify(doc.schemaVersion)}, and this netmon reads schema ${SNAPSHOT_SCHEMA_VERSION}`;
  }
  if (typeof doc.takenAt !== 'string' || Number.isNaN(Date.parse(doc.takenAt))) return 'its takenAt is not a time';
  if (!isObject(doc.host) || typeof doc.host.hostname !== 'string') return 'its host has no hostname';
  if (!isObject(doc.selection) || !isObject(doc.selection.filters) || typeof doc.selection.listeningOnly !== 'boolean' || !Array.isArray(doc.selection.families)) return 'its selection is not one netmon writes';
  if (!isObject(doc.coverage) || typeof doc.coverage.privileged !== 'boolean') return 'its coverage is not one netmon writes';
  if (!Array.isArray(doc.warnings)) return 'its warnings are not a list';
  for (const [list, check] of [
    ['sockets', socketProblem],
    ['processes', processProblem],
    ['namespaces', namespaceProblem],
  ] as const) {
    const items = doc[list];
    if (!Array.isArray(items)) return `its ${list} are not a list`;
    for (let i = 0; i < items.length; i++) {
      const problem = check(items[i]);
      if (problem !== null) return `${list}[${i}] ${problem}`;
    }
  }
  if (doc.listeningPortsLeftOut !== undefined) {
    if (!Array.isArray(doc.listeningPortsLeftOut)) return 'its listeningPortsLeftOut are not a list';
    const bad = doc.listeningPortsLeftOut.findIndex((p) => !isObject(p) || !isCount(p.netns) || (p.transport !== 'tcp' && p.transport !== 'udp') || !isPort(p.port));
    if (bad >= 0) return `listeningPortsLeftOut[${bad}] is not a { netns, transport, port } of a listening port`;
  }
  if (doc.capturedBy !== undefined) {
    const by = doc.capturedBy;
    if (!isObject(by) || !isCount(by.uid) || (by.user !== null && typeof by.user !== 'string') || !(by.privilege === null || by.privilege === 'root' || by.privilege === 'capabilities')) return 'its capturedBy is not a { uid, user, privilege } netmon writes';
  }
  if (doc.ephemeralTcpListeners !== undefined) {
    if (!Array.isArray(doc.ephemeralTcpListeners)) return 'its ephemeralTcpListeners are not a list';
    const bad = doc.ephemeralTcpListeners.findIndex((l) => !isObject(l) || !isCount(l.netns) || (l.family !== 'ipv4' && l.family !== 'ipv6') || typeof l.address !== 'string' || !isPort(l.port));
    if (bad >= 0) return `ephemeralTcpListeners[${bad}] is not a { netns, family, address, port } of a listener`;
  }
  const pids = new Set((doc.processes as { pid: number }[]).map((p) => p.pid));
  const sockets = doc.sockets as { owners: { pid: number }[] }[];
  for (let i = 0; i < sockets.length; i++) {
    const lost = sockets[i]!.owners.find((o) => !pids.has(o.pid));
    if (lost) return `sockets[${i}] is owned by pid ${lost.pid}, which is not among its processes`;
  }
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isPort = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

function socketProblem(s: unknown): string | null {
  if (!isObject(s)) return 'is not an object';
  if (s.transport !== 'tcp' && s.transport !== 'udp') return 'has no transport (tcp or udp)';
  if (s.family !== 'ipv4' && s.family !== 'ipv6') return 'has no family (ipv4 or ipv6)';
  if (typeof s.localAddress !== 'string' || typeof s.remoteAddress !== 'string') return 'lacks an address';
  if (!isPort(s.localPort) || !isPort(s.remotePort)) return 'lacks a port (0 to 65535)';
  if (typeof s.state !== 'string') return 'has no state';
  if (typeof s.listening !== 'boolean') return 'does not say whether it listens';
  if (!isCount(s.netns)) return 'has no network namespace';
  if (!Array.isArray(s.owners) || !s.owners.every((o) => isObject(o) && isCount(o.pid) && isCount(o.fd))) return 'has owners that are not {pid, fd} pairs';
  return null;
}

function processProblem(p: unknown): string | null {
  if (!isObject(p)) return 'is not an object';
  if (!isCount(p.pid)) return 'has no pid';
  if (typeof p.name !== 'string') return 'has no name';
  if (p.executable !== null && typeof p.executable !== 'string') return 'has an executable that is not a path or null';
  if (!Array.isArray(p.commandLine) || !p.commandLine.every((a) => typeof a === 'string')) return 'has a command line that is not a list of strings';
  if (p.user !== null && typeof p.user !== 'string') return 'has a user that is not a name or null';
  if (p.uid !== null && !isCount(p.uid)) return 'has a uid that is not a number or null';
  if (p.hashes !== undefined && !(isObject(p.hashes) && typeof p.hashes.sha256 === 'string')) return 'has hashes without a SHA-256';
  return null;
}

function namespaceProblem(n: unknown): string | null {
  if (!isObject(n)) return 'is not an object';
  if (!isCount(n.inode)) return 'has no inode';
  if (typeof n.host !== 'boolean') return 'does not say whether it is the host namespace';
  if (n.name !== null && n.name !== undefined && typeof n.name !== 'string') return 'has a name that is not a string';
  return null;
}
