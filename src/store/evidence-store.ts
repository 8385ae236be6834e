import { chmodSync, copyFileSync, existsSync, lstatSync, mkdtempSync, readlinkSync, realpathSync, rmSync, statSync, type Stats } from 'node:fs';
import { hostname, tmpdir, uptime } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { HashCache } from '../enrich/hash-executables.js';
import { identityKey } from '../enrich/hash-executables.js';
import { ConfigError, FormatError, StoreBusyError, StoreError, VerificationError } from '../errors.js';
import type { ExecutableHashes, ExecutableIdentity, NamespaceRecord, ProcessRecord, Snapshot, SocketRecord } from '../model/types.js';
import { count } from '../model/format.js';
import { EVIDENCE_FILE_MODE, SNAPSHOT_SCHEMA_VERSION } from '../model/types.js';
import { compareSockets } from '../snapshot/create-snapshot.js';
import { changesDigest, GENESIS_HASH, itemDigest, itemSetDigest, joinedItemDigest, recordHash, setDigest, SortedDigests } from './chain.js';
import { clearCreationLeftovers, createNew, creationName, hasSchema, indexNames, isCorruption, isSqliteError, mayOpen, openDatabase, openMemory, publishNew, RowsBySeq, sideFileOfAnotherUser, sleepSync, storeError, tableColumns, type Database, type Statement } from './sqlite.js';
import { isArrayBody, parseSocketBody, socketBody } from './socket-body.js';
import { SnapshotWalk } from './snapshot-walk.js';
import { untrustedLink } from './links.js';

/** Schema version this build writes (PRAGMA user_version). */
export const STORE_SCHEMA_VERSION = 7;
/** Bytes a writer's write-ahead log keeps after a checkpoint that empties it (SQLite's journal_size_limit). */
const JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024;

/** The oldest store schema this netmon reads without migrating it. */
const OLDEST_READABLE_SCHEMA = 1;

/** Numbered migrations: MIGRATIONS[n - 1] brings a store from version n - 1 to n. */
const MIGRATIONS: string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
   CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL,
                         prev_hash TEXT NOT NULL, hash TEXT NOT NULL) STRICT;
   CREATE TABLE snapshots (id INTEGER PRIMARY KEY, taken_at TEXT NOT NULL, host TEXT NOT NULL, label TEXT,
                           change_ticket TEXT, sockets INTEGER NOT NULL, attributed INTEGER NOT NULL,
                           checkpoint INTEGER NOT NULL, session INTEGER NOT NULL) STRICT;
   CREATE INDEX snapshots_by_change ON snapshots (change_ticket, label);
   CREATE TABLE items (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, digest TEXT NOT NULL UNIQUE, body TEXT NOT NULL) STRICT;
   CREATE TABLE events (snapshot_id INTEGER NOT NULL, item_id INTEGER NOT NULL, op INTEGER NOT NULL,
                        PRIMARY KEY (snapshot_id, item_id)) STRICT, WITHOUT ROWID;
   CREATE TABLE checkpoint_items (snapshot_id INTEGER NOT NULL, item_id INTEGER NOT NULL,
                                  PRIMARY KEY (snapshot_id, item_id)) STRICT, WITHOUT ROWID;
   CREATE TABLE hash_cache (identity TEXT PRIMARY KEY, blake3 TEXT NOT NULL, sha256 TEXT NOT NULL,
                            size INTEGER NOT NULL, seen TEXT NOT NULL) STRICT;
   CREATE TABLE writer (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL,
                        since TEXT NOT NULL, session INTEGER NOT NULL) STRICT;`,
  // 2: snapshot records of layout 2 carry each namespace's per-capture counts (processes,
  // sockets), which namespace items no longer do (see SnapshotBody). No table changes: the
  // version tells an older netmon, which would misread such records, to refuse the store.
  `-- record layout 2 (no table changes)`,
  // 3: socket items written as arrays (socket-body.ts), not objects. No table changes; old items
  // stay as they are, and the version tells an older netmon, which cannot read arrays, to refuse.
  `-- socket items as arrays (no table changes)`,
  // 4: snapshot records of layout 3 carry `changesDigest`, which verify-store checks instead of
  // the set digest of every changed snapshot. No table changes; the version tells an older netmon,
  // which would write layout 2 records after layout 3 ones, to refuse the store.
  `-- record layout 3 (no table changes)`,
  // 5: events and checkpoint rows indexed by item, so that a prune finds which of the items it
  // removed rows for are still used by a kept snapshot with a lookup each, rather than by reading
  // every row of the store (which held the write lock for as long as the store is large).
  `CREATE INDEX events_by_item ON events (item_id);
   CREATE INDEX checkpoint_items_by_item ON checkpoint_items (item_id);`,
  // 6: the records that are not snapshots (sessions, gaps, clock steps, prunes: a few among
  // millions of ticks) indexed by kind, so that \`gaps\`, the retention note and a session's
  // interval read those, not the whole chain. Queries repeat the index's condition
  // (RARE_RECORDS), which is how SQLite knows it may use a partial index.
  `CREATE INDEX records_by_kind ON records (kind) WHERE kind <> 'snapshot';`,
  // 7: each executable hash the cache keeps names the snapshot record that committed it (its
  // body lists the hashes taken during that capture, \`hashed\`), and is used only when that record
  // still holds it and verifies where it stands. A row written outside netmon (a trojan given a
  // trusted binary's hashes) is then not believed: the executable is hashed again. Rows of older
  // stores name no record and are hashed again once.
  `ALTER TABLE hash_cache ADD COLUMN seq INTEGER;`,
];

/** Tables and columns of a store of each schema, made once per schema from its migrations. */
const SHAPES = new Map<number, { tables: Map<string, Set<string>>; indexes: Set<string> }>();

function expectedShape(version: number): { tables: Map<string, Set<string>>; indexes: Set<string> } {
  let shape = SHAPES.get(version);
  if (shape === undefined) {
    const db = openMemory();
    try {
      for (let v = 0; v < version; v++) db.exec(MIGRATIONS[v]!);
      shape = { tables: tableColumns(db), indexes: indexNames(db) };
    } finally {
      db.close();
    }
    SHAPES.set(version, shape);
  }
  return shape;
}

/** The condition of the records_by_kind index (schema 6), for queries of records other than snapshots. */
const RARE_RECORDS = "kind <> 'snapshot'";

type ItemKind = 'socket' | 'process' | 'namespace' | 'context';

/** What verify-store reads in step with the chain, by seq: which records have checkpoint rows, which have events, and the snapshots index. */
interface ChainRows {
  bases: RowsBySeq;
  events: RowsBySeq;
  index: RowsBySeq;
}

/** The parts of a snapshot that rarely change between ticks, stored once as a 'context' item. */
type SnapshotContext = Pick<Snapshot, 'tool' | 'host' | 'selection' | 'warnings' | 'listeningPortsLeftOut' | 'ephemeralTcpListeners' | 'capturedBy'>;

/**
 * What a snapshot record's body holds (the chain commits to it). Layout 1 (store schema 1) kept
 * each namespace's process and socket counts in its namespace item, so the item changed whenever
 * a process started or stopped anywhere (kernel workers do, all the time) and every capture
 * recorded a namespace change. Layout 2 keeps the counts here, in `namespaceCounts`, and the items
 * hold what identifies a namespace (inode, name, host, whether and why not it was read). Layout 3
 * adds `changesDigest` to a snapshot stored as changes. Readers accept all three.
 */
interface SnapshotBody {
  schemaVersion: 1 | 2 | 3;
  snapshot: Omit<Snapshot, 'sockets' | 'processes' | 'namespaces' | keyof SnapshotContext>;
  label: string | null;
  change: string | null;
  counts: { sockets: number; processes: number; namespaces: number; attributed: number };
  /** Layout 2: [inode, processes, sockets] of every namespace, in snapshot order. */
  namespaceCounts?: [number, number, number][];
  setDigest: string;
  /**
   * Layout 3, a snapshot stored as changes (not a checkpoint): changesDigest() of the items that
   * entered and left the set since the snapshot before it (none, for an unchanged one). The chain
   * commits every snapshot's changes, so verify-store follows a set at the cost of its changes;
   * the full set digest is checked at checkpoints and at the first snapshot kept by a prune.
   */
  changesDigest?: string;
  checkpoint: boolean;
  session: number;
  /**
   * Store schema 7: the executables hashed during this capture, [identity, blake3, sha256, size]
   * each (identityKey() of the file), which the hash cache may use later because this record
   * commits them. Absent when none was.
   */
  hashed?: [string, string, string, number][];
}

/** One line of `netmon snapshots`. */
export interface SnapshotSummary {
  id: number;
  takenAt: string;
  host: string;
  label: string | null;
  change: string | null;
  sockets: number;
  attributed: number;
  /** Sockets no process owns by nature (TIME_WAIT and other closing states). */
  kernelOwned: number;
  /**
   * Attribution coverage of the sockets a process can own: attributed / (sockets - kernelOwned),
   * 1 when there are none (as `attributableRatio`: a busy host's TIME_WAIT sockets say nothing
   * about how well its capture was attributed).
   */
  coverage: number;
  checkpoint: boolean;
}

/**
 * At a session's start: the clock reading this much before the store's last snapshot is taken for
 * a clock set back, and a clock that moved this much more or less than the time since boot since
 * the store's last write in this boot, for a clock set (less: two hosts' clocks, or rounding).
 */
const CLOCK_BEHIND_MIN_MS = 1000;

/**
 * Which snapshots `listSnapshots()` returns; every field narrows. The store picks them in SQL, so a
 * long `--interval` store (8,640 snapshots a day at 10 s) is not read whole to find two of them.
 */

export interface SnapshotQuery {
  id?: number;
  /** Only snapshots with a smaller id. */
  idBelow?: number;
  label?: string;
  change?: string;
  /** Taken on this host (its hostname as the snapshot records it). */
  host?: string;
  /** Taken at or after this time (ISO 8601 UTC with milliseconds, as Date#toISOString writes). */
  from?: string;
  /** Taken at or before this time (same form). */
  to?: string;
  /** Only snapshots with this id or a greater one. */
  idFrom?: number;
  /** Only snapshots with this id or a smaller one. */
  idTo?: number;
  /** Newest first (by id); oldest first without it. */
  newestFirst?: boolean;
  /**
   * Ordered by the time each was taken, then by id: what a time selector means ("the last
   * snapshot taken at or before"), which differs from the chain's order after a clock set back.
   */
  byTime?: boolean;
  /** At most this many. */
  limit?: number;
}

/**
 * What a listing of a query's snapshots needs to know before it reads them a page at a time: how
 * many there are, the first and last id, the most sockets one holds, and each distinct host,
 * label and change ticket (to size the columns of a table without holding its rows).
 */
export interface SnapshotsExtent {
  count: number;
  /** Smallest and largest id; null for none. */
  firstId: number | null;
  lastId: number | null;
  maxSockets: number;
  hosts: string[];
  labels: (string | null)[];
  changes: (string | null)[];
}

/** Most executables' hashes one store object remembers (see hashMemo). */
const HASH_MEMO_LIMIT = 10_000;

/**
 * The SQL that picks a query's snapshots (every column of the snapshots table), in the query's
 * order, with its parameters: the one place a SnapshotQuery becomes SQL.
 */
function snapshotSelection(query: SnapshotQuery): { sql: string; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const add = (clause: string, value: string | number | undefined): void => {
    if (value === undefined) return;
    where.push(clause);
    params.push(value);
  };
  add('id = ?', query.id);
  add('id < ?', query.idBelow);
  add('id >= ?', query.idFrom);
  add('id <= ?', query.idTo);
  add('label = ?', query.label);
  add('change_ticket = ?', query.change);
  add('host = ?', query.host);
  // taken_at is Date#toISOString() text, whose order is the order of time.
  add('taken_at >= ?', query.from);
  add('taken_at <= ?', query.to);
  const sql =
    'SELECT * FROM snapshots' +
    (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY ${query.byTime === true ? `taken_at${query.newestFirst ? ' DESC' : ''}, ` : ''}id${query.newestFirst ? ' DESC' : ''}` +
    (query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`);
  return { sql, params };
}

export interface AppendOptions {
  label?: string | null;
  change?: string | null;
  /**
   * Keep this snapshot's sockets in memory (copied), so that the next append through this store
   * object compares sockets by identity instead of serialising each again. Default true; false
   * when nothing follows (`netmon --once`), which saves a copy of every socket.
   */
  retain?: boolean;
  /**
   * A meta entry committed in the snapshot's own transaction, its value made from the new
   * snapshot's id. The capture marks the CSV rows it is about to write this way, so that the next
   * capture knows of a run that stored a snapshot and stopped before its rows were written.
   */
  marker?: { key: string; value: (id: number) => string };
}

export interface AppendResult {
  id: number;
  /** The hash of the snapshot's record: the store's head after the append. */
  recordHash: string;
  /** Items that entered and left the set compared with the previous snapshot. */
  added: number;
  removed: number;
  checkpoint: boolean;
  /** Socket records that entered (opened or changed) and left (closed or changed). */
  opened: SocketRecord[];
  closed: SocketRecord[];
}

/** What a prune removed, and the `prune` record of each of its steps (the last one in `record`). */
export interface PruneResult {
  removedSnapshots: number;
  removedRecords: number;
  /** The last step's `prune` record, or null when nothing was removed. */
  record: number | null;
  records: number[];
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  snapshots: number;
  items: number;
  /** Gap records among the records checked (`netmon gaps` lists them). */
  gaps: number;
  /** Hash of the last record (what a report records). */
  headHash: string | null;
  /** The first problem, naming the record. */
  problem?: { seq: number; kind: string; message: string };
}

export interface GapRecord {
  seq: number;
  from: string;
  to: string;
  reason: string;
}

/**
 * The system clock was set forward (stepMs > 0) or back during a capture session, by about
 * stepMs, noticed at `at` (the clock's time after the step). Not a gap: the session ran; the
 * snapshot times after it are shifted by that much.
 */
export interface ClockStepRecord {
  seq: number;
  at: string;
  stepMs: number;
}

/** What retention removed: the last prune, and the time of the oldest snapshot the store still holds. */
export interface RetentionRecord {
  /** The last `prune` record. */
  seq: number;
  /** When it ran. */
  at: string;
  /** It removed the snapshots taken before this time. */
  cutoff: string;
  /** The oldest snapshot kept: evidence from before it is gone. */
  evidenceFrom: string | null;
  /**
   * Snapshots kept although stamped before the cutoff: the newest (a prune always keeps it), and
   * any captured after a clock was set back (a prune removes in capture order). `newest`: the
   * newest is one of them.
   */
  keptEarlier: { snapshots: number; newest: boolean };
  /** The records up to this seq were removed (the prune anchor). */
  removedThrough: number;
}

export interface StoreOpenOptions {
  readonly?: boolean;
  /** Write a full item set every this many snapshots (default 1000). */
  checkpointEvery?: number;
  /**
   * Write a full item set, too, once the events since the last one outnumber the set this many
   * times (default 4): a reader replays every event since the checkpoint, so on a host of heavy
   * churn a count of snapshots alone let a read cost grow with the churn, not with the set.
   */
  checkpointChurn?: number;
  now?: () => Date;
  /**
   * Milliseconds since boot, counting time suspended (os.uptime by default). A writer keeps it
   * beside the wall clock at each write (meta `clock_mark`), so that the next session in the same
   * boot can tell a clock set meanwhile from time that passed. Not read when `now` is given
   * without it: a test's clock and the real time since boot would disagree.
   */
  uptime?: () => number;
  /**
   * For a writer: keep a write-ahead log (`wal`, the default for a new store) or a rollback
   * journal (`rollback`: for a store on a file system hosts share, where SQLite's WAL is unsafe).
   * Unset, a store that has a rollback journal keeps it, and any other store uses the WAL.
   */
  journal?: 'wal' | 'rollback';
  /**
   * How long one statement waits for a lock another connection holds before it fails as busy
   * (SQLite's busy timeout; default 5 s). A caller that retries until its own deadline passes
   * less when that deadline is shorter (`--lock-wait 0` fails at once).
   */
  busyTimeoutMs?: number;
}

/** Waits (ms) between tries to open a store while another user's SQLite sets up its -shm or -wal file: about 0.6 s in all. */
const SIDE_FILE_WAITS_MS = [5, 10, 20, 40, 80, 160, 320];
/** How many of those waits an open takes whoever owns the side files now. */
const SIDE_FILE_FIRST_WAITS = 3;

/** How long a writer with a rollback journal waits for readers to finish before a commit fails. */
const ROLLBACK_BUSY_TIMEOUT_MS = 30_000;

/**
 * Rows a prune step removes, about (events, checkpoint rows, and PRUNE_SNAPSHOT_ROWS for each
 * snapshot): with the first kept snapshot's base written again, a step of a store of 28,000
 * sockets took 0.35 to 0.65 s here, so a capture waiting for it stays far from SQLite's busy
 * timeout.
 */
const PRUNE_STEP_ROWS = 100_000;
/** The page cache of a prune, in SQLite's negative KiB form: 32 MiB. */
const PRUNE_CACHE_KIB = -32_768;
/** What one removed snapshot counts for in a step's rows besides its events: its record and index row. */
const PRUNE_SNAPSHOT_ROWS = 20;

interface SetState {
  /** The last snapshot written. */
  snapshotId: number;
  /** digest -> item id of its items; null until needed (loading it reads every item's digest). */
  ids: Map<string, number> | null;
  /** Its set digest. */
  digest: string;
  /** Its digests sorted, once a changed tick of this session needed them: the next changed tick merges its changes in. */
  sorted: SortedDigests | null;
  sinceCheckpoint: number;
  /** Event rows written since the last checkpoint (what a reader of the next snapshot replays). */
  eventsSinceCheckpoint: number;
}

/** Events since a checkpoint below which churn never forces one (a small set's churn is cheap to replay). */
const CHURN_CHECKPOINT_MIN_EVENTS = 20_000;

/** Writer locks held by store objects of this process ("<real path>#<session>"): the pid alone
 * cannot tell a second writer object in this process from a lock left by one never closed. */
const heldLocks = new Set<string>();

/** The boot part of a process identity ("<boot id>/<start>"). */
const bootPart = (identity: string): string => identity.slice(0, identity.lastIndexOf('/'));

/**
 * The system clock set since the store's previous capture, found when a session begins: by how
 * much (> 0: forward), whether the time since boot measured it (same boot) or only a clock that
 * reads before the last snapshot told it, and whether it reads before the last snapshot.
 */
export interface SessionClockStep {
  stepMs: number;
  measured: boolean;
  behind: boolean;
}

/** A writer's last sign of life (meta `writer_alive`): the session holding the lock, and when. */
interface WriterAlive {
  session: number;
  at: string;
}

/**
 * The wall clock and the time since boot at a writer's last write, in its boot (meta
 * `clock_mark`, kept after the session ends): the next session measures a clock set meanwhile.
 */
interface ClockMark {
  boot: string;
  /** The writer's PID namespace (a container's /proc/uptime may count from its own start), when known. */
  pidns?: string;
  at: string;
  /** Milliseconds since boot. */
  up: number;
}

/**
 * How long a lock taken on another host stays in force after its writer's last sign of life,
 * beyond twice its session's interval. Ticks that run long and clocks a minute apart fit in it.
 */
const REMOTE_LOCK_SLACK_MS = 120_000;

/** The lock holder's identity, as the writer recorded it with the lock (meta `writer_identity`). */
interface WriterIdentity {
  session: number;
  pid: number;
  identity: string;
  /** The PID namespace its pid is in (PlatformCollector#pidNamespace); absent in records of netmon before it. */
  pidns?: string;
}

/** Whether a process of that id runs in this PID namespace (one we may not signal runs too). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** A snapshot's items, parsed and sorted as the snapshot has them; shared, read-only. */
interface ItemSet {
  digest: string;
  /** Its items were checked against the digest (loadSnapshot's checkItems). */
  checked: boolean;
  sockets: SocketRecord[];
  processes: ProcessRecord[];
  namespaces: NamespaceRecord[];
  context: SnapshotContext;
}

/**
 * A socket of the current set and its item digest. Its stored body is not kept across appends
 * (see `bodies` in appendSnapshot): tens of thousands of bodies kept alive through an append were
 * most of its garbage-collection cost (every young-generation collection copied them), and an
 * unchanged capture never needs them.
 */
interface StoredSocket {
  socket: SocketRecord;
  digest: string;
}

/**
 * The same string, stored as one block. A string built by concatenation is a tree of its pieces
 * until something reads it; reading a character makes V8 copy it into one block, so that the
 * pieces die young instead of being kept (and copied by every garbage collection) for as long
 * as the string is.
 */
function flatten(text: string): string {
  text.charCodeAt(0);
  return text;
}

/**
 * Sockets that entered and left the set with the same record changed only their stored form
 * (the first capture after the migration to schema 3 stores every socket again, as an array): for
 * the caller they neither opened nor closed. Equal records in one form are one item, so only a
 * change of form pairs them.
 */
function sameAsStoredBefore(opened: SocketRecord[], closed: SocketRecord[]): { opened: SocketRecord[]; closed: SocketRecord[] } {
  if (opened.length === 0 || closed.length === 0) return { opened, closed };
  const closedBodies = closed.map(socketBody);
  const before = new Set(closedBodies);
  const kept = new Set<string>();
  const reallyOpened = opened.filter((s) => {
    const body = socketBody(s);
    if (!before.has(body)) return true;
    kept.add(body);
    return false;
  });
  if (kept.size === 0) return { opened, closed };
  return { opened: reallyOpened, closed: closed.filter((_s, k) => !kept.has(closedBodies[k]!)) };
}

/** What a namespace item stores (layout 2): the record without its per-capture counts. */
function namespaceIdentity(n: NamespaceRecord): Omit<NamespaceRecord, 'processes' | 'sockets'> {
  const { processes: _processes, sockets: _sockets, ...identity } = n;
  return identity;
}

/** Identity of a socket between ticks: its inode (unique across namespaces); inode 0 sockets
 * (TIME_WAIT) have none, their endpoints stand in. */
function socketKey(s: SocketRecord): number | string {
  return s.inode !== 0 ? s.inode : `${s.netns}:${s.transport}:${s.localAddress}:${s.localPort}:${s.remoteAddress}:${s.remotePort}:${s.state}`;
}

/** The fields sameSocket compares, copied (fields spelled out: much faster than spread). */
function copySocket(s: SocketRecord): SocketRecord {
  const copy: SocketRecord = {
    transport: s.transport,
    family: s.family,
    localAddress: s.localAddress,
    localPort: s.localPort,
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    state: s.state,
    uid: s.uid,
    inode: s.inode,
    netns: s.netns,
    listening: s.listening,
    owners: s.owners.length === 0 ? [] : s.owners.map((o) => ({ pid: o.pid, fd: o.fd })),
  };
  if (s.unattributed !== undefined) copy.unattributed = s.unattributed;
  return copy;
}

/** Field by field: the same socket record (what socketBody, which writes these fields, would show as equal). */
function sameSocket(a: SocketRecord, b: SocketRecord): boolean {
  if (
    a.transport !== b.transport ||
    a.family !== b.family ||
    a.localAddress !== b.localAddress ||
    a.localPort !== b.localPort ||
    a.remoteAddress !== b.remoteAddress ||
    a.remotePort !== b.remotePort ||
    a.state !== b.state ||
    a.uid !== b.uid ||
    a.inode !== b.inode ||
    a.netns !== b.netns ||
    a.listening !== b.listening ||
    a.unattributed !== b.unattributed ||
    a.owners.length !== b.owners.length
  ) {
    return false;
  }
  for (let i = 0; i < a.owners.length; i++) {
    if (a.owners[i]!.pid !== b.owners[i]!.pid || a.owners[i]!.fd !== b.owners[i]!.fd) return false;
  }
  return true;
}

/**
 * The SQLite evidence store: an append-only, hash-chained record of snapshots that stores
 * changes rather than repeating unchanged inventories. See docs/evidence-store.md.
 */
export class EvidenceStore {
  readonly path: string;
  private readonly db: Database;
  private readonly now: () => Date;
  /** The time since boot in milliseconds (see StoreOpenOptions.uptime), or null when not comparable with `now`. */
  private readonly uptime: (() => number) | null;
  /** This writer's boot (the boot id of its process identity) and PID namespace, for `clock_mark`; null when the boot is unknown. */
  private boot: { id: string; pidns: string | null } | null = null;
  private readonly checkpointEvery: number;
  private readonly checkpointChurn: number;
  private readonly readonly: boolean;
  private readonly journal: 'wal' | 'rollback' | undefined;
  private session: number | null = null;
  private lockKey: string | null = null;
  /** The file a writer opened (device and inode), to notice it moved, deleted or replaced under it. */
  private opened: { dev: number; ino: number } | null = null;
  private state: SetState | null = null;
  /** body -> digest of items seen in this process, so unchanged items are not hashed again. */
  private readonly digests = new Map<string, string>();
  /** Sockets of the last snapshot by identity, with their stored body and digest: at 10^4 to 10^5
   * sockets per tick, comparing fields is much cheaper than serialising every socket again. */
  private sockets = new Map<number | string, StoredSocket>();
  private statements = new Map<string, Statement>();
  /** Items parsed by loadSnapshot, by id (read-only views share them: callers must not mutate). */
  private readonly parsedItems = new Map<number, { kind: string; value: unknown; digest: string }>();
  /** The item set loadSnapshot assembled last, by set digest. */
  private lastItemSet: ItemSet | null = null;
  /** Executable hashes taken since the last append, which the next snapshot record commits (schema 7). */
  private readonly pendingHashes = new Map<string, ExecutableHashes>();
  /** Snapshot records checked for the hashes they commit: seq -> "identity blake3 sha256 size" entries, null when the record does not verify. */
  private readonly vouchingRecords = new Map<number, Set<string> | null>();

  private constructor(path: string, db: Database, options: StoreOpenOptions) {
    this.path = path;
    this.db = db;
    this.now = options.now ?? (() => new Date());
    this.uptime = options.uptime ?? (options.now === undefined ? () => uptime() * 1000 : null);
    this.checkpointEvery = options.checkpointEvery ?? 1000;
    this.checkpointChurn = options.checkpointChurn ?? 4;
    this.readonly = options.readonly ?? false;
    this.journal = options.journal;
  }

  /**
   * Open a store, creating and migrating it when writable. A new store appears whole: it is made
   * under a temporary name beside `path` and linked into place, so no reader ever sees it half made.
   * An open that fails while another user's SQLite sets up the store's -shm or -wal file (see
   * sideFileOfAnotherUser) is tried again for a moment before the failure counts.
   */
  static open(path: string, options: StoreOpenOptions = {}): EvidenceStore {
    if (!options.readonly) EvidenceStore.createWhole(path, options);
    /** Whether the last look found the side file another user's: one handed over since gets another try. */
    let sawSideFile = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return EvidenceStore.openOnce(path, options);
      } catch (error) {
        const code = String((error as { cause?: { code?: unknown } }).cause?.code ?? '');
        if ((code !== 'SQLITE_CANTOPEN' && !code.startsWith('SQLITE_READONLY')) || !mayOpen(path, options.readonly ?? false)) throw error;
        // The first waits always (SQLite hands the file over within microseconds, so it may
        // already be the owner's when looked at); the longer ones only while the file is another's,
        // or was at the last look (handed over between the failed open and this look).
        const side = sideFileOfAnotherUser(path);
        const handedOver = sawSideFile && side === null;
        sawSideFile = side !== null;
        if (attempt >= SIDE_FILE_FIRST_WAITS && side === null && !handedOver) throw error;
        const wait = SIDE_FILE_WAITS_MS[attempt];
        if (wait === undefined) {
          if (side === null) throw error;
          throw new StoreError('E_STORE_SIDE_FILE', `${options.readonly ? 'cannot read the evidence store' : 'cannot open the evidence store for writing'}: ${side.file} belongs to uid ${side.uid}, not to the owner of ${path}, and SQLite cannot open it as this user`, {
            hint: `SQLite running as uid ${side.uid} makes such a file and hands it to the store's owner at once; one that stays was left behind: give it to the store's owner (chown --reference=${path} ${side.file})`,
            cause: (error as { cause?: unknown }).cause,
          });
        }
        sleepSync(wait);
      }
    }
  }

  /**
   * Make a new store at `path` when there is none: created and migrated under a temporary name in
   * the same directory, its write-ahead log folded into the file and the file closed, then linked
   * to `path` unless another netmon made one there first. A full disk is reported against `path`
   * and leaves nothing behind; any other failure (a file system without hard links, a directory
   * this user cannot write) leaves `path` to the open that follows, which creates the store in
   * place and reports what goes wrong against `path`. A link at `path` to a file that does not
   * exist yet makes the store where it points. Leftovers of creations that were killed are removed.
   */
  private static createWhole(path: string, options: StoreOpenOptions, links = 0): void {
    let existing: Stats | null = null;
    try {
      existing = lstatSync(path);
    } catch {
      // none yet
    }
    if (existing !== null) {
      // Only a link its directory's owner could have placed: a planted one is refused by the open that follows.
      if (existing.isSymbolicLink() && links < 8 && !existsSync(path) && !untrustedLink(path)) {
        let target: string | null = null;
        try {
          target = resolve(dirname(path), readlinkSync(path));
        } catch {
          // unreadable: the open in place says what it is
        }
        if (target !== null) EvidenceStore.createWhole(target, options, links + 1);
        return;
      }
      if (existing.isFile()) clearCreationLeftovers(path, existing);
      return;
    }
    clearCreationLeftovers(path, null);
    const temp = creationName(path);
    try {
      createNew(temp, EVIDENCE_FILE_MODE);
    } catch {
      return;
    }
    try {
      const store = EvidenceStore.tryOpen(temp, { ...options, readonly: false }, false);
      try {
        // Fold the write-ahead log into the file here, where a failure (a full disk) is seen: a
        // close that cannot do it keeps the commits in the -wal, which is not published.
        const [result] = store.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
        if (result !== undefined && result.busy !== 0) throw new Error('the new store could not be checkpointed');
      } finally {
        store.close();
      }
      if ((statSync(`${temp}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0) throw new Error('the new store kept commits in its write-ahead log');
      publishNew(temp, path);
    } catch (error) {
      const cause = error instanceof StoreError && error.cause !== undefined ? error.cause : error;
      const code = String((cause as { code?: unknown }).code ?? '');
      if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'ENOSPC' || code === 'EDQUOT') {
        throw storeError(cause, path, 'cannot create the evidence store (nothing was written)');
      }
      // a file system without hard links, and the like: the open in place says what it is
    } finally {
      for (const file of [temp, `${temp}-wal`, `${temp}-shm`, `${temp}-journal`]) rmSync(file, { force: true });
    }
  }

  private static openOnce(path: string, options: StoreOpenOptions): EvidenceStore {
    try {
      return EvidenceStore.tryOpen(path, options, options.readonly ?? false);
    } catch (error) {
      // After a crash, the WAL index may need recovery, which a read-only connection cannot do.
      // Reading then goes through a read-write connection; netmon still writes nothing through it.
      const code = String((error as { cause?: { code?: unknown } }).cause?.code ?? '');
      if (!options.readonly) throw error;
      let failure = error;
      let why: 'unwritable' | 'full' = 'unwritable';
      if (code.startsWith('SQLITE_READONLY')) {
        try {
          return EvidenceStore.tryOpen(path, options, false);
        } catch (second) {
          failure = second;
        }
      } else if (code === 'SQLITE_IOERR_SHMSIZE') {
        // The index beside the store could not grow (a full file system, a quota): read a copy.
        why = 'full';
      } else if (code !== 'SQLITE_CANTOPEN') {
        throw error;
      }
      const copy = EvidenceStore.openCopy(path, options, why);
      if (copy === null) throw failure;
      return copy;
    }
  }

  /**
   * Read a WAL store that neither this process nor SQLite may write beside: a directory this user
   * cannot write (an archive, read-only media, another user's directory), with no `-shm` file.
   * SQLite needs that file to read a WAL store and cannot create it. With no `-shm`, no process
   * has the store open, so it cannot change while a private copy (0700 directory; with the
   * `-wal` a crashed writer left, whose commits are part of the store) is made and read instead.
   * Null when that is not the case. The copy is turned into a rollback-journal database (its WAL
   * folded in) and deleted as soon as it is open: the open connection reads it through its file
   * descriptor, and a reader killed at any moment leaves no copy of the evidence behind.
   */
  private static openCopy(path: string, options: StoreOpenOptions, why: 'unwritable' | 'full'): EvidenceStore | null {
    // A full file system: SQLite could not extend the index to its first 32 KiB, which every
    // connection reading or writing the store maps, so no connection has it open (the few bytes
    // of -shm that failed attempt left say nothing else). Else a -shm file may be in use.
    if (why === 'unwritable' && existsSync(`${path}-shm`)) return null;
    let scratch: string;
    let copy: string;
    try {
      scratch = mkdtempSync(join(tmpdir(), 'netmon-read-'));
    } catch {
      return null;
    }
    try {
      try {
        copy = join(scratch, basename(path));
        copyFileSync(path, copy);
        if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
        // A copy keeps the original's mode, read-only on read-only media: the copy is ours to change.
        for (const file of [copy, `${copy}-wal`]) if (existsSync(file)) chmodSync(file, 0o600);
      } catch (error) {
        // No room for it: say so, since the reason SQLite gives is not what the reader can fix.
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC' || code === 'EDQUOT') {
          let size = '';
          try {
            size = ` (${(statSync(path).size / 2 ** 20).toFixed(1)} MiB)`;
          } catch {
            // the size is only a help
          }
          const place =
            why === 'full'
              ? `the file system holding it is full, so SQLite cannot make the index it reads the store through (a -shm file beside it)`
              : `its directory ${dirname(path)} is not writable, so SQLite cannot read the store in place (it needs a -shm file beside it)`;
          throw new StoreError('E_STORE_NO_ROOM', `cannot read the evidence store ${path}: ${place}, and ${tmpdir()} has no room for a private copy${size}: ${code}`, {
            hint: `${why === 'full' ? `free some space on the file system holding ${dirname(path)}, or ` : ''}set TMPDIR to a directory with room for a copy of the store, or copy the store (and its -wal, if there is one) to a directory you can write and read it there`,
          });
        }
        return null; // unreadable: the first error stands
      }
      const store = EvidenceStore.tryOpen(path, options, false, copy);
      try {
        store.db.pragma('journal_mode = DELETE');
      } catch (error) {
        store.close();
        throw storeError(error, path, 'cannot read the evidence store', true);
      }
      return store;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  private static tryOpen(path: string, options: StoreOpenOptions, readonlyConnection: boolean, file = path): EvidenceStore {
    const db = openDatabase(file, { readonly: readonlyConnection, mustExist: options.readonly ?? false, createMode: EVIDENCE_FILE_MODE, ...(options.busyTimeoutMs === undefined ? {} : { timeout: options.busyTimeoutMs }) });
    const store = new EvidenceStore(path, db, options);
    try {
      store.prepareSchema();
    } catch (error) {
      db.close();
      throw error instanceof StoreError || error instanceof FormatError || error instanceof VerificationError ? error : storeError(error, path, options.readonly ? 'cannot read the evidence store' : 'cannot open the evidence store for writing', options.readonly ?? false);
    }
    return store;
  }

  private prepareSchema(): void {
    // Reading the version touches the file header: a non-SQLite file fails here, unmodified. The
    // version and the tables are read in one transaction: another netmon migrating the store
    // meanwhile must not make them disagree (which would read as a damaged store).
    const version = this.db.transaction(() => {
      const found = Number(this.db.pragma('user_version', { simple: true }));
      if (found > STORE_SCHEMA_VERSION) throw this.newerSchema(found);
      if (found === 0 && hasSchema(this.db)) throw this.notAStore();
      // Older schemas that differ only in record layout are read as they are.
      if (this.readonly && found === 0) {
        // An empty file (or an empty database): migrating it would make a store of any file.
        throw new FormatError('E_STORE_EMPTY', `${this.path} holds no evidence store: it is empty, and no capture has written to it`, {
          hint: 'give --db the store your captures write (netmon --once makes one where --db points; the default is netmon.db in the current directory)',
        });
      }
      if (this.readonly && found < OLDEST_READABLE_SCHEMA) {
        throw new FormatError('E_STORE_VERSION', `${this.path} has store schema ${found}, expected ${STORE_SCHEMA_VERSION}: open it once for writing (netmon --once) to migrate it`);
      }
      if (found > 0) this.checkShape(found);
      return found;
    })();
    if (this.readonly) return;
    // A write-ahead log lets readers run while a writer commits, but only between processes of one
    // host (they share its index in memory). On a shared file system, a rollback journal: only
    // file locks, which network file systems hold across hosts. A reader there holds off a commit
    // until it is done, hence the longer wait.
    const rollback = this.journal === 'rollback' || (this.journal === undefined && version > 0 && String(this.db.pragma('journal_mode', { simple: true })) === 'delete');
    this.db.pragma(`journal_mode = ${rollback ? 'DELETE' : 'WAL'}`);
    // The write-ahead log is cut back to this at each checkpoint that empties it, rather than kept
    // at the largest size it ever reached (a capture's first inventory, a prune --vacuum).
    this.db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
    if (rollback) this.db.pragma(`busy_timeout = ${ROLLBACK_BUSY_TIMEOUT_MS}`);
    // FULL: a snapshot's commit is on disk before the capture writes its CSV rows, so not even a
    // power cut leaves rows that name a snapshot the store lost (about 0.25 ms per commit here).
    this.db.pragma('synchronous = FULL');
    if (version < STORE_SCHEMA_VERSION) {
      this.db.transaction(() => {
        // Read again under the write lock: another netmon that opened the store at the same time
        // (two captures started together on a new store) may have created or migrated it since.
        const current = Number(this.db.pragma('user_version', { simple: true }));
        if (current > STORE_SCHEMA_VERSION) throw this.newerSchema(current);
        if (current === 0 && hasSchema(this.db)) throw this.notAStore();
        if (current > 0) this.refuseMigratingUnderWriter(current);
        for (let v = current; v < STORE_SCHEMA_VERSION; v++) this.db.exec(MIGRATIONS[v]!);
        if (current === 0) {
          const insert = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
          insert.run('created_at', this.now().toISOString());
          insert.run('created_by', 'netmon');
        }
        if (current < STORE_SCHEMA_VERSION) this.db.pragma(`user_version = ${STORE_SCHEMA_VERSION}`);
      }).immediate();
    }
  }

  /**
   * A store of an older schema that an older netmon is writing now (its lock is held by a live
   * process of this host, taken since this boot) is not migrated: that netmon could no longer open
   * it at its next start, nor would the newer one write to it meanwhile (the lock is in force). A
   * lock of another host or of an earlier boot is left to beginSession, which tells a stale one.
   */
  private refuseMigratingUnderWriter(schema: number): void {
    const holder = this.db.prepare('SELECT pid, host, since, session FROM writer WHERE id = 1').get() as { pid: number; host: string; since: string; session: number } | undefined;
    if (!holder || holder.host !== hostname() || holder.pid === process.pid || !processAlive(Number(holder.pid))) return;
    // A lock without the session record that took it was not written by netmon: it holds nothing.
    if (this.lockWithoutSession(Number(holder.pid), holder.host, Number(holder.session))) return;
    const bootedAt = Date.now() - uptime() * 1000;
    if (!(Date.parse(holder.since) >= bootedAt)) return;
    let oneShot = false;
    try {
      oneShot = this.sessionInterval(Number(holder.session)) === null;
    } catch {
      // a record that cannot be read: beginSession would say so
    }
    throw new StoreBusyError(`the evidence store ${this.path} is in use by pid ${holder.pid} (since ${holder.since})${oneShot ? ', a one-shot capture' : ''}, a netmon that writes store schema ${schema}; it was not migrated to schema ${STORE_SCHEMA_VERSION}, so that netmon can still open it`, {
      oneShot,
      hint: `stop that netmon first (it finishes its capture on SIGTERM: kill ${holder.pid}), then run this one: it migrates the store, after which netmon versions older than this one refuse it`,
    });
  }

  /**
   * Check that the store has every table and column its schema's migrations make. A table or
   * column dropped outside netmon would otherwise surface as an SQL error in the middle of a
   * command ("no such table"), which reads like a bug in netmon rather than a damaged store.
   */
  private checkShape(version: number): void {
    const actual = tableColumns(this.db);
    const expected = expectedShape(version);
    const indexes = indexNames(this.db);
    for (const [table, columns] of expected.tables) {
      const have = actual.get(table);
      const lost = have === undefined ? `table ${table} is missing` : [...columns].filter((c) => !have.has(c)).map((c) => `column ${c} of table ${table} is missing`)[0];
      if (lost !== undefined) {
        throw new VerificationError('E_STORE_DAMAGED', `the evidence store ${this.path} is damaged: ${lost} (store schema ${version}); it was changed outside netmon, or is not the whole file netmon wrote, and was not modified`, {
          hint: 'restore the store from a backup or copy; netmon itself never drops or alters a table of its store',
        });
      }
    }
    // Indexes tell the schema apart where tables do not: one a later schema makes, in a store
    // whose version says earlier, means the version was set back (and a migration would fail
    // on it); one missing was dropped.
    const later = [...indexes].find((name) => !expected.indexes.has(name) && expectedShape(STORE_SCHEMA_VERSION).indexes.has(name));
    const dropped = [...expected.indexes].find((name) => !indexes.has(name));
    if (later !== undefined || dropped !== undefined) {
      const what = later !== undefined ? `it holds index ${later}, which a later schema makes, but its version says schema ${version}` : `index ${dropped!} is missing (store schema ${version})`;
      throw new VerificationError('E_STORE_DAMAGED', `the evidence store ${this.path} is damaged: ${what}; it was changed outside netmon and was not modified`, {
        hint: 'restore the store from a backup or copy; netmon never sets a store back to an earlier schema or drops an index',
      });
    }
  }

  /** The error for a file at the store's path that is an SQLite database, but not a netmon store. */
  private notAStore(): FormatError | VerificationError {
    const tables = [...tableColumns(this.db).keys()];
    if (tables.includes('records') && tables.includes('meta')) {
      return new VerificationError('E_STORE_DAMAGED', `the evidence store ${this.path} is damaged: it holds netmon's tables, but its schema version reads 0; it was changed outside netmon and was not modified`, {
        hint: 'restore the store from a backup or copy',
      });
    }
    const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? `, and ${tables.length - 5} more` : '');
    return new FormatError('E_STORE_FOREIGN', `${this.path} is an SQLite database, but not a netmon evidence store${tables.length > 0 ? ` (it holds ${tables.length === 1 ? 'table' : 'tables'} ${shown})` : ''}; netmon makes a store only in a new or empty file, and left this one as it was`, {
      hint: 'give --db the path of a netmon store, or of a file that does not exist yet',
    });
  }

  /** The error for a store of a schema newer than this netmon's, which it leaves as it is. */
  private newerSchema(version: number): FormatError {
    return new FormatError('E_STORE_VERSION', `${this.path} was written by a newer netmon (store schema expected ${STORE_SCHEMA_VERSION}, received ${version}); it was not modified`, {
      hint: 'use the netmon version that wrote it, or a newer one',
    });
  }

  private stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  /**
   * The identity the writer holding the lock of `session` as `pid` recorded with it (meta
   * `writer_identity`), or null when it recorded none (an earlier netmon, no identity known).
   */
  private writerIdentity(pid: number, session: number): Pick<WriterIdentity, 'identity' | 'pidns'> | null {
    const row = this.stmt("SELECT value FROM meta WHERE key = 'writer_identity'").get();
    if (!row) return null;
    try {
      const recorded = JSON.parse(String(row.value)) as WriterIdentity;
      if (recorded.session !== session || recorded.pid !== pid || typeof recorded.identity !== 'string') return null;
      return { identity: recorded.identity, ...(typeof recorded.pidns === 'string' ? { pidns: recorded.pidns } : {}) };
    } catch {
      return null;
    }
  }

  /**
   * Whether the writer lock of `session` has no session record that took it: the record is there
   * (a prune may have removed an old one: then it cannot tell) and verifies where it stands, and
   * it names the lock's pid and host. Such a lock was not written by netmon.
   */
  private lockWithoutSession(pid: number, host: string, session: number): boolean {
    try {
      const record = this.recordInPlace(session, 'session');
      if (record === null) return (this.pruneAnchor()?.seq ?? 0) < session;
      const body = JSON.parse(record.body) as { pid?: unknown; host?: unknown };
      return body.pid !== pid || body.host !== host;
    } catch {
      return true;
    }
  }

  /**
   * Inside a write transaction of this writer's session: check that the session still holds the
   * lock, and note that it is alive (meta `writer_alive`, which tells a netmon on another host
   * that this lock is in use). Another netmon takes a lock over only when it judged it stale (its
   * pid gone, or, for a lock taken on another host, silent for too long: a suspended machine, a
   * stopped process). Writing on after that would interleave two sessions' snapshots, so this
   * writer stops instead.
   */
  private holdLock(at: string): void {
    const holder = this.stmt('SELECT pid, host, since, session FROM writer WHERE id = 1').get();
    if (holder && Number(holder.session) === this.session) {
      this.noteAlive(this.session, at);
      return;
    }
    const who = holder ? `pid ${Number(holder.pid)} on host ${String(holder.host)}, since ${String(holder.since)}` : 'it has finished since';
    throw new StoreError('E_STORE_TAKEN_OVER', `another netmon took over the evidence store ${this.path} (${who}) while this capture was stopped or silent; this capture stops here, so that two writers never interleave (its snapshots until now are stored)`, {
      hint: 'run one capture per store: give this one another --db, or stop the other one before starting this one again',
    });
  }

  /**
   * A lock taken on another host (a store on a shared file system) or in another PID namespace
   * (a container): its pid cannot be checked from here, so only its writer's silence tells that
   * it is gone. The lock is in force while the writer's last sign of life (taking the lock, a
   * tick, a gap) is more recent than twice its session's interval plus REMOTE_LOCK_SLACK_MS:
   * then this returns that last sign of life and when the lock goes stale; null when it is stale.
   */
  private remoteLockInForce(session: number, since: string, now: string): { alive: string; staleFrom: string } | null {
    const alive = this.writerAlive(session) ?? since;
    const interval = this.sessionInterval(session);
    const staleFrom = Date.parse(alive) + 2 * (interval ?? 0) * 1000 + REMOTE_LOCK_SLACK_MS;
    return Date.parse(now) < staleFrom ? { alive, staleFrom: new Date(staleFrom).toISOString() } : null;
  }

  /** Note that the writer of `session` is alive at `at` (meta `writer_alive`). */
  private noteAlive(session: number, at: string): void {
    this.stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('writer_alive', ?)").run(JSON.stringify({ session, at } satisfies WriterAlive));
    if (this.boot !== null && this.uptime !== null) {
      const mark: ClockMark = { boot: this.boot.id, ...(this.boot.pidns === null ? {} : { pidns: this.boot.pidns }), at, up: Math.round(this.uptime()) };
      this.stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock_mark', ?)").run(JSON.stringify(mark));
    }
  }

  /**
   * How far the system clock was set since the last write of this store in the same boot and PID
   * namespace (meta `clock_mark`): the wall clock's move minus the time since boot's, in
   * milliseconds (> 0: forward), with when that write was and how much time since boot passed;
   * null when it cannot be told (another boot or namespace, whose time since boot may count from
   * elsewhere, no mark, a time since boot that ran backwards as a restarted container's may) or
   * the clock moved within CLOCK_BEHIND_MIN_MS of it.
   */
  private clockSinceMark(boot: { id: string; pidns: string | null } | null, at: string): { stepMs: number; markAt: string; elapsedMs: number } | null {
    if (boot === null || this.uptime === null) return null;
    const row = this.stmt("SELECT value FROM meta WHERE key = 'clock_mark'").get();
    if (!row) return null;
    let mark: ClockMark;
    try {
      mark = JSON.parse(String(row.value)) as ClockMark;
    } catch {
      return null;
    }
    if (mark.boot !== boot.id || (mark.pidns ?? null) !== boot.pidns || typeof mark.up !== 'number' || typeof mark.at !== 'string' || Number.isNaN(Date.parse(mark.at))) return null;
    const elapsedMs = this.uptime() - mark.up;
    if (!(elapsedMs >= 0)) return null;
    const stepMs = Math.round(Date.parse(at) - Date.parse(mark.at) - elapsedMs);
    return Math.abs(stepMs) < CLOCK_BEHIND_MIN_MS ? null : { stepMs, markAt: mark.at, elapsedMs };
  }

  /**
   * How the window between snapshots `pre` and `post` was captured: the snapshots stored between
   * them, and whether both edges are one-shot captures (`--once`, no interval). A report says of
   * two one-shot captures with nothing between them that nothing ran to record a gap, rather than
   * that the store records none (an auditor probe read that as a watched window).
   */
  windowCapture(pre: number, post: number): { between: number; oneShotEdges: boolean } {
    const between = Number(this.stmt('SELECT COUNT(*) FROM snapshots WHERE id > ? AND id < ?').pluck().get(pre, post));
    const sessionOf = (id: number): number | null => {
      const session = this.stmt('SELECT session FROM snapshots WHERE id = ?').pluck().get(id) as number | bigint | undefined;
      return session === undefined ? null : Number(session);
    };
    const oneShot = (id: number): boolean => {
      const session = sessionOf(id);
      return session !== null && this.sessionInterval(session) === null;
    };
    return { between, oneShotEdges: oneShot(pre) && oneShot(post) };
  }

  /**
   * The interval of the capture session that record `seq` opened (null: --once, or no such
   * record). A prune that removes the record of a session whose snapshots it keeps carries the
   * interval in its own record (`sessions`), where it is found when the session record is gone.
   */
  private sessionInterval(seq: number): number | null {
    const record = this.stmt("SELECT body FROM records WHERE seq = ? AND kind = 'session'").get(seq);
    if (record) return this.parseStored<{ interval: number | null }>(String(record.body), `session record ${seq}`).interval;
    const carried = this.stmt(`SELECT json_extract(body, '$.sessions."' || ? || '"') FROM records WHERE kind = 'prune' AND ${RARE_RECORDS} AND json_valid(body) ORDER BY seq DESC`).pluck();
    for (const interval of carried.iterate(String(seq))) if (typeof interval === 'number') return interval;
    return null;
  }

  /** When the writer of `session` last showed it was alive (meta `writer_alive`), or null when not recorded. */
  private writerAlive(session: number): string | null {
    const row = this.stmt("SELECT value FROM meta WHERE key = 'writer_alive'").get();
    if (!row) return null;
    try {
      const alive = JSON.parse(String(row.value)) as WriterAlive;
      return alive.session === session && typeof alive.at === 'string' && !Number.isNaN(Date.parse(alive.at)) ? alive.at : null;
    } catch {
      return null;
    }
  }

  /** Append a gap record: no evidence from `from` to `to`, and why (with what tells its context). */
  private appendGap(at: string, from: string, to: string, reason: string, context: Record<string, number | string>): GapRecord {
    return { seq: this.appendRecord('gap', at, JSON.stringify({ from, to, reason, ...context })).seq, from, to, reason };
  }

  /**
   * Record a gap inside this writer's session: from `from` to `to` nothing was captured although
   * the session ran (`paused`: the system was suspended, or the process stopped; `store-busy` and
   * `capture-failed`: its captures could not be stored, or failed). One record in the chain, like
   * the gaps recorded when a session begins.
   */
  recordGap(from: Date, to: Date, reason: 'paused' | 'store-busy' | 'capture-failed'): GapRecord {
    return this.inSession('a gap', (at, session) => this.appendGap(at, from.toISOString(), to.toISOString(), reason, { session }));
  }

  /**
   * Record that the system clock stepped by about `stepMs` since this session's previous capture
   * (a `clock` record in the chain), so that a report can explain a jump in the snapshot times.
   */
  recordClockStep(stepMs: number): ClockStepRecord {
    const rounded = Math.round(stepMs);
    return this.inSession('a clock step', (at, session) => ({ seq: this.appendRecord('clock', at, JSON.stringify({ stepMs: rounded, session })).seq, at, stepMs: rounded }));
  }

  /** Append a record of this writer's session, in a transaction of its own that holds the lock. */
  private inSession<T>(what: string, append: (at: string, session: number) => T): T {
    if (this.session === null) throw new StoreError('E_STORE_NO_SESSION', `no capture session is open on ${this.path}`);
    const session = this.session;
    try {
      return this.db
        .transaction(() => {
          const at = this.now().toISOString();
          this.holdLock(at);
          return append(at, session);
        })
        .immediate();
    } catch (error) {
      throw storeError(error, this.path, `cannot record ${what} in the evidence store`);
    }
  }

  /**
   * Why the store's path no longer names the file this writer opened, or null when it does (or
   * no session was begun). SQLite goes on writing to an open file that was deleted or moved away,
   * and what it writes to a deleted one is lost when netmon exits.
   */
  displaced(): string | null {
    if (this.opened === null) return null;
    let st;
    try {
      st = statSync(this.path);
    } catch (error) {
      // Only a path that no longer exists says so; a stat refused for another reason says nothing.
      const code = (error as { code?: unknown }).code;
      return code === 'ENOENT' || code === 'ENOTDIR' ? 'was deleted or moved away' : null;
    }
    return st.dev === this.opened.dev && st.ino === this.opened.ino ? null : 'was replaced by another file (moved away, and something else put in its place)';
  }

  /**
   * Copy the open store, with everything committed to it, to a new file beside its path (or in the
   * temporary directory when that directory is gone or not writable), through SQLite's online
   * backup. For a store that was displaced(): its evidence may exist nowhere else. Returns the
   * copy's path.
   */
  async rescue(): Promise<string> {
    const name = `${basename(this.path)}.rescued-${this.now().toISOString().replace(/[:.]/g, '-')}`;
    const targets = [join(dirname(this.path), name), join(tmpdir(), name)];
    const failures: string[] = [];
    let copy: string | null = null;
    for (const target of targets) {
      try {
        // A new file only: never one someone placed under that name.
        createNew(target, EVIDENCE_FILE_MODE);
        await this.db.backup(target);
        copy = target;
        break;
      } catch (error) {
        failures.push(`${target}: ${(error as Error).message}`);
      }
    }
    // The commits still in the WAL (at the old path) go into the open file itself, so a store that
    // was moved away holds them too: SQLite no longer checkpoints a moved file when it closes it.
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // the copy is what counts
    }
    if (copy !== null) return copy;
    throw new StoreError('E_STORE_RESCUE', `could not copy the open evidence store anywhere (${failures.join('; ')})`);
  }

  /**
   * Close the store, releasing this session's writer lock. Returns why the lock could not be
   * released (a disk that filled up), else null: the next capture then finds the lock of a process
   * that is gone and records the time since as a gap. It never throws, so that closing cannot
   * hide the error that brought a caller here.
   */
  close(): string | null {
    if (this.lockKey !== null) heldLocks.delete(this.lockKey);
    let kept: string | null = null;
    try {
      // This session's lock only: another netmon may have taken it over (see holdLock).
      if (this.session !== null && !this.readonly && this.db.open && this.stmt('DELETE FROM writer WHERE id = 1 AND session = ?').run(this.session).changes > 0) {
        this.stmt("DELETE FROM meta WHERE key = 'writer_alive'").run();
      }
    } catch (error) {
      kept = storeError(error, this.path, 'could not release the writer lock').message;
    }
    if (this.db.open) this.db.close();
    return kept;
  }

  private head(): { seq: number; hash: string } | null {
    const row = this.stmt('SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1').get();
    return row ? { seq: Number(row.seq), hash: String(row.hash) } : null;
  }

  /** Append a record to the chain: its seq, and its hash (the store's new head). */
  private appendRecord(kind: string, at: string, body: string): { seq: number; hash: string } {
    const head = this.head();
    const seq = (head?.seq ?? this.pruneAnchor()?.seq ?? 0) + 1;
    const prev = head?.hash ?? this.pruneAnchor()?.hash ?? GENESIS_HASH;
    const hash = recordHash(prev, seq, kind, at, body);
    this.stmt('INSERT INTO records (seq, kind, at, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)').run(seq, kind, at, body, prev, hash);
    return { seq, hash };
  }

  private pruneAnchor(): { seq: number; hash: string; base: number } | null {
    const row = this.stmt("SELECT value FROM meta WHERE key = 'prune_anchor'").get();
    return row ? this.parseStored<{ seq: number; hash: string; base: number }>(String(row.value), 'the prune anchor (meta table)') : null;
  }

  /**
   * Start a capture session: take the writer lock, record the session and, when the previous
   * writer stopped uncleanly or an interval session left a hole, a gap.
   */
  beginSession(options: {
    interval: number | null;
    /**
     * A process's identity beyond its pid (PlatformCollector#processIdentity), or null when
     * unknown. The writer records its own with the lock; a lock whose live pid has another
     * identity is stale (the writer died and the pid was reused, as after a reboot).
     */
    identify?: (pid: number) => string | null;
    /**
     * The PID namespace of this process (PlatformCollector#pidNamespace). A lock taken in another
     * one (a container, on the same host) names a pid that cannot be checked from here.
     */
    pidNamespace?: string | null;
    /**
     * Take over a lock that is in force but cannot be checked from here (another host, another
     * PID namespace) at once, instead of waiting until its writer's silence makes it stale: an
     * operator's decision that the writer no longer runs. Recorded as a `taken-over` gap. If
     * that writer does still run, its next write finds the lock gone and stops (holdLock).
     */
    takeOver?: boolean;
  }): { session: number; gap: GapRecord | null; takenOver: string | null; clockStep: SessionClockStep | null } {
    if (this.readonly) throw new StoreError('E_STORE_READONLY', `${this.path} was opened read-only`);
    const host = hostname();
    const mine = options.identify?.(process.pid) ?? null;
    const pidns = options.pidNamespace ?? null;
    try {
      return this.db
        .transaction(() => {
          const holder = this.stmt('SELECT pid, host, since, session FROM writer WHERE id = 1').get();
          const at = this.now().toISOString();
          let unclean = false;
          let takenOver: string | null = null;
          if (holder) {
            const pid = Number(holder.pid);
            const ours = pid === process.pid && heldLocks.has(`${realpathSync(this.path)}#${Number(holder.session)}`);
            const since = String(holder.since);
            const record = this.writerIdentity(pid, Number(holder.session));
            const recorded = record?.identity ?? null;
            // A lock whose pid can be checked here: taken under this host's name, or in its current
            // boot (the host may have been renamed since; a boot id is this boot's alone), and in
            // this PID namespace (in a container's, its pid names another process here).
            const otherNamespace = record?.pidns !== undefined && pidns !== null && record.pidns !== pidns;
            const thisMachine = String(holder.host) === host || (recorded !== null && mine !== null && bootPart(recorded) === bootPart(mine));
            const local = !otherNamespace && thisMachine;
            // The live pid is another process than the writer that recorded itself: the writer died.
            const current = recorded !== null && options.identify !== undefined ? options.identify(pid) : null;
            const reused = current !== null && current !== recorded;
            // A lock is taken with the record of its session, which names the same pid and host:
            // a writer row without one (written outside netmon, say for pid 1) holds nothing.
            const forged = this.lockWithoutSession(pid, String(holder.host), Number(holder.session));
            if (local && (ours || (pid !== process.pid && processAlive(pid) && !reused && !forged))) {
              const oneShot = this.sessionInterval(Number(holder.session)) === null;
              throw new StoreBusyError(`the evidence store ${this.path} is in use by pid ${pid} (since ${since})${oneShot ? ', a one-shot capture' : ''}`, {
                oneShot,
                hint: `stop that netmon first (it finishes its capture on SIGTERM: kill ${pid}), or use another --db${options.takeOver ? '; --take-over is only for a writer that cannot be checked from here (another host, a container), and this one runs here' : ''}`,
              });
            }
            if (!local) {
              const named = String(holder.host) === host ? '' : `, host name ${String(holder.host)}`;
              const where = thisMachine ? `in another PID namespace on this machine (a container${named})` : `on host ${String(holder.host)}`;
              const inForce = this.remoteLockInForce(Number(holder.session), since, at);
              if (inForce !== null && options.takeOver !== true) {
                throw new StoreError('E_STORE_BUSY', `the evidence store ${this.path} is in use by pid ${pid} ${where}, since ${since} (last active ${inForce.alive})`, {
                  hint: `that netmon's process cannot be checked from here: stop it there, or use another --db; if it no longer runs, its lock counts as stale from ${inForce.staleFrom}, or take the store over now with --take-over`,
                });
              }
              if (inForce !== null) takenOver = `pid ${pid} ${where}, last active ${inForce.alive}`;
            }
            unclean = true;
          }
          let gap: GapRecord | null = null;
          let clockStep: SessionClockStep | null = null;
          this.boot = mine === null ? null : { id: bootPart(mine), pidns };
          const last = this.stmt('SELECT taken_at, session FROM snapshots ORDER BY id DESC LIMIT 1').get();
          if (last) {
            const interval = this.sessionInterval(Number(last.session));
            const lastAt = String(last.taken_at);
            // The clock set since the store's last write in this boot, measured by the time since
            // boot; else (another boot) only a clock that reads before the last snapshot tells.
            const measured = this.clockSinceMark(this.boot, at);
            const behindMs = Date.parse(lastAt) - Date.parse(at);
            if (measured !== null) clockStep = { stepMs: measured.stepMs, measured: true, behind: behindMs >= CLOCK_BEHIND_MIN_MS };
            else if (behindMs >= CLOCK_BEHIND_MIN_MS) clockStep = { stepMs: -behindMs, measured: false, behind: true };
            // Where the gap ends, in the clock of its start (as a pause's does within a session):
            // set back, the time since boot says how long capture stopped; unmeasured, that is
            // unknown, and the gap is the moment it is noticed; set forward, the gap runs to now,
            // for the time since boot does not count a frozen virtual machine, and a gap is never
            // claimed shorter than the clock says (the step is recorded beside it).
            let from = lastAt;
            let to = at;
            if (clockStep !== null && clockStep.stepMs < 0) {
              if (measured !== null) to = new Date(Math.max(Date.parse(lastAt), Date.parse(measured.markAt) + measured.elapsedMs)).toISOString();
              else from = at;
            }
            const late = interval !== null && Date.parse(to) - Date.parse(from) > 2 * interval * 1000;
            if (takenOver !== null) {
              gap = this.appendGap(at, from, to, 'taken-over', { previousSession: Number(last.session), previousWriter: takenOver });
            } else if (unclean || late) {
              gap = this.appendGap(at, from, to, unclean ? 'unclean-stop' : 'not-running', { previousSession: Number(last.session) });
            }
          }
          const session = this.appendRecord('session', at, JSON.stringify({ interval: options.interval, pid: process.pid, host, tool: 'netmon' })).seq;
          this.stmt('INSERT OR REPLACE INTO writer (id, pid, host, since, session) VALUES (1, ?, ?, ?, ?)').run(process.pid, host, at, session);
          this.noteAlive(session, at);
          // Who holds the lock, beyond a pid that may be reused (meta: bookkeeping, outside the chain).
          if (mine === null) this.stmt("DELETE FROM meta WHERE key = 'writer_identity'").run();
          else this.stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('writer_identity', ?)").run(JSON.stringify({ session, pid: process.pid, identity: mine, ...(pidns === null ? {} : { pidns }) } satisfies WriterIdentity));
          this.session = session;
          this.lockKey = `${realpathSync(this.path)}#${session}`;
          heldLocks.add(this.lockKey);
          const st = statSync(this.path);
          this.opened = { dev: st.dev, ino: st.ino };
          this.state = this.loadLastSet();
          return { session, gap, takenOver, clockStep };
        })
        .immediate();
    } catch (error) {
      throw storeError(error, this.path, 'cannot start writing to the evidence store');
    }
  }

  /** The last snapshot and its set digest, to write the next one as changes (its items load on demand). */
  private loadLastSet(): SetState | null {
    const last = this.stmt('SELECT id FROM snapshots ORDER BY id DESC LIMIT 1').get();
    if (!last) return null;
    const body = this.snapshotBody(Number(last.id));
    const lastCheckpoint = Number(this.stmt('SELECT COALESCE(MAX(id), 0) FROM snapshots WHERE checkpoint = 1').pluck().get());
    const sinceCheckpoint = Number(this.stmt('SELECT COUNT(*) FROM snapshots WHERE id > ?').pluck().get(lastCheckpoint));
    const eventsSinceCheckpoint = Number(this.stmt('SELECT COUNT(*) FROM events WHERE snapshot_id > ?').pluck().get(lastCheckpoint));
    return { snapshotId: Number(last.id), ids: null, digest: body.setDigest, sorted: null, sinceCheckpoint, eventsSinceCheckpoint };
  }

  /**
   * Replay a snapshot's item set in two queries: its base set, then the events since, in order
   * (op > 0 adds, op < 0 removes). Up to two `columns` of `items` come with each item added or
   * removed, from a LEFT JOIN (null when the item row is missing); with no columns, items is not
   * read at all.
   */
  /**
   * Throws when snapshot `id`'s row in the snapshots index says another time, host, label or change
   * than its record (each pair: what, the index's value, the record's; absent and null are alike).
   */
  private checkIndexRow(id: number, pairs: readonly (readonly [string, unknown, unknown])[]): void {
    const differs = pairs.find(([, indexed, recorded]) => (indexed ?? null) !== (recorded ?? null));
    if (!differs) return;
    const [what, indexed, recorded] = differs;
    throw this.changedOutside('E_STORE_INDEX_CHANGED', `the snapshots index of ${this.path} gives snapshot ${id} the ${what} ${JSON.stringify(indexed ?? null)}, its record ${JSON.stringify(recorded ?? null)}`);
  }

  private replaySet(id: number, columns: string, add: (itemId: number, a: unknown, b: unknown) => void, remove: (itemId: number, a: unknown) => void): void {
    // In one read transaction: a prune that commits between the base query and the events query
    // rebases the set on another checkpoint, and a set read half before it and half after is wrong
    // (a multi-day probe found a capture's append then wrote events that no longer change the set,
    // and the store failed verify-store for good).
    this.reading(() => this.replaySetNow(id, columns, add, remove));
  }

  private replaySetNow(id: number, columns: string, add: (itemId: number, a: unknown, b: unknown) => void, remove: (itemId: number, a: unknown) => void): void {
    const base = this.baseOf(id);
    const select = columns ? `, ${columns}` : '';
    const from = (table: string, alias: string): string => (columns ? `${table} ${alias} LEFT JOIN items i ON i.id = ${alias}.item_id` : `${table} ${alias}`);
    const baseSet = this.stmt(`SELECT c.item_id${select} FROM ${from('checkpoint_items', 'c')} WHERE c.snapshot_id = ?`);
    if (columns) {
      for (const row of baseSet.raw().all(base) as unknown as unknown[][]) add(row[0] as number, row[1], row[2]);
    } else {
      for (const itemId of baseSet.pluck().all(base) as unknown as number[]) add(itemId, null, null);
    }
    const events = this.stmt(`SELECT e.item_id, e.op${select} FROM ${from('events', 'e')} WHERE e.snapshot_id > ? AND e.snapshot_id <= ? ORDER BY e.snapshot_id`).raw().all(base, id) as unknown as unknown[][];
    for (const row of events) {
      if ((row[1] as number) > 0) add(row[0] as number, row[2], row[3]);
      else remove(row[0] as number, row[2]);
    }
  }

  /**
   * replaySet() for the first load of a store object: the ids, kinds and bodies of the set's
   * items, each query's rows as one text (group_concat), split here. One string crosses from
   * SQLite instead of a row of three values per item, about 20 ms less at 28,000 items. `add`
   * gets `kind\nbody`, the text an item's digest is taken over, and where its kind ends. False
   * (the caller drops what `add` was given) when a text does not split into exactly its rows: an item holding
   * the separator (a control character that netmon's JSON never holds raw; SQLite says so with
   * the text), or an item row missing (its piece is NULL and left out, so the pieces are fewer
   * than the rows). The caller then reads the rows one by one, which names what is wrong.
   */
  private replaySetText(id: number, add: (itemId: number, kindAndBody: string, kindEnd: number) => void, remove: (itemId: number) => void): boolean {
    // In one read transaction, as replaySet.
    return this.reading(() => this.replaySetTextNow(id, add, remove));
  }

  private replaySetTextNow(id: number, add: (itemId: number, kindAndBody: string, kindEnd: number) => void, remove: (itemId: number) => void): boolean {
    const base = this.baseOf(id);
    // With each text, whether any of its items holds the separator: then the pieces are not the rows.
    const [baseCount, baseSeparators, baseText] = this.stmt(
      `SELECT COUNT(*), MAX(instr(i.body, char(30)) + instr(i.kind, char(30))), group_concat(c.item_id || char(9) || i.kind || char(10) || i.body, char(30))
         FROM checkpoint_items c LEFT JOIN items i ON i.id = c.item_id WHERE c.snapshot_id = ?`,
    )
      .raw()
      .get(base) as unknown as [number, number | null, string | null];
    // A removal is its item id with a minus sign; an addition, as a base item.
    const [eventCount, eventSeparators, eventText] = this.stmt(
      `SELECT COUNT(*), MAX(instr(i.body, char(30)) + instr(i.kind, char(30))),
              group_concat(CASE WHEN e.op > 0 THEN e.item_id || char(9) || i.kind || char(10) || i.body ELSE '-' || e.item_id END, char(30) ORDER BY e.snapshot_id)
         FROM events e LEFT JOIN items i ON i.id = e.item_id AND e.op > 0 WHERE e.snapshot_id > ? AND e.snapshot_id <= ?`,
    )
      .raw()
      .get(base, id) as unknown as [number, number | null, string | null];
    if ((baseSeparators ?? 0) > 0 || (eventSeparators ?? 0) > 0) return false;
    const basePieces = baseText === null ? [] : baseText.split('\x1e');
    const eventPieces = eventText === null ? [] : eventText.split('\x1e');
    if (basePieces.length !== baseCount || eventPieces.length !== eventCount) return false;
    for (const list of [basePieces, eventPieces]) {
      for (const text of list) {
        const tab = text.indexOf('\t');
        const itemId = Number(tab < 0 ? text : text.slice(0, tab));
        if (!Number.isSafeInteger(itemId) || (tab < 0 && itemId >= 0) || (tab >= 0 && (itemId <= 0 || text.indexOf('\n', tab) < 0))) return false;
        if (tab < 0) remove(-itemId);
        else {
          const kindAndBody = text.slice(tab + 1);
          add(itemId, kindAndBody, kindAndBody.indexOf('\n'));
        }
      }
    }
    return true;
  }

  /** digest -> item id of every item of a snapshot (items whose row is missing are left out). */
  private itemDigestsOf(id: number): Map<string, number> {
    // One map: digests are unique in items, so an item's digest stands for its id in the set.
    const digests = new Map<string, number>();
    this.replaySet(
      id,
      'i.digest',
      (itemId, digest) => {
        if (digest !== null) digests.set(digest as string, itemId);
      },
      (_itemId, digest) => {
        if (digest !== null) digests.delete(digest as string);
      },
    );
    return digests;
  }

  /** Item ids of a snapshot. */
  private itemIdsOf(id: number): Set<number> {
    const set = new Set<number>();
    this.replaySet(id, '', (itemId) => set.add(itemId), (itemId) => set.delete(itemId));
    return set;
  }

  /** The snapshot whose full item set a snapshot's set is built on: its last checkpoint, or the first snapshot kept by a prune. */
  private baseOf(id: number): number {
    return Number(this.stmt('SELECT COALESCE(MAX(snapshot_id), 0) FROM checkpoint_items WHERE snapshot_id <= ?').pluck().get(id));
  }

  /**
   * Stored JSON text, parsed. Text that is not JSON means the store was changed outside netmon.
   * `what` names the text only when it fails, so a caller may pass a function that makes it.
   */
  private parseStored<T>(text: string, what: string | (() => string)): T {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw this.changedOutside('E_STORE_BAD_JSON', `${typeof what === 'string' ? what : what()} in ${this.path} is not valid JSON`);
    }
  }

  /** A stored item, parsed: a socket written as an array (schema 3) becomes its record again; everything else is JSON. */
  private parseItem(kind: string, text: string, what: string | (() => string)): unknown {
    if (kind === 'socket' && isArrayBody(text)) {
      const socket = parseSocketBody(text);
      if (socket === null) throw this.changedOutside('E_STORE_BAD_JSON', `${typeof what === 'string' ? what : what()} in ${this.path} is not a socket record netmon wrote`);
      return socket;
    }
    return this.parseStored(text, what);
  }

  /** The error for stored content netmon did not write, pointing to verify-store. */
  private changedOutside(code: string, problem: string): VerificationError {
    return new VerificationError(code, `${problem}: the store was changed outside netmon`, {
      hint: `\`netmon verify-store --db ${this.path}\` names the first record that no longer matches its hash`,
    });
  }

  /**
   * The body of snapshot `id`'s record. With `checked`, the record is checked where it stands
   * first: its hash against its content and its neighbours' links to it (what `verify-store`
   * checks of every record), so that `show`, `diff` and `report` never present a snapshot whose
   * record was edited; a chain rewritten from there on needs `verify-store` and a known head.
   */
  private snapshotBody(id: number, checked = false): SnapshotBody {
    const row = checked ? this.recordInPlace(id, 'snapshot') : this.stmt("SELECT body FROM records WHERE seq = ? AND kind = 'snapshot'").get(id);
    if (!row) {
      // Snapshot ids are the snapshots' positions in the record chain, so they are not 1, 2, 3...
      const range = this.stmt('SELECT MIN(id) AS first, MAX(id) AS latest, COUNT(*) AS n FROM snapshots').get();
      const n = range ? Number(range.n) : 0;
      const known =
        n === 0
          ? 'it holds no snapshot yet; '
          : n === 1
            ? `its only snapshot has id ${Number(range!.first)} (ids are positions in the record chain); `
            : `its ${n} snapshots have ids from ${Number(range!.first)} to ${Number(range!.latest)} (not consecutive: ids are positions in the record chain); `;
      throw new ConfigError('E_STORE_NO_SNAPSHOT', `no snapshot ${id} in ${this.path}`, { hint: `${known}list them with \`netmon snapshots\`, or use first, latest, a label or a time` });
    }
    return this.parseStored<SnapshotBody>(String(row.body), `the record of snapshot ${id}`);
  }

  /** Record `seq` if it is of `kind`, checked where it stands (checkRecordInPlace throws when it is not); null when there is none. */
  private recordInPlace(seq: number, kind: string): { at: string; body: string } | null {
    const row = this.stmt('SELECT at, body, prev_hash, hash FROM records WHERE seq = ? AND kind = ?').get(seq, kind);
    if (!row) return null;
    this.checkRecordInPlace(seq, kind, String(row.at), String(row.body), String(row.prev_hash), String(row.hash));
    return { at: String(row.at), body: String(row.body) };
  }

  /** A record's hash against its content, and the hashes of the records either side against its links. */
  private checkRecordInPlace(seq: number, kind: string, at: string, body: string, prevHash: string, hash: string): void {
    const what = `record ${seq} (${kind})`;
    if (recordHash(prevHash, seq, kind, at, body) !== hash) throw this.changedOutside('E_STORE_RECORD_CHANGED', `${what} in ${this.path} no longer matches its hash`);
    const before = this.stmt('SELECT hash FROM records WHERE seq < ? ORDER BY seq DESC LIMIT 1').pluck().get(seq) as string | undefined;
    if (before !== undefined && before !== prevHash) throw this.changedOutside('E_STORE_RECORD_CHANGED', `${what} in ${this.path} does not follow the record before it (its previous-hash differs)`);
    const after = this.stmt('SELECT prev_hash FROM records WHERE seq > ? ORDER BY seq LIMIT 1').pluck().get(seq) as string | undefined;
    if (after !== undefined && after !== hash) throw this.changedOutside('E_STORE_RECORD_CHANGED', `the record after ${what} in ${this.path} does not follow it (its previous-hash differs)`);
  }

  private digestOf(kind: ItemKind, body: string): string {
    let digest = this.digests.get(body);
    if (digest === undefined) {
      digest = itemDigest(kind, body);
      this.digests.set(body, digest);
    }
    return digest;
  }

  /** Append one snapshot as one transaction: all of it is stored, or none of it. */
  appendSnapshot(snapshot: Snapshot, options: AppendOptions = {}): AppendResult {
    if (this.session === null) this.beginSession({ interval: null });
    /** An item to store; a socket's body is made when it is inserted (see StoredSocket). */
    type Item = { kind: ItemKind; body: string; socket?: undefined } | { kind: 'socket'; body?: undefined; socket: SocketRecord };
    const others: [string, { kind: ItemKind; body: string }][] = [];
    const add = (kind: ItemKind, value: object): void => {
      const body = JSON.stringify(value);
      others.push([this.digestOf(kind, body), { kind, body }]);
    };
    // Listening ports left out by the selection belong to the context, whose item recurs unchanged
    // from capture to capture, rather than to each snapshot's record.
    const leftOut = snapshot.listeningPortsLeftOut;
    add('context', {
      tool: snapshot.tool,
      host: snapshot.host,
      selection: snapshot.selection,
      warnings: snapshot.warnings,
      ...(leftOut !== undefined && leftOut.length > 0 ? { listeningPortsLeftOut: leftOut } : {}),
      ...(snapshot.ephemeralTcpListeners === undefined ? {} : { ephemeralTcpListeners: snapshot.ephemeralTcpListeners }),
      ...(snapshot.capturedBy === undefined ? {} : { capturedBy: snapshot.capturedBy }),
    } satisfies SnapshotContext);
    for (const n of snapshot.namespaces) add('namespace', namespaceIdentity(n));
    for (const p of snapshot.processes) add('process', p);

    // Sockets by identity: an unchanged socket keeps its digest from the last tick.
    const retain = options.retain ?? true;
    const sockets = new Map<number | string, StoredSocket>();
    const fresh: StoredSocket[] = [];
    const previous = this.state;
    // Bodies of new sockets are kept for this append where they will be inserted: every one in a
    // store's first snapshot, and the few new ones of a running session's tick. A new process
    // appending to an existing store (`--once`) keeps none: usually nothing changed, and when
    // something did, only the changed sockets' bodies are made again.
    const bodies = previous === null || previous.ids !== null ? new Map<string, string>() : null;
    for (const s of snapshot.sockets) {
      const key = socketKey(s);
      const known = this.sockets.get(key);
      if (known && sameSocket(known.socket, s)) {
        sockets.set(key, known);
        continue;
      }
      // Kept for the next append as a copy: the caller may change its object in place meanwhile.
      // (No digest memo for sockets: an unchanged socket is caught by identity above.)
      const body = socketBody(s);
      const entry = { socket: retain ? copySocket(s) : s, digest: itemDigest('socket', body) };
      bodies?.set(entry.digest, flatten(body));
      sockets.set(key, entry);
      fresh.push(entry);
    }

    const checkpoint =
      previous === null ||
      previous.sinceCheckpoint + 1 >= this.checkpointEvery ||
      previous.eventsSinceCheckpoint >= Math.max(CHURN_CHECKPOINT_MIN_EVENTS, this.checkpointChurn * (snapshot.sockets.length + others.length));
    /** The previous snapshot's items, loaded the first time they are needed. */
    const previousIds = (): Map<string, number> => (previous!.ids ??= this.itemDigestsOf(previous!.snapshotId));
    // Fast path, the usual tick: no socket is new or changed, none left, the other items are known.
    const unchanged =
      previous !== null &&
      fresh.length === 0 &&
      sockets.size === this.sockets.size &&
      others.every(([d]) => previousIds().has(d)) &&
      previousIds().size === sockets.size + others.length;
    /** The items that entered the set, by digest (in the order of `added`). */
    const entered = new Map<string, Item>();
    const added: string[] = [];
    const removed: [string, number][] = [];
    /** This snapshot's set digest, once computed. */
    let computed: string | null = null;
    // A new process (netmon --once) knows no socket of the last snapshot: the set digest tells
    // whether anything changed without reading the previous snapshot's tens of thousands of items
    // (and without indexing this one's).
    let sameSet = unchanged;
    if (!unchanged && !checkpoint && previous !== null && previous.ids === null) {
      const digests: string[] = [];
      for (const [d] of others) digests.push(d);
      for (const e of sockets.values()) digests.push(e.digest);
      computed = setDigest(digests);
      sameSet = computed === previous.digest;
    }
    /** Digests of this snapshot's items, when the comparison needed them. */
    let current: Set<string> | null = null;
    if (!sameSet || checkpoint) {
      const before = previous === null ? null : previousIds();
      const present = (current = new Set<string>());
      const enter = (d: string, item: Item): void => {
        if (present.has(d)) return; // two equal records are one item
        present.add(d);
        if (before?.has(d)) return;
        added.push(d);
        entered.set(d, item);
      };
      for (const [d, item] of others) enter(d, item);
      for (const e of sockets.values()) enter(e.digest, { kind: 'socket', socket: e.socket });
      if (before) for (const [d, id] of before) if (!present.has(d)) removed.push([d, id]);
    }
    const changed = previous === null || added.length > 0 || removed.length > 0;
    let digest: string;
    let sorted = previous?.sorted ?? null;
    if (!changed) {
      digest = previous!.digest;
    } else if (computed !== null) {
      digest = computed;
      sorted = null;
    } else if (previous !== null && previous.ids !== null) {
      // A changed tick of a session: the previous set's sorted digests with the changes merged in.
      // (The previous set's digests are those of the items captured then: ids is brought to what
      // a capture holds at each changed append, so a digest forged in the store never gets here.)
      sorted = (sorted ?? SortedDigests.of(previous.ids.keys())).with(
        removed.map(([d]) => d),
        added,
      );
      digest = sorted.digest();
    } else {
      digest = setDigest(current!);
      sorted = null;
    }

    const { snapshot: meta, counts } = this.describe(snapshot);
    try {
      const result = this.db
        .transaction(() => {
          this.holdLock(this.now().toISOString());
          // Ids of the items that entered. The set's digest -> id map is brought up to date only once
          // the transaction has committed (below), so a failed append leaves the previous state as
          // it was, and the map of tens of thousands of entries is never copied.
          const upsert = this.stmt('INSERT INTO items (kind, digest, body) VALUES (?, ?, ?) ON CONFLICT (digest) DO UPDATE SET digest = excluded.digest RETURNING id');
          const addedIds = added.map((d) => {
            const item = entered.get(d)!;
            return Number((upsert.get(item.kind, d, item.body ?? bodies?.get(d) ?? socketBody(item.socket)) as { id: number }).id);
          });
          const hashed = [...this.pendingHashes].map(([key, h]): [string, string, string, number] => [key, h.blake3, h.sha256, h.size]);
          const body: SnapshotBody = {
            schemaVersion: 3,
            snapshot: meta,
            label: options.label ?? null,
            change: options.change ?? null,
            counts,
            namespaceCounts: snapshot.namespaces.map((n) => [n.inode, n.processes, n.sockets]),
            setDigest: digest,
            ...(checkpoint ? {} : { changesDigest: changesDigest(added, removed.map(([d]) => d)) }),
            checkpoint,
            session: this.session!,
            ...(hashed.length > 0 ? { hashed } : {}),
          };
          const { seq: id, hash: recordHashOfId } = this.appendRecord('snapshot', snapshot.takenAt, JSON.stringify(body));
          const cache = this.stmt('INSERT OR REPLACE INTO hash_cache (identity, blake3, sha256, size, seen, seq) VALUES (?, ?, ?, ?, ?, ?)');
          for (const [key, blake3, sha256, size] of hashed) cache.run(key, blake3, sha256, size, snapshot.takenAt, id);
          this.stmt('INSERT INTO snapshots (id, taken_at, host, label, change_ticket, sockets, attributed, checkpoint, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
            id,
            snapshot.takenAt,
            snapshot.host.hostname,
            body.label,
            body.change,
            counts.sockets,
            counts.attributed,
            checkpoint ? 1 : 0,
            this.session,
          );
          if (options.marker) this.stmt('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(options.marker.key, options.marker.value(id));
          if (checkpoint) {
            // A checkpoint lists the whole set: the previous items that stayed, and those that entered.
            const insert = this.stmt('INSERT INTO checkpoint_items (snapshot_id, item_id) VALUES (?, ?)');
            const gone = new Set(removed.map(([d]) => d));
            if (previous !== null) for (const [d, itemId] of previousIds()) if (!gone.has(d)) insert.run(id, itemId);
            for (const itemId of addedIds) insert.run(id, itemId);
          } else {
            const insert = this.stmt('INSERT INTO events (snapshot_id, item_id, op) VALUES (?, ?, ?)');
            for (const itemId of addedIds) insert.run(id, itemId, 1);
            for (const [, itemId] of removed) insert.run(id, itemId, -1);
          }
          return { id, addedIds, recordHash: recordHashOfId };
        })
        .immediate();
      // The new set's ids: an unchanged set keeps the previous map (still unloaded if nothing needed
      // it); a changed one is the previous map changed in place, now that the append is stored.
      let ids: Map<string, number> | null = previous === null ? null : previous.ids;
      if (changed) {
        ids = previous === null ? new Map<string, number>() : previousIds();
        for (const [d] of removed) ids.delete(d);
        for (let k = 0; k < added.length; k++) ids.set(added[k]!, result.addedIds[k]!);
      }
      this.state = {
        snapshotId: result.id,
        ids,
        digest,
        sorted,
        sinceCheckpoint: checkpoint ? 0 : (previous?.sinceCheckpoint ?? 0) + 1,
        eventsSinceCheckpoint: checkpoint ? 0 : (previous?.eventsSinceCheckpoint ?? 0) + added.length + removed.length,
      };
      this.pendingHashes.clear();
      // Keep digests of the current items only: a long session must not grow without bound.
      this.digests.clear();
      for (const [d, item] of others) this.digests.set(item.body, d);
      this.sockets = retain ? sockets : new Map();
      // The first snapshot of a store has nothing to compare with: no socket "opened".
      const opened = previous ? added.map((d) => entered.get(d)!).filter((i) => i.kind === 'socket').map((i) => i.socket!) : [];
      const closed: SocketRecord[] = [];
      if (removed.length > 0) {
        const body = this.stmt('SELECT kind, body FROM items WHERE id = ?');
        for (const [, itemId] of removed) {
          const row = body.get(itemId);
          if (row && row.kind === 'socket') closed.push(this.parseItem('socket', String(row.body), `item ${itemId} (socket)`) as SocketRecord);
        }
      }
      return { id: result.id, recordHash: result.recordHash, added: previous ? added.length : 0, removed: removed.length, checkpoint, ...sameAsStoredBefore(opened, closed) };
    } catch (error) {
      throw storeError(error, this.path, 'could not append the snapshot to the evidence store (nothing of it was stored)');
    }
  }

  private describe(snapshot: Snapshot): Pick<SnapshotBody, 'snapshot' | 'counts'> {
    const { sockets, processes, namespaces, tool: _tool, host: _host, selection: _selection, warnings: _warnings, listeningPortsLeftOut: _leftOut, ephemeralTcpListeners: _tcpLeft, capturedBy: _by, ...meta } = snapshot;
    return {
      snapshot: meta,
      counts: { sockets: sockets.length, processes: processes.length, namespaces: namespaces.length, attributed: snapshot.coverage.attributed },
    };
  }

  /** Snapshots, oldest first (or newest first), all or those a query names. */
  listSnapshots(query: SnapshotQuery = {}): SnapshotSummary[] {
    const { sql, params } = snapshotSelection(query);
    // Rows as arrays (raw): a long listing reads them about twice as fast as keyed objects.
    const rows = this.stmt(
      // A snapshot's id is its record's position in the chain; the record holds its full coverage.
      // Its time, label and change too: an index row edited in place is named, not listed (a
      // new-user probe's `snapshots` listed a label set with sqlite3 as if captured so).
      `SELECT id, taken_at, host, label, change_ticket, sockets, attributed, checkpoint, json_extract(r.body, '$.snapshot.coverage.byReason."kernel-owned"'), json_extract(r.body, '$.snapshot.takenAt'), json_extract(r.body, '$.label'), json_extract(r.body, '$.change'), r.seq FROM (${sql}) AS sel LEFT JOIN records r ON r.seq = sel.id AND r.kind = 'snapshot' ORDER BY ${query.byTime === true ? `taken_at${query.newestFirst ? ' DESC' : ''}, ` : ''}id${query.newestFirst ? ' DESC' : ''}`,
    )
      .raw(true)
      .all(...params) as unknown as unknown[][];
    return rows.map(([id, takenAt, host, label, change, sockets, attributed, checkpoint, kernelOwnedValue, recordedAt, recordedLabel, recordedChange, seq]) => {
      if (seq === null) throw this.changedOutside('E_STORE_INDEX_CHANGED', `the snapshots index of ${this.path} lists snapshot ${String(id)}, which has no record in the chain`);
      this.checkIndexRow(Number(id), [
        ['time', takenAt, recordedAt],
        ['label', label, recordedLabel],
        ['change', change, recordedChange],
      ]);
      const kernelOwned = Number(kernelOwnedValue ?? 0);
      const ownable = Number(sockets) - kernelOwned;
      return {
        id: Number(id),
        takenAt: String(takenAt),
        host: String(host),
        label: label === null ? null : String(label),
        change: change === null ? null : String(change),
        sockets: Number(sockets),
        attributed: Number(attributed),
        kernelOwned,
        coverage: ownable <= 0 ? 1 : Number(attributed) / ownable,
        checkpoint: Number(checkpoint) === 1,
      };
    });
  }

  /**
   * The extent of a query's snapshots (see SnapshotsExtent), in one read: aggregates and distinct
   * tags in SQL, so a year of 10-second captures is never held in memory to list it.
   */
  snapshotsExtent(query: SnapshotQuery = {}): SnapshotsExtent {
    const { sql, params } = snapshotSelection(query);
    const nullable = (v: unknown): string | null => (v === null ? null : String(v));
    return this.reading(() => {
      const totals = this.stmt(`SELECT count(*) AS n, min(id) AS first, max(id) AS last, max(sockets) AS sockets FROM (${sql})`).get(...params)!;
      const distinct = (column: string): unknown[] => this.stmt(`SELECT DISTINCT ${column} FROM (${sql})`).pluck().all(...params) as unknown[];
      return {
        count: Number(totals.n),
        firstId: totals.first === null ? null : Number(totals.first),
        lastId: totals.last === null ? null : Number(totals.last),
        maxSockets: Number(totals.sockets ?? 0),
        hosts: distinct('host').map(String),
        labels: distinct('label').map(nullable),
        changes: distinct('change_ticket').map(nullable),
      };
    });
  }

  /** How many snapshots the store holds. */
  countSnapshots(): number {
    return Number(this.stmt('SELECT COUNT(*) FROM snapshots').pluck().get());
  }

  /** The last prune and the oldest snapshot it left, or null when the store was never pruned. */
  retention(): RetentionRecord | null {
    // A prune sets the anchor, and its record follows it: without an anchor there is none to
    // look for (and before schema 6, which indexes records by kind, looking read the whole chain).
    const anchor = this.pruneAnchor();
    if (anchor === null) return null;
    const row = this.stmt(`SELECT seq, at, body FROM records WHERE kind = 'prune' AND ${RARE_RECORDS} AND seq > ? ORDER BY seq DESC LIMIT 1`).get(anchor.seq);
    if (!row) return null;
    const body = this.parseStored<{ cutoff: string }>(String(row.body), `prune record ${Number(row.seq)}`);
    const oldest = this.stmt('SELECT MIN(taken_at) FROM snapshots').pluck().get() as unknown;
    // Whether one of them is the snapshot that was the newest when the prune ran (it always keeps
    // that one), not the newest now: after later captures it read as one captured after the clock
    // was set back (a multi-day probe).
    const earlier = this.stmt('SELECT COUNT(*) AS n, COALESCE(SUM(id = (SELECT MAX(id) FROM snapshots WHERE id < ?)), 0) AS newest FROM snapshots WHERE taken_at < ?').get(Number(row.seq), String(body.cutoff))!;
    return {
      seq: Number(row.seq),
      at: String(row.at),
      cutoff: String(body.cutoff),
      evidenceFrom: typeof oldest === 'string' ? oldest : null,
      keptEarlier: { snapshots: Number(earlier.n), newest: Number(earlier.newest) === 1 },
      removedThrough: anchor.seq,
    };
  }

  /**
   * A past snapshot, exactly as it was captured. Its records may be shared with other snapshots
   * loaded through this store object: treat them as read-only. Its record is checked where it
   * stands, and its items against the set digest the record holds, unless `checkItems` is false:
   * for a caller that has checked them otherwise (verify() in the same read transaction).
   */
  loadSnapshot(id: number, options: { checkItems?: boolean } = {}): Snapshot & { label: string | null; change: string | null } {
    return this.reading(() => this.loadSnapshotNow(id, options.checkItems !== false));
  }

  /**
   * Snapshots read in order of their ids at the cost of their changes (SnapshotWalk), checked as
   * loadSnapshot() checks them. Use it inside reading() or holdRead(), so that every step sees one
   * store.
   */
  walk(): SnapshotWalk {
    return new SnapshotWalk({
      record: (id) => {
        const body = this.snapshotBody(id, true);
        if (body.snapshot.schemaVersion !== SNAPSHOT_SCHEMA_VERSION) {
          throw new FormatError('E_SNAPSHOT_VERSION', `snapshot ${id} has schema ${String(body.snapshot.schemaVersion)}, expected ${SNAPSHOT_SCHEMA_VERSION}`);
        }
        return { setDigest: body.setDigest, takenAt: body.snapshot.takenAt, label: body.label, change: body.change };
      },
      baseOf: (id) => this.baseOf(id),
      baseItems: (base) => this.stmt('SELECT c.item_id, i.kind, i.digest, i.body FROM checkpoint_items c LEFT JOIN items i ON i.id = c.item_id WHERE c.snapshot_id = ?').raw().all(base) as unknown as Iterable<[number, string | null, string | null, string | null]>,
      events: (from, to) =>
        this.stmt('SELECT e.item_id, e.op, i.kind, i.digest, i.body FROM events e LEFT JOIN items i ON i.id = e.item_id AND e.op > 0 WHERE e.snapshot_id > ? AND e.snapshot_id <= ? ORDER BY e.snapshot_id')
          .raw()
          .all(from, to) as unknown as Iterable<[number, number, string | null, string | null, string | null]>,
      parse: (kind, body, what) => this.parseItem(kind, body, what),
      changed: (code, problem) => this.changedOutside(code, `${problem} in ${this.path}`),
      missing: (problem) => new VerificationError('E_STORE_MISSING_ITEM', `${problem} in ${this.path}`),
    });
  }

  /**
   * `read` inside one read transaction: every query sees the store as it was when the first one
   * ran, whatever a writer (an `--interval` session, a prune) commits meanwhile. Without it, a
   * reader that runs several queries can see a record in one and not in the next, and take a
   * store that is only growing for one that was tampered with, or pair a snapshot with a record
   * hash that a prune has just removed. Calls nest; `read` must not write (the transaction of a
   * read-only store cannot).
   */
  reading<T>(read: () => T): T {
    if (this.db.inTransaction) return read();
    try {
      return this.db.transaction(read)();
    } catch (error) {
      // SQLite's own errors while reading (a page it cannot read, an I/O error) with the store's
      // path and what they mean; netmon's errors as they are.
      throw isSqliteError(error) ? storeError(error, this.path, 'cannot read the evidence store', true) : error;
    }
  }

  /**
   * reading() for work that waits in between (a reader going through a large file): a read
   * transaction begins here, and every query of this store object until the returned function is
   * called sees the store as it was now, whatever a capture or a prune commits meanwhile.
   */
  holdRead(): () => void {
    if (this.db.inTransaction) return () => {};
    this.db.exec('BEGIN');
    // A WAL reader's view begins with its first read, not with BEGIN.
    this.stmt('SELECT COUNT(*) FROM meta').get();
    return () => {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    };
  }

  private loadSnapshotNow(id: number, checkItems: boolean): Snapshot & { label: string | null; change: string | null } {
    const body = this.snapshotBody(id, true);
    if (body.snapshot.schemaVersion !== SNAPSHOT_SCHEMA_VERSION) {
      throw new FormatError('E_SNAPSHOT_VERSION', `snapshot ${id} has schema ${String(body.snapshot.schemaVersion)}, expected ${SNAPSHOT_SCHEMA_VERSION}`);
    }
    // Snapshots with the same set digest have the same items (the digest commits to every item's
    // digest, and an item's digest is its identity in the store): an unchanged inventory, which
    // is what most ticks of a quiet host are, is assembled once and shared.
    const last = this.lastItemSet;
    const set = last !== null && last.digest === body.setDigest && (last.checked || !checkItems) ? last : (this.lastItemSet = this.loadItemSet(id, body.setDigest, checkItems));
    const { sockets, processes, context } = set;
    const namespaces = body.schemaVersion === 1 ? set.namespaces : this.countedNamespaces(id, set.namespaces, body.namespaceCounts);
    const { schemaVersion, takenAt, durationMs, coverage } = body.snapshot;
    const { tool, host, selection, warnings, listeningPortsLeftOut, ephemeralTcpListeners, capturedBy } = context;
    // The index row that `snapshots` lists and labels and times select by must say what the record
    // says: a row edited in place (a label changed to pass one capture for another) is named here,
    // not only by verify-store (a new-user probe's `show hacked` printed the record's "pre").
    const row = this.stmt('SELECT taken_at, host, label, change_ticket FROM snapshots WHERE id = ?').get(id);
    if (!row) throw this.changedOutside('E_STORE_INDEX_CHANGED', `snapshot ${id} has no row in the snapshots index of ${this.path}`);
    this.checkIndexRow(id, [
      ['time', row.taken_at, takenAt],
      ['host', row.host, host.hostname],
      ['label', row.label, body.label],
      ['change', row.change_ticket, body.change],
    ]);
    return {
      schemaVersion,
      tool,
      host,
      takenAt,
      durationMs,
      selection,
      namespaces,
      sockets,
      processes,
      coverage,
      warnings,
      ...(listeningPortsLeftOut === undefined ? {} : { listeningPortsLeftOut }),
      ...(ephemeralTcpListeners === undefined ? {} : { ephemeralTcpListeners }),
      ...(capturedBy === undefined ? {} : { capturedBy }),
      label: body.label,
      change: body.change,
    };
  }

  /** Layout 2: a snapshot's namespace items with its own counts (new records: items are shared between snapshots). */
  private countedNamespaces(id: number, items: NamespaceRecord[], counts: SnapshotBody['namespaceCounts']): NamespaceRecord[] {
    const byInode = new Map<number, [number, number, number]>();
    for (const c of counts ?? []) byInode.set(c[0], c);
    return items.map((n) => {
      const c = byInode.get(n.inode);
      if (!c) throw this.changedOutside('E_STORE_BAD_RECORD', `the record of snapshot ${id} in ${this.path} has no counts for its namespace ${n.inode}`);
      // The key order of a captured NamespaceRecord, so that `show -o json` prints what the capture did.
      const { inode, name, host, processes: _processes, sockets: _sockets, ...rest } = n;
      return { inode, name, host, processes: c[1], ...rest, sockets: c[2] };
    });
  }

  /** The items of snapshot `id`, parsed and in snapshot order. */
  private loadItemSet(id: number, digest: string, checkItems: boolean, fast = true): ItemSet {
    const sockets: SocketRecord[] = [];
    const processes: ProcessRecord[] = [];
    const namespaces: NamespaceRecord[] = [];
    let context: SnapshotContext | undefined;
    let ids: Set<number>;
    const parse = (itemId: number, kind: string, text: string, kindAndText?: string): void => {
      if (this.parsedItems.has(itemId)) return;
      // The digest of every item loaded, from its body as stored: the set digest below commits to them.
      const digest = checkItems ? (kindAndText === undefined ? itemDigest(kind, text) : joinedItemDigest(kindAndText)) : '';
      let value: unknown;
      try {
        // Named only when it fails: not a message made for each of tens of thousands of items.
        value = this.parseItem(kind, text, () => `item ${itemId} (${kind}), read while loading snapshot ${id},`);
      } catch (error) {
        // Text netmon did not write: an edit of the body, when it no longer matches its digest.
        if ((this.stmt('SELECT digest FROM items WHERE id = ?').pluck().get(itemId) as string | undefined) !== itemDigest(kind, text)) {
          throw this.changedOutside('E_STORE_ITEM_CHANGED', `item ${itemId} (${kind}) of snapshot ${id} in ${this.path} no longer matches its digest`);
        }
        throw error;
      }
      this.parsedItems.set(itemId, { kind, value, digest });
    };
    let textRead = false;
    if (this.parsedItems.size === 0 && fast) {
      // The first snapshot this store object loads: ids and bodies together, each query's rows
      // as one text (replaySetText).
      ids = new Set<number>();
      const seen = ids;
      try {
        textRead = this.replaySetText(
          id,
          (itemId, text, kindEnd) => {
            seen.add(itemId);
            parse(itemId, text.slice(0, kindEnd), text.slice(kindEnd + 1), text);
          },
          (itemId) => seen.delete(itemId),
        );
      } catch {
        // Read again row by row below, which names what is wrong.
      }
      if (!textRead) {
        this.parsedItems.clear();
        return this.loadItemSet(id, digest, checkItems, false);
      }
    } else if (this.parsedItems.size === 0) {
      // Row by row, in two joined queries (a LEFT JOIN, so that an item row missing from the
      // store is noticed below).
      ids = new Set<number>();
      const seen = ids;
      this.replaySet(
        id,
        'i.kind, i.body',
        (itemId, kind, text) => {
          seen.add(itemId);
          if (kind !== null) parse(itemId, kind as string, text as string);
        },
        (itemId) => seen.delete(itemId),
      );
    } else {
      // Items parsed for an earlier snapshot of this store object are reused (diff loads two
      // snapshots that share most of their items); the others come in one query: by id when
      // they are few, else every item the base and the events since name.
      ids = this.itemIdsOf(id);
      const missing: number[] = [];
      for (const itemId of ids) if (!this.parsedItems.has(itemId)) missing.push(itemId);
      const take = (row: unknown): void => {
        const [itemId, kind, text] = row as [number, string, string];
        if (ids.has(itemId)) parse(itemId, kind, text);
      };
      if (missing.length > 0 && missing.length < ids.size / 2) {
        for (const row of this.stmt('SELECT id, kind, body FROM items WHERE id IN (SELECT value FROM json_each(?))').raw().iterate(JSON.stringify(missing))) take(row);
      } else if (missing.length > 0) {
        const base = this.baseOf(id);
        const rows = this.stmt(
          `SELECT id, kind, body FROM items WHERE id IN (SELECT item_id FROM checkpoint_items WHERE snapshot_id = ?)
              OR id IN (SELECT item_id FROM events WHERE snapshot_id > ? AND snapshot_id <= ? AND op = 1)`,
        ).raw();
        for (const row of rows.iterate(base, base, id)) take(row);
      }
    }
    const wanted = new Set<number>();
    const digests: string[] = [];
    for (const itemId of ids) {
      const value = this.parsedItems.get(itemId);
      if (value === undefined) {
        wanted.add(itemId);
        continue;
      }
      if (checkItems && value.digest === '') {
        // Parsed unchecked for an earlier load of this store object: hashed from its stored body now.
        const row = this.stmt('SELECT kind, body FROM items WHERE id = ?').get(itemId);
        value.digest = row ? itemDigest(String(row.kind), String(row.body)) : '';
      }
      digests.push(value.digest);
      if (value.kind === 'socket') sockets.push(value.value as SocketRecord);
      else if (value.kind === 'process') processes.push(value.value as ProcessRecord);
      else if (value.kind === 'context') context = value.value as SnapshotContext;
      else namespaces.push(value.value as NamespaceRecord);
    }
    const lost = [...wanted][0];
    if (lost !== undefined) throw new VerificationError('E_STORE_MISSING_ITEM', `snapshot ${id} refers to item ${lost}, which is missing from ${this.path}`);
    // The set as replayed from the checkpoint and the events is the set the record committed to:
    // rows of events or checkpoint_items added, removed or pointed at other items are caught here.
    if (checkItems && itemSetDigest(digests) !== digest) {
      if (textRead) {
        // Found again row by row, so that the message names the item or the rows.
        this.parsedItems.clear();
        return this.loadItemSet(id, digest, checkItems, false);
      }
      throw this.setChanged(id, ids, (itemId) => this.parsedItems.get(itemId)?.digest);
    }
    sockets.sort(compareSockets);
    processes.sort((a, b) => a.pid - b.pid);
    namespaces.sort((a, b) => Number(b.host) - Number(a.host) || a.inode - b.inode);
    if (!context) throw new VerificationError('E_STORE_MISSING_ITEM', `snapshot ${id} has no context item (host, selection) in ${this.path}`);
    return { digest, checked: checkItems, sockets, processes, namespaces, context };
  }

  /** Why the items of snapshot `id` are not the set its record holds: an item's body edited, else rows of the set tables. */
  private setChanged(id: number, ids: Set<number>, computed: (itemId: number) => string | undefined): VerificationError {
    const stored = this.stmt('SELECT id, kind, digest FROM items WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id').raw().all(JSON.stringify([...ids])) as unknown as [number, string, string][];
    for (const [itemId, kind, digest] of stored) {
      const mine = computed(itemId);
      if (mine !== undefined && mine !== digest) return this.changedOutside('E_STORE_ITEM_CHANGED', `item ${itemId} (${kind}) of snapshot ${id} in ${this.path} no longer matches its digest`);
    }
    return this.changedOutside('E_STORE_SET_CHANGED', `the items of snapshot ${id} in ${this.path} are not the set its record holds (rows of the events or checkpoint tables were changed)`);
  }

  /** Gap records, oldest first. */
  gaps(): GapRecord[] {
    return this.checkedRare('gap').map((r) => ({ seq: r.seq, ...this.parseStored<{ from: string; to: string; reason: string }>(r.body, `gap record ${r.seq}`) }));
  }

  /** The clock steps recorded (`recordClockStep`), oldest first. */
  clockSteps(): ClockStepRecord[] {
    return this.checkedRare('clock').map((r) => ({ seq: r.seq, at: r.at, stepMs: Number(this.parseStored<{ stepMs: number }>(r.body, `clock record ${r.seq}`).stepMs) }));
  }

  /** The records of a kind that is not 'snapshot', oldest first, each checked where it stands (checkRecordInPlace). */
  private checkedRare(kind: string): { seq: number; at: string; body: string }[] {
    return this.stmt(`SELECT seq, at, body, prev_hash, hash FROM records WHERE kind = ? AND ${RARE_RECORDS} ORDER BY seq`)
      .all(kind)
      .map((r) => {
        const row = { seq: Number(r.seq), at: String(r.at), body: String(r.body) };
        this.checkRecordInPlace(row.seq, kind, row.at, row.body, String(r.prev_hash), String(r.hash));
        return row;
      });
  }

  /**
   * Recompute the chain and every snapshot's item set; name the first record that fails.
   * `onProgress` hears the records checked so far and their number, every 1,000 records.
   */
  verify(options: { onProgress?: (records: number, total: number) => void; expectHeads?: readonly string[] } = {}): VerifyResult {
    try {
      return this.verifyReading(options);
    } catch (caught) {
      // Inside a caller's read transaction, SQLite's error comes as it is.
      const error = isSqliteError(caught) ? storeError(caught, this.path, 'cannot read the evidence store', true) : caught;
      // A store SQLite cannot read whole fails verification: its evidence is no longer all there.
      if (isCorruption(error)) throw new VerificationError('E_STORE_CORRUPT', `the evidence store ${(error as StoreError).message.replace(/^cannot read the evidence store: /, '')}`, { hint: (error as StoreError).hint ?? 'restore the store from a backup or copy' });
      throw error;
    }
  }

  private verifyReading(options: { onProgress?: (records: number, total: number) => void; expectHeads?: readonly string[] }): VerifyResult {
    return this.reading(() => {
      const result = this.verifyNow(options.onProgress);
      if (!result.ok) return result;
      // Heads recorded earlier, outside the store (--expect-head): each must still be a record of
      // the chain just verified. A chain rewritten from some record on, or cut short, verifies on
      // its own; it cannot keep a record whose hash was published before.
      const anchor = this.pruneAnchor();
      // The last record a prune removed: its hash stands in the chain as the anchor it continues from.
      const missing = (options.expectHeads ?? []).filter((head) => !this.hasRecordHash(head, 0) && anchor?.hash !== head);
      if (missing.length > 0) {
        const retention = this.retention();
        const pruned = retention === null ? '' : `; a prune (record ${retention.seq}, at ${retention.at}) removed records 1 to ${retention.removedThrough}, so a head recorded before it may be gone with them: check a head recorded after that prune`;
        const heads = missing.length === 1 ? `the head recorded earlier, ${missing[0]}, is` : `the heads recorded earlier ${missing.join(', ')} are`;
        const last = Number(this.stmt('SELECT MAX(seq) FROM records').pluck().get()) || 0;
        return {
          ...result,
          ok: false,
          problem: { seq: last, kind: 'head', message: `${heads} not a record of this store: records at or before ${missing.length === 1 ? 'it' : 'them'} were rewritten or removed after ${missing.length === 1 ? 'it was' : 'they were'} recorded, or ${missing.length === 1 ? 'it was never a record' : 'they were never records'} of this store${pruned}` },
        };
      }
      return result;
    });
  }

  private verifyNow(onProgress?: (records: number, total: number) => void): VerifyResult {
    // Which records have checkpoint or events rows, and their rows in the snapshots index, are
    // read in step with the chain, each once in order (a merge join), rather than looked up
    // record by record: four lookups per snapshot were a fifth of the time of a long store of
    // unchanged ticks. The rows themselves are read per snapshot (in one call each, which costs
    // less per row than stepping through them from JavaScript).
    const rows: ChainRows = {
      bases: new RowsBySeq(this.stmt('SELECT snapshot_id FROM checkpoint_items GROUP BY snapshot_id ORDER BY snapshot_id')),
      events: new RowsBySeq(this.stmt('SELECT snapshot_id FROM events GROUP BY snapshot_id ORDER BY snapshot_id')),
      index: new RowsBySeq(this.stmt('SELECT id, taken_at, host, label, change_ticket, sockets, attributed, checkpoint, session FROM snapshots ORDER BY id')),
    };
    try {
      return this.verifyChain(rows, onProgress);
    } finally {
      rows.bases.close();
      rows.events.close();
      rows.index.close();
    }
  }

  private verifyChain(rows: ChainRows, onProgress?: (records: number, total: number) => void): VerifyResult {
    const anchor = this.pruneAnchor();
    // A chain's records are numbered without holes (verification names any): the count without reading them all.
    const total = onProgress ? Number(this.stmt('SELECT COALESCE(MAX(seq) - MIN(seq) + 1, 0) FROM records').pluck().get()) : 0;
    let prev = anchor?.hash ?? GENESIS_HASH;
    let expected = (anchor?.seq ?? 0) + 1;
    let records = 0;
    let snapshots = 0;
    let gaps = 0;
    const items = Number(this.stmt('SELECT COUNT(*) FROM items').pluck().get());
    // The set is followed from record to record, and an item is read and checked against its
    // digest when it enters the set: memory stays that of one set, and the set digest of a changed
    // snapshot is its previous sorted digests with the changes merged in, not a sort of the whole
    // set again (a store of a busy host holds millions of items and thousands of changed snapshots).
    /** Item id -> digest of the items in the set; the hosts of its context items; its digests, sorted. */
    let set = new Map<number, string>();
    /** The digests of the set's items. */
    let inSet = new Set<string>();
    let hosts = new Map<number, string>();
    // Null after a layout 3 change: that layout follows a set without its sorted digests, which
    // are made again only where a set digest is checked.
    let sorted: SortedDigests | null = SortedDigests.of([]);
    let lastDigest: string | null = null;
    /** The set digest recorded by the snapshot before, once it was checked or committed to by its changes. */
    let previousSetDigest: string | null = null;
    let lastPrune: { seq: number; hash: string; base: number } | null = null;
    const fail = (seq: number, kind: string, message: string): VerifyResult => ({
      ok: false,
      records,
      snapshots,
      items,
      gaps,
      headHash: prev,
      problem: { seq, kind, message },
    });
    /**
     * An item entering the set: its problem, or null when its body matches its digest. `checked`:
     * the set before a checkpoint, whose items were checked when they entered it (this read sees
     * the store as it was then: the same id has the same row), so a checkpoint hashes only the
     * items that are new to it. Its context items keep their hosts.
     */
    const enter = (itemId: number, kind: unknown, digest: unknown, body: unknown, checked?: { set: Map<number, string>; hosts: Map<number, string> }): string | null => {
      if (kind === null || kind === undefined) return `item ${itemId} of this snapshot is missing`;
      const text = String(body);
      const known = checked !== undefined && checked.set.get(itemId) === String(digest);
      if (!known && itemDigest(String(kind), text) !== String(digest)) return `item ${itemId} (${String(kind)}) was changed: its body no longer matches its digest`;
      // Ids and digests are one to one (a unique index): two items with one digest were put there.
      if (inSet.has(String(digest))) return 'two items of its set have the same digest (items were changed or added)';
      set.set(itemId, String(digest));
      inSet.add(String(digest));
      if (kind === 'context' && known && checked.hosts.has(itemId)) {
        hosts.set(itemId, checked.hosts.get(itemId)!);
      } else if (kind === 'context') {
        let context: Partial<SnapshotContext> | null;
        try {
          context = JSON.parse(text) as Partial<SnapshotContext> | null;
        } catch {
          return `item ${itemId} (context) is not valid JSON`;
        }
        // A context without a host name leaves the snapshots index check to fail.
        hosts.set(itemId, String(context?.host?.hostname));
      }
      return null;
    };
    // Records removed from the head of the chain are a prune's only when its record, later in the
    // chain, names the anchor that stands for them: checked first, so that an anchor written
    // outside netmon is named as such rather than by what it leaves odd in the first record kept.
    if (anchor) {
      const last = this.stmt(`SELECT body FROM records WHERE kind = 'prune' AND ${RARE_RECORDS} AND seq > ? ORDER BY seq DESC LIMIT 1`).pluck().get(anchor.seq) as string | undefined;
      let named: { seq?: unknown; hash?: unknown; base?: unknown } | null = null;
      try {
        named = last === undefined ? null : ((JSON.parse(last) as { anchor?: { seq?: unknown; hash?: unknown; base?: unknown } }).anchor ?? null);
      } catch {
        named = null;
      }
      if (named === null) return fail(anchor.seq + 1, 'prune', `records 1 to ${anchor.seq} are missing: the store's prune anchor stands for them, but no prune record in the chain removed them (the anchor was written outside netmon)`);
      if (named.seq !== anchor.seq || named.hash !== anchor.hash || named.base !== anchor.base) return fail(anchor.seq + 1, 'prune', "the store's prune anchor does not match the last prune record in the chain");
    }
    const checkpointsOf = this.stmt('SELECT c.item_id, i.kind, i.digest, i.body FROM checkpoint_items c LEFT JOIN items i ON i.id = c.item_id WHERE c.snapshot_id = ?').raw();
    const eventsOf = this.stmt('SELECT e.item_id, e.op, i.kind, i.digest, i.body FROM events e LEFT JOIN items i ON i.id = e.item_id AND e.op = 1 WHERE e.snapshot_id = ?').raw();
    /** The first row of the snapshots index that no snapshot record claimed. */
    let stray: number | null = null;
    const chain = this.stmt('SELECT seq, kind, at, body, prev_hash, hash FROM records ORDER BY seq').raw().iterate() as unknown as IterableIterator<unknown[]>;
    for (const row of chain) {
      const seq = Number(row[0]);
      const kind = String(row[1]);
      const body = String(row[3]);
      const hash = String(row[5]);
      if (seq !== expected) return fail(seq, kind, seq > expected ? `records ${expected} to ${seq - 1} are missing` : `record ${seq} is out of sequence`);
      if (String(row[4]) !== prev) return fail(seq, kind, 'its previous-hash does not match the record before it (a record was removed, inserted or changed)');
      if (recordHash(prev, seq, kind, String(row[2]), body) !== hash) return fail(seq, kind, 'its content does not match its hash (the record was changed)');
      let parsed: SnapshotBody | null = null;
      if (kind === 'snapshot') {
        try {
          parsed = JSON.parse(body) as SnapshotBody;
        } catch {
          return fail(seq, kind, 'its body is not valid JSON');
        }
      }
      // loadSnapshot() reads every events and checkpoint_items row up to a snapshot's id: rows
      // keyed to a record that cannot own them would change reconstructions unseen.
      const isBase = parsed !== null && (parsed.checkpoint || seq === anchor?.base);
      // Rows keyed below the first record (before a prune's anchor) are passed over, as before:
      // no snapshot is read through them (a kept snapshot's set starts at its base or later).
      rows.bases.skipBelow(seq);
      rows.events.skipBelow(seq);
      if (!isBase && rows.bases.nextSeq === seq) return fail(seq, kind, 'it has checkpoint rows, but it is not a checkpoint (checkpoint_items were added)');
      if ((parsed === null || isBase) && rows.events.nextSeq === seq) return fail(seq, kind, 'it has events rows, which only a snapshot stored as changes can have (events were added)');
      if (parsed !== null) {
        if (isBase) {
          const checked = { set, hosts };
          set = new Map();
          inSet = new Set();
          hosts = new Map();
          for (const [itemId, itemKind, digest, itemBody] of checkpointsOf.all(seq) as unknown as [number, unknown, unknown, unknown][]) {
            const problem = enter(itemId, itemKind, digest, itemBody, checked);
            if (problem !== null) return fail(seq, kind, problem);
          }
          sorted = SortedDigests.of(set.values());
          lastDigest = null;
        } else {
          const events = (rows.events.nextSeq === seq ? eventsOf.all(seq) : []) as unknown as [number, number, unknown, unknown, unknown][];
          const removed: string[] = [];
          const added: string[] = [];
          for (const [itemId, op, itemKind, digest, itemBody] of events) {
            if (op === 1 && !set.has(itemId)) {
              const problem = enter(itemId, itemKind, digest, itemBody);
              if (problem !== null) return fail(seq, kind, problem);
              added.push(String(digest));
            } else if (op === -1 && set.has(itemId)) {
              removed.push(set.get(itemId)!);
              inSet.delete(set.get(itemId)!);
              set.delete(itemId);
              hosts.delete(itemId);
            } else {
              return fail(seq, kind, `its event ${op} for item ${itemId} does not change the set (events were changed or added)`);
            }
          }
          if (parsed.schemaVersion >= 3) {
            // The chain commits this snapshot's changes: checking them is checking its set, given
            // the set before it. An unchanged snapshot records the set digest before it.
            if (parsed.changesDigest !== changesDigest(added, removed)) return fail(seq, kind, 'its set of sockets and processes differs from what was recorded: its changes do not match (items or events were changed, added or removed)');
            if (events.length > 0) {
              sorted = null;
              lastDigest = null;
            } else if (parsed.setDigest !== previousSetDigest) {
              return fail(seq, kind, 'it records no change, but a set digest other than the snapshot before it');
            }
          } else if (events.length > 0) {
            // (enter() refused an item whose digest the set holds already: the merge cannot fail.)
            sorted = sorted === null ? SortedDigests.of(set.values()) : sorted.with(removed, added);
            lastDigest = null;
          }
        }
        let host: string | undefined;
        for (const h of hosts.values()) host = h;
        if (isBase || parsed.schemaVersion < 3) {
          sorted ??= SortedDigests.of(set.values());
          lastDigest ??= sorted.digest();
          if (lastDigest !== parsed.setDigest) return fail(seq, kind, 'its set of sockets and processes differs from what was recorded (items or events were changed, added or removed)');
        }
        previousSetDigest = parsed.setDigest;
        stray ??= rows.index.skipBelow(seq);
        const [indexed] = rows.index.take(seq);
        if (!indexed) return fail(seq, kind, 'its row in the snapshots index is missing');
        const [takenAt, indexHost, label, changeTicket, sockets, attributed, checkpoint, session] = indexed;
        if (
          String(takenAt) !== parsed.snapshot.takenAt ||
          String(indexHost) !== host ||
          Number(session) !== parsed.session ||
          (label ?? null) !== parsed.label ||
          (changeTicket ?? null) !== parsed.change ||
          Number(sockets) !== parsed.counts.sockets ||
          Number(attributed) !== parsed.counts.attributed ||
          Number(checkpoint) !== (parsed.checkpoint ? 1 : 0)
        ) {
          return fail(seq, kind, 'its row in the snapshots index does not match the record');
        }
        snapshots++;
      }
      if (kind === 'gap') gaps++;
      if (kind === 'prune') {
        try {
          lastPrune = (JSON.parse(body) as { anchor: { seq: number; hash: string; base: number } }).anchor;
        } catch {
          return fail(seq, kind, 'its body is not valid JSON');
        }
      }
      prev = hash;
      expected = seq + 1;
      records++;
      if (onProgress && records % 1000 === 0) onProgress(records, total);
    }
    if (anchor && (!lastPrune || lastPrune.seq !== anchor.seq || lastPrune.hash !== anchor.hash || lastPrune.base !== anchor.base)) {
      return fail(anchor.seq + 1, 'prune', "the store's prune anchor does not match the last prune record in the chain");
    }
    const beyond = this.stmt('SELECT MIN(snapshot_id) FROM (SELECT snapshot_id FROM events WHERE snapshot_id >= ? UNION ALL SELECT snapshot_id FROM checkpoint_items WHERE snapshot_id >= ?)').pluck().get(expected, expected) as unknown;
    if (beyond !== null && beyond !== undefined) return fail(Number(beyond), 'snapshot', 'events or checkpoint rows refer to a record that does not exist');
    stray ??= rows.index.skipBelow(Infinity);
    if (stray !== null) return fail(stray, 'snapshot', 'a row in the snapshots index has no record in the chain');
    return { ok: true, records, snapshots, items, gaps, headHash: records > 0 || anchor ? prev : null };
  }

  /**
   * Remove snapshots taken before `cutoff` (the newest snapshot is always kept). The first kept
   * snapshot's full set is written as its base, the removed records are replaced by an anchor (the
   * last removed record's hash), and a `prune` record in the chain commits to that anchor, so the
   * rest of the chain still verifies.
   *
   * A long prune goes in steps, each its own transaction and its own `prune` record, that remove
   * the oldest snapshots holding about `stepRows` rows (at least one snapshot a step). Between
   * steps a capture can write, so it never waits for a whole prune, and the write-ahead log only
   * ever holds one step. A prune stopped between steps leaves a store that
   * verifies, with fewer snapshots removed; running it again goes on. `onProgress` hears the
   * snapshots removed so far and how many the prune removes in all, after each step.
   */
  prune(cutoff: Date, options: { stepRows?: number; onProgress?: (removed: number, total: number) => void } = {}): PruneResult {
    if (this.readonly) throw new StoreError('E_STORE_READONLY', `${this.path} was opened read-only`);
    const at = cutoff.toISOString();
    const stepRows = options.stepRows ?? PRUNE_STEP_ROWS;
    const result: PruneResult = { removedSnapshots: 0, removedRecords: 0, record: null, records: [] };
    let total: number | null = null;
    // A step rewrites pages all over the items and their digest index: with SQLite's default
    // page cache (2 MiB) it spills them to the log mid-transaction and reads them back, which
    // took half of a step's time. A larger cache for the prune (only what it touches is used).
    const cacheSize = this.db.pragma('cache_size', { simple: true }) as number;
    this.db.pragma(`cache_size = ${PRUNE_CACHE_KIB}`);
    try {
      for (;;) {
        const step = this.db
          .transaction(() => {
            const firstKept = this.firstKeptBy(at);
            const left = firstKept === null ? 0 : Number(this.stmt('SELECT COUNT(*) FROM snapshots WHERE id < ?').pluck().get(firstKept));
            if (firstKept === null || left === 0) return null;
            total ??= left;
            return this.pruneStep(at, this.stepEnd(firstKept, stepRows));
          })
          .immediate();
        if (step === null) return result;
        result.removedSnapshots += step.removedSnapshots;
        result.removedRecords += step.removedRecords;
        result.record = step.record;
        result.records.push(step.record);
        options.onProgress?.(result.removedSnapshots, Math.max(total ?? 0, result.removedSnapshots));
      }
    } catch (error) {
      const done =
        result.record === null
          ? 'nothing was removed'
          : `its first ${count(result.records.length, 'step')} removed ${count(result.removedSnapshots, 'snapshot')} (prune records ${result.records.join(', ')}), the rest is as it was; run the prune again to go on`;
      throw storeError(error, this.path, `could not prune the evidence store (${done})`);
    } finally {
      this.db.pragma(`cache_size = ${cacheSize}`);
    }
  }

  /**
   * What `prune(cutoff)` would remove, without removing anything: the number of snapshots and
   * the times of the first and last of them (null when none), and the oldest snapshot it keeps.
   */
  pruneWouldRemove(cutoff: Date): { snapshots: number; first: string | null; last: string | null; keptFrom: string | null } {
    return this.reading(() => {
      const firstKept = this.firstKeptBy(cutoff.toISOString());
      if (firstKept === null) return { snapshots: 0, first: null, last: null, keptFrom: null };
      const row = this.stmt('SELECT COUNT(*) AS n, MIN(taken_at) AS first, MAX(taken_at) AS last FROM snapshots WHERE id < ?').get(firstKept)!;
      const keptFrom = String(this.stmt('SELECT taken_at FROM snapshots WHERE id = ?').pluck().get(firstKept));
      return { snapshots: Number(row.n), first: row.first === null ? null : String(row.first), last: row.last === null ? null : String(row.last), keptFrom };
    });
  }

  /** The first snapshot a prune to `at` keeps: the first taken at or after it, else the newest; null for an empty store. */
  private firstKeptBy(at: string): number | null {
    const lastId = this.stmt('SELECT MAX(id) FROM snapshots').pluck().get() as unknown as number | null;
    return lastId === null ? null : Number(this.stmt('SELECT COALESCE(MIN(id), ?) FROM snapshots WHERE taken_at >= ?').pluck().get(lastId, at));
  }

  /**
   * The first snapshot a prune step keeps: after the oldest snapshots whose rows (events,
   * checkpoint rows, PRUNE_SNAPSHOT_ROWS each) reach `rows` (at least one snapshot), and at most
   * `firstKept`, where the whole prune stops.
   */
  private stepEnd(firstKept: number, rows: number): number {
    const sizes = this.stmt(
      `SELECT id, (SELECT COUNT(*) FROM events WHERE snapshot_id = s.id) + (SELECT COUNT(*) FROM checkpoint_items WHERE snapshot_id = s.id)
         FROM snapshots s WHERE id <= ? ORDER BY id`,
    ).raw();
    let sum = 0;
    let reached = false;
    for (const [id, n] of sizes.iterate(firstKept) as Iterable<[number, number]>) {
      // The snapshot after the ones whose rows reached the budget is the first this step keeps.
      if (reached || id === firstKept) return Number(id);
      sum += Number(n) + PRUNE_SNAPSHOT_ROWS;
      reached = sum >= rows;
    }
    return firstKept;
  }

  /** Remove the snapshots before `firstKept` (one step of a prune, in the caller's transaction). */
  private pruneStep(at: string, firstKept: number): { removedSnapshots: number; removedRecords: number; record: number } {
    const removedSnapshots = Number(this.stmt('SELECT COUNT(*) FROM snapshots WHERE id < ?').pluck().get(firstKept));
    // The chain is cut after the last removed snapshot: the records between it and the first kept
    // one (a gap up to it, a clock step that shifts its time, its session) are about the kept
    // snapshots, and stay.
    const anchorRow = this.stmt('SELECT seq, hash FROM records WHERE seq = (SELECT MAX(id) FROM snapshots WHERE id < ?)').get(firstKept)!;
    const anchor = { seq: Number(anchorRow.seq), hash: String(anchorRow.hash), base: firstKept };
    // Sessions that go on past the cut lose their session record: their intervals (which tell a
    // late restart and a silent remote writer) go into this prune's record. Read before anything
    // is removed, an interval an earlier prune record carried is carried on.
    const sessions: Record<string, number> = {};
    const going = this.stmt(
      `SELECT session FROM snapshots WHERE id >= ? AND session <= ? UNION SELECT session FROM writer WHERE session <= ?`,
    ).pluck();
    for (const session of going.all(firstKept, anchor.seq, anchor.seq) as unknown as number[]) {
      const interval = this.sessionInterval(Number(session));
      if (interval !== null) sessions[String(session)] = interval;
    }
    // A checkpoint is its own base already; any other first kept snapshot gets its full set written.
    const isCheckpoint = Number(this.stmt('SELECT checkpoint FROM snapshots WHERE id = ?').pluck().get(firstKept)) === 1;
    if (!isCheckpoint) {
      const base = this.itemIdsOf(firstKept);
      this.stmt('DELETE FROM checkpoint_items WHERE snapshot_id = ?').run(firstKept);
      const insert = this.stmt('INSERT INTO checkpoint_items (snapshot_id, item_id) VALUES (?, ?)');
      for (const itemId of base) insert.run(firstKept, itemId);
    }
    // The items only the removed rows used: of the items those rows name, each one that no kept
    // row names (the base, later events and checkpoints), found by looking each up by item.
    this.stmt(
      `DELETE FROM items WHERE id IN (SELECT item_id FROM events WHERE snapshot_id <= @kept UNION SELECT item_id FROM checkpoint_items WHERE snapshot_id < @kept)
         AND NOT EXISTS (SELECT 1 FROM checkpoint_items c WHERE c.item_id = items.id AND c.snapshot_id >= @kept)
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.item_id = items.id AND e.snapshot_id > @kept)`,
    ).run({ kept: firstKept });
    this.stmt('DELETE FROM checkpoint_items WHERE snapshot_id < ?').run(firstKept);
    this.stmt('DELETE FROM events WHERE snapshot_id <= ?').run(firstKept);
    this.stmt('DELETE FROM snapshots WHERE id < ?').run(firstKept);
    const removedRecords = this.stmt('DELETE FROM records WHERE seq <= ?').run(anchor.seq).changes;
    this.stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('prune_anchor', ?)").run(JSON.stringify(anchor));
    const body = { cutoff: at, removedSnapshots, removedRecords, anchor, ...(Object.keys(sessions).length > 0 ? { sessions } : {}) };
    const record = this.appendRecord('prune', this.now().toISOString(), JSON.stringify(body)).seq;
    return { removedSnapshots, removedRecords, record };
  }

  /** Bytes of the file, and of them free (pages a prune emptied, which new captures reuse). */
  fileSpace(): { total: number; free: number } {
    const pageSize = Number(this.db.pragma('page_size', { simple: true }));
    return { total: Number(this.db.pragma('page_count', { simple: true })) * pageSize, free: Number(this.db.pragma('freelist_count', { simple: true })) * pageSize };
  }

  /**
   * Give the free pages back to the file system: SQLite's VACUUM rewrites the file (it needs as
   * much free disk space again, and waits for other connections between their transactions).
   * Content, item ids and record hashes stay exactly as they are. Returns the file's bytes
   * before and after.
   */
  compact(): { before: number; after: number; walLeft: number } {
    if (this.readonly) throw new StoreError('E_STORE_READONLY', `${this.path} was opened read-only`);
    const before = this.bytesOnDisk();
    try {
      this.db.exec('VACUUM');
    } catch (error) {
      throw storeError(error, this.path, 'could not compact the evidence store (it is unchanged)');
    }
    // In WAL mode the rewritten file first goes to the log, as large as the store: folded back
    // and the log cut to nothing, unless a capture or reader beside it holds an older view (then
    // its next checkpoint does it, journal_size_limit bounding what the log keeps).
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // busy: as above
    }
    const after = this.bytesOnDisk();
    return { before: before.total, after: after.total, walLeft: after.wal };
  }

  /** The bytes the store takes on disk: its file and its write-ahead log. */
  private bytesOnDisk(): { total: number; wal: number } {
    const size = (file: string): number => {
      try {
        return statSync(file).size;
      } catch {
        return 0;
      }
    };
    const wal = size(`${this.path}-wal`);
    return { total: size(this.path) + wal, wal };
  }

  /** The chain hash of a record, or null when the store has no such record. */
  /**
   * The snapshots taken at or before `upTo` (an ISO time) that carry a change ticket: what a prune
   * up to there takes of the tickets' windows. Read from the index alone, so that it stays small
   * on a store of millions of untagged ticks.
   */
  taggedSnapshots(upTo: string): { id: number; change: string }[] {
    return (this.stmt('SELECT id, change_ticket FROM snapshots WHERE change_ticket IS NOT NULL AND taken_at <= ? ORDER BY id').raw().all(upTo) as unknown as [number, string][]).map(([id, change]) => ({ id: Number(id), change: String(change) }));
  }

  recordHashOf(seq: number): string | null {
    const row = this.stmt('SELECT hash FROM records WHERE seq = ?').get(seq);
    return row ? String(row.hash) : null;
  }

  /**
   * Whether a record of this hash is in the store at `fromSeq` or later (a pack's head, which is
   * its post snapshot or a record after it: only the records from there are read, not the chain).
   */
  hasRecordHash(hash: string, fromSeq: number): boolean {
    return this.stmt('SELECT 1 FROM records WHERE seq >= ? AND hash = ? LIMIT 1').get(fromSeq, hash) !== undefined;
  }

  /** A value kept in the store's meta table (not part of the evidence chain). */
  getMeta(key: string): string | null {
    const row = this.stmt('SELECT value FROM meta WHERE key = ?').get(key);
    return row ? String(row.value) : null;
  }

  /** The meta entries whose key starts with `prefix`, in key order. */
  metaEntries(prefix: string): { key: string; value: string }[] {
    return (this.stmt('SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key').all(prefix.length, prefix) as { key: unknown; value: unknown }[]).map((r) => ({ key: String(r.key), value: String(r.value) }));
  }

  setMeta(key: string, value: string): void {
    if (this.readonly) return;
    this.stmt('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  /**
   * Whether this store object's last append (of a capture session, which keeps its sockets for the
   * next) had the socket of `inode` attributed to a process.
   */
  attributedAtLastAppend(inode: number): boolean {
    return inode !== 0 && (this.sockets.get(inode)?.socket.owners.length ?? 0) > 0;
  }

  /** The id of the snapshot before snapshot `id` (null when it is the first the store holds). */
  snapshotBefore(id: number): number | null {
    const row = this.stmt('SELECT MAX(id) AS id FROM snapshots WHERE id < ?').get(id) as { id: number | null } | undefined;
    return row?.id ?? null;
  }

  /** Remove a value from the store's meta table (nothing when there is none). */
  deleteMeta(key: string): void {
    if (this.readonly) return;
    this.stmt('DELETE FROM meta WHERE key = ?').run(key);
  }

  /**
   * Hashes this store object has read or written, by identity key: a host's processes share a
   * few executables (3,000 workers, one binary), and a capture loop meets the same ones at every
   * tick, so each is looked up in SQLite once. An identity names one file content, so an entry
   * never goes stale; the map is emptied when it grows past HASH_MEMO_LIMIT.
   */
  private readonly hashMemo = new Map<string, ExecutableHashes>();

  /** A hash cache kept in the store, so an unchanged executable is never hashed twice. */
  hashCache(): HashCache {
    const get = this.stmt('SELECT blake3, sha256, size, seq FROM hash_cache WHERE identity = ?');
    const remember = (key: string, hashes: ExecutableHashes): void => {
      if (this.hashMemo.size >= HASH_MEMO_LIMIT) this.hashMemo.clear();
      this.hashMemo.set(key, hashes);
    };
    return {
      get: (identity: ExecutableIdentity): ExecutableHashes | undefined => {
        const key = identityKey(identity);
        const known = this.hashMemo.get(key);
        if (known !== undefined) return known;
        const row = get.get(key);
        if (!row || row.seq === null) return undefined;
        const hashes = { blake3: String(row.blake3), sha256: String(row.sha256), size: Number(row.size) };
        if (!this.vouched(Number(row.seq), key, hashes)) return undefined;
        remember(key, hashes);
        return hashes;
      },
      set: (identity: ExecutableIdentity, hashes: ExecutableHashes): void => {
        if (this.readonly) return;
        const key = identityKey(identity);
        // Kept until the next snapshot is appended: its record commits them, then the cache row is written.
        this.pendingHashes.set(key, hashes);
        remember(key, hashes);
      },
    };
  }

  /**
   * Whether snapshot record `seq` commits these hashes of the file `key`: the record lists them in
   * `hashed`, and it verifies where it stands (checkRecordInPlace). A cache row that fails is not
   * believed (the executable is hashed again); `verify-store` names what was changed.
   */
  private vouched(seq: number, key: string, hashes: ExecutableHashes): boolean {
    // One record commits the hashes of every executable first seen in its capture: it is checked
    // and parsed once, not once per executable.
    let listed = this.vouchingRecords.get(seq);
    if (listed === undefined) {
      listed = null;
      try {
        const record = this.recordInPlace(seq, 'snapshot');
        const body = record === null ? null : (JSON.parse(record.body) as SnapshotBody);
        if (body !== null) listed = new Set(Array.isArray(body.hashed) ? body.hashed.map((e) => e.join(' ')) : []);
      } catch {
        listed = null; // changed outside netmon: it vouches for nothing
      }
      if (this.vouchingRecords.size >= HASH_MEMO_LIMIT) this.vouchingRecords.clear();
      this.vouchingRecords.set(seq, listed);
    }
    return listed !== null && listed.has([key, hashes.blake3, hashes.sha256, hashes.size].join(' '));
  }
}
