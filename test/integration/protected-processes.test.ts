import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';
import { createSnapshot } from '../../src/snapshot/create-snapshot.js';

/**
 * Running as root, netmon can still meet processes it may not read (the init of the sandbox or
 * container it runs in, a process a security module guards). The warning names them, so that an
 * engineer knows which process to look at. A small /proc tree on disk (real files and links) in
 * which one process's descriptors refuse to be listed.
 */
const root = mkdtempSync(join(tmpdir(), 'netmon-protected-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HOST = 4026531840;
const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (port: number, inode: number) =>
  `   0: 0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;

function addProcess(pid: number, comm: string, fds: Record<number, number>): void {
  for (const d of ['fd', 'ns', 'net']) fs.mkdirSync(join(root, String(pid), d), { recursive: true });
  fs.symlinkSync(`net:[${HOST}]`, join(root, String(pid), 'ns', 'net'));
  fs.writeFileSync(join(root, String(pid), 'net', 'tcp'), HEADER + row(80, 100) + row(81, 101) + row(82, 102));
  fs.writeFileSync(join(root, String(pid), 'net', 'udp'), HEADER);
  fs.writeFileSync(join(root, String(pid), 'comm'), `${comm}\n`);
  fs.writeFileSync(join(root, String(pid), 'status'), `Name:\t${comm}\nUid:\t0\t0\t0\t0\n`);
  for (const [fd, inode] of Object.entries(fds)) fs.symlinkSync(`socket:[${inode}]`, join(root, String(pid), 'fd', fd));
}

describe('processes that refuse netmon although it runs as root', () => {
  addProcess(1, 'sandbox-init', { 3: 100 });
  addProcess(40, 'guarded', { 3: 101 });
  addProcess(41, 'web', { 3: 102 });
  fs.symlinkSync('41', join(root, 'self'));
  const refused = new Set([join(root, '1', 'fd'), join(root, '40', 'fd')]);
  const readdir = (path: string): string[] => {
    if (refused.has(path)) throw Object.assign(new Error(`EACCES: permission denied, scandir '${path}'`), { code: 'EACCES' });
    return fs.readdirSync(path);
  };
  const collector = new LinuxCollector({ procRoot: root, netnsDirs: [], getuid: () => 0, readdir });

  it('are named, by pid and name, in the scan and in the W_PROTECTED warning', () => {
    const scan = collector.scanSockets({ families: ['ipv4'], owners: true });
    expect(scan.processesDenied).toBe(2);
    expect(scan.protectedProcesses).toEqual({ count: 2, named: [{ pid: 1, name: 'sandbox-init' }, { pid: 40, name: 'guarded' }] });
    const snapshot = createSnapshot({
      version: '0.0.0-test',
      host: { hostname: 'testhost', platform: 'linux', kernel: '6.1.0', bootTime: '2026-11-22T00:00:00.000Z' },
      takenAt: new Date('2026-11-24T01:02:03.000Z'),
      durationMs: 1,
      selection: { listeningOnly: false, includeEphemeral: false, families: ['ipv4'], processInfo: true, hashBinaries: false, ephemeralPortRange: [32768, 60999], filters: {} },
      namespaces: [],
      sockets: [],
      processes: [],
      scan: { ...scan, fullPrivilege: 'root' },
    });
    const warning = snapshot.warnings.find((w) => w.code === 'W_PROTECTED');
    expect(warning?.message).toContain('although netmon runs as root: pids 1 (sandbox-init), 40 (guarded) are protected; such a process belongs to an enclosing user namespace');
  });

  it('are counted beyond the first five, and a name that cannot be read is said to be so', () => {
    for (let pid = 50; pid < 56; pid++) {
      addProcess(pid, `p${pid}`, {});
      refused.add(join(root, String(pid), 'fd'));
    }
    fs.rmSync(join(root, '50', 'comm'));
    const scan = collector.scanSockets({ families: ['ipv4'], owners: true });
    expect(scan.protectedProcesses?.count).toBe(8);
    expect(scan.protectedProcesses?.named.map((p) => p.pid)).toEqual([1, 40, 50, 51, 52]);
    expect(scan.protectedProcesses?.named[2]).toEqual({ pid: 50, name: null });
  });

  it('are not listed without full privilege: the warning then gives the remedy instead', () => {
    const plain = new LinuxCollector({ procRoot: root, netnsDirs: [], getuid: () => 1000, readdir });
    expect(plain.scanSockets({ families: ['ipv4'], owners: true }).protectedProcesses).toBeUndefined();
  });
});
