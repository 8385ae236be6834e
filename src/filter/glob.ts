import { FilterError } from '../errors.js';

/** A compiled glob: whether a whole text matches it. */
export interface Glob {
  test(text: string): boolean;
}

/** One element of a glob: a character, any one character, a set of characters, or any run. */
type Token = { kind: 'char'; c: string } | { kind: 'one' } | { kind: 'set'; negate: boolean; members: (string | [string, string])[] } | { kind: 'star' };

/**
 * Shell-style globs with fnmatch semantics, the dialect of the tools netmon replaces:
 * `*` any run of characters (including "/" and ":"), `?` one character, `[abc]`, `[a-z]`,
 * `[!abc]` (or `[^abc]`) one character of (not of) a set, and `\x` a literal x, inside a set
 * too. The whole text must match. `flags` "i" matches regardless of case.
 *
 * Matching takes time proportional to the text's length times the pattern's at worst, whatever
 * the pattern: a process name or an executable path is chosen by whoever runs the process, and a
 * regular expression's backtracking on `*a*a*a*b` made a capture take minutes.
 */
export function compileGlob(pattern: string, option: string, flags = ''): Glob {
  if (pattern.length === 0) throw new FilterError(pattern, option, 'the pattern is empty');
  const ignoreCase = flags.includes('i');
  const fold = (c: string): string => (ignoreCase ? c.toLowerCase() : c);
  // By code point: "?" and a set take one character, not one UTF-16 unit.
  const chars = [...pattern];
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') {
      tokens.push({ kind: 'one' });
    } else if (c === '\\') {
      const next = chars[i + 1];
      if (next === undefined) throw new FilterError(pattern, option, 'a trailing "\\" escapes nothing');
      tokens.push({ kind: 'char', c: fold(next) });
      i++;
    } else if (c === '[') {
      const end = classEnd(chars, i);
      if (end < 0) throw new FilterError(pattern, option, `"[" at position ${i + 1} is never closed by "]" (write \\[ for a literal bracket)`);
      tokens.push(classToken(chars.slice(i + 1, end), pattern, option, fold));
      i = end;
    } else {
      tokens.push({ kind: 'char', c: fold(c) });
    }
  }
  const glob: Glob = { test: (text) => matches(tokens, [...text], ignoreCase) };
  compiled.set(glob, { tokens, ignoreCase });
  return glob;
}

const compiled = new WeakMap<Glob, { tokens: readonly Token[]; ignoreCase: boolean }>();

/**
 * A language of texts given as an automaton over a small alphabet: from a state, the states each
 * character leads to. A superset of the texts a glob is meant for is enough to tell a glob that
 * can match none of them (a typo) from one that can.
 */
export interface TextLanguage {
  alphabet: readonly string[];
  start: number;
  accepting: ReadonlySet<number>;
  next(state: number, c: string): readonly number[];
}

/**
 * Whether some text of `language` matches `glob`: a search of the glob's positions paired with
 * the language's states, so it takes time proportional to the pattern's length times the
 * language's size. Pure.
 */
export function globMeets(glob: Glob, language: TextLanguage): boolean {
  const entry = compiled.get(glob);
  if (entry === undefined) throw new Error('globMeets: not a glob compileGlob made');
  const { tokens, ignoreCase } = entry;
  const seen = new Set<string>();
  const queue: [number, number][] = [[0, language.start]];
  while (queue.length > 0) {
    const [p, q] = queue.pop()!;
    const key = `${p},${q}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (p === tokens.length) {
      if (language.accepting.has(q)) return true;
      continue;
    }
    const token = tokens[p]!;
    if (token.kind === 'star') queue.push([p + 1, q]);
    for (const c of language.alphabet) {
      const targets = language.next(q, c);
      if (targets.length === 0) continue;
      const step = token.kind === 'star' ? p : one(token, c, ignoreCase) ? p + 1 : -1;
      if (step >= 0) for (const r of targets) queue.push([step, r]);
    }
  }
  return false;
}

/** True when the text has glob characters; plain text matches only itself. */
export function hasGlobSyntax(text: string): boolean {
  return /[*?[\\]/.test(text);
}

/** The index of the "]" that closes the set opened at `open`, or -1; a "\" escapes the next character. */
function classEnd(chars: readonly string[], open: number): number {
  let i = open + 1;
  if (chars[i] === '!' || chars[i] === '^') i++;
  if (chars[i] === ']') i++; // a leading "]" is a member, as in fnmatch
  for (; i < chars.length; i++) {
    if (chars[i] === '\\') i++;
    else if (chars[i] === ']') return i;
  }
  return -1;
}

function classToken(body: readonly string[], pattern: string, option: string, fold: (c: string) => string): Token {
  let negate = false;
  let i = 0;
  if (body[0] === '!' || body[0] === '^') {
    negate = true;
    i = 1;
  }
  // Members with escapes resolved: [character, escaped].
  const items: [string, boolean][] = [];
  for (; i < body.length; i++) {
    if (body[i] === '\\' && i + 1 < body.length) {
      items.push([body[i + 1]!, true]);
      i++;
    } else {
      items.push([body[i]!, false]);
    }
  }
  const members: (string | [string, string])[] = [];
  for (let k = 0; k < items.length; k++) {
    const [c] = items[k]!;
    const dash = items[k + 1];
    if (dash !== undefined && dash[0] === '-' && !dash[1] && k + 2 < items.length) {
      const to = items[k + 2]![0];
      if (to.codePointAt(0)! < c.codePointAt(0)!) throw new FilterError(pattern, option, `range "${c}-${to}" is reversed`);
      members.push([c, to]);
      k += 2;
    } else {
      members.push(fold(c));
    }
  }
  if (members.length === 0) throw new FilterError(pattern, option, '"[]" is an empty set');
  return { kind: 'set', negate, members };
}

function inSet(token: Extract<Token, { kind: 'set' }>, c: string, ignoreCase: boolean): boolean {
  const candidates = ignoreCase ? [c.toLowerCase(), c.toUpperCase()] : [c];
  let found = false;
  for (const x of candidates) {
    const code = x.codePointAt(0)!;
    for (const m of token.members) {
      if (typeof m === 'string' ? m === x : code >= m[0].codePointAt(0)! && code <= m[1].codePointAt(0)!) {
        found = true;
        break;
      }
    }
    if (found) break;
  }
  return found !== token.negate;
}

/**
 * Whether `text` (code points) matches `tokens`: left to right, each star first matching nothing,
 * and on a mismatch the last star takes one more character. Only the last star is ever resumed:
 * the earlier ones' matches can be kept, as anything a later part needs the last star can take.
 */
function matches(tokens: readonly Token[], text: readonly string[], ignoreCase: boolean): boolean {
  let t = 0;
  let p = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const token = tokens[p];
    if (token !== undefined && token.kind === 'star') {
      starP = p++;
      starT = t;
      continue;
    }
    if (token !== undefined && one(token, text[t]!, ignoreCase)) {
      p++;
      t++;
      continue;
    }
    if (starP < 0) return false;
    p = starP + 1;
    t = ++starT;
  }
  while (p < tokens.length && tokens[p]!.kind === 'star') p++;
  return p === tokens.length;
}

function one(token: Exclude<Token, { kind: 'star' }>, c: string, ignoreCase: boolean): boolean {
  switch (token.kind) {
    case 'one':
      return true;
    case 'char':
      return token.c === (ignoreCase ? c.toLowerCase() : c);
    case 'set':
      return inSet(token, c, ignoreCase);
  }
}
