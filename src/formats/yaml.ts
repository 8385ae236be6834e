import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

/** A problem in a YAML file, with its 1-based line. */
export interface YamlProblem {
  line: number | null;
  message: string;
}

/** A parsed YAML document with line lookup for its nodes. */
export interface ParsedYaml {
  value: unknown;
  problems: YamlProblem[];
  /** The 1-based line where the node at `path` starts (keys and list indices), or null. */
  lineOf(path: (string | number)[]): number | null;
}

let yaml: typeof Yaml | undefined;

/**
 * Parse YAML text. The `yaml` package enters netmon here and nowhere else, loaded on first use.
 * Duplicate keys and syntax errors are problems with their line, never exceptions. Pure.
 */
export function parseYaml(text: string): ParsedYaml {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  const lines = new yaml.LineCounter();
  // The YAML 1.2 core schema whatever a %YAML directive says: under 1.1, `expires: 2026-12-31`
  // would be a timestamp (midnight UTC) instead of the date netmon reads as the end of that local
  // day, and `yes` a boolean; one file must mean one thing.
  const doc = yaml.parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true, schema: 'core' });
  const problems: YamlProblem[] = [...doc.errors, ...doc.warnings].map((e) => ({
    line: e.linePos?.[0]?.line ?? null,
    message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
  }));
  let value: unknown = null;
  if (doc.errors.length === 0) {
    try {
      // Aliases expand: a file of a few lines can stand for gigabytes (an alias bomb). yaml refuses
      // past its alias limit by throwing, which is a problem of the file, not of netmon.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      problems.push({ line: null, message: error instanceof Error ? error.message : String(error) });
    }
  }
  return {
    value,
    problems,
    lineOf(path) {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      const start = node?.range?.[0];
      return start === undefined ? null : lines.linePos(start).line;
    },
  };
}

/**
 * A YAML file's problems as "FILE:LINE: message" lines, starting with its parse problems, and
 * `at` to add one at the line of the node at `path`. Pure.
 */
export function locatedProblems(doc: ParsedYaml, source: string): { problems: string[]; at(path: (string | number)[], message: string): void } {
  const where = (line: number | null): string => `${source}${line === null ? '' : `:${line}`}`;
  const problems = doc.problems.map((p) => `${where(p.line)}: ${p.message}`);
  return {
    problems,
    at(path, message) {
      problems.push(`${where(doc.lineOf(path))}: ${message}`);
    },
  };
}
