import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBlake3 } from '../../src/enrich/blake3.js';
import { hashFile, MemoryHashCache, type HashFs } from '../../src/enrich/hash-executables.js';
import { EvidenceStore } from '../../src/store/evidence-store.js';
import { makeSnapshot, makeSocket } from '../helpers/make.js';

/** Official BLAKE3 test vectors (input: bytes i % 251), default 32-byte output. */
const VECTORS: [number, string][] = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
  [102400, 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085'],
];

const dir = mkdtempSync(join(tmpdir(), 'netmon-hash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vectorFile(length: number): string {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = i % 251;
  const path = join(dir, `vector-${length}`);
  writeFileSync(path, data);
  return path;
}

/** The real file system, counting bytes read. */
function countingFs(): HashFs & { bytesRead: number } {
  const counter = {
    bytesRead: 0,
    openSync: (p: string, f: 'r') => fs.openSync(p, f),
    fstatSync: (fd: number, o: { bigint: true }) => fs.fstatSync(fd, o),
    readSync: (fd: number, b: Uint8Array, off: number, len: number, pos: null) => {
      const n = fs.readSync(fd, b, off, len, pos);
      counter.bytesRead += n;
      return n;
    },
    closeSync: (fd: number) => fs.closeSync(fd),
  };
  return counter;
}

describe.each(['native', 'wasm'] as const)('BLAKE3 %s implementation', (name) => {
  const impl = loadBlake3(name);

  it.each(VECTORS)('gives the test-vector digest for %i bytes', (length, digest) => {
    const result = hashFile(vectorFile(length), new MemoryHashCache(), impl);
    expect(result.hashes.blake3).toBe(digest);
    expect(impl.name).toBe(name);
  });
});

describe('hashFile', () => {
  it('computes SHA-256 and BLAKE3 in one pass over a multi-chunk file', () => {
    const length = 3 * (1 << 20) + 17;
    const path = vectorFile(length);
    const fsCount = countingFs();
    const result = hashFile(path, new MemoryHashCache(), loadBlake3(), fsCount);
    const data = fs.readFileSync(path);
    expect(result.hashes.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    const wasm = loadBlake3('wasm').create();
    wasm.update(data);
    expect(result.hashes.blake3).toBe(wasm.digestHex());
    expect(result.hashes.size).toBe(length);
    expect(fsCount.bytesRead).toBe(length);
  });

  it('never reads an unchanged file twice, and hashes again when it changes', () => {
    const path = join(dir, 'binary');
    writeFileSync(path, 'version 1');
    const cache = new MemoryHashCache();
    const fsCount = countingFs();
    const first = hashFile(path, cache, loadBlake3(), fsCount);
    expect(first.cached).toBe(false);
    const read = fsCount.bytesRead;
    const second = hashFile(path, cache, loadBlake3(), fsCount);
    expect(second.cached).toBe(true);
    expect(second.hashes).toEqual(first.hashes);
    expect(fsCount.bytesRead).toBe(read);

    writeFileSync(path, 'version 2, replaced');
    const third = hashFile(path, cache, loadBlake3(), fsCount);
    expect(third.cached).toBe(false);
    expect(third.hashes.sha256).not.toBe(first.hashes.sha256);
    expect(third.hashes.sha256).toBe(createHash('sha256').update('version 2, replaced').digest('hex'));
  });

  it("through the evidence store's cache: unchanged across ticks without a read, hashed again when replaced", () => {
    const path = join(dir, 'stored-binary');
    writeFileSync(path, 'build 1');
    const store = EvidenceStore.open(join(dir, 'cache.db'));
    try {
      const fsCount = countingFs();
      // Each tick asks the store for its cache afresh, as a capture loop does.
      const first = hashFile(path, store.hashCache(), loadBlake3(), fsCount);
      const read = fsCount.bytesRead;
      const second = hashFile(path, store.hashCache(), loadBlake3(), fsCount);
      expect([first.cached, second.cached]).toEqual([false, true]);
      expect(second.hashes).toEqual(first.hashes);
      expect(fsCount.bytesRead).toBe(read);
      writeFileSync(path, 'build 2, replaced');
      const third = hashFile(path, store.hashCache(), loadBlake3(), fsCount);
      expect(third.cached).toBe(false);
      expect(third.hashes.sha256).toBe(createHash('sha256').update('build 2, replaced').digest('hex'));
      // Another store object (another process) reads what this one's next snapshot kept.
      store.beginSession({ interval: null });
      store.appendSnapshot(makeSnapshot({ sockets: [makeSocket()] }));
      const other = EvidenceStore.open(join(dir, 'cache.db'), { readonly: true });
      try {
        expect(hashFile(path, other.hashCache(), loadBlake3(), fsCount)).toEqual({ ...third, cached: true });
      } finally {
        other.close();
      }
    } finally {
      store.close();
    }
  });

  it('reaches a running process executable through /proc/<pid>/exe', () => {
    const result = hashFile(`/proc/${process.pid}/exe`, new MemoryHashCache());
    const expected = createHash('sha256').update(fs.readFileSync(fs.realpathSync(process.execPath))).digest('hex');
    expect(result.hashes.sha256).toBe(expected);
  });

  it('fails with the errno code for a missing file', () => {
    expect(() => hashFile(join(dir, 'absent'), new MemoryHashCache())).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
