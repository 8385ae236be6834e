import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/processes.js';

/**
 * Files that hold what netmon captured carry command lines, which can hold secrets, after the
 * processes are gone: they are created for the owner and the group only (0640, less the umask),
 * whatever the usual umask 022 would give. Files that exist keep their mode.
 */

const root = mkdtempSync(join(tmpdir(), 'netmon-modes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Run the CLI under a umask (through sh, as a login shell or a service manager sets it). */
function runUnder(umask: string, args: string[], cwd: string) {
  return spawnSync('sh', ['-c', `umask ${umask} && exec "$@"`, 'sh', process.execPath, CLI, ...args], { cwd, encoding: 'utf8' });
}

const modeOf = (path: string) => statSync(path).mode & 0o777;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!existsSync(CLI))('modes of the files netmon creates', () => {
  it('--once under umask 022: store and trail are 0640; under umask 077, 0600; an existing trail keeps its mode', () => {
    const dir = mkdtempSync(join(root, 'once-'));
    const once = runUnder('022', ['--once', '--no-hash-binaries'], dir);
    expect(once.status, once.stderr).toBe(0);
    expect(modeOf(join(dir, 'netmon.db'))).toBe(0o640);
    expect(modeOf(join(dir, 'network_connections.csv'))).toBe(0o640);

    const strict = mkdtempSync(join(root, 'strict-'));
    expect(runUnder('077', ['--once', '--no-hash-binaries'], strict).status).toBe(0);
    expect(modeOf(join(strict, 'netmon.db'))).toBe(0o600);
    expect(modeOf(join(strict, 'network_connections.csv'))).toBe(0o600);

    // A trail and a store the owner opened up on purpose stay as they are.
    chmodSync(join(dir, 'network_connections.csv'), 0o644);
    chmodSync(join(dir, 'netmon.db'), 0o644);
    expect(runUnder('022', ['--once', '--no-hash-binaries'], dir).status).toBe(0);
    expect(modeOf(join(dir, 'network_connections.csv'))).toBe(0o644);
    expect(modeOf(join(dir, 'netmon.db'))).toBe(0o644);

    // An existing empty file at --db is taken for a new store, and keeps its mode.
    const empty = mkdtempSync(join(root, 'empty-'));
    writeFileSync(join(empty, 'netmon.db'), '', { mode: 0o600 });
    expect(runUnder('022', ['--once', '--no-hash-binaries'], empty).status).toBe(0);
    expect(modeOf(join(empty, 'netmon.db'))).toBe(0o600);
  });

  it('--interval: the write-ahead log and its index get the store\'s mode', async () => {
    const dir = mkdtempSync(join(root, 'interval-'));
    const child = spawn('sh', ['-c', 'umask 022 && exec "$@"', 'sh', process.execPath, CLI, '--interval', '0.3', '--no-hash-binaries'], { cwd: dir, stdio: 'ignore' });
    try {
      const until = Date.now() + 15_000;
      while (!(existsSync(join(dir, 'netmon.db-wal')) && existsSync(join(dir, 'netmon.db-shm')))) {
        if (Date.now() > until) throw new Error(`no WAL files: ${readdirSync(dir).join(', ')}`);
        await sleep(50);
      }
      for (const f of ['netmon.db', 'netmon.db-wal', 'netmon.db-shm']) expect([f, modeOf(join(dir, f))]).toEqual([f, 0o640]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });

  it('a baseline written by init is 0640', () => {
    const dir = mkdtempSync(join(root, 'baseline-'));
    const init = runUnder('022', ['init', '--baseline', 'b.json', '--no-hash-binaries'], dir);
    expect(init.status, init.stderr).toBe(0);
    expect(modeOf(join(dir, 'b.json'))).toBe(0o640);
  });
});
