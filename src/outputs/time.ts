import { isoWithOffset } from '../model/iso-time.js';

/**
 * A time as stored (ISO 8601 UTC, to the millisecond) as netmon prints times: local time with its
 * offset, to the second. Text that is no time (a store or pack written elsewhere may hold
 * anything) is given to `otherwise`.
 */
export function storedTime(text: string, otherwise: (text: string) => string = (t) => t): string {
  const at = Date.parse(text);
  return Number.isNaN(at) ? otherwise(text) : isoWithOffset(new Date(at));
}
