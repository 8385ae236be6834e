import { ConfigError, ExitError, NetmonError, VerificationError } from '../errors.js';

/** Documented exit codes (docs/cli.md). */
export const EXIT = {
  ok: 0,
  findings: 1,
  usage: 2,
  runtime: 3,
  verification: 4,
} as const;

/** The exit code for an error that reached the top level. Pure. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof ExitError) return error.exitCode;
  if (error instanceof ConfigError) return EXIT.usage;
  if (error instanceof VerificationError) return EXIT.verification;
  if (error instanceof NetmonError) return EXIT.runtime;
  if (typeof error === 'object' && error !== null && (error as { name?: string }).name === 'CommanderError') {
    const code = (error as { code?: string }).code;
    return code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help' ? EXIT.ok : EXIT.usage;
  }
  return EXIT.runtime;
}
