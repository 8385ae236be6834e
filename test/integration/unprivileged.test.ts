import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../../src/model/types.js';
import { HOLDER, haveCommand, isRoot, runCli, skipWithReason, startJsonProcess, stop, type Started } from '../helpers/processes.js';

const skip = skipWithReason(!isRoot || !haveCommand('setpriv'), 'unprivileged run: needs root (to drop to nobody) and setpriv (util-linux)');

// Run the CLI as nobody, with no capabilities, while a root-owned process holds sockets.
const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];

describe.skipIf(skip)('without root', () => {
  let holder: Started<{ pid: number; tcp4: number }>;
  beforeAll(async () => {
    holder = await startJsonProcess(process.execPath, [HOLDER, '--listen-port', '2424']);
  });
  afterAll(async () => stop(holder?.child));

  it('never crashes, marks root-owned sockets permission-denied and says what would fix it', () => {
    const r = runCli(['snapshot', '--output', 'json', '--filter', ':2424'], { prefix: AS_NOBODY });
    expect(r.status, r.stderr).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    const listener = snap.sockets.find((s) => s.state === 'LISTEN' && s.localPort === 2424);
    expect(listener).toBeDefined();
    expect(listener!.owners).toEqual([]);
    expect(listener!.unattributed).toBe('permission-denied');
    expect(snap.coverage.privileged).toBe(false);
    expect(snap.coverage.byReason['permission-denied']).toBeGreaterThanOrEqual(1);
    expect(snap.coverage.processesDenied).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/could not be attributed/);
    expect(r.stderr).toMatch(/CAP_SYS_PTRACE/);
    expect(r.stderr).toMatch(/CAP_DAC_READ_SEARCH/);
    expect(snap.warnings.map((w) => w.code)).toContain('W_PRIVILEGE');
  });

  it('keeps the table readable and counts the unattributed sockets on the coverage line', () => {
    const r = runCli(['--once', '--filter', ':2424'], { prefix: AS_NOBODY });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\(no access\)/);
    expect(r.stdout).toMatch(/coverage: \d+ sockets? .*permission denied/);
  });
});
