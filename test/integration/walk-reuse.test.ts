import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';

/**
 * A small /proc tree on disk (real files and symlinks) so the repeated-scan logic can be checked
 * deterministically: the host's own /proc changes under parallel test workers.
 */
const root = mkdtempSync(join(tmpdir(), 'netmon-fakeproc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const NS = 'net:[4026531840]';
const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (i: number, port: number, inode: number) =>
  `${String(i).padStart(4)}: 0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;

function writeTables(sockets: [number, number][]): void {
  fs.writeFileSync(join(root, '1', 'net', 'tcp'), HEADER + sockets.map(([port, inode], i) => row(i, port, inode)).join(''));
}

function addProcess(pid: number, fds: Record<number, number>): void {
  fs.mkdirSync(join(root, String(pid), 'fd'), { recursive: true });
  fs.mkdirSync(join(root, String(pid), 'ns'), { recursive: true });
  fs.symlinkSync(NS, join(root, String(pid), 'ns', 'net'));
  for (const [fd, inode] of Object.entries(fds)) fs.symlinkSync(`socket:[${inode}]`, join(root, String(pid), 'fd', fd));
}

describe('reusing the descriptor walk between repeated scans', () => {
  let fdListings = 0;
  addProcess(1, { 3: 100 });
  fs.mkdirSync(join(root, '1', 'net'));
  for (const t of ['tcp6', 'udp', 'udp6']) fs.writeFileSync(join(root, '1', 'net', t), HEADER);
  fs.symlinkSync('1', join(root, 'self'));
  writeTables([[80, 100]]);
  const collector = new LinuxCollector({
    procRoot: root,
    netnsDirs: [],
    readdir: (path) => {
      if (path.endsWith('/fd')) fdListings++;
      return fs.readdirSync(path);
    },
  });
  const scan = () => collector.scanSockets({ families: ['ipv4'], owners: true, reuseOwners: true });

  it('walks the first time', () => {
    const s = scan();
    expect(s.ownersReused).toBeUndefined();
    expect(s.owners.get(100)).toEqual([{ pid: 1, fd: 3 }]);
    expect(fdListings).toBe(1);
  });

  it('skips the walk when no socket is new and every owner still runs', () => {
    const s = scan();
    expect(s.ownersReused).toBe(true);
    expect(s.owners.get(100)).toEqual([{ pid: 1, fd: 3 }]);
    expect(fdListings).toBe(1);
  });

  it('walks again when a socket inode is new, and attributes it', () => {
    addProcess(2, { 5: 101 });
    writeTables([
      [80, 100],
      [81, 101],
    ]);
    const s = scan();
    expect(s.ownersReused).toBeUndefined();
    expect(s.owners.get(101)).toEqual([{ pid: 2, fd: 5 }]);
  });

  it('walks again when an owner has exited', () => {
    fs.rmSync(join(root, '2'), { recursive: true });
    const before = fdListings;
    const s = scan();
    expect(s.ownersReused).toBeUndefined();
    expect(fdListings).toBeGreaterThan(before);
    expect(s.owners.has(101)).toBe(false);
  });

  it('never reuses without reuseOwners (nor keeps such a walk for later), and walks fully every fullWalkEvery scans', () => {
    const once = collector.scanSockets({ families: ['ipv4'], owners: true });
    expect(once.ownersReused).toBeUndefined();
    const results = Array.from({ length: 4 }, () => collector.scanSockets({ families: ['ipv4'], owners: true, reuseOwners: true, fullWalkEvery: 3 }).ownersReused ?? false);
    expect(results).toEqual([false, true, true, false]);
  });
});
