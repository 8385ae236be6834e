import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import type { Snapshot, SocketRecord } from '../../src/model/types.js';
import { appendCsv, CSV_COLUMNS, csvRows, formatCsv, type CsvEvent } from '../../src/store/csv-trail.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';
import { CLI, haveCommand, isRoot, runCli, skipWithReason } from '../helpers/processes.js';
import { snapshotCount } from '../helpers/store-fixtures.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const PYTHON = '/usr/bin/python3';
const PY_READ = 'import csv,json,sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))))';
const havePython = existsSync(PYTHON);
const haveCli = existsSync(CLI);

/** The file parsed by Python's csv module: an RFC 4180 reader that shares no code with netmon. */
function pythonRows(file: string): string[][] {
  const r = spawnSync(PYTHON, ['-c', PY_READ, file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python3 csv could not read ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[][];
}

/** Records of RFC 4180 text, counted by their line ends outside quotes; throws on a bare CR or LF there. */
function crlfRecords(text: string): number {
  let quoted = false;
  let records = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '\r') {
      if (text[i + 1] !== '\n') throw new Error(`a bare CR outside quotes at offset ${i}`);
      records++;
      i++;
    } else if (!quoted && c === '\n') throw new Error(`a bare LF (not CRLF) outside quotes at offset ${i}`);
  }
  if (quoted) throw new Error('the text ends inside a quoted field');
  return records;
}

/** Throws unless the bytes are valid UTF-8 (TextDecoder, not Buffer#toString, which never fails). */
function strictUtf8(bytes: Buffer): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

const HEADER = `${CSV_COLUMNS.join(',')}\r\n`;
const COL = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, i])) as Record<(typeof CSV_COLUMNS)[number], number>;

/** The cell a spreadsheet-safe trail holds for `text`, spelled out without neutralizeCell. */
function expectedCell(text: string): string {
  return ['=', '+', '-', '@', '\t', '\r'].includes(text.charAt(0)) ? `'${text}` : text;
}

const HOSTILE = ['a,b', 'say "hi"', 'naïve', '🚀 rocket', "=cmd|' /C calc'!A0", '+SUM(1)', '-x', '@here', '\tindent', ' =lead', "'apos", 'grüße,"ü"'];
const LINE_BREAKS = ['line1\nline2', 'cr\rhere', 'crlf\r\nafter', 'x\r\ny'];

/** Rows for one snapshot (id `id`) whose processes carry `names`. */
function batch(id: number, names: string[], options: { event?: CsvEvent; label?: string | null; change?: string | null } = {}): string[][] {
  const processes = names.map((name, i) => makeProcess({ pid: 2000 + i, name, user: i % 2 ? `u-${name}` : 'alice', executable: `/opt/${name}/bin` }));
  const sockets: SocketRecord[] = names.map((_, i) =>
    makeSocket({ localPort: 20000 + i, inode: 9000 + i, owners: [{ pid: 2000 + i, fd: 3 }], ...(i % 3 === 1 ? { family: 'ipv6', localAddress: '::1' } : {}) }),
  );
  const snap = makeSnapshot({ sockets, processes, takenAt: new Date(Date.UTC(2026, 10, 23, 1, 2, id)) });
  return csvRows(snap, sockets, new Map(processes.map((p) => [p.pid, p])), options.event ?? 'present', {
    snapshotId: id,
    label: options.label === undefined ? 'pre' : options.label,
    change: options.change === undefined ? 'CHG-1' : options.change,
  });
}

const tmpRoot = mkdtempSync(join(tmpdir(), 'netmon-csv-trail-'));
chmodSync(tmpRoot, 0o755);
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
function freshDir(mode = 0o755): string {
  const dir = join(tmpRoot, `d${++dirCount}`);
  mkdirSync(dir);
  chmodSync(dir, mode);
  return dir;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

// ---------------------------------------------------------------------------------------------
// 1-3: plain files

describe.skipIf(skipWithReason(!havePython, `CSV round trip: ${PYTHON} (Python's csv module, the independent reader) is missing`))('CSV trail on disk', () => {
  it('round-trips hostile names through an independent parser: one header, same column count, exact cells, UTF-8, CRLF', () => {
    const file = join(freshDir(), 't.csv');
    const batches = [batch(1, HOSTILE.slice(0, 4)), batch(2, HOSTILE.slice(4, 9), { label: null, change: null }), batch(3, HOSTILE.slice(9), { event: 'opened', label: '=label', change: '+CHG' })];
    for (const rows of batches) expect(appendCsv(file, rows)).toMatchObject({ rows: rows.length });

    const bytes = readFileSync(file);
    const text = strictUtf8(bytes);
    expect(text.startsWith(HEADER)).toBe(true);
    const expected = [[...CSV_COLUMNS], ...batches.flat()];
    expect(crlfRecords(text)).toBe(expected.length);
    expect(text.endsWith('\r\n')).toBe(true);

    const parsed = pythonRows(file);
    expect(parsed).toEqual(expected);
    expect(parsed.filter((r) => r.join(',') === CSV_COLUMNS.join(','))).toHaveLength(1);
    for (const row of parsed) expect(row).toHaveLength(CSV_COLUMNS.length);
    // The cells as a spreadsheet must see them: the apostrophe in front of formulas, the rest exact.
    expect(parsed.slice(1).map((r) => r[COL.process])).toEqual(HOSTILE.map(expectedCell));
    expect(parsed.slice(1).map((r) => r[COL.executable])).toEqual(HOSTILE.map((n) => `/opt/${n}/bin`));
    expect(parsed.find((r) => r[COL.process]!.includes('calc'))![COL.process]).toBe("'=cmd|' /C calc'!A0");
    expect(parsed.at(-1)![COL.label]).toBe("'=label");
    expect(parsed.at(-1)![COL.change_ticket]).toBe("'+CHG");
    expect(new Set(parsed.slice(1).map((r) => r[COL.snapshot_id]))).toEqual(new Set(['1', '2', '3']));
  });

  it('writes a large append (written a slice of rows at a time) as one whole: every row, in order, after one header', () => {
    const file = join(freshDir(), 't.csv');
    const names = Array.from({ length: 10_000 }, (_, i) => (i % 997 === 0 ? `line\nbreak ${i}` : i % 1009 === 0 ? `=cmd|${i}` : `worker-${i}`));
    const rows = batch(7, names);
    const result = appendCsv(file, rows);
    expect(result.rows).toBe(rows.length);
    expect(result.cleanEnd.size).toBe(statSync(file).size);
    const parsed = pythonRows(file);
    expect(parsed).toEqual([[...CSV_COLUMNS], ...rows]);
  });

  it('round-trips process names with LF, CR and CRLF through an independent parser', () => {
    const file = join(freshDir(), 't.csv');
    const rows = batch(1, [...LINE_BREAKS, ...HOSTILE]);
    appendCsv(file, rows);
    appendCsv(file, batch(2, LINE_BREAKS));
    const text = strictUtf8(readFileSync(file));
    expect(crlfRecords(text)).toBe(1 + rows.length + LINE_BREAKS.length);
    const parsed = pythonRows(file);
    expect(parsed).toEqual([[...CSV_COLUMNS], ...rows, ...batch(2, LINE_BREAKS)]);
    for (const row of parsed) expect(row).toHaveLength(CSV_COLUMNS.length);
  });

  describe('header', () => {
    it('is written once: appending to an existing (or empty) file does not repeat it', () => {
      const dir = freshDir();
      const file = join(dir, 't.csv');
      writeFileSync(file, ''); // an empty file is a new trail
      appendCsv(file, batch(1, ['sshd']));
      const first = readFileSync(file, 'utf8');
      expect(first).toBe(HEADER + formatCsv(batch(1, ['sshd'])));
      appendCsv(file, batch(2, ['nginx', 'postgres']));
      appendCsv(file, []); // nothing to add: nothing changes
      const text = readFileSync(file, 'utf8');
      expect(text).toBe(first + formatCsv(batch(2, ['nginx', 'postgres'])));
      expect(text.split(HEADER)).toHaveLength(2);
      const parsed = pythonRows(file);
      expect(parsed).toHaveLength(4);
      expect(parsed.filter((r) => r[0] === 'timestamp')).toHaveLength(1);
    });

    it.each([
      ['another program’s CSV', 'Name,Value\r\nfoo,bar\r\n'],
      ['a short foreign first line', 'x\r\n'],
      ['netmon-like header with a column missing', `${CSV_COLUMNS.filter((c) => c !== 'executable_sha256').join(',')}\r\n2026,h\r\n`],
      ['the header with a byte-order mark', `\uFEFF${HEADER}`],
      ['the header in another case', HEADER.toUpperCase()],
    ])('a file that does not start with netmon’s header (%s) is refused with E_CSV_HEADER and left byte for byte', (_, content) => {
      const dir = freshDir();
      const file = join(dir, 'foreign.csv');
      writeFileSync(file, content);
      const before = readFileSync(file);
      const error = thrown(() => appendCsv(file, batch(1, ['sshd'])));
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('E_CSV_HEADER');
      expect((error as StoreError).message).toContain(file);
      expect(readFileSync(file).equals(before)).toBe(true);
      expect(readdirSync(dir)).toEqual(['foreign.csv']); // nothing set aside either
    });

    it('a trail whose header line ends in LF alone is refused before anything is captured, and the message says so', () => {
      // Before: "does not start with netmon's CSV header (...)", quoting the very text the file
      // held, and only after the snapshot was stored (which ended an --interval session).
      const dir = freshDir();
      const file = join(dir, 'rotated.csv');
      writeFileSync(file, `${HEADER.slice(0, -2)}\n`);
      const r = runCli(['--once', '--db', join(dir, 'n.db'), '--csv', file, '--no-hash-binaries', '--filter', ':1'], { cwd: dir });
      expect(r.status).toBe(3);
      expect(r.stderr).toContain(`netmon: error: ${file} starts with netmon's CSV header, but its line ends in LF alone, where netmon writes CRLF (RFC 4180): a rotation script or an editor wrote it; nothing was captured`);
      expect(r.stderr).toContain('netmon: hint: let netmon write the header: leave the new trail empty (or absent) after rotation');
      expect(readdirSync(dir)).toEqual(['rotated.csv']);
      const foreign = join(dir, 'foreign.csv');
      writeFileSync(foreign, 'Name,Value\r\nfoo,bar\r\n');
      const other = runCli(['--once', '--db', join(dir, 'n.db'), '--csv', foreign, '--no-hash-binaries', '--filter', ':1'], { cwd: dir });
      expect(other.status).toBe(3);
      expect(other.stderr).toContain(`${foreign} does not start with netmon's CSV header (${CSV_COLUMNS.join(',')}); nothing was captured`);
      expect(existsSync(join(dir, 'n.db'))).toBe(false);
    });
  });

  describe('partial last line', () => {
    const AT = new Date('2026-11-23T04:05:06.789Z');
    const now = () => AT;

    /** Append `tail` to a valid trail by hand (a crash mid-write), then append `next` with appendCsv. */
    function tearAndAppend(tail: Buffer, next: string[][]) {
      const dir = freshDir();
      const file = join(dir, 't.csv');
      appendCsv(file, batch(1, ['sshd', 'naïve', '🚀 rocket']));
      const valid = readFileSync(file);
      appendFileSync(file, tail);
      const result = appendCsv(file, next, now);
      return { dir, file, valid, result };
    }

    function expectRepaired(file: string, result: { rows: number; repaired?: string }, tail: Buffer) {
      expect(result.repaired, 'appendCsv reports where the partial line went').toBeDefined();
      const repaired = result.repaired!;
      expect(repaired.startsWith(`${file}.partial-`)).toBe(true);
      expect(basename(repaired)).toMatch(/^t\.csv\.partial-2026-11-23T04\D05\D06/);
      expect(existsSync(repaired)).toBe(true);
      expect(readFileSync(repaired).equals(tail), 'the set-aside file holds exactly the torn bytes').toBe(true);
    }

    it('half a record with no line end is moved to <file>.partial-<time>; the file ends with a complete record and the new rows follow', () => {
      const record = Buffer.from(formatCsv(batch(9, ['torn,"name"', 'naïve'])));
      const tail = record.subarray(0, Math.floor(record.length / 2));
      const next = batch(2, ['nginx']);
      const { file, valid, result } = tearAndAppend(tail, next);
      expectRepaired(file, result, tail);
      expect(result.rows).toBe(1);
      expect(readFileSync(file).equals(Buffer.concat([valid, Buffer.from(formatCsv(next))]))).toBe(true);
      const parsed = pythonRows(file);
      expect(parsed).toEqual([[...CSV_COLUMNS], ...batch(1, ['sshd', 'naïve', '🚀 rocket']), ...next]);
    });

    it('a tear inside a multi-byte character: the set-aside bytes are exact and the trail stays valid UTF-8', () => {
      const record = Buffer.from(formatCsv(batch(9, ['🚀🚀🚀🚀'])));
      const cut = record.indexOf(Buffer.from('🚀')) + 2; // two of the emoji's four bytes
      const tail = record.subarray(0, cut);
      const { file, result } = tearAndAppend(tail, batch(2, ['nginx']));
      expectRepaired(file, result, tail);
      strictUtf8(readFileSync(file));
      expect(pythonRows(file)).toHaveLength(1 + 3 + 1);
    });

    it('a record torn between its CR and LF is set aside whole', () => {
      const record = Buffer.from(formatCsv(batch(9, ['almost'])));
      const tail = record.subarray(0, record.length - 1); // ends in "\r"
      const { file, valid, result } = tearAndAppend(tail, batch(2, ['nginx']));
      expectRepaired(file, result, tail);
      expect(readFileSync(file).equals(Buffer.concat([valid, Buffer.from(formatCsv(batch(2, ['nginx'])))]))).toBe(true);
    });

    it('a torn header (the first 10 bytes of it) is treated the same way', () => {
      const dir = freshDir();
      const file = join(dir, 't.csv');
      const torn = Buffer.from(HEADER).subarray(0, 10);
      writeFileSync(file, torn);
      const rows = batch(1, ['sshd']);
      const result = appendCsv(file, rows, now);
      expectRepaired(file, result, torn);
      expect(readFileSync(file, 'utf8')).toBe(HEADER + formatCsv(rows));
      expect(pythonRows(file)).toEqual([[...CSV_COLUMNS], ...rows]);
    });

    it('a file that ends in a complete record is not touched and nothing is set aside', () => {
      const dir = freshDir();
      const file = join(dir, 't.csv');
      appendCsv(file, batch(1, ['sshd']));
      const result = appendCsv(file, batch(2, ['nginx']), now);
      expect(result).toMatchObject({ rows: 1 });
      expect(result.repaired).toBeUndefined();
      expect(readdirSync(dir)).toEqual(['t.csv']);
    });

    it('a record torn right after a line break inside a quoted cell is set aside too', () => {
      const record = Buffer.from(formatCsv(batch(9, ['x\r\ny'])));
      const tail = record.subarray(0, record.indexOf('\r\n') + 2); // up to the CRLF inside "x\r\ny"
      expect(tail.toString()).toMatch(/"x\r\n$/);
      const next = batch(2, ['nginx']);
      const { file, valid, result } = tearAndAppend(tail, next);
      expectRepaired(file, result, tail);
      expect(readFileSync(file).equals(Buffer.concat([valid, Buffer.from(formatCsv(next))]))).toBe(true);
      expect(pythonRows(file)).toEqual([[...CSV_COLUMNS], ...batch(1, ['sshd', 'naïve', '🚀 rocket']), ...next]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 4-5: disk full and read-only file system (tmpfs mounts, root only)

/** Mount a tmpfs on a fresh directory; the reason it could not be, or the directory. */
function mountTmpfs(options: string): { dir: string; reason?: undefined } | { dir?: undefined; reason: string } {
  if (!isRoot) return { reason: 'needs root to mount a tmpfs' };
  const dir = freshDir();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return { reason: `mount -t tmpfs -o ${options} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}` };
  return { dir };
}
function unmount(dir: string | undefined): void {
  if (!dir) return;
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
}

const full = mountTmpfs('size=64k');
const readonly = mountTmpfs('size=1m');
afterAll(() => {
  unmount(full.dir);
  unmount(readonly.dir);
});

describe.skipIf(skipWithReason(full.dir === undefined, `disk-full tests: ${full.reason}`))('disk full (64 KiB tmpfs)', () => {
  const dir = full.dir!;
  beforeEach(() => {
    for (const name of readdirSync(dir)) rmSync(join(dir, name), { force: true });
  });

  /** Fill the file system so that about `leave` bytes stay free (0: completely full). */
  function fill(leave: number): void {
    const write = (name: string, size: number) => {
      try {
        writeFileSync(join(dir, name), Buffer.alloc(size));
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
    };
    const { bavail, bsize } = statfsSync(dir);
    if (bavail * bsize > leave) write('filler-1', bavail * bsize - leave);
    if (leave === 0) {
      write('filler-2', 1 << 20);
      expect(statfsSync(dir).bavail).toBe(0);
    }
  }

  function expectNoSpaceError(error: unknown, file: string): void {
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('E_CSV_WRITE');
    expect((error as StoreError).message).toContain(file);
    expect((error as StoreError).message).toContain('ENOSPC');
    expect((error as StoreError).message).toMatch(/no space left/);
  }

  it('no room at all: StoreError naming the file and ENOSPC, and the file keeps its bytes', () => {
    const file = join(dir, 't.csv');
    appendCsv(file, batch(1, ['sshd', 'nginx']));
    // Make the trail end exactly on a page boundary so the next byte needs a new block.
    const page = statfsSync(dir).bsize;
    const target = Math.ceil((statSync(file).size + 400) / page) * page;
    const plain = Buffer.byteLength(formatCsv(batch(2, ['pad'], { label: '' })));
    appendCsv(file, batch(2, ['pad'], { label: 'x'.repeat(target - statSync(file).size - plain) }));
    expect(statSync(file).size).toBe(target);
    fill(0);
    const before = readFileSync(file);
    const error = thrown(() => appendCsv(file, batch(3, HOSTILE)));
    expectNoSpaceError(error, file);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('a batch that does not fit: StoreError naming the file and ENOSPC, and the file keeps its bytes', () => {
    const file = join(dir, 't.csv');
    appendCsv(file, batch(1, ['sshd', 'nginx']));
    fill(4096);
    const before = readFileSync(file);
    const big = Array.from({ length: 40 }, (_, i) => batch(10 + i, HOSTILE)).flat(); // far more than 8 KiB
    expect(Buffer.byteLength(formatCsv(big))).toBeGreaterThan(4 * 4096);
    const error = thrown(() => appendCsv(file, big));
    expectNoSpaceError(error, file);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(pythonRows(file)).toHaveLength(3);
  });
});

describe.skipIf(skipWithReason(readonly.dir === undefined, `read-only file system tests: ${readonly.reason}`))('read-only file system (tmpfs remounted ro)', () => {
  const dir = readonly.dir!;
  const file = join(dir ?? '', 't.csv');
  let before: Buffer;
  beforeAll(() => {
    appendCsv(file, batch(1, ['sshd']));
    writeFileSync(join(dir, 'torn.csv'), Buffer.from(HEADER + formatCsv(batch(1, ['x']))).subarray(0, HEADER.length + 20));
    before = readFileSync(file);
    const r = spawnSync('mount', ['-o', 'remount,ro', dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`remount ro failed: ${r.stderr}`);
  });

  it('appending to an existing trail: StoreError naming the file and EROFS; the file is untouched', () => {
    const error = thrown(() => appendCsv(file, batch(2, ['nginx'])));
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('E_CSV_OPEN');
    expect((error as StoreError).message).toContain(file);
    expect((error as StoreError).message).toContain('EROFS (read-only file system)');
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('a new trail: the same clear error and no file', () => {
    const fresh = join(dir, 'new.csv');
    const error = thrown(() => appendCsv(fresh, batch(2, ['nginx'])));
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toContain(fresh);
    expect((error as StoreError).message).toMatch(/EROFS/);
    expect(existsSync(fresh)).toBe(false);
  });

  it('a torn trail cannot be repaired there either: error, and nothing moved or cut', () => {
    const torn = join(dir, 'torn.csv');
    const bytes = readFileSync(torn);
    const error = thrown(() => appendCsv(torn, batch(2, ['nginx'])));
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toContain(torn);
    expect(readFileSync(torn).equals(bytes)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['t.csv', 'torn.csv']);
  });
});

// ---------------------------------------------------------------------------------------------
// 5 (CLI): a directory the user cannot write to

const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

describe.skipIf(
  skipWithReason(!isRoot || !haveCommand('setpriv') || !haveCli, `CLI as nobody in a root-owned directory: needs root, setpriv (util-linux) and the built CLI at ${CLI} (npx tsc -p tsconfig.json)`),
)('CLI as nobody in a directory it cannot write to', () => {
  let locked: string; // root-owned, 0755
  let open: string; // 0777
  beforeAll(() => {
    locked = freshDir(0o755);
    open = freshDir(0o777);
  });

  it('--once with the store and the trail there: exit 3, stderr names the path and the cause', () => {
    const r = runCli(['--once', '--db', join(locked, 'n.db'), '--csv', join(locked, 't.csv')], { prefix: AS_NOBODY, cwd: open });
    expect(r.status, r.stderr).toBe(3);
    // The trail is checked before anything is stored: its directory is named.
    expect(r.stderr).toContain(`cannot write the CSV trail: EACCES (permission denied) creating a file in ${locked}; nothing was captured`);
    expect(readdirSync(locked)).toEqual([]);
    const storeOnly = runCli(['--once', '--db', join(locked, 'n.db'), '--no-csv'], { prefix: AS_NOBODY, cwd: open });
    expect(storeOnly.status, storeOnly.stderr).toBe(3);
    expect(storeOnly.stderr).toContain(join(locked, 'n.db'));
    expect(storeOnly.stderr).toMatch(/permission|EACCES/i);
    expect(readdirSync(locked)).toEqual([]);
  });

  it('--once with only the trail there: exit 3 before anything is stored, stderr names the directory and EACCES', () => {
    const csv = join(locked, 't.csv');
    const r = runCli(['--once', '--filter', ':1', '--db', join(open, 'n.db'), '--csv', csv], { prefix: AS_NOBODY, cwd: open });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(`cannot write the CSV trail: EACCES (permission denied) creating a file in ${locked}; nothing was captured`);
    expect(r.stderr).toContain('--no-csv');
    // Checked before the store is opened: no snapshot without its rows, no store at all.
    expect(existsSync(join(open, 'n.db'))).toBe(false);
    expect(existsSync(csv)).toBe(false);
  });

  it('an existing root-owned trail nobody may write: exit 3, the path and EACCES, the file untouched', () => {
    const csv = join(open, 'root-owned.csv');
    appendCsv(csv, batch(1, ['sshd']));
    appendFileSync(csv, 'torn'); // even a repair must not happen
    const before = readFileSync(csv);
    const r = runCli(['--once', '--filter', ':1', '--db', join(open, 'n2.db'), '--csv', csv], { prefix: AS_NOBODY, cwd: open });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(csv);
    expect(r.stderr).toContain('EACCES (permission denied)');
    // In a directory nobody may write: the file's owner is the cause, not the directory.
    expect(r.stderr).toContain('hint: the trail belongs to uid 0 (mode 0640): captures append to it as its owner, so run them as that user (or root), or give --csv a trail of your own');
    expect(readFileSync(csv).equals(before)).toBe(true);
    expect(readdirSync(open).filter((n) => n.includes('.partial-'))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// 6: through the CLI

interface Listed {
  id: number;
  takenAt: string;
  sockets: number;
}
function listSnapshots(dir: string): Listed[] {
  const r = runCli(['snapshots', '--db', 'n.db', '--output', 'json'], { cwd: dir });
  if (r.status !== 0) throw new Error(`netmon snapshots failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { snapshots: Listed[] }).snapshots.sort((a, b) => a.id - b.id);
}
function showSnapshot(dir: string, id: number): Snapshot {
  const r = runCli(['show', String(id), '--db', 'n.db', '--output', 'json'], { cwd: dir });
  if (r.status !== 0) throw new Error(`netmon show ${id} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Snapshot;
}
/** The key a CSV row and a stored socket share: proto, both ends, state. */
function rowKey(row: string[]): string {
  return [row[COL.proto], row[COL.local_address], row[COL.local_port], row[COL.remote_address], row[COL.remote_port], row[COL.state]].join('|');
}
function socketKey(s: SocketRecord): string {
  const proto = s.family === 'ipv6' ? `${s.transport}6` : s.transport;
  return [proto, s.localAddress, String(s.localPort), s.listening ? '' : s.remoteAddress, s.listening ? '' : String(s.remotePort), s.state].join('|');
}
const listenerKey = (port: number) => `tcp|127.0.0.1|${port}|||LISTEN`;

/** A TCP listener on 127.0.0.1, on a port from 20000-30000 (below the ephemeral range, so reported). */
async function listen(): Promise<{ server: net.Server; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const server = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      return { server, port };
    } catch (error) {
      if (attempt > 20) throw error;
    }
  }
}
const closeServer = (server: net.Server | undefined) => new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface IntervalRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * `netmon --interval N ...` in `dir`: once the first capture has been printed (so it is in the
 * trail), run `between`, let it go on for `ms`, then SIGTERM it and wait for it to exit.
 */
async function runInterval(dir: string, args: string[], between: () => Promise<void>, ms: number): Promise<IntervalRun> {
  const child = spawn(process.execPath, [CLI, '--db', 'n.db', '--csv', 't.csv', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<IntervalRun>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  try {
    await Promise.race([
      new Promise<void>((resolve) => child.stdout!.once('data', () => resolve())),
      exited.then((r) => {
        throw new Error(`netmon ${args.join(' ')} exited (${r.code ?? r.signal}) before its first capture: ${r.stderr}`);
      }),
    ]);
    await between();
    await sleep(ms);
    child.kill('SIGTERM');
    const result = await exited;
    return { ...result, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children.delete(child);
  }
}

describe.skipIf(skipWithReason(!haveCli || !havePython, `CSV trail through the CLI: needs the built CLI at ${CLI} (npx tsc -p tsconfig.json) and ${PYTHON}`))('CSV trail through the CLI', () => {
  it('two --once runs: one header, every socket of both snapshots as present, snapshot ids as `snapshots` lists them', () => {
    const dir = freshDir(0o777);
    for (let i = 0; i < 2; i++) {
      const r = runCli(['--once', '--db', 'n.db', '--csv', 't.csv'], { cwd: dir });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/appended \d+ rows? to t\.csv, snapshot \d+ in n\.db/);
    }
    const rows = pythonRows(join(dir, 't.csv'));
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    const data = rows.slice(1);
    expect(data.filter((r) => r[0] === 'timestamp')).toEqual([]);
    for (const row of data) expect(row).toHaveLength(CSV_COLUMNS.length);
    expect(new Set(data.map((r) => r[COL.event]))).toEqual(new Set(['present']));
    const listed = listSnapshots(dir);
    expect(listed).toHaveLength(2);
    for (const s of listed) {
      const mine = data.filter((r) => r[COL.snapshot_id] === String(s.id));
      expect(mine, `rows of snapshot ${s.id}`).toHaveLength(s.sockets);
      for (const row of mine) expect(row[COL.timestamp]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d$/);
    }
    expect(new Set(data.map((r) => r[COL.snapshot_id]))).toEqual(new Set(listed.filter((s) => s.sockets > 0).map((s) => String(s.id))));
    expect(crlfRecords(strictUtf8(readFileSync(join(dir, 't.csv'))))).toBe(rows.length);
  });

  it('--db and --csv naming one file (the same path, or a link to it): a usage error before anything is written', () => {
    const dir = freshDir(0o777);
    const r = runCli(['--once', '--db', 'x', '--csv', './x'], { cwd: dir });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('netmon: error: --db and --csv name the same file (./x): the evidence store and the CSV trail need a file each');
    expect(readdirSync(dir)).toEqual([]);
    expect(runCli(['--once', '--db', 'x', '--csv', 't.csv'], { cwd: dir }).status).toBe(0);
    symlinkSync('x', join(dir, 'link'));
    const before = readFileSync(join(dir, 'x'));
    const linked = runCli(['--interval', '1', '--db', 'x', '--csv', 'link'], { cwd: dir });
    expect(linked.status, linked.stderr).toBe(2);
    expect(linked.stderr).toContain('--db and --csv name the same file (link)');
    expect(readFileSync(join(dir, 'x')).equals(before)).toBe(true);
  });

  it('a trail that cannot be written (missing directory, a directory, a file as directory) stops --once before anything is stored', () => {
    const dir = freshDir(0o777);
    mkdirSync(join(dir, 'adir'));
    writeFileSync(join(dir, 'afile'), '');
    const cases: [string, string, string][] = [
      [join(dir, 'missing', 't.csv'), `ENOENT (no such file or directory) creating a file in ${join(dir, 'missing')}`, `hint: the directory ${join(dir, 'missing')} does not exist: create it first (mkdir -p ${join(dir, 'missing')})`],
      [join(dir, 'adir'), `EISDIR`, `hint: ${join(dir, 'adir')} is a directory: give the path of a file (e.g. ${join(dir, 'adir', 'network_connections.csv')})`],
      [join(dir, 'afile', 't.csv'), `ENOTDIR`, 'hint: run netmon in a directory you can write to'],
    ];
    for (const [csv, cause, hint] of cases) {
      const r = runCli(['--once', '--db', 'n.db', '--csv', csv], { cwd: dir });
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toContain('netmon: error: cannot write the CSV trail: ');
      expect(r.stderr).toContain(cause);
      expect(r.stderr).toContain(hint);
      expect(r.stderr).toContain('nothing was captured');
    }
    expect(readdirSync(dir).sort()).toEqual(['adir', 'afile']);
  });

  it('a new store appending to a trail another store wrote (the first one deleted) warns, once, that snapshot ids may repeat', () => {
    const dir = freshDir(0o777);
    const once = () => runCli(['--once', '--db', 'n.db', '--csv', 't.csv'], { cwd: dir });
    const warning = 'netmon: warning: the CSV trail t.csv already held rows that the evidence store n.db did not write';
    for (let i = 0; i < 2; i++) {
      const r = once();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).not.toContain(warning);
    }
    for (const f of readdirSync(dir)) if (f.startsWith('n.db')) rmSync(join(dir, f));
    const fresh = once();
    expect(fresh.status, fresh.stderr).toBe(0);
    expect(fresh.stderr).toContain(warning);
    expect(fresh.stderr).toContain('give each store a trail of its own (--csv FILE)');
    // The ids did repeat: the first store's first snapshot and the new store's first share one.
    const ids = pythonRows(join(dir, 't.csv')).slice(1).map((r) => r[COL.snapshot_id]);
    expect(new Set(ids).size).toBeLessThan(3);
    const again = once();
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toContain(warning);
  });

  it('a store and its trail moved to another directory together are no foreign trail (from an upgrade probe)', () => {
    const dir = freshDir(0o777);
    mkdirSync(join(dir, 'old'));
    // Every socket of the host (rows in the trail), not a selection that may hold none.
    const first = runCli(['--once', '--db', 'n.db', '--csv', 't.csv', '--no-hash-binaries'], { cwd: join(dir, 'old') });
    expect(first.status, first.stderr).toBe(0);
    renameSync(join(dir, 'old'), join(dir, 'new'));
    const moved = runCli(['--once', '--db', 'n.db', '--csv', 't.csv', '--no-hash-binaries'], { cwd: join(dir, 'new') });
    expect(moved.status, moved.stderr).toBe(0);
    expect(moved.stderr).not.toContain('already held rows that the evidence store');
    const verified = runCli(['verify-trail', '--db', 'n.db', '--csv', 't.csv'], { cwd: join(dir, 'new') });
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
  });

  it('a trail left with a partial last line is repaired by --once, which says so on stderr', () => {
    const dir = freshDir(0o777);
    const file = join(dir, 't.csv');
    appendCsv(file, batch(1, ['sshd']));
    appendFileSync(file, '2026-11-23T01:02:03+00:00,host,1,pres');
    const r = runCli(['--once', '--db', 'n.db', '--csv', 't.csv'], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    const set = readdirSync(dir).filter((n) => n.startsWith('t.csv.partial-'));
    expect(set).toHaveLength(1);
    expect(r.stderr).toContain(`moved it to t.csv.partial-`);
    expect(r.stderr).toContain(set[0]);
    expect(readFileSync(join(dir, set[0]!), 'utf8')).toBe('2026-11-23T01:02:03+00:00,host,1,pres');
    const rows = pythonRows(file);
    for (const row of rows) expect(row).toHaveLength(CSV_COLUMNS.length);
    expect(rows.slice(0, 2)).toEqual([[...CSV_COLUMNS], ...batch(1, ['sshd'])]);
  });

  describe('--interval 1 (changes only)', () => {
    const dir = freshDir(0o777);
    let run: IntervalRun;
    let rows: string[][];
    let listed: Listed[];
    let opened: { server: net.Server; port: number };
    let closed: { server: net.Server; port: number };
    beforeAll(async () => {
      closed = await listen();
      try {
        run = await runInterval(
          dir,
          ['--interval', '1'],
          async () => {
            opened = await listen();
            await closeServer(closed.server);
          },
          2300,
        );
      } finally {
        await closeServer(closed.server);
        await closeServer(opened?.server);
      }
      rows = pythonRows(join(dir, 't.csv'));
      listed = listSnapshots(dir);
    }, 30_000);

    it('stops on SIGTERM with exit 0 after several captures', () => {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/SIGTERM: finishing the current capture/);
      expect(run.stderr).toMatch(/stopped after \d+ captures?/);
      expect(listed.length).toBeGreaterThanOrEqual(2);
    });

    it('one header; the first snapshot is the full inventory, as present', () => {
      expect(rows[0]).toEqual([...CSV_COLUMNS]);
      expect(rows.slice(1).filter((r) => r[0] === 'timestamp')).toEqual([]);
      for (const row of rows) expect(row).toHaveLength(CSV_COLUMNS.length);
      const first = listed[0]!;
      const mine = rows.slice(1).filter((r) => r[COL.snapshot_id] === String(first.id));
      expect(new Set(mine.map((r) => r[COL.event]))).toEqual(new Set(['present']));
      const stored = showSnapshot(dir, first.id);
      expect(mine.map(rowKey).sort()).toEqual(stored.sockets.map(socketKey).sort());
      expect(mine.map(rowKey)).toContain(listenerKey(closed.port));
      expect(mine.map(rowKey)).not.toContain(listenerKey(opened.port));
    });

    it('later snapshots add only opened and closed rows: the new listener opened, the closed one closed', () => {
      const first = String(listed[0]!.id);
      const later = rows.slice(1).filter((r) => r[COL.snapshot_id] !== first);
      expect(later.filter((r) => r[COL.event] !== 'opened' && r[COL.event] !== 'closed')).toEqual([]);
      const ids = new Set(listed.map((s) => String(s.id)));
      for (const row of later) expect(ids.has(row[COL.snapshot_id]!)).toBe(true);
      const open = later.find((r) => r[COL.event] === 'opened' && rowKey(r) === listenerKey(opened.port));
      expect(open, 'an opened row for the listener created between ticks').toBeDefined();
      expect(open![COL.pid]).toBe(String(process.pid));
      const gone = later.find((r) => r[COL.event] === 'closed' && rowKey(r) === listenerKey(closed.port));
      expect(gone, 'a closed row for the listener closed between ticks').toBeDefined();
      expect(gone![COL.pid]).toBe(String(process.pid));
      expect(Number(gone![COL.snapshot_id])).toBeGreaterThan(Number(first));
    });

    it('a closed row names the process, user and executable the socket had', () => {
      const first = String(listed[0]!.id);
      const present = rows.find((r) => r[COL.snapshot_id] === first && rowKey(r) === listenerKey(closed.port))!;
      const gone = rows.find((r) => r[COL.event] === 'closed' && rowKey(r) === listenerKey(closed.port))!;
      expect(present[COL.process]).not.toBe('');
      for (const column of ['pid', 'process', 'user', 'executable', 'executable_blake3'] as const) {
        expect(gone[COL[column]], column).toBe(present[COL[column]]);
      }
    });
  });

  describe('--interval 1 --csv-every-tick', () => {
    const dir = freshDir(0o777);
    let run: IntervalRun;
    let rows: string[][];
    let listed: Listed[];
    let steady: { server: net.Server; port: number };
    let added: { server: net.Server; port: number };
    /** When `added` was listening (a snapshot taken later must hold it). */
    let addedAt: number;
    beforeAll(async () => {
      steady = await listen();
      try {
        run = await runInterval(
          dir,
          ['--interval', '1', '--csv-every-tick'],
          async () => {
            added = await listen();
            addedAt = Date.now();
            // Two more snapshots: the second one's tick began after the listener was there (the
            // first may have begun before, on a loaded machine).
            const count = snapshotCount(join(dir, 'n.db'));
            const deadline = Date.now() + 30_000;
            while (snapshotCount(join(dir, 'n.db')) < count + 2) {
              if (Date.now() > deadline) throw new Error('no two ticks within 30 s');
              await sleep(50);
            }
          },
          2300,
        );
      } finally {
        await closeServer(steady.server);
        await closeServer(added?.server);
      }
      rows = pythonRows(join(dir, 't.csv'));
      listed = listSnapshots(dir);
    }, 60_000);

    it('exits 0 on SIGTERM; every tick writes every socket as present', () => {
      expect(run.code, run.stderr).toBe(0);
      expect(listed.length).toBeGreaterThanOrEqual(2);
      expect(rows[0]).toEqual([...CSV_COLUMNS]);
      const data = rows.slice(1);
      expect(data.filter((r) => r[0] === 'timestamp')).toEqual([]);
      expect(new Set(data.map((r) => r[COL.event]))).toEqual(new Set(['present']));
      expect(new Set(data.map((r) => r[COL.snapshot_id]))).toEqual(new Set(listed.map((s) => String(s.id))));
      for (const s of listed) {
        const mine = data.filter((r) => r[COL.snapshot_id] === String(s.id));
        expect(mine.map(rowKey).sort(), `snapshot ${s.id}`).toEqual(showSnapshot(dir, s.id).sockets.map(socketKey).sort());
        expect(mine.map(rowKey)).toContain(listenerKey(steady.port));
      }
      const [first] = listed;
      expect(data.filter((r) => r[COL.snapshot_id] === String(first!.id)).map(rowKey)).not.toContain(listenerKey(added.port));
      // Every snapshot taken once the listener was there (a snapshot's time is when its scan began).
      const later = listed.filter((s) => Date.parse(s.takenAt) > addedAt);
      expect(later.length).toBeGreaterThanOrEqual(1);
      for (const s of later) expect(data.filter((r) => r[COL.snapshot_id] === String(s.id)).map(rowKey)).toContain(listenerKey(added.port));
    });
  });

  describe('--interval 0.5 with the trail rotated under it', () => {
    // Three ways log rotation leaves the trail between two ticks: moved away (no file), moved away
    // and created again empty (another inode), and copied then truncated (same inode, cut short).
    const dir = freshDir(0o777);
    const file = join(dir, 't.csv');
    let run: IntervalRun;
    let listed: Listed[];
    const rotated: Record<'moved' | 'recreated' | 'truncated', string[][]> = { moved: [], recreated: [], truncated: [] };
    let before: { server: net.Server; port: number };
    let after: { server: net.Server; port: number } | undefined;
    /** Whether the trail at `path` holds an opened row for the listener on `port` (false while a row is half written). */
    const hasOpened = (path: string, port: number): boolean => {
      try {
        return pythonRows(path).some((r) => r[COL.event] === 'opened' && rowKey(r) === listenerKey(port));
      } catch {
        return false;
      }
    };
    /** Wait until the trail holds more than its header (the next tick wrote to it). */
    const nextRows = async (): Promise<void> => {
      const until = Date.now() + 10_000;
      while (!(existsSync(file) && statSync(file).size > HEADER.length)) {
        if (Date.now() > until) throw new Error(`no tick wrote to ${file} within 10 s`);
        await sleep(50);
      }
    };
    beforeAll(async () => {
      before = await listen();
      try {
        run = await runInterval(
          dir,
          ['--interval', '0.5'],
          async () => {
            renameSync(file, `${file}.1`);
            await nextRows();
            after = await listen();
            // A tick has written the opened row of `after` to this trail.
            const opened = Date.now() + 15_000;
            while (!hasOpened(file, after.port)) {
              if (Date.now() > opened) throw new Error(`no opened row for port ${after.port} in ${file} within 15 s`);
              await sleep(50);
            }
            // Moved away and created again, with no moment the path is free (a tick in between
            // would find the trail missing, a restart of its own): kept by a hard link, the new
            // file made aside, then renamed over the path in one step.
            writeFileSync(`${file}.swap`, '');
            linkSync(file, `${file}.2`);
            renameSync(`${file}.swap`, file);
            await nextRows();
            await sleep(600);
            copyFileSync(file, `${file}.3`);
            truncateSync(file, 0);
            await nextRows();
          },
          600,
        );
      } finally {
        await closeServer(before.server);
        await closeServer(after?.server);
      }
      rotated.moved = pythonRows(`${file}.2`);
      rotated.recreated = pythonRows(`${file}.3`);
      rotated.truncated = pythonRows(file);
      listed = listSnapshots(dir);
    }, 60_000);

    it('exits 0 and says, for each restart, why and that the inventory was written again', () => {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('the CSV trail t.csv restarted since the last capture (it is missing (moved away or deleted))');
      expect(run.stderr).toContain('the CSV trail t.csv restarted since the last capture (it is another file');
      expect(run.stderr).toMatch(/the CSV trail t\.csv restarted since the last capture \(it was cut from \d+ to 0 bytes/);
      expect(run.stderr.match(/wrote the full inventory to it \(\d+ rows?\), then changes again/g)).toHaveLength(3);
    });

    it('each new trail file starts with the header and a whole inventory, as present, equal to the stored snapshot', () => {
      const ids = new Set(listed.map((s) => String(s.id)));
      for (const [how, rows] of Object.entries(rotated)) {
        expect(rows[0], how).toEqual([...CSV_COLUMNS]);
        for (const row of rows) expect(row, how).toHaveLength(CSV_COLUMNS.length);
        const firstId = rows[1]![COL.snapshot_id]!;
        expect(ids.has(firstId), `${how}: snapshot ${firstId} is in the store`).toBe(true);
        const inventory = rows.slice(1).filter((r) => r[COL.snapshot_id] === firstId);
        expect(new Set(inventory.map((r) => r[COL.event])), how).toEqual(new Set(['present']));
        expect(inventory.map(rowKey).sort(), how).toEqual(showSnapshot(dir, Number(firstId)).sockets.map(socketKey).sort());
        expect(inventory.map(rowKey), how).toContain(listenerKey(before.port));
        // Later rows of the same file are changes again.
        for (const row of rows.slice(1).filter((r) => r[COL.snapshot_id] !== firstId)) expect(['opened', 'closed', 'changed'], how).toContain(row[COL.event]);
      }
      // The listener opened after the first rotation: an opened row in that file, present in the later inventories.
      expect(rotated.moved.some((r) => r[COL.event] === 'opened' && rowKey(r) === listenerKey(after!.port))).toBe(true);
      for (const rows of [rotated.recreated, rotated.truncated]) {
        const firstId = rows[1]![COL.snapshot_id];
        expect(rows.filter((r) => r[COL.snapshot_id] === firstId).map(rowKey)).toContain(listenerKey(after!.port));
      }
    });

    it('the file moved away first keeps the session\'s first inventory, untouched', () => {
      const rows = pythonRows(`${file}.1`);
      expect(rows[0]).toEqual([...CSV_COLUMNS]);
      expect(new Set(rows.slice(1).map((r) => r[COL.snapshot_id]))).toEqual(new Set([String(listed[0]!.id)]));
    });
  });

  it('killed at random moments: every run repairs what the last one left, and the trail always parses', async () => {
    const dir = freshDir(0o777);
    const file = join(dir, 't.csv');
    let notes = 0;
    for (let i = 0; i < 4; i++) {
      const child = spawn(process.execPath, [CLI, '--interval', '0.1', '--csv-every-tick', '--include-ephemeral', '--db', 'n.db', '--csv', 't.csv'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      children.add(child);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await sleep(400 + Math.random() * 600);
      child.kill('SIGKILL');
      await exited;
      children.delete(child);
      notes += stderr.split('moved it to').length - 1;
    }
    const last = runCli(['--once', '--db', 'n.db', '--csv', 't.csv'], { cwd: dir });
    expect(last.status, last.stderr).toBe(0);
    notes += last.stderr.split('moved it to').length - 1;
    // A partial line is set aside at most once per kill, and each note names a set-aside file (a
    // kill between the repair and its note can leave a file without a note, so not "equal").
    const partials = readdirSync(dir).filter((n) => n.startsWith('t.csv.partial-'));
    expect(partials.length).toBeGreaterThanOrEqual(notes);
    expect(partials.length).toBeLessThanOrEqual(4);
    const text = strictUtf8(readFileSync(file));
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = pythonRows(file);
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows.slice(1).filter((r) => r[0] === 'timestamp')).toEqual([]);
    for (const row of rows) expect(row).toHaveLength(CSV_COLUMNS.length);
    expect(crlfRecords(text)).toBe(rows.length);
  }, 30_000);
});
