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

/**
 * A time as stored (ISO 8601 UTC, to the millisecond) as netmon prints times: local time with its
 * offset, to the second. Text that is no time (a store or pack written elsewhere may hold
 * anything) is given to `otherwise`.
 */
export function storedTime(text: string, otherwise: (text: string) => string = (t) => t): string {
  const at = Date.parse(text);
  return Number.isNaN(at) ? otherwise(text) : isoWithOffset(new Date(at));
}

/** "HH:MM:SS" in the local time zone. */
export function clockTime(date: Date): string {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
