// Plans, starts and stops the benchmark's socket population (bench/population-helper.mjs).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HELPER = fileURLToPath(new URL('./population-helper.mjs', import.meta.url));

/** Descriptors a helper needs besides its sockets (stdio, epoll, libuv's pipes, ...). */
const FD_HEADROOM = 128;

/**
 * The soft limit on open files that helper processes will inherit. `ulimit -n` of a child
 * shell reports exactly what our children get.
 */
export function softFdLimit() {
  const out = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const text = (out.stdout ?? '').trim();
  if (text === 'unlimited') return Infinity;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`cannot read the open-file limit (sh -c 'ulimit -n' said ${JSON.stringify(text)})`);
  return n;
}

/** The kernel's ephemeral port range, [low, high]; [32768, 60999] when unreadable. */
export function ephemeralRange() {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low, high];
  } catch {
    // fall through
  }
  return [32768, 60999];
}

/**
 * Split a population of `total` sockets over helper processes. About 1% listeners, 1% UDP,
 * the rest established pairs (two sockets each). Each helper stays `FD_HEADROOM` descriptors
 * under the soft limit, and under `perHelperCap` sockets so that the population is spread
 * over a few processes, as it would be on a real server.
 */
export function planPopulation(total, { fdLimit, perHelperCap = 10_000, portRange = ephemeralRange() } = {}) {
  if (!Number.isInteger(total) || total < 16) throw new Error(`population size must be an integer >= 16, got ${total}`);
  const capacity = Math.min(perHelperCap, fdLimit - FD_HEADROOM);
  if (capacity < 16) throw new Error(`open-file limit ${fdLimit} is too low to hold sockets in helper processes`);
  // Two hub listeners per helper are part of the population too.
  const helpers = Math.ceil(total / (capacity - 2));
  const listeners = Math.max(2 * helpers, Math.round(total * 0.01));
  const udp = Math.max(2 * helpers, Math.round(total * 0.01));
  const pairs = Math.floor((total - listeners - udp - 2 * helpers) / 2);
  if (pairs < helpers) throw new Error(`population of ${total} is too small for ${helpers} helpers`);

  // Fixed ports below the ephemeral range (netmon hides ephemeral-range listeners by default).
  // A random start per run, so that consecutive runs do not collide with TIME_WAIT leftovers.
  const perHelperPorts = Math.ceil((listeners + udp) / helpers) + 2 + 200; // 200 spare for ports in use
  const low = 10_000;
  const room = portRange[0] - 1 - low - helpers * perHelperPorts;
  const useFixedPorts = room > 0;
  const start = useFixedPorts ? low + Math.floor(Math.random() * room) : 0;

  const split = (n, i) => Math.floor(n / helpers) + (i < n % helpers ? 1 : 0);
  const specs = [];
  for (let i = 0; i < helpers; i++) {
    const portBase = useFixedPorts ? start + i * perHelperPorts : 0;
    specs.push({
      listeners: split(listeners, i),
      pairs: split(pairs, i),
      udp: split(udp, i),
      portBase,
      portEnd: useFixedPorts ? portBase + perHelperPorts - 1 : 0,
    });
  }
  return { total, capacity, helpers, listeners: listeners + 2 * helpers, pairs, udp, expected: listeners + 2 * helpers + 2 * pairs + udp, specs };
}

/**
 * Start the helpers and resolve once every one printed "ready N". Returns a handle whose
 * `stop()` tears them down gracefully and `killNow()` kills them synchronously (for exit paths).
 */
export async function startPopulation(plan, { readyTimeoutMs = 180_000 } = {}) {
  const children = [];
  const handle = {
    children,
    opened: 0,
    killNow() {
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) {
          try {
            child.kill('SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    },
    async stop() {
      const exits = children.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', resolve);
          }),
      );
      // Closing stdin asks a helper to reset its connections and exit; SIGKILL after 10 s.
      for (const child of children) child.stdin?.end();
      const timer = setTimeout(() => handle.killNow(), 10_000);
      await Promise.all(exits);
      clearTimeout(timer);
    },
  };

  const readies = plan.specs.map((spec, index) => {
    const child = spawn(process.execPath, [HELPER, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`population helper ${index} not ready after ${readyTimeoutMs / 1000} s`)), readyTimeoutMs);
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const match = /^ready (\d+)$/.exec(line.trim());
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`population helper ${index} exited (${signal ?? `code ${code}`}) before it was ready: ${stderr.trim() || 'no message'}`));
      });
    });
  });

  try {
    const counts = await Promise.all(readies);
    handle.opened = counts.reduce((a, b) => a + b, 0);
  } catch (error) {
    handle.killNow();
    throw error;
  }
  return handle;
}
