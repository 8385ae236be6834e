import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadControlsCatalogue, parseControlsCatalogue } from '../../src/findings/controls.js';
import { FINDING_KINDS } from '../../src/findings/evaluate-findings.js';

const HEAD = 'schema_version: 1\nframeworks:\n  - id: a\n    name: A\n  - id: old\n    name: Old\n    status: retired\n';

function errorOf(text: string): string {
  try {
    parseControlsCatalogue(text, 'c.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('the controls catalogue', () => {
  const shipped = loadControlsCatalogue();

  it('ships a valid catalogue that maps every finding kind', () => {
    expect(shipped.controls.size).toBeGreaterThan(100);
    for (const info of Object.values(FINDING_KINDS)) expect(shipped.findings.has(info.mapping), info.mapping).toBe(true);
    expect(shipped.disclaimer).toMatch(/do not by themselves demonstrate/);
  });

  it('uses current numbering (CSF 2.0 two-digit subcategories, ISO 27001:2022 Annex A)', () => {
    expect(shipped.controls.has('csf2:DE.CM-01')).toBe(true);
    expect(shipped.controls.has('csf2:DE.CM-1')).toBe(false);
    expect([...shipped.controls.keys()].some((k) => k.startsWith('iso27001:A.12.'))).toBe(false);
    expect(shipped.frameworks.get('ffiec-cat')?.legacy).toBe(true);
  });

  it('refuses a catalogue that leaves a kind of finding without its mapping, naming each (from a findings probe: its findings came out without controls, silently)', () => {
    const message = errorOf(`${HEAD}controls:\n  - key: "a:1"\n    framework: a\n    id: "1"\n    title: t\nfindings:\n  - id: new_listening_port\n    label: L\n    primary: ["a:1"]\n`);
    expect(message).toContain('no finding mapping with id "listening_port_closed", which netmon\'s listener-closed findings are mapped by');
    expect(message).toContain('"expected_change_missing"');
    expect(message).not.toContain('"new_listening_port"');
  });

  it('names the line of a duplicate key', () => {
    const message = errorOf(`${HEAD}controls:\n  - key: "a:1"\n    framework: a\n    id: "1"\n    title: t\n    title: again\nfindings: []\n`);
    expect(message).toMatch(/c\.yaml:13: Map keys must be unique/);
  });

  it('names the line of an unknown framework and of a mapping to an unknown control, all at once', () => {
    const message = errorOf(
      `${HEAD}controls:\n  - key: "a:1"\n    framework: a\n    id: "1"\n    title: t\n  - key: "z:9"\n    framework: z\n    id: "9"\n    title: t\nfindings:\n  - id: f\n    label: F\n    primary:\n      - "a:1"\n      - "b:2"\n`,
    );
    expect(message).toMatch(/c\.yaml:14: control z:9: unknown framework "z"/);
    expect(message).toMatch(/c\.yaml:22: finding f: unknown control "b:2"/);
  });

  it('refuses conditions that are malformed, on a control the mapping does not cite, or of a kind netmon cannot judge, naming the line', () => {
    const controls = 'controls:\n  - key: "a:1"\n    framework: a\n    id: "1"\n    title: t\n  - key: "a:2"\n    framework: a\n    id: "2"\n    title: t\n';
    const mapping = (conditions: string) => `${HEAD}${controls}findings:\n  - id: f\n    label: F\n    primary: ["a:1"]\n    supporting: ["a:2"]\n    conditions:\n${conditions}`;
    expect(errorOf(mapping('      - control: "a:9"\n        when: cleartext_service\n'))).toMatch(/c\.yaml:23: finding f: condition on "a:9", which is not one of its primary or supporting controls/);
    expect(errorOf(mapping('      - control: "a:1"\n        when: on_cde_host\n'))).toMatch(/c\.yaml:24: finding f: unknown condition "on_cde_host" \(netmon judges cleartext_service, executable_changed, executables_hashed\)/);
    expect(errorOf(mapping('      - control: "a:2"\n        when: cleartext_service\n        otherwise: supporting\n'))).toMatch(/finding f: a:2 is supporting already; otherwise: supporting applies to a primary control/);
    expect(errorOf(mapping('      - control: "a:1"\n        when: cleartext_service\n        otherwise: never\n'))).toMatch(/finding f: otherwise must be omit or supporting, not "never"/);
    expect(errorOf(mapping('      - control: "a:1"\n        when: cleartext_service\n      - control: "a:1"\n        when: executables_hashed\n'))).toMatch(/finding f: a:1 has two conditions/);
    expect(errorOf(mapping('      - "a:1"\n'))).toMatch(/finding f: a condition needs a control and a when/);
  });

  it('ships the conditions its mapping notes state, as facts netmon judges', () => {
    expect(shipped.findings.get('new_listening_port')!.conditions).toEqual([{ control: 'pcidss:1.2.6', when: 'cleartext_service', otherwise: 'omit' }]);
    expect(shipped.findings.get('listening_all_interfaces')!.conditions).toEqual([{ control: 'pcidss:1.2.6', when: 'cleartext_service', otherwise: 'omit' }]);
    expect(shipped.findings.get('port_owner_changed')!.conditions.map((c) => [c.control, c.when])).toEqual([
      ['pcidss:11.5.2', 'executable_changed'],
      ['sp80053:SI-7', 'executable_changed'],
    ]);
    expect(shipped.findings.get('monitoring_evidence_collected')!.conditions).toEqual([{ control: 'pcidss:11.5.2', when: 'executables_hashed', otherwise: 'omit' }]);
    // Primary only for a port of a security control, which is the reviewer's judgment: supporting.
    expect(shipped.findings.get('listening_port_closed')!.supporting).toContain('pcidss:10.7.2');
    expect(shipped.findings.get('listening_port_closed')!.primary).not.toContain('pcidss:10.7.2');
  });

  it('refuses a control defined twice and a wrong schema version', () => {
    expect(errorOf(`${HEAD}controls:\n  - key: "a:1"\n    framework: a\n    id: "1"\n    title: t\n  - key: "a:1"\n    framework: a\n    id: "1"\n    title: t\nfindings: []\n`)).toMatch(/control a:1 is defined twice/);
    expect(errorOf('schema_version: 2\nframeworks: []\ncontrols: []\nfindings: []\n')).toMatch(/schema_version: expected 1, received 2/);
  });
});

describe('the catalogue cache', () => {
  it('gives the same catalogue from the cache as from the YAML, and re-validates an edited file', async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'netmon-cat-'));
    try {
      const path = join(dir, 'c.yaml');
      writeFileSync(path, readFileSync(new URL('../../templates/controls.yaml', import.meta.url)));
      const first = loadControlsCatalogue(path);
      const second = loadControlsCatalogue(path); // from the cache
      expect(second).toEqual(first);
      writeFileSync(path, `${readFileSync(path, 'utf8')}\n  - id: broken\n    label: B\n    primary:\n      - "nope:1"\n`);
      expect(() => loadControlsCatalogue(path)).toThrow(/unknown control "nope:1"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves no temporary file behind when the cache cannot take its name (another user\'s cache in a sticky /tmp: an operator probe found them piling up)', async () => {
    const { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'netmon-cat-'));
    const saved = process.env.TMPDIR;
    try {
      process.env.TMPDIR = dir;
      const path = join(dir, 'c.yaml');
      writeFileSync(path, readFileSync(new URL('../../templates/controls.yaml', import.meta.url)));
      loadControlsCatalogue(path);
      const [cache] = readdirSync(dir).filter((f) => f.startsWith('netmon-controls-'));
      expect(cache).toMatch(/^netmon-controls-[0-9a-f]{32}\.json$/);
      // The name taken by something this process cannot replace: a directory that is not empty.
      rmSync(join(dir, cache!));
      mkdirSync(join(dir, cache!, 'x'), { recursive: true });
      expect(loadControlsCatalogue(path).findings.size).toBeGreaterThan(5);
      expect(readdirSync(dir).filter((f) => f.startsWith('netmon-controls-')).sort()).toEqual([cache]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
