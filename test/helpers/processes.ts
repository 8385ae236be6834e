import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const HOLDER = fileURLToPath(new URL('../fixtures/socket-holder.mjs', import.meta.url));

export interface Started<T> {
  child: ChildProcess;
  info: T;
}

const running = new Set<ChildProcess>();
let scratch: string | undefined;

// Cleanup at the end of each test file that imports this module (vitest evaluates it once per
// file). A vitest worker is ended without Node's 'exit' event, so an exit handler would leave the
// scratch directory in the system's temporary directory and a holder process running.
afterAll(() => {
  for (const c of running) c.kill('SIGKILL');
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/** Start a process that prints one JSON line when ready; resolve with that line parsed. */
export async function startJsonProcess<T>(command: string, args: string[]): Promise<Started<T>> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<T>((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line) as T));
    child.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited ${code} before it was ready: ${stderr}`)));
  });
  return { child, info };
}

export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Run the built CLI and capture everything. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; prefix?: string[]; cwd?: string; killAfterMs?: number } = {}) {
  const [command, ...pre] = options.prefix ?? [];
  const spawnOptions = {
    encoding: 'utf8' as const,
    env: options.env ?? process.env,
    maxBuffer: 512 * 1024 * 1024,
    cwd: options.cwd ?? scratchDir(),
    // For a run that might never end: killed (status null) rather than hold the test run up.
    ...(options.killAfterMs === undefined ? {} : { timeout: options.killAfterMs, killSignal: 'SIGKILL' as const }),
  };
  const result = command
    ? spawnSync(command, [...pre, process.execPath, CLI, ...args], spawnOptions)
    : spawnSync(process.execPath, [CLI, ...args], spawnOptions);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A directory every user can write to, removed after the test file: captures in tests never touch the repository. */
export function scratchDir(): string {
  if (!scratch) {
    scratch = mkdtempSync(join(tmpdir(), 'netmon-cli-'));
    chmodSync(scratch, 0o1777);
  }
  return scratch;
}

/** True when a command exists on PATH. */
export function haveCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Log why a group of tests is skipped, so a run without root or a tool says so. Returns `skip`. */
export function skipWithReason(skip: boolean, reason: string): boolean {
  if (skip) process.stderr.write(`netmon tests: SKIPPED ${reason}\n`);
  return skip;
}

/** setpriv's arguments that run a command as nobody, without groups or capabilities. */
export const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];

/**
 * A baseline file taken as root with `selection`, then `netmon check` with the same selection run
 * as nobody against it (with `checkArgs` too), in a scratch directory nobody can read; removed after.
 */
export function checkAsNobody(selection: string[], checkArgs: string[] = []): ReturnType<typeof runCli> {
  const dir = mkdtempSync(join(tmpdir(), 'netmon-check-nobody-'));
  try {
    chmodSync(dir, 0o755);
    const baseline = join(dir, 'baseline.json');
    const init = runCli(['init', '--baseline', baseline, ...selection]);
    if (init.status !== 0) throw new Error(`netmon init failed: ${init.stderr}`);
    chmodSync(baseline, 0o644);
    return runCli(['check', '--baseline', baseline, ...selection, ...checkArgs], { cwd: dir, prefix: AS_NOBODY });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
