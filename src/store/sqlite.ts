import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, fsyncSync, linkSync, lstatSync, openSync, readdirSync, rmSync, statfsSync, statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { describeErrno, errnoCode, specialFileKind, StoreError } from '../errors.js';
import { foreignFileInSharedDir, nothingAt, untrustedLink } from './links.js';
import { octalMode } from '../model/format.js';

/**
 * The one entry of better-sqlite3 into netmon. It is loaded on first use, so commands that do
 * not touch the store never load the driver. Everything else sees this small interface.
 */
export interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Record<string, unknown> | undefined;
  all(...params: unknown[]): Record<string, unknown>[];
  iterate(...params: unknown[]): IterableIterator<Record<string, unknown>>;
  pluck(on?: boolean): Statement;
  raw(on?: boolean): Statement;
}

export interface Database {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) & { immediate(...args: A): R };
  close(): void;
  /** SQLite's online backup of the open database (everything committed) to a new file. */
  backup(destination: string): Promise<unknown>;
  readonly open: boolean;
  readonly inTransaction: boolean;
}

type DatabaseConstructor = new (path: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }) => Database;

let driver: DatabaseConstructor | undefined;

function loadDriver(): DatabaseConstructor {
  if (!driver) {
    try {
      driver = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;
    } catch (error) {
      throw new StoreError('E_STORE_DRIVER', `the SQLite driver (better-sqlite3) does not load: ${(error as Error).message}`, {
        hint: 'run `npm install` (or `npm rebuild better-sqlite3`) with python3, make and g++ available',
        cause: error,
      });
    }
  }
  return driver;
}

/** A private database in memory (to compare a store's shape with the one its migrations make). */
export function openMemory(): Database {
  const Driver = loadDriver();
  return new Driver(':memory:');
}

/** Every table of a database with the names of its columns. */
export function tableColumns(db: Database): Map<string, Set<string>> {
  const tables = new Map<string, Set<string>>();
  const rows = db.prepare("SELECT m.name AS t, p.name AS c FROM sqlite_master AS m, pragma_table_info(m.name) AS p WHERE m.type = 'table'").all() as { t: string; c: string }[];
  for (const { t, c } of rows) {
    let columns = tables.get(t);
    if (!columns) tables.set(t, (columns = new Set()));
    columns.add(c);
  }
  return tables;
}

/** Names of the indexes made with CREATE INDEX (not those SQLite makes for keys and UNIQUE). */
export function indexNames(db: Database): Set<string> {
  return new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").pluck().all() as unknown as string[]);
}

/** Whether the database holds any table, index, view or trigger: a file of no schema is empty. */
export function hasSchema(db: Database): boolean {
  return db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get() !== undefined;
}

export interface OpenOptions {
  readonly?: boolean;
  /** Fail when the file does not exist (default: only for read-only connections). */
  mustExist?: boolean;
  /** Milliseconds to wait for a lock held by another connection. */
  timeout?: number;
  /** Mode of the file when this open creates it (SQLite gives its -wal and -shm files the same). */
  createMode?: number;
}

/** Why an open or a statement failed, in the user's words, and what to do about it when netmon knows. */
interface Explained {
  why: string;
  hint?: string;
}

/** A directory at the path, or no directory to create it in: what the file system tells, or null. */
function directoryProblem(path: string): Explained | null {
  try {
    if (statSync(path).isDirectory()) return { why: `${path} is a directory; give the path of a file (e.g. ${join(path, 'netmon.db')})` };
  } catch (error) {
    const dir = dirname(path);
    if (errnoCode(error) === 'ENOENT' && !existsSync(dir)) {
      return { why: `cannot create ${path}: the directory ${dir} does not exist`, hint: `create it first (mkdir -p ${dir}), or give --db a path in a directory that exists` };
    }
  }
  return null;
}

/** A full file system holding `path`; `detail` says how netmon knows. */
function noSpace(path: string, detail = ''): Explained {
  return {
    why: `no space left on the device holding ${path}${detail}`,
    hint: `free some space on the file system holding ${dirname(resolve(path))}, then run again; meanwhile readers (snapshots, verify-store, report) still work, from a private copy in TMPDIR when SQLite has no room for its index`,
  };
}

/**
 * Which permission an open of the store at `path` lacks, found by asking the file system as this
 * user: reading the store (a reader), writing it, or creating SQLite's -wal and -shm files beside
 * it (a writer). Null when none is missing (the cause is elsewhere).
 */
function accessProblem(path: string, reading: boolean): Explained | null {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (error) {
    return errnoCode(error) === 'EACCES' ? unsearchable(path) : null;
  }
  const owner = `owner uid ${st.uid}, group ${st.gid}, mode ${octalMode(st.mode)}`;
  const denied = (mode: number, file: string): boolean => {
    try {
      accessSync(file, mode);
      return false;
    } catch {
      return true;
    }
  };
  if (denied(constants.R_OK, path)) {
    return { why: `permission denied reading ${path} (${owner})`, hint: "netmon makes stores readable by their owner and group only (0640): run as the store's owner, a member of its group, or root" };
  }
  if (reading) return null;
  if (denied(constants.W_OK, path)) {
    return { why: `permission denied writing ${path} (${owner})`, hint: "captures write the store as its owner: run them as that user (or root), or give --db a store of your own" };
  }
  const dir = dirname(resolve(path));
  if (denied(constants.W_OK | constants.X_OK, dir)) {
    return { why: `cannot create files in ${dir}, where SQLite keeps the store's -wal and -shm files`, hint: `run as a user who may write ${dir}, or give --db a path in a directory of your own` };
  }
  return null;
}

/**
 * A path under a directory this user may not search (a state directory of root's, mode 0750): the
 * first such directory on the way, with its owner and mode. Not "no file there": the store may
 * well be there (a new-user probe was told to capture one first).
 */
function unsearchable(path: string): Explained {
  const full = resolve(path);
  let dir = '/';
  for (const part of full.split('/').slice(1, -1)) {
    const next = join(dir, part);
    try {
      accessSync(next, constants.X_OK);
    } catch {
      let owner = '';
      try {
        const st = statSync(next);
        owner = ` (owner uid ${st.uid}, group ${st.gid}, mode ${octalMode(st.mode)})`;
      } catch {
        // its owner cannot be read either: the directory is named alone
      }
      return { why: `permission denied: this user may not look into ${next}${owner}, which holds ${full}`, hint: "run as the store's owner, a member of the directory's group, or root" };
    }
    dir = next;
  }
  return { why: `permission denied looking up ${full}`, hint: "run as the store's owner, a member of its directory's group, or root" };
}

/** An error SQLite raised (better-sqlite3's SqliteError), not one of netmon's. */
export function isSqliteError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && error.name === 'SqliteError' && typeof code === 'string' && code.startsWith('SQLITE_');
}

/** A storeError() for a store SQLite found corrupt (pages it cannot read as a database). */
export function isCorruption(error: unknown): boolean {
  return error instanceof StoreError && (error.code === 'E_SQLITE_CORRUPT' || error.code.startsWith('E_SQLITE_CORRUPT_'));
}

/** SQLite result codes with what they mean for the user (`reading`: the open or statement only reads). */
function explain(error: unknown, path: string, reading: boolean): Explained {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || code === 'SQLITE_CANTOPEN' || code.startsWith('SQLITE_IOERR')) {
    // Opening a directory or a path in a missing directory fails with codes that say neither.
    const missing = directoryProblem(path);
    if (missing) return missing;
  }
  if (code === 'SQLITE_NOTADB') return { why: `${path} is not an SQLite database (or is encrypted or corrupt)` };
  if (code === 'SQLITE_CORRUPT' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT_'))) {
    return {
      why: `${path} is corrupt: SQLite cannot read it as a database (a disk error, a copy made while it was written, or an edit of its bytes)`,
      hint: `\`sqlite3 ${path} 'PRAGMA integrity_check'\` says where; restore the store from a backup or copy (netmon did not change it)`,
    };
  }
  if (code === 'SQLITE_FULL') return noSpace(path);
  if (typeof code === 'string' && code.startsWith('SQLITE_READONLY')) {
    const denied = accessProblem(path, reading);
    if (denied) return denied;
    if (code === 'SQLITE_READONLY') return { why: `${path} is read-only` };
  }
  if (code === 'SQLITE_CANTOPEN' && reading && nothingAt(path)) {
    return { why: `there is no file ${path} (or it was removed or renamed while netmon opened it)`, hint: 'give --db the store a capture wrote (the default is netmon.db in the current directory)' };
  }
  if (code === 'SQLITE_CANTOPEN') return accessProblem(path, reading) ?? { why: `cannot open ${path} (no permission to read or write it, or to create files in ${dirname(resolve(path))})` };
  if (code === 'SQLITE_BUSY') return { why: `${path} is locked by another process` };
  if (code === 'SQLITE_IOERR' || (typeof code === 'string' && code.startsWith('SQLITE_IOERR'))) {
    // SQLite reports a file system too full to extend its shared-memory index (32 KiB) as an
    // input/output error (SQLITE_IOERR_SHMSIZE), not as SQLITE_FULL: look at the free space.
    const free = freeBytes(dirname(path));
    if (free !== null && free < NEARLY_FULL_BYTES) return noSpace(path, ` (${free} bytes free; SQLite reported ${code})`);
    return { why: `input/output error on ${path} (${code})` };
  }
  // Any other SQLite code: its message says what went wrong (the code alone, such as
  // SQLITE_ERROR, says nothing).
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return { why: `${path}: ${(error as Error).message} (${code})` };
  if (errnoCode(error)) return { why: describeErrno(error, 'opening', path) };
  return { why: `${path}: ${(error as Error).message}` };
}

/** Free space below which an input/output error of SQLite is taken for a full file system (its shared-memory index needs 32 KiB). */
const NEARLY_FULL_BYTES = 64 * 1024;

/** Bytes an unprivileged process may still write on the file system holding `dir`, or null when unknown. */
function freeBytes(dir: string): number | null {
  try {
    const fsInfo = statfsSync(dir);
    return Number(fsInfo.bavail) * Number(fsInfo.bsize);
  } catch {
    return null;
  }
}

/**
 * The store was locked by another process (a prune, a writer on another host, a long reader of a
 * store with a rollback journal) for longer than its busy timeout: SQLite's error, or the
 * StoreError storeError() made of it. Nothing of the write was kept.
 */
export function storeBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('E_SQLITE_BUSY') || code.startsWith('SQLITE_BUSY'));
}

/** Wrap an SQLite failure in a StoreError that names the file and the cause. */
export function storeError(error: unknown, path: string, doing: string, reading = false): StoreError {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: unknown }).code;
  const { why, hint: explainedHint } = explain(error, path, reading);
  const hint = storeBusy(error)
    ? 'another process kept it locked for longer than netmon waits (a prune, or a long reader of a store on a shared file system); try again when it is done'
    : explainedHint;
  return new StoreError(typeof code === 'string' ? `E_${code}` : 'E_STORE', `${doing}: ${why}`, { cause: error, ...(hint === undefined ? {} : { hint }) });
}

/**
 * Create `path` as an empty file (which SQLite takes for a new database) with `mode`, unless it
 * exists. SQLite itself would create it with 0644 less the umask. Any failure is left for SQLite's
 * own open to report, in its words.
 */
export function createEmpty(path: string, mode: number): void {
  try {
    createNew(path, mode);
  } catch {
    // exists already, or cannot be created: SQLite's open says which
  }
}

/** Create an empty file, only a new one: O_EXCL follows no link and fails on any existing name. Throws the errno error. */
export function createNew(path: string, mode: number): void {
  closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode));
}

/**
 * A writer does not open a store that someone else could have planted: another user's file in a
 * directory others can write to (foreignFileInSharedDir), or a symbolic link, as the store or as
 * one of the files SQLite makes beside it, that someone else could have placed (untrustedLink).
 * netmon often runs as root in such directories; a link there as netmon.db-wal, or as netmon.db
 * pointing at an empty file, would have root create or overwrite a file of the planter's choosing.
 * Readers may follow a link: they write nothing.
 */
export function refusePlantedFiles(path: string): void {
  const owner = foreignFileInSharedDir(path);
  if (owner !== null) {
    throw new StoreError('E_STORE_FOREIGN', `cannot open the evidence store for writing: ${path} belongs to uid ${owner} and lies in a directory others can write to; its owner could read and change what netmon would record there`, {
      hint: 'give --db a path in a directory of your own, or move that file aside',
    });
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    if (!untrustedLink(file)) continue;
    throw new StoreError('E_STORE_SYMLINK', `cannot open the evidence store for writing: ${file} is a symbolic link in a directory others can write to (or of another user); netmon does not write evidence through such a link, which could point at any file`, {
      hint: file === path ? 'give --db the file the link points to (readlink -f shows it), or remove the link' : `remove the link ${file}; SQLite makes that file itself`,
    });
  }
}

/**
 * Give the finished database file `temp` its name `path`, only when no file has that name: a hard
 * link, which fails on an existing name, then the directory made durable. False when another
 * file took the name first; throws the errno error when the file system cannot link.
 */
export function publishNew(temp: string, path: string): boolean {
  try {
    linkSync(temp, path);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw error;
  }
  let dir: number | undefined;
  try {
    dir = openSync(dirname(path), constants.O_RDONLY);
    fsyncSync(dir);
  } catch {
    // a directory that cannot be synced (some network file systems): the link stands as it is
  } finally {
    if (dir !== undefined) closeSync(dir);
  }
  return true;
}

/**
 * A file SQLite keeps beside the database (`-shm`, `-wal`) that belongs to another user than the
 * database: its name and owner, or null. SQLite running as root creates such a file and then hands
 * it to the database's owner; until then, that owner's connections cannot open it (SQLITE_CANTOPEN
 * or SQLITE_READONLY), which is how a root reader can, for an instant, fail a capture run by the
 * store's owner.
 */
export function sideFileOfAnotherUser(path: string): { file: string; uid: number } | null {
  let owner: number;
  try {
    owner = lstatSync(path).uid;
  } catch {
    return null;
  }
  for (const file of [`${path}-shm`, `${path}-wal`]) {
    try {
      const uid = lstatSync(file).uid;
      if (uid !== owner) return { file, uid };
    } catch {
      // not there
    }
  }
  return null;
}

/** Block this thread for `ms` milliseconds (a short wait between two tries to open a file). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The names a store is created under before it is linked to `path` begin so: `.netmon.db.new-`. */
const creationPrefix = (path: string): string => `.${basename(path)}.new-`;

/** A new name to create the store at `path` under, in its directory, before it is linked into place. */
export function creationName(path: string): string {
  return join(dirname(path), `${creationPrefix(path)}${randomBytes(6).toString('hex')}`);
}

/** A temporary store older than this was left by a creation that was killed (one takes milliseconds). */
const CREATION_LEFTOVER_AGE_MS = 10 * 60_000;

/**
 * Remove what killed creations of the store at `path` left beside it: temporary stores (and their
 * SQLite side files) older than a creation takes, and a temporary name that is a second link to
 * the store itself (a creation killed between linking and removing it), which SQLite must never
 * open under that name. Best effort: what cannot be removed stays.
 */
export function clearCreationLeftovers(path: string, store: Stats | null): void {
  const dir = dirname(path);
  const prefix = creationPrefix(path);
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.startsWith(prefix));
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    const file = join(dir, name);
    try {
      const st = lstatSync(file);
      if (!st.isFile()) continue;
      const linked = store !== null && st.dev === store.dev && st.ino === store.ino;
      if (linked || now - st.mtimeMs > CREATION_LEFTOVER_AGE_MS) rmSync(file, { force: true });
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}

/**
 * Whether this process may open the store at `path` the way it asks (a writer: write the file and
 * its directory; a reader: read the file). When it may not, a failed open is not worth trying again.
 */
export function mayOpen(path: string, readonly: boolean): boolean {
  try {
    if (readonly) {
      accessSync(path, constants.R_OK);
    } else {
      accessSync(path, constants.W_OK);
      accessSync(dirname(path), constants.W_OK);
    }
    return true;
  } catch {
    return false;
  }
}

/** Open (or create) a database file. */
export function openDatabase(path: string, options: OpenOptions = {}): Database {
  const Driver = loadDriver();
  let special: string | null = null;
  try {
    special = specialFileKind(statSync(path));
  } catch {
    // missing (a new store) or unreadable: SQLite's open says which
  }
  if (special !== null) {
    throw new StoreError('E_STORE_OPEN', `cannot open the evidence store: ${path} is ${special}, not a regular file`, { hint: 'give the path of a file for --db (the default is netmon.db)' });
  }
  if (!options.readonly) refusePlantedFiles(path);
  if (options.createMode !== undefined && !options.readonly) createEmpty(path, options.createMode);
  try {
    return new Driver(path, { readonly: options.readonly ?? false, fileMustExist: options.mustExist ?? options.readonly ?? false, timeout: options.timeout ?? 5000 });
  } catch (error) {
    throw storeError(error, path, options.readonly ? 'cannot read the evidence store' : 'cannot open the evidence store', options.readonly ?? false);
  }
}

/** What `RowsBySeq#take` returns for a seq without rows (read only). */
const NONE: readonly unknown[][] = [];

/**
 * The rows of a query ordered by their first column (a record's seq), read in step with the
 * chain: a merge join in place of a lookup per record. Holds the one row read ahead; `close()`
 * ends the query (a statement cannot run again while it is being iterated).
 */
export class RowsBySeq {
  private readonly rows: IterableIterator<unknown[]>;
  private ahead: unknown[] | undefined;

  constructor(statement: Statement, ...params: unknown[]) {
    this.rows = statement.raw().iterate(...params) as unknown as IterableIterator<unknown[]>;
    this.ahead = this.rows.next().value as unknown[] | undefined;
  }

  /** The seq of the next row not taken yet; Infinity when none is left. */
  get nextSeq(): number {
    return this.ahead === undefined ? Infinity : Number(this.ahead[0]);
  }

  /** Pass over the rows below `seq`: the seq of the first of them, or null when there was none. */
  skipBelow(seq: number): number | null {
    let first: number | null = null;
    while (this.ahead !== undefined && Number(this.ahead[0]) < seq) {
      first ??= Number(this.ahead[0]);
      this.ahead = this.rows.next().value as unknown[] | undefined;
    }
    return first;
  }

  /** The rows of `seq` (after the rows below it), without their seq column. */
  take(seq: number): readonly unknown[][] {
    this.skipBelow(seq);
    if (this.ahead === undefined || Number(this.ahead[0]) !== seq) return NONE;
    const taken: unknown[][] = [];
    while (this.ahead !== undefined && Number(this.ahead[0]) === seq) {
      taken.push(this.ahead.slice(1));
      this.ahead = this.rows.next().value as unknown[] | undefined;
    }
    return taken;
  }

  close(): void {
    this.rows.return?.();
  }
}
