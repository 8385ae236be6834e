import { closeSync, constants, existsSync, lstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { untrustedLink } from '../store/links.js';
import { configFromEnvironment, defaultConfigText, optionsFromConfig, parseConfigFile } from '../config/config.js';
import { ConfigError, describeErrno } from '../errors.js';
import type { CliIo } from './program.js';

/** Fill the options a command's command line left unset from the configuration file and NETMON_* variables. */
export function applyConfig(flagPath: string | undefined, command: Command, env: NodeJS.ProcessEnv): void {
  const path = flagPath ?? env.NETMON_CONFIG ?? (existsSync('netmon.conf') ? 'netmon.conf' : undefined);
  let file = new Map() as ReturnType<typeof parseConfigFile>;
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError('E_CONFIG', `cannot read the configuration: ${describeErrno(error, 'reading', path)}`, { hint: 'create one with `netmon init-config`' });
    }
    file = parseConfigFile(text, path);
  }
  const fromEnv = configFromEnvironment(env);
  const attributes = new Set(command.options.map((o) => o.attributeName()));
  const name = command.parent ? command.name() : 'netmon';
  for (const { option, value } of optionsFromConfig(file, fromEnv, name, (o) => attributes.has(o))) {
    if (command.getOptionValueSource(option) === 'cli') continue;
    command.setOptionValueWithSource(option, value, 'config');
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
    const follow = lstatSync(flags.path, { throwIfNoEntry: false })?.isSymbolicLink() === true && !untrustedLink(flags.path);
    const fd = openSync(flags.path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (follow ? 0 : constants.O_NOFOLLOW), 0o644);
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
