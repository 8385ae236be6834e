/** Times users type on the command line and in files (ISO 8601), read the same way everywhere. */

/** What parseIsoTime() reads: a date, then optionally a time (T or a space), then optionally an offset. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** The text has the form of an ISO 8601 time (whether or not it names a real moment). Pure. */
export function looksLikeIsoTime(text: string): boolean {
  return ISO_TIME.test(text.trim());
}

/**
 * A time a user types (`--from`, `--pre`, `--older-than`): ISO 8601 as `2026-11-23`,
 * `2026-11-23T22:00`, `2026-11-23 22:00:30`, `2026-11-23T22:00:00.5Z` or with an offset such as
 * `+01:00`, `+0100` or `+01`. Without an offset it is local time (the TZ netmon runs in), a date
 * alone included: its midnight there, as netmon prints times in local time. Null when the text
 * is not of that form or names no such moment (month 13, 24:01, February 30, a local time a
 * change of daylight saving time skipped or passed twice). With `dateAlone: 'end'`, a date alone
 * is the end of that day (the next local midnight); with `upperBound`, a time stands for all of
 * what it names, to the precision it is given in: its last millisecond (of the second, the minute,
 * or the day of a date alone). Pure.
 */
export function parseIsoTime(text: string, options: { dateAlone?: 'start' | 'end'; upperBound?: boolean } = {}): Date | null {
  const m = ISO_TIME.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  // A date alone is its start, or (for a deadline: "expires: 2026-12-31") the end of that day.
  const end = m[4] === undefined && (options.dateAlone === 'end' || options.upperBound === true);
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const ms = Math.floor(Number(`0.${frac || '0'}`) * 1000);
  // 24:00 is the end of a day in ISO 8601; nothing later is a time.
  if (month < 1 || month > 12 || day < 1 || hour > 24 || minute > 59 || second > 59 || (hour === 24 && (minute > 0 || second > 0 || ms > 0))) return null;
  // The day must exist in its month (the Date constructor would roll February 30 over).
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  let at: number;
  if (zone === undefined) {
    const local = new Date(year, month - 1, end ? day + 1 : day, hour, minute, second, ms);
    at = local.getTime();
    // A local time with its hour given must name one moment: in a change of daylight saving time
    // one may not exist (the clock skipped it; Date moves it an hour on) or exist twice (the clock
    // went back; Date takes the first). Either is refused: the user gives the offset instead.
    if (m[4] !== undefined && hour < 24) {
      const sameWallTime = (d: Date): boolean => d.getFullYear() === year && d.getMonth() === month - 1 && d.getDate() === day && d.getHours() === hour && d.getMinutes() === minute;
      if (!sameWallTime(local)) return null;
      if (sameWallTime(new Date(at - 3_600_000)) || sameWallTime(new Date(at + 3_600_000))) return null;
    }
  } else {
    let offset = 0;
    if (zone.toUpperCase() !== 'Z') {
      const digits = zone.slice(1).replace(':', '');
      const oh = Number(digits.slice(0, 2));
      const om = Number(digits.slice(2) || '0');
      if (oh > 23 || om > 59) return null;
      offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
    }
    at = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset * 60_000;
  }
  // Netmon prints times to the second and stores them to the millisecond: a time to the second,
  // as an upper bound, is the whole of that second, so that a printed time pasted back finds the
  // snapshot it was printed for; a time to the minute, the whole minute; a date alone, the day
  // (its end, the next midnight, less a millisecond).
  if (options.upperBound === true) {
    if (m[4] === undefined) at -= 1;
    else if (m[6] === undefined && hour < 24) at += 59_999;
    else if (m[6] !== undefined && frac === '') at += 999;
  }
  return Number.isNaN(at) ? null : new Date(at);
}

/** The words that explain a text with the form of a time but no moment it names. */
export const NO_SUCH_MOMENT =
  'names no such moment (a month, day or hour that does not exist, or, at a change of daylight saving time, a local time the clock skipped or passed twice: give it with its offset, such as +01:00)';

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** ISO 8601 in the local time zone with its offset, e.g. "2026-11-23T01:02:03+01:00". */
export function isoWithOffset(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** "HH:MM:SS" in the local time zone. */
export function clockTime(date: Date): string {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/**
 * The local day of `date` and its UTC offset, e.g. "2026-11-26 +01:00": what a time of day
 * (clockTime) leaves out. Pure.
 */
export function localDay(date: Date): string {
  return isoWithOffset(date).replace(/T\d{2}:\d{2}:\d{2}/, ' ');
}

/**
 * For a log of times of day (the change lines of `--interval` and `watch`): the line that goes
 * before one at `at` when the local day or the UTC offset is not that of `shown`, the day the
 * lines before it were of, else null. Across midnight, and in the hour a change of daylight
 * saving time repeats, a time of day alone is ambiguous. Pure.
 */
export function dayChangeLine(shown: string, at: Date): string | null {
  const day = localDay(at);
  return day === shown ? null : `--- ${day} ---`;
}

/**
 * The day lines of one log (dayChangeLine), remembering the day its lines are of: `shown` starts
 * it (a live view of that day printed already), else the first line's day is named. Pure.
 */
export class DayLines {
  private shown: string;

  constructor(shown?: Date) {
    this.shown = shown === undefined ? '' : localDay(shown);
  }

  /** The line to print before a line of `at`, or null; then `at`'s day is the one shown. */
  before(at: Date): string | null {
    const line = dayChangeLine(this.shown, at);
    if (line !== null) this.shown = localDay(at);
    return line;
  }
}
