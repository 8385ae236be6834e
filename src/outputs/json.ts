import type { Snapshot } from '../model/types.js';

/** The versioned snapshot document (schemaVersion 1), one JSON value. Pure. */
export function renderJson(snapshot: Snapshot): string {
  return `${JSON.stringify(snapshot, null, 2)}\n`;
}
