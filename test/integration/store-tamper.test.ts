/**
 * Tamper evidence of the SQLite evidence store (docs/evidence-store.md, "Tamper evidence"):
 * every edit of a row of records, items, events, checkpoint_items or the snapshots index, made
 * behind netmon's back on a copy of a real store, makes `netmon verify-store` fail with exit 4
 * and name the first record that does not verify.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemDigest, recordHash } from '../../src/store/chain.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import type { Database } from '../../src/store/sqlite.js';
import { CLI, haveCommand, runCli, skipWithReason } from '../helpers/processes.js';
import { changingSequence, scratchDirs, sha256File, withRaw } from '../helpers/store-fixtures.js';

const dirs = scratchDirs('netmon-tamper-');
afterAll(() => dirs.cleanup());

const noSqliteCli = skipWithReason(!haveCommand('sqlite3'), 'sqlite3 CLI cases of store-tamper.test.ts: the sqlite3 command is not installed (apt-get install sqlite3)');

/**
 * The base store, 8 records:
 *   1 session | 2 snapshot (checkpoint) | 3 snapshot (unchanged) | 4 snapshot (4 events) |
 *   5 snapshot (8 events) | 6 session | 7 snapshot (unchanged) | 8 snapshot (12 events)
 */
let base: string;
let dir: string;
/** Item ids by what they are. */
const item = { web6: 0, outbound: 0, timeWait: 0 };

function itemId(db: Database, inode: number): number {
  const ids = db.prepare("SELECT id FROM items WHERE kind = 'socket' AND json_extract(body, '$[7]') = ?").pluck().all(inode);
  expect(ids).toHaveLength(1);
  return Number(ids[0]);
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build with npx tsc -p tsconfig.json first`);
  dir = dirs.make();
  base = join(dir, 'base.db');
  const ticks = changingSequence();
  const first = EvidenceStore.open(base);
  first.beginSession({ interval: null });
  for (const t of ticks.slice(0, 4)) first.appendSnapshot(t.snapshot, { label: t.label, change: t.change });
  first.close();
  const second = EvidenceStore.open(base);
  second.beginSession({ interval: null });
  for (const t of ticks.slice(4)) second.appendSnapshot(t.snapshot, { label: t.label, change: t.change });
  second.close();
  // The last connection closed: everything is in the main file, which is all a copy needs.
  expect(existsSync(`${base}-wal`)).toBe(false);
  withRaw(base, (db) => {
    expect(db.prepare('SELECT kind FROM records ORDER BY seq').pluck().all()).toEqual(['session', 'snapshot', 'snapshot', 'snapshot', 'snapshot', 'session', 'snapshot', 'snapshot']);
    expect(db.prepare('SELECT snapshot_id, COUNT(*) AS n FROM events GROUP BY snapshot_id ORDER BY snapshot_id').all()).toEqual([
      { snapshot_id: 4, n: 4 },
      { snapshot_id: 5, n: 8 },
      { snapshot_id: 8, n: 12 },
    ]);
    expect(db.prepare('SELECT DISTINCT snapshot_id FROM checkpoint_items').pluck().all()).toEqual([2]);
    item.web6 = itemId(db, 8081);
    item.outbound = itemId(db, 5001);
    item.timeWait = itemId(db, 0);
  });
});

let copies = 0;
/** A fresh copy of the base store. */
function copyOfBase(): string {
  const file = join(dir, `case-${++copies}.db`);
  copyFileSync(base, file);
  return file;
}

/** A fresh copy of the base store, tampered with by `edit` on a raw connection. */
function tampered(edit: (db: Database) => void): string {
  const file = copyOfBase();
  withRaw(file, (db) => edit(db));
  expect(existsSync(`${file}-wal`)).toBe(false);
  return file;
}

/** Change one character (one byte: the bodies are ASCII where we change them) at `index`. */
function oneByteChanged(text: string, index: number): string {
  const ch = text[index]!;
  expect(ch.charCodeAt(0)).toBeLessThan(128);
  const replacement = /[0-8]/.test(ch) ? String(Number(ch) + 1) : ch === '9' ? '0' : ch === 'x' ? 'y' : 'x';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

/** `netmon verify-store` fails with exit 4 and names record `seq` as the (first) bad one. */
function expectVerifyFailsAt(file: string, seq: number, why?: RegExp): void {
  const r = runCli(['verify-store', '--db', file], { cwd: dir });
  expect(r.status, r.stderr).toBe(4);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(`failed verification at record ${seq} (`);
  if (why) expect(r.stderr).toMatch(why);
  // The library names the same record
  const store = EvidenceStore.open(file, { readonly: true });
  try {
    const result = store.verify();
    expect(result.ok).toBe(false);
    expect(result.problem?.seq).toBe(seq);
  } finally {
    store.close();
  }
}

function sqlite3(file: string, sql: string): void {
  const r = spawnSync('sqlite3', [file, sql], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

/**
 * `show` of snapshots 2 (a checkpoint: the first load path) and 3 (read through its events), and
 * `diff` of 4 (no outbound socket) against 8 (which has it again: the second snapshot a diff loads
 * goes through the by-id path), on a tampered store: each exits 4 and prints no snapshot. Their
 * stderr, for what each case checks.
 */
function readersRefuse(file: string): { show: Map<string, string>; diff: string } {
  const show = new Map<string, string>();
  for (const id of ['2', '3']) {
    const r = runCli(['show', id, '--db', file, '--output', 'json'], { cwd: dir });
    expect(r.status, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    show.set(id, r.stderr);
  }
  const diff = runCli(['diff', '--pre', '4', '--post', '8', '--db', file], { cwd: dir });
  expect(diff.status, diff.stderr).toBe(4);
  return { show, diff: diff.stderr };
}

describe('reading a store with an item row deleted', () => {
  it('show and diff name the missing item (exit 4) instead of printing a snapshot without it', () => {
    const file = tampered((db) => db.prepare('DELETE FROM items WHERE id = ?').run(item.outbound));
    const refused = readersRefuse(file);
    for (const [, stderr] of refused.show) expect(stderr).toContain(`refers to item ${item.outbound}, which is missing from ${file}`);
    expect(refused.diff).toContain(`refers to item ${item.outbound}`);
  });
});

describe('reading a store with stored text netmon did not write', () => {
  it('a socket item cut short: show and diff name the item and point to verify-store (exit 4) instead of an internal error', () => {
    const file = tampered((db) => db.prepare('UPDATE items SET body = substr(body, 1, 20) WHERE id = ?').run(item.outbound));
    const refused = readersRefuse(file);
    for (const [id, stderr] of refused.show) {
      expect(stderr).toContain(`item ${item.outbound} (socket) of snapshot ${id} in ${file} no longer matches its digest`);
      expect(stderr).toContain(`netmon verify-store --db ${file}`);
      expect(stderr).not.toContain('internal error');
    }
    expect(refused.diff).toContain(`item ${item.outbound} (socket) of snapshot`);
  });

  it('a socket item cut short with its digest made again: named as text netmon did not write', () => {
    const file = tampered((db) => {
      const body = String(db.prepare('SELECT substr(body, 1, 20) FROM items WHERE id = ?').pluck().get(item.outbound));
      db.prepare('UPDATE items SET body = ?, digest = ? WHERE id = ?').run(body, itemDigest('socket', body), item.outbound);
    });
    const refused = readersRefuse(file);
    for (const [id, stderr] of refused.show) {
      expect(stderr).toContain(`item ${item.outbound} (socket), read while loading snapshot ${id}, in ${file} is not a socket record netmon wrote`);
      expect(stderr).not.toContain('internal error');
    }
  });

  // The first load reads a set as one text per query with a control character between items
  // (EvidenceStore#replaySetText); netmon's JSON never holds it raw, an edit can.
  it('a socket item holding the separator of the first load: named as the item it is, not as its pieces', () => {
    const file = tampered((db) => expect(db.prepare("UPDATE items SET body = replace(body, ',5001,', ',5001' || char(30) || '7,') WHERE id = ?").run(item.outbound).changes).toBe(1));
    const refused = readersRefuse(file);
    for (const [id, stderr] of refused.show) {
      expect(stderr).toContain(`item ${item.outbound} (socket) of snapshot ${id} in ${file} no longer matches its digest`);
      expect(stderr).not.toContain('internal error');
    }
    expect(refused.diff).toContain(`item ${item.outbound} (socket) of snapshot`);
  });

  it('a separator and a forged piece that stands in for an item row deleted: named as the row-by-row read names it', () => {
    const file = tampered((db) => {
      const web6 = String(db.prepare('SELECT body FROM items WHERE id = ?').pluck().get(item.web6));
      db.prepare('DELETE FROM items WHERE id = ?').run(item.web6);
      db.prepare('UPDATE items SET body = body || ? WHERE id = ?').run(`\x1e${item.web6}\tsocket\n${web6}`, item.outbound);
    });
    const refused = readersRefuse(file);
    // The item edited, not the set the pieces made: that set has every item, and its digest.
    for (const [id, stderr] of refused.show) expect(stderr).toContain(`item ${item.outbound} (socket) of snapshot ${id} in ${file} no longer matches its digest`);
  });

  it('a snapshot record whose body is not JSON is named the same way', () => {
    const file = tampered((db) => db.prepare('UPDATE records SET body = substr(body, 1, 20) WHERE seq = 3').run());
    const r = runCli(['show', '3', '--db', file], { cwd: dir });
    expect(r.status, r.stderr).toBe(4);
    expect(r.stderr).toContain(`record 3 (snapshot) in ${file} no longer matches its hash: the store was changed outside netmon`);
    expect(r.stderr).not.toContain('internal error');
  });
});

describe('readers check what they load against the chain (show, diff, gaps, report)', () => {
  /** `show` of snapshot `id` refuses with exit 4, naming the problem, and prints nothing. */
  function showRefuses(file: string, id: number, problem: string): void {
    const r = runCli(['show', String(id), '--db', file], { cwd: dir });
    expect(r.status, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(problem);
    expect(r.stderr).toContain(`netmon verify-store --db ${file}`);
  }

  it('an item edited into another valid socket (its digest left): show and diff name the item', () => {
    const file = tampered((db) => db.prepare("UPDATE items SET body = replace(body, ',5001,', ',5009,') WHERE id = ?").run(item.outbound));
    const refused = readersRefuse(file);
    for (const [id, stderr] of refused.show) expect(stderr).toContain(`item ${item.outbound} (socket) of snapshot ${id} in ${file} no longer matches its digest`);
    expect(refused.diff).toContain(`item ${item.outbound} (socket) of snapshot`);
  });

  it('an item edited with a digest that fits it still leaves the set its record holds', () => {
    const file = tampered((db) => {
      const body = String(db.prepare('SELECT body FROM items WHERE id = ?').pluck().get(item.outbound)).replace(',5001,', ',5009,');
      db.prepare('UPDATE items SET body = ?, digest = ? WHERE id = ?').run(body, itemDigest('socket', body), item.outbound);
    });
    showRefuses(file, 2, `the items of snapshot 2 in ${file} are not the set its record holds`);
    const diff = runCli(['diff', '--pre', '2', '--post', '8', '--db', file], { cwd: dir });
    expect(diff.status, diff.stderr).toBe(4);
    expect(diff.stdout).toBe('');
  });

  it('events deleted (a connection erased from the history): the snapshots that had it are refused, not shown without it', () => {
    const file = tampered((db) => db.prepare('DELETE FROM events WHERE snapshot_id = 8').run());
    showRefuses(file, 8, `the items of snapshot 8 in ${file} are not the set its record holds (rows of the events or checkpoint tables were changed)`);
    // Snapshots before the edit still show.
    expect(runCli(['show', '5', '--db', file], { cwd: dir }).status).toBe(0);
  });

  it('an item copied into a second row and added to a set (the socket shown twice) is refused', () => {
    const file = tampered((db) => {
      const copy = db.prepare("INSERT INTO items (kind, digest, body) SELECT kind, ?, body FROM items WHERE id = ? RETURNING id").get('f'.repeat(64), item.outbound) as { id: number };
      db.prepare('INSERT INTO checkpoint_items (snapshot_id, item_id) VALUES (2, ?)').run(copy.id);
    });
    showRefuses(file, 2, `snapshot 2 in ${file}`);
  });

  it('a checkpoint row pointed at another item is refused', () => {
    const file = tampered((db) => expect(db.prepare('UPDATE checkpoint_items SET item_id = ? WHERE snapshot_id = 2 AND item_id = ?').run(item.web6, item.outbound).changes).toBe(1));
    showRefuses(file, 2, `the items of snapshot 2 in ${file} are not the set its record holds`);
  });

  it('a snapshot record edited (its label), and edited with its hash made again: refused either way', () => {
    const edit = (db: Database): void => {
      db.prepare("UPDATE records SET body = replace(body, '\"label\":null', '\"label\":\"pre\"') WHERE seq = 3").run();
      expect(db.prepare('SELECT changes()').pluck().get()).toBe(1);
    };
    const edited = tampered(edit);
    showRefuses(edited, 3, `record 3 (snapshot) in ${edited} no longer matches its hash`);
    const rehashed = tampered((db) => {
      edit(db);
      const r = db.prepare('SELECT kind, at, body, prev_hash FROM records WHERE seq = 3').get() as { kind: string; at: string; body: string; prev_hash: string };
      db.prepare('UPDATE records SET hash = ? WHERE seq = 3').run(recordHash(r.prev_hash, 3, r.kind, r.at, r.body));
    });
    showRefuses(rehashed, 3, `the record after record 3 (snapshot) in ${rehashed} does not follow it`);
  });

  it('a snapshots index row relabelled in place (the record left): snapshots, show and diff name the row, never list or select by the label (a new-user probe)', () => {
    const file = tampered((db) => expect(db.prepare("UPDATE snapshots SET label = 'hacked' WHERE id = 5").run().changes).toBe(1));
    const problem = `the snapshots index of ${file} gives snapshot 5 the label "hacked", its record null: the store was changed outside netmon`;
    for (const args of [['snapshots'], ['snapshots', '--output', 'json'], ['show', 'hacked'], ['show', '5'], ['diff', '--pre', 'hacked', '--post', '8'], ['diff', '--pre', '5', '--post', '8']]) {
      const r = runCli([...args, '--db', file], { cwd: dir });
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(4);
      expect(r.stderr, args.join(' ')).toContain(problem);
      expect(r.stdout, args.join(' ')).not.toContain('hacked');
    }
    // Snapshots whose rows were left alone still show.
    expect(runCli(['show', '8', '--db', file], { cwd: dir }).status).toBe(0);
    const retimed = tampered((db) => expect(db.prepare("UPDATE snapshots SET taken_at = '2020-01-01T00:00:00.000Z' WHERE id = 8").run().changes).toBe(1));
    const shown = runCli(['show', '8', '--db', retimed], { cwd: dir });
    expect(shown.status).toBe(4);
    expect(shown.stderr).toContain(`the snapshots index of ${retimed} gives snapshot 8 the time "2020-01-01T00:00:00.000Z", its record "`);
  });

  it('a gap record shortened: netmon gaps refuses it (exit 4) rather than print the shorter gap', () => {
    const file = copyOfBase();
    const store = EvidenceStore.open(file);
    store.beginSession({ interval: null });
    store.recordGap(new Date('2026-11-01T00:00:00Z'), new Date('2026-11-01T01:00:00Z'), 'paused');
    store.close();
    expect(runCli(['gaps', '--db', file], { cwd: dir }).status).toBe(0);
    withRaw(file, (db) => db.prepare("UPDATE records SET body = replace(body, 'T01:00:00', 'T00:00:10') WHERE kind = 'gap'").run());
    const r = runCli(['gaps', '--db', file], { cwd: dir });
    expect(r.status, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/record \d+ \(gap\) in .* no longer matches its hash/);
  });
});

describe('a file that is not a netmon store', () => {
  it('an empty file is no store to readers (exit 3), who leave it empty rather than advise migrating it', () => {
    const file = join(dir, 'empty.db');
    writeFileSync(file, '');
    for (const args of [['verify-store', '--db', file], ['snapshots', '--db', file], ['show', 'latest', '--db', file]]) {
      const r = runCli(args, { cwd: dir });
      expect(r.status, `${args[0]}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain(`${file} holds no evidence store: it is empty, and no capture has written to it`);
      expect(r.stderr).not.toContain('migrate');
    }
    expect(readFileSync(file).length).toBe(0);
  });

  it('another application\'s SQLite database is refused by every command (exit 3) and left as it was', () => {
    const file = join(dir, 'foreign.db');
    writeFileSync(file, '');
    withRaw(file, (db) => db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts (name) VALUES (\'x\');'));
    const before = sha256File(file);
    for (const args of [['verify-store', '--db', file], ['snapshots', '--db', file], ['show', 'latest', '--db', file], ['--once', '--db', file, '--no-csv', '--filter', ':1']]) {
      const r = runCli(args, { cwd: dir });
      expect(r.status, `${args[0]}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain(`${file} is an SQLite database, but not a netmon evidence store (it holds table accounts); netmon makes a store only in a new or empty file, and left this one as it was`);
    }
    expect(sha256File(file)).toBe(before);
  });
});

describe('a writer lock written outside netmon', () => {
  it.for([
    ['a session that does not exist', 999],
    ['the session of another pid', 1],
  ])('held by pid 1 and naming %s: a capture is not blocked by it, and records the unclean stop', ([, session]) => {
    const file = tampered((db) => {
      db.prepare("DELETE FROM meta WHERE key LIKE 'writer%'").run();
      db.prepare('INSERT OR REPLACE INTO writer (id, pid, host, since, session) VALUES (1, 1, ?, ?, ?)').run(hostname(), '2026-11-01T00:00:00.000Z', session);
    });
    const r = runCli(['--once', '--db', file, '--no-csv', '--filter', ':1', '--lock-wait', '0'], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('in use by pid 1');
    const gaps = runCli(['gaps', '--db', file, '-o', 'json'], { cwd: dir });
    expect((JSON.parse(gaps.stdout) as { gaps: { reason: string }[] }).gaps.map((g) => g.reason)).toContain('unclean-stop');
  });
});

describe('a store with a table, column or index dropped, or its schema version set back', () => {
  it.for([
    ['DROP TABLE items', 'table items is missing'],
    ['DROP TABLE events', 'table events is missing'],
    ['ALTER TABLE records DROP COLUMN at', 'column at of table records is missing'],
    ['DROP INDEX records_by_kind', 'index records_by_kind is missing (store schema 7)'],
    // A migration would run over what is there and fail with an SQL error.
    ['PRAGMA user_version = 4', 'it holds index events_by_item, which a later schema makes, but its version says schema 4'],
    ['PRAGMA user_version = 1', 'it holds index events_by_item, which a later schema makes, but its version says schema 1'],
    ['PRAGMA user_version = 0', "it holds netmon's tables, but its schema version reads 0"],
  ])('%s: every command names what is wrong (exit 4) and leaves the file as it is', ([sql, missing]) => {
    const file = tampered((db) => db.exec(sql!));
    const before = sha256File(file);
    const commands = [
      ['verify-store', '--db', file],
      ['snapshots', '--db', file],
      ['show', 'latest', '--db', file],
      ['--once', '--db', file, '--no-csv', '--filter', ':1'],
    ];
    for (const args of commands) {
      const r = runCli(args, { cwd: dir });
      expect(r.status, `${args[0]}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain(`the evidence store ${file} is damaged: ${missing!}`);
      expect(r.stderr).not.toContain('internal error');
      expect(r.stderr).not.toContain('SQLITE_ERROR');
    }
    // The library refuses it the same way, for reading and for writing.
    for (const readonly of [true, false]) expect(() => EvidenceStore.open(file, { readonly })).toThrow(missing!);
    expect(sha256File(file)).toBe(before);
  });
});

describe('verify-store detects tampering (each case on a fresh copy of a real store)', () => {
  it('an intact copy verifies: exit 0, "verified" with the counts and head hash', () => {
    const file = copyOfBase();
    const r = runCli(['verify-store', '--db', file], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`evidence store ${file} verified: 8 records, 6 snapshots, 16 items; head hash `);
    expect(r.stdout).toMatch(/head hash [0-9a-f]{64}\n$/);
  });

  it('the head of the chain removed behind a prune anchor that no prune record made: named as such', () => {
    const file = tampered((db) => {
      const hash = String(db.prepare('SELECT hash FROM records WHERE seq = 3').pluck().get());
      db.prepare('DELETE FROM records WHERE seq <= 3').run();
      db.prepare('DELETE FROM snapshots WHERE id <= 3').run();
      db.prepare('DELETE FROM checkpoint_items WHERE snapshot_id <= 3').run();
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('prune_anchor', ?)").run(JSON.stringify({ seq: 3, hash, base: 4 }));
    });
    expectVerifyFailsAt(file, 4, /records 1 to 3 are missing: the store's prune anchor stands for them, but no prune record in the chain removed them/);
  });

  it('(a) one byte of one records.body changed', () => {
    const file = tampered((db) => {
      const body = String(db.prepare('SELECT body FROM records WHERE seq = 4').pluck().get());
      const k = body.indexOf('"durationMs":') + '"durationMs":'.length;
      db.prepare('UPDATE records SET body = ? WHERE seq = 4').run(oneByteChanged(body, k));
    });
    expectVerifyFailsAt(file, 4, /does not match its hash/);
  });

  it('(b) one items.body changed (one byte)', () => {
    const file = tampered((db) => {
      const body = String(db.prepare('SELECT body FROM items WHERE id = ?').pluck().get(item.web6));
      expect(body).toMatch(/^\["tcp6","[^"]+",8080,/);
      db.prepare('UPDATE items SET body = ? WHERE id = ?').run(body.replace('",8080,', '",8081,'), item.web6);
    });
    // web6 first enters the set at record 4
    expectVerifyFailsAt(file, 4, /item \d+ \(socket\) was changed/);
  });

  it('(c) one events row deleted', () => {
    const file = tampered((db) => {
      const row = db.prepare('SELECT item_id FROM events WHERE snapshot_id = 5 AND op = -1 LIMIT 1').pluck().get();
      expect(db.prepare('DELETE FROM events WHERE snapshot_id = 5 AND item_id = ?').run(row).changes).toBe(1);
    });
    expectVerifyFailsAt(file, 5, /set of sockets and processes differs/);
  });

  it('(d) an extra events row inserted (a closed socket re-added)', () => {
    const file = tampered((db) => {
      // outbound left the set at record 4; claim it re-entered at record 5
      db.prepare('INSERT INTO events (snapshot_id, item_id, op) VALUES (5, ?, 1)').run(item.outbound);
    });
    expectVerifyFailsAt(file, 5, /set of sockets and processes differs/);
  });

  it('(e) a records row in the middle deleted', () => {
    const file = tampered((db) => {
      expect(db.prepare('DELETE FROM records WHERE seq = 4').run().changes).toBe(1);
    });
    expectVerifyFailsAt(file, 5, /records 4 to 4 are missing/);
  });

  it('(f) a forged records row inserted', () => {
    const head = tampered(() => undefined);
    const headHash = withRaw(head, (db) => String(db.prepare('SELECT hash FROM records WHERE seq = 8').pluck().get()));
    // appended after the head, with a hash that is not the record's
    const bogusHash = tampered((db) => {
      db.prepare('INSERT INTO records (seq, kind, at, body, prev_hash, hash) VALUES (9, ?, ?, ?, ?, ?)').run(
        'gap',
        '2026-11-23T02:00:00.000Z',
        JSON.stringify({ from: '2026-11-23T01:05:00.000Z', to: '2026-11-23T02:00:00.000Z', reason: 'not-running', previousSession: 6 }),
        headHash,
        'f'.repeat(64),
      );
    });
    expectVerifyFailsAt(bogusHash, 9, /does not match its hash/);
    // linked to a record that is not the head
    const badLink = tampered((db) => {
      const prev = String(db.prepare('SELECT hash FROM records WHERE seq = 7').pluck().get());
      db.prepare('INSERT INTO records (seq, kind, at, body, prev_hash, hash) VALUES (9, ?, ?, ?, ?, ?)').run('session', '2026-11-23T02:00:00.000Z', '{}', prev, 'e'.repeat(64));
    });
    expectVerifyFailsAt(badLink, 9, /previous-hash does not match/);
    // far beyond the head
    const beyond = tampered((db) => {
      db.prepare('INSERT INTO records (seq, kind, at, body, prev_hash, hash) VALUES (20, ?, ?, ?, ?, ?)').run('session', '2026-11-23T02:00:00.000Z', '{}', headHash, 'd'.repeat(64));
    });
    expectVerifyFailsAt(beyond, 20, /records 9 to 19 are missing/);
  });

  it('(g) snapshots.sockets of one row changed', () => {
    const file = tampered((db) => {
      expect(db.prepare('UPDATE snapshots SET sockets = sockets + 1 WHERE id = 5').run().changes).toBe(1);
    });
    expectVerifyFailsAt(file, 5, /snapshots index does not match/);
  });

  it('(h) one checkpoint_items row deleted', () => {
    const file = tampered((db) => {
      expect(db.prepare('DELETE FROM checkpoint_items WHERE snapshot_id = 2 AND item_id = ?').run(item.timeWait).changes).toBe(1);
    });
    expectVerifyFailsAt(file, 2, /set of sockets and processes differs/);
  });

  it('names the FIRST bad record: records 3 and 5 tampered -> record 3', () => {
    const file = tampered((db) => {
      for (const seq of [5, 3]) {
        const body = String(db.prepare('SELECT body FROM records WHERE seq = ?').pluck().get(seq));
        db.prepare('UPDATE records SET body = ? WHERE seq = ?').run(oneByteChanged(body, body.indexOf('"takenAt":') + '"takenAt":"20'.length), seq);
      }
    });
    expectVerifyFailsAt(file, 3);
    // and an item changed (first used at 2) with a later records edit -> record 2
    const both = tampered((db) => {
      const body = String(db.prepare('SELECT body FROM items WHERE id = ?').pluck().get(item.timeWait));
      db.prepare('UPDATE items SET body = ? WHERE id = ?').run(body.replace('TIME_WAIT', 'TIME_WAIX'), item.timeWait);
      db.prepare("UPDATE records SET at = '2020-01-01T00:00:00.000Z' WHERE seq = 7").run();
    });
    expectVerifyFailsAt(both, 2);
  });

  describe.skipIf(noSqliteCli)('edits made with the sqlite3 CLI', () => {
    it('(i) items body replace(8080 -> 8081) with sqlite3', () => {
      const file = copyOfBase();
      // the kernel-owned 127.0.0.1:8080 TIME_WAIT socket, in the checkpoint at record 2
      sqlite3(file, `UPDATE items SET body = replace(body, '8080', '8081') WHERE id = ${item.timeWait}`);
      expectVerifyFailsAt(file, 2, /was changed: its body no longer matches its digest/);
    });

    it('(i) an events row deleted with sqlite3', () => {
      const file = copyOfBase();
      sqlite3(file, `DELETE FROM events WHERE snapshot_id = 8 AND item_id = ${item.outbound}`);
      expectVerifyFailsAt(file, 8, /set of sockets and processes differs/);
    });

    it('(i) a records timestamp rewritten with sqlite3', () => {
      const file = copyOfBase();
      sqlite3(file, "UPDATE records SET at = '2026-01-01T00:00:00.000Z' WHERE seq = 7");
      expectVerifyFailsAt(file, 7, /does not match its hash/);
    });

    it('(i) a snapshots label rewritten with sqlite3', () => {
      const file = copyOfBase();
      sqlite3(file, "UPDATE snapshots SET label = 'post' WHERE id = 3");
      expectVerifyFailsAt(file, 3, /snapshots index does not match/);
    });
  });

  it('an events row attached to a session record is detected', () => {
    const file = tampered((db) => {
      db.prepare('INSERT INTO events (snapshot_id, item_id, op) VALUES (6, ?, 1)').run(item.timeWait);
    });
    expectVerifyFailsAt(file, 6);
  });

  it('a checkpoint_items row inserted for a non-checkpoint snapshot is detected', () => {
    const file = tampered((db) => {
      db.prepare('INSERT INTO checkpoint_items (snapshot_id, item_id) VALUES (4, ?)').run(item.web6);
    });
    expectVerifyFailsAt(file, 4);
  });

  it('a copy of an item under a new id, entered beside the original (its unique index removed first), is detected', () => {
    const file = tampered((db) => {
      db.exec(`CREATE TABLE items_copy (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, digest TEXT NOT NULL, body TEXT NOT NULL) STRICT;
               INSERT INTO items_copy SELECT id, kind, digest, body FROM items; DROP TABLE items; ALTER TABLE items_copy RENAME TO items;`);
      const copy = Number(db.prepare('INSERT INTO items (kind, digest, body) SELECT kind, digest, body FROM items WHERE id = ? RETURNING id').pluck().get(item.web6));
      // web6 enters the set at record 4
      db.prepare('INSERT INTO events (snapshot_id, item_id, op) VALUES (4, ?, 1)').run(copy);
    });
    expectVerifyFailsAt(file, 4, /two items of its set have the same digest/);
  });

  it('a copy of an item under a new id, added to a checkpoint beside the original, is detected (the set digest alone counts it once)', () => {
    const file = tampered((db) => {
      db.exec(`CREATE TABLE items_copy (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, digest TEXT NOT NULL, body TEXT NOT NULL) STRICT;
               INSERT INTO items_copy SELECT id, kind, digest, body FROM items; DROP TABLE items; ALTER TABLE items_copy RENAME TO items;`);
      const original = Number(db.prepare('SELECT item_id FROM checkpoint_items WHERE snapshot_id = 2 LIMIT 1').pluck().get());
      const copy = Number(db.prepare('INSERT INTO items (kind, digest, body) SELECT kind, digest, body FROM items WHERE id = ? RETURNING id').pluck().get(original));
      db.prepare('INSERT INTO checkpoint_items (snapshot_id, item_id) VALUES (2, ?)').run(copy);
    });
    expectVerifyFailsAt(file, 2, /two items of its set have the same digest/);
  });

  it('a context item replaced by text that is not JSON, with its digest recomputed, is named (not an internal error)', () => {
    const file = tampered((db) => {
      const id = db.prepare("SELECT id FROM items WHERE kind = 'context' ORDER BY id LIMIT 1").pluck().get();
      db.prepare('UPDATE items SET body = ?, digest = ? WHERE id = ?').run('not json', itemDigest('context', 'not json'), id);
    });
    expectVerifyFailsAt(file, 2, /item \d+ \(context\) is not valid JSON/);
  });

  it('a writer appending to a store with a forged digest goes on capturing (verify-store names the record)', () => {
    const file = tampered((db) => {
      expect(db.prepare("UPDATE items SET digest = 'forged' WHERE id = ?").run(item.outbound).changes).toBe(1);
    });
    const ticks = changingSequence(1000);
    const writer = EvidenceStore.open(file);
    try {
      // Changed ticks of one session: the first one leaves the forged digest behind (no captured
      // item has it), the next ones merge their changes into the captured set's sorted digests.
      for (const t of ticks) writer.appendSnapshot(t.snapshot, { label: t.label, change: t.change });
    } finally {
      writer.close();
    }
    const r = runCli(['verify-store', '--db', file], { cwd: dir });
    expect(r.status, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/was changed: its body no longer matches its digest/);
  });

  // verify-store reads the snapshots index, and which records have events or checkpoint rows,
  // in step with the chain (a merge join): rows it does not claim on the way are named too.
  it('a snapshots index row deleted is named at its record', () => {
    const file = tampered((db) => {
      expect(db.prepare('DELETE FROM snapshots WHERE id = 5').run().changes).toBe(1);
    });
    expectVerifyFailsAt(file, 5, /its row in the snapshots index is missing/);
  });

  it('a snapshots index row added for a session record, or past the chain, is named', () => {
    const copyOfRow = (db: Database, id: number): void => {
      db.prepare('INSERT INTO snapshots (id, taken_at, host, label, change_ticket, sockets, attributed, checkpoint, session) SELECT ?, taken_at, host, label, change_ticket, sockets, attributed, checkpoint, session FROM snapshots WHERE id = 7').run(id);
    };
    expectVerifyFailsAt(tampered((db) => copyOfRow(db, 6)), 6, /a row in the snapshots index has no record in the chain/);
    expectVerifyFailsAt(tampered((db) => copyOfRow(db, 9)), 9, /a row in the snapshots index has no record in the chain/);
    // Both: the first is named.
    expectVerifyFailsAt(
      tampered((db) => {
        copyOfRow(db, 9);
        copyOfRow(db, 6);
      }),
      6,
    );
  });

  it('events rows past the last record are named', () => {
    const file = tampered((db) => {
      db.prepare('INSERT INTO events (snapshot_id, item_id, op) VALUES (12, ?, 1)').run(item.timeWait);
    });
    expectVerifyFailsAt(file, 12, /events or checkpoint rows refer to a record that does not exist/);
  });

  it('snapshots.host of one row changed is detected', () => {
    const file = tampered((db) => {
      expect(db.prepare("UPDATE snapshots SET host = 'forged-host' WHERE id = 4").run().changes).toBe(1);
    });
    expectVerifyFailsAt(file, 4, /snapshots index does not match/);
  });
});

describe('a store with several checkpoints', () => {
  // A checkpoint hashes only the items that are new to it: those of the set before it were
  // checked when they entered (one read sees each item row once). An item that first enters the
  // set at a checkpoint is still checked there.
  let several: string;
  beforeAll(() => {
    several = join(dir, 'several.db');
    const store = EvidenceStore.open(several, { checkpointEvery: 2 });
    store.beginSession({ interval: null });
    for (const t of changingSequence()) store.appendSnapshot(t.snapshot, { label: t.label, change: t.change });
    store.close();
  });

  /** Checkpoint seqs, and for each item the seq of the first record whose set it enters. */
  function entries(file: string): { checkpoints: number[]; firstIn: Map<number, number> } {
    let result = { checkpoints: [] as number[], firstIn: new Map<number, number>() };
    withRaw(file, (db) => {
      const checkpoints = db.prepare('SELECT DISTINCT snapshot_id FROM checkpoint_items ORDER BY snapshot_id').pluck().all().map(Number);
      const rows = db.prepare('SELECT snapshot_id AS seq, item_id AS id FROM checkpoint_items UNION ALL SELECT snapshot_id, item_id FROM events WHERE op = 1 ORDER BY seq').all() as { seq: number; id: number }[];
      const firstIn = new Map<number, number>();
      for (const r of rows) if (!firstIn.has(r.id)) firstIn.set(r.id, r.seq);
      result = { checkpoints, firstIn };
    });
    return result;
  }

  it('verifies intact, with every host of its checkpoints matched', () => {
    const { checkpoints } = entries(several);
    expect(checkpoints.length).toBeGreaterThanOrEqual(3);
    const r = runCli(['verify-store', '--db', several], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('verified');
  });

  it('an item body changed is named at the record where the item first entered, checkpoint or not', () => {
    const { checkpoints, firstIn } = entries(several);
    // One item that first enters at a later checkpoint, one that enters before and stays in it.
    const atCheckpoint = [...firstIn].find(([, seq]) => seq !== checkpoints[0] && checkpoints.includes(seq));
    expect(atCheckpoint, 'an item that first enters the set at a later checkpoint').toBeDefined();
    const carried = [...firstIn].find(([, seq]) => seq === checkpoints[0]);
    expect(carried).toBeDefined();
    for (const [id, seq] of [atCheckpoint!, carried!]) {
      const file = join(dir, `several-${id}.db`);
      copyFileSync(several, file);
      withRaw(file, (db) => {
        const body = String(db.prepare('SELECT body FROM items WHERE id = ?').pluck().get(id));
        expect(db.prepare('UPDATE items SET body = ? WHERE id = ?').run(`${body} `, id).changes).toBe(1);
      });
      expectVerifyFailsAt(file, seq, /was changed: its body no longer matches its digest/);
    }
  });
});
