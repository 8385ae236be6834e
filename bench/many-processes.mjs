// A host of many small processes (prefork workers, a busy container host): N `sleep` processes,
// each holding one TCP listener on 127.0.0.1 that this module opens and hands over as the
// child's stdin, then closes its own copy of. Per socket the work of ss and of the psutil peer is
// the same as on the main population; per process netmon reads more (status, command line,
// executable, cgroup), so this population shows what that costs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The first port of the ephemeral range: listeners are put below it, where netmon keeps them. */
function ephemeralStart() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

/** Listen on the highest free port below `below`; returns the port. */
async function listenBelow(server, below, floor) {
  for (let port = below - 1; port >= floor; port--) {
    try {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      return port;
    } catch (error) {
      if (error.code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error(`not enough free ports between ${floor} and ${below - 1} on 127.0.0.1; set NETMON_BENCH_PROCESSES lower`);
}

/**
 * Start `n` sleep processes, each with a listener of its own. Returns { count, stop, killNow };
 * `onStarting` gets { killNow } before the first one starts.
 * Only one listener is open in this process at a time, so the open-file limit does not bound n.
 */
export async function startManyProcesses(n, { isInterrupted = () => false, onStarting = () => {} } = {}) {
  const children = [];
  const killNow = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  const stop = async () => {
    const exits = children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => once(c, 'exit'));
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(exits);
  };
  // The caller can kill what has started so far if it must exit before this returns (a signal).
  onStarting({ killNow });
  let below = ephemeralStart();
  if (n > below - 1024) {
    throw new Error(`${n} listeners do not fit below the ephemeral range (ports 1024 to ${below - 1}); set NETMON_BENCH_PROCESSES lower`);
  }
  const floor = Math.max(1024, below - n - 4096);
  try {
    for (let i = 0; i < n; i++) {
      if (isInterrupted()) throw new Error('interrupted');
      const server = createServer();
      below = await listenBelow(server, below, floor);
      // Node keeps the listening descriptor in the server's handle (an internal field, stable on
      // POSIX); the child gets a duplicate as its stdin and keeps the socket open when ours closes.
      const fd = server._handle?.fd;
      if (typeof fd !== 'number' || fd < 0) throw new Error('cannot reach the descriptor of a listening server');
      const child = spawn('sleep', ['3600'], { stdio: [fd, 'ignore', 'ignore'] });
      child.on('error', () => {});
      children.push(child);
      server.close();
    }
  } catch (error) {
    killNow();
    throw error;
  }
  return { count: n, stop, killNow };
}
