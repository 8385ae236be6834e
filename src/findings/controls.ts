import { createHash } from 'node:crypto';
import { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, describeErrno } from '../errors.js';
import { locatedProblems, parseYaml } from '../formats/yaml.js';
import { NETMON_VERSION } from '../version.js';
import { FINDING_KINDS } from './evaluate-findings.js';

/** A compliance framework of the catalogue. */
export interface Framework {
  id: string;
  name: string;
  version: string;
  status: 'current' | 'retired';
  /** Retired frameworks (FFIEC CAT) are shown only as legacy cross-references. */
  legacy: boolean;
}

/** One control, identified across the catalogue by `framework:id`. */
export interface Control {
  key: string;
  framework: string;
  id: string;
  title: string;
  why: string | null;
}

/**
 * Facts of one finding that a catalogue may make a control depend on, each one netmon can judge
 * from the captures: the listener's port is a cleartext service (Telnet, FTP, ...); the owner's
 * executable changed (its path or its hash); the processes concerned were hashed.
 */
export const CONTROL_CONDITIONS = ['cleartext_service', 'executable_changed', 'executables_hashed'] as const;
export type ControlCondition = (typeof CONTROL_CONDITIONS)[number];

/**
 * A control of a mapping that applies only when `when` holds; otherwise it is left out (`omit`),
 * or cited as supporting instead of primary (`supporting`).
 */
export interface ConditionalControl {
  control: string;
  when: ControlCondition;
  otherwise: 'omit' | 'supporting';
}

/** The controls a kind of finding is evidence for. */
export interface FindingMapping {
  id: string;
  label: string;
  primary: string[];
  supporting: string[];
  /** Controls of `primary` or `supporting` that apply only under a condition. */
  conditions: ConditionalControl[];
  notes: string | null;
}

/** The validated catalogue (templates/controls.yaml, or the user's own with --controls). */
export interface ControlsCatalogue {
  source: string;
  schemaVersion: 1;
  disclaimer: string;
  frameworks: Map<string, Framework>;
  controls: Map<string, Control>;
  findings: Map<string, FindingMapping>;
}

/** Where the shipped catalogue is. */
export const DEFAULT_CONTROLS_PATH = fileURLToPath(new URL('../../templates/controls.yaml', import.meta.url));

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse and validate a catalogue. Every problem is collected with its line (duplicate keys,
 * missing fields, a control of an unknown framework, a mapping to an unknown control, a control
 * key defined twice); any problem stops the load with one ConfigError listing them all. Pure.
 */
export function parseControlsCatalogue(text: string, source: string): ControlsCatalogue {
  const doc = parseYaml(text);
  const { problems, at } = locatedProblems(doc, source);
  const root = doc.value;
  if (problems.length === 0 && !isObject(root)) at([], 'expected a mapping with schema_version, frameworks, controls and findings');
  const data = isObject(root) ? root : {};
  if (problems.length === 0 && data.schema_version !== 1) at(['schema_version'], `schema_version: expected 1, received ${JSON.stringify(data.schema_version)}`);

  const frameworks = new Map<string, Framework>();
  const list = (key: string): unknown[] => {
    const v = data[key];
    if (v === undefined || !Array.isArray(v)) {
      if (problems.length === 0 || isObject(root)) at([key], `${key}: expected a list`);
      return [];
    }
    return v;
  };
  list('frameworks').forEach((f, i) => {
    if (!isObject(f) || typeof f.id !== 'string' || typeof f.name !== 'string') return at(['frameworks', i], 'a framework needs an id and a name');
    if (frameworks.has(f.id)) return at(['frameworks', i, 'id'], `framework ${f.id} is defined twice`);
    const status = f.status === 'retired' ? 'retired' : 'current';
    frameworks.set(f.id, { id: f.id, name: f.name, version: String(f.version ?? ''), status, legacy: f.legacy === true || status === 'retired' });
  });

  const controls = new Map<string, Control>();
  list('controls').forEach((c, i) => {
    if (!isObject(c) || typeof c.key !== 'string' || typeof c.framework !== 'string' || typeof c.id !== 'string' || typeof c.title !== 'string') {
      return at(['controls', i], 'a control needs key, framework, id and title');
    }
    if (!frameworks.has(c.framework)) return at(['controls', i, 'framework'], `control ${c.key}: unknown framework ${JSON.stringify(c.framework)}`);
    if (!c.key.startsWith(`${c.framework}:`)) return at(['controls', i, 'key'], `control key ${JSON.stringify(c.key)} should start with "${c.framework}:"`);
    if (controls.has(c.key)) return at(['controls', i, 'key'], `control ${c.key} is defined twice`);
    controls.set(c.key, { key: c.key, framework: c.framework, id: c.id, title: c.title, why: typeof c.why === 'string' ? c.why : null });
  });

  const findings = new Map<string, FindingMapping>();
  list('findings').forEach((f, i) => {
    if (!isObject(f) || typeof f.id !== 'string' || typeof f.label !== 'string') return at(['findings', i], 'a finding mapping needs an id and a label');
    if (findings.has(f.id)) return at(['findings', i, 'id'], `finding ${f.id} is mapped twice`);
    const keys = (role: 'primary' | 'supporting'): string[] => {
      const v = f[role];
      if (v === undefined && role === 'supporting') return [];
      if (!Array.isArray(v)) {
        at(['findings', i, role], `finding ${f.id}: ${role} must be a list of control keys`);
        return [];
      }
      const out: string[] = [];
      v.forEach((k, j) => {
        if (typeof k !== 'string' || !controls.has(k)) at(['findings', i, role, j], `finding ${f.id}: unknown control ${JSON.stringify(k)}`);
        else out.push(k);
      });
      return out;
    };
    const primary = keys('primary');
    const supporting = keys('supporting');
    const conditions: ConditionalControl[] = [];
    if (f.conditions !== undefined && !Array.isArray(f.conditions)) at(['findings', i, 'conditions'], `finding ${f.id}: conditions must be a list of {control, when, otherwise}`);
    (Array.isArray(f.conditions) ? f.conditions : []).forEach((c, j) => {
      const where = ['findings', i, 'conditions', j];
      if (!isObject(c) || typeof c.control !== 'string' || typeof c.when !== 'string') return at(where, `finding ${f.id}: a condition needs a control and a when`);
      const role = primary.includes(c.control) ? 'primary' : supporting.includes(c.control) ? 'supporting' : null;
      if (role === null) return at([...where, 'control'], `finding ${f.id}: condition on ${JSON.stringify(c.control)}, which is not one of its primary or supporting controls`);
      if (!(CONTROL_CONDITIONS as readonly string[]).includes(c.when)) return at([...where, 'when'], `finding ${f.id}: unknown condition ${JSON.stringify(c.when)} (netmon judges ${CONTROL_CONDITIONS.join(', ')})`);
      const otherwise = c.otherwise ?? 'omit';
      if (otherwise !== 'omit' && otherwise !== 'supporting') return at([...where, 'otherwise'], `finding ${f.id}: otherwise must be omit or supporting, not ${JSON.stringify(otherwise)}`);
      if (otherwise === 'supporting' && role !== 'primary') return at([...where, 'otherwise'], `finding ${f.id}: ${c.control} is supporting already; otherwise: supporting applies to a primary control`);
      if (conditions.some((k) => k.control === c.control)) return at([...where, 'control'], `finding ${f.id}: ${c.control} has two conditions`);
      conditions.push({ control: c.control, when: c.when as ControlCondition, otherwise });
    });
    findings.set(f.id, { id: f.id, label: f.label, primary, supporting, conditions, notes: typeof f.notes === 'string' ? f.notes : null });
  });

  // Every kind of finding netmon makes needs its mapping: a catalogue without one would leave
  // those findings without controls, silently (a catalogue of an older or newer netmon, say).
  if (problems.length === 0) {
    for (const [kind, meta] of Object.entries(FINDING_KINDS)) {
      if (!findings.has(meta.mapping)) at(['findings'], `no finding mapping with id ${JSON.stringify(meta.mapping)}, which netmon's ${kind} findings are mapped by`);
    }
  }
  if (problems.length > 0) {
    throw new ConfigError('E_CONTROLS', `the controls catalogue is not valid:\n  ${problems.join('\n  ')}`, {
      hint: 'fix the file, or leave out --controls to use the shipped templates/controls.yaml',
    });
  }
  return {
    source,
    schemaVersion: 1,
    disclaimer: typeof data.disclaimer === 'string' ? data.disclaimer.trim() : '',
    frameworks,
    controls,
    findings,
  };
}

/**
 * The layout of the JSON cache: part of its key, so that a cache written by a build of the same
 * version with another layout (2: mappings carry their conditions) is never read.
 */
const CACHE_LAYOUT = 2;

/** Maps as [key, value] lists, for the JSON cache. */
interface CachedCatalogue {
  layout: number;
  version: string;
  source: string;
  disclaimer: string;
  frameworks: [string, Framework][];
  controls: [string, Control][];
  findings: [string, FindingMapping][];
}

/**
 * Read and validate a catalogue file (default: the shipped one). Parsing 1,300 lines of YAML takes
 * longer than a whole `netmon diff` of a small host, so the validated result is cached as JSON in
 * the temporary directory, keyed by the file's content hash and netmon's version: an edited file
 * is parsed and validated again. A cache file is used only when this user owns it and no one else
 * can write it.
 */
export function loadControlsCatalogue(path: string = DEFAULT_CONTROLS_PATH): ControlsCatalogue {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('E_CONTROLS', `cannot read the controls catalogue: ${describeErrno(error, 'reading', path)}`);
  }
  const key = createHash('sha256').update(`${NETMON_VERSION}\n${CACHE_LAYOUT}\n`).update(text).digest('hex').slice(0, 32);
  const cacheFile = join(tmpdir(), `netmon-controls-${key}.json`);
  try {
    // Only a cache this user wrote and nobody else can change: the temporary directory is shared.
    const st = statSync(cacheFile);
    if ((typeof process.getuid === 'function' && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) throw new Error('foreign cache');
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as CachedCatalogue;
    if (cached.layout === CACHE_LAYOUT && cached.version === NETMON_VERSION && cached.source === path) {
      return {
        source: path,
        schemaVersion: 1,
        disclaimer: cached.disclaimer,
        frameworks: new Map(cached.frameworks),
        controls: new Map(cached.controls),
        findings: new Map(cached.findings),
      };
    }
  } catch {
    // no cache yet, or an unreadable one: parse the YAML
  }
  const catalogue = parseControlsCatalogue(text, path);
  try {
    const cache: CachedCatalogue = {
      layout: CACHE_LAYOUT,
      version: NETMON_VERSION,
      source: path,
      disclaimer: catalogue.disclaimer,
      frameworks: [...catalogue.frameworks],
      controls: [...catalogue.controls],
      findings: [...catalogue.findings],
    };
    // wx: a new file only, never one someone placed (or linked) under that name in a shared directory.
    const temporary = `${cacheFile}.${process.pid}`;
    writeFileSync(temporary, JSON.stringify(cache), { mode: 0o600, flag: 'wx' });
    try {
      renameSync(temporary, cacheFile);
    } catch {
      // Another user's cache holds the name in the sticky /tmp: ours is not left behind.
      unlinkSync(temporary);
    }
  } catch {
    // a read-only temporary directory only costs the next run a parse
  }
  return catalogue;
}
