import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, scratchDir } from '../helpers/processes.js';
import { withRaw } from '../helpers/store-fixtures.js';

/**
 * A connection accepted by a listener that the selection leaves out is still inbound. A listener
 * bound to port 0 gets a port of the ephemeral range, which the default selection leaves out;
 * before, the connection it accepted read as one the host made: ECS egress from the service
 * port, and a "new outbound connection" to the client's port in diff, check and the packs. The
 * capture now records the listening ports it left out (listeningPortsLeftOut). Real sockets on
 * 127.0.0.1, the real CLI and a real store.
 */
const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
const server = net.createServer((c) => accepted.push(c));
const accepted: net.Socket[] = [];
let client: net.Socket | undefined;
let port = 0;
const db = join(scratchDir(), `direction-${process.pid}.db`);

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
  // The store's first snapshot: the listener alone (left out, as its port is ephemeral).
  const pre = runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', `:${port}`, '--label', 'pre']);
  expect(pre.status, pre.stderr).toBe(0);
  await new Promise<void>((resolve) => (client = net.connect(port, '127.0.0.1', resolve)));
  for (let i = 0; i < 100 && accepted.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
});

afterAll(async () => {
  client?.destroy();
  for (const c of accepted) c.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('a connection accepted by a listener the selection left out', () => {
  it('the listener is bound in the ephemeral range, and the snapshot records its port without listing it', () => {
    expect(port).toBeGreaterThanOrEqual(low);
    expect(port).toBeLessThanOrEqual(high);
    const r = runCli(['snapshot', '--no-hash-binaries', '--filter', `:${port}`, '-o', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { sockets: { listening: boolean; localPort: number; netns: number }[]; listeningPortsLeftOut?: { netns: number; transport: string; port: number }[] };
    expect(doc.sockets.some((s) => s.listening)).toBe(false);
    const server = doc.sockets.find((s) => s.localPort === port)!;
    expect(doc.listeningPortsLeftOut).toContainEqual({ netns: server.netns, transport: 'tcp', port });
  });

  it('is ingress in ECS, its client egress', () => {
    const r = runCli(['snapshot', '--no-hash-binaries', '--filter', `:${port}`, '-o', 'ecs']);
    expect(r.status, r.stderr).toBe(0);
    const docs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { network: { direction?: string }; source: { port: number }; destination: { port: number } });
    expect(docs).toHaveLength(2);
    const toService = docs.filter((d) => d.destination.port === port);
    // Both ends describe one connection to the service: the accepted end as ingress, the client's as egress.
    expect(toService.map((d) => d.network.direction).sort()).toEqual(['egress', 'ingress']);
  });

  it('gives diff one new outbound connection, the client\'s to the service, and none to the client\'s port', () => {
    const post = runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', `:${port}`, '--label', 'post']);
    expect(post.status, post.stderr).toBe(0);
    const shown = runCli(['show', 'latest', '--db', db, '-o', 'json']);
    expect(shown.status, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { listeningPortsLeftOut?: { port: number }[] }).listeningPortsLeftOut).toContainEqual(expect.objectContaining({ port }));
    const diff = runCli(['diff', '--db', db, '--pre', 'first', '--post', 'latest', '-o', 'json']);
    expect(diff.status, diff.stderr).toBe(0);
    const findings = (JSON.parse(diff.stdout) as { findings: { kind: string; change: { after?: { remotePort?: number } } }[] }).findings;
    expect(findings.map((f) => [f.kind, f.change.after?.remotePort])).toEqual([['outbound-opened', port]]);
  });

  it('the store keeps the record in the context item: an unchanged capture adds no item for it', () => {
    const items = (): number => withRaw(db, (raw) => Number((raw.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n));
    // Other test files add and remove network namespaces, which every capture stores whatever the
    // selection (an unreadable one adds a warning to the context too): a capture whose namespaces
    // or warnings differ from the capture before it is taken again (at most five times).
    const state = (): string => {
      const shown = runCli(['show', 'latest', '--db', db, '-o', 'json']);
      expect(shown.status, shown.stderr).toBe(0);
      const snap = JSON.parse(shown.stdout) as { namespaces: unknown[]; warnings?: unknown[] };
      return JSON.stringify([snap.namespaces.map((n) => ({ ...(n as object), processes: undefined, sockets: undefined })), snap.warnings ?? []]);
    };
    let before = 0;
    let after = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      const previous = state();
      before = items();
      const again = runCli(['--once', '--db', db, '--no-csv', '--no-hash-binaries', '--filter', `:${port}`]);
      expect(again.status, again.stderr).toBe(0);
      after = items();
      if (state() === previous) break;
    }
    expect(after).toBe(before);
    const verify = runCli(['verify-store', '--db', db]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  });
});
