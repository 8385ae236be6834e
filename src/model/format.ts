/**
 * A ratio as people read it in every output: 0.9871 -> "98.7%". Rounded to the nearest tenth,
 * except that only a whole reads 100.0% and only nothing reads 0.0%: one socket of 28,000 left
 * unattributed is 99.9%, not a coverage that claims completeness. Pure.
 */
export function percent(ratio: number): string {
  let tenths = Math.round(ratio * 1000);
  if (tenths >= 1000 && ratio < 1) tenths = 999;
  else if (tenths <= 0 && ratio > 0) tenths = 1;
  return `${(tenths / 10).toFixed(1)}%`;
}

/** A number with its noun, singular for one: count(1, 'socket') -> "1 socket", count(3, 'process', 'processes') -> "3 processes". Pure. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** Why a gap in monitoring was recorded, in words (gap records hold a reason code). Pure. */
export function gapReason(reason: string): string {
  switch (reason) {
    case 'unclean-stop':
      return 'the previous capture stopped without closing the store';
    case 'taken-over':
      return 'the store was taken over (--take-over) from a capture that could not be checked from here (another host or a container); it had not written since';
    case 'not-running':
      return 'no capture was running';
    case 'store-busy':
      return 'captures could not be stored: another process (a prune, or a long reader of a store on a shared file system) kept the evidence store locked for longer than netmon waits';
    case 'capture-failed':
      return 'captures failed (each error was printed on stderr when it happened)';
    case 'paused':
      return 'the capture did not run: the system was suspended, or the process was stopped or got no CPU';
    default:
      return reason;
  }
}

/**
 * A clock step in words: 2500 -> "set forward by about 2.5 s", 43197200 -> "set back by about 11h
 * 59m" (a multi-day probe read "43197.2 s" beside "11h 59m" for the same step elsewhere). Pure.
 */
export function clockStepWords(stepMs: number): string {
  const seconds = Math.abs(stepMs) / 1000;
  return `set ${stepMs > 0 ? 'forward' : 'back'} by about ${seconds < 60 ? `${seconds.toFixed(1)} s` : duration(seconds)}`;
}

/** A length of time as people read it: 0.4 -> "0.4 s", 75 -> "1m 15s", 90061 -> "1d 1h 1m". Pure. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const s = Math.round(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

/** Milliseconds as exact seconds: 10000 -> "10 s", 250 -> "0.25 s". Pure. */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** A file mode as chmod takes it, "0640" (`mask`: which bits; 0o7777 keeps the sticky bit: "01777"). Pure. */
export function octalMode(mode: number, mask = 0o777): string {
  return `0${(mode & mask).toString(8).padStart(3, '0')}`;
}
