/** A ratio as people read it in every output: 0.9871 -> "98.7%". Pure. */
export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

/** A number with its noun, singular for one: count(1, 'socket') -> "1 socket", count(3, 'process', 'processes') -> "3 processes". Pure. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
