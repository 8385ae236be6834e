import { isAbsolute, resolve } from 'node:path';
import { ConfigError, FilterError } from '../errors.js';
import { parseEndpointFilter } from '../filter/endpoint-filter.js';
import { closestName } from '../model/names.js';

/**
 * The configuration file: `key = value` lines, `#` comments, the keys PortWatchZ uses plus
 * netmon's own. Precedence: defaults < config file < NETMON_* environment < command-line flags.
 */

type Kind = 'boolean' | 'number' | 'string' | 'path' | 'list' | 'choice';

interface KeySpec {
  kind: Kind;
  /** The command-line option it stands for (commander's camel-case name). */
  option: string;
  /** Commands it applies to; absent: every command that has the option. */
  commands?: string[];
  /** Commands it never applies to, although they have the option. */
  except?: string[];
  choices?: readonly string[];
  /** Turn the value into the option's value (e.g. include_established -> !listeningOnly). */
  map?: (value: unknown) => unknown;
  help: string;
}

/** Every key the file and the environment accept. */
export const CONFIG_KEYS: Readonly<Record<string, KeySpec>> = {
  baseline_path: { kind: 'path', option: 'baseline', help: 'baseline JSON file for init, check and watch (default: in the store)' },
  watch_interval: { kind: 'number', option: 'interval', commands: ['watch'], help: 'seconds between captures of netmon watch' },
  output_format: { kind: 'choice', option: 'output', choices: ['text', 'json', 'ecs'], help: 'text, json or ecs' },
  include_established: { kind: 'boolean', option: 'listeningOnly', map: (v) => !v, help: 'report connections too, not only listeners (default true)' },
  include_ephemeral: { kind: 'boolean', option: 'includeEphemeral', help: 'keep listeners on ephemeral ports (default false)' },
  process_info: { kind: 'boolean', option: 'processInfo', help: 'attribute sockets to processes (default true)' },
  hash_binaries: { kind: 'boolean', option: 'hashBinaries', help: 'hash executables (default true)' },
  hash_timeout: { kind: 'number', option: 'hashTimeout', help: 'seconds one read of an executable may take before it is left unhashed (default 10)' },
  only_ipv4: { kind: 'boolean', option: 'onlyIpv4', help: 'only IPv4 sockets' },
  only_ipv6: { kind: 'boolean', option: 'onlyIpv6', help: 'only IPv6 sockets' },
  port_filter: { kind: 'list', option: 'filter', help: 'an endpoint filter (repeatable): ":22", "tcp:8080", "[::1]:22"' },
  // Not for verify, whose --db means "check the pack against this store too", which only the command line asks for.
  db_path: { kind: 'path', option: 'db', except: ['verify'], help: 'SQLite evidence store (default netmon.db)' },
  csv_path: { kind: 'path', option: 'csv', help: 'CSV trail (default network_connections.csv)' },
  fail_on: { kind: 'choice', option: 'failOn', choices: ['info', 'low', 'medium', 'high', 'critical'], help: 'severity from which check, watch and diff exit 1' },
  controls_path: { kind: 'path', option: 'controls', help: 'controls catalogue (default templates/controls.yaml)' },
  allow_path: { kind: 'path', option: 'allow', help: 'standing allow-list for check and watch' },
};

/** Keys of a later release: a file that sets them is refused, not silently half-applied. */
const NOT_YET = /^webhook_/;

/** One configured value and where it came from. */
export interface ConfigValue {
  key: string;
  value: unknown;
  /** "netmon.conf:12" or "environment variable NETMON_OUTPUT_FORMAT". */
  origin: string;
}

/** A configuration as written: only what a file or the environment set. */
export type WrittenConfig = Map<string, ConfigValue>;

const TRUE = new Set(['true', 'yes', 'on', '1']);

/** Every problem of a configuration, one per line, none longer than a few lines of a terminal (a pattern of megabytes is cut). */
/** The most problems a configuration error lists one by one (a binary given as the file makes hundreds of thousands). */
const PROBLEMS_LISTED = 20;

function invalidConfig(problems: string[]): ConfigError {
  const lines = problems.slice(0, PROBLEMS_LISTED).map((p) => (p.length <= 400 ? p : `${p.slice(0, 300)}... (${p.length} characters)`));
  if (problems.length > PROBLEMS_LISTED) lines.push(`and ${problems.length - PROBLEMS_LISTED} more problems (is it a netmon configuration file at all?)`);
  return new ConfigError('E_CONFIG', `the configuration is not valid:\n  ${lines.join('\n  ')}`);
}

/** Text from a file or variable, quoted for a message: a long one cut, so that an error never echoes megabytes. */
function quoted(text: string): string {
  return text.length <= 120 ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, 100))}... (${text.length} characters)`;
}
const FALSE = new Set(['false', 'no', 'off', '0']);

function convert(key: string, spec: KeySpec, text: string, origin: string, problems: string[]): unknown {
  switch (spec.kind) {
    case 'boolean': {
      const v = text.toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      problems.push(`${origin}: ${key}: ${quoted(text)} is not true or false`);
      return undefined;
    }
    case 'number': {
      const n = Number(text);
      if (!/^\d+(\.\d+)?$/.test(text) || !(n >= 0.1 && n <= 86400)) {
        problems.push(`${origin}: ${key}: ${quoted(text)} is not a number of seconds from 0.1 to 86400`);
        return undefined;
      }
      return n;
    }
    case 'choice':
      if (!spec.choices!.includes(text)) {
        problems.push(`${origin}: ${key}: ${quoted(text)} is not one of ${spec.choices!.join(', ')}`);
        return undefined;
      }
      return text;
    case 'list': {
      // Commas separate patterns here as in NETMON_PORT_FILTER (`port_filter = :22, udp:53`); no pattern holds one.
      const patterns = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
      if (patterns.length === 0) {
        problems.push(`${origin}: ${key}: no pattern given`);
        return undefined;
      }
      for (const pattern of patterns) {
        try {
          parseEndpointFilter(pattern);
        } catch (error) {
          problems.push(`${origin}: ${key}: ${error instanceof FilterError ? error.message : String(error)}`);
          return undefined;
        }
      }
      return patterns;
    }
    default:
      if (text === '') {
        problems.push(`${origin}: ${key}: the value is empty`);
        return undefined;
      }
      return text;
  }
}

function checkKey(key: string, origin: string, problems: string[]): KeySpec | undefined {
  if (NOT_YET.test(key)) {
    problems.push(`${origin}: ${key}: webhook delivery is not part of this netmon release; remove the webhook_* keys`);
    return undefined;
  }
  const spec = CONFIG_KEYS[key];
  if (!spec) {
    const near = closestName(key, Object.keys(CONFIG_KEYS));
    problems.push(`${origin}: unknown key ${quoted(key)}${near === null ? '' : ` (did you mean ${near}?)`} (known: ${Object.keys(CONFIG_KEYS).join(', ')})`);
  }
  return spec;
}

/**
 * Parse a configuration file. Every problem is collected with file and line; any problem stops
 * with one ConfigError. A repeated key is an error, except `port_filter`, which accumulates. Pure.
 */
/**
 * Parse a configuration file. A relative path (the `*_path` keys) is taken from `relativeTo`,
 * the file's own directory, when given: `db_path = netmon.db` in /etc/netmon/netmon.conf is
 * /etc/netmon/netmon.db whatever directory netmon runs in (as a service, often /). Pure.
 */
export function parseConfigFile(text: string, source: string, relativeTo?: string): WrittenConfig {
  const config: WrittenConfig = new Map();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const origin = `${source}:${i + 1}`;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) return problems.push(`${origin}: expected "key = value", got ${quoted(line)}`);
    const key = line.slice(0, eq).trim().toLowerCase();
    let value = line.slice(eq + 1).trim();
    // A quoted value ends at its closing quote; after it, and after a space in a value that is not
    // quoted, "#" begins a comment (`db_path = /var/lib/netmon/netmon.db  # the evidence`).
    const quote = value[0] === '"' || value[0] === "'" ? value[0] : null;
    const close = quote === null ? -1 : value.indexOf(quote, 1);
    // An opening quote that never closes is a typo, not part of the value (a new-user probe got a store named `"unterminated`).
    if (quote !== null && close < 0) return problems.push(`${origin}: ${key}'s value begins with ${quote} but has no closing ${quote}`);
    if (quote !== null && close > 0) {
      const rest = value.slice(close + 1).trim();
      if (rest !== '' && !rest.startsWith('#')) return problems.push(`${origin}: ${quoted(rest)} after the closing quote of ${key}'s value (a comment begins with #)`);
      value = value.slice(1, close);
    } else {
      const comment = /\s#/.exec(value);
      if (comment) value = value.slice(0, comment.index).trim();
    }
    const spec = checkKey(key, origin, problems);
    if (!spec) return;
    let converted = convert(key, spec, value, origin, problems);
    if (converted === undefined) return;
    if (spec.kind === 'path' && relativeTo !== undefined && converted !== '' && !isAbsolute(String(converted))) converted = resolve(relativeTo, String(converted));
    const known = config.get(key);
    if (known && spec.kind !== 'list') return problems.push(`${origin}: ${key} is set again (first at ${known.origin})`);
    // A list grows in place: copying it at each line made a file of many filters take quadratic time.
    if (known) (known.value as string[]).push(...(converted as string[]));
    else config.set(key, { key, value: converted, origin });
  });
  if (problems.length > 0) throw invalidConfig(problems);
  return config;
}

/** NETMON_<KEY> variables (NETMON_PORT_FILTER takes comma-separated filters). Pure. */
export function configFromEnvironment(env: NodeJS.ProcessEnv): WrittenConfig {
  const config: WrittenConfig = new Map();
  const problems: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('NETMON_') || raw === undefined) continue;
    const key = name.slice(7).toLowerCase();
    // Switches of netmon's runtime and of its benchmark (NETMON_BENCH_*), not configuration keys.
    if (['config', 'native', 'threads', 'sock_diag', 'debug'].includes(key) || key.startsWith('bench_')) continue;
    const origin = `environment variable ${name}`;
    const spec = checkKey(key, origin, problems);
    if (!spec) continue;
    const parts = spec.kind === 'list' ? raw.split(',').map((p) => p.trim()).filter((p) => p !== '') : [raw.trim()];
    const values = parts.map((p) => convert(key, spec, p, origin, problems));
    if (values.some((v) => v === undefined)) continue;
    config.set(key, { key, value: spec.kind === 'list' ? values.flat() : values[0], origin });
  }
  if (problems.length > 0) throw invalidConfig(problems);
  return config;
}

/**
 * The option values a command takes from the configuration: environment over file. Options the
 * command does not have, or keys restricted to other commands, are left out. Pure.
 */
export function optionsFromConfig(file: WrittenConfig, env: WrittenConfig, command: string, has: (option: string) => boolean): { option: string; value: unknown; origin: string }[] {
  const out: { option: string; value: unknown; origin: string }[] = [];
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    if (!appliesTo(spec, command, has)) continue;
    const chosen = env.get(key) ?? file.get(key);
    if (!chosen) continue;
    // Of two keys that exclude each other, one set in the environment outranks one set in the file.
    const partner = EXCLUSIVE_KEYS[key];
    if (partner !== undefined && !env.has(key) && env.get(partner)?.value === true && chosen.value === true) continue;
    out.push({ option: spec.option, value: spec.map ? spec.map(chosen.value) : chosen.value, origin: chosen.origin });
  }
  return out;
}

/** Keys that exclude each other when both are true. */
const EXCLUSIVE_KEYS: Readonly<Record<string, string>> = { only_ipv4: 'only_ipv6', only_ipv6: 'only_ipv4' };

function appliesTo(spec: KeySpec, command: string, has: (option: string) => boolean): boolean {
  return (spec.commands === undefined || spec.commands.includes(command)) && !(spec.except ?? []).includes(command) && has(spec.option);
}

/** Whether any key of the configuration applies to a command: one that takes none need not read it (init-config rewriting a broken one). Pure. */
export function configAppliesTo(command: string, has: (option: string) => boolean): boolean {
  return Object.values(CONFIG_KEYS).some((spec) => appliesTo(spec, command, has));
}

/** Seconds between captures of `netmon watch` when neither --interval nor watch_interval says. */
export const WATCH_DEFAULT_INTERVAL_S = 60;

/** The commented default configuration `netmon init-config` writes. */
export function defaultConfigText(): string {
  const lines = [
    '# netmon configuration: key = value, one per line; # starts a comment, also after a value',
    '# (after a space, or after a quoted value: path = "/srv/a b.db"  # the store).',
    '# Precedence: built-in defaults < this file < NETMON_<KEY> environment variables < command-line flags.',
    '# Every key is optional; the values shown are the defaults, but for port_filter, which has',
    '# none (every port) and shows an example.',
    "# A relative path (the *_path keys) is taken from this file's directory.",
    '',
  ];
  const defaults: Record<string, string> = {
    baseline_path: '',
    watch_interval: String(WATCH_DEFAULT_INTERVAL_S),
    output_format: 'text',
    include_established: 'true',
    include_ephemeral: 'false',
    process_info: 'true',
    hash_binaries: 'true',
    hash_timeout: '10',
    only_ipv4: 'false',
    only_ipv6: 'false',
    port_filter: ':22',
    db_path: 'netmon.db',
    csv_path: 'network_connections.csv',
    fail_on: 'medium',
    controls_path: '',
    allow_path: '',
  };
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    lines.push(`# ${spec.help}`);
    lines.push(key === 'port_filter' ? `# ${key} = ${defaults[key]}    # an example: no filter by default` : `# ${key} = ${defaults[key] ?? ''}`.trimEnd());
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
