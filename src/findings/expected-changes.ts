import { readFileSync } from 'node:fs';
import { ConfigError, describeErrno, FilterError } from '../errors.js';
import { endpointMatches, parseEndpointFilter, type EndpointFilter } from '../filter/endpoint-filter.js';
import { compileGlob, type Glob } from '../filter/glob.js';
import { locatedProblems, parseYaml } from '../formats/yaml.js';
import { parseIsoTime } from '../model/iso-time.js';
import type { ListenerView, OutboundView } from '../diff/diff-snapshots.js';
import type { Finding } from './evaluate-findings.js';
import { closestName } from '../model/names.js';

/** What a change ticket approved. */
export type ExpectedAction = 'open' | 'close' | 'replace' | 'allow';

/** One approved change: an action on the sockets a pattern (the --filter syntax) selects. */
export interface ExpectedChange {
  /** Position in the file (0-based) and its line, to name it in reports. */
  index: number;
  line: number | null;
  action: ExpectedAction;
  pattern: string;
  filter: EndpointFilter;
  /** Optional glob on the executable path (for `replace`, the new executable). */
  path: Glob | null;
  pathPattern: string | null;
  expires: Date | null;
  justification: string | null;
  /** Who approved it (`approved_by`: the entry's, else the file's), as the ticket records it; null when not given. */
  approvedBy: string | null;
}

export interface ExpectedChanges {
  source: string;
  change: string | null;
  entries: ExpectedChange[];
  /** The text they were parsed from, as read: an evidence pack keeps it beside the findings it approved. */
  text: string;
}

/** Which finding kinds each action approves. */
const APPROVES: Record<ExpectedAction, readonly NonNullable<Finding['change']>['kind'][]> = {
  open: ['listener-opened', 'exposure-widened', 'listener-count-changed'],
  close: ['listener-closed', 'listener-count-changed'],
  replace: ['binary-changed', 'process-changed'],
  allow: ['outbound-opened', 'new-external-destination'],
};

const ACTIONS = Object.keys(APPROVES) as ExpectedAction[];

/** The keys an expected change may give beside its action. */
const ENTRY_KEYS = ['path', 'expires', 'justification', 'approved_by'];

/**
 * Parse an expected-changes file:
 *
 *   schema_version: 1
 *   change: CHG-1234
 *   approved_by: "J. Doe, CAB of 2026-11-20"   # optional; an entry may give its own
 *   expected:
 *     - open: "tcp:8443"                 # the --filter syntax
 *       justification: "new TLS endpoint"
 *       expires: 2026-12-31
 *     - replace: ":443"
 *       path: "/usr/sbin/nginx"
 *     - allow: "203.0.113.7:443"
 *     - close: ":8080"
 *
 * Every problem is reported with its line; any problem stops the load (ConfigError). Pure.
 */
/** The keys of an expected-changes file. */
const TOP_KEYS = ['schema_version', 'change', 'approved_by', 'expected'];

/** The longest approved_by netmon takes: a name and where the approval is recorded, not a document. */
const APPROVED_BY_MAX = 200;

/** What an `approved_by` must be, or null when `value` is one (a name or role, and where it was recorded). */
function approverProblem(value: unknown): string | null {
  if (typeof value !== 'string' || value.trim() === '') return `approved_by: who approved the change, as the ticket records it, such as "J. Doe, CAB of 2026-11-20" (received ${JSON.stringify(value)})`;
  if (value.length > APPROVED_BY_MAX) return `approved_by: at most ${APPROVED_BY_MAX} characters (a name or role and where the approval is recorded; the ticket holds the rest)`;
  return null;
}

export function parseExpectedChanges(text: string, source: string): ExpectedChanges {
  const doc = parseYaml(text);
  const { problems, at } = locatedProblems(doc, source);
  const root = (doc.value ?? {}) as Record<string, unknown>;
  if (problems.length === 0 && root.schema_version !== 1) at(['schema_version'], `schema_version: expected 1, received ${JSON.stringify(root.schema_version)}`);
  if (problems.length === 0 && root.change !== undefined && root.change !== null && typeof root.change !== 'string' && typeof root.change !== 'number') {
    at(['change'], `change: the change ticket these approvals belong to, such as CHG-1234 (received ${JSON.stringify(root.change)})`);
  }
  // A key of its own is a slip, never ignored: `chnage:` left out would turn the approvals of one
  // ticket into a standing list that approves in every window.
  if (problems.length === 0 && typeof root === 'object' && !Array.isArray(root)) {
    const stray = Object.keys(root).find((k) => !TOP_KEYS.includes(k));
    if (stray !== undefined) {
      const near = closestName(stray, TOP_KEYS);
      at([stray], `unknown key ${stray}${near === null ? '' : ` (did you mean ${near}?)`}: the file holds ${TOP_KEYS.join(', ')}`);
    }
  }
  const fileApproverProblem = root.approved_by === undefined ? null : approverProblem(root.approved_by);
  if (problems.length === 0 && fileApproverProblem !== null) at(['approved_by'], fileApproverProblem);
  const fileApprover = typeof root.approved_by === 'string' && fileApproverProblem === null ? root.approved_by : null;
  const list = Array.isArray(root.expected) ? root.expected : [];
  if (problems.length === 0 && !Array.isArray(root.expected)) at(['expected'], 'expected: a list of changes (open, close, replace or allow)');
  const entries: ExpectedChange[] = [];
  list.forEach((raw, index) => {
    if (typeof raw !== 'object' || raw === null) return at(['expected', index], 'an expected change is a mapping such as `open: "tcp:8443"`');
    const entry = raw as Record<string, unknown>;
    const actions = ACTIONS.filter((a) => a in entry);
    if (actions.length === 0) {
      // A misspelt action ("opne:") is the likely cause: name it, and what it may have meant.
      const unknown = Object.keys(entry).filter((k) => !ENTRY_KEYS.includes(k));
      const slip = unknown.map((k) => [k, closestName(k, ACTIONS)] as const).find(([, near]) => near !== null);
      if (slip) return at(['expected', index, slip[0]], `unknown key ${slip[0]} (did you mean ${slip[1]}?): an expected change gives one of ${ACTIONS.join(', ')}`);
    }
    if (actions.length !== 1) return at(['expected', index], `give exactly one of ${ACTIONS.join(', ')}`);
    const action = actions[0]!;
    const pattern = entry[action];
    if (typeof pattern !== 'string') return at(['expected', index, action], `${action}: a pattern in the --filter syntax, e.g. "tcp:8443"`);
    let filter: EndpointFilter;
    try {
      filter = parseEndpointFilter(pattern);
    } catch (error) {
      // Its problem, in this file's words: the user gave no --filter here.
      return at(['expected', index, action], error instanceof FilterError ? `${action}: ${JSON.stringify(pattern)} is not an endpoint pattern (the --filter syntax): ${error.problem}` : String(error));
    }
    let path: Glob | null = null;
    if (entry.path !== undefined) {
      if (typeof entry.path !== 'string') return at(['expected', index, 'path'], 'path: a glob on the executable path');
      try {
        path = compileGlob(entry.path, 'path');
      } catch (error) {
        return at(['expected', index, 'path'], (error as Error).message);
      }
    }
    let expires: Date | null = null;
    if (entry.expires !== undefined) {
      // A date alone holds through that day, in local time; a time is that moment.
      const value = entry.expires instanceof Date ? entry.expires : parseIsoTime(String(entry.expires), { dateAlone: 'end' });
      if (value === null || Number.isNaN(value.getTime())) {
        return at(['expected', index, 'expires'], `expires: ${JSON.stringify(entry.expires)} is not a date (give 2026-12-31, or a time such as 2026-12-31T18:00 or 2026-12-31T18:00:00Z)`);
      }
      expires = value;
    }
    const extra = Object.keys(entry).filter((k) => k !== action && !ENTRY_KEYS.includes(k));
    if (extra.length > 0) {
      const near = closestName(extra[0]!, ENTRY_KEYS);
      return at(['expected', index, extra[0]!], `unknown key ${extra[0]}${near === null ? '' : ` (did you mean ${near}?)`} (expected ${action}, ${ENTRY_KEYS.join(', ')})`);
    }
    const entryApproverProblem = entry.approved_by === undefined ? null : approverProblem(entry.approved_by);
    if (entryApproverProblem !== null) return at(['expected', index, 'approved_by'], entryApproverProblem);
    entries.push({
      index,
      line: doc.lineOf(['expected', index]),
      action,
      pattern,
      filter,
      path,
      pathPattern: typeof entry.path === 'string' ? entry.path : null,
      expires,
      justification: typeof entry.justification === 'string' ? entry.justification : null,
      approvedBy: typeof entry.approved_by === 'string' ? entry.approved_by : fileApprover,
    });
  });
  if (problems.length > 0) throw new ConfigError('E_EXPECT', `the expected changes are not valid:\n  ${problems.join('\n  ')}`);
  const change = typeof root.change === 'string' || typeof root.change === 'number' ? String(root.change) : null;
  return { source, change, entries, text };
}

/**
 * Refuse expected changes written for another change than the window compared: their approvals
 * would go into the findings and a signed pack of a change they were never given for. `window` is
 * the window's ticket (the --change given, else the snapshots' own), null when it has none. A file
 * without `change:` approves in any window. Pure; throws ConfigError.
 */
export function checkExpectedFor(expected: ExpectedChanges, window: string | null): void {
  if (expected.change === null || expected.change === window) return;
  const compared = window === null ? 'the snapshots compared carry no change ticket' : `the window compared is change ${window}`;
  throw new ConfigError('E_EXPECT', `the expected changes in ${expected.source} are for change ${expected.change}, but ${compared}: their approvals do not apply to it`, {
    hint: window === null ? `compare the snapshots of ${expected.change} (--change ${expected.change}), or remove the change: line from ${expected.source} if its approvals hold for any window` : `give the expected changes of ${window}, or remove the change: line from ${expected.source} if its approvals hold for any window`,
  });
}

/** The largest expected-changes file netmon reads: a ticket's approvals are a few lines, and a pack carries the file. */
export const EXPECTED_CHANGES_MAX_BYTES = 1 << 20;

export function loadExpectedChanges(path: string): ExpectedChanges {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ENOENT';
    throw new ConfigError('E_EXPECT', `cannot read the expected changes: ${describeErrno(error, 'reading', path)}`, {
      // What such a file looks like, for one not written yet (a new-user probe).
      ...(missing ? { hint: 'write the approved changes of the ticket there first: templates/expected-changes.example.yaml in netmon shows the format (docs/findings.md, "Expected changes")' } : {}),
    });
  }
  return parseExpectedChanges(expectedChangesText(bytes, path), path);
}

/**
 * The text of an expected-changes file: at most 1 MiB of UTF-8, kept exactly (an evidence pack
 * carries it byte for byte). Throws ConfigError naming `source` otherwise.
 */
export function expectedChangesText(bytes: Uint8Array, source: string): string {
  if (bytes.length > EXPECTED_CHANGES_MAX_BYTES) {
    throw new ConfigError('E_EXPECT', `the expected changes in ${source} are ${bytes.length} bytes, more than the ${EXPECTED_CHANGES_MAX_BYTES} netmon reads: a ticket's approvals are a few lines`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new ConfigError('E_EXPECT', `the expected changes in ${source} are not UTF-8 text`, { hint: 'save the file as UTF-8' });
  }
}

function listenerMatches(e: ExpectedChange, l: ListenerView): boolean {
  const transport = l.proto.replace('6', '');
  if (e.filter.transport !== undefined && e.filter.transport !== transport) return false;
  if (e.filter.family !== undefined && (e.filter.family === 'ipv6') !== l.proto.endsWith('6')) return false;
  if (!endpointMatches(e.filter, l.address, l.port)) return false;
  return e.path === null || (l.process?.executable != null && e.path.test(l.process.executable));
}

function outboundMatches(e: ExpectedChange, o: OutboundView): boolean {
  const transport = o.proto.replace('6', '');
  if (e.filter.transport !== undefined && e.filter.transport !== transport) return false;
  if (e.filter.family !== undefined && (e.filter.family === 'ipv6') !== o.proto.endsWith('6')) return false;
  if (!endpointMatches(e.filter, o.remoteAddress, o.remotePort)) return false;
  return e.path === null || (o.executable !== null && e.path.test(o.executable));
}

/** Does an expected change cover this finding? Pure. */
export function covers(e: ExpectedChange, f: Finding): boolean {
  const c = f.change;
  if (!c || !APPROVES[e.action].includes(c.kind)) return false;
  switch (c.kind) {
    case 'listener-opened':
      return listenerMatches(e, c.after);
    case 'listener-closed':
      return listenerMatches(e, c.before);
    case 'binary-changed':
    case 'process-changed':
    case 'listener-count-changed':
      return listenerMatches(e, c.after);
    case 'exposure-widened':
      return c.after.every((l) => listenerMatches(e, l));
    case 'outbound-opened':
    case 'new-external-destination':
      return outboundMatches(e, c.after);
    default:
      return false;
  }
}

/** The approval of each finding, and the expected changes no finding matched. */
export interface Classification {
  /** Finding id -> the expected change that approves it. */
  approved: Map<string, ExpectedChange>;
  /** Expected changes that did not happen (or whose expiry has passed: those approve nothing). */
  missing: ExpectedChange[];
  expired: ExpectedChange[];
  /** Finding id -> the expired expected change that would have approved it (findings no live entry covers). */
  expiredMatch: Map<string, ExpectedChange>;
}

/** Class every finding approved (an unexpired expected change covers it) or unexpected. Pure. */
export function classifyFindings(findings: readonly Finding[], expected: ExpectedChanges | null, now: Date): Classification {
  const approved = new Map<string, ExpectedChange>();
  const used = new Set<number>();
  const entries = expected?.entries ?? [];
  const expired = entries.filter((e) => e.expires !== null && e.expires.getTime() < now.getTime());
  const live = entries.filter((e) => !expired.includes(e));
  const expiredMatch = new Map<string, ExpectedChange>();
  for (const f of findings) {
    const e = live.find((x) => covers(x, f));
    if (e) {
      approved.set(f.id, e);
      used.add(e.index);
      continue;
    }
    const late = expired.find((x) => covers(x, f));
    if (late) expiredMatch.set(f.id, late);
  }
  const missing = live.filter((e) => !used.has(e.index));
  return { approved, missing, expired, expiredMatch };
}
