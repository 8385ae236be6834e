import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../src/store/csv-trail.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { CLI, runCli, skipWithReason } from '../helpers/processes.js';
import { snapshotCount, withRaw } from '../helpers/store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-interval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function waitFor(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(25);
  }
}

/** What a child has written to stderr so far. */
function collectStderr(child: ChildProcess): () => string {
  let text = '';
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  return () => text;
}

function startInterval(db: string, csv: string, seconds = '0.2') {
  return spawn(process.execPath, [CLI, '--interval', seconds, '--db', db, '--csv', csv, '--no-hash-binaries'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Parse the CSV with Python's csv module (an RFC 4180 reader independent of ours). */
function parseCsv(path: string): string[][] {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import csv,json,sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))))', path], { encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python3 csv reader failed (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as string[][];
}

/** Another process holds the store's write lock for `ms` (as a long prune would); resolves once it holds it, to its exit. */
async function holdWriteLock(db: string, ms: number): Promise<{ released: Promise<number | null> }> {
  const holder = spawn(
    process.execPath,
    ['-e', "const db = new (require('better-sqlite3'))(process.argv[1]); db.exec('BEGIN IMMEDIATE'); console.log('held'); setTimeout(() => { db.exec('ROLLBACK'); db.close(); }, Number(process.argv[2]));", db, String(ms)],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const released = new Promise<number | null>((resolve) => holder.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  return { released };
}

/**
 * The gaps of a store whose 0.3 s loop stopped cleanly and then got one --once capture: none of
 * an unclean stop. The --once session is late, and so a not-running gap from the loop's last
 * snapshot, only when it began more than two intervals (0.6 s) after it: on a loaded machine the
 * command in between can take that long (as in the SIGTERM test).
 */
function expectNoGapButALateSession(store: EvidenceStore): void {
  const lastOfLoop = store.listSnapshots().at(-2)!;
  for (const gap of store.gaps()) {
    expect(gap.reason, JSON.stringify(gap)).toBe('not-running');
    expect(gap.from).toBe(lastOfLoop.takenAt);
    expect(Date.parse(gap.to) - Date.parse(gap.from)).toBeGreaterThan(600);
  }
}

describe('--interval under faults', () => {
  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('%s finishes the running capture and exits 0, leaving a verifiable store and no stale lock', async (signal) => {
    const db = join(dir, `${signal}.db`);
    const csv = join(dir, `${signal}.csv`);
    const child = startInterval(db, csv, '0.3');
    const stderr = collectStderr(child);
    await waitFor(() => snapshotCount(db) >= 2);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill(signal);
    expect(await exited, stderr()).toBe(0);
    expect(stderr()).toContain(`${signal}: finishing the current capture`);
    expect(stderr()).toMatch(/stopped after \d+ captures?/);
    // The last snapshot's record hash, for verify-store --expect-head.
    const hash = /stopped after \d+ captures?; last snapshot \d+ in \S+ \(record hash ([0-9a-f]{64})\)/.exec(stderr())?.[1];
    expect(hash).toBeDefined();
    expect(runCli(['verify-store', '--db', db, '--expect-head', hash!]).status).toBe(0);
    const next = runCli(['--once', '--db', db, '--csv', csv, '--no-hash-binaries']);
    expect(next.status, next.stderr).toBe(0);
    expect(next.stderr).not.toMatch(/stopped without closing/);
    // A clean stop records no unclean-stop gap. The next capture's session is late, and so a
    // not-running gap, only when it began more than two intervals (0.6 s) after the last
    // snapshot: on a loaded machine the two commands in between can take that long.
    const store = EvidenceStore.open(db, { readonly: true });
    const snapshots = store.listSnapshots();
    const lastOfLoop = snapshots.at(-2)!;
    for (const gap of store.gaps()) {
      expect(gap.reason).toBe('not-running');
      expect(gap.from).toBe(lastOfLoop.takenAt);
      expect(Date.parse(gap.to) - Date.parse(gap.from)).toBeGreaterThan(600);
    }
    store.close();
  });

  it('a capture stopped for a while (SIGSTOP, as a suspended system) records the pause as a gap and says so; a normal run records none', async () => {
    const db = join(dir, 'pause.db');
    const csv = join(dir, 'pause.csv');
    // Ticks every second; the stop lands between two of them (a pause during a tick shows as a
    // long tick, not as a gap: see docs/evidence-store.md).
    const child = startInterval(db, csv, '1');
    const stderr = collectStderr(child);
    await waitFor(() => snapshotCount(db) >= 2);
    const gapsOf = () => {
      const store = EvidenceStore.open(db, { readonly: true });
      try {
        return store.gaps();
      } finally {
        store.close();
      }
    };
    expect(gapsOf()).toEqual([]);
    // A stop that landed during a tick (a slow tick on a loaded machine) records nothing: it is
    // tried again, up to 4 times, and the times below are those of the stop that was a pause.
    let stoppedAt = 0;
    let resumedAt = 0;
    for (let attempt = 1; ; attempt++) {
      const committed = snapshotCount(db);
      await waitFor(() => snapshotCount(db) > committed);
      await sleep(400); // the tick has written its CSV rows and sleeps until the next slot
      const before = snapshotCount(db);
      stoppedAt = Date.now();
      child.kill('SIGSTOP');
      await sleep(3500);
      child.kill('SIGCONT');
      resumedAt = Date.now();
      // Two snapshots after the count taken before the stop, the first tick begun after SIGCONT
      // has been stored: it recorded the pause, or (the stop fell inside a tick) none.
      await waitFor(() => snapshotCount(db) >= before + 2);
      if (gapsOf().length > 0) break;
      if (attempt === 4) throw new Error(`each of 4 stops landed during a tick, none between two: ${stderr()}`);
    }
    await waitFor(() => /recorded a gap in monitoring from .* \(the capture did not run: the system was suspended, or the process was stopped or got no CPU\)/.test(stderr()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited, stderr()).toBe(0);
    const gaps = gapsOf();
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.reason).toBe('paused');
    // The gap spans the stop: from the last capture before it to the first after it.
    expect(Date.parse(gaps[0]!.from)).toBeLessThanOrEqual(stoppedAt);
    expect(Date.parse(gaps[0]!.to)).toBeGreaterThanOrEqual(resumedAt - 50);
    expect(Date.parse(gaps[0]!.to) - Date.parse(gaps[0]!.from)).toBeGreaterThanOrEqual(3400);
    expect(runCli(['verify-store', '--db', db]).status).toBe(0);
  }, 120_000);

  it('--once on a store kept locked by another process waits for it (saying so) instead of failing after 5 s', async () => {
    const db = join(dir, 'once-busy.db');
    const csv = join(dir, 'once-busy.csv');
    expect(runCli(['--once', '--db', db, '--csv', csv, '--no-hash-binaries']).status).toBe(0);
    const { released } = await holdWriteLock(db, 7000);
    const heldAt = Date.now();
    const once = await new Promise<{ code: number | null; stderr: string; at: number }>((resolve) => {
      const child = spawn(process.execPath, [CLI, '--once', '--db', db, '--csv', csv, '--no-hash-binaries'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stderr, at: Date.now() }));
    });
    expect(await released).toBe(0);
    expect(once.code, once.stderr).toBe(0);
    // It finished only once the lock was released (held 7 s), where it used to fail at 5 s.
    expect(once.at - heldAt).toBeGreaterThanOrEqual(6500);
    expect(once.stderr).toContain(`netmon: note: the evidence store ${db} is locked by another process (a prune, or a long reader of a store on a shared file system); waiting for it, up to 60 s`);
    expect(once.stderr).toMatch(/snapshot \d+ in /);
    expect(snapshotCount(db)).toBe(2);
    // One session, no gap: the wait is not an interruption.
    const store = EvidenceStore.open(db, { readonly: true });
    expect(store.gaps()).toEqual([]);
    store.close();
    expect(runCli(['verify-store', '--db', db]).status).toBe(0);
  });

  it('--lock-wait 0 fails at once on a store another process keeps locked, and --lock-wait 1 after about a second (SQLite\'s own wait of 5 s is no longer added)', async () => {
    const db = join(dir, 'impatient.db');
    const csv = join(dir, 'impatient.csv');
    expect(runCli(['--once', '--db', db, '--csv', csv, '--no-hash-binaries']).status).toBe(0);
    const { released } = await holdWriteLock(db, 8000);
    try {
      for (const wait of ['0', '1']) {
        const started = Date.now();
        const r = runCli(['--once', '--lock-wait', wait, '--db', db, '--csv', csv, '--no-hash-binaries']);
        // Before, SQLite's own busy wait came first: 5 s or more, whatever --lock-wait said. The
        // bound leaves room for a loaded machine (the capture itself takes well under a second).
        expect(Date.now() - started, `--lock-wait ${wait}`).toBeLessThan(4500);
        expect(r.status, r.stderr).toBe(3);
        expect(r.stderr).toContain('another process kept it locked for longer than netmon waits');
      }
    } finally {
      await released;
    }
    expect(snapshotCount(db)).toBe(1);
  });

  it('a capture killed but never reaped (a zombie: its parent does not wait) holds no lock: the next capture takes the store over with a gap', async () => {
    const db = join(dir, 'zombie.db');
    const csv = join(dir, 'zombie.csv');
    // sh starts netmon, then becomes sleep, which never waits for its child.
    const parent = spawn('sh', ['-c', `"$0" "$1" --interval 0.3 --db "$2" --csv "$3" --no-hash-binaries 2>/dev/null & echo $!; exec sleep 60`, process.execPath, CLI, db, csv], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      await waitFor(() => snapshotCount(db) >= 2);
      process.kill(pid, 'SIGKILL');
      await waitFor(() => /^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), 5000);
      const next = runCli(['--once', '--db', db, '--csv', csv, '--no-hash-binaries']);
      expect(next.status, next.stderr).toBe(0);
      expect(next.stderr).toMatch(/recorded a gap in monitoring from .* \(the previous capture stopped without closing the store\)/);
      expect(runCli(['verify-store', '--db', db]).status).toBe(0);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('a store kept locked by another process (a prune, a long reader on a shared file system) costs the captures meanwhile, never the session: the time is a gap', async () => {
    const db = join(dir, 'busy.db');
    const csv = join(dir, 'busy.csv');
    const child = startInterval(db, csv, '0.3');
    const stderr = collectStderr(child);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => snapshotCount(db) >= 2);
      // Another process holds the store's write lock for 7 s, longer than a capture waits (5 s).
      const { released } = await holdWriteLock(db, 7000);
      const heldAt = Date.now();
      const before = snapshotCount(db);
      await waitFor(() => /warning: the evidence store .*busy\.db was locked by another process for longer than netmon waits/.test(stderr()), 12_000);
      expect(await released).toBe(0);
      const releasedAt = Date.now();
      await waitFor(() => /recorded a gap in monitoring from .* \(captures could not be stored: another process .* kept the evidence store locked/.test(stderr()), 10_000);
      await waitFor(() => snapshotCount(db) >= before + 2);
      expect(child.exitCode).toBe(null);
      child.kill('SIGTERM');
      expect(await exited, stderr()).toBe(0);
      const store = EvidenceStore.open(db, { readonly: true });
      const gaps = store.gaps();
      store.close();
      expect(gaps.map((g) => g.reason)).toEqual(['store-busy']);
      // From the last capture stored before the lock to the first one after it.
      expect(Date.parse(gaps[0]!.from)).toBeLessThanOrEqual(heldAt);
      expect(Date.parse(gaps[0]!.to)).toBeGreaterThanOrEqual(releasedAt - 6000);
      expect(Date.parse(gaps[0]!.to) - Date.parse(gaps[0]!.from)).toBeGreaterThanOrEqual(5000);
      expect(runCli(['verify-store', '--db', db]).status).toBe(0);
      // The trail holds no row of a capture that was not stored.
      const ids = new Set(parseCsv(csv).slice(1).map((r) => Number(r[CSV_COLUMNS.indexOf('snapshot_id')])));
      const stored = new Set(JSON.parse(runCli(['snapshots', '--db', db, '--output', 'json']).stdout).snapshots.map((x: { id: number }) => x.id));
      for (const id of ids) expect(stored.has(id)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  const faketime = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1', '/usr/lib/faketime/libfaketimeMT.so.1'].find((p) => existsSync(p));
  /**
   * An environment whose wall clock libfaketime moves by the offset in a file (`start`, then
   * whatever the test writes there; read at every call). The time since boot and the monotonic
   * clock stay real, as they do when root sets the clock.
   */
  const fakeClock = (name: string, start: string): { offset: string; env: NodeJS.ProcessEnv } => {
    const offset = join(dir, `${name}-offset`);
    writeFileSync(offset, `${start}\n`);
    return { offset, env: { ...process.env, LD_PRELOAD: faketime!, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' } };
  };
  /**
   * Set the offset a running capture reads at every clock call: written aside, then renamed over
   * the file in one step (rewritten in place, a read could find it empty or half written).
   */
  const setOffset = (offset: string, value: string): void => {
    writeFileSync(`${offset}.new`, `${value}\n`);
    renameSync(`${offset}.new`, offset);
  };
  it.skipIf(skipWithReason(faketime === undefined, 'clock steps under --interval: needs libfaketime (Debian package faketime)'))(
    'the system clock set forward and back between ticks is not a pause: no gap, a note each time, and the snapshot times follow the clock',
    async () => {
      const db = join(dir, 'clock.db');
      const csv = join(dir, 'clock.csv');
      const { offset, env } = fakeClock('clock', '+0');
      const child = spawn(process.execPath, [CLI, '--interval', '0.3', '--db', db, '--csv', csv, '--no-hash-binaries'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
      const stderr = collectStderr(child);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        await waitFor(() => snapshotCount(db) >= 2);
        setOffset(offset, '+600');
        await waitFor(() => /clock was set forward by about (9m 5\d|10m \d)s between the previous capture and snapshot \d+ \(not a gap: netmon kept capturing; recorded in the store\); times from then on are shifted by that much/.test(stderr()));
        const afterForward = snapshotCount(db);
        await waitFor(() => snapshotCount(db) >= afterForward + 2);
        setOffset(offset, '+0');
        await waitFor(() => /clock was set back by about (9m 5\d|10m \d)s between the previous capture and snapshot \d+/.test(stderr()));
        child.kill('SIGTERM');
        expect(await exited, stderr()).toBe(0);
      } finally {
        child.kill('SIGKILL');
      }
      expect(stderr()).not.toMatch(/gap in monitoring/);
      const store = EvidenceStore.open(db, { readonly: true });
      let times: number[];
      let listed: { id: number; takenAt: string }[];
      let steps: { seq: number; at: string; stepMs: number }[];
      try {
        expect(store.gaps()).toEqual([]);
        listed = store.listSnapshots();
        times = listed.map((s) => Date.parse(s.takenAt));
        steps = store.clockSteps();
      } finally {
        store.close();
      }
      // Both steps are in the hash chain, each just before the snapshot whose time it shifts.
      expect(steps.map((c) => Math.sign(c.stepMs))).toEqual([1, -1]);
      for (const c of steps) {
        expect(Math.abs(c.stepMs)).toBeGreaterThan(590_000);
        expect(Math.abs(c.stepMs)).toBeLessThan(610_000);
        const after = listed.find((s) => s.id > c.seq)!;
        const before = listed.filter((s) => s.id < c.seq).at(-1)!;
        expect(Math.sign(Date.parse(after.takenAt) - Date.parse(before.takenAt) - c.stepMs / 2)).toBe(Math.sign(c.stepMs));
      }
      // The recorded times are what the clock said: one jump of about +600 s, one of about -600 s.
      const jumps = times.slice(1).map((t, k) => t - times[k]!).filter((d) => Math.abs(d) > 60_000);
      expect(jumps).toHaveLength(2);
      expect(jumps[0]).toBeGreaterThan(590_000);
      expect(jumps[1]).toBeLessThan(-590_000);
      expect(runCli(['verify-store', '--db', db]).status).toBe(0);
    },
  );

  it.skipIf(skipWithReason(faketime === undefined, 'a clock set during a pause: needs libfaketime (Debian package faketime)'))(
    'a pause during which the clock was set (forward, then back) is a gap as long as the pause, never an hour long nor running backwards; the step is recorded after it',
    async () => {
      // Before, the gap ran from the last capture to the clock's time after the pause: set forward
      // an hour, a 3-second pause became an hour without evidence; set back, a gap ending before
      // it began.
      // Each stop must fall between two ticks: one during a tick is a long tick, and the clock set
      // meanwhile a step without a pause. A run in which a stop landed during a tick (a slow tick
      // on a loaded machine) is started over with a fresh store and clock, up to 3 times.
      const run = async (name: string) => {
        const db = join(dir, `${name}.db`);
        const { offset, env } = fakeClock(name, '+0');
        const child = spawn(process.execPath, [CLI, '--interval', '1', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
        const stderr = collectStderr(child);
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        const gapsOf = () => {
          const store = EvidenceStore.open(db, { readonly: true });
          try {
            return { gaps: store.gaps(), steps: store.clockSteps() };
          } finally {
            store.close();
          }
        };
        try {
          for (const to of ['+3600', '+0']) {
            const count = snapshotCount(db);
            await waitFor(() => snapshotCount(db) >= count + 2);
            // Between two ticks (a stop during a tick is a long tick), for longer than two intervals.
            await sleep(300);
            // Counted before the stop: once resumed, the capture may record the gap before a count
            // taken after SIGCONT would be read, and the wait would be for a gap that never comes.
            const gaps = gapsOf().gaps.length;
            const before = snapshotCount(db);
            child.kill('SIGSTOP');
            setOffset(offset, to);
            await sleep(4500);
            child.kill('SIGCONT');
            // Two snapshots after the count taken before the stop, the first tick begun after
            // SIGCONT has been stored: it recorded the pause, or (the stop fell inside a tick) none.
            await waitFor(() => snapshotCount(db) >= before + 2);
            if (gapsOf().gaps.length === gaps) return null;
          }
          child.kill('SIGTERM');
          expect(await exited, stderr()).toBe(0);
        } finally {
          child.kill('SIGCONT');
          child.kill('SIGKILL');
        }
        return { db, ...gapsOf() };
      };
      let result: Awaited<ReturnType<typeof run>> = null;
      for (let attempt = 1; result === null; attempt++) {
        if (attempt > 3) throw new Error('in each of 3 runs a stop landed during a tick, not between two');
        result = await run(`pause-step-${attempt}`);
      }
      const { db, gaps, steps } = result;
      expect(gaps.map((g) => g.reason)).toEqual(['paused', 'paused']);
      for (const g of gaps) {
        const ms = Date.parse(g.to) - Date.parse(g.from);
        expect(ms, JSON.stringify(g)).toBeGreaterThan(4000);
        expect(ms, JSON.stringify(g)).toBeLessThan(20_000);
      }
      // The steps, each recorded after its pause's gap and before the snapshot it shifts.
      expect(steps.map((c) => Math.round(c.stepMs / 60_000))).toEqual([60, -60]);
      for (const [k, c] of steps.entries()) expect(c.seq).toBeGreaterThan(gaps[k]!.seq);
      expect(runCli(['verify-store', '--db', db]).status).toBe(0);
    },
    180_000,
  );

  it('--interval piped into head: when the pipe closes, the running capture finishes and the store is closed, not left locked', async () => {
    const db = join(dir, 'pipe.db');
    const csv = join(dir, 'pipe.csv');
    const err = join(dir, 'pipe.err');
    const cmd = `"${process.execPath}" "${CLI}" --interval 0.3 --include-ephemeral --no-hash-binaries --db "${db}" --csv "${csv}" 2>"${err}" | head -c 200 >/dev/null; echo "status=\${PIPESTATUS[0]}"`;
    const child = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Listeners that open and close while it runs: each tick prints change lines into the closed pipe.
    const servers: net.Server[] = [];
    const churn = setInterval(() => {
      const server = net.createServer().listen(0, '127.0.0.1');
      servers.push(server);
      if (servers.length > 3) servers.shift()!.close();
    }, 200);
    try {
      await Promise.race([done, sleep(20_000).then(() => Promise.reject(new Error(`netmon did not stop after its pipe closed: ${readFileSync(err, 'utf8')}`)))]);
    } finally {
      clearInterval(churn);
      for (const server of servers) server.close();
      child.kill('SIGKILL');
    }
    expect(out.trim()).toBe('status=0');
    expect(readFileSync(err, 'utf8')).toContain('netmon: stdout was closed (EPIPE): finishing the current capture, then stopping');
    const next = runCli(['--once', '--db', db, '--csv', csv, '--no-hash-binaries']);
    expect(next.status, next.stderr).toBe(0);
    expect(next.stderr).not.toMatch(/stopped without closing/);
    const store = EvidenceStore.open(db, { readonly: true });
    expectNoGapButALateSession(store);
    expect(store.verify().ok).toBe(true);
    store.close();
  });

  it('--interval into a full device (stdout on /dev/full): the output error is said once, the running capture finishes, the store is closed, exit 3', async () => {
    // From a scale probe: ENOSPC on stdout was an uncaught exception, with the writer lock left behind.
    const db = join(dir, 'full-stdout.db');
    const full = openSync('/dev/full', 'w');
    const child = spawn(process.execPath, [CLI, '--interval', '0.3', '--include-ephemeral', '--no-hash-binaries', '--db', db, '--no-csv'], { stdio: ['ignore', full, 'pipe'] });
    closeSync(full);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await Promise.race([new Promise<number | null>((resolve) => child.on('exit', resolve)), sleep(20_000).then(() => 'timeout' as const)]);
    child.kill('SIGKILL');
    expect(code, stderr).toBe(3);
    expect(stderr.match(/netmon: error: cannot write to standard output: ENOSPC/g), stderr).toHaveLength(1);
    expect(stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    const next = runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries']);
    expect(next.status, next.stderr).toBe(0);
    const store = EvidenceStore.open(db, { readonly: true });
    expectNoGapButALateSession(store);
    expect(store.verify().ok).toBe(true);
    store.close();
  });

  it('survives SIGKILL at random moments: the store opens and verifies, the CSV never keeps a torn line, each kill is a recorded gap', async () => {
    const db = join(dir, 'kill.db');
    const csv = join(dir, 'kill.csv');
    const kills = 6;
    for (let i = 0; i < kills; i++) {
      const child = startInterval(db, csv);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const before = snapshotCount(db);
      await waitFor(() => snapshotCount(db) > before);
      // Each session after a kill says that it recorded the gap the kill left.
      if (i > 0) await waitFor(() => /recorded a gap in monitoring from .* \(the previous capture stopped without closing the store\)/.test(stderr), 5_000);
      await sleep(Math.floor(Math.random() * 400));
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      const store = EvidenceStore.open(db, { readonly: true });
      const verified = store.verify();
      store.close();
      expect(verified.ok, `after kill ${i + 1}: ${JSON.stringify(verified.problem)}`).toBe(true);
    }
    const last = runCli(['--once', '--db', db, '--csv', csv, '--no-hash-binaries']);
    expect(last.status, last.stderr).toBe(0);
    expect(last.stderr).toMatch(/recorded a gap in monitoring/);
    const store = EvidenceStore.open(db, { readonly: true });
    const gaps = store.gaps();
    const snapshots = store.listSnapshots();
    expect(store.verify().ok).toBe(true);
    store.close();
    expect(gaps.filter((g) => g.reason === 'unclean-stop')).toHaveLength(kills);
    const rows = parseCsv(csv);
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows.filter((r) => r[0] === 'timestamp')).toHaveLength(1);
    for (const row of rows) expect(row).toHaveLength(CSV_COLUMNS.length);
    // Every row names a snapshot that is in the store: nothing was written for a snapshot that was lost.
    const ids = new Set(snapshots.map((s) => String(s.id)));
    for (const row of rows.slice(1)) expect(ids.has(row[2]!)).toBe(true);
    // And the other way round: each session's first snapshot (its inventory) has every row in the
    // trail, even when a kill came between storing it and writing them (the next capture completes it).
    const firsts = withRaw(db, (raw) => raw.prepare('SELECT MIN(id) AS id, sockets FROM snapshots GROUP BY session').all() as { id: number; sockets: number }[]);
    expect(firsts).toHaveLength(kills + 1);
    for (const first of firsts) {
      expect(rows.filter((r) => r[2] === String(first.id) && r[3] === 'present'), `inventory rows of snapshot ${first.id}`).toHaveLength(first.sockets);
    }
    expect(readFileSync(csv, 'utf8').endsWith('\r\n')).toBe(true);
  });

  it.skipIf(skipWithReason(faketime === undefined, 'a clock set back between captures: needs libfaketime (Debian package faketime)'))(
    'a capture whose clock reads before the store\'s last snapshot says so and records the step; a gap after an unclean stop never runs backwards',
    async () => {
      const db = join(dir, 'setback.db');
      const { env: behind } = fakeClock('setback', '-3600');
      const once = ['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'];
      expect(runCli(once, { cwd: dir }).status).toBe(0);
      const r = runCli(once, { cwd: dir, env: behind });
      expect(r.status, r.stderr).toBe(0);
      // In the same boot, the time since boot measures the step.
      expect(r.stderr).toMatch(/warning: the system clock was set back by about (59m \d+s|1h 0m) since this store's previous capture: it moved that much less than the time since boot; recorded in the store before snapshot \d+; this snapshot's time reads earlier than the one before it; `netmon gaps` lists the step/);
      // From another boot (its mark names another), only the clock reading before the last snapshot tells.
      expect(runCli(once, { cwd: dir }).status).toBe(0);
      withRaw(db, (raw) => raw.prepare("UPDATE meta SET value = json_set(value, '$.boot', 'an-earlier-boot') WHERE key = 'clock_mark'").run());
      const unmeasured = runCli(once, { cwd: dir, env: behind });
      expect(unmeasured.status, unmeasured.stderr).toBe(0);
      expect(unmeasured.stderr).toMatch(/warning: the system clock reads about (59m \d+s|1h 0m) earlier than the time of the store's last snapshot: it was set back since \(recorded in the store before snapshot \d+\)/);
      // An --interval session killed outright, then a capture whose clock is an hour behind it.
      const child = spawn(process.execPath, [CLI, '--interval', '0.3', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', ':1'], { cwd: dir, stdio: 'ignore' });
      const count = snapshotCount(db);
      await waitFor(() => snapshotCount(db) > count);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const after = runCli(once, { cwd: dir, env: behind });
      expect(after.status, after.stderr).toBe(0);
      const gaps = JSON.parse(runCli(['gaps', '--db', db, '-o', 'json']).stdout) as { gaps: { from: string; to: string; reason: string }[]; clockSteps: { stepMs: number }[] };
      const unclean = gaps.gaps.find((g) => g.reason === 'unclean-stop');
      expect(unclean, JSON.stringify(gaps)).toBeDefined();
      expect(Date.parse(unclean!.to)).toBeGreaterThanOrEqual(Date.parse(unclean!.from));
      expect(gaps.clockSteps.filter((c) => c.stepMs < -3_000_000)).toHaveLength(3);
      expect(runCli(['verify-store', '--db', db]).status).toBe(0);
    },
  );
});
