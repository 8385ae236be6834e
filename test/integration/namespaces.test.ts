import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';
import { loadNativeProcScan } from '../../src/collect/native-procscan.js';
import { PROC_NET_TABLES, socketsFromColumns } from '../../src/collect/parse/proc-net.js';
import type { NamespaceRecord, Snapshot } from '../../src/model/types.js';
import { snapshot } from '../../src/snapshot/snapshot.js';
import { AS_NOBODY, checkAsNobody, CLI, HOLDER, haveCommand, isRoot, ROOT, runCli, scratchDir, skipWithReason, startJsonProcess, stop, type Started } from '../helpers/processes.js';
import { parseNamespaceLink } from '../../src/collect/parse/proc-process.js';

const skip = skipWithReason(
  !isRoot || !haveCommand('ip') || !haveCommand('nsenter'),
  'network namespace tests: need root and the ip (iproute2) and nsenter (util-linux) commands',
);

const NS = `netmon-test-${process.pid}`;
const EMPTY_NS = `netmon-empty-${process.pid}`;

function readlinkOr(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

describe.skipIf(skip)('network namespaces (ip netns add)', () => {
  let inner: Started<{ pid: number; tcp4: number; tcp6: number }>;

  beforeAll(async () => {
    ip('netns', 'add', NS);
    ip('netns', 'add', EMPTY_NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    // A listener on a fixed, non-ephemeral port inside the namespace.
    inner = await startJsonProcess('ip', ['netns', 'exec', NS, process.execPath, HOLDER, '--listen-port', '2323']);
  });

  afterAll(async () => {
    await stop(inner?.child);
    spawnSync('ip', ['netns', 'del', NS]);
    spawnSync('ip', ['netns', 'del', EMPTY_NS]);
  });

  it('the live view into a pipe keeps a long namespace name whole (grep finds it); COLUMNS fits it to a width', async () => {
    const LONG = `netmon-a-namespace-with-a-rather-long-name-${process.pid}`;
    ip('netns', 'add', LONG);
    let holder: Started<{ pid: number }> | undefined;
    try {
      ip('-n', LONG, 'link', 'set', 'lo', 'up');
      holder = await startJsonProcess('ip', ['netns', 'exec', LONG, process.execPath, HOLDER, '--listen-port', '2437']);
      const args = ['snapshot', '--no-hash-binaries', '--filter', ':2437'];
      const piped = runCli(args, { env: { ...process.env, COLUMNS: '' } });
      expect(piped.status, piped.stderr).toBe(0);
      // The namespace's listener (a TIME-WAIT of the host on that port may linger).
      const rows = piped.stdout.split('\n').filter((line) => line.includes(':2437') && line.includes('LISTEN'));
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(row).toContain(` ${LONG} `);
      for (const row of rows) expect(row).not.toContain('…');
      const fitted = runCli(args, { env: { ...process.env, COLUMNS: '70' } });
      expect(fitted.status, fitted.stderr).toBe(0);
      const narrow = fitted.stdout.split('\n').filter((line) => line.includes(':2437') && line.includes('LISTEN'));
      expect(narrow.length).toBe(rows.length);
      for (const row of narrow) {
        expect(row.length).toBeLessThanOrEqual(70);
        expect(row).toContain('…');
      }
    } finally {
      await stop(holder?.child);
      spawnSync('ip', ['netns', 'del', LONG]);
    }
  });

  it('takes a file left in /run/netns that binds no namespace for none (it was a namespace "not read" at every capture)', async () => {
    const stale = `/run/netns/netmon-stale-${process.pid}`;
    writeFileSync(stale, '');
    try {
      const snap = await snapshot({ hashBinaries: false });
      expect(snap.namespaces.some((n) => n.name === `netmon-stale-${process.pid}`)).toBe(false);
      expect(snap.warnings.some((w) => w.message.includes(`netmon-stale-${process.pid}`))).toBe(false);
      // A real binding beside it is still read.
      expect(snap.namespaces.find((n) => n.name === NS)).toMatchObject({ read: true });
    } finally {
      rmSync(stale, { force: true });
    }
  });

  it('finds a listener in an unnamed namespace that only one thread of a process entered, attributed to that process (from a container-host probe: it was missing)', async () => {
    const script = join(ROOT, 'test/fixtures/thread-netns.py');
    const threaded = await startJsonProcess<{ pid: number; tid: number; port: number; error?: string }>('/usr/bin/python3', [script, '2491']);
    try {
      expect(threaded.info.error).toBeUndefined();
      const ns = parseNamespaceLink(readlinkSync(`/proc/${threaded.info.tid}/ns/net`))!;
      expect(ns).not.toBe(parseNamespaceLink(readlinkSync(`/proc/${threaded.info.pid}/ns/net`)));
      const snap = await snapshot({ hashBinaries: false, filters: { filter: [':2491'] } });
      const listener = snap.sockets.find((s) => s.listening && s.localPort === 2491 && s.netns === ns);
      expect(listener, JSON.stringify(snap.sockets)).toBeDefined();
      expect(listener!.owners.map((o) => o.pid)).toEqual([threaded.info.pid]);
      expect(snap.namespaces.find((n) => n.inode === ns)).toMatchObject({ read: true, host: false, name: null });
    } finally {
      await stop(threaded.child);
    }
  });

  it('reports the socket under its own namespace, named, and not as the host', async () => {
    const snap = await snapshot({ hashBinaries: false });
    const host = snap.namespaces.find((n) => n.host)!;
    const named = snap.namespaces.find((n) => n.name === NS);
    expect(named).toBeDefined();
    expect(named!.read).toBe(true);
    expect(named!.host).toBe(false);
    const listener = snap.sockets.filter((s) => s.state === 'LISTEN' && s.localPort === 2323);
    expect(listener).toHaveLength(1);
    expect(listener[0]!.netns).toBe(named!.inode);
    expect(listener[0]!.netns).not.toBe(host.inode);
    expect(listener[0]!.owners.map((o) => o.pid)).toEqual([inner.info.pid]);
    expect(snap.processes.find((p) => p.pid === inner.info.pid)?.netns).toBe(named!.inode);
  });

  it('--interval change output: a text line names the namespace, and -o ecs makes an accepted connection ingress (from the capture\'s listeners) and what closed an end event', async () => {
    // Before: the text line read like a host socket; ECS rendered only what opened, as an
    // inventory of its own (an accepted connection came out as egress from the service port),
    // and nothing for what closed.
    for (const output of ['text', 'ecs'] as const) {
      const db = join(scratchDir(), `interval-${output}-${process.pid}.db`);
      const child = spawn(process.execPath, [CLI, '--interval', '0.5', '--db', db, '--no-csv', '--no-hash-binaries', '--include-ephemeral', '--filter', ':2323', '-o', output], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const until = async (what: string, cond: () => boolean) => {
        const deadline = Date.now() + 20_000;
        while (!cond()) {
          if (Date.now() > deadline) throw new Error(`-o ${output}: no ${what}: ${out}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      let client: Started<{ pid: number }> | undefined;
      try {
        await until('first output', () => out.length > 0);
        client = await startJsonProcess('ip', ['netns', 'exec', NS, process.execPath, HOLDER, '--connect', '127.0.0.1:2323']);
        await until('opened connection', () => (output === 'text' ? /\+ tcp 127\.0\.0\.1:2323 127\.0\.0\.1:\d+ ESTABLISHED/.test(out) : out.includes('socket-opened')));
        await stop(client.child);
        client = undefined;
        // Both ends: the client's closes with its process, the server's only once the holder has
        // read the end of the stream, which a capture may fall between.
        await until('closed ends', () =>
          output === 'text' ? /- tcp 127\.0\.0\.1:2323 /.test(out) && /- tcp 127\.0\.0\.1:\d+ 127\.0\.0\.1:2323 /.test(out) : (out.match(/socket-closed/g) ?? []).length >= 2,
        );
      } finally {
        await stop(client?.child);
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
      if (output === 'text') {
        expect(out).toMatch(new RegExp(`\\+ tcp 127\\.0\\.0\\.1:2323 127\\.0\\.0\\.1:\\d+ ESTABLISHED pid \\d+ \\S+ netns ${NS}`));
        expect(out).toMatch(new RegExp(`- tcp 127\\.0\\.0\\.1:2323 127\\.0\\.0\\.1:\\d+ \\S+ pid \\d+ \\S+ netns ${NS}`));
        // The client's end closed with its process: its owner is named as the capture before saw it.
        expect(out).toMatch(new RegExp(`- tcp 127\\.0\\.0\\.1:\\d+ 127\\.0\\.0\\.1:2323 \\S+ pid \\d+ node netns ${NS}`));
        expect(out).not.toMatch(/^- .* pid \d+ \? /m);
      } else {
        const docs = out.trim().split('\n').map((l) => JSON.parse(l) as { event: { kind: string; type: string[]; action?: string }; network: { direction?: string }; destination?: { port: number }; process?: { pid: number; name?: string } });
        const accepted = docs.find((d) => d.event.action === 'socket-opened' && d.destination?.port === 2323);
        expect(accepted, out).toMatchObject({ event: { kind: 'event', type: ['connection', 'start'] }, network: { direction: 'ingress' } });
        const ended = docs.filter((d) => d.event.action === 'socket-closed');
        expect(ended.length).toBeGreaterThanOrEqual(1);
        for (const d of ended) expect(d.event.type).toEqual(['connection', 'end']);
        // Both ends keep their owner, the client's too, whose process has exited since.
        expect(ended.length).toBe(2);
        for (const d of ended) expect(d.process?.name, JSON.stringify(d)).toBe('node');
      }
    }
  });

  it('reads a namespace no process lives in through its ip netns binding', async () => {
    // Other test files scan at the same time, and their scans enter this namespace for a moment
    // (nsenter) to read it: a scan that catches one of those processes in it counts it. Such a
    // scan is taken again, at most five times.
    let empty: NamespaceRecord | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      empty = (await snapshot({ hashBinaries: false })).namespaces.find((n) => n.name === EMPTY_NS);
      if (empty?.processes === 0) break;
    }
    expect(empty).toMatchObject({ read: true, processes: 0, host: false, sockets: 0 });
  });

  it.skipIf(skipWithReason(!haveCommand('setpriv'), 'the run without root: needs setpriv (util-linux)'))('without root, says a namespace with a process in it was not read because none of its processes is readable (not that none lives in it)', () => {
    const r = runCli(['snapshot', '--output', 'json', '--no-hash-binaries', '--filter', ':2323'], {
      prefix: AS_NOBODY,
    });
    expect(r.status, r.stderr).toBe(0);
    const ns = (JSON.parse(r.stdout) as Snapshot).namespaces.find((n) => n.name === NS);
    expect(ns).toMatchObject({ read: false });
    expect(ns!.reason).toBe(`no process in it is readable by this user, and entering /run/netns/${NS} needs root`);
    expect(r.stderr).toContain(`network namespace ${NS} was not read: no process in it is readable by this user`);
  });

  it.skipIf(skipWithReason(!haveCommand('setpriv'), 'the run without root: needs setpriv (util-linux)'))('check without root does not report the listeners of a namespace it cannot read as closed: it leaves them out, with a note', () => {
    const r = checkAsNobody(['--filter', ':2323', '--no-hash-binaries'], ['--fail-on', 'info']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/closed/);
    expect(r.stderr).toMatch(new RegExp(`note: this capture could not read the network namespace ${NS}: the \\d+ sockets? the baseline holds there (is|are) not compared`));
  });

  it.skipIf(skipWithReason(!haveCommand('setpriv') || !haveCommand('unshare'), 'the run without root: needs setpriv and unshare (util-linux)'))(
    'check without root does not report the listeners of a namespace it cannot even find (no ip netns binding) as closed',
    async () => {
      // Before, only a namespace the capture found and could not read was left out; one found only
      // through another user's process was missing from the capture, and its listeners came out closed.
      const hidden = await startJsonProcess<{ pid: number }>('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec ${process.execPath} ${HOLDER} --listen-port 2326`]);
      try {
        const r = checkAsNobody(['--filter', ':2326', '--no-hash-binaries'], ['--fail-on', 'info']);
        expect(r.status, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).not.toMatch(/closed/);
        expect(r.stderr).toMatch(/note: this capture could not read the network namespace \d+: the \d+ sockets? the baseline holds there (is|are) not compared/);
      } finally {
        await stop(hidden.child);
      }
    },
  );

  it('reads each namespace once, not once per process', async () => {
    const snap = await snapshot({ hashBinaries: false });
    const inodes = snap.namespaces.map((n) => n.inode);
    expect(new Set(inodes).size).toBe(inodes.length);
  });

  it('native scanner: dumps another namespace through sock_diag (entering it) into the same rows as its /proc/<pid>/net files', ({ skip: skipTest }) => {
    const native = loadNativeProcScan(true);
    if (native === null) return skipTest('the native scanner is not built');
    const names = ['tcp', 'tcp6', 'udp', 'udp6'] as const;
    const paths = names.map((n) => `/proc/${inner.info.pid}/net/${n}`);
    const rows = (sockDiag: boolean) =>
      native.readTables(paths, sockDiag).map((result, k) => {
        if (typeof result === 'number') throw new Error(`errno ${result} reading ${paths[k]}`);
        const sockets = socketsFromColumns(result, PROC_NET_TABLES[names[k]!], { source: paths[k]!, littleEndian: true });
        return { via: result.via, rows: sockets.map((s) => JSON.stringify(s)).sort() };
      });
    const ours = readlinkSync('/proc/thread-self/ns/net');
    const viaDiag = rows(true);
    const viaFile = rows(false);
    // Only a thread of the scanner's own entered the namespace: this one never left ours.
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(ours);
    expect(viaDiag.map((r) => r.via)).toEqual(['sock_diag', 'sock_diag', 'sock_diag', 'sock_diag']);
    expect(viaFile.map((r) => r.via)).toEqual(['file', 'file', 'file', 'file']);
    // The namespace holds only the holder's sockets: nothing else comes or goes during the reads.
    expect(viaDiag.map((r) => r.rows)).toEqual(viaFile.map((r) => r.rows));
    expect(viaDiag[0]!.rows.some((r) => r.includes('"localPort":2323') && r.includes('"state":"LISTEN"'))).toBe(true);
  });

  it('native scanner: dumps a namespace through its ip netns binding, with no nsenter process (same rows as its /proc/<pid>/net files)', ({ skip: skipTest }) => {
    const native = loadNativeProcScan(true);
    if (native === null) return skipTest('the native scanner is not built');
    const binding = `/run/netns/${NS}`;
    const [bound] = native.readTables([`${binding}:/proc/net/tcp`], true);
    const [file] = native.readTables([`/proc/${inner.info.pid}/net/tcp`], false);
    if (typeof bound === 'number' || typeof file === 'number') throw new Error(`errno ${String(bound)} / ${String(file)}`);
    expect([bound!.via, file!.via]).toEqual(['sock_diag', 'file']);
    const rows = (r: typeof bound) => socketsFromColumns(r!, PROC_NET_TABLES.tcp, { source: 'tcp', littleEndian: true }).map((s) => JSON.stringify(s)).sort();
    expect(rows(bound)).toEqual(rows(file));
    // Not a namespace file: nothing to fall back to, the errno (EINVAL from setns).
    const [wrong] = native.readTables(['/etc/hostname:/proc/net/tcp'], true);
    expect(typeof wrong).toBe('number');
    // A whole scan reads the empty namespace without nsenter: no PATH to find it on.
    const r = runCli(['snapshot', '--output', 'json', '--no-hash-binaries', '--filter', ':1'], { env: { ...process.env, PATH: '/nonexistent' } });
    expect(r.status, r.stderr).toBe(0);
    const namespaces = (JSON.parse(r.stdout) as { namespaces: NamespaceRecord[] }).namespaces;
    expect(namespaces.find((n) => n.name === EMPTY_NS)).toMatchObject({ read: true, sockets: 0 });
  });

  it('native scanner: without the privilege to enter another namespace, reads its files instead', ({ skip: skipTest }) => {
    if (loadNativeProcScan(true) === null) return skipTest('the native scanner is not built');
    const addon = new URL('../../build/Release/netmon_procscan.node', import.meta.url).pathname;
    const script = `const n = require(${JSON.stringify(addon)}); const r = n.readTables(['/proc/${inner.info.pid}/net/tcp'], true)[0]; console.log(typeof r === 'number' ? 'errno ' + r : r.via + ' ' + r.nums.length / 5);`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // As nobody, the namespace cannot be entered; its table is still read (world-readable text), or refused.
    expect(r.stdout.trim()).toMatch(/^(file \d+|errno \d+)$/);
  });

  it('a reader that is no longer in the namespace after its tables were read is not trusted: they are read again through another member', async () => {
    // A second member of the namespace, so that there is another process to read it through.
    const sleeper: ChildProcess = spawn('ip', ['netns', 'exec', NS, 'sleep', '60'], { stdio: 'ignore' });
    try {
      const nsLink = readlinkSync(`/proc/${inner.info.pid}/ns/net`);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !(sleeper.pid && readlinkOr(`/proc/${sleeper.pid}/ns/net`) === nsLink)) await new Promise((r) => setTimeout(r, 20));
      expect(readlinkOr(`/proc/${sleeper.pid}/ns/net`), 'sleep runs in the test namespace').toBe(nsLink);
      const members = new Set([inner.info.pid, sleeper.pid!]);
      // Real /proc; the one change: the first member whose tables are read reports another
      // namespace from then on, as a pid reused by a process elsewhere would.
      let moved: number | null = null;
      const tablesRead: string[] = [];
      const collector = new LinuxCollector({
        readFile: (path) => {
          const m = /^\/proc\/(\d+)\/net\//.exec(path);
          if (m && members.has(Number(m[1]))) {
            tablesRead.push(path);
            moved ??= Number(m[1]);
          }
          return readFileSync(path, 'utf8');
        },
        readlink: (path) => (moved !== null && path === `/proc/${moved}/ns/net` ? 'net:[1]' : readlinkSync(path)),
      });
      const snap = await snapshot({ collector, hashBinaries: false, filters: { filter: [':2323'] } });
      expect(moved).not.toBeNull();
      const other = [...members].find((pid) => pid !== moved)!;
      // Read through the reader, distrusted, then through the other member.
      expect(tablesRead.some((p) => p.startsWith(`/proc/${moved}/net/`))).toBe(true);
      expect(tablesRead.some((p) => p.startsWith(`/proc/${other}/net/`))).toBe(true);
      const named = snap.namespaces.find((n) => n.name === NS);
      expect(named).toMatchObject({ read: true });
      const listener = snap.sockets.filter((s) => s.state === 'LISTEN' && s.localPort === 2323);
      expect(listener).toHaveLength(1);
      expect(listener[0]!.netns).toBe(named!.inode);
    } finally {
      await stop(sleeper);
    }
  });

  it('shows the namespace column in the live view', () => {
    const r = runCli(['snapshot', '--filter', ':2323']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/NETNS/);
    expect(r.stdout).toContain(NS.slice(0, 6));
  });
});

describe.skipIf(skip)('the --interval live view across namespaces that come and go (from a container-host probe)', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(25);
    }
  }
  function loop(args: string[], prefix: string[] = []): { child: ChildProcess; out: () => string; err: () => string } {
    const [command, ...pre] = prefix.length > 0 ? prefix : [process.execPath];
    const child = spawn(command!, [...pre, ...(prefix.length > 0 ? [process.execPath] : []), CLI, '--interval', '0.3', '--no-hash-binaries', '--no-csv', ...args], { cwd: scratchDir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return { child, out: () => out, err: () => err };
  }

  it('a socket that closed with its namespace is shown in that namespace, by the name it had', async () => {
    const gone = `netmon-gone-${process.pid}`;
    ip('netns', 'add', gone);
    ip('-n', gone, 'link', 'set', 'lo', 'up');
    let holder: Started<{ pid: number }> | undefined = await startJsonProcess('ip', ['netns', 'exec', gone, process.execPath, HOLDER, '--listen-port', '2481']);
    const db = join(scratchDir(), `gone-${process.pid}.db`);
    const capture = loop(['--db', db, '--filter', ':2481', '--listening-only']);
    try {
      await until('the first capture', () => capture.out().includes(':2481'));
      await stop(holder.child);
      holder = undefined;
      ip('netns', 'del', gone);
      await until('the closed line', () => /^\S+ - tcp 127\.0\.0\.1:2481 .*$/m.test(capture.out()));
    } finally {
      await stop(holder?.child);
      spawnSync('ip', ['netns', 'del', gone]);
      await stop(capture.child);
    }
    const line = /^\S+ - tcp 127\.0\.0\.1:2481 .*$/m.exec(capture.out())![0];
    // Before: the namespace was looked up in the new capture, where it no longer is (a bare inode,
    // or the name of a new namespace that got its inode).
    expect(line).toMatch(new RegExp(` netns ${gone}$`));
  });

  it('as nobody, a namespace it cannot read that appears later is warned about when it appears, not only at the first capture', async () => {
    const late = `netmon-late-${process.pid}`;
    const dir = scratchDir();
    const capture = loop(['--db', join(dir, `late-${process.pid}.db`), '--filter', ':1'], AS_NOBODY);
    try {
      await until('two captures', () => (capture.err().match(/^netmon: /gm) ?? []).length > 0 && capture.out().includes('coverage'));
      await sleep(700);
      const before = capture.err();
      expect(before).not.toContain(late);
      ip('netns', 'add', late);
      await until('the warning', () => capture.err().includes(`network namespace ${late} was not read`));
      await sleep(1000);
      // Said when it appeared, not again at every tick.
      expect(capture.err().split(`network namespace ${late} was not read`).length - 1).toBe(1);
    } finally {
      spawnSync('ip', ['netns', 'del', late]);
      await stop(capture.child);
    }
  });
});
