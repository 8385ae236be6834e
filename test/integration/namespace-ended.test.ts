import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';
import { renderLeftOutLine } from '../../src/outputs/text.js';
import { snapshot } from '../../src/snapshot/snapshot.js';

/**
 * A namespace whose every process exits during the scan ended with them: it is not one netmon
 * failed to read. Before, it was reported unread ("sockets may be missing"), and its sockets, left
 * without a holder, were labelled as if an unreadable process held them. A small /proc tree on
 * disk (real files and links) makes the exit happen at an exact moment.
 */
const root = mkdtempSync(join(tmpdir(), 'netmon-nsend-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HOST = 4026531840;
const OTHER = 4026532999;
const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (port: number, inode: number) =>
  `   0: 0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;

function addProcess(pid: number, ns: number, tcp: string, fds: Record<number, number> = {}): void {
  for (const d of ['fd', 'ns', 'net']) fs.mkdirSync(join(root, String(pid), d), { recursive: true });
  fs.symlinkSync(`net:[${ns}]`, join(root, String(pid), 'ns', 'net'));
  fs.writeFileSync(join(root, String(pid), 'net', 'tcp'), tcp);
  fs.writeFileSync(join(root, String(pid), 'net', 'udp'), HEADER);
  for (const [fd, inode] of Object.entries(fds)) fs.symlinkSync(`socket:[${inode}]`, join(root, String(pid), 'fd', fd));
}

/** A collector of this /proc tree whose file reads go through `read`, to act at an exact moment. */
const collectorReading = (read: (path: string) => string): LinuxCollector => new LinuxCollector({ procRoot: root, netnsDirs: [], readFile: read });

describe('a network namespace whose processes all exit during the scan', () => {
  addProcess(1, HOST, HEADER + row(80, 100), { 3: 100 });
  fs.symlinkSync('1', join(root, 'self'));

  it('is left out, without a warning that it was not read, when it ends while its tables are read', () => {
    addProcess(5, OTHER, HEADER + row(81, 300));
    const collector = collectorReading((path) => {
      const text = fs.readFileSync(path, 'utf8');
      // Its only process exits right after the read: the read cannot be trusted, and no other member is left.
      if (path === join(root, '5', 'net', 'tcp')) fs.rmSync(join(root, '5'), { recursive: true });
      return text;
    });
    const scan = collector.scanSockets({ families: ['ipv4'], owners: true });
    expect(scan.namespaces.map((n) => n.inode)).toEqual([HOST]);
    expect(scan.namespaces.every((n) => n.read)).toBe(true);
  });

  it('is still reported unread when a process in it lives but cannot be read', () => {
    addProcess(6, OTHER, HEADER + row(81, 300));
    const collector = collectorReading((path) => {
      if (path === join(root, '6', 'net', 'tcp')) throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
      return fs.readFileSync(path, 'utf8');
    });
    const scan = collector.scanSockets({ families: ['ipv4'], owners: true });
    expect(scan.namespaces.find((n) => n.inode === OTHER)).toMatchObject({ read: false, reason: expect.stringContaining('EACCES') });
    fs.rmSync(join(root, '6'), { recursive: true });
  });

  it('is left out when its ip netns binding is removed too (ip netns del as its last process exits), not reported unread (from a container-host probe)', () => {
    addProcess(8, OTHER, HEADER + row(83, 302));
    const bindings = mkdtempSync(join(tmpdir(), 'netmon-nsbind-'));
    const binding = join(bindings, 'blue');
    fs.writeFileSync(binding, '');
    try {
      const collector = new LinuxCollector({
        procRoot: root,
        netnsDirs: [bindings],
        getuid: () => 0,
        // The binding as /run/netns holds it: a mount of the namespace file system, naming OTHER.
        fsType: () => 0x6e736673,
        statInode: (path) => {
          if (path !== binding) return Number(fs.statSync(path).ino);
          if (!fs.existsSync(binding)) throw Object.assign(new Error(`ENOENT: no such file or directory, stat '${path}'`), { code: 'ENOENT' });
          return OTHER;
        },
        readFile: (path) => {
          const text = fs.readFileSync(path, 'utf8');
          // Its only process exits right after the read, and the binding goes with the namespace.
          if (path === join(root, '8', 'net', 'tcp')) {
            fs.rmSync(join(root, '8'), { recursive: true });
            fs.rmSync(binding);
          }
          return text;
        },
      });
      const scan = collector.scanSockets({ families: ['ipv4'], owners: true });
      expect(scan.namespaces.map((n) => n.inode)).toEqual([HOST]);
      expect(scan.namespaces.every((n) => n.read)).toBe(true);
    } finally {
      rmSync(bindings, { recursive: true, force: true });
    }
  });

  it('has its unheld sockets found closed (none present) once its last process has exited, not left unknown', () => {
    addProcess(7, OTHER, HEADER + row(82, 301));
    const collector = new LinuxCollector({ procRoot: root, netnsDirs: [] });
    const scan = collector.scanSockets({ families: ['ipv4'], owners: true });
    const socket = scan.namespaces.find((n) => n.inode === OTHER)!.sockets.find((s) => s.inode === 301)!;
    expect(scan.owners.has(301)).toBe(false);
    fs.rmSync(join(root, '7'), { recursive: true });
    expect(collector.presentInodes(OTHER, [socket])).toEqual(new Set());
  });
});

describe('a socket that closes between the table read and the descriptor walk (from an endurance probe)', () => {
  const SHORT = 4026533111;
  /** Process 12 in its own namespace holds socket 400; on the next read of its table it closes it. */
  function setUp(): { closeOnRead: { armed: boolean } } {
    addProcess(12, SHORT, HEADER + row(84, 400), { 4: 400 });
    const closeOnRead = { armed: false };
    return { closeOnRead };
  }
  const readingWith = (closeOnRead: { armed: boolean }) =>
    collectorReading((path) => {
      const text = fs.readFileSync(path, 'utf8');
      if (closeOnRead.armed && path === join(root, '12', 'net', 'tcp')) {
        // Closed right after the table was read: the walk finds no holder, and a re-read no socket.
        closeOnRead.armed = false;
        fs.rmSync(join(root, '12', 'fd', '4'));
        fs.writeFileSync(path, HEADER);
      }
      return text;
    });

  it('in a capture loop, one the previous capture attributed is left out (the store records it closed, with its owner), not kept without one', async () => {
    const { closeOnRead } = setUp();
    onTestFinished(() => fs.rmSync(join(root, '12'), { recursive: true, force: true }));
    const collector = readingWith(closeOnRead);
    // (No walk reuse: the size of a directory on disk, unlike /proc/<pid>/fd, does not count its links.)
    const first = await snapshot({ collector, hashBinaries: false });
    expect(first.sockets.find((s) => s.inode === 400)?.owners.map((o) => o.pid)).toEqual([12]);
    closeOnRead.armed = true;
    const ownedBefore = new Set(first.sockets.filter((s) => s.owners.length > 0).map((s) => s.inode));
    const second = await snapshot({ collector, hashBinaries: false, ownedBefore });
    expect(closeOnRead.armed).toBe(false);
    expect(second.sockets.some((s) => s.inode === 400)).toBe(false);
    // Not counted as read and left out by the selection either.
    expect(second.namespaces.find((n) => n.inode === SHORT)?.sockets).toBe(0);
    expect(renderLeftOutLine(second)).toBeNull();
  });

  it('without a previous capture (netmon --once, snapshot), it is kept with its reason, process-exited', async () => {
    const { closeOnRead } = setUp();
    onTestFinished(() => fs.rmSync(join(root, '12'), { recursive: true, force: true }));
    closeOnRead.armed = true;
    const snap = await snapshot({ collector: readingWith(closeOnRead), hashBinaries: false });
    expect(snap.sockets.find((s) => s.inode === 400)).toMatchObject({ owners: [], unattributed: 'process-exited' });
  });
});

describe('a collector scanning again and again while namespaces come and go', () => {
  it('forgets the readers of namespaces that ended (a multi-day probe found 79 kept on a host of 2)', async () => {
    const own = mkdtempSync(join(tmpdir(), 'netmon-nsreaders-'));
    try {
      const add = (pid: number, ns: number): void => {
        for (const d of ['fd', 'ns', 'net']) fs.mkdirSync(join(own, String(pid), d), { recursive: true });
        fs.symlinkSync(`net:[${ns}]`, join(own, String(pid), 'ns', 'net'));
        fs.writeFileSync(join(own, String(pid), 'net', 'tcp'), HEADER + row(80 + pid, 100 + pid));
        fs.writeFileSync(join(own, String(pid), 'net', 'udp'), HEADER);
      };
      add(1, HOST);
      fs.symlinkSync('1', join(own, 'self'));
      const collector = new LinuxCollector({ procRoot: own, netnsDirs: [], readFile: (path) => fs.readFileSync(path, 'utf8') });
      const readers = (): number[] => [...(collector as unknown as { netnsReaders: Map<number, unknown> }).netnsReaders.keys()].sort();
      for (let k = 0; k < 5; k++) {
        // A container's namespace, for one scan each.
        add(100 + k, OTHER + k);
        const snap = await snapshot({ collector, hashBinaries: false, includeEphemeral: true });
        expect(snap.namespaces.map((n) => n.inode).sort()).toEqual([HOST, OTHER + k].sort());
        fs.rmSync(join(own, String(100 + k)), { recursive: true });
      }
      await snapshot({ collector, hashBinaries: false, includeEphemeral: true });
      expect(readers()).toEqual([HOST]);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });
});
