import { socketToJson } from '../model/socket-json.js';
import type { Snapshot, SocketRecord } from '../model/types.js';

const q = JSON.stringify;

/** Quoted strings seen before: a few addresses recur across tens of thousands of sockets. */
function quoter(): (text: string) => string {
  const seen = new Map<string, string>();
  return (text) => {
    let quoted = seen.get(text);
    if (quoted === undefined) seen.set(text, (quoted = q(text)));
    return quoted;
  };
}

/** Top-level arrays written one element per line. */
const LISTS = new Set(['namespaces', 'sockets', 'processes', 'warnings', 'listeningPortsLeftOut', 'ephemeralTcpListeners']);

/**
 * The versioned snapshot document (schemaVersion 1) as text chunks: one key per line at the top
 * level and one element per line in the long lists, so the document stays greppable, diffable
 * and small, and a large inventory is written without building one huge string. Pure.
 */
export function* renderJsonChunks(snapshot: Snapshot, chunkSize = 1 << 16): Generator<string> {
  const entries = Object.entries(snapshot);
  const qq = quoter();
  let buffer = '{\n';
  for (let k = 0; k < entries.length; k++) {
    const [key, value] = entries[k]!;
    const comma = k < entries.length - 1 ? ',' : '';
    if (LISTS.has(key) && Array.isArray(value)) {
      if (value.length === 0) {
        buffer += `  ${JSON.stringify(key)}: []${comma}\n`;
        continue;
      }
      buffer += `  ${JSON.stringify(key)}: [\n`;
      // Lines are collected and joined per chunk: one flat string per chunk, little garbage.
      let lines: string[] = [];
      let size = buffer.length;
      for (let i = 0; i < value.length; i++) {
        const item = key === 'sockets' ? socketToJson(value[i] as SocketRecord, qq) : JSON.stringify(value[i]);
        const line = `    ${item}${i < value.length - 1 ? ',' : ''}`;
        lines.push(line);
        size += line.length + 1;
        if (size >= chunkSize) {
          yield `${buffer}${lines.join('\n')}\n`;
          buffer = '';
          lines = [];
          size = 0;
        }
      }
      buffer += lines.length > 0 ? `${lines.join('\n')}\n` : '';
      buffer += `  ]${comma}\n`;
    } else {
      buffer += `  ${JSON.stringify(key)}: ${JSON.stringify(value)}${comma}\n`;
    }
  }
  yield `${buffer}}\n`;
}

/** The versioned snapshot document as one string. Pure. */
export function renderJson(snapshot: Snapshot): string {
  return [...renderJsonChunks(snapshot)].join('');
}
