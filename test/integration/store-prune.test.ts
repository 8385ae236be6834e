import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCutoff } from '../../src/cli/store-commands.js';
import { compareSockets } from '../../src/snapshot/create-snapshot.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';
import { CLI, runCli } from '../helpers/processes.js';
import { withRaw } from '../helpers/store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-prune-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Snapshots one day apart; tick i holds listeners on ports 1000..1000+i (a growing set). */
function fill(path: string, days: number, options: { checkpointEvery?: number } = {}): EvidenceStore {
  const store = EvidenceStore.open(path, options);
  store.beginSession({ interval: null });
  for (let i = 0; i < days; i++) {
    const sockets = Array.from({ length: i + 1 }, (_, k) => makeSocket({ localPort: 1000 + k, inode: 5000 + k }));
    store.appendSnapshot(makeSnapshot({ sockets, takenAt: new Date(Date.UTC(2026, 0, 1 + i)) }), { label: `day${i}` });
  }
  return store;
}

/** Items that no event or checkpoint row names (a prune leaves none). */
const ORPHANS = 'SELECT COUNT(*) FROM items WHERE id NOT IN (SELECT item_id FROM checkpoint_items) AND id NOT IN (SELECT item_id FROM events)';

function count(path: string, sql: string): number {
  return withRaw(path, (raw) => Number(raw.prepare(sql).pluck().get()));
}

/** 25 checkpoints of 5,000 sockets an hour apart: 125,000 checkpoint rows, more than one prune step holds. */
function checkpointStore(path: string): void {
  const store = EvidenceStore.open(path, { checkpointEvery: 1 });
  store.beginSession({ interval: 3600 });
  const sockets = Array.from({ length: 5000 }, (_, k) => makeSocket({ localPort: 1024 + k, inode: 100000 + k }));
  for (let i = 0; i < 25; i++) store.appendSnapshot(makeSnapshot({ sockets, takenAt: new Date(Date.UTC(2026, 0, 1, i)) }));
  store.close();
}

/** A store whose clock the test sets, with a capture session of one minute begun. */
function minuteSession(path: string, clock: { now: number }): EvidenceStore {
  const store = EvidenceStore.open(path, { now: () => new Date(clock.now) });
  store.beginSession({ interval: 60 });
  return store;
}

/** A prune of `churnFill` removes its first 21 snapshots. */
const CUTOFF = new Date(Date.UTC(2026, 0, 1, 21));

/**
 * Snapshots an hour apart, a checkpoint every 4: 20 listeners that stay, five of nine connections
 * that come and go in turn (an item leaves and enters again, across checkpoints and across the
 * cutoff), one that flaps between checkpoints, and a connection of its own in each snapshot (an
 * item only that snapshot uses).
 */
function churnFill(path: string, n: number): EvidenceStore {
  const store = EvidenceStore.open(path, { checkpointEvery: 4 });
  store.beginSession({ interval: 3600 });
  const listeners = Array.from({ length: 20 }, (_, k) => makeSocket({ localPort: 2000 + k, inode: 9000 + k }));
  const connection = (port: number, inode: number) => makeSocket({ localPort: port, remoteAddress: '192.0.2.1', remotePort: 443, state: 'ESTABLISHED', listening: false, inode });
  for (let i = 0; i < n; i++) {
    const turning = Array.from({ length: 5 }, (_, k) => (i + k) % 9).map((c) => connection(40000 + c, 70000 + c));
    // One that is there every fourth snapshot only, never at a checkpoint: after the cutoff only
    // events name its item.
    const flapping = i % 4 === 2 ? [connection(45000, 75000)] : [];
    const sockets = [...listeners, ...turning, ...flapping, connection(50000 + i, 80000 + i)].sort(compareSockets);
    store.appendSnapshot(makeSnapshot({ sockets, takenAt: new Date(Date.UTC(2026, 0, 1, i)) }));
  }
  return store;
}

describe('prune', () => {
  it('removes old snapshots, keeps later ones exact, and the chain still verifies', () => {
    const path = join(dir, 'a.db');
    const store = fill(path, 10);
    const before = new Map(store.listSnapshots().map((s) => [s.id, store.loadSnapshot(s.id)]));
    const result = store.prune(new Date(Date.UTC(2026, 0, 6)));
    expect(result.removedSnapshots).toBe(5);
    const left = store.listSnapshots();
    expect(left.map((s) => s.label)).toEqual(['day5', 'day6', 'day7', 'day8', 'day9']);
    for (const s of left) expect(store.loadSnapshot(s.id)).toEqual(before.get(s.id));
    // Each kept snapshot keeps its own namespace counts (in its record, which a prune never rewrites).
    expect(left.map((s) => store.loadSnapshot(s.id).namespaces[0]!.sockets)).toEqual([6, 7, 8, 9, 10]);
    const verified = store.verify();
    expect(verified.ok, JSON.stringify(verified.problem)).toBe(true);
    expect(store.verify().snapshots).toBe(5);
    store.close();
  });

  it('keeps appending after a prune, as changes against the kept base', () => {
    const path = join(dir, 'b.db');
    const store = fill(path, 6);
    store.prune(new Date(Date.UTC(2026, 0, 4)));
    const next = makeSnapshot({ sockets: [makeSocket({ localPort: 9999, inode: 77 })], takenAt: new Date(Date.UTC(2026, 0, 10)) });
    const appended = store.appendSnapshot(next);
    expect(store.loadSnapshot(appended.id).sockets.map((s) => s.localPort)).toEqual([9999]);
    expect(store.verify().ok).toBe(true);
    store.close();
  });

  it('always keeps the newest snapshot', () => {
    const path = join(dir, 'c.db');
    const store = fill(path, 3);
    store.prune(new Date(Date.UTC(2030, 0, 1)));
    expect(store.listSnapshots().map((s) => s.label)).toEqual(['day2']);
    expect(store.verify().ok).toBe(true);
    store.close();
    // What is left is older than the cutoff: the notes say why it is there.
    for (const command of ['gaps', 'verify-store']) expect(runCli([command, '--db', path]).stderr).toMatch(/taken before 2030-01-01\S* \(but the newest one, which a prune always keeps\)/);
    // Still so after a later capture: the newest when the prune ran, not one captured after a clock set back (a multi-day probe).
    const later = EvidenceStore.open(path);
    later.beginSession({ interval: null });
    later.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 7100, inode: 7100 })], takenAt: new Date(Date.UTC(2030, 0, 2)) }));
    later.close();
    for (const command of ['gaps', 'verify-store']) {
      const r = runCli([command, '--db', path]);
      expect(r.stderr).toMatch(/taken before 2030-01-01\S* \(but the newest one, which a prune always keeps\)/);
      expect(r.stderr).not.toContain('set back');
    }
  });

  it('says which snapshots it kept although stamped before the cutoff: after a clock set back, those captured later', () => {
    const path = join(dir, 'stepped.db');
    const store = fill(path, 3);
    // The clock was set back by a year after day2, then two more captures.
    for (const [k, day] of [4, 5].entries()) {
      store.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 7000 + k, inode: 7000 + k })], takenAt: new Date(Date.UTC(2025, 0, day)) }), { label: `back${k}` });
    }
    store.prune(new Date(Date.UTC(2026, 0, 2)));
    expect(store.listSnapshots().map((s) => s.label)).toEqual(['day1', 'day2', 'back0', 'back1']);
    store.close();
    for (const command of ['gaps', 'verify-store']) {
      const r = runCli([command, '--db', path]);
      expect(r.stderr).toMatch(/taken before 2026-01-02\S* \(but it kept 2 snapshots stamped earlier: the newest, which a prune always keeps, and one captured after the clock was set back, since a prune removes snapshots in the order they were captured\)/);
      expect(r.stderr).not.toContain('(but the newest one, which a prune always keeps)');
    }
  });

  it('a reader inside reading() keeps the store it began with while another connection prunes (what report, diff and verify --db use)', () => {
    const path = join(dir, 'r.db');
    fill(path, 8).close();
    const writer = EvidenceStore.open(path);
    const reader = EvidenceStore.open(path, { readonly: true });
    const firstId = reader.listSnapshots()[0]!.id;
    const firstBefore = reader.loadSnapshot(firstId);
    const hashBefore = reader.recordHashOf(firstId);
    expect(hashBefore).toMatch(/^[0-9a-f]{64}$/);
    const seen = reader.reading(() => {
      const verified = reader.verify();
      const list = reader.listSnapshots();
      // A prune on another connection commits between the listing and the loading.
      expect(writer.prune(new Date(Date.UTC(2026, 0, 5))).removedSnapshots).toBe(4);
      return { verified, list, first: reader.loadSnapshot(list[0]!.id), hash: reader.recordHashOf(list[0]!.id), again: reader.verify() };
    });
    expect(seen.verified.ok).toBe(true);
    expect(seen.list.map((s) => s.label)).toEqual(['day0', 'day1', 'day2', 'day3', 'day4', 'day5', 'day6', 'day7']);
    expect(seen.first).toEqual(firstBefore);
    expect(seen.hash).toBe(hashBefore);
    expect(seen.again).toEqual(seen.verified);
    // After the transaction the reader sees the pruned store, which verifies as well.
    expect(reader.recordHashOf(firstId)).toBeNull();
    expect(() => reader.loadSnapshot(firstId)).toThrow(new RegExp(`no snapshot ${firstId} `));
    expect(reader.listSnapshots().map((s) => s.label)).toEqual(['day4', 'day5', 'day6', 'day7']);
    expect(reader.verify().ok).toBe(true);
    reader.close();
    writer.close();
  });

  it('names the change tickets whose captures it removes (would remove), since their packs no longer verify against the store (a new-user probe)', () => {
    const path = join(dir, 'tickets.db');
    const store = EvidenceStore.open(path);
    store.beginSession({ interval: null });
    const at = (day: number) => makeSnapshot({ sockets: [makeSocket({ localPort: 1000 + day, inode: 7000 + day })], takenAt: new Date(Date.UTC(2026, 0, day)) });
    store.appendSnapshot(at(1), { label: 'pre', change: 'CHG-1' });
    store.appendSnapshot(at(2), { label: 'post', change: 'CHG-1' });
    store.appendSnapshot(at(3));
    store.appendSnapshot(at(5), { label: 'pre', change: 'CHG-2' });
    store.close();
    const words = 'among them the captures of 1 change ticket (CHG-1): their evidence packs';
    const dry = runCli(['prune', '--older-than', '2026-01-04', '--db', path, '--dry-run']);
    expect(dry.stderr).toContain(`; ${words} would still verify on their own, but no longer against this store;`);
    const done = runCli(['prune', '--older-than', '2026-01-04', '--db', path]);
    expect(done.status, done.stderr).toBe(0);
    expect(done.stderr).toContain(`; ${words} will still verify on their own, but no longer against this store\n`);
    expect(done.stderr).not.toContain('CHG-2');
    // Nothing tagged among what a prune removes: no word of tickets.
    expect(runCli(['prune', '--older-than', '2026-01-05', '--db', path]).stderr).not.toContain('change ticket');
  });

  it('a prune that commits while a capture reads the previous set (a new process appending a changed set) leaves a store that verifies (a multi-day probe)', () => {
    // The capture's connection reads the previous snapshot's set as its checkpoint and its events;
    // another connection's prune commits right when the first of those queries is prepared.
    const path = join(dir, 'race.db');
    fill(path, 6).close();
    const writer = EvidenceStore.open(path);
    writer.beginSession({ interval: null });
    const internals = writer as unknown as { stmt: (sql: string) => unknown };
    const stmt = internals.stmt.bind(writer);
    let pruned = 0;
    internals.stmt = (sql: string) => {
      const prepared = stmt(sql);
      if (pruned === 0 && /FROM checkpoint_items c/.test(sql)) {
        pruned = 1;
        const pruner = EvidenceStore.open(path);
        pruned += pruner.prune(new Date(Date.UTC(2026, 0, 6))).removedSnapshots;
        pruner.close();
      }
      return prepared;
    };
    const sockets = Array.from({ length: 3 }, (_, k) => makeSocket({ localPort: 2000 + k, inode: 9000 + k }));
    writer.appendSnapshot(makeSnapshot({ sockets, takenAt: new Date(Date.UTC(2026, 0, 10)) }));
    writer.close();
    expect(pruned, 'the prune ran inside the append').toBeGreaterThan(1);
    const r = runCli(['verify-store', '--db', path]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const shown = runCli(['show', 'latest', '--db', path, '-o', 'json']);
    expect(shown.status, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { sockets: { localPort: number }[] }).sockets.map((x) => x.localPort).sort()).toEqual([2000, 2001, 2002]);
  });

  it('is caught when the anchor left by a prune is edited', () => {
    const path = join(dir, 'd.db');
    const store = fill(path, 4);
    store.prune(new Date(Date.UTC(2026, 0, 3)));
    store.close();
    const raw = EvidenceStore.open(path);
    // Edit the unchained anchor through SQL, as an attacker with write access could.
    (raw as unknown as { db: { prepare(sql: string): { run(): void } } }).db.prepare("UPDATE meta SET value = replace(value, '\"seq\":', '\"seq\":1') WHERE key = 'prune_anchor'").run();
    expect(raw.verify().ok).toBe(false);
    raw.close();
  });

  it('netmon prune --older-than works from the command line and refuses a bad age', () => {
    const path = join(dir, 'e.db');
    fill(path, 5).close();
    // A dry run says what would go and changes nothing.
    const bytes = readFileSync(path);
    // Times in local time with their offset, as everywhere else (here in a zone 5:45 ahead of UTC).
    const dry = runCli(['prune', '--older-than', '2026-01-04', '--db', path, '--dry-run'], { env: { ...process.env, TZ: 'Asia/Kathmandu' } });
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stderr).toBe(`netmon: dry run: would remove 3 snapshots from ${path}, taken from 2026-01-01T05:45:00+05:45 to 2026-01-03T05:45:00+05:45; the store would hold evidence from 2026-01-04T05:45:00+05:45; nothing was changed\n`);
    expect(runCli(['prune', '--older-than', '2026-01-01T00:00Z', '--db', path, '--dry-run'], { env: { ...process.env, TZ: 'Asia/Kathmandu' } }).stderr).toContain('was taken at or after 2026-01-01T05:45:00+05:45, or is the newest one');
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(runCli(['prune', '--older-than', '2025-01-01', '--db', path, '--dry-run']).stderr).toMatch(/dry run: nothing to prune: the first snapshot in \S+ was taken at or after 2025-01-01\S*, or is the newest one, which is always kept/);
    const ok = runCli(['prune', '--older-than', '2026-01-04', '--db', path]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/pruned 3 snapshots/);
    expect(runCli(['verify-store', '--db', path]).status).toBe(0);
    // A snapshot looked for by a label the prune removed: the prune is named with the miss.
    const gone = runCli(['diff', '--pre', 'day1', '--post', 'latest', '--db', path], { env: { ...process.env, TZ: 'UTC' } });
    expect(gone.status, gone.stderr).toBe(2);
    expect(gone.stderr).toMatch(/no snapshot labelled "day1" \(the pre snapshot, --pre\); a prune \(record \d+, [^)]+\) removed the snapshots taken before 2026-01-04T00:00:00\+00:00, and it may have been one of them/);
    const bad = runCli(['prune', '--older-than', 'yesterday', '--db', path]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/neither an age/);
  });

  it('says how much space a prune freed, and --vacuum gives it back to the file system with every record and item as it was', () => {
    const path = join(dir, 'f.db');
    // Bigger snapshots, so that the pruned part spans many pages.
    const store = EvidenceStore.open(path);
    store.beginSession({ interval: null });
    for (let i = 0; i < 40; i++) {
      const sockets = Array.from({ length: 200 }, (_, k) => makeSocket({ localPort: 1000 + k, inode: 100000 * (i + 1) + k }));
      store.appendSnapshot(makeSnapshot({ sockets, takenAt: new Date(Date.UTC(2026, 0, 1, i)) }));
    }
    store.close();
    const copy = join(dir, 'f-copy.db');
    const plain = runCli(['prune', '--older-than', '2026-01-02T06:00:00Z', '--db', path]);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/pruned 30 snapshots/);
    expect(plain.stderr).toMatch(/\d+\.\d MiB of .*f\.db is now free space that new captures reuse; --vacuum gives it back/);
    copyFileSync(path, copy);
    const rows = (file: string) => withRaw(file, (raw) => [raw.prepare('SELECT seq, hash FROM records ORDER BY seq').all(), raw.prepare('SELECT id, digest FROM items ORDER BY id').all()]);
    const before = rows(copy);
    const sizeBefore = statSync(copy).size;
    const store2 = EvidenceStore.open(copy);
    const { before: b, after: a } = store2.compact();
    expect(a).toBeLessThan(b);
    expect(store2.verify().ok).toBe(true);
    store2.close();
    expect(statSync(copy).size).toBeLessThan(sizeBefore);
    expect(rows(copy)).toEqual(before);
    // and from the command line, in one go
    const fresh = join(dir, 'g.db');
    copyFileSync(path, fresh);
    const vacuum = runCli(['prune', '--older-than', '2026-01-02T08:00:00Z', '--db', fresh, '--vacuum']);
    expect(vacuum.status, vacuum.stderr).toBe(0);
    expect(vacuum.stderr).toMatch(/compacted .*g\.db from \d+\.\d MiB to \d+\.\d MiB on disk \(the file and its write-ahead log\)/);
    expect(runCli(['verify-store', '--db', fresh]).status).toBe(0);

    // Beside a running capture (a writer with the store open), as the service runs: the rewritten
    // file went to the write-ahead log, which stayed as large as the store until the capture
    // ended (an endurance probe: 24.7 MB of log after "compacted to 23.4 MiB").
    const served = join(dir, 'h.db');
    copyFileSync(path, served);
    const capture = EvidenceStore.open(served);
    capture.beginSession({ interval: 10 });
    capture.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 4242, inode: 4242 })], takenAt: new Date(Date.UTC(2026, 0, 3)) }));
    try {
      const beside = runCli(['prune', '--older-than', '2026-01-02T08:00:00Z', '--db', served, '--vacuum']);
      expect(beside.status, beside.stderr).toBe(0);
      const reported = /compacted .*h\.db from (\d+\.\d) MiB to (\d+\.\d) MiB on disk/.exec(beside.stderr);
      expect(reported, beside.stderr).not.toBeNull();
      expect(Number(reported![2])).toBeLessThan(Number(reported![1]));
      const onDisk = statSync(served).size + (existsSync(`${served}-wal`) ? statSync(`${served}-wal`).size : 0);
      expect(onDisk / 1024 / 1024).toBeLessThanOrEqual(Number(reported![2]) + 0.1);
      expect(existsSync(`${served}-wal`) ? statSync(`${served}-wal`).size : 0).toBeLessThan(statSync(served).size);
      // The capture goes on writing.
      capture.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 4243, inode: 4243 })], takenAt: new Date(Date.UTC(2026, 0, 3, 1)) }));
    } finally {
      capture.close();
    }
    expect(runCli(['verify-store', '--db', served]).status).toBe(0);
  });

  it('goes in steps on a long prune, each its own transaction and prune record, and ends as a prune in one step does', () => {
    const stepped = join(dir, 'steps.db');
    churnFill(stepped, 30).close();
    const oneStep = join(dir, 'one-step.db');
    copyFileSync(stepped, oneStep);
    const store = EvidenceStore.open(stepped);
    const kept = store.listSnapshots().filter((s) => s.takenAt >= CUTOFF.toISOString());
    const before = new Map(kept.map((s) => [s.id, store.loadSnapshot(s.id)]));
    const itemsBefore = count(stepped, 'SELECT COUNT(*) FROM items');
    const progress: [number, number][] = [];
    const result = store.prune(CUTOFF, { stepRows: 60, onProgress: (done, total) => progress.push([done, total]) });
    expect(result.removedSnapshots).toBe(21);
    expect(result.records.length).toBeGreaterThanOrEqual(3);
    expect(result.record).toBe(result.records.at(-1));
    expect(progress.map(([, total]) => total)).toEqual(progress.map(() => 21));
    expect(progress.map(([done]) => done)).toEqual([...progress.map(([done]) => done)].sort((a, b) => a - b));
    expect(progress.at(-1)).toEqual([21, 21]);
    // Every step is a prune record in the chain.
    expect(count(stepped, "SELECT COUNT(*) FROM records WHERE kind = 'prune'")).toBe(result.records.length);
    expect(store.listSnapshots().map((s) => s.id)).toEqual(kept.map((s) => s.id));
    for (const s of kept) expect(store.loadSnapshot(s.id)).toEqual(before.get(s.id));
    expect(store.verify().ok).toBe(true);
    store.close();

    const single = EvidenceStore.open(oneStep);
    expect(single.prune(CUTOFF, { stepRows: 1e9 }).records).toHaveLength(1);
    expect(single.verify().ok).toBe(true);
    single.close();
    // Both keep exactly the items a kept snapshot uses: none left that no row names (the
    // connections seen only before the cutoff are gone), and verify found every one it needs.
    const digests = (path: string) => withRaw(path, (raw) => raw.prepare('SELECT digest FROM items ORDER BY digest').pluck().all());
    expect(digests(stepped)).toEqual(digests(oneStep));
    for (const path of [stepped, oneStep]) expect(count(path, ORPHANS)).toBe(0);
    expect(count(stepped, 'SELECT COUNT(*) FROM items')).toBeLessThan(itemsBefore);
  });

  it('lets a capture write between its steps', () => {
    const path = join(dir, 'steps-capture.db');
    churnFill(path, 30).close();
    const pruner = EvidenceStore.open(path);
    const writer = EvidenceStore.open(path);
    writer.beginSession({ interval: 3600 });
    let captured = 0;
    const result = pruner.prune(CUTOFF, {
      stepRows: 60,
      onProgress: () => {
        // The step has committed: another connection takes the write lock at once.
        writer.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 7000 + captured, inode: 600 + captured })], takenAt: new Date(Date.UTC(2026, 0, 3, captured++)) }));
      },
    });
    expect(captured).toBe(result.records.length);
    expect(captured).toBeGreaterThanOrEqual(3);
    expect(pruner.listSnapshots()).toHaveLength(9 + captured);
    expect(pruner.verify().ok).toBe(true);
    writer.close();
    pruner.close();
  });

  it('stopped between steps, leaves a store that verifies, and goes on when run again', () => {
    const path = join(dir, 'steps-stopped.db');
    churnFill(path, 30).close();
    const store = EvidenceStore.open(path);
    let steps = 0;
    expect(() =>
      store.prune(CUTOFF, {
        stepRows: 60,
        onProgress: () => {
          if (++steps === 2) throw new Error('interrupted');
        },
      }),
    ).toThrow(/could not prune the evidence store \(its first 2 steps removed \d+ snapshots \(prune records \d+, \d+\), the rest is as it was; run the prune again to go on\): .*interrupted/);
    const left = store.listSnapshots().length;
    expect(left).toBeGreaterThan(9);
    expect(left).toBeLessThan(30);
    expect(store.verify().ok).toBe(true);
    const rest = store.prune(CUTOFF, { stepRows: 60 });
    expect(rest.removedSnapshots).toBe(left - 9);
    expect(store.listSnapshots()).toHaveLength(9);
    expect(store.verify().ok).toBe(true);
    store.close();
    expect(count(path, ORPHANS)).toBe(0);
  });

  it('netmon prune says how many steps a long prune took, and the chain verifies', () => {
    const path = join(dir, 'steps-cli.db');
    checkpointStore(path);
    const cli = runCli(['prune', '--older-than', '2026-01-02T00:00:00Z', '--db', path], { env: { ...process.env, TZ: 'UTC' } });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/pruned 24 snapshots \(\d+ records\) older than 2026-01-02T00:00:00\+00:00 from .*; recorded as 2 prune records, one for each step \(\d+ to \d+\); netmon verify-store checks the chain that remains/);
    const verified = runCli(['verify-store', '--db', path], { env: { ...process.env, TZ: 'UTC' } });
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/1 snapshot, 5,?\d{3} items/);
    expect(verified.stderr).toMatch(/note: the store holds evidence from 2026-01-02T00:00:00\+00:00; a prune \(record \d+, [^)]+\) removed the snapshots taken before 2026-01-02T00:00:00\+00:00, and the chain begins at the anchor it left\n/);
  });

  it('keeps the records that lead into the first kept snapshot: the gap up to it, the clock step that shifts it, its session', () => {
    const path = join(dir, 'lead-in.db');
    const t0 = Date.UTC(2026, 0, 1);
    const clock = { now: t0 };
    const first = minuteSession(path, clock);
    for (let i = 0; i < 3; i++) first.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 1000 + i })], takenAt: new Date((clock.now = t0 + i * 60_000)) }));
    first.close();
    // Three days later: a gap (no capture was running), and a clock step before the next snapshot.
    clock.now = t0 + 3 * 86_400_000;
    const second = EvidenceStore.open(path, { now: () => new Date(clock.now) });
    const begun = second.beginSession({ interval: 60 });
    expect(begun.gap?.reason).toBe('not-running');
    second.recordClockStep(-5000);
    for (let i = 0; i < 3; i++) second.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 2000 + i })], takenAt: new Date((clock.now += 60_000)) }));
    const kinds = (): string[] => withRaw(path, (raw) => raw.prepare('SELECT kind FROM records ORDER BY seq').pluck().all() as unknown as string[]);
    expect(kinds()).toEqual(['session', 'snapshot', 'snapshot', 'snapshot', 'gap', 'session', 'clock', 'snapshot', 'snapshot', 'snapshot']);
    const result = second.prune(new Date(t0 + 86_400_000));
    expect(result.removedSnapshots).toBe(3);
    expect(kinds()).toEqual(['gap', 'session', 'clock', 'snapshot', 'snapshot', 'snapshot', 'prune']);
    expect(second.gaps()).toEqual([expect.objectContaining({ reason: 'not-running', to: new Date(t0 + 3 * 86_400_000).toISOString() })]);
    expect(second.clockSteps().map((c) => c.stepMs)).toEqual([-5000]);
    expect(second.verify()).toMatchObject({ ok: true, snapshots: 3, gaps: 1 });
    second.close();
    expect(runCli(['gaps', '--db', path]).stdout).toContain('no capture was running');
    // What retention removed is no gap in monitoring, but no evidence either: `gaps` says so.
    const listed = runCli(['gaps', '--db', path, '--from', '2025-12-01', '-o', 'json'], { env: { ...process.env, TZ: 'UTC' } });
    expect(listed.status, listed.stderr).toBe(0);
    const evidenceFrom = new Date(t0 + 3 * 86_400_000 + 60_000).toISOString();
    expect((JSON.parse(listed.stdout) as { retention: unknown }).retention).toEqual({ seq: result.record, at: expect.any(String), cutoff: new Date(t0 + 86_400_000).toISOString(), evidenceFrom, keptEarlier: { snapshots: 0, newest: false }, removedThrough: 4 });
    expect(listed.stderr).toMatch(/note: the store holds evidence from 2026-01-04T00:01:00\S* \(the selected time begins before it\); a prune \(record \d+, .*\) removed the snapshots taken before 2026-01-02T00:00:00/);
  });

  it('a session that goes on past the cut keeps its interval in the prune record: a late restart still records a gap', () => {
    const path = join(dir, 'long-session.db');
    const t0 = Date.UTC(2026, 0, 1);
    const clock = { now: t0 };
    const writer = minuteSession(path, clock);
    const tick = (i: number) => writer.appendSnapshot(makeSnapshot({ sockets: [makeSocket({ localPort: 1000 + (i % 3) })], takenAt: new Date((clock.now = t0 + i * 60_000)) }));
    for (let i = 0; i < 6; i++) tick(i);
    const pruner = EvidenceStore.open(path, { now: () => new Date(clock.now) });
    const sessionsOf = (seq: number | null) => (JSON.parse(withRaw(path, (raw) => String(raw.prepare('SELECT body FROM records WHERE seq = ?').pluck().get(seq)))) as { sessions?: Record<string, number> }).sessions;
    // The session record goes; its interval is in the prune record.
    const once = pruner.prune(new Date(t0 + 3 * 60_000));
    expect(count(path, "SELECT COUNT(*) FROM records WHERE kind = 'session'")).toBe(0);
    expect(Object.values(sessionsOf(once.record) ?? {})).toEqual([60]);
    // The capture goes on; a second prune removes the first prune's record, and carries the interval on.
    for (let i = 6; i < 9; i++) tick(i);
    const twice = pruner.prune(new Date(t0 + 7 * 60_000));
    expect(count(path, `SELECT COUNT(*) FROM records WHERE seq = ${once.record}`)).toBe(0);
    expect(Object.values(sessionsOf(twice.record) ?? {})).toEqual([60]);
    pruner.close();
    writer.close();
    // An hour after the last capture: more than twice the interval, so the time between is a gap.
    clock.now += 3_600_000;
    const next = EvidenceStore.open(path, { now: () => new Date(clock.now) });
    expect(next.beginSession({ interval: 60 }).gap).toMatchObject({ reason: 'not-running', from: new Date(t0 + 8 * 60_000).toISOString() });
    expect(next.verify().ok).toBe(true);
    next.close();
  });

  it('killed with SIGKILL at any moment, leaves a store that verifies, and the next prune completes', async () => {
    const original = join(dir, 'kill-original.db');
    checkpointStore(original);
    const path = join(dir, 'kill.db');
    const prune = ['prune', '--older-than', '2026-01-02T00:00:00Z', '--db', path];
    // How long a whole prune takes here, to kill it before, inside and between its steps.
    copyFileSync(original, path);
    const started = performance.now();
    expect(runCli(prune).status).toBe(0);
    const whole = performance.now() - started;
    const outcomes: number[] = [];
    const prunes = () => count(path, "SELECT COUNT(*) FROM records WHERE kind = 'prune'");
    // At points spread over a whole prune's time, and once just as its first step has committed.
    for (const when of [0.15, 0.35, 0.5, 0.65, 0.8, 0.95, 'first step'] as const) {
      for (const f of ['', '-wal', '-shm']) rmSync(`${path}${f}`, { force: true });
      copyFileSync(original, path);
      const child = spawn(process.execPath, [CLI, ...prune], { stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      if (when === 'first step') {
        const until = Date.now() + 30_000;
        while (prunes() === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
      } else {
        await new Promise((r) => setTimeout(r, whole * when));
      }
      child.kill('SIGKILL');
      await exited;
      const verified = runCli(['verify-store', '--db', path]);
      expect(verified.status, `killed at ${when}: ${verified.stderr}`).toBe(0);
      const left = count(path, 'SELECT COUNT(*) FROM snapshots');
      // No step, the first (20 snapshots) or both: never part of a step.
      expect([25, 5, 1]).toContain(left);
      expect(prunes()).toBe([25, 5, 1].indexOf(left));
      outcomes.push(left);
      const again = runCli(prune);
      expect(again.status, again.stderr).toBe(0);
      expect(count(path, 'SELECT COUNT(*) FROM snapshots')).toBe(1);
      expect(runCli(['verify-store', '--db', path]).status).toBe(0);
    }
    // The last kill came after a step had committed: a prune stopped between or inside steps.
    expect(outcomes.at(-1)).toBeLessThan(25);
  });

  it('parses ages and dates', () => {
    const now = new Date('2026-11-23T00:00:00Z');
    expect(parseCutoff('400d', now)?.toISOString()).toBe('2025-10-19T00:00:00.000Z');
    expect(parseCutoff('12h', now)?.toISOString()).toBe('2026-11-22T12:00:00.000Z');
    // A date alone is local midnight, as a time without an offset is local time.
    expect(parseCutoff('2026-01-01', now)?.getTime()).toBe(new Date(2026, 0, 1).getTime());
    expect(parseCutoff('2026-01-01T00:00:00Z', now)?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(parseCutoff('2026-02-30', now)).toBeNull();
    expect(parseCutoff('soon', now)).toBeNull();
  });
});
