import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterError } from '../../src/errors.js';
import { compileGlob, hasGlobSyntax, type Glob } from '../../src/filter/glob.js';

const glob = (pattern: string): Glob => compileGlob(pattern, '--process');
const matches = (pattern: string, text: string): boolean => glob(pattern).test(text);

/** Run `fn`, expecting a FilterError, and return it. */
function filterError(fn: () => unknown): FilterError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FilterError);
    return error as FilterError;
  }
  throw new Error('expected a FilterError, nothing was thrown');
}

/** A glob that matches exactly `text`: the four special characters escaped with "\". */
const escapeGlob = (text: string): string => text.replace(/[*?[\\]/g, (c) => `\\${c}`);

describe('compileGlob', () => {
  it('"*" matches any run of characters, including none, "/" and ":"', () => {
    expect(matches('*', '')).toBe(true);
    expect(matches('*', 'anything at all')).toBe(true);
    expect(matches('tcp*/*/80', 'tcp6/::1/80')).toBe(true);
    expect(matches('/usr/*', '/usr/lib/jvm/bin/java')).toBe(true);
    expect(matches('*:443', '[2001:db8::1]:443')).toBe(true);
    expect(matches('a*b', 'ab')).toBe(true);
    expect(matches('a*b', 'a\nb')).toBe(true);
  });

  it('the whole text must match', () => {
    expect(matches('ssh', 'sshd')).toBe(false);
    expect(matches('sshd', 'ssh')).toBe(false);
    expect(matches('ssh*', 'sshd')).toBe(true);
    expect(matches('*sh', 'bash')).toBe(true);
    expect(matches('*sh', 'bash -c')).toBe(false);
  });

  it('"?" matches exactly one character', () => {
    expect(matches('ssh?', 'sshd')).toBe(true);
    expect(matches('ssh?', 'ssh')).toBe(false);
    expect(matches('ssh?', 'sshdd')).toBe(false);
    expect(matches('72.14.207.9?', '72.14.207.99')).toBe(true);
    expect(matches('a?c', 'a/c')).toBe(true);
    expect(matches('a?c', 'a:c')).toBe(true);
  });

  it('regular expression characters are literal', () => {
    expect(matches('a.c', 'abc')).toBe(false);
    expect(matches('a.c', 'a.c')).toBe(true);
    expect(matches('python3.11', 'python3x11')).toBe(false);
    expect(matches('(x)+', '(x)+')).toBe(true);
    expect(matches('^$|{}', '^$|{}')).toBe(true);
    expect(matches('a]b', 'a]b')).toBe(true);
  });

  it('[abc] and ranges match one character of the set', () => {
    expect(matches('[abc]', 'b')).toBe(true);
    expect(matches('[abc]', 'd')).toBe(false);
    expect(matches('[abc]', 'ab')).toBe(false);
    expect(matches('[a-c]x', 'bx')).toBe(true);
    expect(matches('[a-c]x', 'dx')).toBe(false);
    expect(matches('port[0-9][0-9]', 'port42')).toBe(true);
    expect(matches('[a-cx-z]', 'y')).toBe(true);
    expect(matches('[a-cx-z]', 'm')).toBe(false);
  });

  it('[!...] and [^...] negate the set', () => {
    expect(matches('[!a]', 'b')).toBe(true);
    expect(matches('[!a]', 'a')).toBe(false);
    expect(matches('[^a]', 'b')).toBe(true);
    expect(matches('[^a]', 'a')).toBe(false);
    expect(matches('[!0-9]*', 'x1')).toBe(true);
    expect(matches('[!0-9]*', '1x')).toBe(false);
    expect(matches('[!a]', '')).toBe(false);
  });

  it('a "]" right after "[" (or "[!") is a member', () => {
    expect(matches('[]a]', ']')).toBe(true);
    expect(matches('[]a]', 'a')).toBe(true);
    expect(matches('[]a]', 'b')).toBe(false);
    expect(matches('[!]a]', ']')).toBe(false);
    expect(matches('[!]a]', 'b')).toBe(true);
  });

  it('"-" first or last in a set is a member, as are "^" and "\\" inside it', () => {
    expect(matches('[-a]', '-')).toBe(true);
    expect(matches('[a-]', '-')).toBe(true);
    expect(matches('[a-]', 'b')).toBe(false);
    expect(matches('[a^]', '^')).toBe(true);
    expect(matches('[.]', 'x')).toBe(false);
    expect(matches('[.]', '.')).toBe(true);
  });

  it('"\\" makes the next character literal', () => {
    expect(matches('\\[x]', '[x]')).toBe(true);
    expect(matches('\\[x]', 'x')).toBe(false);
    expect(matches('a\\*', 'a*')).toBe(true);
    expect(matches('a\\*', 'ab')).toBe(false);
    expect(matches('a\\?', 'a?')).toBe(true);
    expect(matches('a\\?', 'ab')).toBe(false);
    expect(matches('a\\\\b', 'a\\b')).toBe(true);
    expect(matches('\\a', 'a')).toBe(true);
  });

  it('applies the extra flags it is given (case-insensitive fields)', () => {
    expect(compileGlob('TCP*', '--match', 'i').test('tcp6')).toBe(true);
    expect(compileGlob('TCP*', '--match').test('tcp6')).toBe(false);
  });

  it('refuses an unclosed "[", naming the pattern and the option', () => {
    const e = filterError(() => compileGlob('ssh[d', '--process'));
    expect(e.pattern).toBe('ssh[d');
    expect(e.code).toBe('E_FILTER');
    expect(e.message).toContain('"ssh[d"');
    expect(e.message).toContain('--process');
    expect(e.message).toContain('position 4');
    expect(filterError(() => glob('[')).pattern).toBe('[');
    expect(filterError(() => glob('[]')).pattern).toBe('[]');
    expect(filterError(() => glob('[!]')).pattern).toBe('[!]');
  });

  it('refuses an empty pattern', () => {
    const e = filterError(() => compileGlob('', '--user'));
    expect(e.message).toContain('--user');
    expect(e.message).toContain('empty');
  });

  it('quotes a very long bad pattern by its ends, with its length, not whole (a pattern of 100,000 characters made 100 KB of stderr)', () => {
    const long = `${'a'.repeat(100_000)}[`;
    const e = filterError(() => compileGlob(long, '--process'));
    expect(e.message.length).toBeLessThan(600);
    expect(e.message).toContain('(100001 characters)');
    expect(e.pattern).toBe(long);
  });

  it('refuses a reversed range', () => {
    const e = filterError(() => glob('[z-a]'));
    expect(e.message).toContain('"[z-a]"');
    expect(e.message).toContain('reversed');
    expect(filterError(() => glob('port[9-0]')).pattern).toBe('port[9-0]');
  });

  it('refuses a trailing "\\"', () => {
    expect(filterError(() => glob('abc\\')).pattern).toBe('abc\\');
  });

  it('"?" matches one character outside the BMP', () => {
    expect(matches('a?b', 'a😀b')).toBe(true);
    expect(matches('[😀x]', '😀')).toBe(true);
  });

  it('returns a glob or throws FilterError for any pattern, never another error', () => {
    const specials = fc.constantFrom('*', '?', '[', ']', '!', '^', '-', '\\', 'a', 'z', '0', '9', '/', ':', '.', '😀', '\u0000', '\n');
    const pattern = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.array(specials, { maxLength: 12 }).map((cs) => cs.join('')));
    fc.assert(
      fc.property(pattern, fc.constantFrom('', 'i'), (p, flags) => {
        let re: Glob;
        try {
          re = compileGlob(p, '--path', flags);
        } catch (error) {
          if (!(error instanceof FilterError)) throw error;
          expect(error.pattern).toBe(p);
          return;
        }
        expect(typeof re.test(p)).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });

  it('an escaped pattern matches exactly its own text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.string({ minLength: 1, maxLength: 3 }), (text, extra) => {
        const re = glob(escapeGlob(text));
        expect(re.test(text)).toBe(true);
        expect(re.test(text + extra)).toBe(false);
        expect(re.test(extra + text)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('a pattern without special characters is plain text and matches only itself', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !hasGlobSyntax(s)), fc.string({ maxLength: 30 }), (text, other) => {
        expect(glob(text).test(other)).toBe(other === text);
        expect(glob(text).test(text)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('hasGlobSyntax', () => {
  it.each([
    ['sshd', false],
    ['/usr/sbin/sshd', false],
    ['a.b', false],
    ['ssh*', true],
    ['ssh?', true],
    ['[ab]', true],
    ['a\\b', true],
  ])('%j -> %j', (text, expected) => {
    expect(hasGlobSyntax(text)).toBe(expected);
  });

  it('takes "\" inside a set as an escape, as fnmatch does: [\-_] is "-" or "_", [\]] is "]"', () => {
    expect(matches('py[\\-_]srv', 'py-srv')).toBe(true);
    expect(matches('py[\\-_]srv', 'py_srv')).toBe(true);
    expect(matches('py[\\-_]srv', 'pyXsrv')).toBe(false);
    expect(matches('[\\]]x', ']x')).toBe(true);
    expect(matches('[!\\]]x', ']x')).toBe(false);
  });

  it('matches in time linear in the text for patterns a regular expression backtracks on', () => {
    // From a selection probe: "*a*a*a*a*a*a*b" as a regular expression took 39 s on 100
    // characters; a path chosen by whoever runs the process could stall every capture.
    const text = 'a'.repeat(5000);
    expect(glob(`${'*a'.repeat(40)}*b`).test(text)).toBe(false);
    expect(glob(`${'*a'.repeat(40)}*`).test(text)).toBe(true);
    expect(glob(`/tmp/${'*/'.repeat(30)}bin/*`).test(`/tmp/${'d/'.repeat(400)}x`)).toBe(false);
  });

  it('agrees with a regular expression of the same glob on any text (the old implementation, kept here as the reference)', () => {
    const reference = (pattern: string, flags: string): RegExp => {
      let source = '^';
      const chars = [...pattern];
      for (let i = 0; i < chars.length; i++) {
        const c = chars[i]!;
        if (c === '*') source += '.*';
        else if (c === '?') source += '.';
        else if (c === '\\') source += `\\u{${chars[++i]!.codePointAt(0)!.toString(16)}}`;
        else if (c === '[') {
          let j = i + 1;
          let set = '[';
          if (chars[j] === '!' || chars[j] === '^') {
            set += '^';
            j++;
          }
          for (; chars[j] !== ']'; j++) set += chars[j] === '-' ? '-' : `\\u{${chars[j]!.codePointAt(0)!.toString(16)}}`;
          source += `${set}]`;
          i = j;
        } else source += `\\u{${c.codePointAt(0)!.toString(16)}}`;
      }
      return new RegExp(`${source}$`, `su${flags}`);
    };
    // Patterns of letters, "*", "?", "\x" and simple sets; texts over the same few letters.
    const piece = fc.oneof(fc.constantFrom('a', 'b', 'A', '*', '?', '\\*', '\\a', '[ab]', '[!a]', '[a-c]', '[^b]', 'é'), fc.constantFrom('a', 'b'));
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 8 }), fc.stringMatching(/^[abcAé*]{0,10}$/), fc.constantFrom('', 'i'), (pieces, text, flags) => {
        const pattern = pieces.join('');
        expect(compileGlob(pattern, '--path', flags).test(text), `${pattern} ${flags} on ${text}`).toBe(reference(pattern, flags).test(text));
      }),
      { numRuns: 3000 },
    );
  });
});
