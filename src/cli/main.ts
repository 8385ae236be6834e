#!/usr/bin/env node
import { once } from 'node:events';
import { closeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { errnoCode, NetmonError } from '../errors.js';
import { printableMessage } from '../outputs/sanitize.js';
import { exitCodeFor } from './exit-code.js';
import { buildProgram, hungUp, stopCapture, withProgressLine } from './program.js';

/** Descriptors that were terminals at start. */
const terminals = [0, 1, 2].filter((fd) => isatty(fd));

/**
 * A write to a closed pipe (`netmon snapshot | head`) ends output quietly; under a capture loop
 * (`--interval ... | head`) the loop stops as on SIGTERM, so its store is closed, not left locked.
 * A terminal that hung up (a closed window, a dropped ssh session) fails writes with EIO: output
 * is dropped, and the capture the SIGHUP stops finishes and closes its store instead of dying
 * mid-tick.
 */
let pipeClosed = false;
/** Output that failed otherwise (a full disk under a redirection, /dev/full): said once. */
let outputFailed = false;
function outputError(fd: number): (error: NodeJS.ErrnoException) => void {
  return (error) => {
    if (error.code === 'EPIPE') {
      if (pipeClosed) return;
      pipeClosed = true;
      if (stopCapture(`${fd === 1 ? 'stdout' : 'stderr'} was closed (EPIPE)`)) return;
      process.exit(process.exitCode ?? 0);
    }
    if (error.code === 'EIO' && terminals.includes(fd)) return;
    // Any other write error: the output is dropped from here on, but the command finishes, so
    // that what it captured is stored and the store closed (not left locked for the next run to
    // record as an unclean stop); a capture loop stops as on SIGTERM. Exit 3: the output failed.
    if (outputFailed) return;
    outputFailed = true;
    process.exitCode = 3;
    const what = fd === 1 ? 'standard output' : 'standard error';
    const message = `netmon: error: cannot write to ${what}: ${printableMessage(error.message)}; the rest of the output is dropped${stopCapture(`${what} failed (${error.code ?? 'write error'})`) ? ', and the capture stops after the running one' : ''}\n`;
    if (fd === 1) process.stderr.write(message);
  };
}
process.stdout.on('error', outputError(1));
process.stderr.on('error', outputError(2));

/**
 * Width for the live view: $COLUMNS when set (as ls honours it), else the terminal's; into a pipe
 * or a file, no limit: an address shortened to fit 80 columns ("127.0.…1") is one `grep` misses.
 */
function terminalColumns(): { columns?: number } {
  const fromEnv = Number(process.env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return { columns: fromEnv };
  return process.stdout.isTTY ? { columns: process.stdout.columns } : { columns: Number.POSITIVE_INFINITY };
}

// On a terminal, a progress line that any other output clears first, and messages wrapped to its
// width (measured in cells: loaded only for a terminal, as it costs every start some 20 ms).
const cells = process.stderr.isTTY ? await import('../outputs/width.js') : undefined;
const io = withProgressLine({
  stdout: (text) => void process.stdout.write(text),
  drain: async () => {
    if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
  },
  stderr: (text) => void process.stderr.write(text),
  ...terminalColumns(),
  stderrIsTTY: process.stderr.isTTY === true,
  ...(process.stderr.isTTY ? { stderrColumns: process.stderr.columns } : {}),
  env: process.env,
}, cells);

/** Too many open files, in this process (EMFILE) or the system (ENFILE): a limit, not a bug. */
function outOfDescriptors(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'EMFILE' || code === 'ENFILE';
}

const DESCRIPTOR_HINT =
  'raise the open-file limit: `ulimit -n 4096` in the shell that starts netmon, or LimitNOFILE=65536 in its systemd unit ' +
  '(netmon reads the descriptors of up to half the limit of processes at once, and needs some 30 for itself)';

/** The one place errors become messages and exit codes. */
async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram(io).parseAsync(argv);
  } catch (error) {
    const code = exitCodeFor(error);
    if (error instanceof NetmonError) {
      // Messages quote paths, host names and store contents, which a hostile store can fill with escape sequences.
      io.stderr(`netmon: error: ${printableMessage(error.message)}\n`);
      if (error.hint) io.stderr(`netmon: hint: ${printableMessage(error.hint)}\n`);
    } else if ((error as { name?: string }).name === 'CommanderError') {
      // commander has already printed its message
    } else if (outOfDescriptors(error)) {
      io.stderr(`netmon: error: netmon ran out of file descriptors: ${printableMessage((error as Error).message)}\n`);
      io.stderr(`netmon: hint: ${DESCRIPTOR_HINT}\n`);
    } else if (error instanceof Error && error.name !== 'ExitError') {
      io.stderr(`netmon: internal error: ${printableMessage(error.message)}\n`);
      if (process.env.NETMON_DEBUG) io.stderr(`${error.stack}\n`);
      else io.stderr('netmon: hint: set NETMON_DEBUG=1 for a stack trace, and report it with the command you ran\n');
    }
    process.exitCode = code;
  } finally {
    // A command that ends without a last message leaves no progress text behind.
    io.progress?.(null);
  }
}

await main(process.argv);
if (hungUp()) {
  // Node.js 20 aborts at exit when it cannot restore the settings of a terminal that hung up
  // (nodejs/node#51519, fixed in later releases); it leaves closed descriptors alone. Everything
  // is written and closed by now, so nothing can reuse them.
  for (const fd of terminals) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
  process.exit(process.exitCode ?? 0);
}
