import { describe, expect, it } from 'vitest';
import { cellWidth, wrapCells } from '../../src/outputs/width.js';

/** The text again from wrapped lines: indents dropped, line breaks back to the spaces they replaced. */
function unwrap(text: string, indent = '  '): string {
  return text
    .split('\n')
    .map((line, k) => (k > 0 && line.startsWith(indent) ? line.slice(indent.length) : line))
    .join(' ');
}

describe('wrapCells: a message broken into lines of a terminal width', () => {
  it('breaks at spaces, every line within the width, and loses no word', () => {
    const text = 'netmon: warning: the network namespace of 1 process was not readable, so sockets of other namespaces may be missing';
    for (const width of [20, 33, 50, 80]) {
      const wrapped = wrapCells(text, width);
      for (const line of wrapped.split('\n')) expect(cellWidth(line)).toBeLessThanOrEqual(width);
      expect(unwrap(wrapped)).toBe(text);
    }
  });

  it('leaves a line that fits, and wraps each line of a text on its own', () => {
    expect(wrapCells('short\n', 80)).toBe('short\n');
    expect(wrapCells('aaaa bbbb cccc dddd\nshort\n', 15)).toBe('aaaa bbbb cccc\n  dddd\nshort\n');
  });

  it('measures wide characters in cells: a CJK name takes two cells a character', () => {
    const text = 'netmon: warning: pid 7 (日本語のプロセス名) is protected';
    const wrapped = wrapCells(text, 30);
    for (const line of wrapped.split('\n')) expect(cellWidth(line)).toBeLessThanOrEqual(30);
    expect(wrapped.split('\n')[1]).toBe('  (日本語のプロセス名) is');
    expect(unwrap(wrapped)).toBe(text);
  });

  it('cuts a word wider than a line (a long path) where the line ends, never splitting a character', () => {
    const path = `/var/lib/${'x'.repeat(40)}/netmon.db`;
    const wrapped = wrapCells(`netmon: error: ${path} is not writable`, 24);
    expect(wrapped.split('\n')).toEqual(['netmon: error:', `  /var/lib/${'x'.repeat(13)}`, `  ${'x'.repeat(22)}`, `  ${'x'.repeat(5)}/netmon.db is not`, '  writable']);
    const emoji = wrapCells(`a ${'😀'.repeat(20)}`, 13);
    for (const line of emoji.split('\n')) expect(cellWidth(line)).toBeLessThanOrEqual(13);
    expect(emoji.split('\n')).toEqual(['a', ...Array(4).fill(`  ${'😀'.repeat(5)}`)]);
  });

  it('leaves the text as it is when there is no width to wrap to (a pipe) or too little to be useful', () => {
    const text = 'a b c d e f g h i j k l m n o p';
    expect(wrapCells(text, Number.POSITIVE_INFINITY)).toBe(text);
    expect(wrapCells(text, 8)).toBe(text);
  });
});
