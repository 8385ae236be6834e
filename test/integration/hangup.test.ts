import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli, skipWithReason } from '../helpers/processes.js';

/**
 * `netmon --interval` on a terminal that hangs up (a closed window, a dropped ssh session): the
 * kernel sends SIGHUP and fails every later write to the terminal with EIO. Python's pty module
 * gives netmon a real terminal (stdin, stdout and stderr) and hangs it up by closing the master.
 */

const PYTHON = '/usr/bin/python3';
const root = mkdtempSync(join(tmpdir(), 'netmon-hangup-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Runs argv on a new terminal; once the live view of the first capture has been printed (its
// coverage line), says "ready", waits for a line on stdin, hangs the terminal up by closing the
// master, and prints netmon's exit status.
const HARNESS = `
import os, pty, sys, json, select, time
argv = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b''
deadline = time.time() + 20
while b'coverage' not in out and time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            out += os.read(fd, 65536)
        except OSError:
            break
print('ready', flush=True)
sys.stdin.readline()
time.sleep(0.3)
os.close(fd)
_, status = os.waitpid(pid, 0)
print('exit', os.waitstatus_to_exitcode(status), flush=True)
`;

function listen(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe.skipIf(skipWithReason(!existsSync(CLI) || !existsSync(PYTHON), `terminal hang-up: needs the built CLI at ${CLI} and ${PYTHON} (for a pseudo-terminal)`))('--interval when its terminal hangs up', () => {
  it('finishes the running capture, closes the store and exits 0, although every write to the terminal now fails', async () => {
    const dir = mkdtempSync(join(root, 'run-'));
    const argv = [process.execPath, CLI, '--interval', '0.3', '--include-ephemeral', '--db', join(dir, 'h.db'), '--csv', join(dir, 'h.csv')];
    const harness = spawn(PYTHON, ['-c', HARNESS, JSON.stringify(argv)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    harness.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    harness.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<void>((resolve) => harness.once('exit', () => resolve()));
    const servers: net.Server[] = [];
    try {
      const until = Date.now() + 25_000;
      while (!out.includes('ready')) {
        if (Date.now() > until || harness.exitCode !== null) throw new Error(`the harness did not start netmon: ${out} ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      // Changes to print at the ticks around the hang-up: their lines hit the dead terminal.
      for (let i = 0; i < 3; i++) servers.push(await listen());
      harness.stdin!.write('hangup\n');
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`netmon did not exit within 20 s of the hang-up: ${out} ${err}`)), 20_000))]);
    } finally {
      for (const s of servers) s.close();
      if (harness.exitCode === null) harness.kill('SIGKILL');
    }
    // Not SIGHUP's default (killed, -1), not Node's abort at exit (-6).
    expect(out, err).toContain('exit 0');
    const verify = runCli(['verify-store', '--db', join(dir, 'h.db')]);
    expect(verify.status, verify.stderr).toBe(0);
    // The store was closed: the next capture records no unclean stop.
    const next = runCli(['--once', '--include-ephemeral', '--db', join(dir, 'h.db'), '--csv', join(dir, 'h.csv')]);
    expect(next.status, next.stderr).toBe(0);
    expect(next.stderr).not.toMatch(/stopped without closing/);
  }, 60_000);
});
