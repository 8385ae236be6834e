import { formatEndpoint } from '../collect/parse/address.js';
import { count, percent } from '../model/format.js';
import { attributableRatio, protoName, STATE_LABELS, type Coverage, type Snapshot, type SocketRecord, type UnattributedReason } from '../model/types.js';
import { printable } from './sanitize.js';
import { cellWidth, fitEnd, fitMiddle, padCells } from './width.js';
import { clockTime, isoWithOffset } from '../model/iso-time.js';
import { namespaceShown } from '../model/namespace-label.js';


/** What the PROCESS column shows for a socket without an owner. */
export const REASON_LABELS: Record<UnattributedReason, string> = {
  'kernel-owned': '(kernel)',
  'permission-denied': '(no access)',
  'process-exited': '(exited)',
  'other-namespace': '(other ns)',
  'not-requested': '',
};

const REASON_WORDS: Record<UnattributedReason, string> = {
  'kernel-owned': 'kernel-owned',
  'permission-denied': 'permission denied',
  'process-exited': 'closed or exited during the scan',
  'other-namespace': 'owner in another namespace',
  'not-requested': 'attribution off',
};

export interface TextOptions {
  /**
   * Width in columns to fit the table and its lines to (a terminal's; at least 60). Default: no
   * limit, nothing shortened or broken, as the CLI writes into a pipe or a file.
   */
  width?: number;
}

interface Column {
  header: string;
  /** Flexible columns shrink, down to `min`, when the row is wider than the terminal. */
  min?: number;
  /** ... and then, only if the row still does not fit, down to `floor`. */
  floor?: number;
  align?: 'right';
  truncate?: 'end' | 'middle';
  /** Names (processes, users, namespaces): may hold wide characters, measured in terminal cells. */
  names?: boolean;
}

/** One line summarising attribution coverage. Pure. */
export function renderCoverageLine(coverage: Coverage, listening: number): string {
  // Kernel-owned sockets (TIME_WAIT) have no owner by nature: the share is of those a process can own.
  const kernel = coverage.byReason['kernel-owned'];
  const share = kernel > 0 ? `${percent(attributableRatio(coverage))} of the ${coverage.total - kernel} a process can own` : percent(coverage.ratio);
  const parts = [`${count(coverage.total, 'socket')} (${listening} listening)`, `${coverage.attributed} attributed (${share})`];
  for (const [reason, n] of Object.entries(coverage.byReason) as [UnattributedReason, number][]) {
    if (n > 0) parts.push(`${n} ${REASON_WORDS[reason]}`);
  }
  return `coverage: ${parts.join(', ')}`;
}

/**
 * The line saying how many sockets read from the tables the selection left out, or null when it
 * kept them all: by default the listeners on ephemeral ports, which a reader would otherwise never
 * learn were there. Pure.
 */
export function renderLeftOutLine(snapshot: Snapshot): string | null {
  let read = 0;
  for (const ns of snapshot.namespaces) read += ns.sockets;
  const left = read - snapshot.sockets.length;
  if (left <= 0) return null;
  const { includeEphemeral, listeningOnly, filters, ephemeralPortRange: range } = snapshot.selection;
  const filtered = Object.values(filters).some((patterns) => Array.isArray(patterns) && patterns.length > 0);
  // The TCP ones by address and port: a TCP listener is never a client's socket (an auditor probe).
  const tcp = snapshot.ephemeralTcpListeners ?? [];
  const named = tcp.slice(0, 5).map((l) => formatEndpoint(l.address, l.port));
  const tcpText = tcp.length === 0 ? '' : `, ${tcp.length === left ? (tcp.length === 1 ? 'it' : `all ${tcp.length}`) : `${tcp.length} of them`} TCP (${named.join(', ')}${tcp.length > named.length ? `, ${tcp.length - named.length} more` : ''})`;
  if (!includeEphemeral && !listeningOnly && !filtered) {
    return `left out: ${count(left, 'listener')} on ephemeral ports${range ? ` ${range[0]}-${range[1]}` : ''}${tcpText} (--include-ephemeral keeps them)`;
  }
  // Which rule dropped which socket is not recorded: the line names the rules that were in force.
  const rules = [...(filtered ? ['the filters'] : []), ...(listeningOnly ? ['--listening-only'] : []), ...(includeEphemeral ? [] : ['the ephemeral-port rule'])];
  return `left out: ${count(left, 'socket')} of ${read} read, by ${rules.length > 0 ? rules.join(' or ') : 'the selection'}`;
}

/**
 * The live view: a table like netmon.py's (time, protocol, local and remote address, state,
 * pid, process, user), fitted to the terminal width, then a coverage line. Pure.
 */
export function renderText(snapshot: Snapshot, options: TextOptions = {}): string {
  const width = Math.max(60, options.width ?? Number.POSITIVE_INFINITY);
  const takenAt = new Date(snapshot.takenAt);
  const time = clockTime(takenAt);
  // A container named `host` shows as netns-name:host, never as the host (model/namespace-label.ts).
  const nsNames = new Map(snapshot.namespaces.map((n) => [n.inode, printable(namespaceShown(n))]));
  // Mark namespaces as soon as one socket is not the host's: it must never pass for a host socket.
  const hostNs = snapshot.namespaces.find((n) => n.host)?.inode;
  const showNs = snapshot.sockets.some((s) => s.netns !== hostNs);

  const columns: Column[] = [
    { header: 'TIME' },
    { header: 'PROTO' },
    ...(showNs ? [{ header: 'NETNS', min: 6, floor: 4, truncate: 'end' as const, names: true }] : []),
    // 12 columns still show ":65535" at the end of a middle-truncated endpoint.
    { header: 'LOCAL', min: 16, floor: 12, truncate: 'middle' },
    { header: 'REMOTE', min: 16, floor: 12, truncate: 'middle' },
    { header: 'STATE' },
    { header: 'PID', align: 'right' },
    { header: 'PROCESS', min: 8, floor: 4, truncate: 'end', names: true },
    { header: 'USER', min: 6, floor: 4, truncate: 'end', names: true },
  ];
  // A process's name and user, made printable once per process rather than once per socket.
  const shown = new Map<number, [string, string]>();
  // User names by uid, as the processes of this snapshot carry them: a socket no process could be
  // found for shows its table uid by name too when some process of that user was seen.
  const userNames = new Map<number, string>();
  for (const p of snapshot.processes) {
    shown.set(p.pid, [printable(p.name), printable(p.user ?? (p.uid === null ? '?' : String(p.uid)))]);
    if (p.uid !== null && p.user !== null && !userNames.has(p.uid)) userNames.set(p.uid, printable(p.user));
  }
  const rows: string[][] = new Array(snapshot.sockets.length);
  for (let i = 0; i < rows.length; i++) rows[i] = row(snapshot.sockets[i]!, time, shown, userNames, showNs ? nsNames : undefined);
  // Names may hold wide characters (CJK, emoji): measured in terminal cells, once per distinct
  // name. Every other cell is ASCII that netmon made, measured by its length.
  const named = new Map<string, number>();
  const cells = (i: number, text: string): number => {
    if (columns[i]!.names !== true) return text.length;
    let w = named.get(text);
    if (w === undefined) named.set(text, (w = cellWidth(text)));
    return w;
  };
  const widths = columns.map((c) => c.header.length);
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) {
      const w = cells(i, r[i]!);
      if (w > widths[i]!) widths[i] = w;
    }
  }
  // Shrink the widest flexible column until the row fits: to the comfortable minimums first,
  // then, when fixed columns are wide (NETNS, CLOSE-WAIT, a "4194304+1" PID), to the floors.
  const total = () => widths.reduce((a, b) => a + b, 0) + widths.length - 1;
  const shrink = (limit: (c: Column) => number | undefined): void => {
    while (total() > width) {
      let pick = -1;
      for (let i = 0; i < columns.length; i++) {
        const min = limit(columns[i]!);
        if (min !== undefined && widths[i]! > min && (pick < 0 || widths[i]! > widths[pick]!)) pick = i;
      }
      if (pick < 0) break;
      widths[pick]!--;
    }
  };
  shrink((c) => c.min);
  shrink((c) => c.floor);
  const last = columns.length - 1;
  const format = (values: string[]): string => {
    let line = '';
    for (let i = 0; i <= last; i++) {
      const col = columns[i]!;
      const w = widths[i]!;
      const cell = values[i]!;
      if (i > 0) line += ' ';
      const text = cells(i, cell) <= w ? cell : col.truncate === 'middle' ? fitMiddle(cell, w) : fitEnd(cell, w);
      // Names are padded by terminal cells; the other cells are ASCII netmon made.
      if (col.names === true) line += padCells(text, w, col.align === 'right');
      else line += col.align === 'right' ? text.padStart(w) : text.padEnd(w);
    }
    return line.trimEnd();
  };

  const lines = [
    `netmon snapshot of ${printable(snapshot.host.hostname)} at ${isoWithOffset(takenAt)}`,
    format(columns.map((c) => c.header)),
    ...rows.map(format),
    fitLine(renderCoverageLine(snapshot.coverage, snapshot.sockets.filter((s) => s.listening).length), width),
  ];
  const leftOut = renderLeftOutLine(snapshot);
  if (leftOut !== null) lines.push(fitLine(leftOut, width));
  return `${lines.join('\n')}\n`;
}

/**
 * A line of comma-separated parts broken after commas so that each piece fits `width` (the
 * coverage line names every reason, which a narrow terminal would wrap mid-word); continuation
 * lines are indented by two spaces. A part longer than the width stays whole. Pure.
 */
export function fitLine(text: string, width: number): string {
  if (text.length <= width) return text;
  const lines: string[] = [];
  let line = '';
  for (const part of text.split(/(?<=,) /)) {
    if (line !== '' && line.length + 1 + part.length > width) {
      lines.push(line);
      line = `  ${part}`;
    } else {
      line = line === '' ? part : `${line} ${part}`;
    }
  }
  lines.push(line);
  return lines.join('\n');
}

function row(s: SocketRecord, time: string, processes: Map<number, [name: string, user: string]>, userNames: Map<number, string>, nsNames?: Map<number, string>): string[] {
  const owner = s.owners[0];
  const proc = owner ? processes.get(owner.pid) : undefined;
  const proto = protoName(s);
  const remote = s.listening ? '*:*' : formatEndpoint(s.remoteAddress, s.remotePort);
  const pid = owner ? `${owner.pid}${s.owners.length > 1 ? `+${s.owners.length - 1}` : ''}` : '-';
  const name = proc ? proc[0] : owner ? '?' : REASON_LABELS[s.unattributed ?? 'not-requested'];
  // Without a process, the socket table's uid still says who created the socket (not for kernel-owned ones).
  const user = proc ? proc[1] : s.unattributed === 'kernel-owned' ? '-' : (userNames.get(s.uid) ?? String(s.uid));
  const local = formatEndpoint(s.localAddress, s.localPort);
  const state = STATE_LABELS[s.state];
  return nsNames ? [time, proto, nsNames.get(s.netns) ?? String(s.netns), local, remote, state, pid, name, user] : [time, proto, local, remote, state, pid, name, user];
}
