/**
 * A host with more processes than netmon's open-file limit allows it to hold open at once: the
 * descriptor walk reads them in batches, so none is reported unreadable for want of a descriptor
 * (a soft limit of 1024 on a host of a few thousand processes is an ordinary server). A limit too
 * small for netmon itself is an error that names the limit, not an internal error.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/model/types.js';
import { runCli } from '../helpers/processes.js';

/** Run the CLI under a soft and hard open-file limit of `limit`. */
function underLimit(limit: number, args: string[]) {
  return runCli(args, { prefix: ['sh', '-c', `ulimit -n ${limit} && exec "$@"`, 'sh'] });
}

const HOLDERS = 300;

describe('the descriptor walk under a low open-file limit', () => {
  let server: Server;
  let client: Socket;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    server = createServer(() => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    client = connect(port, '127.0.0.1');
    await once(client, 'connect');
    // Many small processes that all hold the same socket (descriptor 3): each must be found.
    for (let i = 0; i < HOLDERS; i++) {
      const child = spawn('sleep', ['120'], { stdio: ['ignore', 'ignore', 'ignore', client] });
      children.push(child);
    }
    await Promise.all(children.map((c) => once(c, 'spawn')));
  });
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    client?.destroy();
    server?.close();
  });

  it(`finds every one of ${HOLDERS} holders of a socket with a limit of 64 descriptors, and calls none unreadable`, () => {
    const port = client.localPort!;
    const limited = (): Snapshot => {
      const r = underLimit(64, ['snapshot', '--output', 'json', '--no-hash-binaries', '--filter', `:${port}`]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Snapshot;
    };
    const unlimited = (): Snapshot => {
      const r = runCli(['snapshot', '--output', 'json', '--no-hash-binaries', '--filter', `:${port}`]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Snapshot;
    };
    let snap = limited();
    let free = unlimited();
    // Other test files start and end processes, some of them unreadable (another user's with
    // capabilities, one mid-setpriv): when the count of unreadable ones changed between the two
    // scans, both are taken again (at most five times).
    for (let attempt = 1; attempt < 5 && snap.coverage.processesDenied !== free.coverage.processesDenied; attempt++) {
      snap = limited();
      free = unlimited();
    }
    // The connection by both ends and its namespace: another connection on the host (another
    // test file's) may use the same local port towards another remote port.
    const serverPort = (server.address() as { port: number }).port;
    const netns = Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))![1]);
    const held = snap.sockets.find((s) => s.localPort === port && s.remotePort === serverPort && s.state === 'ESTABLISHED' && s.netns === netns);
    expect(held, JSON.stringify(snap.sockets)).toBeDefined();
    const owners = new Set(held?.owners.map((o) => o.pid));
    for (const c of children) expect(owners.has(c.pid!), `pid ${c.pid}`).toBe(true);
    // Nothing of the walk was lost to the limit: the processes it could not read are the ones it
    // cannot read with any limit (a sandbox's init, say), the same as without a low limit.
    expect(snap.coverage.processesDenied).toBe(free.coverage.processesDenied);
    expect(snap.coverage.processesScanned).toBeGreaterThan(HOLDERS);
  });

  it('a limit too low for netmon itself is an error that says so and what to raise (exit 3), not an internal error', () => {
    // Below about 20 descriptors Node.js itself fails before netmon runs; from there on, the
    // first open that finds none is netmon's to report.
    let reported = 0;
    for (let limit = 21; limit <= 40; limit++) {
      const r = underLimit(limit, ['snapshot', '--output', 'json', '--no-hash-binaries', '--filter', ':1']);
      if (r.status === 0) continue;
      expect(r.stderr, `limit ${limit}`).not.toContain('internal error');
      if (r.stderr.includes('node:internal')) continue; // Node.js's own start-up
      expect(r.status, `limit ${limit}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain('netmon: error: netmon ran out of file descriptors');
      expect(r.stderr).toContain('netmon: hint: raise the open-file limit');
      reported++;
    }
    expect(reported).toBeGreaterThan(0);
  });
});

