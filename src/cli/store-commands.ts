import { nothingAt } from '../store/links.js';
import { ConfigError, StoreError, VerificationError } from '../errors.js';
import { clockStepWords, count, duration, gapReason, percent } from '../model/format.js';
import { isoWithOffset, looksLikeIsoTime, NO_SUCH_MOMENT, parseIsoTime } from '../model/iso-time.js';
import { storedTime } from '../outputs/time.js';
import { printable } from '../outputs/sanitize.js';
import { cellWidth, fitEnd, padCells } from '../outputs/width.js';
import { EvidenceStore, type RetentionRecord, type SnapshotQuery, type SnapshotSummary } from '../store/evidence-store.js';
import { printSnapshot, progressLine, type CliIo, type OutputFormat } from './program.js';

function openForReading(db: string): EvidenceStore {
  if (nothingAt(db)) {
    throw new StoreError('E_STORE_MISSING', `there is no evidence store at ${db}`, {
      hint: 'capture one with `netmon --once` in this directory, or point to it with --db PATH',
    });
  }
  return EvidenceStore.open(db, { readonly: true });
}

export interface SnapshotsFlags {
  db: string;
  output: 'text' | 'json';
  label?: string;
  change?: string;
  host?: string;
  from?: string;
  to?: string;
  last?: string;
}

/** The SQL-side selection of `netmon snapshots` from its flags; a bad time or count is a usage error. */
function snapshotsQuery(flags: SnapshotsFlags, now: Date): SnapshotQuery {
  const time = (flag: string, text: string | undefined): string | undefined => (text === undefined ? undefined : timeFlag(flag, text, now).toISOString());
  const query: SnapshotQuery = {};
  if (flags.label !== undefined) query.label = flags.label;
  if (flags.change !== undefined) query.change = flags.change;
  if (flags.host !== undefined) query.host = flags.host;
  const from = time('--from', flags.from);
  const to = time('--to', flags.to);
  if (from !== undefined && to !== undefined) checkTimeRange(Date.parse(from), Date.parse(to), flags);
  if (from !== undefined) query.from = from;
  if (to !== undefined) query.to = to;
  if (flags.last !== undefined) {
    if (!/^\d+$/.test(flags.last.trim()) || Number(flags.last) < 1) throw new ConfigError('E_USAGE', `--last ${JSON.stringify(flags.last)} is not a positive whole number`);
    query.newestFirst = true;
    query.limit = Number(flags.last);
  }
  return query;
}

/** One line of a plain table: cells padded to their column's width, two spaces apart. */
function tableLine(widths: number[], rightAligned: (column: number) => boolean): (cells: string[]) => string {
  // Padded by terminal cells: a host, label or ticket may hold wide characters (CJK, emoji).
  return (cells) => cells.map((c, i) => padCells(c, widths[i]!, rightAligned(i))).join('  ').trimEnd();
}

/** A plain table: a header line, then one line per row, columns as wide as their widest cell, two spaces apart. */
function columns(header: string[], rows: string[][], rightAligned: (column: number) => boolean): string {
  const line = tableLine(
    header.map((h, i) => rows.reduce((w, r) => Math.max(w, cellWidth(r[i]!)), h.length)),
    rightAligned,
  );
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export interface GapsFlags {
  db: string;
  output: 'text' | 'json';
  from?: string;
  to?: string;
}

/**
 * `netmon gaps`: what the store records about the continuity of monitoring, in chain order: gaps
 * (time without evidence, and why) and clock steps (not gaps: they shift the snapshot times).
 */
export function listGaps(flags: GapsFlags, io: CliIo): void {
  const now = new Date();
  const from = flags.from === undefined ? -Infinity : timeFlag('--from', flags.from, now).getTime();
  const to = flags.to === undefined ? Infinity : timeFlag('--to', flags.to, now).getTime();
  checkTimeRange(from, to, flags);
  const store = openForReading(flags.db);
  try {
    const { gaps, steps, snapshots, retention } = store.reading(() => ({
      gaps: store.gaps().filter((g) => Date.parse(g.to) >= from && Date.parse(g.from) <= to),
      steps: store.clockSteps().filter((c) => Date.parse(c.at) >= from && Date.parse(c.at) <= to),
      snapshots: store.countSnapshots(),
      retention: store.retention(),
    }));
    const seconds = (g: { from: string; to: string }): number => {
      const s = (Date.parse(g.to) - Date.parse(g.from)) / 1000;
      return Number.isFinite(s) && s > 0 ? s : 0;
    };
    const missing = gaps.reduce((sum, g) => sum + seconds(g), 0);
    if (flags.output === 'json') {
      const doc = {
        store: flags.db,
        gaps: gaps.map((g) => ({ seq: g.seq, from: g.from, to: g.to, seconds: seconds(g), reason: g.reason, description: gapReason(g.reason) })),
        clockSteps: steps.map((c) => ({ seq: c.seq, at: c.at, stepMs: c.stepMs })),
        retention,
      };
      io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
    } else if (gaps.length + steps.length > 0) {
      const rows = [
        ...gaps.map((g) => ({ seq: g.seq, cells: [when(g.from), when(g.to), duration(seconds(g)), printable(`${g.reason}: ${gapReason(g.reason)}`)] })),
        ...steps.map((c) => ({ seq: c.seq, cells: [when(c.at), '', '', `clock ${clockStepWords(c.stepMs)} (not a gap: snapshot times after it are shifted)`] })),
      ].sort((a, b) => a.seq - b.seq);
      io.stdout(columns(['FROM', 'TO', 'DURATION', 'WHAT'], rows.map((r) => r.cells), (i) => i === 2));
    }
    const window = flags.from !== undefined || flags.to !== undefined ? ' in the selected time' : '';
    io.stderr(
      gaps.length === 0
        ? `netmon: no gap in monitoring recorded${window} in ${flags.db} (${count(snapshots, 'snapshot')})${steps.length > 0 ? `; ${count(steps.length, 'clock step')}` : ''}\n`
        : `netmon: ${count(gaps.length, 'gap')} in monitoring recorded${window} in ${flags.db}, ${duration(missing)} without evidence in all${steps.length > 0 ? `; ${count(steps.length, 'clock step')}` : ''}\n`,
    );
    // Retention removed evidence: not a gap in monitoring, but no evidence either; say from when the store holds it.
    if (retention !== null) {
      const before = flags.from !== undefined && retention.evidenceFrom !== null && from < Date.parse(retention.evidenceFrom) ? ' (the selected time begins before it)' : '';
      io.stderr(`netmon: note: ${heldFrom(retention)}${before}; ${prunedWords(retention)}\n`);
    }
  } finally {
    store.close();
  }
}

/** Snapshots per page of `netmon snapshots`: one query and one write each. */
const SNAPSHOTS_PAGE = 2000;

/**
 * `netmon snapshots`. A store of 10-second captures holds 3 million snapshots a year, so the list
 * is never held whole: the extent of the selection (count, ids, distinct tags) sizes the table's
 * columns, then the snapshots are read and written a page at a time, waiting between pages while
 * a slow reader (a pager) has not taken the last one. Snapshots captured meanwhile are left out;
 * any a prune removes meanwhile are not listed.
 */
export async function listSnapshots(flags: SnapshotsFlags, io: CliIo): Promise<void> {
  const query = snapshotsQuery(flags, new Date());
  const store = openForReading(flags.db);
  try {
    const extent = store.snapshotsExtent(query);
    // --last picks the newest N; they are listed oldest first like the rest, from the first of them.
    const { newestFirst: _newest, limit: _limit, ...selection } = query;
    const eachPage = async (write: (page: SnapshotSummary[]) => void): Promise<void> => {
      if (extent.firstId === null || extent.lastId === null) return;
      for (let from = extent.firstId; from <= extent.lastId; ) {
        const page = store.listSnapshots({ ...selection, idFrom: from, idTo: extent.lastId, limit: SNAPSHOTS_PAGE });
        if (page.length === 0) return;
        write(page);
        await io.drain?.();
        from = page[page.length - 1]!.id + 1;
      }
    };
    if (flags.output === 'json') {
      // The text JSON.stringify({ store, snapshots }, null, 2) would make, one page at a time.
      io.stdout(`{\n  "store": ${JSON.stringify(flags.db)},\n  "snapshots": [`);
      let any = false;
      await eachPage((page) => {
        io.stdout(page.map((s) => `${any || s !== page[0] ? ',' : ''}\n    ${JSON.stringify(s, null, 2).replaceAll('\n', '\n    ')}`).join(''));
        any = true;
      });
      io.stdout(`${any ? '\n  ' : ''}]\n}\n`);
      return;
    }
    // Long tags are cut (with an ellipsis) so one cannot widen every line; JSON keeps them whole.
    const tag = (value: string | null): string => fitEnd(printable(value ?? ''), TAG_WIDTH);
    const header = ['ID', 'TAKEN AT', 'HOST', 'LABEL', 'CHANGE', 'SOCKETS', 'COVERAGE'];
    const some = extent.count > 0;
    const widest = (column: number, cells: string[]): number => cells.reduce((w, c) => Math.max(w, cellWidth(c)), header[column]!.length);
    const line = tableLine(
      [
        widest(0, [String(extent.lastId ?? '')]),
        // An ISO time with its offset is always as long; 100.0% is the widest coverage.
        widest(1, some ? [isoWithOffset(new Date(0))] : []),
        widest(2, extent.hosts.map(tag)),
        widest(3, extent.labels.map(tag)),
        widest(4, extent.changes.map(tag)),
        widest(5, [String(extent.maxSockets)]),
        widest(6, some ? [percent(1)] : []),
      ],
      (i) => i === 0 || i >= 5,
    );
    io.stdout(`${line(header)}\n`);
    await eachPage((page) => {
      const cells = (s: SnapshotSummary): string[] => [
        String(s.id),
        isoWithOffset(new Date(s.takenAt)),
        tag(s.host),
        tag(s.label),
        tag(s.change),
        String(s.sockets),
        percent(s.coverage),
      ];
      io.stdout(`${page.map((s) => line(cells(s))).join('\n')}\n`);
    });
    const filtered = Object.keys(query).length > 0;
    io.stderr(filtered ? `netmon: ${extent.count} of ${count(store.countSnapshots(), 'snapshot')} in ${flags.db} selected\n` : `netmon: ${count(extent.count, 'snapshot')} in ${flags.db}\n`);
  } finally {
    store.close();
  }
}

/** Widest host, label or change cell of the `snapshots` table. */
const TAG_WIDTH = 40;

/** `netmon show <id>` */
export async function showSnapshot(idText: string, flags: { db: string; output: OutputFormat }, io: CliIo): Promise<void> {
  const store = openForReading(flags.db);
  try {
    // An id as `netmon snapshots` lists it, or what diff's --pre/--post take: first, latest, a label, an ISO time.
    const numeric = /^\d+$/.test(idText) && Number.isSafeInteger(Number(idText));
    const selectSnapshot = numeric ? null : (await import('./diff-command.js')).selectSnapshot;
    // Selected and loaded in one read transaction: a prune in between cannot remove it.
    const { id, loaded, gap } = store.reading(() => {
      const id = selectSnapshot === null ? Number(idText) : selectSnapshot((query) => store.listSnapshots(query), idText, undefined, 'show', undefined, () => store.retention()).id;
      // A time asked for that falls in a gap in monitoring: the snapshot shown is the last before
      // it, not what ran then (a multi-day probe got it without a word).
      const at = numeric ? null : parseIsoTime(idText);
      const gap = at === null ? undefined : store.gaps().find((g) => Date.parse(g.from) <= at.getTime() && at.getTime() <= Date.parse(g.to));
      return { id, loaded: store.loadSnapshot(id), gap };
    });
    const { label, change, ...snap } = loaded;
    await printSnapshot(snap, flags.output, io);
    const tags = [label ? `label ${label}` : '', change ? `change ${change}` : ''].filter(Boolean).join(', ');
    io.stderr(`netmon: snapshot ${id}${tags ? ` (${printable(tags)})` : ''} from ${flags.db}\n`);
    if (gap !== undefined) {
      io.stderr(`netmon: note: ${printable(idText)} falls in a gap in monitoring, from ${when(gap.from)} to ${when(gap.to)} (${printable(gap.reason)}: ${gapReason(gap.reason)}): no capture ran then, and snapshot ${id} is the last one before it\n`);
    }
  } finally {
    store.close();
  }
}

/** `netmon verify-store` */
export function verifyStore(flags: { db: string; output: 'text' | 'json'; expectHead?: string[] }, io: CliIo): void {
  const heads = (flags.expectHead ?? []).map((h) => h.trim().toLowerCase());
  const bad = heads.find((h) => !/^[0-9a-f]{64}$/.test(h));
  if (bad !== undefined) {
    throw new ConfigError('E_USAGE', `--expect-head ${JSON.stringify(bad)} is not a record hash (64 hex digits)`, {
      hint: '`netmon verify-store` prints the head hash as "head hash ..."; record it somewhere the store\'s writers cannot change',
    });
  }
  const store = openForReading(flags.db);
  const progress = progressLine(io, 'verify-store');
  try {
    const result = store.verify({ onProgress: (done, total) => progress(`record ${done} of ${total}`), expectHeads: heads });
    if (flags.output === 'json') io.stdout(`${JSON.stringify({ store: flags.db, ...result, ...(heads.length > 0 ? { expectedHeads: heads } : {}) }, null, 2)}\n`);
    if (!result.ok) {
      const p = result.problem!;
      if (p.kind === 'head') {
        throw new VerificationError('E_VERIFY_HEAD', `the evidence store ${flags.db} verifies on its own, but ${p.message}`, {
          hint: 'keep this file as it is for investigation; the packs made from it (`netmon verify PACK --db`) name what they held',
        });
      }
      throw new VerificationError('E_VERIFY', `the evidence store ${flags.db} failed verification at record ${p.seq} (${p.kind}): ${p.message}`, {
        hint: 'records before it verified; keep this file as it is for investigation',
      });
    }
    if (flags.output === 'text') {
      io.stdout(`evidence store ${flags.db} verified: ${count(result.records, 'record')}, ${count(result.snapshots, 'snapshot')}, ${count(result.items, 'item')}; head hash ${result.headHash ?? '(empty store)'}\n`);
      if (heads.length > 0) io.stdout(`${heads.length === 1 ? 'the head recorded earlier is' : `the ${heads.length} heads recorded earlier are`} still in its chain\n`);
      if (result.gaps > 0) io.stderr(`netmon: note: the store records ${count(result.gaps, 'gap')} in monitoring: netmon gaps --db ${flags.db} lists them\n`);
      const retention = store.retention();
      if (retention !== null) {
        io.stderr(`netmon: note: ${heldFrom(retention)}; ${prunedWords(retention)}, and the chain begins at the anchor it left\n`);
      }
    }
  } finally {
    store.close();
  }
}

/** `netmon verify-trail` */
export async function verifyTrailCommand(flags: { db: string; csv: string; output: 'text' | 'json' }, io: CliIo): Promise<void> {
  const store = openForReading(flags.db);
  const progress = progressLine(io, 'verify-trail');
  try {
    const { verifyTrail } = await import('../capture/verify-trail.js');
    const result = await verifyTrail({ csv: flags.csv, store, onProgress: (rows, snapshots) => progress(`${count(rows, 'row')} read, snapshot block ${snapshots}`) });
    progress(null);
    if (flags.output === 'json') io.stdout(`${JSON.stringify({ trail: flags.csv, store: flags.db, ...result }, null, 2)}\n`);
    for (const note of result.notes) io.stderr(`netmon: note: ${printable(note)}\n`);
    const pruned =
      (result.pruned.snapshots > 0 ? `; ${count(result.pruned.snapshots, 'snapshot')} (${count(result.pruned.rows, 'row')}) not checked: the store no longer holds them (a prune removed them)` : '') +
      (result.afterPruned.snapshots > 0
        ? `; the change rows of ${count(result.afterPruned.snapshots, 'snapshot')} (${count(result.afterPruned.rows, 'row')}) not checked: a prune removed the snapshot before each`
        : '');
    if (!result.ok) {
      if (flags.output === 'text') {
        for (const p of result.problems) io.stdout(`${printable(p.message)}\n`);
        if (result.problemCount > result.problems.length) io.stdout(`... and ${result.problemCount - result.problems.length} more\n`);
      }
      throw new VerificationError('E_TRAIL_MISMATCH', `the CSV trail ${flags.csv} does not match the evidence store ${flags.db}: ${count(result.problemCount, 'problem')} (${count(result.rows, 'row')} of ${count(result.snapshots, 'snapshot')} read${pruned})`, {
        hint: `the store is the evidence: \`netmon verify-store --db ${flags.db}\` checks it, and \`netmon show ID\` prints a snapshot as captured; keep the trail as it is for investigation`,
      });
    }
    if (flags.output === 'text') {
      // Rows the store can no longer make (all pruned) were not verified: said so, not "verified".
      if (result.checked === 0 && result.rows > 0) {
        io.stdout(`CSV trail ${flags.csv} NOT checked against ${flags.db}: none of its ${count(result.rows, 'row')} of ${count(result.snapshots, 'snapshot')} could be made again from the store${pruned}\n`);
      } else {
        const checked = result.checked === result.snapshots ? (result.snapshots === 1 ? 'as the store holds it' : 'every one as the store holds it') : `${result.checked} of them as the store holds them`;
        io.stdout(`CSV trail ${flags.csv} verified against ${flags.db}: ${count(result.rows, 'row')} of ${count(result.snapshots, 'snapshot')}, ${checked}${pruned}\n`);
      }
    }
  } finally {
    store.close();
  }
}

/** A time as stored (a store written elsewhere may hold anything): in local time when it is one. */
function when(text: string): string {
  return storedTime(text, printable);
}

/** What the last prune removed: the words `gaps`, `verify-store` and `verify` share. */
export function prunedWords(retention: RetentionRecord): string {
  // Snapshots left that are stamped before the cutoff: the newest, which a prune always keeps, and
  // any captured after the clock was set back (a prune removes in capture order).
  const { snapshots: n, newest } = retention.keptEarlier;
  const stepped = n - (newest ? 1 : 0);
  const kept =
    n === 0
      ? ''
      : stepped === 0
        ? ' (but the newest one, which a prune always keeps)'
        : ` (but it kept ${count(n, 'snapshot')} stamped earlier: ${newest ? 'the newest, which a prune always keeps, and ' : ''}${stepped === 1 ? 'one' : String(stepped)} captured after the clock was set back, since a prune removes snapshots in the order they were captured)`;
  return `a prune (record ${retention.seq}, ${when(retention.at)}) removed the snapshots taken before ${when(retention.cutoff)}${kept}`;
}

/** From when a pruned store holds evidence. */
function heldFrom(retention: RetentionRecord): string {
  return `the store holds evidence from ${retention.evidenceFrom === null ? '(no snapshot)' : when(retention.evidenceFrom)}`;
}

/** "400d", "12h", "30m", "90s" before now, or an ISO 8601 date. Pure. */
export function parseCutoff(text: string, now: Date, options: { upperBound?: boolean } = {}): Date | null {
  const age = /^(\d+)([dhms])$/.exec(text.trim());
  if (age) {
    const unit = { d: 86400, h: 3600, m: 60, s: 1 }[age[2] as 'd' | 'h' | 'm' | 's'];
    return new Date(now.getTime() - Number(age[1]) * unit * 1000);
  }
  return parseIsoTime(text, options);
}

/**
 * The time a `--from`/`--to` flag gives (an ISO 8601 time or an age before `now`); anything else
 * is a usage error. `--to` is an upper bound: a time to the second includes that whole second,
 * so that a time netmon printed, pasted back, keeps the snapshot it was printed for.
 */
export function timeFlag(flag: string, text: string, now: Date = new Date()): Date {
  const at = parseCutoff(text, now, { upperBound: flag === '--to' });
  if (!at) {
    throw new ConfigError('E_USAGE', looksLikeIsoTime(text) ? `${flag} ${JSON.stringify(text)} has the form of a time but ${NO_SUCH_MOMENT}` : `${flag} ${JSON.stringify(text)} is neither an ISO 8601 time nor an age (24h, 7d, 30m)`);
  }
  return at;
}

/** --from after --to selects nothing: said, not answered with an empty list. */
export function checkTimeRange(from: number, to: number, texts: { from?: string; to?: string }): void {
  if (from > to) throw new ConfigError('E_USAGE', `--from ${JSON.stringify(texts.from)} is after --to ${JSON.stringify(texts.to)}: that range holds nothing`, { hint: 'give the earlier time to --from' });
}

/** Bytes as MiB with one decimal, as people read file sizes. */
function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** `netmon prune --older-than AGE` */
/** Why a prune to `cutoff` removes nothing (it removes in capture order, up to the first snapshot taken at or after the cutoff). */
function nothingToPrune(db: string, cutoff: Date): string {
  return `nothing to prune: the first snapshot in ${db} was taken at or after ${isoWithOffset(cutoff)}, or is the newest one, which is always kept (a prune removes snapshots in the order they were captured, up to the first one taken at or after its time)`;
}

/**
 * The change tickets among `removed` snapshots (EvidenceStore.taggedSnapshots), as a sentence for
 * prune (a new-user probe's prune took a ticket's pre and post captures without a word), or ''
 * when none had one.
 */
function ticketsWords(removed: readonly { change: string }[], would: boolean): string {
  const tickets = [...new Set(removed.map((s) => s.change))];
  if (tickets.length === 0) return '';
  const named = tickets.slice(0, 10).map((t) => printable(t)).join(', ');
  return `; among them the captures of ${count(tickets.length, 'change ticket')} (${named}${tickets.length > 10 ? `, ${tickets.length - 10} more` : ''}): their evidence packs ${would ? 'would' : 'will'} still verify on their own, but no longer against this store`;
}

export async function pruneStore(flags: { db: string; olderThan: string; vacuum?: boolean; dryRun?: boolean }, io: CliIo): Promise<void> {
  const cutoff = parseCutoff(flags.olderThan, new Date());
  if (!cutoff) {
    const { ConfigError } = await import('../errors.js');
    throw new ConfigError('E_USAGE', looksLikeIsoTime(flags.olderThan) ? `--older-than ${JSON.stringify(flags.olderThan)} has the form of a time but ${NO_SUCH_MOMENT}` : `--older-than ${JSON.stringify(flags.olderThan)} is neither an age (400d, 12h, 30m, 90s) nor an ISO 8601 date`);
  }
  if (nothingAt(flags.db)) throw new StoreError('E_STORE_MISSING', `there is no evidence store at ${flags.db}`, { hint: 'point to it with --db PATH' });
  if (flags.dryRun) {
    const reader = openForReading(flags.db);
    try {
      const would = reader.pruneWouldRemove(cutoff);
      io.stderr(
        would.snapshots === 0
          ? `netmon: dry run: ${nothingToPrune(flags.db, cutoff)}\n`
          : `netmon: dry run: would remove ${count(would.snapshots, 'snapshot')} from ${flags.db}, taken from ${when(would.first ?? '?')} to ${when(would.last ?? '?')}${ticketsWords(would.last === null ? [] : reader.taggedSnapshots(would.last), true)}; the store would hold evidence from ${when(would.keptFrom ?? '?')}; nothing was changed\n`,
      );
    } finally {
      reader.close();
    }
    return;
  }
  const store = EvidenceStore.open(flags.db);
  const progress = progressLine(io, 'prune');
  try {
    // The snapshots a prune may take, to name the tickets among those it took.
    const candidates = store.taggedSnapshots(cutoff.toISOString());
    const result = store.prune(cutoff, { onProgress: (done, total) => progress(`removed ${done} of ${count(total, 'snapshot')}`) });
    if (result.record === null) {
      io.stderr(`netmon: ${nothingToPrune(flags.db, cutoff)}\n`);
      return;
    }
    const recorded = result.records.length === 1 ? `record ${result.record}` : `${result.records.length} prune records, one for each step (${result.records[0]} to ${result.record})`;
    io.stderr(
      `netmon: pruned ${count(result.removedSnapshots, 'snapshot')} (${count(result.removedRecords, 'record')}) older than ${isoWithOffset(cutoff)} from ${flags.db}; ` +
        `recorded as ${recorded}; netmon verify-store checks the chain that remains${ticketsWords(candidates.filter((c) => store.recordHashOf(c.id) === null), false)}\n`,
    );
    if (flags.vacuum) {
      const { before, after, walLeft } = store.compact();
      // On disk, the file and its write-ahead log together: what the file system got back.
      const left = walLeft > 0 ? `; ${mib(walLeft)} of it is the write-ahead log, which a capture running beside this one folds in and cuts back at its next checkpoint` : '';
      io.stderr(`netmon: compacted ${flags.db} from ${mib(before)} to ${mib(after)} on disk (the file and its write-ahead log)${left}\n`);
    } else {
      const { free } = store.fileSpace();
      if (free > 0) io.stderr(`netmon: ${mib(free)} of ${flags.db} is now free space that new captures reuse; --vacuum gives it back to the file system\n`);
    }
  } finally {
    store.close();
  }
}
