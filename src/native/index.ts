// Loads the native addon (build/Release/portcullis.node) once per thread, or falls back to the TypeScript
// twins in fallback.ts with one warning. PORTCULLIS_NATIVE=0 forces the twins. Everyone imports `native`.
import { isMainThread, threadId } from 'node:worker_threads';
import * as twin from './fallback.js';
import { openAddon } from './addon.js';

/** A streaming zstd compressor: each push returns the compressed bytes for chunk, flushed; end finishes the frame. */
export interface ZstdStream {
  push(chunk: Uint8Array, end: boolean): Buffer | null;
}

export interface NativeApi {
  readonly kind: 'native' | 'js';
  /** Response head scan into offsets: see src/native/layout.ts. */
  scanHead(buf: Uint8Array, start: number, end: number, max: number, out: Int32Array): number;
  /** 64-bit hash of buf[start, end): out[0] = high 32 bits, out[1] = low 32 bits. */
  hash64(buf: Uint8Array, start: number, end: number, seed: number, out: Uint32Array): void;
  /** One-shot gzip (libdeflate when linked, else node:zlib). */
  gzip(buf: Uint8Array, level: number): Buffer;
  /** One-shot zstd frame; null when the addon was built without libzstd (node:zlib on Node 20 has none). */
  readonly zstd: ((buf: Uint8Array, level: number) => Buffer | null) | null;
  readonly ZstdStream: (new (level: number) => ZstdStream) | null;
  readonly features: { readonly libdeflate: boolean; readonly zstd: boolean };
}

interface Addon {
  abiVersion(): number;
  scanHead: NativeApi['scanHead'];
  hash64: NativeApi['hash64'];
  gzip?: NativeApi['gzip'];
  zstd?: (buf: Uint8Array, level: number) => Buffer | null;
  ZstdStream?: new (level: number) => ZstdStream;
  features: { libdeflate: boolean; zstd: boolean };
}

/** The addon version this loader speaks (Portcullis::AbiVersion in native/addon.cc). */
const ABI = 3;

const JS: NativeApi = Object.freeze({
  kind: 'js',
  scanHead: twin.scanHead,
  hash64: twin.hash64,
  gzip: twin.gzip,
  zstd: null,
  ZstdStream: null,
  features: Object.freeze({ libdeflate: false, zstd: false }),
});

function load(): NativeApi {
  if (process.env['PORTCULLIS_NATIVE'] === '0') return JS;
  try {
    const addon = openAddon() as unknown as Addon;
    if (addon.abiVersion() !== ABI) throw new Error(`addon ABI ${addon.abiVersion()}, loader wants ${ABI} (run npm run build:native)`);
    return Object.freeze({
      kind: 'native',
      scanHead: addon.scanHead,
      hash64: addon.hash64,
      gzip: addon.gzip ?? twin.gzip,
      zstd: addon.zstd ?? null,
      ZstdStream: addon.ZstdStream ?? null,
      features: Object.freeze({ ...addon.features }),
    });
  } catch (err) {
    // One warning per process, not one per worker thread: the main thread or the first worker says it.
    if (isMainThread || threadId === 1) process.emitWarning(`native addon not loaded, using the TypeScript twins: ${(err as Error).message.split('\n')[0]}`, {
      code: 'PORTCULLIS_NATIVE_FALLBACK',
    });
    return JS;
  }
}

export const native: NativeApi = load();
/** The pure-TypeScript implementation, whatever was loaded (parity tests, benchmarks). */
export const js: NativeApi = JS;
export const kind = native.kind;
