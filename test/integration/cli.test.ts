import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/model/types.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { EXIT } from '../../src/cli/exit-code.js';
import { CLI, haveCommand, HOLDER, ROOT, runCli, scratchDir, startJsonProcess, stop, type Started } from '../helpers/processes.js';

let holder: Started<{ pid: number; tcp4: number }>;
beforeAll(async () => {
  holder = await startJsonProcess(process.execPath, [HOLDER, '--listen-port', '2525']);
});
afterAll(async () => stop(holder?.child));

describe('netmon CLI (built binary)', () => {
  it('--help explains the options and gives examples, exit 0', () => {
    for (const line of runCli(['--help']).stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: netmon');
    expect(r.stdout).toContain('--once');
    expect(r.stdout).toContain('--listening-only');
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain("'tcp * * * ESTABLISHED'");
    expect(r.stderr).toBe('');
    // Every exit code there is, and documents that exist.
    const codes = /Exit codes: ([^]*?)\.\n/.exec(r.stdout)?.[1] ?? '';
    for (const code of Object.values(EXIT)) expect(codes, `exit ${code}`).toMatch(new RegExp(`\\b${code} [a-z]`));
    const docs = r.stdout.match(/docs\/[\w-]+\.md/g) ?? [];
    expect(docs).toContain('docs/deployment.md');
    for (const doc of docs) expect(existsSync(join(ROOT, doc)), doc).toBe(true);
  });

  it('every command\'s --help ends with examples that use only options the command has', () => {
    const commands = [...runCli(['--help']).stdout.split('Commands:')[1]!.split('\n\n')[0]!.matchAll(/^  ([a-z-]+) /gm)].map((m) => m[1]!);
    expect(commands).toEqual(expect.arrayContaining(['snapshot', 'verify-store', 'diff', 'init', 'check', 'watch', 'report', 'verify', 'prune', 'keygen']));
    for (const command of commands) {
      const r = runCli([command, '--help']);
      expect(r.status, command).toBe(0);
      const [usage, examples] = r.stdout.split('\nExamples:\n');
      expect(examples, `${command} --help has no examples`).toBeDefined();
      // Into a pipe, help fits 80 columns (a new-user probe found lines of up to 106); a wrapped example goes on, further in, on the lines after it.
      for (const line of r.stdout.split('\n')) expect(line.length, `${command}: ${line}`).toBeLessThanOrEqual(80);
      const logical: string[] = [];
      for (const l of examples!.split('\n')) {
        if (/^ {3,}\S/.test(l) && logical.length > 0) logical[logical.length - 1] += ` ${l.trim()}`;
        else logical.push(l);
      }
      const lines = logical.filter((l) => l.startsWith(`  netmon ${command}`));
      expect(lines.length, command).toBeGreaterThan(0);
      for (const line of lines) {
        // Each example's own options (up to a ';' or a redirection), as the command's usage lists them.
        for (const flag of line.split(/;|>>?|\|/)[0]!.match(/(?<=\s)--?[a-z][a-z0-9-]*/g) ?? []) expect(usage, `${command}: ${line}`).toMatch(new RegExp(`(^|[ ,])${flag}[ ,\\n]`, 'm'));
      }
    }
  });

  it('snapshot, init, check and watch --help document the pattern syntax their filter options take', () => {
    for (const command of ['snapshot', 'init', 'check', 'watch']) {
      const r = runCli([command, '--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: netmon ${command}`);
      expect(r.stdout, command).toContain("'*/72.14.207.9?/80'");
    }
    // snapshot's examples are its own, not the program's captures.
    expect(runCli(['snapshot', '--help']).stdout).not.toContain('netmon --once');
  });

  it('--version prints the package version', () => {
    const r = runCli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('an unknown flag is a usage error: exit 2, message on stderr, nothing on stdout', () => {
    const r = runCli(['--onse']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    // Prefixed as netmon's own errors are, so that a log shows which program complained.
    expect(r.stderr).toMatch(/^netmon: error: unknown option '--onse'/);
    expect(r.stderr).toMatch(/--once/); // the suggestion
    expect(r.stderr).toContain('add --help for usage and examples');
    // the same for a subcommand's usage error
    const show = runCli(['show']);
    expect(show.status).toBe(2);
    expect(show.stderr).toMatch(/^netmon: error: missing required argument 'snapshot'[\s\S]*add --help/);
    // Every line is one of netmon's, the suggestion a hint (a new-user probe found unprefixed lines).
    expect(r.stderr).toBe("netmon: error: unknown option '--onse'\nnetmon: hint: did you mean --once?\nnetmon: hint: add --help for usage and examples\n");
    // A capture option given to snapshot: where it belongs.
    const once = runCli(['snapshot', '--once']);
    expect(once.status).toBe(2);
    expect(once.stderr).toContain("netmon: hint: --once is netmon's own option, not a command's: `netmon --once` captures into the store and the CSV trail; `netmon snapshot` prints the inventory and writes nothing\n");
    for (const line of once.stderr.trimEnd().split('\n')) expect(line).toMatch(/^netmon: (error|hint): /);
  });

  it('a misspelt command is named as unknown, with the command it is likely to be (exit 2); netmon help shows the help', () => {
    for (const [word, near] of [
      ['snapshotz', 'snapshot'],
      ['verfy-store', 'verify-store'],
      ['reprot', 'report'],
    ] as const) {
      const r = runCli([word]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`netmon: error: unknown command '${word}' (Did you mean ${near}?)`);
      expect(r.stderr).toContain('the commands are snapshot, snapshots,');
    }
    const far = runCli(['xyzzy']);
    expect(far.stderr).toContain("netmon: error: unknown command 'xyzzy'\n");
    // Nothing is captured when a stray word follows --once.
    const stray = runCli(['--once', '--no-csv', '--db', 'stray.db', 'extra']);
    expect(stray.status).toBe(2);
    expect(stray.stderr).toContain("unknown command 'extra'");
    expect(existsSync(join(scratchDir(), 'stray.db'))).toBe(false);
    const help = runCli(['help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: netmon [options] [command]');
    // A command's own arguments are checked by the command, as before.
    expect(runCli(['snapshots', 'extra']).stderr).toContain("too many arguments for 'snapshots'");
    // A forgotten option value leaves a word over: the option that took the next option is named, not the word.
    for (const args of [['diff', '--change', '--expect', 'chg.yaml'], ['diff', '--pre', '--post', '3'], ['report', '--change', '--out', 'x']]) {
      const forgot = runCli(args);
      expect(forgot.status, args.join(' ')).toBe(2);
      expect(forgot.stderr, args.join(' ')).toMatch(new RegExp(`netmon: error: option '${args[1]} <\\w+>' took '${args[2]}' as its value, which is an option of this command: give ${args[1]} its value first`));
      expect(forgot.stderr).not.toContain('too many arguments');
    }
  });

  it('netmon help COMMAND prints that command\'s help; an unknown topic is named (exit 2)', () => {
    const report = runCli(['help', 'report']);
    expect(report.status).toBe(0);
    expect(report.stdout).toBe(runCli(['report', '--help']).stdout);
    expect(report.stdout).toContain('Usage: netmon report [options]');
    const wrong = runCli(['help', 'reprt']);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain("netmon: error: no help for 'reprt': it is not a command (Did you mean report?)");
  });

  it('capture options without --once or --interval, or before another command, are an error (exit 2), never silently dropped', () => {
    // Before: `netmon --label pre` printed the help with exit 0, and `netmon --label pre snapshot` ran without its label.
    const alone = runCli(['--label', 'pre', '--change', 'CHG-1']);
    expect(alone.status).toBe(2);
    expect(alone.stderr).toContain('netmon: error: --label, --change apply to a capture: add --once (one snapshot) or --interval SECONDS');
    const before = runCli(['--no-csv', '--label', 'pre', 'snapshots', '--db', 'none.db']);
    expect(before.status).toBe(2);
    expect(before.stderr).toContain("netmon: error: --label, --no-csv came before the command 'snapshots', where they are options of the capture");
    expect(before.stderr).toContain('netmon snapshots --help lists them');
    // --config is every command's, wherever it stands; no options at all is the help.
    expect(runCli(['--config', '/dev/null', 'snapshots', '--db', 'none.db']).stderr).toContain('there is no evidence store at none.db');
    expect(runCli([]).status).toBe(0);
    for (const [args, message] of [
      [['--once', '--csv-every-tick', '--no-csv'], '--csv-every-tick and --no-csv exclude each other'],
      [['--once', '--csv-every-tick'], '--csv-every-tick applies to --interval'],
    ] as const) {
      const r = runCli([...args, '--db', 'every-tick.db', '--no-hash-binaries', '--filter', ':1']);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(existsSync(join(scratchDir(), 'every-tick.db'))).toBe(false);
  });

  it('a line break in a path the message quotes is escaped: every line on stderr is one of netmon\'s own', () => {
    const r = runCli(['snapshots', '--db', '/nonexistent/a\nnetmon: note: verified\n.db']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('there is no evidence store at /nonexistent/a\\x0anetmon: note: verified\\x0a.db');
    expect(r.stderr.trimEnd().split('\n').map((line) => line.slice(0, 14))).toEqual(['netmon: error:', 'netmon: hint: ']);
  });

  it('a bad filter pattern is exit 2 and names the pattern', () => {
    for (const [flag, pattern] of [
      ['--filter', 'tcp:99999'],
      ['--include', 'tcp/[127.0.0.1/80'],
      ['--match', 'a b c d e f'],
      ['--process', '['],
    ] as const) {
      const r = runCli(['snapshot', flag, pattern]);
      expect(r.status, `${flag} ${pattern}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`invalid ${flag} pattern ${JSON.stringify(pattern)}`);
    }
  });

  it('an empty value, or the next option taken for a value, is a usage error before anything is captured or written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netmon-values-'));
    try {
      for (const [args, message] of [
        [['--once', '--db', ''], "option '--db <path>' argument is empty: give it a value (e.g. --db netmon.db)"],
        [['--once', '--csv', ''], "option '--csv <path>' argument is empty: give it a value (e.g. --csv network_connections.csv)"],
        [['--once', '--label', ' '], "option '--label <text>' argument is empty"],
        [['--once', '--process', ''], "option '--process <glob>' argument is empty"],
        [['--once', '--label', '--no-hash-binaries'], "option '--label <text>' took '--no-hash-binaries' as its value, which is an option of this command: give --label its value first"],
        [['--once', '--change', '--csv=x.csv'], "option '--change <ticket>' took '--csv=x.csv' as its value"],
        [['snapshots', '--db', ''], "option '--db <path>' argument is empty"],
      ] as const) {
        const r = runCli([...args], { cwd: dir });
        expect(r.status, args.join(' ')).toBe(2);
        expect(r.stderr).toContain(message);
        expect(r.stdout).toBe('');
      }
      // Nothing was captured or written by any of them.
      expect(readdirSync(dir)).toEqual([]);
      // A value that only starts with a dash is a value.
      const dashed = runCli(['--once', '--no-hash-binaries', '--label', '-x', '--change', '--', '--db', 'n.db', '--csv', 'n.csv'], { cwd: dir });
      expect(dashed.status, dashed.stderr).toBe(0);
      const listed = JSON.parse(runCli(['snapshots', '--db', 'n.db', '--output', 'json'], { cwd: dir }).stdout) as { snapshots: { label: string; change: string }[] };
      expect(listed.snapshots.map((x) => [x.label, x.change])).toEqual([['-x', '--']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('snapshots cuts a long label, change or host in its table (JSON keeps them whole)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netmon-tags-'));
    try {
      const ticket = `CHG-${'9'.repeat(2000)}`;
      expect(runCli(['--once', '--no-hash-binaries', '--change', ticket, '--label', 'pre', '--db', 'n.db', '--csv', 'n.csv'], { cwd: dir }).status).toBe(0);
      expect(runCli(['--once', '--no-hash-binaries', '--label', 'post', '--db', 'n.db', '--csv', 'n.csv'], { cwd: dir }).status).toBe(0);
      const table = runCli(['snapshots', '--db', 'n.db'], { cwd: dir });
      expect(table.status).toBe(0);
      for (const line of table.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThan(160);
      expect(table.stdout).toContain(`CHG-${'9'.repeat(35)}…`);
      const json = JSON.parse(runCli(['snapshots', '--db', 'n.db', '--output', 'json'], { cwd: dir }).stdout) as { snapshots: { change: string | null }[] };
      expect(json.snapshots[0]!.change).toBe(ticket);
      // A label of wide characters is measured in terminal cells: the SOCKETS column (right-aligned)
      // ends at the same cell on every line, and a cut never splits a character.
      expect(runCli(['--once', '--no-hash-binaries', '--label', `变更前${'🚀'.repeat(30)}`, '--db', 'n.db', '--csv', 'n.csv'], { cwd: dir }).status).toBe(0);
      const wide = runCli(['snapshots', '--db', 'n.db'], { cwd: dir }).stdout.trimEnd().split('\n');
      const cells = (text: string): number => [...text].reduce((w, ch) => w + (/[\u4e00-\u9fff]|\p{Extended_Pictographic}/u.test(ch) ? 2 : 1), 0);
      const socketsEnd = (line: string): number => cells(line.slice(0, line.search(/ +\S+$/)));
      expect(new Set(wide.map(socketsEnd)).size, wide.join('\n')).toBe(1);
      expect(wide.join('\n')).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--only-ipv4 with --only-ipv6 is a usage error', () => {
    const r = runCli(['snapshot', '--only-ipv4', '--only-ipv6']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/exclude each other/);
  });

  it('contradicting flags and bad patterns stop every collecting command before it captures, loops included', () => {
    // Before: init named the internal options, and watch and --interval reported the same error at
    // every tick, recording a gap each time, without ever stopping.
    const dir = mkdtempSync(join(tmpdir(), 'netmon-flags-'));
    try {
      const commands: string[][] = [
        ['snapshot'],
        ['--once', '--csv', join(dir, 'c.csv')],
        ['--interval', '1', '--csv', join(dir, 'c.csv')],
        ['init'],
        ['check'],
        ['watch', '--interval', '1', '--csv', join(dir, 'c.csv')],
      ];
      const cases: [string[], string][] = [
        [['--only-ipv4', '--only-ipv6'], '--only-ipv4 and --only-ipv6 exclude each other'],
        [['--match', 'tcpp'], 'invalid --match pattern "tcpp": no protocol is called "tcpp"'],
        [['--include', 'tpc/*/80'], 'invalid --include pattern "tpc/*/80": no socket key can match it (the protocol is tcp, udp, tcp6 or udp6, not "tpc")'],
        [['--exclude', '*:22'], 'invalid --exclude pattern "*:22": no socket key can match it (a port follows a "/", not a ":")'],
        [['--process', 'sshd', '--no-process-info'], '--process, --path and --user filters need process information, which --no-process-info leaves out'],
        [['--listening-only', '--match', 'tcp * * * ESTABLISHED'], "--match 'tcp * * * ESTABLISHED' selects no listener, and --listening-only keeps listeners only"],
        [['--listening-only', '--match', 'tcp * 10.0.0.1:*', '--match', 'udp'], "--match 'tcp * 10.0.0.1:*' selects no listener"],
      ];
      for (const command of commands) {
        const db = command[0] === 'snapshot' ? [] : ['--db', join(dir, 'n.db')];
        for (const [flags, message] of cases) {
          const r = runCli([...command, ...db, ...flags], { killAfterMs: 20_000 });
          expect(r.status, `${command.join(' ')} ${flags.join(' ')}: ${r.stderr}`).toBe(2);
          expect(r.stderr).toContain(`netmon: error: ${message}`);
          expect(r.stderr).not.toContain('error in a capture');
        }
      }
      // A label that reads as an id, first, latest or a time could never select its snapshot: refused before anything is captured.
      for (const [label, reads] of [['3', 'snapshot id 3'], ['latest', 'the latest snapshot'], ['2026-11-24', 'a time']] as const) {
        for (const command of [['--once'], ['watch', '--interval', '1']]) {
          const r = runCli([...command, '--db', join(dir, 'n.db'), '--csv', join(dir, 'c.csv'), '--label', label], { killAfterMs: 20_000 });
          expect(r.status, r.stderr).toBe(2);
          expect(r.stderr).toContain(`netmon: error: --label ${JSON.stringify(label)} would read as ${reads}`);
        }
      }
      // --csv PATH and --no-csv together: refused, not the last one winning.
      for (const command of [['--once'], ['watch', '--interval', '1']]) {
        for (const flags of [['--no-csv', '--csv', join(dir, 'c.csv')], ['--csv', join(dir, 'c.csv'), '--no-csv']]) {
          const both = runCli([...command, '--db', join(dir, 'n.db'), ...flags], { killAfterMs: 20_000 });
          expect(both.status, both.stderr).toBe(2);
          expect(both.stderr).toContain('netmon: error: --csv and --no-csv exclude each other: give --csv PATH to write the trail there, or --no-csv to write none');
        }
      }
      // init prints no inventory: an output format given to it is a mistake, said as such (and its help does not offer one).
      const init = runCli(['init', '--db', join(dir, 'n.db'), '-o', 'json']);
      expect(init.status).toBe(2);
      expect(init.stderr).toContain('netmon: error: init prints no inventory: --output json applies to snapshot, check and watch');
      expect(runCli(['init', '--help']).stdout).not.toContain('--output');
      // Nothing was captured: no store, no trail.
      expect(readdirSync(dir)).toEqual([]);
      // A listener pattern with --listening-only is fine.
      expect(runCli(['snapshot', '--listening-only', '--no-hash-binaries', '--match', 'tcp * * * LISTEN', '--match', 'udp']).status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000); // about 55 runs of the CLI one after another: they may outlast the 60 s default on a loaded machine

  it('an unknown output format is a usage error listing the choices', () => {
    const r = runCli(['snapshot', '--output', 'yaml']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/text, json, ecs/);
  });

  it('--once prints the live table with the test listener and a coverage line', () => {
    // 80 columns as on a terminal of that width (into a pipe, nothing would be fitted).
    const r = runCli(['--once', '--filter', ':2525'], { env: { ...process.env, COLUMNS: '80' } });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^netmon snapshot of .+ at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    expect(lines[1]).toMatch(/^TIME\s+PROTO\s+LOCAL\s+REMOTE\s+STATE\s+PID\s+PROCESS\s+USER$/);
    const row = lines.find((l) => l.includes('127.0.0.1:2525') && l.includes('LISTEN'));
    expect(row).toBeDefined();
    expect(row).toContain(String(holder.info.pid));
    expect(row).toContain('node');
    // (TIME_WAIT sockets of :2525 left by an earlier run add "of the N a process can own" and a
    // kernel-owned count: the line is then broken after a comma to fit 80 columns.)
    expect(lines.find((l) => l.startsWith('coverage: '))).toMatch(/^coverage: \d+ sockets? \(\d+ listening\),( \d+ attributed \(\d+\.\d%( of the \d+ a process can own)?\))?/);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('on a terminal, --once, snapshot and the first capture of --interval and watch say on one progress line what they are doing, and clear it; not when stderr is a file or pipe', ({ skip }) => {
    if (!haveCommand('script')) return skip('script (util-linux) not installed: it gives the command a terminal');
    const dir = mkdtempSync(join(tmpdir(), 'netmon-progress-'));
    try {
      const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
      // script(1) runs the command on a pseudo-terminal and copies what it writes there (stderr;
      // stdout goes to a file) to its own stdout.
      const onTerminal = (args: string[], out: string) => {
        const r = spawnSync('script', ['-qec', `${[process.execPath, CLI, ...args].map(quote).join(' ')} > ${quote(join(dir, out))}`, '/dev/null'], { cwd: dir, encoding: 'utf8' });
        expect(r.status, r.stdout + r.stderr).toBe(0);
        return r.stdout;
      };
      // A new store: its hash cache is empty, so the capture hashes the holder's executable.
      const once = onTerminal(['--once', '--filter', ':2525'], 'once.txt');
      const steps = [/reading the socket tables and every process's descriptors/, /reading 1 process\b/, /hashing executables: 0 of 1\b/, /storing \d+ sockets? in netmon\.db/, /appending to network_connections\.csv/];
      let rest = once;
      for (const step of steps) {
        const found = new RegExp(`\\r\\x1b\\[2Knetmon: once: ${step.source}`).exec(rest);
        expect(found, String(step)).not.toBeNull();
        rest = rest.slice(found!.index + found![0].length);
      }
      // Cleared before the next message, which stands on its own line.
      expect(rest).toMatch(/\r\x1b\[2Knetmon: (warning: [^\n]*\n)?[^]*appended \d+ rows? to network_connections\.csv, snapshot \d+ in netmon\.db/);
      expect(readFileSync(join(dir, 'once.txt'), 'utf8')).toContain('127.0.0.1:2525');
      const snap = onTerminal(['snapshot', '--filter', ':2525', '--output', 'json'], 'snapshot.json');
      expect(snap).toContain('\r\x1b[2Knetmon: snapshot: reading the socket tables');
      // The last progress text is cleared before anything else is written.
      const last = snap.lastIndexOf('netmon: snapshot: ');
      expect(snap.slice(last)).toMatch(/^netmon: snapshot: [^\r\n]*\r\x1b\[2K/);
      expect((JSON.parse(readFileSync(join(dir, 'snapshot.json'), 'utf8')) as Snapshot).sockets.length).toBeGreaterThan(0);
      // --interval: the first capture only; Ctrl-C (SIGINT, from timeout) is reported on a line of its own.
      const interval = spawnSync('script', ['-qec', `timeout --preserve-status -s INT 4 ${[process.execPath, CLI, '--interval', '1', '--filter', ':2525', '--db', 'interval.db', '--csv', 'interval.csv'].map(quote).join(' ')} > interval.txt`, '/dev/null'], { cwd: dir, encoding: 'utf8' });
      expect(interval.status, interval.stdout).toBe(0);
      expect(interval.stdout.split("netmon: interval: reading the socket tables and every process's descriptors")).toHaveLength(2);
      expect(interval.stdout).toMatch(/(^|\n|\r\x1b\[2K)netmon: SIGINT: finishing the current capture, then stopping\r?\n/);
      expect(interval.stdout).toMatch(/netmon: stopped after \d+ captures/);
      // watch runs the same loop: its first capture too, cleared before "watching ...".
      const watch = spawnSync('script', ['-qec', `timeout --preserve-status -s INT 3 ${[process.execPath, CLI, 'watch', '--interval', '1', '--filter', ':2525', '--db', 'watch.db'].map(quote).join(' ')} > watch.txt`, '/dev/null'], { cwd: dir, encoding: 'utf8' });
      expect(watch.status, watch.stdout).toBe(0);
      expect(watch.stdout.split("netmon: watch: reading the socket tables and every process's descriptors")).toHaveLength(2);
      expect(watch.stdout).toMatch(/\r\x1b\[2Knetmon: watching \d+ sockets?/);
      const plain = runCli(['--once', '--filter', ':2525', '--db', join(dir, 'plain.db'), '--csv', join(dir, 'plain.csv')]);
      expect(plain.status, plain.stderr).toBe(0);
      expect(plain.stderr).not.toContain('\r');
      expect(plain.stderr).not.toContain('netmon: once:');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('netmon with no arguments shows the help', () => {
    const r = runCli([]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: netmon');
  });

  it('snapshot --output json writes one versioned document to stdout', () => {
    const r = runCli(['snapshot', '--output', 'json', '--filter', ':2525']);
    expect(r.status, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    expect(snap.schemaVersion).toBe(1);
    expect(snap.tool.name).toBe('netmon');
    const listener = snap.sockets.find((s) => s.localPort === 2525 && s.state === 'LISTEN');
    expect(listener?.owners[0]?.pid).toBe(holder.info.pid);
    expect(snap.processes.find((p) => p.pid === holder.info.pid)?.hashes?.blake3).toMatch(/^[0-9a-f]{64}$/);
    expect(snap.selection.filters).toEqual({ filter: [':2525'] });
  });

  it('snapshot --output ecs writes one JSON document per line', () => {
    const r = runCli(['snapshot', '-o', 'ecs', '--filter', ':2525']);
    expect(r.status, r.stderr).toBe(0);
    const docs = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(docs.length).toBeGreaterThanOrEqual(1);
    const listener = docs.find((d) => d.server?.port === 2525 && d.labels?.netmon_socket_state === 'LISTEN');
    expect(listener?.event.kind).toBe('state');
    expect(listener?.process.pid).toBe(holder.info.pid);
  });

  it('--no-process-info and --no-hash-binaries change what is collected', () => {
    const bare = JSON.parse(runCli(['snapshot', '-o', 'json', '--no-process-info', '--filter', ':2525']).stdout) as Snapshot;
    expect(bare.processes).toEqual([]);
    expect(bare.selection.processInfo).toBe(false);
    const unhashed = JSON.parse(runCli(['snapshot', '-o', 'json', '--no-hash-binaries', '--filter', ':2525']).stdout) as Snapshot;
    expect(unhashed.processes.length).toBeGreaterThan(0);
    expect(unhashed.processes.every((p) => p.hashes === undefined)).toBe(true);
  });

  it('a reader that closes the pipe early (| head) ends netmon quietly with exit 0', () => {
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" snapshot -o json --include-ephemeral | head -c 20 >/dev/null; echo "status=\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('status=0');
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
  });

  it('--once names at most 20 new listeners one by one, and counts the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netmon-warn-'));
    const servers: net.Server[] = [];
    try {
      const args = ['--once', '--db', join(dir, 'w.db'), '--no-csv', '--no-hash-binaries', '--filter', ':27100-27124'];
      expect(runCli(args).status).toBe(0);
      for (let port = 27100; port < 27125; port++) {
        const server = net.createServer();
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
        servers.push(server);
      }
      const r = runCli(args);
      expect(r.status, r.stderr).toBe(0);
      const named = r.stderr.split('\n').filter((line) => line.startsWith('netmon: warning: new listener tcp 127.0.0.1:271'));
      expect(named).toHaveLength(20);
      expect(r.stderr).toMatch(/netmon: warning: and 5 more new listeners or destinations since the previous capture; `netmon diff --pre <previous id> --post \d+` lists them all/);
    } finally {
      for (const server of servers) server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--once warns about a listener that is new since the previous capture', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netmon-warn-'));
    try {
      const args = ['--once', '--db', join(dir, 'w.db'), '--csv', join(dir, 'w.csv'), '--no-hash-binaries', '--filter', ':2626-2627'];
      expect(runCli(args).status).toBe(0);
      const late = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--listen-port', '2627']);
      try {
        const r = runCli(args);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toContain(`netmon: warning: new listener tcp 127.0.0.1:2627 (node, pid ${late.info.pid}, user`);
        expect(r.stderr).toMatch(/since the previous capture/);
      } finally {
        await stop(late.child);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
