/**
 * Helpers for the evidence-store tests: scratch directories, a raw SQLite connection to tamper
 * with or inspect a real store file, file hashes, and snapshot sequences built in memory.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NamespaceRecord, ProcessRecord, Snapshot, SnapshotWarning, SocketRecord } from '../../src/model/types.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import type { Database } from '../../src/store/sqlite.js';
import { makeProcess, makeSnapshot, makeSocket } from './make.js';

type DatabaseConstructor = new (path: string, options?: { readonly?: boolean; fileMustExist?: boolean }) => Database;

/** A raw better-sqlite3 connection (not through netmon), to inspect or tamper with a store. */
export function openRaw(path: string, options: { readonly?: boolean } = {}): Database {
  const Driver = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;
  return new Driver(path, { readonly: options.readonly ?? false, fileMustExist: true });
}

/** Run `fn` on a raw connection and close it (the last connection to close checkpoints the WAL). */
export function withRaw<T>(path: string, fn: (db: Database) => T): T {
  const db = openRaw(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** sha256 of a file's bytes. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Scratch directories under os.tmpdir(), removed by `cleanup()` (call it in afterAll). */
export function scratchDirs(prefix: string): { make(): string; cleanup(): void } {
  const made: string[] = [];
  return {
    make() {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    cleanup() {
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A time `seconds` after a fixed origin, for snapshot takenAt values. */
export function at(seconds: number): Date {
  return new Date(Date.UTC(2026, 10, 23, 1, 0, 0) + seconds * 1000);
}

export const HOST_NS: NamespaceRecord = { inode: 4026531840, name: 'host', host: true, processes: 10, sockets: 3, read: true };
export const BLUE_NS: NamespaceRecord = { inode: 4026532500, name: 'blue', host: false, processes: 2, sockets: 1, read: true };
export const RED_NS: NamespaceRecord = { inode: 4026532601, name: null, host: false, processes: 0, sockets: 0, read: false, reason: 'EACCES (permission denied) entering it' };

/**
 * A snapshot with explicit namespaces (as the store sorts them: host first, then by inode) and,
 * optionally, warnings.
 */
export function snapshotOf(parts: { sockets: SocketRecord[]; processes: ProcessRecord[]; namespaces?: NamespaceRecord[]; warnings?: SnapshotWarning[]; takenAt: Date }): Snapshot {
  const snap = makeSnapshot({ sockets: parts.sockets, processes: parts.processes, takenAt: parts.takenAt });
  return { ...snap, ...(parts.namespaces ? { namespaces: parts.namespaces } : {}), ...(parts.warnings ? { warnings: parts.warnings } : {}) };
}

/** A warning that changes the snapshot's context (tool, host, selection, warnings). */
export const RED_WARNING: SnapshotWarning = { code: 'W_NAMESPACE_UNREAD', message: `network namespace ${RED_NS.inode} was not read: ${RED_NS.reason}` };

/** A process record without executable hashes (the property is absent, not undefined). */
export function processWithoutHashes(overrides: Partial<ProcessRecord>): ProcessRecord {
  const { hashes: _hashes, ...rest } = makeProcess(overrides);
  return rest;
}

export interface Tick {
  snapshot: Snapshot;
  label: string | null;
  change: string | null;
}

/**
 * Six ticks in which sockets open, close and change owners, processes come and go, namespaces
 * and a warning appear and disappear, and ticks 2 and 5 are unchanged (only takenAt differs).
 */
export function changingSequence(start = 0): Tick[] {
  const sshd = makeProcess({ pid: 100, name: 'sshd', executable: '/usr/sbin/sshd', commandLine: ['sshd', '-D'], uid: 0, user: 'root', euid: 0, gid: 0, group: 'root' });
  const sshdChild = makeProcess({ pid: 101, ppid: 100, name: 'sshd', executable: '/usr/sbin/sshd', commandLine: ['sshd: alice [priv]'], uid: 0, user: 'root', euid: 0, gid: 0, group: 'root' });
  const curl = processWithoutHashes({ pid: 200, name: 'curl', executable: '/usr/bin/curl', commandLine: ['curl', 'https://example.org/"quoted"'], issues: [{ field: 'hash', reason: 'permission-denied', detail: 'EACCES' }] });
  const dns = makeProcess({ pid: 300, name: 'résolveur ✓', executable: '/opt/dns/bin/resolved', executableDeleted: true, commandLine: ['resolved', '--port', '53'], netns: BLUE_NS.inode, containerId: 'c0ffee'.repeat(10) + 'abcd' });
  const web = makeProcess({ pid: 400, name: 'python3', startTime: null, user: null, group: null });

  const ssh22 = makeSocket({ localAddress: '0.0.0.0', localPort: 22, uid: 0, inode: 2201, owners: [{ pid: 100, fd: 3 }] });
  const ssh22Handoff = { ...ssh22, owners: [{ pid: 101, fd: 4 }] };
  const outbound = makeSocket({ localAddress: '10.0.0.2', localPort: 40000, remoteAddress: '93.184.216.34', remotePort: 443, state: 'ESTABLISHED', listening: false, inode: 5001, owners: [{ pid: 200, fd: 5 }] });
  const dns53 = makeSocket({ transport: 'udp', family: 'ipv6', localAddress: '::', localPort: 53, state: 'UNCONN', inode: 5353, netns: BLUE_NS.inode, owners: [{ pid: 300, fd: 7 }] });
  const timeWait = makeSocket({ localAddress: '127.0.0.1', localPort: 8080, remoteAddress: '127.0.0.1', remotePort: 51000, state: 'TIME_WAIT', listening: false, inode: 0, uid: 0, owners: [], unattributed: 'kernel-owned' });
  const web6 = makeSocket({ family: 'ipv6', localAddress: '::1', localPort: 8080, inode: 8081, owners: [{ pid: 400, fd: 3 }, { pid: 401, fd: 3 }] });

  const ticks: Tick[] = [
    { snapshot: snapshotOf({ sockets: [ssh22, outbound, dns53, timeWait], processes: [sshd, curl, dns], namespaces: [HOST_NS, BLUE_NS], takenAt: at(start) }), label: 'pre', change: 'CHG-1234' },
    // unchanged
    { snapshot: snapshotOf({ sockets: [ssh22, outbound, dns53, timeWait], processes: [sshd, curl, dns], namespaces: [HOST_NS, BLUE_NS], takenAt: at(start + 60) }), label: null, change: null },
    // outbound closed, curl gone; web6 opened by a new process
    { snapshot: snapshotOf({ sockets: [ssh22, dns53, timeWait, web6], processes: [sshd, dns, web], namespaces: [HOST_NS, BLUE_NS], takenAt: at(start + 120) }), label: null, change: null },
    // ssh22 changes owner (100 -> 101), the kernel-owned socket is gone, an unreadable namespace
    // appears with its warning (a new context)
    { snapshot: snapshotOf({ sockets: [ssh22Handoff, dns53, web6], processes: [sshdChild, dns, web], namespaces: [HOST_NS, BLUE_NS, RED_NS], warnings: [RED_WARNING], takenAt: at(start + 180) }), label: null, change: null },
    // unchanged
    { snapshot: snapshotOf({ sockets: [ssh22Handoff, dns53, web6], processes: [sshdChild, dns, web], namespaces: [HOST_NS, BLUE_NS, RED_NS], warnings: [RED_WARNING], takenAt: at(start + 240) }), label: 'mid', change: null },
    // outbound reopens (the same record as tick 1, so its item is reused), dns53 and the two other
    // namespaces gone (the first context again), ssh22 back to its first owner
    { snapshot: snapshotOf({ sockets: [ssh22, outbound, web6], processes: [sshd, curl, web], namespaces: [HOST_NS], takenAt: at(start + 300) }), label: 'post', change: 'CHG-1234' },
  ];
  return ticks;
}

/** `n` TCP listeners/connections owned round-robin by `processes` pids (100, 101, ...). */
export function manySockets(n: number, processes: number): SocketRecord[] {
  const sockets: SocketRecord[] = [];
  for (let i = 0; i < n; i++) {
    const listening = i % 4 === 0;
    sockets.push(
      makeSocket({
        localAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        localPort: 1024 + (i % 50000),
        remoteAddress: listening ? '0.0.0.0' : `192.168.${(i >> 8) & 255}.${i & 255}`,
        remotePort: listening ? 0 : 30000 + (i % 20000),
        state: listening ? 'LISTEN' : 'ESTABLISHED',
        listening,
        inode: 100000 + i,
        owners: [{ pid: 100 + (i % processes), fd: 3 + i }],
      }),
    );
  }
  return sockets;
}

export function manyProcesses(n: number): ProcessRecord[] {
  return Array.from({ length: n }, (_, k) => makeProcess({ pid: 100 + k, name: `worker-${k}`, commandLine: ['worker', String(k)] }));
}

/** Snapshots in the store at `db` (0 while there is none, or while its writer is still creating it). */
export function snapshotCount(db: string): number {
  if (!existsSync(db)) return 0;
  try {
    const store = EvidenceStore.open(db, { readonly: true });
    try {
      return store.listSnapshots().length;
    } finally {
      store.close();
    }
  } catch {
    return 0; // the writer may still be creating the schema
  }
}

/** A copy of the store at `db`, pruned of every snapshot but the newest (a prune always keeps it). */
export function prunedCopy(db: string, copy: string): string {
  copyFileSync(db, copy);
  const store = EvidenceStore.open(copy);
  try {
    store.prune(new Date(Date.now() + 3_600_000));
  } finally {
    store.close();
  }
  return copy;
}

/**
 * SIGSTOP a writer process between two of its transactions, never while it holds SQLite's write
 * lock (a stop mid-commit leaves WAL frames the index does not list yet): stopped, the store is
 * tried for the write lock; held, the writer is woken and stopped again, up to 50 times.
 */
export async function stopBetweenTransactions(child: { kill(signal: NodeJS.Signals): boolean }, db: string): Promise<void> {
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let attempt = 0; attempt < 50; attempt++) {
    child.kill('SIGSTOP');
    await pause(50);
    const free = withRaw(db, (raw) => {
      raw.pragma('busy_timeout = 0');
      try {
        raw.exec('BEGIN IMMEDIATE');
        raw.exec('ROLLBACK');
        return true;
      } catch {
        return false;
      }
    });
    if (free) return;
    child.kill('SIGCONT');
    await pause(30);
  }
  throw new Error('the writer held the write lock at every attempt to stop it');
}
