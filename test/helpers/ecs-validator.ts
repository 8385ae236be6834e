/**
 * Validates documents against the Elastic Common Schema, using the ECS field list and the
 * categorization allowed values copied into test/fixtures/ecs (see the README there).
 *
 * Rules:
 * - The document is flattened into dotted paths: objects recurse, arrays are values. `labels`
 *   is ECS's custom namespace: an object whose values must be keyword strings (`labels.*`).
 * - Every leaf path must be an ECS field, a `labels.*` key, or a declared extension.
 * - Each value must fit the field's type (`date` ISO 8601 with a timezone, `ip` textual,
 *   `long` an integer, keyword-family types a string or an array of strings, ...). Other
 *   types take an array only when ECS normalizes the field as an array.
 * - `event.kind`, `event.category`, `event.type` and `event.outcome` take allowed values only,
 *   and every `event.type` must be one ECS expects with every `event.category` given.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** One row of the ECS field list. */
export interface EcsFieldDefinition {
  name: string;
  type: string;
  /** ECS normalizes the field as an array (the CSV's Normalization column says `array`). */
  array: boolean;
  /**
   * Set for index-only multi-fields such as `process.name.text`: the parent field it indexes
   * differently. A document never sets these; it sets the parent.
   */
  multiFieldOf?: string;
}

export interface EcsValidationOptions {
  /** Fields outside ECS that the producer documents, by dotted name, with their type. */
  extensions?: Readonly<Record<string, 'keyword'>>;
}

const OBJECT_TYPES = new Set(['object', 'flattened', 'nested']);

const FIXTURES = new URL('../fixtures/ecs/', import.meta.url);

/**
 * Parse RFC 4180 CSV: comma-separated fields, records ended by LF or CRLF, fields optionally
 * in double quotes, inside which commas, line breaks and doubled quotes (`""` for `"`) are
 * literal. Throws on malformed input (unterminated quote, a quote inside an unquoted field,
 * text after a closing quote). No CSV parser is a dependency of the project, hence this one.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  const n = text.length;
  // At the start of each iteration we are at the start of a field.
  while (i < n) {
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= n) throw new Error('CSV: unterminated quoted field');
        const ch = text[i]!;
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
          } else {
            i++;
            break;
          }
        } else {
          field += ch;
          i++;
        }
      }
      if (i < n && text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n')) {
        throw new Error(`CSV: unexpected character after closing quote at offset ${i}`);
      }
    } else {
      while (i < n && text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n')) {
        if (text[i] === '"') throw new Error(`CSV: quote inside unquoted field at offset ${i}`);
        field += text[i];
        i++;
      }
    }
    record.push(field);
    field = '';
    if (i >= n) break;
    if (text[i] === ',') {
      i++;
      // A trailing comma at the end of input ends the record with an empty field.
      if (i >= n) record.push('');
      continue;
    }
    i += text[i] === '\r' ? 2 : 1;
    records.push(record);
    record = [];
  }
  if (record.length > 0) records.push(record);
  return records;
}

interface EcsSchema {
  fields: Map<string, EcsFieldDefinition>;
  /** Every proper prefix of a field name (`process`, `process.hash`, ...). */
  parents: Set<string>;
  kinds: Set<string>;
  categories: Map<string, Set<string>>;
  types: Set<string>;
  outcomes: Set<string>;
}

let schema: EcsSchema | undefined;

function loadSchema(): EcsSchema {
  if (schema) return schema;
  const rows = parseCsv(readFileSync(new URL('fields.csv', FIXTURES), 'utf8'));
  const header = rows[0];
  if (!header) throw new Error('fields.csv is empty');
  const col = (name: string): number => {
    const index = header.indexOf(name);
    if (index < 0) throw new Error(`fields.csv has no ${name} column`);
    return index;
  };
  const [fieldCol, typeCol, normCol] = [col('Field'), col('Type'), col('Normalization')];
  const fields = new Map<string, EcsFieldDefinition>();
  const parents = new Set<string>();
  for (const [r, row] of rows.slice(1).entries()) {
    if (row.length !== header.length) {
      throw new Error(`fields.csv record ${r + 2} has ${row.length} columns, expected ${header.length}`);
    }
    const name = row[fieldCol]!;
    fields.set(name, { name, type: row[typeCol]!, array: row[normCol]!.split(/[ ,]+/).includes('array') });
    const parts = name.split('.');
    for (let k = 1; k < parts.length; k++) parents.add(parts.slice(0, k).join('.'));
  }
  // A field under a field that is not an object is a multi-field (`process.name.text`).
  for (const def of fields.values()) {
    const parent = fields.get(def.name.slice(0, def.name.lastIndexOf('.')));
    if (parent && !OBJECT_TYPES.has(parent.type)) def.multiFieldOf = parent.name;
  }

  const json = JSON.parse(readFileSync(new URL('allowed_values.json', FIXTURES), 'utf8')) as {
    allowed_values: Record<string, Record<string, string[] | null>>;
  };
  const allowed = json.allowed_values;
  const section = (name: string): Record<string, string[] | null> => {
    const s = allowed[name];
    if (!s) throw new Error(`allowed_values.json has no ${name}`);
    return s;
  };
  const categories = new Map(Object.entries(section('event.category')).map(([c, t]) => [c, new Set(t ?? [])]));
  schema = {
    fields,
    parents,
    kinds: new Set(Object.keys(section('event.kind'))),
    categories,
    types: new Set(Object.keys(section('event.type'))),
    outcomes: new Set(Object.keys(section('event.outcome'))),
  };
  return schema;
}

/** The ECS definition of a field, or undefined when ECS does not define it. */
export function ecsFieldDefinition(name: string): EcsFieldDefinition | undefined {
  return loadSchema().fields.get(name);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The leaves of a document as [dotted path, value] pairs: objects recurse, arrays are values.
 * A path that names an ECS field (or a declared extension) is a leaf whatever its value, so
 * that `{"process": {"pid": {}}}` is reported as a wrongly typed `process.pid`; the exception
 * are object fields with sub-fields in ECS (`process.io`), which recurse. `labels` is a leaf.
 */
export function flattenEcsDocument(
  doc: Record<string, unknown>,
  extensions: Readonly<Record<string, string>> = {},
): Array<[string, unknown]> {
  const { fields, parents } = loadSchema();
  const out: Array<[string, unknown]> = [];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      const def = fields.get(path);
      const leaf =
        path === 'labels' ||
        Object.hasOwn(extensions, path) ||
        (def !== undefined && !(OBJECT_TYPES.has(def.type) && parents.has(path)));
      if (isPlainObject(value) && !leaf) walk(value, path);
      else out.push([path, value]);
    }
  };
  walk(doc, '');
  return out;
}

const KEYWORD_TYPES = new Set(['keyword', 'wildcard', 'constant_keyword', 'match_only_text', 'text']);
const INTEGER_RANGES: Record<string, [number, number]> = {
  long: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  integer: [-(2 ** 31), 2 ** 31 - 1],
  short: [-(2 ** 15), 2 ** 15 - 1],
  byte: [-(2 ** 7), 2 ** 7 - 1],
};
const FLOAT_TYPES = new Set(['float', 'double', 'scaled_float', 'half_float']);

/** ISO 8601 date-time with an explicit timezone (`Z` or `±hh:mm`). */
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}

/** Why a single (non-array) value does not fit an ECS type, or null when it does. */
function scalarProblem(type: string, value: unknown): string | null {
  if (KEYWORD_TYPES.has(type)) return typeof value === 'string' ? null : `expected a string (${type})`;
  if (type === 'date') {
    if (typeof value !== 'string') return 'expected an ISO 8601 date string';
    const m = ISO_8601.exec(value);
    if (!m) return 'expected an ISO 8601 date-time with a timezone (Z or ±hh:mm)';
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const calendar = new Date(Date.UTC(y, mo - 1, d));
    if (calendar.getUTCMonth() !== mo - 1 || calendar.getUTCDate() !== d || Number.isNaN(Date.parse(value))) {
      return 'not a valid calendar date';
    }
    return null;
  }
  if (type === 'ip') return typeof value === 'string' && isIP(value) !== 0 ? null : 'expected a textual IPv4 or IPv6 address';
  const range = INTEGER_RANGES[type];
  if (range) {
    if (typeof value !== 'number' || !Number.isInteger(value)) return `expected an integer (${type})`;
    return value >= range[0] && value <= range[1] ? null : `integer out of range for ${type}`;
  }
  if (FLOAT_TYPES.has(type)) return typeof value === 'number' && Number.isFinite(value) ? null : `expected a number (${type})`;
  if (type === 'boolean') return typeof value === 'boolean' ? null : 'expected a boolean';
  if (type === 'object' || type === 'flattened' || type === 'nested') return isPlainObject(value) ? null : `expected an object (${type})`;
  if (type === 'geo_point') {
    if (typeof value === 'string') return null;
    if (isPlainObject(value) && typeof value.lat === 'number' && typeof value.lon === 'number') return null;
    return 'expected a geo_point ({lat, lon} or a string)';
  }
  return `unsupported ECS type ${type}`;
}

/** Problems of one leaf value against a field definition. */
function valueProblems(path: string, def: EcsFieldDefinition, value: unknown): string[] {
  if (value === null || value === undefined) return [`${path}: ${describe(value)} value (omit the field instead)`];
  if (Array.isArray(value)) {
    // ECS: a keyword-family field (keyword, wildcard, constant_keyword, match_only_text, text)
    // takes a string or an array of strings; other types take an array only when the field is
    // normalized as an array (e.g. related.ip); nested takes an array of objects.
    if (!def.array && !KEYWORD_TYPES.has(def.type) && def.type !== 'nested') {
      return [`${path}: ${def.type} field does not take an array`];
    }
    return value.flatMap((item, k) => {
      if (Array.isArray(item)) return [`${path}[${k}]: nested arrays are not allowed`];
      const problem = scalarProblem(def.type, item);
      return problem ? [`${path}[${k}]: ${problem}, got ${describe(item)}`] : [];
    });
  }
  const problem = scalarProblem(def.type, value);
  return problem ? [`${path}: ${problem}, got ${describe(value)}`] : [];
}

function labelProblems(value: unknown): string[] {
  if (!isPlainObject(value)) return [`labels: expected an object of keyword strings, got ${describe(value)}`];
  return Object.entries(value).flatMap(([key, v]) => {
    const problems: string[] = [];
    if (key === '' || key.includes('.')) problems.push(`labels.${key}: label names must be non-empty and contain no dots`);
    if (typeof v !== 'string') problems.push(`labels.${key}: label values must be keyword strings, got ${describe(v)}`);
    return problems;
  });
}

/** Values of a categorization field as a list, ignoring anything not a string (type errors report those). */
function stringValues(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is string => typeof v === 'string');
}

function categorizationProblems(leaves: ReadonlyMap<string, unknown>): string[] {
  const s = loadSchema();
  const problems: string[] = [];
  const check = (field: string, allowed: ReadonlySet<string>): string[] => {
    if (!leaves.has(field)) return [];
    const values = stringValues(leaves.get(field));
    for (const v of values) {
      if (!allowed.has(v)) problems.push(`${field}: ${JSON.stringify(v)} is not an allowed value (allowed: ${[...allowed].join(', ')})`);
    }
    return values;
  };
  check('event.kind', s.kinds);
  check('event.outcome', s.outcomes);
  const categories = check('event.category', new Set(s.categories.keys()));
  const types = check('event.type', s.types);
  for (const category of categories) {
    const expected = s.categories.get(category);
    if (!expected) continue;
    for (const type of types) {
      if (s.types.has(type) && !expected.has(type)) {
        problems.push(
          `event.type: ${JSON.stringify(type)} is not expected with event.category ${JSON.stringify(category)} (expected: ${[...expected].join(', ')})`,
        );
      }
    }
  }
  return problems;
}

/**
 * Check one ECS document; returns human-readable problems, empty when the document is valid.
 */
export function validateEcsDocument(doc: unknown, options: EcsValidationOptions = {}): string[] {
  if (!isPlainObject(doc)) return [`document: expected a JSON object, got ${describe(doc)}`];
  const { fields } = loadSchema();
  const extensions = options.extensions ?? {};
  const problems: string[] = [];
  const leaves = new Map<string, unknown>();
  for (const [path, value] of flattenEcsDocument(doc, extensions)) {
    if (leaves.has(path)) {
      problems.push(`${path}: set more than once`);
      continue;
    }
    leaves.set(path, value);
    if (path === 'labels') {
      problems.push(...labelProblems(value));
      continue;
    }
    if (path.startsWith('labels.')) {
      // A dotted key such as {"labels.env": "prod"}: the same as {"labels": {"env": "prod"}}.
      problems.push(...labelProblems({ [path.slice('labels.'.length)]: value }));
      continue;
    }
    const def = fields.get(path) ?? (Object.hasOwn(extensions, path) ? { name: path, type: extensions[path]!, array: false } : undefined);
    if (!def) {
      problems.push(`${path}: not an ECS field, a labels.* key or a declared extension`);
      continue;
    }
    if (def.multiFieldOf) {
      problems.push(`${path}: an index-only multi-field of ${def.multiFieldOf}; set ${def.multiFieldOf} instead`);
      continue;
    }
    problems.push(...valueProblems(path, def, value));
  }
  problems.push(...categorizationProblems(leaves));
  return problems;
}
