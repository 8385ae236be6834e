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
 * is not of that form or names no such moment (month 13, 24:01, February 30). With
 * `dateAlone: 'end'`, a date alone is the end of that day (the next local midnight). Pure.
 */
export function parseIsoTime(text: string, options: { dateAlone?: 'start' | 'end' } = {}): Date | null {
  const m = ISO_TIME.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  // A date alone is its start, or (for a deadline: "expires: 2026-12-31") the end of that day.
  const end = m[4] === undefined && options.dateAlone === 'end';
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
    at = new Date(year, month - 1, end ? day + 1 : day, hour, minute, second, ms).getTime();
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
  return Number.isNaN(at) ? null : new Date(at);
}
