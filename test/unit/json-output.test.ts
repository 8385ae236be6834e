import { describe, expect, it } from 'vitest';
import { renderJson, renderJsonChunks } from '../../src/outputs/json.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

describe('renderJson', () => {
  const snap = makeSnapshot({
    sockets: Array.from({ length: 300 }, (_, i) => makeSocket({ inode: 1000 + i, localPort: 1000 + i })),
    processes: [makeProcess({ name: 'ev"il\n\u001b[2J', commandLine: ['a,b', 'line\nbreak'] })],
  });

  it('writes a document that parses back to the same snapshot', () => {
    expect(JSON.parse(renderJson(snap))).toEqual(snap);
  });

  it('puts each socket on its own line and starts with the schema version', () => {
    const lines = renderJson(snap).split('\n');
    expect(lines[1]).toBe('  "schemaVersion": 1,');
    expect(lines.filter((l) => l.startsWith('    {"transport":'))).toHaveLength(300);
  });

  it('gives the same text in small chunks as in one piece', () => {
    const chunks = [...renderJsonChunks(snap, 512)];
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.join('')).toBe(renderJson(snap));
  });

  it('writes empty lists as []', () => {
    const empty = makeSnapshot({ sockets: [], processes: [] });
    const text = renderJson(empty);
    expect(text).toContain('"sockets": [],');
    expect(JSON.parse(text)).toEqual(empty);
  });
});
