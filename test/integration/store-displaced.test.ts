import { spawn } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/model/types.js';
import { CLI, runCli, skipWithReason } from '../helpers/processes.js';

/**
 * The evidence store's file deleted, moved or replaced under a running `--interval`: SQLite would
 * go on writing to the open file, and what it writes to a deleted one is gone when netmon exits.
 * netmon copies the open store beside the path and stops with exit 3.
 */

const root = mkdtempSync(join(tmpdir(), 'netmon-displaced-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Run {
  code: number | null;
  stderr: string;
}

/** `netmon --interval 0.3` in `dir`; once two snapshots are stored, `act` runs; resolves when netmon exits. */
async function displaceDuring(dir: string, act: () => void): Promise<Run> {
  const child = spawn(process.execPath, [CLI, '--interval', '0.3', '--include-ephemeral', '--db', 's.db', '--csv', 's.csv'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<Run>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  try {
    const until = Date.now() + 15_000;
    for (;;) {
      const listed = runCli(['snapshots', '--db', 's.db', '--output', 'json'], { cwd: dir });
      if (listed.status === 0 && (JSON.parse(listed.stdout) as { snapshots: unknown[] }).snapshots.length >= 2) break;
      if (Date.now() > until || child.exitCode !== null) throw new Error(`netmon --interval stored no two snapshots: ${stderr}`);
      await sleep(100);
    }
    act();
    return await Promise.race([exited, sleep(15_000).then(() => Promise.reject(new Error(`netmon did not stop within 15 s after the store was displaced: ${stderr}`)))]);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function listen(): Promise<{ server: net.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port }));
  });
}

/** The last snapshot of a store, as `show` prints it, after `verify-store` passed on it. */
function verifiedLast(dir: string, db: string): { id: number; snapshot: Snapshot } {
  const verify = runCli(['verify-store', '--db', db], { cwd: dir });
  expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  const listed = runCli(['snapshots', '--db', db, '--output', 'json'], { cwd: dir });
  expect(listed.status, listed.stderr).toBe(0);
  const ids = (JSON.parse(listed.stdout) as { snapshots: { id: number }[] }).snapshots.map((s) => s.id);
  const id = Math.max(...ids);
  const shown = runCli(['show', String(id), '--db', db, '--output', 'json'], { cwd: dir });
  expect(shown.status, shown.stderr).toBe(0);
  return { id, snapshot: JSON.parse(shown.stdout) as Snapshot };
}

const RESCUED = /netmon copied everything it held \(the last snapshot this session stored: (\d+)\) to (s\.db\.rescued-[0-9TZ-]+) and stopped/;

describe.skipIf(skipWithReason(!existsSync(CLI), `store displaced under --interval: needs the built CLI at ${CLI}`))('the evidence store displaced under a running --interval', () => {
  it('deleted: the open store is copied beside its path with every snapshot it held, verifiable; exit 3 says where', async () => {
    const dir = mkdtempSync(join(root, 'deleted-'));
    const { server, port } = await listen();
    let run: Run;
    try {
      run = await displaceDuring(dir, () => unlinkSync(join(dir, 's.db')));
    } finally {
      server.close();
    }
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toContain('netmon: error: the evidence store s.db was deleted or moved away while netmon was writing to it');
    const m = RESCUED.exec(run.stderr);
    expect(m, run.stderr).not.toBeNull();
    expect(run.stderr).toContain(`netmon verify-store --db ${m![2]}`);
    const last = verifiedLast(dir, m![2]!);
    // Every snapshot the session stored is in the copy, the last one with the test's listener.
    expect(last.id).toBe(Number(m![1]));
    expect(last.snapshot.sockets.some((s) => s.listening && s.localPort === port && s.owners.some((o) => o.pid === process.pid))).toBe(true);
    // Nothing new was created at the path.
    expect(existsSync(join(dir, 's.db'))).toBe(false);
  }, 40_000);

  it('moved away and replaced: the file put in its place is not touched; the moved store is whole and verifies', async () => {
    const dir = mkdtempSync(join(root, 'replaced-'));
    const placeholder = 'not an evidence store\n';
    // Moved away and replaced with no moment the path is free (a tick in between would find the
    // store deleted): the store kept at archive.db by a hard link, the placeholder made aside and
    // renamed over s.db in one step. The end is the same as a move: the store's file (its inode)
    // is at archive.db only, another file at s.db.
    writeFileSync(join(dir, 'placeholder.tmp'), placeholder);
    const run = await displaceDuring(dir, () => {
      linkSync(join(dir, 's.db'), join(dir, 'archive.db'));
      renameSync(join(dir, 'placeholder.tmp'), join(dir, 's.db'));
    });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toContain('the evidence store s.db was replaced by another file');
    const m = RESCUED.exec(run.stderr);
    expect(m, run.stderr).not.toBeNull();
    expect(readFileSync(join(dir, 's.db'), 'utf8')).toBe(placeholder);
    // The moved file got the session's last commits when netmon closed it (its WAL stayed at the old path).
    expect(verifiedLast(dir, 'archive.db').id).toBe(Number(m![1]));
    expect(verifiedLast(dir, m![2]!).id).toBe(Number(m![1]));
  }, 40_000);
});
