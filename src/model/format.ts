/** A ratio as people read it in every output: 0.9871 -> "98.7%". Pure. */
export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
