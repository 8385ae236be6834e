import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configFromEnvironment, CONFIG_KEYS, defaultConfigText, optionsFromConfig, parseConfigFile } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';

function problems(text: string): string {
  try {
    parseConfigFile(text, 'n.conf');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration file', () => {
  it('reads PortWatchZ keys: comments, quotes, booleans, numbers, repeatable port_filter', () => {
    const c = parseConfigFile('# comment\n\nbaseline_path = "/var/lib/netmon/base.json"\nwatch_interval=30\ninclude_established = no\nhash_binaries = TRUE\nport_filter = :22\nport_filter = udp:53\n', 'n.conf');
    expect(c.get('baseline_path')?.value).toBe('/var/lib/netmon/base.json');
    expect(c.get('watch_interval')).toEqual({ key: 'watch_interval', value: 30, origin: 'n.conf:4' });
    expect(c.get('include_established')?.value).toBe(false);
    expect(c.get('hash_binaries')?.value).toBe(true);
    expect(c.get('port_filter')?.value).toEqual([':22', 'udp:53']);
  });

  it('takes commas between port_filter patterns as NETMON_PORT_FILTER does, and refuses a quote that never closes (a new-user probe)', () => {
    expect(parseConfigFile('port_filter = :22, udp:53\nport_filter = tcp:8080\n', 'n.conf').get('port_filter')?.value).toEqual([':22', 'udp:53', 'tcp:8080']);
    expect(() => parseConfigFile('port_filter = :22, nonsense\n', 'n.conf')).toThrow(/n\.conf:1: port_filter: /);
    expect(() => parseConfigFile('port_filter = ,\n', 'n.conf')).toThrow('n.conf:1: port_filter: no pattern given');
    expect(() => parseConfigFile('db_path = "unterminated\n', 'n.conf')).toThrow('n.conf:1: db_path\'s value begins with " but has no closing "');
    expect(() => parseConfigFile("csv_path = 'half\n", 'n.conf')).toThrow("n.conf:1: csv_path's value begins with ' but has no closing '");
  });

  it("takes a relative path from the file's directory when told it, and leaves absolute paths and other keys alone", () => {
    const c = parseConfigFile('db_path = stores/n.db\ncsv_path = ../trail.csv\nallow_path = /srv/allow.yaml\noutput_format = json\n', 'n.conf', '/etc/netmon');
    expect(c.get('db_path')?.value).toBe('/etc/netmon/stores/n.db');
    expect(c.get('csv_path')?.value).toBe('/etc/trail.csv');
    expect(c.get('allow_path')?.value).toBe('/srv/allow.yaml');
    expect(c.get('output_format')?.value).toBe('json');
    expect(parseConfigFile('db_path = stores/n.db\n', 'n.conf').get('db_path')?.value).toBe('stores/n.db');
  });

  it('adds up many port_filter lines, and cuts a huge value in its message instead of echoing it', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => `port_filter = :${1 + (i % 60000)}`).join('\n');
    expect(parseConfigFile(many, 'many.conf').get('port_filter')?.value).toHaveLength(20_000);
    const huge = `output_format = ${'x'.repeat(5_000_000)}`;
    let message = '';
    try {
      parseConfigFile(huge, 'huge.conf');
    } catch (error) {
      message = (error as ConfigError).message;
    }
    expect(message).toContain('huge.conf:1: output_format: "xxxx');
    expect(message).toContain('... (5000000 characters)');
    expect(message.length).toBeLessThan(1000);
  });

  it('names file and line of every problem at once', () => {
    const message = problems('output_format = yaml\nfoo = 1\nonly_ipv4 = maybe\nport_filter = tcp:70000\nwebhook_url = https://example.invalid/hook\nwatch_interval = 0\nno equals sign\nfail_on = high\nfail_on = low\n');
    expect(message).toContain('n.conf:1: output_format: "yaml" is not one of text, json, ecs');
    expect(message).toMatch(/n\.conf:2: unknown key "foo"/);
    expect(message).not.toMatch(/"foo" \(did you mean/);
    expect(problems('db_pth = x.db\n')).toContain('n.conf:1: unknown key "db_pth" (did you mean db_path?) (known: ');
    expect(message).toContain('n.conf:3: only_ipv4: "maybe" is not true or false');
    expect(message).toMatch(/n\.conf:4: port_filter: invalid --filter pattern "tcp:70000"/);
    expect(message).toContain('n.conf:5: webhook_url: webhook delivery is not part of this netmon release');
    expect(message).toMatch(/n\.conf:6: watch_interval: "0" is not a number of seconds/);
    expect(message).toMatch(/n\.conf:7: expected "key = value"/);
    expect(message).toContain('n.conf:9: fail_on is set again (first at n.conf:8)');
  });

  it('reads NETMON_* variables, with comma-separated port filters, and ignores netmon’s own switches', () => {
    const env = configFromEnvironment({
      NETMON_OUTPUT_FORMAT: 'json',
      NETMON_PORT_FILTER: ':22, udp:53',
      NETMON_NATIVE: '0',
      NETMON_THREADS: '0',
      NETMON_SOCK_DIAG: '0',
      NETMON_DEBUG: '1',
      // the benchmark's switches reach the netmon processes it starts
      NETMON_BENCH_KEEP_ENV: '1',
      NETMON_BENCH_KEEP_SCRATCH: '1',
      NETMON_BENCH_RUNS: '3',
      PATH: '/bin',
    });
    expect(env.get('output_format')?.value).toBe('json');
    expect(env.get('port_filter')?.value).toEqual([':22', 'udp:53']);
    expect(env.size).toBe(2);
    expect(() => configFromEnvironment({ NETMON_BOGUS: '1' })).toThrow(/environment variable NETMON_BOGUS: unknown key "bogus"/);
  });

  it('puts the environment over the file, maps keys to options, and keeps watch_interval to watch', () => {
    const file = parseConfigFile('output_format = json\ninclude_established = false\nwatch_interval = 5\n', 'n.conf');
    const env = configFromEnvironment({ NETMON_OUTPUT_FORMAT: 'ecs' });
    const has = () => true;
    const forSnapshot = optionsFromConfig(file, env, 'snapshot', has);
    expect(forSnapshot).toEqual(expect.arrayContaining([
      { option: 'output', value: 'ecs', origin: 'environment variable NETMON_OUTPUT_FORMAT' },
      { option: 'listeningOnly', value: true, origin: 'n.conf:2' },
    ]));
    expect(forSnapshot.some((o) => o.option === 'interval')).toBe(false);
    expect(optionsFromConfig(file, env, 'watch', has).find((o) => o.option === 'interval')?.value).toBe(5);
  });

  it('writes a default file that documents every key and parses back to nothing set; the shipped template is that file', () => {
    const text = defaultConfigText();
    for (const key of Object.keys(CONFIG_KEYS)) expect(text).toContain(`# ${key} =`);
    expect(parseConfigFile(text, 'default.conf').size).toBe(0);
    expect(readFileSync(new URL('../../templates/netmon.conf', import.meta.url), 'utf8')).toBe(text);
    // Uncommented, every line gives its default, and port_filter its example (an operator probe).
    const uncommented = parseConfigFile(text.replace(/^# ([a-z_]+ = .*)$/gm, '$1'), 'default.conf');
    expect(uncommented.get('db_path')?.value).toBe('netmon.db');
    expect(uncommented.get('port_filter')?.value).toEqual([':22']);
  });

  it('takes "#" after a space, or after a quoted value, as a comment (an operator probe found it in the path)', () => {
    const file = parseConfigFile('db_path = "store.db" # evidence\ncsv_path = trail.csv   # rotated\nbaseline_path = a#b.json\ncontrols_path = "c # d.yaml"\n', 'n.conf');
    expect(file.get('db_path')?.value).toBe('store.db');
    expect(file.get('csv_path')?.value).toBe('trail.csv');
    expect(file.get('baseline_path')?.value).toBe('a#b.json');
    expect(file.get('controls_path')?.value).toBe('c # d.yaml');
    expect(() => parseConfigFile('db_path = "store.db" extra\n', 'n.conf')).toThrow(/n\.conf:1: "extra" after the closing quote of db_path's value \(a comment begins with #\)/);
  });
});
