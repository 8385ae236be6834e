import { looksLikeIsoTime } from '../model/iso-time.js';

/**
 * What a snapshot selector (`show`, `--pre`, `--post`) reads as when it is not a label: an id, the
 * first or the latest snapshot, or a time. The one grammar that selecting a snapshot and refusing a
 * label that could never select its own (`--label 3`) share. Pure.
 */
export function selectorKind(text: string): 'id' | 'first' | 'latest' | 'time' | null {
  if (/^\d+$/.test(text)) return 'id';
  if (text === 'first' || text === 'latest') return text;
  return looksLikeIsoTime(text) ? 'time' : null;
}
