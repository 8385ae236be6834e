import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../src/store/csv-trail.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { CLI, HOLDER, runCli, startJsonProcess, stop } from '../helpers/processes.js';
import { prunedCopy, snapshotCount } from '../helpers/store-fixtures.js';

// Real captures (--once and an --interval session) of real sockets, one of them held by a process
// with a hostile name, then the trail checked back against the store, as it is and as tampered.

const dir = mkdtempSync(join(tmpdir(), 'netmon-verify-trail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, 'netmon.db');
const csv = join(dir, 'trail.csv');
let original: Buffer;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOSTILE = '=evil,"name"\nline2';
/** The name the kernel keeps of it (15 bytes), neutralised and quoted as the trail holds it. */
const HOSTILE_CELL = `"'=evil,""name""\nli"`;


async function untilSnapshots(n: number): Promise<void> {
  for (let i = 0; i < 200 && snapshotCount(db) < n; i++) await sleep(50);
  expect(snapshotCount(db)).toBeGreaterThanOrEqual(n);
}

const verify = (...extra: string[]) => runCli(['verify-trail', '--db', db, '--csv', csv, ...extra], { cwd: dir });

/** The trail's records, split at CRLF (the hostile cell's line break is a bare LF). */
function lines(): string[] {
  return readFileSync(csv, 'utf8').split('\r\n');
}

/** The line of the file record k starts on, as an editor counts lines (a LF inside a cell starts one too). */
function lineOf(records: string[], k: number): number {
  return records.slice(0, k).join('\r\n').split('\n').length + (k > 0 ? 1 : 0);
}

beforeAll(async () => {
  const first = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '2641', '--title', HOSTILE]);
  try {
    expect(runCli(['--once', '--label', 'pre', '--db', db, '--csv', csv], { cwd: dir }).status).toBe(0);
    // An --interval session: the trail gets its inventory, then only changes.
    const capture = spawn(process.execPath, [CLI, '--interval', '0.3', '--db', db, '--csv', csv], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await untilSnapshots(2);
      const second = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--connect', '127.0.0.1:2641']);
      await untilSnapshots(snapshotCount(db) + 2);
      await stop(second.child);
      await untilSnapshots(snapshotCount(db) + 2);
    } finally {
      capture.kill('SIGINT');
      await new Promise((r) => capture.once('exit', r));
    }
    expect(runCli(['--once', '--label', 'post', '--db', db, '--csv', csv], { cwd: dir }).status).toBe(0);
  } finally {
    await stop(first.child);
  }
  original = readFileSync(csv);
}, 60_000);

afterEach(() => writeFileSync(csv, original)); // the same file (inode) again, as netmon left it

describe('netmon verify-trail', () => {
  it('passes a trail of inventories and changes, hostile cells included, whatever the reader\'s time zone', () => {
    const text = original.toString('utf8');
    // The trail holds what the checks below rely on: inventories, change rows and the hostile name, neutralised.
    expect(text).toMatch(/,present,/);
    expect(text).toMatch(/,opened,tcp,127\.0\.0\.1,\d+,127\.0\.0\.1,2641,ESTABLISHED,/);
    expect(text).toMatch(/,closed,tcp,127\.0\.0\.1,\d+,127\.0\.0\.1,2641,ESTABLISHED,/);
    expect(text).toContain(HOSTILE_CELL);
    for (const tz of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
      const r = runCli(['verify-trail', '--db', db, '--csv', csv], { cwd: dir, env: { ...process.env, TZ: tz } });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^CSV trail ${csv.replace(/[.]/g, '\\.')} verified against ${db.replace(/[.]/g, '\\.')}: \\d+ rows of \\d+ snapshots, every one as the store holds it\\n$`));
    }
    const json = JSON.parse(verify('-o', 'json').stdout) as { ok: boolean; rows: number; snapshots: number; checked: number; problems: unknown[] };
    expect(json.ok).toBe(true);
    expect(json.problems).toEqual([]);
    expect(json.checked).toBe(json.snapshots);
    // Every data row was read: the lines but the header, the hostile cell's second line and the empty end.
    expect(json.rows).toBe(lines().length - 2);
  });

  it('names an edited cell by line and column, and the store\'s value', () => {
    const all = lines();
    const k = all.findIndex((l) => /,opened,tcp,127\.0\.0\.1,\d+,127\.0\.0\.1,2641,ESTABLISHED,/.test(l));
    all[k] = all[k]!.replace(',127.0.0.1,2641,', ',127.0.0.1,2643,');
    writeFileSync(csv, all.join('\r\n'));
    // Not a changed row: the socket it names is another one, so it is a row the store lacks, and its own is missing.
    let r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toContain(`line ${lineOf(all, k)}: a row of snapshot`);
    expect(r.stdout).toMatch(/that the store does not hold \(opened tcp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:2643 ESTABLISHED\)/);
    expect(r.stdout).toMatch(/1 row of snapshot \d+ \(rows from line \d+\) is missing, for example opened tcp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:2641 ESTABLISHED/);
    expect(r.stderr).toMatch(/does not match the evidence store .*: 2 problems/);

    writeFileSync(csv, original);
    const again = lines();
    const user = CSV_COLUMNS.indexOf('user');
    const cells = again[k]!.split(',');
    cells[user] = 'nobody';
    again[k] = cells.join(',');
    writeFileSync(csv, again.join('\r\n'));
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^line ${lineOf(again, k)}: a row of snapshot \\d+ was changed: user "nobody" \\(the store: "\\w+"\\)\\n$`));
  });

  it('names a removed row, a row added, a snapshot\'s rows written twice, and rows of a snapshot the store never took', () => {
    const all = lines();
    const present = all.findIndex((l) => l.includes(',present,'));
    const removed = all.splice(present, 1)[0]!;
    writeFileSync(csv, all.join('\r\n'));
    let r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/^1 row of snapshot \d+ \(rows from line 2\) is missing, for example present tcp/);

    // The removed row appended again at the end: a block of that snapshot once more.
    writeFileSync(csv, `${all.join('\r\n')}${removed}\r\n`);
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/: rows of snapshot \d+ again \(its rows began at line 2\)/);

    // A row of snapshot 999999, which this store never took.
    const cells = removed.split(',');
    cells[CSV_COLUMNS.indexOf('snapshot_id')] = '999999';
    writeFileSync(csv, `${original.toString('utf8')}${cells.join(',')}\r\n`);
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/snapshot 999999 is not in the evidence store \(1 rows\)/);

    // A row copied within its own snapshot's block.
    const dup = lines();
    dup.splice(present + 1, 0, dup[present]!);
    writeFileSync(csv, dup.join('\r\n'));
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^line ${present + 2}: a row of snapshot \\d+ that the store does not hold \\(present tcp`));
  });

  it('names a cut-off end, but only notes a torn last line a capture is still writing', () => {
    // netmon recorded where it left the file: shorter than that is rows removed from the end.
    writeFileSync(csv, original.subarray(0, original.length - 200));
    let r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`the trail is ${original.length - 200} bytes, but netmon left it ${original.length} bytes long after the rows of snapshot \\d+: its end was cut off`));

    // Bytes after the end netmon recorded, without a line end: a capture writing now.
    writeFileSync(csv, Buffer.concat([original, Buffer.from('2026-11-24T00:00:00+00:00,host,7,pres')]));
    r = verify();
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/netmon: note: line \d+ \(byte \d+\) is cut off: a capture is writing the trail now, or one was killed while it wrote/);
    expect(statSync(csv).size).toBe(original.length + 37); // read, never repaired
  });

  it('only notes missing rows of the snapshot a capture marked and has not confirmed yet (a capture writing, or killed while it wrote)', () => {
    const copy = join(dir, 'unfinished.db');
    copyFileSync(db, copy);
    const all = lines();
    const idOf = (line: string): number => Number(line.split(',')[CSV_COLUMNS.indexOf('snapshot_id')]);
    const lastId = idOf(all[all.length - 2]!);
    // Where the trail ended before the last snapshot's rows.
    const before = Buffer.byteLength(`${all.slice(0, all.findIndex((l) => l.includes(',') && idOf(l) === lastId)).join('\r\n')}\r\n`);
    const store = EvidenceStore.open(copy);
    try {
      // What a capture commits with its snapshot before it writes the rows; the clean end of the one before.
      const end = JSON.parse(store.getMeta(`csv_clean_end:${csv}`)!) as { snapshotId: number };
      store.setMeta(`csv_clean_end:${csv}`, JSON.stringify({ ...end, size: before, snapshotId: lastId - 1 }));
      store.setMeta(`csv_mark:${csv}`, JSON.stringify({ snapshotId: lastId, rows: 'inventory' }));
    } finally {
      store.close();
    }
    all.splice(all.length - 3, 2); // its last two rows not written yet
    writeFileSync(csv, `${all.join('\r\n')}`);
    let r = runCli(['verify-trail', '--db', copy, '--csv', csv], { cwd: dir });
    expect(r.stdout).toMatch(/^CSV trail .* verified against /);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`netmon: note: 2 rows of snapshot ${lastId} \\(rows from line \\d+\\) are missing, for example .*: a capture is writing them now, or was stopped before it finished; the next capture completes them`));
    // The same rows missing from a snapshot the store says was written whole: a problem.
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^2 rows of snapshot ${lastId} \\(rows from line \\d+\\) are missing`));
  });

  it('refuses a file that is not a netmon trail, and names a malformed record', () => {
    writeFileSync(csv, `a,b,c\r\n1,2,3\r\n`);
    let r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/^line 1 is not netmon's CSV header \(19 columns: timestamp,host,/);

    writeFileSync(csv, original);
    const all = lines();
    all[2] = `${all[2]},"unclosed`;
    writeFileSync(csv, `${all.join('\r\n')}`);
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/is not RFC 4180 CSV .*; the rest of the trail was not read|has 20 cells, not 19/);

    writeFileSync(csv, original);
    const bad = lines();
    const cells = bad[1]!.split(',');
    cells[CSV_COLUMNS.indexOf('snapshot_id')] = 'x1';
    bad[1] = cells.join(',');
    writeFileSync(csv, bad.join('\r\n'));
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toContain('line 2: snapshot_id "x1" is not a snapshot id');
  });

  it('counts rows of snapshots a prune removed instead of checking them', () => {
    const copy = prunedCopy(db, join(dir, 'pruned.db'));
    const r = runCli(['verify-trail', '--db', copy, '--csv', csv], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/rows of \d+ snapshots, 1 of them as the store holds it; \d+ snapshots \(\d+ rows\) were not checked: the store no longer holds them \(a prune removed them\)/);
  });

  it('says what is missing: no trail, no store', () => {
    let r = runCli(['verify-trail', '--db', db, '--csv', join(dir, 'nope.csv')], { cwd: dir });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/cannot read the CSV trail: .*ENOENT.*nope\.csv/);
    expect(r.stderr).toContain('--csv PATH');
    r = runCli(['verify-trail', '--db', join(dir, 'nope.db'), '--csv', csv], { cwd: dir });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/there is no evidence store at .*nope\.db/);
  });
});
