import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { changingSequence } from '../helpers/store-fixtures.js';
import { CLI, runCli } from '../helpers/processes.js';

/**
 * Ctrl-C (SIGINT) and SIGTERM during `netmon --once`: as under --interval, the capture under way
 * finishes, is stored and reported with its record hash, and netmon exits 0 (the test is in
 * hung-executable.test.ts, where a capture can be held at a known step); a wait for a locked
 * store ends at once with 130 and nothing captured. (A new-user probe's Ctrl-C ended a --once
 * silently with 130 after its snapshot was stored: the record hash was never shown.)
 */
describe('signals during netmon --once', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'netmon-once-signal-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const start = (db: string, csv: string, args: string[]) => {
    const child = spawn(process.execPath, [CLI, '--once', '--no-hash-binaries', '--db', db, '--csv', csv, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { child, exited, stderr: () => stderr };
  };
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (let i = 0; !ok(); i++) {
      if (i > 300) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const stored = (db: string): number => {
    const r = runCli(['snapshots', '--db', db, '--output', 'json']);
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { snapshots: unknown[] }).snapshots.length;
  };

  it('a Ctrl-C while it waits for a locked store stops it at once: exit 130, nothing captured', async () => {
    const db = join(dir, 'locked.db');
    const csv = join(dir, 'locked.csv');
    const holder = EvidenceStore.open(db);
    let run: ReturnType<typeof start> | undefined;
    try {
      // A one-shot writer of this process holds the store: --once waits for it (up to 60 s).
      holder.beginSession({ interval: null });
      holder.appendSnapshot(changingSequence()[0]!.snapshot);
      run = start(db, csv, ['--filter', ':1']);
      await until('the wait notice', () => run!.stderr().includes('waiting for it to finish'));
      run.child.kill('SIGINT');
      const { code } = await run.exited;
      expect(code, run.stderr()).toBe(130);
      expect(run.stderr()).toContain('netmon: SIGINT: finishing the current capture, then stopping\n');
      expect(run.stderr()).toContain('netmon: stopped while waiting for the store: nothing was captured\n');
    } finally {
      if (run && run.child.exitCode === null) run.child.kill('SIGKILL');
      holder.close();
    }
    expect(stored(db)).toBe(1);
    expect(existsSync(csv)).toBe(false);
  });
});
