import { spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../src/store/csv-trail.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { verifyTrail } from '../../src/capture/verify-trail.js';
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

/** A record of the trail that has no quoted cell, with one cell set to `value` as it is (no quoting). */
function withCell(line: string, column: (typeof CSV_COLUMNS)[number], value: string): string {
  expect(line).not.toContain('"');
  const cells = line.split(',');
  cells[CSV_COLUMNS.indexOf(column)] = value;
  return cells.join(',');
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
  it('checks a live trail of more snapshots than a call takes arguments (a multi-day probe: "Maximum call stack size exceeded" at about 125,000)', () => {
    const own = mkdtempSync(join(tmpdir(), 'netmon-verify-trail-long-'));
    try {
      const [longDb, longCsv] = [join(own, 'l.db'), join(own, 'l.csv')];
      expect(runCli(['--once', '--db', longDb, '--csv', longCsv, '--no-hash-binaries', '--filter', ':1'], { cwd: own }).status).toBe(0);
      // 130,000 blocks of one row each, appended to the very file the store wrote (rows it never made).
      const row = (id: number) => ['2026-11-25T00:00:00+00:00', 'h', String(id), 'present', 'tcp', '127.0.0.1', '1', '', '', 'LISTEN', '', '', '', '', '', '', '', '', ''].join(',');
      expect(row(1).split(',')).toHaveLength(CSV_COLUMNS.length);
      const lines: string[] = [];
      for (let id = 1_000_000; id < 1_130_000; id++) lines.push(row(id));
      writeFileSync(longCsv, `${lines.join('\r\n')}\r\n`, { flag: 'a' });
      const r = runCli(['verify-trail', '--db', longDb, '--csv', longCsv], { cwd: own });
      expect(r.stderr).not.toContain('internal error');
      expect(r.status, r.stderr).toBe(4);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });

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
    again[k] = withCell(again[k]!, 'user', 'nobody');
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
    expect(r.stdout).toMatch(/snapshot 999999 is not in the evidence store \(1 row\)/);

    // A row copied within its own snapshot's block.
    const dup = lines();
    dup.splice(present + 1, 0, dup[present]!);
    writeFileSync(csv, dup.join('\r\n'));
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^line ${present + 2}: a row of snapshot \\d+ that the store does not hold \\(present tcp`));
  });

  it('names a shortened file and a line end removed inside what netmon wrote, but only notes a torn line a capture is still writing', () => {
    // netmon recorded where it left the file: shorter than that is bytes removed.
    writeFileSync(csv, original.subarray(0, original.length - 200));
    let r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`the trail is ${original.length - 200} bytes, shorter than the ${original.length} bytes netmon had written to it, after the rows of snapshot \\d+: bytes were removed, at its end or elsewhere`));
    // The last line's end removed and bytes made up to the old size: a torn line inside what netmon finished.
    writeFileSync(csv, Buffer.concat([original.subarray(0, original.length - 2), Buffer.from('xx')]));
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^line \\d+ \\(byte \\d+\\) has no line end, inside what netmon had finished writing \\(${original.length} bytes\\): the trail was changed there$`, 'm'));

    // Bytes after the end netmon recorded, without a line end, while no capture writes: not netmon's.
    const torn = Buffer.concat([original, Buffer.from('2026-11-24T00:00:00+00:00,host,7,pres')]);
    writeFileSync(csv, torn);
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^line \\d+ \\(byte ${original.length}\\) has no line end, after the ${original.length} bytes netmon had finished writing, while no capture is writing to it: netmon did not write it$`, 'm'));
    // The same while a capture has marked its snapshot and writes its rows: a note.
    const writing = join(dir, 'writing.db');
    copyFileSync(db, writing);
    const store = EvidenceStore.open(writing);
    try {
      const [newest] = store.listSnapshots({ newestFirst: true, limit: 1 });
      store.setMeta(`csv_mark:${csv}`, JSON.stringify({ snapshotId: newest!.id + 1, rows: 'changes' }));
    } finally {
      store.close();
    }
    r = runCli(['verify-trail', '--db', writing, '--csv', csv], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/netmon: note: line \d+ \(byte \d+\) has no line end: a capture is writing the rows of snapshot \d+ now, or was killed while it wrote them/);
    expect(statSync(csv).size).toBe(torn.length); // read, never repaired
  });

  it('checks a copy row by row, and says that its end cannot be checked against what netmon wrote', () => {
    const copy = join(dir, 'handed-round.csv');
    copyFileSync(csv, copy);
    const r = runCli(['verify-trail', '--db', db, '--csv', copy], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('netmon: note: the store has no record of where netmon left this file (a copy, a file rotated away since, or a trail of another store), so its end cannot be checked');
    // A file saved again under the trail's path by another program (a new inode): named as replaced.
    // (The one netmon wrote is kept aside and put back, so that the other tests find its inode.)
    renameSync(csv, `${csv}.kept`);
    writeFileSync(csv, original);
    try {
      const again = verify();
      expect(again.status).toBe(0);
      expect(again.stderr).toContain(`netmon: note: this file is not the one netmon last wrote at ${csv} (another device and inode): it was replaced since`);
      // Saved again without the rows of the last snapshot netmon wrote there: its size says nothing, its rows do.
      const all = lines();
      const idOf = (line: string): string => line.split(',')[CSV_COLUMNS.indexOf('snapshot_id')]!;
      const lastId = idOf(all[all.length - 2]!);
      writeFileSync(csv, `${all.filter((l, k) => k === 0 || !l.includes(',') || idOf(l) !== lastId).join('\r\n')}`);
      const cut = verify();
      expect(cut.status).toBe(4);
      expect(cut.stdout).toMatch(new RegExp(`^the \\d+ rows of snapshot ${lastId}, the last netmon wrote to this trail, are not in it: rows were removed from its end$`, 'm'));
      // Rotated, with netmon's header written into the new file (create mode): as an empty file,
      // a note, not tampering (before: exit 4 until the next capture wrote its inventory there).
      writeFileSync(csv, `${all[0]}\r\n`);
      const rotated = verify();
      expect(rotated.status, rotated.stdout).toBe(0);
      expect(rotated.stderr).toContain(`netmon: note: the trail holds its header and no rows: it is a new file since netmon last wrote to ${csv} (rotated, say); the next capture writes the full inventory to it`);
    } finally {
      renameSync(`${csv}.kept`, csv);
    }
  });

  it('names a timestamp that is not in netmon\'s form, and blocks out of order', () => {
    const all = lines();
    const time = CSV_COLUMNS.indexOf('timestamp');
    const cells = all[1]!.split(',');
    cells[time] = cells[time]!.replace(/[+-]\d{2}:\d{2}$/, 'Z'); // not netmon's form (whatever the instant)
    all[1] = cells.join(',');
    writeFileSync(csv, all.join('\r\n'));
    let r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/^line 2: a row of snapshot \d+ was changed: timestamp "[^"]+Z" \(the store: "[^"]+"\)$/m);

    // The first snapshot's block moved to the end of the trail.
    const rows = lines();
    const idOf = (line: string): string => line.split(',')[CSV_COLUMNS.indexOf('snapshot_id')]!;
    const firstId = idOf(rows[1]!);
    const firstBlock = rows.filter((l, k) => k > 0 && l.includes(',') && idOf(l) === firstId);
    const rest = rows.filter((l, k) => k === 0 || !firstBlock.includes(l));
    writeFileSync(csv, `${[rest[0], ...rest.slice(1, -1), ...firstBlock].join('\r\n')}\r\n`);
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`: rows of snapshot ${firstId} after those of snapshot \\d+; netmon writes snapshots in the order it takes them`));
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
    // Stopped before it wrote any row of the snapshot: no block to compare, but a note that the trail lacks it.
    writeFileSync(csv, `${all.slice(0, all.findIndex((l) => l.includes(',') && idOf(l) === lastId)).join('\r\n')}\r\n`);
    r = runCli(['verify-trail', '--db', copy, '--csv', csv], { cwd: dir });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`netmon: note: snapshot ${lastId} is in the store, but none of its \\d+ rows is in the trail yet: a capture is writing them now, was stopped before it wrote them, or could not write the trail \\(a capture loop then goes on into the store, and writes the full inventory once it can\\); the next capture writes them`));
  });

  it('refuses a file that is not a netmon trail, and names a malformed record and goes on reading after it', () => {
    writeFileSync(csv, `a,b,c\r\n1,2,3\r\n`);
    let r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/^line 1 is not netmon's CSV header \(19 columns: timestamp,host,/);
    writeFileSync(csv, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), original]));
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toContain("line 1 is not netmon's CSV header: it begins with a UTF-8 byte order mark, which netmon never writes");

    // A stray quote in an unquoted cell at line 3, and a cell edited further on: both named.
    writeFileSync(csv, original);
    const all = lines();
    const plain = (k: number): boolean => all[k]!.includes(',') && !all[k]!.includes('"');
    let first = 1;
    while (!plain(first)) first++;
    all[first] = withCell(all[first]!, 'host', 'h"x');
    let k = all.length - 1;
    while (k > first + 10 && !(plain(k) && all[k]!.includes(',root,'))) k--;
    expect(k).toBeGreaterThan(first + 10);
    all[k] = withCell(all[k]!, 'user', 'mallory');
    writeFileSync(csv, all.join('\r\n'));
    r = verify();
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^line ${lineOf(all, first)} is not RFC 4180 CSV \\(.*\\); it was skipped, and reading went on after it$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^line ${lineOf(all, k)}: a row of snapshot \\d+ was changed: user "mallory"`, 'm'));

    writeFileSync(csv, original);
    const bad = lines();
    bad[1] = withCell(bad[1]!, 'snapshot_id', 'x1');
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
    expect(r.stdout).toMatch(/rows of \d+ snapshots, 1 of them as the store holds them; \d+ snapshots \(\d+ rows\) not checked: the store no longer holds them \(a prune removed them\)/);
    // A trail of pruned snapshots only: nothing could be checked, and it says so rather than "verified" (an operator probe).
    const records = lines();
    const first = records[1]!.split(',')[CSV_COLUMNS.indexOf('snapshot_id')]!;
    const older = join(dir, 'older.csv');
    writeFileSync(older, `${records.filter((l, k) => k === 0 || (l.includes(',') && l.split(',')[CSV_COLUMNS.indexOf('snapshot_id')] === first)).join('\r\n')}\r\n`);
    const none = runCli(['verify-trail', '--db', copy, '--csv', older], { cwd: dir });
    expect(none.status, none.stderr).toBe(0);
    expect(none.stdout).toMatch(/^CSV trail .*older\.csv NOT checked against .*pruned\.db: none of its \d+ rows of 1 snapshot could be made again from the store; 1 snapshot \(\d+ rows\) not checked/);
  });

  it('a prune that commits while the trail is being checked does not make its snapshots "not in the store": the check sees the store as it was when it began', async () => {
    const live = join(dir, 'live.db');
    copyFileSync(db, live);
    const reader = EvidenceStore.open(live, { readonly: true });
    let pruned = 0;
    try {
      const result = await verifyTrail({
        csv,
        store: reader,
        onProgress: () => {
          if (pruned > 0) return;
          // Another netmon prunes every snapshot but the last, committed now, in the middle of the check.
          const writer = EvidenceStore.open(live);
          try {
            pruned = writer.prune(new Date(Date.now() + 3_600_000)).removedSnapshots;
          } finally {
            writer.close();
          }
        },
      });
      expect(pruned).toBeGreaterThan(1);
      expect(result.problems).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result.checked).toBe(result.snapshots);
    } finally {
      reader.close();
    }
    // Checked again after the prune: the snapshots it removed are counted, not checked.
    const after = runCli(['verify-trail', '--db', live, '--csv', csv], { cwd: dir });
    expect(after.status, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/not checked: the store no longer holds them \(a prune removed them\)/);
  });

  it('says what to do when the trail cannot be read: a directory, or a user without permission', () => {
    let r = runCli(['verify-trail', '--db', db, '--csv', dir], { cwd: dir });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`cannot read the CSV trail: EISDIR (is a directory) opening ${dir}`);
    // A trail rotated with compression: said as such, not as rows that are not CSV (an operator probe got "7 problems", exit 4).
    const gz = join(dir, 'trail.csv.1.gz');
    writeFileSync(gz, gzipSync(original));
    r = runCli(['verify-trail', '--db', db, '--csv', gz], { cwd: dir });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`netmon: error: cannot read the CSV trail: ${gz} is gzip-compressed (a rotated trail?), not CSV`);
    expect(r.stderr).toContain(`zcat ${gz} > trail.csv`);
    if (process.getuid?.() !== 0) return; // the unprivileged half needs root to switch users
    const copy = join(dir, 'readable.db');
    copyFileSync(db, copy);
    chmodSync(copy, 0o644);
    chmodSync(dir, 0o711); // nobody may reach the files, and read the store, not the trail (0640)
    try {
      r = runCli(['verify-trail', '--db', copy, '--csv', csv], { cwd: '/', prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] });
    } finally {
      chmodSync(dir, 0o700);
    }
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(`cannot read the CSV trail: EACCES (permission denied) opening ${csv}`);
    expect(r.stderr).toContain("run as the trail's owner, a member of its group, or root");
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
