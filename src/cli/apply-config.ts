import { closeSync, constants, existsSync, openSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { followableLink, othersMayWrite, ownedByUsOrRoot, untrustedLink } from '../store/links.js';
import { configAppliesTo, configFromEnvironment, defaultConfigText, optionsFromConfig, parseConfigFile } from '../config/config.js';
import { ConfigError, describeErrno, errnoCode, specialFileKind } from '../errors.js';
import type { CliIo } from './program.js';
import { octalMode } from '../model/format.js';

/** Fill the options a command's command line left unset from the configuration file and NETMON_* variables. */
export function applyConfig(flagPath: string | undefined, command: Command, env: NodeJS.ProcessEnv): void {
  const attributes = new Set(command.options.map((o) => o.attributeName()));
  const name = command.parent ? command.name() : 'netmon';
  // A command that takes no key (init-config, keygen) does not read the configuration: a broken
  // ./netmon.conf must not stop `netmon init-config --force` from writing a good one.
  if (!configAppliesTo(name, (o) => attributes.has(o))) return;
  // NETMON_CONFIG set to nothing (`NETMON_CONFIG= netmon ...`) names no file: as if unset.
  const fromVariable = env.NETMON_CONFIG === '' ? undefined : env.NETMON_CONFIG;
  const found = flagPath === undefined && fromVariable === undefined && existsSync('netmon.conf');
  const path = flagPath ?? fromVariable ?? (found ? 'netmon.conf' : undefined);
  if (found) checkFoundConfig('netmon.conf');
  let file = new Map() as ReturnType<typeof parseConfigFile>;
  if (path !== undefined) {
    let text: string;
    // A pipe would block every command; a huge file (a binary given by mistake) would be read whole.
    let special: string | null = null;
    let size = 0;
    try {
      const st = statSync(path);
      // /dev/null is the usual way to say "no configuration" (--config /dev/null): read as empty.
      special = st.isCharacterDevice() && realpathSync(path) === '/dev/null' ? null : specialFileKind(st);
      size = st.isFile() ? st.size : 0;
    } catch {
      // missing or unreadable: the read below says which
    }
    if (special !== null) throw new ConfigError('E_CONFIG', `cannot read the configuration: ${path} is ${special}, not a file`, { hint: 'a netmon configuration is a text file (netmon init-config writes one)' });
    if (size > CONFIG_MAX_BYTES) throw new ConfigError('E_CONFIG', `cannot read the configuration: ${path} is ${size} bytes; a netmon configuration is a few kilobytes of "key = value" lines`, { hint: 'give --config the netmon.conf you meant (netmon init-config writes one)' });
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      const code = errnoCode(error);
      // Where the path came from: a variable set long ago reads otherwise than a flag just typed (a new-user probe).
      const named = flagPath !== undefined ? '--config' : fromVariable !== undefined ? 'NETMON_CONFIG' : '--config';
      const hint =
        code === 'ENOENT'
          ? `create one with \`netmon init-config --path ${path}\`, or give ${named} the file you meant${named === 'NETMON_CONFIG' ? ' (or unset it: `unset NETMON_CONFIG`)' : ''}`
          : code === 'EACCES' || code === 'EPERM'
            ? `make it readable by the user netmon runs as (for a group: chmod g+r ${path}), or run as its owner`
            : code === 'EISDIR'
              ? found
                ? 'netmon reads ./netmon.conf when there is one: a directory of that name cannot be one; rename it, or give --config a file'
                : 'give --config a file, not a directory'
              : undefined;
      throw new ConfigError('E_CONFIG', `cannot read the configuration${named === 'NETMON_CONFIG' ? ' NETMON_CONFIG names' : ''}: ${describeErrno(error, 'reading', path)}`, hint === undefined ? {} : { hint });
    }
    // Relative paths in the file are the file's own directory's, not the current one's.
    file = parseConfigFile(text, path, dirname(resolve(path)));
  }
  const fromEnv = configFromEnvironment(env);
  for (const { option, value } of optionsFromConfig(file, fromEnv, name, (o) => attributes.has(o))) {
    if (command.getOptionValueSource(option) === 'cli') continue;
    // A value this command does not offer (output_format = ecs for verify-store, which prints text
    // or json) is for the commands that do: this one keeps its default.
    const choices = command.options.find((o) => o.attributeName() === option)?.argChoices;
    if (choices !== undefined && !choices.includes(String(value))) continue;
    // A flag overrides the file, also through the option it excludes: only_ipv4 in the file and
    // --only-ipv6 on the command line mean --only-ipv6, not "they exclude each other".
    const partner = EXCLUSIVE.get(option);
    if (partner !== undefined && command.getOptionValueSource(partner) === 'cli' && command.getOptionValue(partner) === true) continue;
    command.setOptionValueWithSource(option, value, 'config');
  }
}

/** The largest configuration file read (the template is about 2 KB). */
const CONFIG_MAX_BYTES = 1024 * 1024;

/** Options that exclude each other: a value from the configuration yields to the other one given as a flag. */
const EXCLUSIVE = new Map([
  ['onlyIpv4', 'onlyIpv6'],
  ['onlyIpv6', 'onlyIpv4'],
]);

/**
 * A netmon.conf that netmon found in the current directory by itself (not one given with
 * --config or NETMON_CONFIG) is read only when no one else could have written it: the file and
 * the directory belong to this user or root, and neither is writable by group or others (a
 * sticky directory such as /tmp may be: others cannot replace a file of ours there). netmon
 * often runs as root; a netmon.conf planted in a shared directory (/tmp) could point the trail
 * or the store at any file and have root write rows there. Refused as git refuses a repository
 * of dubious ownership: with what is wrong and how to proceed.
 */
function checkFoundConfig(path: string): void {
  let problem: string | null = null;
  try {
    // A link is judged as the trail's are (untrustedLink), then the file it names.
    const file = statSync(path);
    const dir = statSync(dirname(resolve(path)));
    if (untrustedLink(path)) problem = 'it is a symbolic link someone else could have placed';
    else if (!ownedByUsOrRoot(file.uid)) problem = `it belongs to uid ${file.uid}`;
    else if (othersMayWrite(file.mode)) problem = `others can write to it (mode ${octalMode(file.mode)})`;
    else if (!ownedByUsOrRoot(dir.uid)) problem = `its directory belongs to uid ${dir.uid}`;
    // In a sticky directory (/tmp) others may add files but not replace or remove this one.
    else if (othersMayWrite(dir.mode) && (dir.mode & 0o1000) === 0) problem = `its directory can be written by others (mode ${octalMode(dir.mode, 0o7777)}), so anyone could have put it there`;
  } catch {
    return; // the read that follows says what is wrong
  }
  if (problem !== null) {
    throw new ConfigError('E_CONFIG_UNSAFE', `netmon found ${resolve(path)} by itself and does not read it: ${problem}; settings there could point the evidence store or the CSV trail at any file`, {
      hint: 'give it explicitly with --config FILE (or NETMON_CONFIG) if you trust it, or run netmon from a directory of your own',
    });
  }
}

/** `netmon init-config` */
export function initConfig(flags: { path: string; force?: boolean }, io: CliIo): void {
  if (existsSync(flags.path) && !flags.force) {
    throw new ConfigError('E_CONFIG_EXISTS', `${flags.path} already exists; it was not changed`, { hint: 'give another --path, or --force to overwrite it' });
  }
  try {
    // Not through a symbolic link someone else could have planted (a dangling one is not
    // "existing" above): in a shared directory it would have netmon, perhaps as root, write a
    // file of the planter's choosing. A link in the owner's own directory is followed.
    const fd = openSync(flags.path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (followableLink(flags.path) ? 0 : constants.O_NOFOLLOW), 0o644);
    try {
      writeFileSync(fd, defaultConfigText());
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new ConfigError('E_CONFIG_WRITE', `cannot write the configuration: ${describeErrno(error, 'writing', flags.path)}`);
  }
  io.stderr(`netmon: wrote ${flags.path}; every key is commented out, so netmon behaves as before until you set one\n`);
}
