/**
 * netmon often runs as root in a directory others may write to. A symbolic link planted there
 * under the name of a file netmon writes (the CSV trail, the store or the files SQLite makes
 * beside it, a configuration it writes) must not make it create or append to another file.
 * Readers may follow links: they write nothing.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRoot, runCli } from '../helpers/processes.js';

const root = mkdtempSync(join(tmpdir(), 'netmon-links-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let cases = 0;
/** A fresh directory others can write to (mode 1777, as /tmp), and a victim path outside it. */
function place(mode = 0o1777): { dir: string; victim: string } {
  const dir = join(root, `case-${++cases}`);
  mkdirSync(dir);
  chmodSync(dir, mode);
  return { dir, victim: join(root, `victim-${cases}`) };
}
const capture = (dir: string, ...args: string[]) => runCli(['--once', '--no-hash-binaries', '--filter', ':1', ...args], { cwd: dir });

describe('a symbolic link planted where netmon writes', () => {
  it('as the CSV trail, pointing nowhere: nothing is captured, and the file it names is not created', () => {
    const { dir, victim } = place();
    symlinkSync(victim, join(dir, 'network_connections.csv'));
    const r = capture(dir);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('network_connections.csv is a symbolic link in a directory others can write to');
    expect(r.stderr).toContain('nothing was captured');
    expect(existsSync(victim)).toBe(false);
    expect(existsSync(join(dir, 'netmon.db'))).toBe(false);
  });

  it('as the CSV trail, pointing at an empty file: the file stays empty', () => {
    const { dir, victim } = place();
    writeFileSync(victim, '');
    symlinkSync(victim, join(dir, 'network_connections.csv'));
    expect(capture(dir).status).toBe(3);
    expect(readFileSync(victim, 'utf8')).toBe('');
  });

  it('as the store, pointing at an empty file or nowhere: refused, nothing written there', () => {
    for (const existing of [true, false]) {
      const { dir, victim } = place();
      if (existing) writeFileSync(victim, '');
      symlinkSync(victim, join(dir, 'netmon.db'));
      const r = capture(dir, '--no-csv');
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toContain('netmon.db is a symbolic link in a directory others can write to');
      expect(r.stderr).toContain('readlink -f');
      if (existing) expect(readFileSync(victim).length).toBe(0);
      else expect(existsSync(victim)).toBe(false);
    }
  });

  it.for(['-wal', '-shm', '-journal'])('as the store\'s %s file: refused before SQLite could create it through the link', (suffix) => {
    const { dir, victim } = place();
    symlinkSync(victim, join(dir, `netmon.db${suffix}`));
    const r = capture(dir, '--no-csv');
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(`netmon.db${suffix} is a symbolic link`);
    expect(existsSync(victim)).toBe(false);
  });

  it('a link in a directory only its owner can write to is the owner\'s choice: followed for the trail and the store', () => {
    const { dir } = place(0o700);
    const real = join(root, `real-${cases}`);
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(join(real, 'trail.csv'), join(dir, 'network_connections.csv'));
    writeFileSync(join(real, 'store.db'), '', { mode: 0o640 });
    symlinkSync(join(real, 'store.db'), join(dir, 'netmon.db'));
    const r = capture(dir);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(real, 'trail.csv'), 'utf8')).toMatch(/^timestamp,host,snapshot_id/);
    expect(runCli(['verify-store', '--db', join(real, 'store.db')]).status).toBe(0);
  });

  it('a trail or store of another user, put in a directory others can write to, is refused', ({ skip }) => {
    if (!isRoot) skip('needs root to give the files to another user');
    const { dir } = place();
    writeFileSync(join(dir, 'network_connections.csv'), '');
    chownSync(join(dir, 'network_connections.csv'), 65534, 65534);
    const trail = capture(dir);
    expect(trail.status, trail.stderr).toBe(3);
    expect(trail.stderr).toContain('network_connections.csv belongs to uid 65534 and lies in a directory others can write to');
    expect(trail.stderr).toContain('nothing was captured');
    expect(readFileSync(join(dir, 'network_connections.csv'), 'utf8')).toBe('');
    const other = place();
    expect(capture(other.dir, '--no-csv').status).toBe(0);
    chownSync(join(other.dir, 'netmon.db'), 65534, 65534);
    const store = capture(other.dir, '--no-csv');
    expect(store.status, store.stderr).toBe(3);
    expect(store.stderr).toContain('netmon.db belongs to uid 65534 and lies in a directory others can write to');
    // In a directory only its owner may write to (a service user's store), another user's store is written.
    const own = place(0o755);
    expect(capture(own.dir, '--no-csv').status).toBe(0);
    chownSync(join(own.dir, 'netmon.db'), 65534, 65534);
    expect(capture(own.dir, '--no-csv').status).toBe(0);
  });

  it('a reader follows a link to a real store: it writes nothing', () => {
    const { dir } = place();
    expect(capture(dir, '--no-csv').status).toBe(0);
    symlinkSync(join(dir, 'netmon.db'), join(dir, 'alias.db'));
    const r = runCli(['snapshots', '--db', 'alias.db'], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(runCli(['verify-store', '--db', 'alias.db'], { cwd: dir }).status).toBe(0);
  });

  it('as the configuration init-config writes: refused (exit 2), the file it names not created', () => {
    const { dir, victim } = place();
    symlinkSync(victim, join(dir, 'netmon.conf'));
    const r = runCli(['init-config'], { cwd: dir });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('ELOOP');
    expect(existsSync(victim)).toBe(false);
  });

  it('as the baseline init writes: the link itself is replaced, the file it pointed at untouched', () => {
    const { dir, victim } = place();
    writeFileSync(victim, 'victim\n');
    symlinkSync(victim, join(dir, 'baseline.json'));
    const r = runCli(['init', '--baseline', 'baseline.json', '--no-hash-binaries'], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('victim\n');
    expect(JSON.parse(readFileSync(join(dir, 'baseline.json'), 'utf8'))).toHaveProperty('schemaVersion', 1);
  });
});
