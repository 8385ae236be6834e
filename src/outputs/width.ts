import stringWidth from 'string-width';

/**
 * Widths in terminal cells, for aligning columns of printable text (what `printable()` made of
 * it): an East Asian wide or fullwidth character and most emoji take two cells, a combining mark
 * none. ASCII text, nearly every cell, is counted by its length without asking string-width.
 */

const ASCII = /^[\x20-\x7e]*$/;

/** The cells `text` takes on a terminal. */
export function cellWidth(text: string): number {
  return ASCII.test(text) ? text.length : stringWidth(text);
}

let segmenter: Intl.Segmenter | undefined;

/** The user-perceived characters of `text` (an emoji with its modifiers is one), with their widths. */
function graphemes(text: string): { text: string; width: number }[] {
  if (ASCII.test(text)) return Array.from(text, (c) => ({ text: c, width: 1 }));
  segmenter ??= new Intl.Segmenter();
  return [...segmenter.segment(text)].map((s) => ({ text: s.segment, width: stringWidth(s.segment) }));
}

/** The longest run of `parts` from the start (or from the end) whose width stays within `width`. */
function take(parts: { text: string; width: number }[], width: number, fromEnd = false): { text: string; width: number } {
  let text = '';
  let used = 0;
  for (let k = 0; k < parts.length; k++) {
    const p = parts[fromEnd ? parts.length - 1 - k : k]!;
    if (used + p.width > width) break;
    text = fromEnd ? p.text + text : text + p.text;
    used += p.width;
  }
  return { text, width: used };
}

/** Shorten to at most `width` cells, marking the cut with an ellipsis at the end; never splits a character. */
export function fitEnd(text: string, width: number): string {
  if (cellWidth(text) <= width) return text;
  if (width <= 1) return width === 1 ? '…' : '';
  return `${take(graphemes(text), width - 1).text}…`;
}

/** Shorten to at most `width` cells keeping both ends (addresses: the port at the end matters most). */
export function fitMiddle(text: string, width: number): string {
  if (cellWidth(text) <= width) return text;
  if (width <= 1) return width === 1 ? '…' : '';
  const parts = graphemes(text);
  const tail = take(parts, Math.ceil((width - 1) / 2), true);
  const head = take(parts, width - 1 - tail.width);
  return `${head.text}…${tail.text}`;
}

/** `text` padded with spaces to `width` cells, on the right (or the left, `alignRight`). */
export function padCells(text: string, width: number, alignRight = false): string {
  const fill = width - cellWidth(text);
  if (fill <= 0) return text;
  return alignRight ? ' '.repeat(fill) + text : text + ' '.repeat(fill);
}
