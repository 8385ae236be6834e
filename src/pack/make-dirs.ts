import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errnoCode } from '../errors.js';

/**
 * `mkdir -p`: `dir` and the directories above it that are missing, each made with `mode`.
 * Returns the first directory made, or undefined when `dir` was there (as `mkdirSync` with
 * `recursive` does). Node's recursive mkdir never returns for a path under /proc (the kernel
 * answers ENOENT to every mkdir there, and it makes the parent again and again); here each missing
 * directory is made once, top down, and the first failure is thrown with its path.
 */
export function makeDirectories(dir: string, mode: number): string | undefined {
  const missing: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    try {
      statSync(at);
      break; // there (a file in the way makes the mkdir below it fail with ENOTDIR)
    } catch (error) {
      // Not there, or not reachable (ENOTDIR, EACCES): its mkdir below makes it or says why not.
      missing.push(at);
      if (errnoCode(error) !== 'ENOENT' || dirname(at) === at) break;
    }
  }
  let first: string | undefined;
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path, { mode });
      first ??= path;
    } catch (error) {
      // Made meanwhile by someone else: fine when it is a directory.
      if (errnoCode(error) === 'EEXIST' && statSync(path).isDirectory()) continue;
      throw error;
    }
  }
  return first;
}
