import { describe, expect, it } from 'vitest';
import { printable, printableMessage } from '../../src/outputs/sanitize.js';

describe('printableMessage', () => {
  it('keeps the indented lines of a message of netmon\'s own, and its backslashes', () => {
    const message = 'the configuration is not valid:\n  netmon.conf:1: expected "key = value"\n  netmon.conf:4: bad glob "a\\*"';
    expect(printableMessage(message)).toBe(message);
  });

  it('escapes a line break that quoted text brought, so that it cannot start a line of its own', () => {
    expect(printableMessage('there is no evidence store at /tmp/x\nnetmon: note: verified.db')).toBe('there is no evidence store at /tmp/x\\x0anetmon: note: verified.db');
    expect(printableMessage('host a\n b')).toBe('host a\\x0a b');
    expect(printableMessage('ends with a break\n')).toBe('ends with a break\\x0a');
  });

  it('escapes terminal controls and direction overrides as printable() does', () => {
    expect(printableMessage('red \x1b[31mtext\r \u202eabc')).toBe('red \\x1b[31mtext\\x0d \\u{202e}abc');
    expect(printable('a\nb\\c')).toBe('a\\x0ab\\\\c');
  });
});

describe('printable', () => {
  it('shows a byte that was not UTF-8 as \\xNN, a C1 control as \\u{NN}: never alike', () => {
    expect(printable('no\udcff\udcfede')).toBe('no\\xff\\xfede');
    expect(printable('\u009b\u0085')).toBe('\\u{9b}\\u{85}');
    expect(printable('\udc9b')).toBe('\\x9b');
    expect(printable('\u001b[2J\u007f')).toBe('\\x1b[2J\\x7f');
  });

  it('leaves characters outside the BMP whole, and escapes a lone surrogate of any kind', () => {
    expect(printable('ok 😀 ✓')).toBe('ok 😀 ✓');
    expect(printable('a\ud800b')).toBe('a\\u{d800}b');
    // Nothing printable() returns encodes as anything but the text itself.
    expect(Buffer.from(printable('\udcff\ud800😀'), 'utf8').toString('utf8')).toBe(printable('\udcff\ud800😀'));
  });
});

describe('line and paragraph separators', () => {
  it('shows U+2028 and U+2029 as escapes in table cells and in messages: some terminals and readers break lines there', () => {
    expect(printable('a\u2028b\u2029c')).toBe('a\\u{2028}b\\u{2029}c');
    expect(printableMessage('name a\u2028b')).toBe('name a\\u{2028}b');
  });
});
