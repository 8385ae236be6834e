import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { RawSocket } from '../model/types.js';
import { errnoName, sockDiagEnabled, type NativeProcScan } from './native-procscan.js';
import type { ProcNetColumns } from './parse/proc-net.js';

/**
 * A second thread for the Linux collector. A scan is bound by procfs system calls (reading the
 * socket tables, one readlink per descriptor), which run in parallel on a second CPU. Work is
 * shared by stealing: both threads take the next task from a shared atomic counter, so the
 * split balances itself, and if the helper starts late or not at all the collector's own thread
 * simply takes every task. The collector stays synchronous: it blocks on a shared flag only for
 * tasks the helper has taken, and redoes them itself if the helper does not answer in time.
 */

/** Result of one file task: its text, or the errno code of the failure. */
export type FileResult = string | { code: string; message: string };

interface FilesJob {
  type: 'files';
  phase: number;
  ctl: Int32Array<ArrayBufferLike>;
  paths: string[];
}

interface LinksJob {
  type: 'links';
  phase: number;
  ctl: Int32Array<ArrayBufferLike>;
  procRoot: string;
  /** Per chunk: pid, start, end (indices into fds). */
  chunks: Int32Array<ArrayBufferLike>;
  fds: Int32Array<ArrayBufferLike>;
}

export type HelperJob = FilesJob | LinksJob;

/** ctl slots: next task index, and the helper's "replied" flag. */
const NEXT = 0;
const REPLIED = 1;
const WAIT_MS = 30_000;

/** Socket descriptors found: (inode, pid, fd) triples; pids whose descriptors were unreadable. */
export interface LinksResult {
  triples: number[];
  denied: Set<number>;
}

/** Result of walking the descriptors of a set of processes. */
export interface WalkResult {
  /** (inode, pid, fd) triples of socket descriptors. */
  triples: ArrayLike<number>;
  /** Processes whose descriptors could not be read for lack of privilege. */
  denied: Set<number>;
  /** Processes that were gone when their descriptors were listed. */
  exited: Set<number>;
}

/** A socket table: its rows, or why it could not be read. */
export type TableResult = RawSocket[] | { code: string; message: string };

/** The two hot loops of a scan, however they are run (native, helper thread, or this thread). */
export interface ProcWork {
  /** Read and parse socket tables; `parse` turns a text into rows (and throws ParseError). */
  readTables(paths: string[], readFile: (path: string) => string, parse: (text: string, path: string) => RawSocket[], columns: (c: ProcNetColumns, path: string) => RawSocket[]): TableResult[];
  walk(
    procRoot: string,
    pids: number[],
    readdir: (path: string) => string[],
    readChunk: (pid: number, fds: ArrayLike<number>, result: LinksResult) => void,
  ): WalkResult;
  close(): void;
}

/** The native scanner behind the `ProcWork` interface. */
export class NativeWork implements ProcWork {
  /**
   * Dump the namespaces' tables through sock_diag rather than formatting and parsing
   * /proc/<pid>/net text (same rows, about half the time); `NETMON_SOCK_DIAG=0` reads the files.
   */
  private readonly sockDiag = sockDiagEnabled();

  constructor(private readonly native: NativeProcScan) {}

  readTables(
    paths: string[],
    readFile: (path: string) => string,
    parse: (text: string, path: string) => RawSocket[],
    columns: (c: ProcNetColumns, path: string) => RawSocket[],
  ): TableResult[] {
    return this.native.readTables(paths, this.sockDiag).map((r, i) => {
      if (typeof r === 'number') return { code: errnoName(r), message: `${errnoName(r)} reading ${paths[i]}` };
      // A row the scanner could not split: the reference parser reads the table again and
      // either parses it (it changed meanwhile) or names the bad line.
      if (r.badLine > 0) return parse(readFile(paths[i]!), paths[i]!);
      return columns(r, paths[i]!);
    });
  }

  walk(procRoot: string, pids: number[]): WalkResult {
    const result = this.native.readLinks(procRoot, Int32Array.from(pids));
    return { triples: result.triples, denied: new Set(result.denied), exited: new Set(result.exited) };
  }

  close(): void {}
}

export class ProcHelper implements ProcWork {
  private readonly worker: Worker | null;
  private readonly port: MessagePort | null;
  private phase = 0;
  private broken = false;

  private constructor(threaded: boolean) {
    if (!threaded) {
      this.worker = null;
      this.port = null;
      return;
    }
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./linux-worker.js', import.meta.url), {
      workerData: { port: port2 },
      transferList: [port2],
      stdout: false,
      stderr: false,
    });
    this.worker.on('error', () => {
      this.broken = true;
    });
    this.worker.unref();
    this.port.unref();
  }

  /**
   * Shared work with a helper thread when `threaded` and the machine has a second CPU
   * (`NETMON_THREADS=0` turns it off), else all work on the calling thread.
   */
  static start(threaded: boolean): ProcHelper {
    if (threaded && process.env.NETMON_THREADS !== '0' && availableParallelism() >= 2) {
      try {
        return new ProcHelper(true);
      } catch {
        // fall through: no thread, same results
      }
    }
    return new ProcHelper(false);
  }

  close(): void {
    if (this.worker) void this.worker.terminate();
  }

  readTables(paths: string[], readFile: (path: string) => string, parse: (text: string, path: string) => RawSocket[]): TableResult[] {
    return this.readFiles(paths, readFile).map((r, i) => (typeof r === 'string' ? parse(r, paths[i]!) : r));
  }

  /** Read files, sharing the work with the helper. Throws nothing: failures are results. */
  readFiles(paths: string[], readFile: (path: string) => string): FileResult[] {
    const results: (FileResult | undefined)[] = new Array(paths.length);
    const mine = this.share({ type: 'files', paths }, paths.length, (i) => {
      results[i] = readOne(paths[i]!, readFile);
    });
    this.gather(mine, paths.length, (reply) => {
      for (const [i, value] of reply.results as [number, FileResult][]) results[i] = value;
    });
    for (let i = 0; i < paths.length; i++) results[i] ??= readOne(paths[i]!, readFile);
    return results as FileResult[];
  }

  /** List each process's descriptors on this thread, then read their links shared with the helper. */
  walk(
    procRoot: string,
    pids: number[],
    readdir: (path: string) => string[],
    readChunk: (pid: number, fds: ArrayLike<number>, result: LinksResult) => void,
  ): WalkResult {
    const listed: { pid: number; fds: string[] }[] = [];
    const denied = new Set<number>();
    const exited = new Set<number>();
    for (const pid of pids) {
      try {
        listed.push({ pid, fds: readdir(`${procRoot}/${pid}/fd`) });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'ENOENT' || code === 'ESRCH') exited.add(pid);
        else denied.add(pid);
      }
    }
    const links = this.readLinks(procRoot, listed, readChunk);
    for (const pid of links.denied) denied.add(pid);
    return { triples: links.triples, denied, exited };
  }

  /**
   * readlink the descriptors of many processes, sharing the work with the helper. `lists` holds,
   * per pid, the descriptor numbers to read. `readOneProcess` does one chunk on this thread.
   */
  readLinks(
    procRoot: string,
    lists: { pid: number; fds: string[] }[],
    readChunk: (pid: number, fds: ArrayLike<number>, result: LinksResult) => void,
  ): LinksResult {
    const CHUNK = 256;
    const total = lists.reduce((n, l) => n + l.fds.length, 0);
    const fds = new Int32Array(new SharedArrayBuffer(Math.max(1, total) * 4));
    const chunkList: number[] = [];
    let k = 0;
    for (const { pid, fds: names } of lists) {
      const start = k;
      for (const name of names) fds[k++] = Number(name);
      for (let s = start; s < k; s += CHUNK) chunkList.push(pid, s, Math.min(k, s + CHUNK));
    }
    const chunks = new Int32Array(new SharedArrayBuffer(Math.max(1, chunkList.length) * 4));
    chunks.set(chunkList);
    const count = chunkList.length / 3;
    const result: LinksResult = { triples: [], denied: new Set() };
    const done = new Uint8Array(count);
    const mine = this.share({ type: 'links', procRoot, chunks, fds }, count, (i) => {
      readChunk(chunks[3 * i]!, fds.subarray(chunks[3 * i + 1]!, chunks[3 * i + 2]!), result);
      done[i] = 1;
    });
    this.gather(mine, count, (reply) => {
      const triples = reply.triples as Float64Array;
      for (let i = 0; i < triples.length; i++) result.triples.push(triples[i]!);
      for (const pid of reply.denied as number[]) result.denied.add(pid);
      for (const i of reply.claimed as number[]) done[i] = 1;
    });
    // Chunks the helper took but did not report (it failed or timed out): read them here.
    for (let i = 0; i < count; i++) {
      if (!done[i]) readChunk(chunks[3 * i]!, fds.subarray(chunks[3 * i + 1]!, chunks[3 * i + 2]!), result);
    }
    return result;
  }

  private ctl: Int32Array<ArrayBufferLike> = new Int32Array(0);

  /** Post a job, then take tasks on this thread until none is left; returns how many it did. */
  private share(job: Omit<FilesJob, 'phase' | 'ctl'> | Omit<LinksJob, 'phase' | 'ctl'>, count: number, run: (i: number) => void): number {
    this.phase++;
    this.ctl = new Int32Array(new SharedArrayBuffer(8));
    if (this.port && !this.broken && count > 0) this.port.postMessage({ ...job, phase: this.phase, ctl: this.ctl });
    let mine = 0;
    for (;;) {
      const i = Atomics.add(this.ctl, NEXT, 1);
      if (i >= count) break;
      run(i);
      mine++;
    }
    return mine;
  }

  /** Wait for the helper's reply when it took tasks, and hand it over. */
  private gather(mine: number, count: number, accept: (reply: Record<string, unknown>) => void): void {
    if (mine === count || this.broken || !this.port) return;
    if (Atomics.wait(this.ctl, REPLIED, 0, WAIT_MS) === 'timed-out') {
      this.broken = true;
      return;
    }
    for (;;) {
      const message = receiveMessageOnPort(this.port);
      if (!message) return;
      const reply = message.message as Record<string, unknown>;
      if (reply.phase === this.phase) {
        if (!('error' in reply)) accept(reply);
        return;
      }
    }
  }
}

function readOne(path: string, readFile: (path: string) => string): FileResult {
  try {
    return readFile(path);
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown };
    return { code: typeof e.code === 'string' ? e.code : 'EIO', message: String(e.message) };
  }
}
