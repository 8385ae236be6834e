import type { FilterSpec, Snapshot, SnapshotSelection } from '../model/types.js';
import { filterSnapshot, type Narrowing } from './filter-snapshot.js';

/** Filters that need process information to be applied. */
const PROCESS_FILTERS = ['process', 'path', 'user'] as const;

/** Two snapshots narrowed to what both selected, and what was narrowed, in words. */
export interface CommonSelection {
  before: Snapshot;
  after: Snapshot;
  notes: string[];
}

/** How notes name the two sides of a window (check and watch name theirs). */
const WINDOW_SIDES = { before: 'the pre snapshot', after: 'the post snapshot' } as const;

/** `--filter :22 --process 'py*'`: a selection's filters as the flags that give them. */
export function filterFlags(filters: FilterSpec): string {
  const words: string[] = [];
  for (const [key, values] of Object.entries(filters) as [keyof FilterSpec, string[] | undefined][]) {
    for (const v of values ?? []) words.push(`--${key} ${/^[\w:./\-[\]]+$/.test(v) ? v : JSON.stringify(v)}`);
  }
  return words.join(' ');
}

/** The filters of a spec that hold a pattern (an empty list selects as no list does). */
function givenFilters(spec: FilterSpec): FilterSpec {
  return Object.fromEntries(Object.entries(spec).filter(([, v]) => Array.isArray(v) && v.length > 0)) as FilterSpec;
}

/** What `selection` leaves out that `other` keeps, as a narrowing of `other`'s snapshot, with its words. */
function narrowing(selection: SnapshotSelection, other: SnapshotSelection): { spec: Narrowing; words: string[]; dropped: string[] } | null {
  const spec: Narrowing = {};
  const words: string[] = [];
  const dropped: string[] = [];
  if (selection.listeningOnly && !other.listeningOnly) {
    spec.listeningOnly = true;
    words.push('--listening-only');
  }
  if (other.families.some((f) => !selection.families.includes(f))) {
    spec.families = other.families.filter((f) => selection.families.includes(f));
    words.push(selection.families.length === 1 ? `--only-${selection.families[0]}` : `the families ${selection.families.join(', ')}`);
  }
  if (!selection.includeEphemeral && other.includeEphemeral && selection.ephemeralPortRange !== null) {
    spec.leaveOutListeners = {
      range: selection.ephemeralPortRange,
      ...(selection.ephemeralRangeNetns === undefined ? {} : { netns: selection.ephemeralRangeNetns }),
      ...(selection.ephemeralPortsReserved ? { reserved: new Set(selection.ephemeralPortsReserved) } : {}),
    };
    words.push(`listeners on ephemeral ports (${selection.ephemeralPortRange.join('-')}) left out`);
  }
  const filters = givenFilters(selection.filters);
  if (Object.keys(filters).length > 0 && JSON.stringify(filters) !== JSON.stringify(givenFilters(other.filters))) {
    // Process filters cannot be applied to a snapshot without process information.
    if (!other.processInfo) {
      for (const key of PROCESS_FILTERS) {
        if (filters[key] !== undefined) {
          dropped.push(`--${key}`);
          delete filters[key];
        }
      }
    }
    if (Object.keys(filters).length > 0) {
      spec.filters = filters;
      words.push(filterFlags(filters));
    }
  }
  return words.length === 0 && dropped.length === 0 ? null : { spec, words, dropped };
}

/**
 * Two snapshots narrowed to what both of them selected, so that a socket one side's selection
 * left out never comes out as opened or closed: each side is narrowed by the other's selection
 * where that one is narrower (listeners only, fewer families, listeners on ephemeral ports left
 * out, filters; each side was already narrowed by its own). Every narrowing is said in a note.
 * Pure.
 */
export function commonSelection(
  before: Snapshot,
  after: Snapshot,
  names: { before: string; after: string } = WINDOW_SIDES,
  remoteHost?: (address: string) => string | undefined,
): CommonSelection {
  const notes: string[] = [];
  let b = before;
  let a = after;
  const byAfter = narrowing(after.selection, before.selection);
  if (byAfter !== null) {
    b = filterSnapshot(before, { ...byAfter.spec, ...(remoteHost ? { remoteHost } : {}) });
    if (byAfter.words.length > 0) notes.push(`${names.after} was taken with ${byAfter.words.join(' and ')}: ${names.before} is compared only in the sockets that selection keeps`);
    if (byAfter.dropped.length > 0) notes.push(`${names.after} was taken with ${byAfter.dropped.join(' and ')}, and ${names.before} without process information: those filters could not narrow it, and its other processes' sockets are compared too`);
  }
  const byBefore = narrowing(before.selection, after.selection);
  if (byBefore !== null) {
    a = filterSnapshot(after, { ...byBefore.spec, ...(remoteHost ? { remoteHost } : {}) });
    if (byBefore.words.length > 0) notes.push(`${names.before} was taken with ${byBefore.words.join(' and ')}: ${names.after} is compared only in the sockets that selection keeps`);
    if (byBefore.dropped.length > 0) notes.push(`${names.before} was taken with ${byBefore.dropped.join(' and ')}, and ${names.after} without process information: those filters could not narrow it, and its other processes' sockets are compared too`);
  }
  return { before: b, after: a, notes };
}

/** What two snapshots' attribution lets a comparison say, and what it cannot, in words. */
export interface AttributionComparison {
  /** Outbound connections are compared (they are told apart by the process that holds them). */
  outbound: boolean;
  /** Attribution coverage is compared. */
  coverage: boolean;
  notes: string[];
}

/**
 * Whether both snapshots attributed sockets to processes and hashed executables, and what the
 * comparison leaves out when one did not. A side taken with `--no-process-info` holds no owner:
 * against it every outbound connection of the other side would read as opened or ended, the
 * coverage as collapsed, while a replaced binary or a changed owner cannot be seen at all. A side
 * taken with `--no-hash-binaries` cannot show a replaced binary. Pure.
 */
export function attributionComparison(before: Snapshot, after: Snapshot, names: { before: string; after: string } = WINDOW_SIDES): AttributionComparison {
  const [b, a] = [before.selection, after.selection];
  const notes: string[] = [];
  if (b.processInfo !== a.processInfo) {
    const without = b.processInfo ? names.after : names.before;
    notes.push(`${without} was taken without process information (--no-process-info): outbound connections (told apart by the process that holds them), a replaced binary, a changed owner and the attribution coverage are not compared`);
    return { outbound: false, coverage: false, notes };
  }
  if (b.processInfo && b.hashBinaries !== a.hashBinaries) {
    notes.push(`${b.hashBinaries ? names.after : names.before} was taken without executable hashes (--no-hash-binaries): a replaced binary cannot be found`);
  }
  return { outbound: true, coverage: true, notes };
}
