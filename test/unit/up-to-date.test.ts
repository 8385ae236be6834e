import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/processes.js';

/** scripts/up-to-date.mjs, which lets install and prepare skip a build whose output is newer than its inputs. */
const SCRIPT = join(ROOT, 'scripts', 'up-to-date.mjs');
const dir = mkdtempSync(join(tmpdir(), 'netmon-up-to-date-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, secondsAgo: number): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, name);
  const at = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(path, at, at);
  return path;
}

const upToDate = (...args: string[]): number | null => spawnSync(process.execPath, [SCRIPT, ...args]).status;

describe('scripts/up-to-date.mjs', () => {
  it('exits 0 only when the output is newer than every input, files in directories included', () => {
    const out = file('out/main.js', 10);
    const src = file('src/a.ts', 100);
    file('src/deep/b.ts', 50);
    // A directory's own time counts too (a file removed from it changes it): set back like its files.
    const past = new Date(Date.now() - 200_000);
    for (const d of ['src', 'src/deep']) utimesSync(join(dir, d), past, past);
    expect(upToDate(out, join(dir, 'src'), src)).toBe(0);
    file('src/deep/c.ts', 1); // edited after the build
    expect(upToDate(out, join(dir, 'src'))).toBe(1);
  });

  it('exits 1 when the output or an input is missing, 2 without arguments', () => {
    const src = file('only-src.ts', 100);
    expect(upToDate(join(dir, 'no-such-output'), src)).toBe(1);
    expect(upToDate(file('out2.js', 10), join(dir, 'no-such-input'))).toBe(1);
    expect(upToDate()).toBe(2);
  });
});
