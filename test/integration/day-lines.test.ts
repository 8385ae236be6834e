import { spawn } from 'node:child_process';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dayChangeLine, localDay } from '../../src/model/iso-time.js';
import { CLI, skipWithReason } from '../helpers/processes.js';
import { scratchDirs, snapshotCount } from '../helpers/store-fixtures.js';

/**
 * The change lines of --interval and watch carry the time of day only: a log that runs for days,
 * or through the hour that the end of daylight saving time repeats, needs the day they are of.
 */
describe('dayChangeLine', () => {
  it('names the day and offset of a line that is not of the day shown, and nothing for one that is', () => {
    const at = new Date('2026-11-23T12:00:00Z');
    expect(dayChangeLine(localDay(at), at)).toBeNull();
    expect(dayChangeLine(localDay(at), new Date(at.getTime() + 60_000))).toBeNull();
    const next = new Date(at.getTime() + 86_400_000);
    expect(dayChangeLine(localDay(at), next)).toBe(`--- ${localDay(next)} ---`);
    expect(localDay(next)).toMatch(/^\d{4}-\d{2}-\d{2} [+-]\d{2}:\d{2}$/);
    // Nothing shown yet: the first line's day is named.
    expect(dayChangeLine('', at)).toBe(`--- ${localDay(at)} ---`);
  });
});

const dirs = scratchDirs('netmon-days-');
const faketime = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/faketime/libfaketimeMT.so.1'].find((p) => existsSync(p));

async function waitFor(what: string, check: () => boolean, shown: () => string = () => '', ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the output so far:\n${shown()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(skipWithReason(faketime === undefined, 'day lines across midnight: needs libfaketime (Debian package faketime)'))('netmon --interval across midnight (libfaketime, TZ=Europe/Berlin)', () => {
  it('puts a line naming the new day, with its offset, before the first change line of that day, and only then', async () => {
    const dir = dirs.make();
    const db = join(dir, 'n.db');
    const offset = join(dir, 'offset');
    // 23:59:00 in Berlin, in winter (+01:00), whatever the real time (libfaketime reads the file
    // at every call, so the clock stands at that time until the test writes another).
    const start = '@2026-11-26 23:59:00';
    writeFileSync(offset, `${start}\n`);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const env = { ...process.env, TZ: 'Europe/Berlin', LD_PRELOAD: faketime!, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_FMT: '%Y-%m-%d %H:%M:%S' };
    const child = spawn(process.execPath, [CLI, '--interval', '0.3', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', `:${port}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const clients: net.Socket[] = [];
    try {
      await waitFor('two snapshots', () => snapshotCount(db) >= 2);
      // A change on the same day: no day line.
      clients.push(net.connect(port, '127.0.0.1'));
      await waitFor('the first change line', () => /\n23:59:00 \+ tcp 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ ESTABLISHED/.test(stdout), () => stdout);
      expect(stdout).not.toContain('---');
      // Past midnight: the next change line comes after the day's line.
      writeFileSync(`${offset}.new`, '@2026-11-27 00:30:00\n');
      renameSync(`${offset}.new`, offset);
      const stored = snapshotCount(db);
      await waitFor('a snapshot of the new day', () => snapshotCount(db) >= stored + 2);
      clients.push(net.connect(port, '127.0.0.1'));
      await waitFor('the change line after the day line', () => /--- 2026-11-27 \+01:00 ---\n00:30:00 \+ tcp /.test(stdout), () => stdout);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      for (const c of clients) c.destroy();
      server.close();
    }
    expect(stdout.split('--- ').length - 1).toBe(1);
  });
});
