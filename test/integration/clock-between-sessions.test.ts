import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';
import { CLI, runCli, skipWithReason } from '../helpers/processes.js';
import { scratchDirs, snapshotCount, withRaw } from '../helpers/store-fixtures.js';

/**
 * A clock set while no capture ran: the store keeps the wall clock beside the time since boot at
 * each write (meta `clock_mark`), and the next session in the same boot measures the step. Before,
 * a clock set forward between a writer killed and the next capture made a gap as long as the
 * step with nothing to explain it, and a clock set back by less than the stop lasted went unseen.
 */
const dirs = scratchDirs('netmon-clock-');
const T0 = Date.parse('2026-11-20T10:00:00Z');
const HOUR = 3_600_000;

/** A store whose wall clock and time since boot the test moves; `identify` names the boot. */
function clocked(db: string, wall: { ms: number }, up: { ms: number }): EvidenceStore {
  return EvidenceStore.open(db, { now: () => new Date(wall.ms), uptime: () => up.ms });
}
const inBoot = (boot: string, pidns = 'pid:[4026531836]') => ({ identify: () => `${boot}/12345`, pidNamespace: pidns });

/**
 * One session: begin (with `boot`), append one snapshot at the wall clock's time, and close (or
 * leave the lock behind). The step the session began with is recorded by its capture session at
 * its first tick (the CLI test below shows it in the chain).
 */
function session(db: string, wall: { ms: number }, up: { ms: number }, options: { boot?: string; pidns?: string; interval?: number | null; unclean?: boolean } = {}) {
  const store = clocked(db, wall, up);
  const begun = store.beginSession({ interval: options.interval ?? null, ...inBoot(options.boot ?? 'boot-a', options.pidns) });
  store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()], takenAt: new Date(wall.ms) }));
  store.close();
  // A writer killed outright leaves its lock; a pid that runs no process stands for it.
  if (options.unclean) withRaw(db, (raw) => raw.prepare("INSERT INTO writer (id, pid, host, since, session) VALUES (1, 4194303, ?, ?, ?)").run(hostname(), new Date(wall.ms).toISOString(), begun.session));
  return { begun };
}

describe('a clock set between capture sessions, in one boot', () => {
  it('set forward between two --once captures: measured by the time since boot and told as a step; no gap (nothing claimed to run)', () => {
    const db = join(dirs.make(), 'n.db');
    const wall = { ms: T0 };
    const up = { ms: 50_000 };
    session(db, wall, up);
    wall.ms += 20 * HOUR + 60_000;
    up.ms += 60_000;
    const second = session(db, wall, up);
    expect(second.begun.clockStep).toEqual({ stepMs: 20 * HOUR, measured: true, behind: false });
    expect(second.begun.gap).toBeNull();
  });

  it('set forward after a writer was killed: the gap still runs to the clock\'s now (a frozen virtual machine is not counted as time since boot), and the step is told beside it', () => {
    const db = join(dirs.make(), 'n.db');
    const wall = { ms: T0 };
    const up = { ms: 50_000 };
    session(db, wall, up, { interval: 10, unclean: true });
    wall.ms += 20 * HOUR + 60_000;
    up.ms += 60_000;
    const second = session(db, wall, up, { interval: 10 });
    expect(second.begun.gap).toMatchObject({ reason: 'unclean-stop', from: new Date(T0).toISOString(), to: new Date(wall.ms).toISOString() });
    expect(second.begun.clockStep).toEqual({ stepMs: 20 * HOUR, measured: true, behind: false });
  });

  it('set back by less than the stop lasted: before, unseen and the gap too short; now the gap lasts as long as the time since boot says, in the clock of its start', () => {
    const db = join(dirs.make(), 'n.db');
    const wall = { ms: T0 };
    const up = { ms: 50_000 };
    session(db, wall, up, { interval: 10, unclean: true });
    // Stopped for 8 hours; meanwhile the clock was set back 5 hours: it reads 3 hours later.
    wall.ms += 3 * HOUR;
    up.ms += 8 * HOUR;
    const second = session(db, wall, up, { interval: 10 });
    expect(second.begun.clockStep).toEqual({ stepMs: -5 * HOUR, measured: true, behind: false });
    expect(second.begun.gap).toMatchObject({ reason: 'unclean-stop', from: new Date(T0).toISOString(), to: new Date(T0 + 8 * HOUR).toISOString() });
  });

  it('set back to before the last snapshot: the gap is as long as the stop (it was the moment of noticing), and the step says how far back', () => {
    const db = join(dirs.make(), 'n.db');
    const wall = { ms: T0 };
    const up = { ms: 50_000 };
    session(db, wall, up, { interval: 10, unclean: true });
    wall.ms -= HOUR;
    up.ms += 2 * HOUR;
    const second = session(db, wall, up, { interval: 10 });
    expect(second.begun.clockStep).toEqual({ stepMs: -3 * HOUR, measured: true, behind: true });
    expect(second.begun.gap).toMatchObject({ reason: 'unclean-stop', from: new Date(T0).toISOString(), to: new Date(T0 + 2 * HOUR).toISOString() });
  });

  it('a clean --interval stop, a clock set back and a restart after more than two intervals: a not-running gap as long as the stop, which the clock alone did not show', () => {
    const db = join(dirs.make(), 'n.db');
    const wall = { ms: T0 };
    const up = { ms: 50_000 };
    session(db, wall, up, { interval: 10 });
    wall.ms += 5_000;
    up.ms += 10 * 60_000;
    const second = session(db, wall, up, { interval: 10 });
    expect(second.begun.gap).toMatchObject({ reason: 'not-running', from: new Date(T0).toISOString(), to: new Date(T0 + 10 * 60_000).toISOString() });
  });

  it('another boot or PID namespace, or a time since boot that ran backwards (a restarted container\'s): nothing is measured, and a clock reading before the last snapshot is still told', () => {
    const db = join(dirs.make(), 'n.db');
    const wall = { ms: T0 };
    const up = { ms: 50_000 };
    session(db, wall, up);
    wall.ms += 20 * HOUR;
    up.ms = 10_000;
    expect(session(db, wall, up).begun.clockStep).toBeNull();
    wall.ms += 20 * HOUR;
    up.ms += 60_000;
    expect(session(db, wall, up, { boot: 'boot-b' }).begun.clockStep).toBeNull();
    // The same boot from a container (another PID namespace), whose /proc/uptime may count from its own start.
    wall.ms += 20 * HOUR;
    up.ms += 60_000;
    expect(session(db, wall, up, { boot: 'boot-b', pidns: 'pid:[4026532999]' }).begun.clockStep).toBeNull();
    wall.ms -= 50 * HOUR;
    up.ms += 60_000;
    // The last snapshot was taken at T0 + 60 h; the clock now reads T0 + 10 h.
    expect(session(db, wall, up, { boot: 'boot-c' }).begun.clockStep).toEqual({ stepMs: -(50 * HOUR), measured: false, behind: true });
  });

  it('a clock within a second of the time since boot is no step; a store opened with a test clock and no time since boot keeps no mark', () => {
    const db = join(dirs.make(), 'n.db');
    const wall = { ms: T0 };
    const up = { ms: 50_000 };
    session(db, wall, up);
    wall.ms += 60_000 + 900;
    up.ms += 60_000;
    expect(session(db, wall, up).begun.clockStep).toBeNull();
    const other = join(dirs.make(), 'n.db');
    const store = EvidenceStore.open(other, { now: () => new Date(T0) });
    store.beginSession({ interval: null, ...inBoot('boot-a') });
    store.close();
    expect(withRaw(other, (raw) => raw.prepare("SELECT COUNT(*) FROM meta WHERE key = 'clock_mark'").pluck().get())).toBe(0);
    expect(withRaw(db, (raw) => JSON.parse(String(raw.prepare("SELECT value FROM meta WHERE key = 'clock_mark'").pluck().get())))).toEqual({ boot: 'boot-a', pidns: 'pid:[4026531836]', at: new Date(wall.ms).toISOString(), up: up.ms });
  });
});

const faketime = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/faketime/libfaketimeMT.so.1'].find((p) => existsSync(p));

describe.skipIf(skipWithReason(faketime === undefined, 'a clock set between captures: needs libfaketime (Debian package faketime)'))('netmon, its clock set forward after a capture loop was killed (libfaketime; the time since boot stays real)', () => {
  it('records the unclean stop as a gap to now, and the step beside it, and says both', async () => {
    const dir = dirs.make();
    const db = join(dir, 'n.db');
    const offset = join(dir, 'offset');
    writeFileSync(offset, '+0\n');
    const env = { ...process.env, LD_PRELOAD: faketime!, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    const child = spawn(process.execPath, [CLI, '--interval', '0.3', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'], { cwd: dir, env, stdio: 'ignore' });
    try {
      const deadline = Date.now() + 30_000;
      while (snapshotCount(db) < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(snapshotCount(db)).toBeGreaterThanOrEqual(2);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
    writeFileSync(offset, '+72000\n');
    const r = runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'], { cwd: dir, env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: recorded a gap in monitoring from \S+ to \S+ \(the previous capture stopped without closing the store\)/);
    expect(r.stderr).toMatch(/note: the system clock was set forward by about 19h 59m|note: the system clock was set forward by about 20h 0m/);
    expect(r.stderr).toMatch(/since this store's previous capture: it moved that much more than the time since boot \(which also stands still while a virtual machine is paused\); recorded in the store before snapshot \d+; `netmon gaps` lists the step\n/);
    const gaps = JSON.parse(runCli(['gaps', '--db', db, '-o', 'json']).stdout) as { gaps: { from: string; to: string; reason: string }[]; clockSteps: { stepMs: number }[] };
    const unclean = gaps.gaps.filter((g) => g.reason === 'unclean-stop');
    expect(unclean, JSON.stringify(gaps)).toHaveLength(1);
    expect(Date.parse(unclean[0]!.to) - Date.parse(unclean[0]!.from)).toBeGreaterThan(72_000_000);
    expect(gaps.clockSteps).toHaveLength(1);
    expect(gaps.clockSteps[0]!.stepMs).toBeGreaterThan(71_900_000);
    expect(gaps.clockSteps[0]!.stepMs).toBeLessThan(72_100_000);
    expect(runCli(['verify-store', '--db', db]).status).toBe(0);
  });
});
