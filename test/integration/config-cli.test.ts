import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'netmon-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration precedence on the command line', () => {
  it('defaults < ./netmon.conf < NETMON_* < flags', () => {
    writeFileSync(join(dir, 'netmon.conf'), 'output_format = json\nhash_binaries = false\n');
    const fromFile = runCli(['snapshot'], { cwd: dir });
    expect(fromFile.status, fromFile.stderr).toBe(0);
    const doc = JSON.parse(fromFile.stdout) as { selection: { hashBinaries: boolean } };
    expect(doc.selection.hashBinaries).toBe(false);

    const fromEnv = runCli(['snapshot'], { cwd: dir, env: { ...process.env, NETMON_OUTPUT_FORMAT: 'ecs' } });
    expect(fromEnv.stdout.split('\n')[0]).toMatch(/^\{"@timestamp"/);

    const fromFlag = runCli(['snapshot', '-o', 'text'], { cwd: dir, env: { ...process.env, NETMON_OUTPUT_FORMAT: 'ecs' } });
    expect(fromFlag.stdout).toMatch(/^netmon snapshot of /);
  });

  it('--config names another file; a bad one stops with exit 2 and the line', () => {
    writeFileSync(join(dir, 'bad.conf'), '# fine\nport_filter = nonsense:1\n');
    const r = runCli(['--config', join(dir, 'bad.conf'), 'snapshot']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'bad.conf')}:2: port_filter: invalid --filter pattern "nonsense:1"`);
  });

  it('init-config writes the commented default once', () => {
    const path = join(dir, 'new.conf');
    expect(runCli(['init-config', '--path', path]).status).toBe(0);
    expect(readFileSync(path, 'utf8')).toMatch(/# include_established = true/);
    const again = runCli(['init-config', '--path', path]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already exists; it was not changed/);
  });
});
