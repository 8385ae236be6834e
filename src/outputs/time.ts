import { isoWithOffset } from '../model/iso-time.js';

/** Kept here too: the outputs' times, as every command prints them. */
export { isoWithOffset };

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
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
