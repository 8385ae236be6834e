import { createRequire } from 'node:module';
import type { Command as CommandType, InvalidArgumentError as InvalidArgumentErrorType, Option as OptionType } from 'commander';

// commander is CommonJS: require() skips the ESM loader's export scan of its source (start-up time).
const { Command, Option, InvalidArgumentError } = createRequire(import.meta.url)('commander') as {
  Command: typeof CommandType;
  Option: typeof OptionType;
  InvalidArgumentError: typeof InvalidArgumentErrorType;
};
type Command = CommandType;
import type { FilterSpec, Snapshot } from '../model/types.js';
import type { SnapshotOptions } from '../snapshot/snapshot.js';
import { NETMON_VERSION } from '../version.js';
import { ConfigError } from '../errors.js';
import { selectorKind } from './selectors.js';
import { closestName } from '../model/names.js';
import { printable, printableMessage } from '../outputs/sanitize.js';

/** Where the CLI writes; main.ts passes the process's streams, tests may pass others. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Width of the live view: the terminal's, or Infinity into a pipe or a file (absent: 80). */
  columns?: number;
  /** stderr is a terminal: long commands show a progress line there. */
  stderrIsTTY?: boolean;
  /** That terminal's width: messages are wrapped at spaces to it, the progress line cut to it. */
  stderrColumns?: number;
  env: NodeJS.ProcessEnv;
  /**
   * Shows `text` on the progress line, or clears it (null). Present only on a terminal's stderr:
   * `withProgressLine` adds it. Commands pass progress callbacks to the library only when it is.
   */
  progress?: (text: string | null) => void;
  /**
   * Resolves when stdout can take more without netmon holding it in memory (a pipe's reader, such
   * as a pager, has caught up); rejects when stdout failed. Long listings await it between pages.
   * Absent: nothing waits.
   */
  drain?: () => Promise<void>;
}

export type OutputFormat = 'text' | 'json' | 'ecs';

/**
 * How text is measured in terminal cells (outputs/width.ts). Passed in rather than imported: its
 * string-width dependency costs every start about 20 ms, and only a terminal needs it.
 */
export interface TerminalCells {
  wrapCells(text: string, width: number): string;
  fitEnd(text: string, width: number): string;
}

/**
 * `io` with one progress line on a terminal's stderr: `progress` shows it, rewritten in place, and
 * any other write to stdout or stderr clears it first, so a message or the live view never lands
 * on the end of it and no command has to remember to clear it. Messages are wrapped at spaces to
 * the terminal's width (`stderrColumns`), and the progress line is cut to it, since a line the
 * terminal wraps could not be rewritten in place. Not a terminal: `io` unchanged (a log keeps one
 * line per message).
 */
export function withProgressLine(io: CliIo, cells?: TerminalCells): CliIo {
  if (!io.stderrIsTTY) return io;
  const width = cells !== undefined && io.stderrColumns !== undefined && io.stderrColumns > 0 ? io.stderrColumns : Number.POSITIVE_INFINITY;
  const wrapCells = cells?.wrapCells ?? ((text: string) => text);
  const fitEnd = cells?.fitEnd ?? ((text: string) => text);
  let shown = false;
  const clear = (): void => {
    if (!shown) return;
    shown = false;
    io.stderr('\r\x1b[2K');
  };
  return {
    ...io,
    stdout: (text) => {
      clear();
      io.stdout(text);
    },
    stderr: (text) => {
      clear();
      io.stderr(wrapCells(text, width));
    },
    progress: (text) => {
      if (text === null) return clear();
      io.stderr(`\r\x1b[2K${Number.isFinite(width) ? fitEnd(text, width - 1) : text}`);
      shown = true;
    },
  };
}

/** The progress line of `command`: what it is doing now, on a terminal's stderr; null clears it. */
export function progressLine(io: CliIo, command: string): (text: string | null) => void {
  // The text may name paths the user gave: escaped, so that it stays one line on the terminal.
  return (text) => io.progress?.(text === null ? null : `netmon: ${command}: ${printable(text)}`);
}

/** The collection flags: the filter flags carry the names of FilterSpec's fields. */
export interface CollectFlags extends FilterSpec {
  listeningOnly?: boolean;
  includeEphemeral?: boolean;
  onlyIpv4?: boolean;
  onlyIpv6?: boolean;
  processInfo: boolean;
  hashBinaries: boolean;
  /** Seconds one call reading an executable may take. */
  hashTimeout?: number;
  output: OutputFormat;
}

let hangup = false;

/** Whether a capture loop was stopped by SIGHUP: its terminal is gone (see main.ts). */
export function hungUp(): boolean {
  return hangup;
}

/** Stops the running capture loop, if there is one. */
let stopRunning: ((why: string) => void) | null = null;

/**
 * Stop the running capture loop as a signal would (the running capture finishes and the store
 * is closed); false when no loop runs. main.ts calls it when stdout is closed under a loop.
 */
export function stopCapture(why: string): boolean {
  if (stopRunning === null) return false;
  stopRunning(why);
  return true;
}

/**
 * SIGINT, SIGTERM and SIGHUP, while `run` works, abort its signal (the running capture finishes,
 * then the loop stops) instead of killing the process.
 */
export async function untilStopped<T>(io: CliIo, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = (signal: string): void => {
    if (signal === 'SIGHUP') hangup = true;
    if (controller.signal.aborted) return;
    io.stderr(`netmon: ${signal}: finishing the current capture, then stopping\n`);
    controller.abort();
  };
  stopRunning = stop;
  // SIGHUP too: a closed terminal or a dropped ssh session ends the capture as cleanly as Ctrl-C.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, stop);
  try {
    return await run(controller.signal);
  } finally {
    for (const s of signals) process.off(s, stop);
    stopRunning = null;
  }
}

/** Flags of the capture commands (`--once`, `--interval`). */
export interface CaptureFlags extends CollectFlags {
  once?: boolean;
  interval?: number;
  label?: string;
  change?: string;
  db: string;
  csv: string | false;
  csvEveryTick?: boolean;
  takeOver?: boolean;
  /** Seconds to wait for a store locked for a moment. */
  lockWait?: number;
}

/** A parser of seconds from `min` (0.1, or 0: do not wait) to 86400 for the option `example` shows ("--interval 10"). */
function secondsParser(what: string, example: string, min = 0.1): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value.trim()) || !Number.isFinite(n) || n < min || n > 86400) {
      throw new InvalidArgumentError(`Give the ${what} in seconds, from ${min === 0 ? '0 (fail at once)' : min} to 86400 (e.g. ${example})`);
    }
    return n;
  };
}

const parseSeconds = secondsParser('interval', '--interval 10');
const parseWait = secondsParser('wait', '--lock-wait 120', 0);

const LOCK_WAIT_HELP = 'seconds to wait for a store another netmon --once or a prune holds (0: fail at once) (default: 60)';

const TAKE_OVER_HELP = 'take the store over from a capture on another host or in a container that no longer runs, without waiting for its lock to go stale';

const collectList = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const PATTERN_HELP = `
Selection (by default every state of TCP and UDP, IPv4 and IPv6, in every
network namespace):
  Listeners on ports in /proc/sys/net/ipv4/ip_local_port_range are left out
  unless --include-ephemeral is given (the TCP ones are still named). Repeat a
  filter option to allow several patterns; a socket is kept when it matches one
  pattern of each kind given. Against a configuration that sets a switch:
  --no-listening-only, --no-include-ephemeral, --no-only-ipv4, --no-only-ipv6,
  --process-info, --hash-binaries.

Patterns:
  --filter   [PROTO:]ENDPOINT, the local or remote end:  :22  127.0.0.1:
             tcp:8080  udp:53  [::1]:22  tcp6:[::]:443  :8000-8100
             (PROTO: tcp udp tcp4 tcp6 udp4 udp6)
  --include/--exclude  globs on the key <proto>/<ip>/<port> of the local and
             the remote end, proto tcp or udp for IPv4, tcp6 or udp6 for IPv6:
             '*/80'  'tcp*/*/80'  '*/72.14.207.9?/80'  'udp6/::1/*'
  --process/--path/--user  globs on the process name (or executable file
             name), the executable path, the user name or uid:
             --process 'python*'  --path '/tmp/*'
  --match    a tuple of globs '<proto> <local> <remote> <remote-host> <state>'
             (missing trailing fields match anything; remote-host comes from
             /etc/hosts, never DNS):
             'tcp * * * ESTABLISHED'  'tcp6 *:443'  'udp * * * UNCONN'
  Globs: * any text (including / and :), ? one character, [abc] [a-z] [!abc]
  one character of (not of) a set, \\x a literal x.`;

const CONFIG_HELP = 'configuration file (default: $NETMON_CONFIG, else ./netmon.conf when it exists)';

function addCollectOptions(cmd: Command): Command {
  return cmd
    .option('--listening-only', 'only listening sockets (TCP LISTEN and unconnected UDP)')
    .option('--include-ephemeral', 'keep listeners on ports inside the ephemeral port range')
    .option('--only-ipv4', 'only IPv4 sockets')
    .option('--only-ipv6', 'only IPv6 sockets')
    .option('--no-process-info', 'do not attribute sockets to processes (faster; no pid, user or hashes)')
    .option('--no-hash-binaries', 'do not hash executables (BLAKE3 and SHA-256)')
    // The opposites, for a configuration that sets a switch (a flag wins over it); named in the
    // help's selection text rather than listed one by one.
    .addOption(new Option('--no-listening-only').hideHelp())
    .addOption(new Option('--no-include-ephemeral').hideHelp())
    .addOption(new Option('--no-only-ipv4').hideHelp())
    .addOption(new Option('--no-only-ipv6').hideHelp())
    .addOption(new Option('--process-info').hideHelp())
    .addOption(new Option('--hash-binaries').hideHelp())
    .option('--hash-timeout <seconds>', 'leave an executable unhashed when its file system does not answer one read within this time (default: 10)', secondsParser('deadline', '--hash-timeout 30'))
    .option('--filter <pattern>', 'keep sockets whose local or remote end matches (repeatable)', collectList)
    .option('--include <glob>', 'keep sockets whose <proto>/<ip>/<port> key matches (repeatable)', collectList)
    .option('--exclude <glob>', 'drop sockets whose <proto>/<ip>/<port> key matches (repeatable)', collectList)
    .option('--process <glob>', 'keep sockets of processes whose name matches (repeatable)', collectList)
    .option('--path <glob>', 'keep sockets of processes whose executable path matches (repeatable)', collectList)
    .option('--user <glob>', 'keep sockets of processes whose user name or uid matches (repeatable)', collectList)
    .option('--match <tuple>', "keep sockets matching '<proto> <local> <remote> <remote-host> <state>' (repeatable)", collectList)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'ecs']).default('text'));
}

export function toSnapshotOptions(flags: CollectFlags): SnapshotOptions {
  const filters: FilterSpec = {};
  for (const key of ['filter', 'include', 'exclude', 'process', 'path', 'user', 'match'] as const) {
    const patterns = flags[key];
    if (patterns && patterns.length > 0) filters[key] = patterns;
  }
  return {
    listeningOnly: flags.listeningOnly ?? false,
    includeEphemeral: flags.includeEphemeral ?? false,
    onlyIpv4: flags.onlyIpv4 ?? false,
    onlyIpv6: flags.onlyIpv6 ?? false,
    processInfo: flags.processInfo,
    hashBinaries: flags.hashBinaries,
    ...(flags.hashTimeout === undefined ? {} : { hashTimeoutMs: flags.hashTimeout * 1000 }),
    filters,
  };
}

/** Print a snapshot in the chosen format: machine output to stdout, notices to stderr after it. */
export async function printSnapshot(snap: Snapshot, format: OutputFormat, io: CliIo): Promise<void> {
  // Only the writer of the chosen format is loaded.
  switch (format) {
    case 'json':
      for (const chunk of (await import('../outputs/json.js')).renderJsonChunks(snap)) io.stdout(chunk);
      break;
    case 'ecs':
      io.stdout((await import('../outputs/ecs.js')).renderEcs(snap));
      break;
    default:
      io.stdout((await import('../outputs/text.js')).renderText(snap, { width: io.columns ?? 80 }));
  }
  // Notices after the data, so they are the last thing a reader of the terminal sees.
  printWarnings(snap, io);
}

/** A snapshot's warnings on stderr. Those of a stored snapshot come from the store: made inert. */
export function printWarnings(snap: Pick<Snapshot, 'warnings'>, io: CliIo): void {
  for (const warning of snap.warnings) io.stderr(`netmon: warning: ${printableMessage(warning.message)}\n`);
}

/**
 * The warnings of a loop's captures (`--interval`, `watch`) on stderr: every one at the first
 * capture, then those that were not there at the capture before (a namespace that could not be
 * read, executables that could not be hashed), rather than the same ones at every tick or none
 * after the first. A warning whose counts change from tick to tick is the same warning.
 */
export function loopWarnings(io: CliIo): (snap: Pick<Snapshot, 'warnings'>) => void {
  let previous: Set<string> | null = null;
  return (snap) => {
    const keys = new Set<string>();
    for (const warning of snap.warnings) {
      // One namespace's warning names it; the others carry counts that move.
      const key = warning.code === 'W_NAMESPACE_UNREAD' && warning.message.startsWith('network namespace ') ? warning.message : warning.code;
      if (previous === null || !previous.has(key)) io.stderr(`netmon: warning: ${printableMessage(warning.message)}\n`);
      keys.add(key);
    }
    previous = keys;
  };
}

/**
 * Flags that contradict each other, and filter patterns, refused before anything runs: a loop
 * (`--interval`, `watch`) would otherwise fail the same way at every tick.
 */
export async function checkFlags(flags: CollectFlags): Promise<void> {
  const fromConfig = 'it may come from the configuration (the file --config or ./netmon.conf names, or a NETMON_* variable)';
  if (flags.onlyIpv4 && flags.onlyIpv6) {
    throw new ConfigError('E_USAGE', '--only-ipv4 and --only-ipv6 exclude each other: give at most one', {
      hint: 'either may come from the configuration (only_ipv4, only_ipv6 in the file --config or ./netmon.conf names, or NETMON_ONLY_IPV4, NETMON_ONLY_IPV6): set the other to false there, or give neither',
    });
  }
  const { compileFilters, patternMatchingNothing, tuplesWithoutListeners } = await import('../filter/compile-filters.js');
  // Throws a FilterError naming the first bad pattern.
  const filters = compileFilters(flags);
  const unmatchable = patternMatchingNothing(flags);
  if (unmatchable !== null) throw unmatchable;
  if (filters.needsProcess && !flags.processInfo) {
    throw new ConfigError('E_USAGE', '--process, --path and --user filters need process information, which --no-process-info leaves out: give one or the other', {
      hint: `${fromConfig}; process_info: false in the file turns it off`,
    });
  }
  const dead = flags.listeningOnly ? tuplesWithoutListeners(flags.match ?? []) : [];
  if (dead.length > 0) {
    throw new ConfigError('E_USAGE', `--match ${dead.map((p) => `'${printable(p)}'`).join(', ')} selects no listener, and --listening-only keeps listeners only (state LISTEN or UNCONN, remote end *:*): drop one of them`, {
      hint: `${fromConfig}; include_established: false in the file means --listening-only`,
    });
  }
}

/**
 * A `--label` that reads as another kind of snapshot selector (an id, `first`, `latest`, a time)
 * could never select its snapshot: `show 3` is snapshot id 3, not the one labelled "3". Refused
 * at capture, before anything is stored.
 */
export function checkLabel(label: string | undefined): void {
  if (label === undefined) return;
  const text = label.trim();
  const kind = selectorKind(text);
  if (kind === null) return;
  const reads = kind === 'id' ? `snapshot id ${text}` : kind === 'time' ? 'a time (the last snapshot taken at or before it)' : `the ${kind} snapshot`;
  throw new ConfigError('E_USAGE', `--label ${JSON.stringify(label)} would read as ${reads} wherever a snapshot is selected (show, diff --pre/--post), so the snapshot could not be found by its label`, {
    hint: 'give a label that is not a number, first, latest or a time, such as pre, post or pre-3',
  });
}

/**
 * The program's own options (the capture's) given on the command line, as the user wrote them
 * (--no-csv, not --csv), except --config, which every command takes wherever it stands.
 */
function captureOptionsGiven(program: CommandType): string[] {
  const given: string[] = [];
  const seen = new Set<string>();
  for (const option of program.options) {
    const key = option.attributeName();
    if (key === 'config' || seen.has(key) || program.getOptionValueSource(key) !== 'cli') continue;
    seen.add(key);
    const value: unknown = program.getOptionValue(key);
    const written = program.options.find((o) => o.attributeName() === key && (o.negate ? value === false : value !== false)) ?? option;
    given.push(written.long ?? written.flags);
  }
  return given;
}

/** `netmon snapshot`: take a snapshot and print it; no file is written. */
async function runSnapshot(flags: CollectFlags, io: CliIo): Promise<void> {
  await checkFlags(flags);
  const { snapshot } = await import('../snapshot/snapshot.js');
  const progress = progressLine(io, 'snapshot');
  const taken = await snapshot({ ...toSnapshotOptions(flags), ...(io.progress ? { onProgress: progress } : {}) });
  await printSnapshot(taken, flags.output, io);
}

const EXAMPLES = `
Examples:
  netmon --once                        capture now: live view, CSV, evidence store
  netmon --once --label pre --change CHG-1234
  netmon --interval 10                 capture every 10 s until Ctrl-C
  netmon snapshots                     list stored snapshots (netmon show 57: one)
  netmon diff --change CHG-1234        findings of a maintenance window
  netmon init; netmon check            save a baseline; compare now with it
  netmon watch --interval 10           capture, print each change as it happens
  netmon verify-store                  check the evidence store's hash chain
  netmon verify-trail                  check the CSV trail against the store
  netmon gaps                          gaps in monitoring the store records
  netmon prune --older-than 400d       drop old snapshots, chain kept verifiable
  netmon keygen                        the keys that sign evidence packs (once)
  netmon report --change CHG-1234      the signed evidence pack of a window
  netmon verify reports/<pack> --db netmon.db
  netmon snapshot --output json > s.json
  netmon snapshot --listening-only     what listens, with process, user, hashes
  netmon snapshot --filter :22 --filter udp:53
  netmon snapshot --exclude 'tcp*/127.0.0.1/*' --output ecs
  netmon snapshot --match 'tcp * * * ESTABLISHED' --process 'python*'

Exit codes: 0 success, 1 findings at --fail-on (diff, check, watch), 2 usage or
configuration error, 3 runtime failure, 4 evidence failed verification, 130
stopped by Ctrl-C before anything was done.
Without root some sockets cannot be attributed; netmon says how many and how to
fix it.
Docs: docs/cli.md, docs/deployment.md (privilege, running as a service),
docs/architecture.md`;

/** `netmon snapshot --help`: this command's own examples (the program's are about captures and the store). */
const SNAPSHOT_EXAMPLES = `
Examples:
  netmon snapshot                        the inventory now, as a table; nothing is written
  netmon snapshot --output json > s.json the versioned snapshot document, for scripts
  netmon snapshot --listening-only       what listens, with process, user and hashes
  netmon snapshot --filter :22 --filter udp:53
  netmon snapshot --exclude 'tcp*/127.0.0.1/*' --output ecs
  netmon snapshot --match 'tcp * * * ESTABLISHED' --process 'python*'
  netmon snapshot --no-process-info      the sockets only, fastest (no pid, user or hashes)`;

/** Build the command tree. Actions import the library lazily so `--help` stays fast. */
/**
 * Values that the command line gave by mistake: an empty one (`--db ""`, `--label "$UNSET"`), or
 * the next option taken as the value of one left without its own (`--label --no-hash-binaries`
 * stores the label "--no-hash-binaries" and keeps hashing). Both are usage errors, before
 * anything is captured or written.
 */
function checkOptionValues(root: Command, action: Command): void {
  const flags = new Set<string>();
  for (const cmd of [root, action]) {
    for (const o of cmd.options) {
      if (o.long) flags.add(o.long);
      if (o.short) flags.add(o.short);
    }
  }
  for (const o of action.options) {
    if (!o.required && !o.optional) continue; // a flag: no value to check
    const key = o.attributeName();
    if (action.getOptionValueSource(key) !== 'cli') continue;
    const value: unknown = action.getOptionValue(key);
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v !== 'string') continue;
      const example = typeof o.defaultValue === 'string' ? ` (e.g. ${o.long} ${o.defaultValue})` : '';
      if (v.trim() === '') action.error(`error: option '${o.flags}' argument is empty: give it a value${example}`, { exitCode: 2, code: 'netmon.emptyValue' });
      if (flags.has(v.split('=')[0]!)) {
        action.error(`error: option '${o.flags}' took '${v}' as its value, which is an option of this command: give ${o.long ?? o.short} its value first${example}`, { exitCode: 2, code: 'netmon.optionAsValue' });
      }
    }
  }
}

/** `--csv PATH` and `--no-csv` on one command line: refused, rather than the last one silently winning. */
function refuseCsvWithNoCsv(cmd: Command): Command {
  const given = new Set<string>();
  cmd.on('option:csv', () => given.add('--csv'));
  cmd.on('option:no-csv', () => given.add('--no-csv'));
  return cmd.hook('preAction', () => {
    if (given.size === 2) throw new ConfigError('E_USAGE', '--csv and --no-csv exclude each other: give --csv PATH to write the trail there, or --no-csv to write none');
  });
}

/** The width help is fitted to: the terminal's, else 80. */
function helpWidth(io: CliIo): number {
  const columns = io.columns;
  return columns !== undefined && Number.isFinite(columns) && columns >= 40 ? columns : 80;
}

/**
 * Help text fitted to `width` columns, broken at spaces. Prose (unindented lines, joined into
 * paragraphs first) wraps as a paragraph; an example that ends its command with two spaces or more
 * wraps its description under the description's column; another indented line (a long command)
 * goes on four columns further in. Lines that fit are left alone, and a word longer than the width
 * stays whole. Help is netmon's own ASCII text, so a character is a column (measuring with
 * string-width would cost every start of netmon its import). Pure.
 */
export function fitHelp(text: string, width: number): string {
  const lines = text.split('\n');
  const out: string[] = [];
  const wrap = (prefix: string, rest: string, indent: number): void => {
    let current = prefix;
    let empty = true;
    for (const word of rest.split(/ +/).filter((w) => w !== '')) {
      const candidate = empty ? current + word : `${current} ${word}`;
      if (!empty && candidate.length > width) {
        out.push(current);
        current = ' '.repeat(indent) + word;
      } else current = candidate;
      empty = false;
    }
    out.push(current);
  };
  const prose = (line: string | undefined): boolean => line !== undefined && /^\S/.test(line) && !/\S {2,}\S/.test(line) && !line.endsWith(':');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (prose(line) && paragraphWide(lines, i, prose, width)) {
      // A paragraph: this line and the prose lines after it, as one text.
      let j = i;
      const words: string[] = [];
      while (prose(lines[j])) words.push(lines[j++]!);
      wrap('', words.join(' '), 0);
      i = j - 1;
      continue;
    }
    if (line.length <= width) {
      out.push(line);
      continue;
    }
    const lead = /^ */.exec(line)![0].length;
    const column = /^( *\S.*?\S {2,})\S/.exec(line);
    if (column !== null && column[1]!.length <= Math.floor(width * 0.65)) wrap(column[1]!, line.slice(column[1]!.length), column[1]!.length);
    else wrap(' '.repeat(lead), line.slice(lead), lead + 4);
  }
  return out.join('\n');
}

/** Whether a prose paragraph starting at line `i` has a line wider than `width` (only such paragraphs are joined and wrapped again). */
function paragraphWide(lines: readonly string[], i: number, prose: (line: string | undefined) => boolean, width: number): boolean {
  for (let j = i; prose(lines[j]); j++) if (lines[j]!.length > width) return true;
  return false;
}

/**
 * commander's usage error as netmon's lines: "netmon: error: ..." and, for its suggestion on a line
 * of its own, "netmon: hint: did you mean ...?" (a new-user probe found unprefixed lines in a pipe
 * of netmon's messages). A capture option given to a command gets the hint of where it belongs. Pure.
 */
export function commanderError(text: string): string {
  const lines = text.replace(/\n$/, '').split('\n').map((line) => {
    const suggestion = /^\(Did you mean (.*)\?\)$/.exec(line);
    return suggestion ? `netmon: hint: did you mean ${suggestion[1]}?` : `netmon: ${line}`;
  });
  const capture = /^error: unknown option '(--once|--interval)'/.exec(text);
  if (capture) lines.push(`netmon: hint: ${capture[1]} is netmon's own option, not a command's: \`netmon ${capture[1] === '--once' ? '--once' : '--interval 10'}\` captures into the store and the CSV trail; \`netmon snapshot\` prints the inventory and writes nothing`);
  return `${lines.join('\n')}\n`;
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('netmon')
    .description('Compliance evidence collector: a complete, process-attributed inventory of network sockets')
    .version(NETMON_VERSION, '-V, --version')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .showHelpAfterError('netmon: hint: add --help for usage and examples')
    // commander's usage errors begin with "error:"; netmon's own messages with "netmon: error:".
    // Help fits the terminal, or 80 columns into a pipe (a new-user probe found lines of up to 106).
    .configureOutput({ writeOut: (text) => io.stdout(fitHelp(text, helpWidth(io))), writeErr: io.stderr, outputError: (text, write) => write(commanderError(text)) })
    // Subcommands made with .command() inherit these two (commander's copyInheritedSettings).
    .exitOverride();

  program.option('--config <file>', CONFIG_HELP);
  // Configuration (file, then NETMON_* environment) fills the options the command line left unset.
  // --config may come before the command or after it (every command takes it too, below).
  program.hook('preAction', async (_root, action) => {
    // A misspelt command (or `netmon help`) is said before any configuration is read: a broken
    // netmon.conf must not hide it.
    if (action === program && program.args.length > 0) return;
    // Options before a command are the capture's (positional options): the command never sees
    // them, so `netmon --label pre snapshot` would run without its label and store nothing.
    const early = captureOptionsGiven(program);
    if (action !== program && early.length > 0) {
      throw new ConfigError('E_USAGE', `${early.join(', ')} came before the command '${action.name()}', where ${early.length === 1 ? 'it is an option' : 'they are options'} of the capture (netmon --once or --interval) and ${action.name()} does not see ${early.length === 1 ? 'it' : 'them'}`, {
        hint: `give a command's options after its name (netmon ${action.name()} --help lists them)`,
      });
    }
    checkOptionValues(program, action);
    if (action !== program && action.args.length > action.registeredArguments.length) {
      const expected = action.registeredArguments.length;
      action.error(`error: too many arguments for '${action.name()}'. Expected ${expected} argument${expected === 1 ? '' : 's'} but got ${action.args.length}: ${action.args.map((a) => `'${printable(a)}'`).join(' ')}.`, {
        exitCode: 2,
        code: 'commander.excessArguments',
      });
    }
    const { applyConfig } = await import('./apply-config.js');
    applyConfig(action.opts<{ config?: string }>().config ?? program.opts<{ config?: string }>().config, action, io.env);
  });

  addCollectOptions(
    program
      .option('--once', 'capture one snapshot: print it, append it to the CSV trail and the evidence store')
      .option('--interval <seconds>', 'capture every N seconds until SIGINT, SIGTERM or SIGHUP', parseSeconds)
      .option('--label <text>', 'tag the snapshots, e.g. pre or post')
      .option('--change <ticket>', 'tag the snapshots with a change ticket, e.g. CHG-1234')
      .option('--db <path>', 'SQLite evidence store', 'netmon.db')
      .option('--csv <path>', 'CSV trail', 'network_connections.csv')
      .option('--no-csv', 'do not write the CSV trail')
      .option('--csv-every-tick', 'with --interval, write every socket at every tick to the CSV (default: changes only)')
      .option('--lock-wait <seconds>', LOCK_WAIT_HELP, parseWait)
      .option('--take-over', TAKE_OVER_HELP),
  );
  refuseCsvWithNoCsv(program);
  program.addHelpText('after', `${PATTERN_HELP}\n${EXAMPLES}`);
  program.action(async (flags: CaptureFlags) => {
    // Words on the command line that are no command: a misspelt one, or `netmon help`.
    const [word] = program.args;
    if (word !== undefined) {
      if (word === 'help') {
        // `netmon help report`: that command's help, as `netmon report --help` prints it.
        const topic = program.args[1];
        const command = topic === undefined ? undefined : program.commands.find((c) => c.name() === topic);
        if (topic !== undefined && command === undefined) {
          const names = program.commands.map((c) => c.name());
          const near = closestName(topic, names);
          throw new ConfigError('E_USAGE', `no help for '${topic}': it is not a command${near === null ? '' : ` (Did you mean ${near}?)`}`, { hint: `the commands are ${names.join(', ')}` });
        }
        (command ?? program).outputHelp();
        return;
      }
      const names = program.commands.map((c) => c.name());
      const near = closestName(word, names);
      throw new ConfigError('E_USAGE', `unknown command '${word}'${near === null ? '' : ` (Did you mean ${near}?)`}`, { hint: `the commands are ${names.join(', ')}; netmon --help says what each does` });
    }
    if (!flags.once && flags.interval === undefined) {
      const given = captureOptionsGiven(program);
      if (given.length > 0) {
        throw new ConfigError('E_USAGE', `${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} to a capture: add --once (one snapshot) or --interval SECONDS`, {
          hint: 'for example: netmon --once --label pre --change CHG-1234; to print the inventory without writing any file: netmon snapshot',
        });
      }
      program.outputHelp();
      return;
    }
    if (flags.csvEveryTick && (flags.once || flags.csv === false)) {
      throw new ConfigError('E_USAGE', flags.csv === false ? '--csv-every-tick and --no-csv exclude each other: give at most one' : '--csv-every-tick applies to --interval: a --once capture writes every socket to the CSV trail anyway', {
        hint: 'netmon --interval 10 --csv-every-tick writes every socket at every tick, as netmon.py did',
      });
    }
    await checkFlags(flags);
    checkLabel(flags.label);
    const { runCapture } = await import('./capture-command.js');
    await runCapture(flags, io);
  });

  const snap = program
    .command('snapshot')
    .description('print the current socket inventory; writes no file (for pipes and scripts)');
  addCollectOptions(snap);
  snap.addHelpText('after', `${PATTERN_HELP}\n${SNAPSHOT_EXAMPLES}`);
  snap.action(async (flags: CollectFlags) => runSnapshot(flags, io));

  program
    .command('snapshots')
    .description('list the snapshots in the evidence store')
    .option('--db <path>', 'SQLite evidence store', 'netmon.db')
    .option('--label <text>', 'only snapshots with this label (pre, post, ...)')
    .option('--change <ticket>', 'only snapshots of this change ticket')
    .option('--host <name>', 'only snapshots taken on this host (a store on a shared file system can hold several)')
    .option('--from <time>', 'only snapshots taken at or after this ISO time or age (24h, 7d)')
    .option('--to <time>', 'only snapshots taken at or before this ISO time or age')
    .option('--last <n>', 'only the last N of those (an --interval store holds 8,640 snapshots a day at 10 s)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExamples:\n  netmon snapshots --change CHG-1234        the pre and post captures of a change\n  netmon snapshots --last 20                the newest 20\n  netmon snapshots --from 24h --label pre   pre captures of the last day\n  netmon snapshots --from 2026-11-01 --to 2026-11-02 -o json\n')
    .action(async (flags: import('./store-commands.js').SnapshotsFlags) => (await import('./store-commands.js')).listSnapshots(flags, io));

  program
    .command('gaps')
    .description('list the gaps in monitoring (and clock steps) the evidence store records')
    .option('--db <path>', 'SQLite evidence store', 'netmon.db')
    .option('--from <time>', 'only those at or after this ISO time or age (24h, 7d)')
    .option('--to <time>', 'only those at or before this ISO time or age')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nA gap is time without evidence: a capture killed or stopped, a system suspended, captures that failed\nor found the store locked. Clock steps are not gaps; they shift the snapshot times after them.\n\nExamples:\n  netmon gaps                    every gap the store records\n  netmon gaps --from 30d -o json\n')
    .action(async (flags: import('./store-commands.js').GapsFlags) => (await import('./store-commands.js')).listGaps(flags, io));

  program
    .command('show')
    .description('print a stored snapshot as --once printed it')
    .argument('<snapshot>', 'snapshot id (see netmon snapshots), first, latest, a label or an ISO time')
    .option('--db <path>', 'SQLite evidence store', 'netmon.db')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'ecs']).default('text'))
    .addHelpText('after', '\nExamples:\n  netmon show 57\n  netmon show latest -o json\n  netmon show post          (the last snapshot labelled post)\n  netmon show 2026-11-23T02:00Z   (the last snapshot taken at or before that time)\n')
    .action(async (id: string, flags: { db: string; output: OutputFormat }) => (await import('./store-commands.js')).showSnapshot(id, flags, io));

  program
    .command('verify-store')
    .description('recompute the evidence store hash chain; names the first bad record (exit 4)')
    .option('--db <path>', 'SQLite evidence store', 'netmon.db')
    .option('--expect-head <hash>', 'a head hash recorded earlier (repeatable): it must still be a record of the chain', (value: string, previous: string[] = []) => [...previous, value])
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nA store whose tail was cut off or rewritten from some record on still verifies on its own: its\nchain is consistent. Record the head hash it prints somewhere its writers cannot change (a log\nhost, a ticket), and give it back with --expect-head: a store that lost or rewrote that record fails.\n\nExamples:\n  netmon verify-store                       the store in this directory; exit 4 names the first bad record\n  netmon verify-store --db /var/lib/netmon/netmon.db -o json\n  netmon verify-store --expect-head 3f9c...e1   (the 64 hex digits printed by an earlier run)\n',
    )
    .action(async (flags: { db: string; output: 'text' | 'json'; expectHead?: string[] }) => (await import('./store-commands.js')).verifyStore(flags, io));

  program
    .command('verify-trail')
    .description('check the CSV trail row by row against the evidence store; names each row that differs (exit 4)')
    .option('--csv <path>', 'CSV trail', 'network_connections.csv')
    .option('--db <path>', 'SQLite evidence store', 'netmon.db')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nEach snapshot\'s rows are made again from the store, as the capture made them, and must be in the\ntrail: a row edited, added or removed is named with its line. Rows of snapshots a prune removed\nfrom the store are counted, not checked. The end of the file is checked against where netmon\nrecorded it left that very file; a copy or a file saved again by another program is read, but\nits end cannot be checked (a note says so).\n\nExit codes: 0 the trail matches the store, 4 it does not (each problem on stdout), 3 a file\ncannot be read, 2 usage.\n\nExamples:\n  netmon verify-trail                       network_connections.csv against netmon.db, here\n  netmon verify-trail --csv /var/log/netmon/connections.csv --db /var/lib/netmon/netmon.db -o json\n',
    )
    .action(async (flags: { db: string; csv: string; output: 'text' | 'json' }) => (await import('./store-commands.js')).verifyTrailCommand(flags, io));

  program
    .command('diff')
    .description('findings between two stored snapshots, mapped to compliance controls (exit 1 at --fail-on)')
    .option('--change <ticket>', 'compare the snapshots labelled pre and post for this change ticket')
    .option('--pre <snapshot>', 'the before snapshot: id, label, ISO time, first or latest')
    .option('--post <snapshot>', 'the after snapshot: id, label, ISO time, first or latest')
    .option('--host <name>', 'select only snapshots taken on this host')
    .option('--allow-host-change', 'compare snapshots of two hosts (a host renamed in the window); refused otherwise')
    .option('--db <path>', 'SQLite evidence store', 'netmon.db')
    .option('--controls <file>', 'controls catalogue (default: the one netmon ships, templates/controls.yaml in its package)')
    .option('--expect <file>', 'expected changes (YAML): findings they cover are approved, what did not happen is missing')
    .addOption(new Option('--fail-on <severity>', 'exit 1 when a finding that --expect does not approve is at or above this severity').choices(['info', 'low', 'medium', 'high', 'critical']).default('medium'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'ecs']).default('text'))
    .addHelpText('after', '\nExamples:\n  netmon diff --change CHG-1234             the snapshots labelled pre and post for the ticket\n  netmon diff --pre 12 --post latest --expect expected.yaml\n  netmon diff --pre first --post latest --fail-on high -o json\n')
    .action(async (flags: import('./diff-command.js').DiffFlags) => (await import('./diff-command.js')).runDiff(flags, io));

  const baselineOptions = (cmd: Command): Command =>
    addCollectOptions(cmd)
      .option('--db <path>', 'SQLite evidence store', 'netmon.db')
      .option('--baseline <file>', 'keep the baseline in this JSON file instead of the store');
  const findingOptions = (cmd: Command): Command =>
    cmd
      .option('--allow <file>', 'standing allow-list (the --expect format): findings it covers are approved')
      .option('--controls <file>', 'controls catalogue (default: the one netmon ships, templates/controls.yaml in its package)')
      .addOption(new Option('--fail-on <severity>', 'exit 1 when a finding that is not approved is at or above this severity').choices(['info', 'low', 'medium', 'high', 'critical']).default('medium'));

  const init = baselineOptions(program.command('init').description('save the current inventory as the baseline for check and watch'));
  // init prints no inventory: its --output (shared with the other collecting commands) is refused below, and not offered.
  init.options.find((o) => o.long === '--output')?.hideHelp();
  init
    .option('--lock-wait <seconds>', LOCK_WAIT_HELP, parseWait)
    .addHelpText('after', PATTERN_HELP)
    .addHelpText('after', '\nExamples:\n  netmon init --listening-only              what listens now becomes the baseline (kept in netmon.db)\n  netmon init --baseline baseline.json      keep it in a JSON file instead\n')
    .action(async (flags: import('./baseline-commands.js').BaselineFlags & { lockWait?: number }, cmd: CommandType) => {
      await checkFlags(flags);
      // (output_format in the configuration is for the commands that print: not refused here.)
      if (flags.output !== 'text' && cmd.getOptionValueSource('output') === 'cli') {
        throw new ConfigError('E_USAGE', `init prints no inventory: --output ${flags.output} applies to snapshot, check and watch`, {
          hint: 'netmon init saves the baseline; netmon snapshot --output json prints the same inventory as a document',
        });
      }
      return (await import('./baseline-commands.js')).runInit(flags, io);
    });

  findingOptions(baselineOptions(program.command('check').description('compare the current inventory with the baseline; exit 1 at --fail-on (for cron and CI)')))
    .addHelpText('after', PATTERN_HELP)
    .addHelpText('after', '\nExamples:\n  netmon check                              exit 1 on a finding not approved, at or above medium\n  netmon check --allow allow.yaml --fail-on high -o json\n')
    .action(async (flags: import('./baseline-commands.js').BaselineFlags & { output: OutputFormat }) => {
      await checkFlags(flags);
      return (await import('./baseline-commands.js')).runCheck(flags, io);
    });

  findingOptions(baselineOptions(program.command('watch').description('capture every N seconds like --interval and print each change once, as it happens')))
    .option('--interval <seconds>', 'seconds between captures (default: 60)', parseSeconds)
    .option('--csv <path>', 'CSV trail', 'network_connections.csv')
    .option('--no-csv', 'do not write the CSV trail')
    .option('--label <text>', 'tag the snapshots')
    .option('--change <ticket>', 'tag the snapshots with a change ticket')
    .option('--lock-wait <seconds>', LOCK_WAIT_HELP, parseWait)
    .option('--take-over', TAKE_OVER_HELP)
    .addHelpText('after', PATTERN_HELP)
    .addHelpText('after', '\nThe first capture is compared with the baseline (netmon init), or, without one, with the store\'s\nlast snapshot of this host (what changed while netmon was not watching); each later capture\nwith the one before.\n\nExamples:\n  netmon watch --interval 10                each change against the baseline, until Ctrl-C\n  netmon watch --interval 30 --allow allow.yaml -o ecs >> findings.ndjson\n')
    .action(async (flags: import('./baseline-commands.js').BaselineFlags & CaptureFlags & { output: OutputFormat }) => {
      await checkFlags(flags);
      checkLabel(flags.label);
      return (await import('./baseline-commands.js')).runWatch(flags, io);
    });

  program
    .command('init-config')
    .description('write a commented default configuration file')
    .option('--path <file>', 'where to write it', 'netmon.conf')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', '\nExamples:\n  netmon init-config                        netmon.conf here, which netmon then reads by itself\n  netmon init-config --path /etc/netmon.conf; NETMON_CONFIG=/etc/netmon.conf netmon --once\n')
    .action(async (flags: { path: string; force?: boolean }) => (await import('./apply-config.js')).initConfig(flags, io));

  program
    .command('keygen')
    .description('create the Ed25519 key pair that signs evidence packs (private key written 0600)')
    .option('--keys <dir>', 'directory for signer.key.pem/signer.pub.pem (Ed25519, the manifest) and signer.p12/signer.cert.pem (the PDF signature)', 'netmon-keys')
    .addHelpText('after', '\nExamples:\n  netmon keygen                             netmon-keys/ here, where netmon report looks\n  netmon keygen --keys /etc/netmon/keys; netmon report --keys /etc/netmon/keys --change CHG-1234\n')
    .action(async (flags: { keys: string }) => (await import('./pack-commands.js')).runKeygen(flags, io));

  program
    .command('report')
    .description('write a signed evidence pack of a maintenance window (signed report.pdf, findings and inventory CSVs, evidence.json, signed manifest, SHA256SUMS)')
    .option('--change <ticket>', 'the window of the snapshots labelled pre and post for this ticket')
    .option('--pre <snapshot>', 'the before snapshot: id, label, ISO time, first or latest')
    .option('--post <snapshot>', 'the after snapshot: id, label, ISO time, first or latest')
    .option('--from <time>', 'a monitoring period without a ticket: from this ISO time or age (24h, 7d) ...')
    .option('--to <time>', '... to this ISO time or age (default: now); first and last snapshot inside are compared')
    .option('--host <name>', 'select only snapshots taken on this host')
    .option('--allow-host-change', 'compare snapshots of two hosts (a host renamed in the window); refused otherwise')
    .option('--db <path>', 'SQLite evidence store', 'netmon.db')
    .option('--out <dir>', 'where pack directories are written', 'reports')
    .option('--keys <dir>', 'signing keys from netmon keygen', 'netmon-keys')
    .option('--expect <file>', 'expected changes: findings they cover are approved')
    .option('--controls <file>', 'controls catalogue (default: the one netmon ships, templates/controls.yaml in its package)')
    .option('--sign-p12 <file>', 'sign report.pdf with this PKCS#12 identity, RSA or EC (for example CA-issued), instead of the keygen one')
    .option('--sign-p12-passphrase <text>', 'passphrase of --sign-p12 (default: none; visible in the process list, prefer the file)')
    .option('--sign-p12-passphrase-file <file>', 'read the passphrase of --sign-p12 from the first line of this file')
    .option('--no-pdf', 'leave report.pdf out (CSV and JSON only)')
    .addHelpText('after', '\nExamples:\n  netmon keygen\n  netmon report --change CHG-1234\n  netmon report --pre 12 --post latest --expect expected.yaml --out /srv/evidence\n  netmon report --from 7d                      (the last week, first and last snapshot)\n  netmon report --from 2026-11-01T00:00Z --to 2026-11-02T00:00Z\n  pdfsig reports/<pack>/report.pdf; netmon verify reports/<pack>\n')
    .action(async (flags: import('./pack-commands.js').ReportFlags) => {
      const { ConfigError } = await import('../errors.js');
      if (flags.from !== undefined && (flags.pre !== undefined || flags.post !== undefined)) throw new ConfigError('E_USAGE', 'give --from/--to or --pre/--post, not both');
      if (flags.to !== undefined && flags.from === undefined) throw new ConfigError('E_USAGE', '--to needs --from');
      if (flags.from === undefined && flags.change === undefined && (flags.pre === undefined || flags.post === undefined)) {
        throw new ConfigError('E_USAGE', 'give --change TICKET, both --pre and --post, or --from TIME [--to TIME]');
      }
      await (await import('./pack-commands.js')).runReport(flags, io);
    });

  program
    .command('verify')
    .description('check an evidence pack: file hashes, manifest signature, and with --db the store records (exit 4 on failure)')
    .argument('<pack>', 'pack directory')
    .option('--db <path>', 'also check the pack against this evidence store: its records, its head, and the snapshots and findings it holds')
    .option('--signer <fingerprint>', 'require the manifest to be signed by this key (its SHA-256 fingerprint, or at least its first 16 hex digits, as `netmon keygen` printed it)')
    .addHelpText(
      'after',
      '\nExamples:\n  netmon verify reports/<pack>              the files, their hashes and the manifest signature\n  netmon verify reports/<pack> --db netmon.db   and the pack against the store it was made from\n  netmon verify reports/<pack> --signer 3f9a0c1d2e4b5a6f   and that your organisation\'s key signed it\n  pdfsig reports/<pack>/report.pdf          the PDF signature, with poppler\n',
    )
    .action(async (pack: string, flags: { db?: string; signer?: string }) => (await import('./pack-commands.js')).runVerify(pack, flags, io));

  program
    .command('prune')
    .description('remove snapshots older than a time; the hash chain stays verifiable and the prune is recorded')
    .requiredOption('--older-than <age>', 'an age (400d, 12h, 30m, 90s) or an ISO 8601 date')
    .option('--db <path>', 'SQLite evidence store', 'netmon.db')
    .option('--vacuum', 'then give the freed space back to the file system (rewrites the file: needs as much free disk space again)')
    .option('--dry-run', 'say what would be removed, and change nothing')
    .addHelpText('after', '\nExamples:\n  netmon prune --older-than 400d --dry-run   what keeping 400 days would remove\n  netmon prune --older-than 400d             keep 400 days of evidence\n  netmon prune --older-than 2026-01-01 --vacuum\n')
    .action(async (flags: { db: string; olderThan: string; vacuum?: boolean; dryRun?: boolean }) => (await import('./store-commands.js')).pruneStore(flags, io));

  refuseCsvWithNoCsv(program.commands.find((c) => c.name() === 'watch')!);
  // keygen and init-config read no configuration: they take --config (a script may pass it to
  // every command) without offering it in their help (a new-user probe took it for one they read).
  for (const command of program.commands) {
    if (['keygen', 'init-config'].includes(command.name())) command.addOption(new Option('--config <file>', CONFIG_HELP).hideHelp());
    else command.option('--config <file>', CONFIG_HELP);
  }
  // The program takes words it does not know: its action names a misspelt command instead of
  // "too many arguments". Subcommands count their words in the preAction hook, after
  // checkOptionValues: a word left over is most often the value of an option whose own value was
  // forgotten (`diff --change --expect e.yaml`), which that check names.
  program.allowExcessArguments(true);
  for (const command of program.commands) command.allowExcessArguments(true);
  return program;
}

