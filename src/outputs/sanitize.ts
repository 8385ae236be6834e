/**
 * Process names and command lines are chosen by whoever starts the process. Before such text
 * reaches a terminal it is made inert: C0/C1 control characters (escape sequences, newlines,
 * carriage returns), DEL, the Unicode line and paragraph separators and direction overrides are
 * shown as escapes, so a process
 * cannot clear the screen, forge rows or reorder what a reviewer reads. A byte that was not
 * valid UTF-8 (read as a lone surrogate, see decodeExact) is shown as the byte, "\xff"; C0
 * controls and DEL as "\x1b", any other character as "\u{9b}", so the two never look alike.
 * (With the u flag a class matches lone surrogates only, never half of a valid pair.)
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\\]/gu;

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => (c === '\\' ? '\\\\' : escaped(c)));
}

/** One character as an escape: "\x1b", "\xff" (a byte that was not UTF-8), "\u{202e}". */
function escaped(c: string): string {
  const code = c.codePointAt(0)!;
  if (code < 0x80) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code >= 0xdc80 && code <= 0xdcff) return `\\x${(code - 0xdc00).toString(16)}`;
  return `\\u{${code.toString(16)}}`;
}

// eslint-disable-next-line no-control-regex
const UNSAFE_IN_MESSAGE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]/gu;

/** A line break that does not begin an indented line: netmon's own messages never make one. */
const FOREIGN_LINE_BREAK = /\n(?! {2})/g;

/**
 * A message of netmon's own that may quote text from outside (a host name or item kind read from
 * a store someone else wrote, a path): made inert like printable(), but backslashes (in quoted
 * patterns and paths) are kept as they are, and so are its own line breaks, which begin an
 * indented line (the problems of a file, one per line). Any other line break came with quoted
 * text and is escaped, so that it cannot start a line that reads as netmon's.
 */
export function printableMessage(text: string): string {
  return text.replace(UNSAFE_IN_MESSAGE, escaped).replace(FOREIGN_LINE_BREAK, '\\x0a');
}
