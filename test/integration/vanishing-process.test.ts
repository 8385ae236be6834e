import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';
import { snapshot } from '../../src/snapshot/snapshot.js';
import { MemoryHashCache } from '../../src/enrich/hash-executables.js';
import { HOLDER, isRoot, startJsonProcess, stop, type Started } from '../helpers/processes.js';

interface HolderInfo {
  pid: number;
  tcp4: number;
  client4: number;
}

let holder: Started<HolderInfo> | undefined;
let shield: Started<HolderInfo> | undefined;
afterEach(async () => {
  await stop(holder?.child);
  await stop(shield?.child);
  shield = undefined;
});

/** A holder run as nobody when the tests run as root (as another user's process would be), else as this user. */
function startHolder(): Promise<Started<HolderInfo>> {
  return isRoot
    ? startJsonProcess<HolderInfo>('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, HOLDER])
    : startJsonProcess<HolderInfo>(process.execPath, [HOLDER]);
}

/**
 * Kill a holder and wait (synchronously, as the scan does not yield) until the kernel has
 * released its IPv4 listener: the socket closes a moment after the process turns zombie.
 */
function killAndAwaitClose(victim: Started<HolderInfo>): void {
  process.kill(victim.info.pid, 'SIGKILL');
  const port = `:${victim.info.tcp4.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && readFileSync('/proc/net/tcp', 'utf8').includes(port));
}

describe('a process that exits in the middle of a scan', () => {
  it('does not abort the scan; its sockets are kept with reason process-exited', async () => {
    holder = await startHolder();
    const victim = holder.info.pid;
    let killed = false;
    // Real /proc; the only change is that the holder is killed just before its descriptors are listed.
    const collector = new LinuxCollector({
      readdir: (path) => {
        if (!killed && path === `/proc/${victim}/fd`) {
          killed = true;
          killAndAwaitClose(holder!);
        }
        return readdirSync(path);
      },
    });
    const snap = await snapshot({ collector, includeEphemeral: true, hashBinaries: false });
    expect(killed).toBe(true);
    const listener = snap.sockets.find((s) => s.state === 'LISTEN' && s.localPort === holder!.info.tcp4);
    expect(listener, 'the listener was in the tables when they were read').toBeDefined();
    expect(listener!.owners).toEqual([]);
    expect(listener!.unattributed).toBe('process-exited');
    expect(snap.coverage.byReason['process-exited']).toBeGreaterThanOrEqual(1);
    expect(snap.processes.find((p) => p.pid === victim)).toBeUndefined();
  });

  /**
   * Two holders of one user; the descriptors of the first cannot be read (EACCES, as for another
   * user's process without root), and the second exits before its descriptors are listed. With
   * `rereadFails`, the socket tables cannot be read again once the descriptor walk has begun.
   */
  async function scanWithUnreadableNeighbour(rereadFails: boolean) {
    shield = await startHolder();
    holder = await startHolder();
    const victim = holder.info.pid;
    const denied = `/proc/${shield.info.pid}/fd`;
    let killed = false;
    let walking = false;
    const collector = new LinuxCollector({
      readdir: (path) => {
        if (path.endsWith('/fd')) walking = true;
        if (path === denied) throw Object.assign(new Error(`EACCES: permission denied, scandir '${path}'`), { code: 'EACCES' });
        if (!killed && path === `/proc/${victim}/fd`) {
          killed = true;
          killAndAwaitClose(holder!);
        }
        return readdirSync(path);
      },
      readFile: (path) => {
        if (rereadFails && walking && /\/net\/(tcp|udp)6?$/.test(path)) throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
        return readFileSync(path, 'utf8');
      },
    });
    const snap = await snapshot({ collector, includeEphemeral: true, hashBinaries: false });
    expect(killed).toBe(true);
    const listenerOf = (info: HolderInfo) => snap.sockets.find((s) => s.state === 'LISTEN' && s.localPort === info.tcp4)!;
    return { shielded: listenerOf(shield.info), closed: listenerOf(holder.info) };
  }

  it('a socket gone from the tables is process-exited even when an unreadable process of its user could have held it', async () => {
    const { shielded, closed } = await scanWithUnreadableNeighbour(false);
    // Still open: the unreadable process may hold it, and netmon says it could not look.
    expect(shielded.unattributed).toBe('permission-denied');
    // Closed during the scan: not blamed on missing privilege.
    expect(closed.owners).toEqual([]);
    expect(closed.unattributed).toBe('process-exited');
  });

  it('takes no socket for closed when the tables cannot be read a second time', async () => {
    const { shielded, closed } = await scanWithUnreadableNeighbour(true);
    expect(shielded.unattributed).toBe('permission-denied');
    expect(closed.unattributed).toBe('permission-denied');
  });

  it('records a process that exits before its details are read, with the reason', async () => {
    holder = await startJsonProcess<HolderInfo>(process.execPath, [HOLDER]);
    const victim = holder.info.pid;
    const collector = new LinuxCollector({
      readExact: (path) => {
        if (path === `/proc/${victim}/stat`) {
          const error = Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
          throw error;
        }
        return readFileSync(path, 'utf8');
      },
    });
    const snap = await snapshot({ collector, includeEphemeral: true, hashBinaries: false });
    const proc = snap.processes.find((p) => p.pid === victim);
    expect(proc).toBeDefined();
    expect(proc!.issues).toContainEqual(expect.objectContaining({ field: 'status', reason: 'process-exited' }));
    const listener = snap.sockets.find((s) => s.state === 'LISTEN' && s.localPort === holder!.info.tcp4);
    expect(listener!.owners.map((o) => o.pid)).toEqual([victim]);
  });
});

describe('a process that ends before its executable is hashed', () => {
  it('is recorded as process-exited in its issues, and is no "could not be hashed" warning (a probe: a loop under process churn said so every few ticks)', async () => {
    holder = await startHolder();
    const victim = holder.info.pid;
    let killed = false;
    // Real /proc; the holder is killed when its executable is about to be hashed (its sockets and
    // record already read).
    class EndsAtHash extends LinuxCollector {
      override executableFile(pid: number): string {
        if (pid === victim && !killed) {
          killed = true;
          process.kill(pid, 'SIGKILL');
          const deadline = Date.now() + 5000;
          while (Date.now() < deadline) {
            try {
              if (/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) break;
            } catch {
              break; // reaped already
            }
          }
        }
        return super.executableFile(pid);
      }
    }
    const snap = await snapshot({ collector: new EndsAtHash(), includeEphemeral: true, hashBinaries: true, hashCache: new MemoryHashCache() });
    expect(killed).toBe(true);
    const record = snap.processes.find((p) => p.pid === victim);
    expect(record?.issues).toContainEqual(expect.objectContaining({ field: 'hash', reason: 'process-exited' }));
    // Other processes' executables may fail to hash here (a protected pid 1 in a sandbox): those,
    // and only those, are counted in the warning.
    const others = snap.processes.filter((p) => p.issues.some((i) => i.field === 'hash' && i.reason !== 'process-exited')).length;
    const warning = snap.warnings.find((w) => w.code === 'W_HASH');
    if (others === 0) expect(warning, JSON.stringify(snap.warnings)).toBeUndefined();
    else expect(warning?.message).toMatch(new RegExp(`^${others} of \\d+ executables? could not be hashed`));
  });
});

describe('a process that is exiting (a zombie) is not taken for a kernel thread', () => {
  it('its executable reads as process-exited, while a kernel thread (kthreadd) still reads as kernel-thread', async () => {
    // sh starts a short sleep, then becomes a long one that never waits for it: a zombie.
    const { spawn } = await import('node:child_process');
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      const deadline = Date.now() + 5000;
      while (!/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) {
        if (Date.now() > deadline) throw new Error(`process ${pid} did not become a zombie`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const collector = new LinuxCollector();
      const zombie = collector.readProcess(pid);
      expect(zombie.issues).toContainEqual(expect.objectContaining({ field: 'executable', reason: 'process-exited' }));
      expect(zombie.issues.some((i) => i.reason === 'kernel-thread')).toBe(false);
      // The same through the list reader (the native scanner's path, when it is built).
      const [listed] = collector.readProcessList([pid]);
      expect(listed!.issues).toContainEqual(expect.objectContaining({ field: 'executable', reason: 'process-exited' }));
      let kthreadd: string | null = null;
      try {
        kthreadd = readFileSync('/proc/2/stat', 'utf8');
      } catch {
        // no kernel thread visible here (a container with its own pid namespace)
      }
      if (kthreadd !== null && kthreadd.startsWith('2 (kthreadd)')) {
        expect(collector.readProcess(2).issues).toContainEqual({ field: 'executable', reason: 'kernel-thread' });
      }
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
