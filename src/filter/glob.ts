import { FilterError } from '../errors.js';

/**
 * Shell-style globs with fnmatch semantics, the dialect of the tools netmon replaces:
 * `*` any run of characters (including "/" and ":"), `?` one character, `[abc]`, `[a-z]`,
 * `[!abc]` (or `[^abc]`) one character of (not of) a set, and `\x` a literal x.
 * The whole text must match.
 */
export function compileGlob(pattern: string, option: string, flags = ''): RegExp {
  if (pattern.length === 0) throw new FilterError(pattern, option, 'the pattern is empty');
  // Walk by code point and compile with "u": "?" and a set take one character, not one UTF-16 unit.
  const chars = [...pattern];
  let source = '^';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      source += '.*';
    } else if (c === '?') {
      source += '.';
    } else if (c === '\\') {
      const next = chars[i + 1];
      if (next === undefined) throw new FilterError(pattern, option, 'a trailing "\\" escapes nothing');
      source += escapeRegExp(next);
      i++;
    } else if (c === '[') {
      const end = classEnd(chars, i);
      if (end < 0) throw new FilterError(pattern, option, `"[" at position ${i + 1} is never closed by "]" (write \\[ for a literal bracket)`);
      source += classSource(chars.slice(i + 1, end), pattern, option);
      i = end;
    } else {
      source += escapeRegExp(c);
    }
  }
  return new RegExp(`${source}$`, `su${flags}`);
}

/** True when the text has glob characters; plain text matches only itself. */
export function hasGlobSyntax(text: string): boolean {
  return /[*?[\\]/.test(text);
}

function classEnd(chars: readonly string[], open: number): number {
  let i = open + 1;
  if (chars[i] === '!' || chars[i] === '^') i++;
  if (chars[i] === ']') i++; // a leading "]" is a member, as in fnmatch
  for (; i < chars.length; i++) if (chars[i] === ']') return i;
  return -1;
}

function classSource(body: readonly string[], pattern: string, option: string): string {
  let negate = false;
  let i = 0;
  if (body[0] === '!' || body[0] === '^') {
    negate = true;
    i = 1;
  }
  let members = '';
  for (; i < body.length; i++) {
    const c = body[i]!;
    if (body[i + 1] === '-' && i + 2 < body.length) {
      const to = body[i + 2]!;
      if (to.codePointAt(0)! < c.codePointAt(0)!) throw new FilterError(pattern, option, `range "${c}-${to}" is reversed`);
      members += `${escapeClass(c)}-${escapeClass(to)}`;
      i += 2;
    } else {
      members += escapeClass(c);
    }
  }
  if (members === '') throw new FilterError(pattern, option, '"[]" is an empty set');
  return `[${negate ? '^' : ''}${members}]`;
}

function escapeRegExp(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function escapeClass(c: string): string {
  return /[\]\\^-]/.test(c) ? `\\${c}` : c;
}
