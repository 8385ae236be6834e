import { createRequire } from 'node:module';
import { constants } from 'node:os';

/**
 * The optional native procfs scanner (native/procscan.c, built by `npm install` through
 * node-gyp). This file is its only entry. When the addon is missing (no compiler at install
 * time, another platform) or `NETMON_NATIVE=0`, netmon uses its JavaScript scanner: same
 * results, slower.
 */
export interface NativeProcScan {
  /**
   * Socket tables split into columns, or the errno number of a read failure. `badLine` > 0: a row
   * the scanner could not split. Rows come presorted by (listening, local port, remote port), a
   * hint that makes the final sort cheaper; nothing depends on it. With `sockDiag`, a path
   * /proc/self/net/{tcp,tcp6,udp,udp6} (the caller's own namespace) or /proc/<pid>/net/{...}
   * (process <pid>'s namespace, entered by a thread of the scanner's own, which needs
   * CAP_SYS_ADMIN) is dumped through sock_diag netlink into the same columns
   * (`via: 'sock_diag'`), and read as a file if that fails. A path
   * "<namespace file>:/proc/net/<table>" (an `ip netns` binding, say) is that namespace's table,
   * only dumped: when that fails, its result is the errno. `states[i]`, a mask of (1 << kernel
   * state number), limits the dump of `paths[i]` to sockets in those states; a file read still
   * gives every row.
   */
  readTables(paths: string[], sockDiag?: boolean, states?: number[]): ({ nums: Float64Array; addrs: Uint32Array; hex: string[]; badLine: number; via: 'sock_diag' | 'file' } | number)[];
  /** Socket links of every descriptor of the given processes. */
  readLinks(procRoot: string, pids: Int32Array): { triples: Float64Array; denied: Int32Array; exited: Int32Array };
  /**
   * Whole files, or with `links[i]` 1 the target of link `paths[i]`, read on the scanner's
   * threads: file i is bytes[offsets[i], offsets[i + 1]) when errors[i] is 0, else errors[i] is
   * its errno number.
   */
  readFiles(paths: string[], links?: Uint8Array): { bytes: Uint8Array; offsets: Float64Array; errors: Int32Array };
  /**
   * File calls with a deadline (native/deadline-io.c), for files on a file system that may not
   * answer: each runs on a thread of the addon while the caller waits at most `timeoutMs`; a
   * negative result is -errno, -ETIMEDOUT when the call missed its deadline (it is then
   * abandoned, and closes what it opened when it returns). After a fstat or read of `fd` missed
   * its deadline, that call owns `fd`: do not close it. `label` names the call in
   * deadlinePending() (default: the path).
   */
  deadlineOpen(path: string, timeoutMs: number, label?: string): number;
  /** [dev, ino, size, mtimeNs, ctimeNs] of an open file, or -errno. */
  deadlineFstat(fd: number, timeoutMs: number, label?: string): BigInt64Array | number;
  /**
   * The status of each file the paths name (links followed; as deadlineFstat gives it, or
   * -errno), in order, in one hand-over to the addon's thread (the deadline applies to each
   * file). When one misses it, its entry is -ETIMEDOUT and those after it -EAGAIN. A call that
   * misses its deadline is named by its path in deadlinePending().
   */
  deadlineStatMany(paths: string[], timeoutMs: number): (BigInt64Array | number)[];
  /**
   * The same as deadlineStatMany, but every path at once, each on a thread of its own, within one deadline: files
   * on a file system that does not answer cost one deadline together. -EAGAIN: not started (the
   * limit of waiting calls).
   */
  deadlineStatEach(paths: string[], timeoutMs: number): (BigInt64Array | number)[];
  /** Bytes read into `buffer` (at most 1 MiB), 0 at the end of the file, or -errno. */
  deadlineRead(fd: number, buffer: Uint8Array, timeoutMs: number, label?: string): number;
  deadlineClose(fd: number, timeoutMs: number, label?: string): number;
  /** Labels of abandoned calls that have not returned yet (at most 16; more fail with -EAGAIN). */
  deadlinePending(): string[];
}

/** Whether the native scanner may dump tables through sock_diag (`NETMON_SOCK_DIAG=0` turns it off). */
export function sockDiagEnabled(): boolean {
  return process.env.NETMON_SOCK_DIAG !== '0';
}

let loaded: NativeProcScan | null | undefined;

/** The addon, or null when it is not built; `force` ignores `NETMON_NATIVE=0`. */
export function loadNativeProcScan(force = false): NativeProcScan | null {
  if (force) return load();
  if (process.env.NETMON_NATIVE === '0') return null;
  return load();
}

function load(): NativeProcScan | null {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('../../build/Release/netmon_procscan.node') as NativeProcScan;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** "ENOENT" for 2, as Node names system errors. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `E${n}`;
}

/** An error as node:fs throws it (code, negative errno, syscall, path), for errno `n` of the addon. */
export function errnoError(n: number, syscall: string, path: string, message?: string): Error & { code: string } {
  const code = errnoName(n);
  return Object.assign(new Error(message ?? `${code}: ${syscall} ${path}`), { code, errno: -n, syscall, path });
}
