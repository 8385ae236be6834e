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

/**
 * `text` broken into lines of at most `width` cells at spaces, each line after the first starting
 * with `indent`: a message on a terminal, so that the terminal's own wrap never splits a word. A
 * word wider than a line is cut where the line ends. Each line of `text` is wrapped on its own.
 */
export function wrapCells(text: string, width: number, indent = '  '): string {
  const indentWidth = cellWidth(indent);
  if (!Number.isFinite(width) || width - indentWidth < 10) return text;
  return text
    .split('\n')
    .map((line) => (cellWidth(line) <= width ? line : wrapLine(line, width, indent, indentWidth)))
    .join('\n');
}

function wrapLine(line: string, width: number, indent: string, indentWidth: number): string {
  const lines: string[] = [];
  let current = '';
  /** Cells of the current line, and those its indent takes. */
  let used = 0;
  let start = 0;
  const next = (): void => {
    lines.push(current);
    current = indent;
    used = start = indentWidth;
  };
  for (const word of line.split(' ')) {
    const w = cellWidth(word);
    const space = used > start ? 1 : 0;
    if (used + space + w <= width) {
      current += space === 1 ? ` ${word}` : word;
      used += space + w;
      continue;
    }
    if (used > start) next();
    let rest = word;
    let restWidth = w;
    // A word wider than a whole line (a long path): cut into pieces that fill lines. The room is
    // at least 10 cells here, so every piece holds a character.
    while (restWidth > width - used) {
      const piece = take(graphemes(rest), width - used);
      current += piece.text;
      rest = rest.slice(piece.text.length);
      restWidth -= piece.width;
      next();
    }
    current += rest;
    used += restWidth;
  }
  lines.push(current);
  return lines.join('\n');
}
