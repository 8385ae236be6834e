import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';
import { loadNativeProcScan } from '../../src/collect/native-procscan.js';
import { parseProcNet, PROC_NET_TABLES, socketsFromColumns } from '../../src/collect/parse/proc-net.js';
import { ParseError } from '../../src/errors.js';
import { HOLDER, skipWithReason, startJsonProcess, stop, type Started } from '../helpers/processes.js';

const MANY = fileURLToPath(new URL('../fixtures/many-addresses.mjs', import.meta.url));

const native = loadNativeProcScan(true);
const skip = skipWithReason(native === null, 'native scanner tests: build/Release/netmon_procscan.node is not built (npm install builds it with node-gyp)');

const dir = mkdtempSync(join(tmpdir(), 'netmon-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A listener on 127.0.0.1 of this process and a connection to it. */
async function loopbackPair(): Promise<{ server: net.Server; port: number; client: net.Socket }> {
  const server = net.createServer((c) => c.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return { server, port, client };
}

describe.skipIf(skip)('native scanner', () => {
  let holder: Started<{ pid: number; tcp4: number; tcp6: number; client4: number; udp6: number }>;
  beforeAll(async () => {
    holder = await startJsonProcess(process.execPath, [HOLDER]);
  });
  afterAll(async () => stop(holder?.child));

  it('is the scanner a default collector uses', () => {
    expect(new LinuxCollector().scannerName()).toBe(process.env.NETMON_NATIVE === '0' ? 'javascript-threads' : 'native');
    expect(new LinuxCollector({}, 'javascript').scannerName()).toBe('javascript-threads');
  });

  it('finds the same sockets and owners as the JavaScript scanner', () => {
    const options = { families: ['ipv4', 'ipv6'] as const, owners: true };
    const scan = (engine: 'native' | 'javascript') => new LinuxCollector({}, engine).scanSockets({ ...options, families: [...options.families] });
    const state = (s: ReturnType<typeof scan>) => JSON.stringify([s.namespaces.map((n) => [n.inode, n.name, n.read]), s.processesDenied]);
    // Other test files add and remove network namespaces and processes: when a namespace came,
    // went or became unreadable, or the count of unreadable processes changed, between the two
    // scans, both are taken again (at most five times).
    let a = scan('native');
    let b = scan('javascript');
    for (let attempt = 1; attempt < 5 && state(a) !== state(b); attempt++) {
      a = scan('native');
      b = scan('javascript');
    }
    const mine = (scan: typeof a) =>
      scan.namespaces
        .flatMap((n) => n.sockets.map((s) => ({ ...s, netns: n.inode })))
        .filter((s) => (scan.owners.get(s.inode) ?? []).some((o) => o.pid === holder.info.pid))
        .map((s) => JSON.stringify({ ...s, owners: scan.owners.get(s.inode) }))
        .sort();
    const fromNative = mine(a);
    expect(fromNative.length).toBeGreaterThanOrEqual(10);
    expect(fromNative).toEqual(mine(b));
    expect(a.namespaces.map((n) => [n.inode, n.name, n.read])).toEqual(b.namespaces.map((n) => [n.inode, n.name, n.read]));
    expect(a.processesDenied).toBe(b.processesDenied);
  });

  it('reports a process that does not exist as exited, not as an error', () => {
    const result = native!.readLinks('/proc', Int32Array.from([holder.info.pid, 2 ** 22 + 7]));
    expect([...result.exited]).toEqual([2 ** 22 + 7]);
    const pids = new Set<number>();
    for (let i = 0; i < result.triples.length; i += 3) pids.add(result.triples[i + 1]!);
    expect(pids).toEqual(new Set([holder.info.pid]));
  });

  it('dumps its own namespace through sock_diag into the same rows as /proc/self/net', () => {
    const names = ['tcp', 'tcp6', 'udp', 'udp6'] as const;
    const paths = names.map((n) => `/proc/self/net/${n}`);
    // The holder's sockets stay put while both reads run; other sockets on the host may come and go.
    const links = native!.readLinks('/proc', Int32Array.from([holder.info.pid]));
    const inodes = new Set<number>();
    for (let i = 0; i < links.triples.length; i += 3) inodes.add(links.triples[i]!);
    const rows = (sockDiag: boolean) => {
      const results = native!.readTables(paths, sockDiag);
      return results.map((result, k) => {
        if (typeof result === 'number') throw new Error(`errno ${result} reading ${paths[k]}`);
        const all = socketsFromColumns(result, PROC_NET_TABLES[names[k]!], { source: paths[k]!, littleEndian: true });
        return { via: result.via, total: all.length, mine: all.filter((s) => inodes.has(s.inode)).map((s) => JSON.stringify(s)).sort() };
      });
    };
    // A read of /proc/net text is not atomic: while other sockets of the namespace come and go
    // (parallel tests), it can skip an entry at a chunk boundary. The holder's rows are compared
    // as soon as two reads agree, at most five times.
    let viaDiag = rows(true);
    let viaFile = rows(false);
    for (let attempt = 1; attempt < 5 && JSON.stringify(viaDiag.map((r) => r.mine)) !== JSON.stringify(viaFile.map((r) => r.mine)); attempt++) {
      viaDiag = rows(true);
      viaFile = rows(false);
    }
    expect(viaDiag.map((r) => r.via)).toEqual(['sock_diag', 'sock_diag', 'sock_diag', 'sock_diag']);
    expect(viaFile.map((r) => r.via)).toEqual(['file', 'file', 'file', 'file']);
    expect(viaDiag.map((r) => r.mine)).toEqual(viaFile.map((r) => r.mine));
    // The holder's listeners, connected pair and UDP sockets are there (its other socket
    // descriptors are Unix sockets), with every field.
    expect(viaDiag.reduce((n, r) => n + r.mine.length, 0)).toBeGreaterThanOrEqual(5);
    expect(viaDiag[0]!.mine.some((s) => s.includes(`"localPort":${holder.info.tcp4}`) && s.includes('"state":"LISTEN"'))).toBe(true);
    expect(viaDiag[3]!.mine.some((s) => s.includes(`"localPort":${holder.info.udp6}`))).toBe(true);
  });

  it('dumps only the states asked for: listeners alone with the LISTEN mask', () => {
    const [all, listening] = [undefined, [1 << 10]].map((states) => {
      const [result] = native!.readTables(['/proc/self/net/tcp'], true, states);
      if (typeof result === 'number') throw new Error(`errno ${result}`);
      expect(result!.via).toBe('sock_diag');
      return socketsFromColumns(result!, PROC_NET_TABLES.tcp, { source: 'tcp', littleEndian: true });
    });
    const holderListener = (rows: typeof all) => rows!.some((s) => s.localPort === holder.info.tcp4 && s.state === 'LISTEN');
    expect(holderListener(all)).toBe(true);
    expect(holderListener(listening)).toBe(true);
    expect(listening!.every((s) => s.state === 'LISTEN')).toBe(true);
    // The holder's connected pair is in the full dump only.
    expect(all!.some((s) => s.localPort === holder.info.client4 || s.remotePort === holder.info.client4)).toBe(true);
    expect(listening!.some((s) => s.localPort === holder.info.client4 || s.remotePort === holder.info.client4)).toBe(false);
  });

  it('leaves out a TCP socket that is only bound, as /proc/net/tcp does (sock_diag dumps it since Linux 6.6)', async () => {
    // A socket bound to a port, neither listening nor connected: no endpoint of the network.
    const bound = await startJsonProcess<{ port: number }>('python3', [
      '-c',
      'import json, socket, sys, time\ns = socket.socket()\ns.bind(("127.0.0.1", 0))\nprint(json.dumps({"port": s.getsockname()[1]}), flush=True)\ntime.sleep(120)',
    ]);
    try {
      const port = bound.info.port;
      const [dumped] = native!.readTables(['/proc/self/net/tcp'], true);
      if (typeof dumped === 'number') throw new Error(`errno ${dumped}`);
      expect(dumped!.via).toBe('sock_diag');
      const rows = socketsFromColumns(dumped!, PROC_NET_TABLES.tcp, { source: 'tcp', littleEndian: true });
      expect(rows.filter((s) => s.localPort === port)).toEqual([]);
      const file = parseProcNet(readFileSync('/proc/self/net/tcp', 'utf8'), PROC_NET_TABLES.tcp, { source: 'tcp', littleEndian: true });
      expect(file.filter((s) => s.localPort === port)).toEqual([]);
      // And so neither scanner reports it, while both see its process's other sockets as usual.
      for (const engine of ['native', 'javascript'] as const) {
        const scan = new LinuxCollector({}, engine).scanSockets({ families: ['ipv4'], owners: true });
        expect(scan.namespaces.flatMap((n) => n.sockets).filter((s) => s.localPort === port), engine).toEqual([]);
      }
    } finally {
      await stop(bound.child);
    }
  });

  it('tells which sockets of its own namespace are still listed, listeners and connections alike', async () => {
    const { server, port, client } = await loopbackPair();
    const collector = new LinuxCollector({}, 'native');
    const scan = collector.scanSockets({ families: ['ipv4'], owners: true });
    const self = scan.namespaces.find((n) => n.sockets.some((s) => s.localPort === port && s.state === 'LISTEN'))!;
    const listener = self.sockets.find((s) => s.localPort === port && s.state === 'LISTEN')!;
    const connection = self.sockets.find((s) => s.localPort === client.localPort && s.remotePort === port)!;
    expect(collector.presentInodes(self.inode, [listener])).toEqual(new Set([listener.inode]));
    expect(collector.presentInodes(self.inode, [listener, connection])).toEqual(new Set([listener.inode, connection.inode]));
    await new Promise<void>((resolve) => client.end(resolve));
    await new Promise<void>((resolve) => client.once('close', () => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Closed: the listener left the table, the connection lingers (if at all) with inode 0.
    expect(collector.presentInodes(self.inode, [listener])).toEqual(new Set());
    expect(collector.presentInodes(self.inode, [listener, connection])).toEqual(new Set());
  });

  it('gives a TIME_WAIT socket the same row both ways (kernel-owned: inode 0, uid 0)', async () => {
    // This process closes its end first, so that end stays in TIME_WAIT for a minute.
    const { server, port, client } = await loopbackPair();
    const clientPort = client.localPort!;
    await new Promise<void>((resolve) => client.end(resolve));
    await new Promise<void>((resolve) => client.once('close', () => resolve()));
    server.close();
    const rowsOf = (sockDiag: boolean) => {
      for (let attempt = 0; attempt < 50; attempt++) {
        const [result] = native!.readTables(['/proc/self/net/tcp'], sockDiag);
        if (typeof result === 'number') throw new Error(`errno ${result}`);
        const rows = socketsFromColumns(result!, PROC_NET_TABLES.tcp, { source: 'tcp', littleEndian: true }).filter((s) => s.localPort === clientPort && s.remotePort === port);
        if (rows.length > 0 && rows.every((s) => s.state === 'TIME_WAIT')) return { via: result!.via, rows: rows.map((s) => JSON.stringify(s)) };
        spawnSync('sleep', ['0.02']);
      }
      throw new Error(`no TIME_WAIT row for 127.0.0.1:${clientPort} -> ${port}`);
    };
    const viaDiag = rowsOf(true);
    const viaFile = rowsOf(false);
    expect([viaDiag.via, viaFile.via]).toEqual(['sock_diag', 'file']);
    expect(viaDiag.rows).toEqual(viaFile.rows);
    expect(JSON.parse(viaDiag.rows[0]!)).toMatchObject({ state: 'TIME_WAIT', inode: 0, uid: 0, listening: false });
  });

  it('dumps /proc/<pid>/net/<table> in the namespace of that process when it may enter it, and reads any other path as a file', () => {
    // The holder shares our namespace; entering it (setns) needs CAP_SYS_ADMIN, which root has.
    // namespaces.test.ts does the same for a namespace of its own.
    const [other] = native!.readTables([`/proc/${holder.info.pid}/net/tcp`], true);
    expect(typeof other === 'number' ? other : other!.via).toBe(process.getuid?.() === 0 ? 'sock_diag' : 'file');
    const fake = join(dir, 'self-net-tcp');
    writeFileSync(fake, '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n');
    const [copy] = native!.readTables([fake], true);
    expect(copy).toMatchObject({ via: 'file', badLine: 0 });
  });

  it('keeps the fast path on a host with more distinct addresses than a small intern table holds', async () => {
    // 4,500 unconnected UDP sockets, each on its own 127.1.x.y address (more than the 4,096 that
    // once sent such a table to the slow reference parser), held by as many processes as the
    // open-file limit needs.
    const total = 4500;
    const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 1024;
    const perProcess = Math.max(100, Math.min(total, limit - 64));
    const holders: Started<{ pid: number; addresses: string[] }>[] = [];
    try {
      for (let first = 0; first < total; first += perProcess) {
        holders.push(await startJsonProcess(process.execPath, [MANY, String(first), String(Math.min(perProcess, total - first))]));
      }
      const wanted = new Set(holders.flatMap((h) => h.info.addresses));
      expect(wanted.size).toBe(total);
      const mine = (sockDiag: boolean) => {
        const [result] = native!.readTables(['/proc/self/net/udp'], sockDiag);
        if (typeof result === 'number') throw new Error(`errno ${result}`);
        expect(result!.badLine).toBe(0);
        expect(result!.hex.length).toBeGreaterThanOrEqual(total);
        const rows = socketsFromColumns(result!, PROC_NET_TABLES.udp, { source: 'udp', littleEndian: true }).filter((s) => wanted.has(s.localAddress));
        return { via: result!.via, rows: rows.map((s) => JSON.stringify(s)).sort() };
      };
      // Every one of them is there both ways. A /proc/net text read can skip an entry while other
      // sockets of the namespace change (parallel tests), so a short read is taken again, at most
      // five times.
      const complete = (sockDiag: boolean) => {
        let read = mine(sockDiag);
        for (let attempt = 1; attempt < 5 && read.rows.length !== total; attempt++) read = mine(sockDiag);
        return read;
      };
      const viaDiag = complete(true);
      const viaFile = complete(false);
      expect([viaDiag.via, viaFile.via]).toEqual(['sock_diag', 'file']);
      expect(viaDiag.rows).toHaveLength(total);
      expect(viaDiag.rows).toEqual(viaFile.rows);
      // ...and a whole scan attributes every one of them to the process that holds it.
      const scan = new LinuxCollector({}, 'native').scanSockets({ families: ['ipv4'], owners: true });
      const pids = new Set(holders.map((h) => h.info.pid));
      const found = scan.namespaces.flatMap((n) => n.sockets).filter((s) => s.transport === 'udp' && wanted.has(s.localAddress));
      expect(found).toHaveLength(total);
      expect(found.every((s) => (scan.owners.get(s.inode) ?? []).some((o) => pids.has(o.pid)))).toBe(true);
    } finally {
      await Promise.all(holders.map((h) => stop(h.child)));
    }
  }, 60_000);

  it('reads many files and links in one call: whole contents of any size, link targets, and the errno of each that fails', () => {
    const small = join(dir, 'small.txt');
    const middle = join(dir, 'middle.bin');
    const large = join(dir, 'large.bin');
    const link = join(dir, 'a-link');
    writeFileSync(small, 'one line\n');
    // Across the 16 KiB the scanner first reads into, and the 64 KiB steps of its larger reads.
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 9)) % 256));
    writeFileSync(middle, bytes(16_384));
    writeFileSync(large, bytes(200_003));
    const target = `${dir}/${'t'.repeat(200)}/${'u'.repeat(3_000)}`;
    symlinkSync(target, link);
    const paths = [small, '/proc/self/exe', join(dir, 'absent'), middle, link, large, link, small, '/proc/self/stat'];
    const links = new Uint8Array([0, 1, 0, 0, 1, 0, 0, 1, 0]);
    const { bytes: all, offsets, errors } = native!.readFiles(paths, links);
    const at = (i: number) => Buffer.from(all.buffer, all.byteOffset + offsets[i]!, offsets[i + 1]! - offsets[i]!);
    // ENOENT for the absent file and for the link read as a file (its target does not exist); EINVAL
    // for a regular file read as a link.
    expect([...errors]).toEqual([0, 0, 2, 0, 0, 0, 2, 22, 0]);
    expect(at(0).toString()).toBe('one line\n');
    expect(at(1).toString()).toBe(realpathSync(process.execPath));
    expect(at(3).equals(bytes(16_384))).toBe(true);
    expect(at(4).toString()).toBe(target);
    expect(at(5).equals(bytes(200_003))).toBe(true);
    expect(at(8).toString()).toMatch(new RegExp(`^${process.pid} \\(`));
    expect(native!.readFiles([])).toEqual({ bytes: new Uint8Array(0), offsets: new Float64Array([0]), errors: new Int32Array(0) });
    expect(() => native!.readFiles([small], new Uint8Array(2))).toThrow(/as long as paths/);
  });

  it('reads a list of processes in one batch exactly as it reads each alone (exited, protected, hostile, deleted and long ones among them)', async () => {
    const long = Array.from({ length: 6 }, (_, k) => `${k}:${'é-x'.repeat(15_000)}`);
    const hostile = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, '--title', 'bad\u001b[2J\nname']);
    const big = await startJsonProcess<{ pid: number }>(process.execPath, [HOLDER, ...long]);
    const copy = join(dir, 'node-copy');
    copyFileSync(process.execPath, copy);
    chmodSync(copy, 0o755);
    const deleted = await startJsonProcess<{ pid: number }>(copy, [HOLDER]);
    unlinkSync(copy);
    const exited = spawnSync(process.execPath, ['-e', '0']).pid!;
    try {
      const pids = [1, process.pid, holder.info.pid, hostile.info.pid, big.info.pid, deleted.info.pid, exited, 2];
      const collector = new LinuxCollector({}, 'native');
      const batch = collector.readProcessList(pids);
      const single = pids.map((pid) => collector.readProcess(pid));
      expect(batch).toEqual(single);
      expect(batch.map((p) => p.pid)).toEqual(pids);
      expect(batch[4]!.commandLine).toEqual([process.execPath, HOLDER, ...long]);
      expect(batch[5]!.executableDeleted).toBe(true);
      expect(batch[6]!.gone).toBe(true);
      // A collector whose files are not the default ones (a replay) reads one process at a time.
      const replay = new LinuxCollector({ readExact: (path) => (path.endsWith('/stat') ? '1 (replayed) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0' : '') }, 'native');
      expect(replay.readProcessList([process.pid, holder.info.pid]).map((p) => p.name)).toEqual(['replayed', 'replayed']);
    } finally {
      await Promise.all([stop(hostile.child), stop(big.child), stop(deleted.child)]);
    }
  });

  it('returns the errno of a table it cannot read', () => {
    expect(native!.readTables([join(dir, 'absent')])).toEqual([2]);
  });

  it('splits any table exactly as the reference parser does, or defers to it', () => {
    const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0');
    const row = fc.record({
      v6: fc.boolean(),
      la: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
      ra: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
      lp: fc.integer({ min: 0, max: 65535 }),
      rp: fc.integer({ min: 0, max: 65535 }),
      st: fc.integer({ min: 1, max: 12 }),
      uid: fc.integer({ min: 0, max: 2 ** 31 }),
      inode: fc.integer({ min: 0, max: 2 ** 32 }),
    });
    let n = 0;
    fc.assert(
      fc.property(fc.boolean(), fc.array(row, { maxLength: 40 }), fc.array(fc.string(), { maxLength: 2 }), (v6, rows, junk) => {
        const words = v6 ? 4 : 1;
        const lines = ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'];
        rows.forEach((r, i) => {
          const la = r.la.slice(0, words).map((w) => hex(w, 8)).join('');
          const ra = r.ra.slice(0, words).map((w) => hex(w, 8)).join('');
          lines.push(`${String(i).padStart(4)}: ${la}:${hex(r.lp, 4)} ${ra}:${hex(r.rp, 4)} ${hex(r.st, 2)} 00000000:00000000 00:00000000 00000000 ${String(r.uid).padStart(5)}        0 ${r.inode} 1 0000000000000000 20 4 0 10 -1`);
        });
        for (const j of junk) lines.splice(1 + (j.length % (lines.length)), 0, j);
        const path = join(dir, `table-${n++}`);
        writeFileSync(path, `${lines.join('\n')}\n`, 'latin1');
        const table = v6 ? PROC_NET_TABLES.tcp6 : PROC_NET_TABLES.tcp;
        let reference: unknown;
        try {
          reference = parseProcNet(lines.join('\n') + '\n', table, { source: path, littleEndian: true });
        } catch (error) {
          expect(error).toBeInstanceOf(ParseError);
          reference = 'error';
        }
        const [result] = native!.readTables([path]);
        if (typeof result === 'number') throw new Error(`errno ${result}`);
        if (result!.badLine > 0) return; // the collector re-parses with the reference parser
        expect(reference).not.toBe('error');
        // The same rows; the scanner may hand them over in another order (it presorts by port).
        const canonical = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
        const rowsOut = socketsFromColumns(result!, table, { source: path, littleEndian: true });
        expect(canonical(rowsOut)).toEqual(canonical(reference as unknown[]));
        // ...listeners first, then by local port and remote port
        const key = (s: (typeof rowsOut)[number]) => (s.listening ? 0 : 1) * 2 ** 32 + s.localPort * 65536 + s.remotePort;
        for (let i = 1; i < rowsOut.length; i++) expect(key(rowsOut[i]!)).toBeGreaterThanOrEqual(key(rowsOut[i - 1]!));
      }),
      { numRuns: 300 },
    );
  });
});
