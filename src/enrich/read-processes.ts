import type { Accounts, PlatformCollector } from '../collect/collector.js';
import { describeErrno, errnoCode } from '../errors.js';
import type { ProcessRecord } from '../model/types.js';
import { loadBlake3, type Blake3Implementation } from './blake3.js';
import { hashFile, identityOf, type HashCache, type HashFs } from './hash-executables.js';

/** Read each process once and resolve its user and group names. */
export function readProcesses(
  collector: PlatformCollector,
  pids: Iterable<number>,
  pidNetns: ReadonlyMap<number, number>,
): Map<number, ProcessRecord> {
  let accounts: Accounts | undefined;
  const out = new Map<number, ProcessRecord>();
  const list = [...pids];
  const raws = collector.readProcessList ? collector.readProcessList(list) : list.map((pid) => collector.readProcess(pid));
  for (const raw of raws) {
    const pid = raw.pid;
    accounts ??= collector.readAccounts();
    const { gone: _gone, ...fields } = raw;
    out.set(pid, {
      ...fields,
      user: raw.uid === null ? null : (accounts.users.get(raw.uid) ?? null),
      group: raw.gid === null ? null : (accounts.groups.get(raw.gid) ?? null),
      netns: pidNetns.get(pid) ?? null,
    });
  }
  return out;
}

export interface HashStats {
  /** Files read and hashed in this run. */
  hashed: number;
  /** Executables whose hashes came from the cache. */
  cached: number;
  failed: number;
  /** Of those failures, processes that ended before their executable was read (ENOENT, ESRCH). */
  exited: number;
  /**
   * Of those failures, executables whose file system did not answer before the deadline, or
   * had not answered a call of an earlier capture yet (so were not tried again).
   */
  unanswered: { pid: number; executable: string | null }[];
  /** The BLAKE3 implementation that hashed, or null when every hash came from the cache. */
  implementation: Blake3Implementation['name'] | null;
}

/**
 * Attach BLAKE3 and SHA-256 of each process's executable. A file is read only when its
 * identity is not in the cache, so processes sharing a binary cost one read in all.
 */
export function hashExecutables(
  collector: PlatformCollector,
  processes: Iterable<ProcessRecord>,
  cache: HashCache,
  blake3: Blake3Implementation | (() => Blake3Implementation) = () => loadBlake3(),
  /** Hears, before each executable, how many were done (for a progress line). */
  onFile?: (done: number) => void,
  /** How files are read: by default node:fs, without a deadline (see deadlineHashFs). */
  fsImpl?: HashFs,
): HashStats {
  const stats: HashStats = { hashed: 0, cached: 0, failed: 0, exited: 0, unanswered: [], implementation: null };
  // Files a call of an earlier capture still waits on: trying again would only strand another thread.
  const pending = new Set(fsImpl?.pending?.() ?? []);
  // Loaded at the first file not in the cache (loading the native addon takes about 12 ms).
  let loaded = typeof blake3 === 'function' ? null : blake3;
  const implementation = (): Blake3Implementation => {
    loaded ??= (blake3 as () => Blake3Implementation)();
    stats.implementation = loaded.name;
    return loaded;
  };
  const todo: { proc: ProcessRecord; path: string }[] = [];
  for (const proc of processes) {
    if (proc.issues.some((i) => i.field === 'executable' && i.reason === 'kernel-thread')) continue;
    todo.push({ proc, path: collector.executableFile(proc.pid) });
  }
  const fail = (proc: ProcessRecord, path: string, error: unknown): void => {
    stats.failed++;
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ESRCH') stats.exited++;
    const unanswered = code === 'ETIMEDOUT' || code === 'EAGAIN';
    if (unanswered) stats.unanswered.push({ pid: proc.pid, executable: proc.executable });
    proc.issues.push({
      field: 'hash',
      reason: code === 'ENOENT' || code === 'ESRCH' ? 'process-exited' : code === 'EACCES' || code === 'EPERM' ? 'permission-denied' : 'io-error',
      detail: unanswered ? `not hashed: ${(error as Error).message}` : describeErrno(error, 'hashing', path),
    });
  };
  // Every file's identity in one call where the file system offers it: most are in the cache.
  const asked = todo.filter((t) => !pending.has(t.path));
  const identities = fsImpl?.statMany ? fsImpl.statMany(asked.map((t) => t.path)) : [];
  const known = new Map(asked.map((t, i) => [t.path, identities[i]]));
  let done = 0;
  for (const { proc, path } of todo) {
    onFile?.(done++);
    if (pending.has(path)) {
      fail(proc, path, Object.assign(new Error(`an earlier read of ${path} has not returned yet (its file system does not answer)`), { code: 'ETIMEDOUT' }));
      continue;
    }
    const identity = known.get(path);
    if (identity instanceof Error) {
      // Not asked again in this capture: a file that missed the deadline would only wait again.
      fail(proc, path, identity);
      continue;
    } else if (identity !== undefined) {
      const hit = cache.get(identityOf(identity));
      if (hit) {
        proc.hashes = hit;
        stats.cached++;
        continue;
      }
    }
    try {
      const result = fsImpl ? hashFile(path, cache, implementation, fsImpl) : hashFile(path, cache, implementation);
      proc.hashes = result.hashes;
      if (result.cached) stats.cached++;
      else stats.hashed++;
    } catch (error) {
      fail(proc, path, error);
    }
  }
  return stats;
}
