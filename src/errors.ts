/**
 * The one errors module. Every error netmon raises on purpose is a `NetmonError` with a
 * stable string `code`; the CLI maps classes to exit codes in one place (src/cli/exit-code.ts).
 */

export interface NetmonErrorOptions {
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

/** Base class: a message saying what went wrong and where, a code, and an optional hint. */
export class NetmonError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: NetmonErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/** Bad usage, configuration or pattern: the user must change what they asked for (exit 2). */
export class ConfigError extends NetmonError {}

/** A filter or glob pattern that cannot be compiled (exit 2). */
/** Characters of a pattern an error message quotes in full. */
const QUOTED_PATTERN_MAX = 200;

export class FilterError extends ConfigError {
  readonly pattern: string;
  /** What is wrong with the pattern, without the option it was given to. */
  readonly problem: string;
  constructor(pattern: string, option: string, problem: string) {
    // A pattern of 100,000 characters is quoted by its ends, not echoed whole.
    const quoted = pattern.length <= QUOTED_PATTERN_MAX ? JSON.stringify(pattern) : `${JSON.stringify(pattern.slice(0, QUOTED_PATTERN_MAX / 2))}…${JSON.stringify(pattern.slice(-QUOTED_PATTERN_MAX / 4))} (${pattern.length} characters)`;
    super('E_FILTER', `invalid ${option} pattern ${quoted}: ${problem}`, {
      hint: 'see `netmon snapshot --help` for the pattern syntax and examples',
    });
    this.pattern = pattern;
    this.problem = problem;
  }
}

/** Text from the OS that does not have the expected shape (a parser's only error). */
export class ParseError extends NetmonError {
  readonly source: string;
  readonly line: number | undefined;
  constructor(source: string, line: number | undefined, problem: string) {
    super('E_PARSE', `${source}${line === undefined ? '' : `:${line}`}: ${problem}`);
    this.source = source;
    this.line = line;
  }
}

/** The collector could not do its job at all (unsupported platform, /proc missing) (exit 3). */
export class CollectorError extends NetmonError {}

/** A document on disk or wire that this build cannot read (exit 3). */
export class FormatError extends NetmonError {}

/** The evidence store cannot be opened, read or written (exit 3); the message names the path. */
export class StoreError extends NetmonError {}

/** Another netmon that runs holds the evidence store's writer lock (exit 3). */
export class StoreBusyError extends StoreError {
  /** The holder is a one-shot capture (`--once`), which lets go by itself within seconds. */
  readonly oneShot: boolean;
  constructor(message: string, options: NetmonErrorOptions & { oneShot: boolean }) {
    super('E_STORE_BUSY', message, options);
    this.oneShot = options.oneShot;
  }
}

/** Evidence failed verification: tampered, truncated or inconsistent (exit 4). */
export class VerificationError extends NetmonError {}

/** Stop with this exit code; the message, if any, has already been shown. */
export class ExitError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message = `exit ${exitCode}`) {
    super(message);
    this.name = 'ExitError';
    this.exitCode = exitCode;
  }
}

const ERRNO_MEANINGS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ESRCH: 'no such process',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ELOOP: 'a symbolic link where netmon follows none, or a loop of links',
  EIO: 'input/output error',
  EINVAL: 'invalid argument',
};

/** The errno code of a Node.js system error, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** "EACCES (permission denied) reading /proc/1/fd": errno, its meaning, the action and the path. */
export function describeErrno(error: unknown, action: string, path: string): string {
  const code = errnoCode(error);
  if (code === undefined) {
    return `${action} ${path}: ${error instanceof Error ? error.message : String(error)}`;
  }
  const meaning = ERRNO_MEANINGS[code];
  return `${code}${meaning ? ` (${meaning})` : ''} ${action} ${path}`;
}

/**
 * What a path is when it is neither a regular file nor a directory ("a character device", "a
 * pipe (FIFO)", "a socket", "a block device"), else null: for evidence files, which netmon
 * appends to, syncs and measures, and which must therefore be regular files.
 */
export function specialFileKind(stats: { isCharacterDevice(): boolean; isFIFO(): boolean; isSocket(): boolean; isBlockDevice(): boolean }): string | null {
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isFIFO()) return 'a pipe (FIFO)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isBlockDevice()) return 'a block device';
  return null;
}
