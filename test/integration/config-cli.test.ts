import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRoot, runCli } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration precedence on the command line', () => {
  it('defaults < ./netmon.conf < NETMON_* < flags', () => {
    writeFileSync(join(dir, 'netmon.conf'), 'output_format = json\nhash_binaries = false\n');
    const fromFile = runCli(['snapshot'], { cwd: dir });
    expect(fromFile.status, fromFile.stderr).toBe(0);
    const doc = JSON.parse(fromFile.stdout) as { selection: { hashBinaries: boolean } };
    expect(doc.selection.hashBinaries).toBe(false);

    const fromEnv = runCli(['snapshot'], { cwd: dir, env: { ...process.env, NETMON_OUTPUT_FORMAT: 'ecs' } });
    expect(fromEnv.stdout.split('\n')[0]).toMatch(/^\{"@timestamp"/);

    const fromFlag = runCli(['snapshot', '-o', 'text'], { cwd: dir, env: { ...process.env, NETMON_OUTPUT_FORMAT: 'ecs' } });
    expect(fromFlag.stdout).toMatch(/^netmon snapshot of /);
    // NETMON_CONFIG set to nothing names no file: ./netmon.conf is read as without it.
    const emptyVariable = runCli(['snapshot'], { cwd: dir, env: { ...process.env, NETMON_CONFIG: '' } });
    expect(emptyVariable.status, emptyVariable.stderr).toBe(0);
    expect((JSON.parse(emptyVariable.stdout) as { selection: { hashBinaries: boolean } }).selection.hashBinaries).toBe(false);
    // One family from the configuration, the other as a flag: the flag wins, as flags do (from a
    // selection probe: this was refused as "they exclude each other").
    const flagWins = runCli(['snapshot', '--only-ipv6'], { cwd: dir, env: { ...process.env, NETMON_ONLY_IPV4: 'true' } });
    expect(flagWins.status, flagWins.stderr).toBe(0);
    expect((JSON.parse(flagWins.stdout) as { selection: { families: string[] } }).selection.families).toEqual(['ipv6']);
    // Both from the configuration: refused, and the hint says where to look.
    const both = runCli(['snapshot'], { cwd: dir, env: { ...process.env, NETMON_ONLY_IPV4: 'true', NETMON_ONLY_IPV6: 'true' } });
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('--only-ipv4 and --only-ipv6 exclude each other');
    expect(both.stderr).toContain('NETMON_ONLY_IPV4');
  });

  it('a netmon.conf found in the current directory is read only if no one else could have written it', () => {
    const place = (name: string, dirMode: number, fileMode: number): string => {
      const d = join(dir, name);
      mkdirSync(d);
      chmodSync(d, dirMode);
      writeFileSync(join(d, 'netmon.conf'), 'output_format = json\nhash_binaries = false\n');
      chmodSync(join(d, 'netmon.conf'), fileMode);
      return d;
    };
    const refused = (d: string, why: string) => {
      const r = runCli(['snapshot', '--filter', ':1'], { cwd: d });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`netmon found ${join(d, 'netmon.conf')} by itself and does not read it: ${why}`);
      expect(r.stderr).toContain('hint: give it explicitly with --config FILE');
      // Named explicitly, it is the user's choice, and read.
      const explicit = runCli(['--config', join(d, 'netmon.conf'), 'snapshot', '--filter', ':1'], { cwd: d });
      expect(explicit.status, explicit.stderr).toBe(0);
      expect(explicit.stdout.startsWith('{')).toBe(true);
      // After the command too.
      const after = runCli(['snapshot', '--filter', ':1', '--config', join(d, 'netmon.conf')], { cwd: d });
      expect(after.status, after.stderr).toBe(0);
      expect(after.stdout.startsWith('{')).toBe(true);
    };
    refused(place('writable-file', 0o755, 0o666), 'others can write to it (mode 0666)');
    refused(place('group-dir', 0o775, 0o644), 'its directory can be written by others (mode 0775)');
    // A private directory, or a sticky one (as /tmp) holding a file of ours, or a link of ours
    // in a private directory: read.
    const linked = place('linked', 0o755, 0o644);
    renameSync(join(linked, 'netmon.conf'), join(dir, 'linked-target.conf'));
    symlinkSync(join(dir, 'linked-target.conf'), join(linked, 'netmon.conf'));
    for (const d of [place('private', 0o755, 0o644), place('sticky', 0o1777, 0o644), linked]) {
      const r = runCli(['snapshot', '--filter', ':1'], { cwd: d });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.startsWith('{')).toBe(true);
    }
  });

  it('a netmon.conf of another user in a shared directory is refused', ({ skip }) => {
    if (!isRoot) skip('needs root to give the file to another user');
    const d = join(dir, 'planted');
    mkdirSync(d);
    chmodSync(d, 0o1777);
    writeFileSync(join(d, 'netmon.conf'), 'csv_path = /tmp/elsewhere.csv\n');
    chownSync(join(d, 'netmon.conf'), 65534, 65534);
    const r = runCli(['--once', '--filter', ':1', '--no-hash-binaries'], { cwd: d });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('it belongs to uid 65534');
    expect(existsSync(join(d, 'netmon.db'))).toBe(false);
  });

  it('--config names another file; a bad one stops with exit 2 and the line', () => {
    writeFileSync(join(dir, 'bad.conf'), '# fine\nport_filter = nonsense:1\n');
    const r = runCli(['--config', join(dir, 'bad.conf'), 'snapshot']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'bad.conf')}:2: port_filter: invalid --filter pattern "nonsense:1"`);
  });

  it('a --config file that is missing, unreadable or a directory: exit 2 with the fix for that case', () => {
    const missing = runCli(['snapshot', '--config', join(dir, 'nope.conf')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(`hint: create one with \`netmon init-config --path ${join(dir, 'nope.conf')}\``);
    // Named by NETMON_CONFIG: the variable is named, not --config (a new-user probe).
    const fromVariable = runCli(['snapshot'], { env: { ...process.env, NETMON_CONFIG: join(dir, 'nope.conf') } });
    expect(fromVariable.status).toBe(2);
    expect(fromVariable.stderr).toContain('cannot read the configuration NETMON_CONFIG names: ENOENT');
    expect(fromVariable.stderr).toContain('give NETMON_CONFIG the file you meant (or unset it: `unset NETMON_CONFIG`)');
    const folder = runCli(['snapshot', '--config', dir]);
    expect(folder.status).toBe(2);
    expect(folder.stderr).toContain('hint: give --config a file, not a directory');
    if (isRoot) {
      const secret = join(dir, 'secret.conf');
      writeFileSync(secret, 'output_format = json\n', { mode: 0o600 });
      chmodSync(dir, 0o755);
      const denied = runCli(['snapshot', '--config', secret], { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] });
      expect(denied.status).toBe(2);
      expect(denied.stderr).toContain('permission denied');
      expect(denied.stderr).toContain('make it readable by the user netmon runs as');
      expect(denied.stderr).not.toContain('init-config');
    }
  });

  it("relative paths in a configuration file are taken from the file's directory; in NETMON_* variables and flags, from the current one", () => {
    const confDir = join(dir, 'etc-netmon');
    const elsewhere = join(dir, 'runs-here');
    mkdirSync(confDir);
    mkdirSync(elsewhere);
    const conf = join(confDir, 'netmon.conf');
    writeFileSync(conf, `db_path = stores/evidence.db\ncsv_path = "trail.csv"\nbaseline_path = ${join(dir, 'absolute-baseline.json')}\n`);
    mkdirSync(join(confDir, 'stores'));
    const once = runCli(['--config', conf, '--once', '--filter', ':1', '--no-hash-binaries'], { cwd: elsewhere });
    expect(once.status, once.stderr).toBe(0);
    expect(existsSync(join(confDir, 'stores', 'evidence.db'))).toBe(true);
    expect(existsSync(join(confDir, 'trail.csv'))).toBe(true);
    expect(existsSync(join(elsewhere, 'stores'))).toBe(false);
    // An absolute path stays as it is.
    expect(runCli(['--config', conf, 'init', '--filter', ':1', '--no-hash-binaries'], { cwd: elsewhere }).status).toBe(0);
    expect(existsSync(join(dir, 'absolute-baseline.json'))).toBe(true);
    // The environment and the command line keep the current directory.
    const env = runCli(['--config', conf, '--once', '--filter', ':1', '--no-hash-binaries', '--csv', 'here.csv'], { cwd: elsewhere, env: { ...process.env, NETMON_DB_PATH: 'env.db' } });
    expect(env.status, env.stderr).toBe(0);
    expect(existsSync(join(elsewhere, 'env.db'))).toBe(true);
    expect(existsSync(join(elsewhere, 'here.csv'))).toBe(true);
  });

  it('a misspelt command is named before a broken netmon.conf in the directory', () => {
    const here = join(dir, 'broken-conf');
    mkdirSync(here, { recursive: true });
    writeFileSync(join(here, 'netmon.conf'), 'no_such_key = 1\n');
    const r = runCli(['snapshotz'], { cwd: here });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("netmon: error: unknown command 'snapshotz' (Did you mean snapshot?)");
    // The configuration is still read, and named, for a command that exists.
    const real = runCli(['snapshots'], { cwd: here });
    expect(real.status).toBe(2);
    expect(real.stderr).toContain('netmon.conf');
  });

  it('each command takes only the configuration that is its own (an operator probe): db_path never makes verify check a store, a format it does not offer is not forced on it, and the environment outranks the file across only_ipv4/only_ipv6', () => {
    const work = join(dir, 'own');
    mkdirSync(work, { mode: 0o755 });
    // A store, then verify-store with output_format = ecs, which it does not offer: its text line, not nothing.
    expect(runCli(['--once', '--listening-only', '--no-hash-binaries', '--no-csv', '--db', join(work, 'n.db')], { cwd: work }).status).toBe(0);
    const verified = runCli(['verify-store', '--db', join(work, 'n.db')], { cwd: work, env: { ...process.env, NETMON_OUTPUT_FORMAT: 'ecs' } });
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^evidence store .* verified: /);
    // db_path set: verify checks the pack alone, as without it (--db is a question only the command line asks).
    expect(runCli(['--once', '--listening-only', '--no-hash-binaries', '--no-csv', '--db', join(work, 'n.db')], { cwd: work }).status).toBe(0);
    expect(runCli(['keygen', '--keys', join(work, 'keys')], { cwd: work }).status).toBe(0);
    const report = runCli(['report', '--db', join(work, 'n.db'), '--pre', 'first', '--post', 'latest', '--keys', join(work, 'keys'), '--out', join(work, 'packs'), '--no-pdf'], { cwd: work });
    expect(report.status, report.stderr).toBe(0);
    const verify = runCli(['verify', report.stdout.trim()], { cwd: work, env: { ...process.env, NETMON_DB_PATH: join(work, 'no-such-store.db') } });
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).not.toContain('no-such-store.db');
    // only_ipv6 in the file, NETMON_ONLY_IPV4 in the environment: the environment wins, as it does over the file.
    writeFileSync(join(work, 'netmon.conf'), 'only_ipv6 = true\n');
    const families = runCli(['snapshot', '-o', 'json', '--listening-only', '--no-hash-binaries'], { cwd: work, env: { ...process.env, NETMON_ONLY_IPV4: 'true' } });
    expect(families.status, families.stderr).toBe(0);
    expect((JSON.parse(families.stdout) as { selection: { families: string[] } }).selection.families).toEqual(['ipv4']);
  });

  it('every switch the configuration can set, a flag can undo (an operator probe found no way back but the environment)', () => {
    const work = join(dir, 'undo');
    mkdirSync(work, { mode: 0o755 });
    writeFileSync(join(work, 'netmon.conf'), 'process_info = false\nhash_binaries = false\ninclude_established = false\ninclude_ephemeral = true\nonly_ipv4 = true\n');
    type Selection = { listeningOnly: boolean; includeEphemeral: boolean; families: string[]; processInfo: boolean; hashBinaries: boolean };
    const selection = (...flags: string[]): Selection => {
      const r = runCli(['snapshot', '-o', 'json', ...flags], { cwd: work });
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { selection: Selection }).selection;
    };
    expect(selection()).toMatchObject({ listeningOnly: true, includeEphemeral: true, families: ['ipv4'], processInfo: false, hashBinaries: false });
    expect(selection('--no-listening-only', '--no-include-ephemeral', '--no-only-ipv4', '--process-info', '--hash-binaries')).toMatchObject({
      listeningOnly: false,
      includeEphemeral: false,
      families: ['ipv4', 'ipv6'],
      processInfo: true,
      hashBinaries: true,
    });
    // Undoing one family does not cancel the other set in the file.
    writeFileSync(join(work, 'netmon.conf'), 'only_ipv4 = true\n');
    expect(selection('--no-only-ipv6').families).toEqual(['ipv4']);
  });

  it('a broken, huge or special ./netmon.conf does not stop init-config from writing a good one, and is said as what it is', () => {
    const work = join(dir, 'broken');
    mkdirSync(work, { mode: 0o755 });
    writeFileSync(join(work, 'netmon.conf'), 'output_format: json\n');
    expect(runCli(['snapshot'], { cwd: work }).status).toBe(2);
    const rewrite = runCli(['init-config', '--force'], { cwd: work });
    expect(rewrite.status, rewrite.stderr).toBe(0);
    expect(readFileSync(join(work, 'netmon.conf'), 'utf8')).toMatch(/^# netmon configuration/);
    expect(runCli(['keygen', '--keys', join(work, 'keys')], { cwd: work }).status).toBe(0);
    // They read none: --config is taken (a script may give it to every command), and not offered in their help (a new-user probe).
    expect(runCli(['keygen', '--keys', join(work, 'keys2'), '--config', join(work, 'netmon.conf')], { cwd: work }).status).toBe(0);
    for (const command of ['keygen', 'init-config']) expect(runCli([command, '--help']).stdout).not.toContain('--config');
    expect(runCli(['snapshot', '--help']).stdout).toContain('--config <file>');
    writeFileSync(join(work, 'big.conf'), 'x'.repeat(2 * 1024 * 1024));
    const big = runCli(['snapshot', '--config', join(work, 'big.conf')], { cwd: work });
    expect(big.status).toBe(2);
    expect(big.stderr).toContain(`netmon: error: cannot read the configuration: ${join(work, 'big.conf')} is 2097152 bytes; a netmon configuration is a few kilobytes`);
    // Many bad lines: the first 20, then how many more.
    writeFileSync(join(work, 'many.conf'), Array.from({ length: 500 }, (_, i) => `line ${i}`).join('\n'));
    const many = runCli(['snapshot', '--config', join(work, 'many.conf')], { cwd: work });
    expect(many.status).toBe(2);
    expect(many.stderr).toContain('and 480 more problems (is it a netmon configuration file at all?)');
    expect(many.stderr.split('\n').length).toBeLessThan(30);
    const fifo = join(work, 'fifo.conf');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      const piped = runCli(['snapshot', '--config', fifo], { cwd: work, killAfterMs: 20_000 });
      expect(piped.status).toBe(2);
      expect(piped.stderr).toContain(`netmon: error: cannot read the configuration: ${fifo} is a pipe (FIFO), not a file`);
    }
  });

  it('init-config writes the commented default once', () => {
    const path = join(dir, 'new.conf');
    expect(runCli(['init-config', '--path', path]).status).toBe(0);
    expect(readFileSync(path, 'utf8')).toMatch(/# include_established = true/);
    const again = runCli(['init-config', '--path', path]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already exists; it was not changed/);
  });
});
