import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectories } from '../../src/pack/make-dirs.js';
import { runCli } from '../helpers/processes.js';

// mkdir -p for key and pack directories. Node's recursive mkdir never returns for a path under
// /proc (a new-user probe found `netmon keygen --keys /proc/x` spinning at 100% CPU for good).

const dir = mkdtempSync(join(tmpdir(), 'netmon-mkdirs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('makeDirectories', () => {
  it('makes the missing directories top down with the mode, and returns the first one made', () => {
    const deep = join(dir, 'a', 'b', 'c');
    expect(makeDirectories(deep, 0o700)).toBe(join(dir, 'a'));
    for (const d of [join(dir, 'a'), join(dir, 'a', 'b'), deep]) {
      expect(statSync(d).isDirectory()).toBe(true);
      expect(statSync(d).mode & 0o777).toBe(0o700);
    }
    expect(makeDirectories(deep, 0o700)).toBeUndefined();
  });

  it('fails at once, naming the path, where a directory cannot be made', () => {
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => makeDirectories(join(dir, 'file', 'sub'), 0o700)).toThrow(/ENOTDIR.*file\/sub/);
    expect(() => makeDirectories('/proc/netmon-no-such/dir', 0o700)).toThrow(/ENOENT.*\/proc\/netmon-no-such/);
  });

  it('netmon keygen --keys under /proc says it cannot write there and exits 3, rather than spinning', () => {
    const r = runCli(['keygen', '--keys', '/proc/netmon-keys'], { killAfterMs: 20_000 });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('netmon: error: cannot write the signing keys: ENOENT (no such file or directory) writing /proc/netmon-keys; nothing of them was left in /proc/netmon-keys');
  });
});
