// Runs one command and measures its wall time and peak resident set size.
//
// Wall time: taken here with a monotonic clock, from spawn() to the child's exit. It includes
// the process start (node's boot, Python's imports), which is what a user waits for.
//
// Peak memory: the kernel's ru_maxrss of the measured process, i.e. the high-water mark of its
// resident set over its whole life (all threads: V8's heap, the libuv pool and native memory
// alike). It is read in one of three ways, best first:
//   1. GNU time (`/usr/bin/time -f '%e %M' -o FILE cmd ...`, Debian package `time`): it
//      exec()s the command itself and reports ru_maxrss from wait4(). Exact, no sampling.
//      When it is missing and we are root, the harness installs it with apt-get.
//   2. A tiny Python wrapper (bench/rusage.py, any python3, no modules needed) that runs the
//      command and reads resource.getrusage(RUSAGE_CHILDREN).ru_maxrss: the same kernel
//      figure by another route.
//      Caveat of 1 and 2: the kernel carries a process's peak across exec(), so ru_maxrss is at
//      least the wrapper's own size when it forked: about 1 MiB for GNU time, about 10 MiB for
//      Python. That floor only shows for tiny commands (ss); netmon and the psutil peer are
//      well above it.
//   3. Last resort: polling VmHWM in /proc/<pid>/status every few milliseconds. VmHWM is the
//      kernel's own peak, but a peak reached in the last milliseconds before exit can be missed,
//      so figures measured this way are marked approximate.
// The wrappers of 1 and 2 are exec'd directly (no shell) and add well under a millisecond to the
// wall time; their own memory is not counted (ru_maxrss is per process).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUSAGE_PY = fileURLToPath(new URL('./rusage.py', import.meta.url));
const GNU_TIME = '/usr/bin/time';

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

let aptUpdated = false;
/** apt-get install (root only); runs `apt-get update` once first. Returns true on success. */
export function aptInstall(pkg, log = () => {}) {
  if (!isRoot() || !existsSync('/usr/bin/apt-get')) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    log(`running apt-get update (to install ${pkg})`);
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 });
    aptUpdated = true;
  }
  log(`installing ${pkg} with apt-get`);
  const res = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { stdio: 'ignore', env, timeout: 600_000 });
  return res.status === 0;
}

function gnuTimeWorks() {
  if (!existsSync(GNU_TIME)) return false;
  const dir = mkdtempSync(join(tmpdir(), 'netmon-bench-probe-'));
  try {
    const out = join(dir, 't');
    const res = spawnSync(GNU_TIME, ['-f', '%e %M', '-o', out, 'true'], { stdio: 'ignore' });
    return res.status === 0 && /^\d+\.\d+ \d+$/m.test(readFileSync(out, 'utf8'));
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function findPython() {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const res = spawnSync(candidate, ['-c', 'import resource'], { stdio: 'ignore' });
    if (res.status === 0) return candidate;
  }
  return null;
}

/** Pick the peak-memory method (see the top of this file). */
export function chooseMemoryMethod(log = () => {}, force = process.env.NETMON_BENCH_MEMORY) {
  const gnu = { name: 'gnu-time', exact: true, describe: 'GNU time %M (ru_maxrss from wait4)' };
  const poll = { name: 'vmhwm-poll', exact: false, describe: 'VmHWM polled from /proc/<pid>/status every 2 ms (approximate)' };
  if (force) {
    // NETMON_BENCH_MEMORY forces a method (to check the fallbacks).
    if (force === 'gnu-time' && gnuTimeWorks()) return gnu;
    if (force === 'python-rusage' && findPython()) return { name: force, exact: true, python: findPython(), describe: `${findPython()} getrusage(RUSAGE_CHILDREN).ru_maxrss (floor about 10 MiB)` };
    if (force === 'vmhwm-poll') return poll;
    throw new Error(`NETMON_BENCH_MEMORY=${force} is not available (gnu-time, python-rusage or vmhwm-poll)`);
  }
  if (gnuTimeWorks()) return { name: 'gnu-time', exact: true, describe: 'GNU time %M (ru_maxrss from wait4)' };
  if (aptInstall('time', log) && gnuTimeWorks()) return { name: 'gnu-time', exact: true, describe: 'GNU time %M (ru_maxrss from wait4)' };
  const python = findPython();
  if (python) return { name: 'python-rusage', exact: true, python, describe: `${python} getrusage(RUSAGE_CHILDREN).ru_maxrss (floor about 10 MiB)` };
  return { name: 'vmhwm-poll', exact: false, describe: 'VmHWM polled from /proc/<pid>/status every 2 ms (approximate)' };
}

/**
 * Run `command args` with stdout to `stdoutPath` (default /dev/null). Resolves to
 * { wallS, peakKiB, exitCode, stderr }.
 */
let scratchDir = null;
let runNo = 0;
/** Remove the scratch folder of the wrappers' reports (sync: safe in an 'exit' handler). */
export function cleanupMeasure() {
  if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = null;
}

export async function measure(method, command, args, { stdoutPath = '/dev/null', env = process.env } = {}) {
  scratchDir ??= mkdtempSync(join(tmpdir(), 'netmon-bench-run-'));
  const reportFile = join(scratchDir, `rusage-${++runNo}`);
  let argv;
  if (method.name === 'gnu-time') argv = [GNU_TIME, '-f', '%e %M %U %S', '-o', reportFile, command, ...args];
  else if (method.name === 'python-rusage') argv = [method.python, RUSAGE_PY, reportFile, command, ...args];
  else argv = [command, ...args];

  const out = openSync(stdoutPath, 'w');
  let polledPeak = 0;
  let poller;
  try {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', out, 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-8000);
    });
    if (method.name === 'vmhwm-poll') {
      const sample = () => {
        try {
          const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m) polledPeak = Math.max(polledPeak, Number(m[1]));
        } catch {
          // exited between samples
        }
      };
      poller = setInterval(sample, 2);
    }
    const { code, signal } = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve({ code: c, signal: s }));
    });
    const wallS = Number(process.hrtime.bigint() - started) / 1e9;
    if (poller) clearInterval(poller);

    let peakKiB = polledPeak || null;
    let cpuS = null;
    let exitCode = signal ? 128 : code;
    if (method.name !== 'vmhwm-poll') {
      // GNU time writes "Command exited with non-zero status N" before the format line.
      const text = existsSync(reportFile) ? readFileSync(reportFile, 'utf8') : '';
      const lines = text.trim().split('\n');
      const last = lines[lines.length - 1] ?? '';
      // GNU time: "%e %M %U %S"; the Python wrapper: "%e %M".
      const m = /(\d+(?:\.\d+)?) (\d+)(?: (\d+(?:\.\d+)?) (\d+(?:\.\d+)?))?$/.exec(last);
      peakKiB = m ? Number(m[2]) : null;
      if (m && m[3] !== undefined) cpuS = Number(m[3]) + Number(m[4]);
      const status = /non-zero status (\d+)/.exec(text);
      if (status) exitCode = Number(status[1]);
      if (/terminated by signal/.test(text)) exitCode = 128;
    }
    return { wallS, peakKiB, cpuS, exitCode, stderr };
  } finally {
    if (poller) clearInterval(poller);
    closeSync(out);
    rmSync(reportFile, { force: true });
  }
}
