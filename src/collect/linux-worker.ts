import { readFileSync, readlinkSync } from 'node:fs';
import { workerData, type MessagePort } from 'node:worker_threads';

/**
 * The helper thread of the Linux collector (see linux-helper.ts). It imports nothing of netmon,
 * so that it is ready quickly, and takes tasks from the shared counter like the main thread.
 */
const { port } = workerData as { port: MessagePort };

interface Job {
  type: 'files' | 'links';
  phase: number;
  ctl: Int32Array;
  paths?: string[];
  procRoot?: string;
  chunks?: Int32Array;
  fds?: Int32Array;
}

function errorOf(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown };
  return { code: typeof e.code === 'string' ? e.code : 'EIO', message: String(e.message) };
}

port.on('message', (job: Job) => {
  const { ctl, phase } = job;
  try {
    if (job.type === 'files') {
      const paths = job.paths!;
      const results: [number, unknown][] = [];
      for (;;) {
        const i = Atomics.add(ctl, 0, 1);
        if (i >= paths.length) break;
        try {
          results.push([i, readFileSync(paths[i]!, 'utf8')]);
        } catch (error) {
          results.push([i, errorOf(error)]);
        }
      }
      port.postMessage({ phase, results });
    } else {
      const chunks = job.chunks!;
      const fds = job.fds!;
      const count = chunks.length / 3;
      const triples: number[] = [];
      const denied: number[] = [];
      const claimed: number[] = [];
      for (;;) {
        const i = Atomics.add(ctl, 0, 1);
        if (i >= count) break;
        const pid = chunks[3 * i]!;
        const dir = `${job.procRoot}/${pid}/fd/`;
        for (let k = chunks[3 * i + 1]!; k < chunks[3 * i + 2]!; k++) {
          let link: string;
          try {
            link = readlinkSync(dir + fds[k]);
          } catch (error) {
            const code = (error as { code?: unknown }).code;
            if (code === 'EACCES' || code === 'EPERM') {
              denied.push(pid);
              break;
            }
            continue;
          }
          if (link.startsWith('socket:[')) triples.push(Number(link.slice(8, -1)), pid, fds[k]!);
        }
        claimed.push(i);
      }
      const packed = Float64Array.from(triples);
      port.postMessage({ phase, triples: packed, denied, claimed }, [packed.buffer]);
    }
  } catch (error) {
    port.postMessage({ phase, error: String(error) });
  }
  Atomics.store(ctl, 1, 1);
  Atomics.notify(ctl, 1);
});
