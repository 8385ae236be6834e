import { createRequire } from 'node:module';

/** An incremental BLAKE3 hasher (256-bit output). */
export interface Blake3Hasher {
  update(chunk: Uint8Array): void;
  digestHex(): string;
}

/** A BLAKE3 implementation: the native addon when it loads, else WebAssembly. */
export interface Blake3Implementation {
  readonly name: 'native' | 'wasm';
  create(): Blake3Hasher;
}

const require = createRequire(import.meta.url);

interface NativeModule {
  Blake3Hasher: new () => { update(input: Uint8Array): unknown; digest(format: string): string };
}
interface WasmModule {
  createHash(): { update(input: Uint8Array): unknown; digest(encoding: 'hex'): string };
}

/**
 * The prebuilt Rust addon of @napi-rs/blake-hash, shipped per platform through the npm registry.
 * netmon depends on the platform packages directly (optional dependencies; npm installs the one
 * that fits): the umbrella package lists platforms this registry does not serve, which makes
 * `npm ci` refuse the lockfile.
 */
const NATIVE_PACKAGES = [
  '@napi-rs/blake-hash-linux-x64-gnu',
  '@napi-rs/blake-hash-linux-x64-musl',
  // 1.3.4: the newest arm64 builds the registry serves (the x64 ones are 1.3.6, the same API).
  '@napi-rs/blake-hash-linux-arm64-gnu',
  '@napi-rs/blake-hash-linux-arm64-musl',
];

function loadNative(): Blake3Implementation {
  let mod: NativeModule | undefined;
  const errors: unknown[] = [];
  for (const name of NATIVE_PACKAGES) {
    try {
      mod = require(name) as NativeModule;
      new mod.Blake3Hasher(); // the wrong libc variant fails here
      break;
    } catch (error) {
      mod = undefined;
      errors.push(error);
    }
  }
  if (!mod) throw new AggregateError(errors, 'no native BLAKE3 addon loads on this machine');
  const native = mod;
  return {
    name: 'native',
    create() {
      const hasher = new native.Blake3Hasher();
      return {
        update: (chunk) => void hasher.update(chunk),
        digestHex: () => hasher.digest('hex'),
      };
    },
  };
}

/** blake3-wasm 2.1.5: portable WebAssembly build, used where the native addon does not load. */
function loadWasm(): Blake3Implementation {
  const mod = require('blake3-wasm') as WasmModule;
  return {
    name: 'wasm',
    create() {
      const hasher = mod.createHash();
      return {
        update: (chunk) => void hasher.update(chunk),
        digestHex: () => hasher.digest('hex'),
      };
    },
  };
}

let cached: Blake3Implementation | undefined;

/**
 * The BLAKE3 implementation to use: `prefer` forces one (tests check both against the
 * BLAKE3 test vectors); by default the native addon, falling back to WebAssembly.
 */
export function loadBlake3(prefer?: 'native' | 'wasm'): Blake3Implementation {
  if (prefer === 'native') return loadNative();
  if (prefer === 'wasm') return loadWasm();
  if (!cached) {
    try {
      cached = loadNative();
      cached.create(); // the addon's binary loads lazily in some builds: prove it works
    } catch {
      cached = loadWasm();
    }
  }
  return cached;
}
