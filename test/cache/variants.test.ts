// Compressed variants of stored entries (src/cache/variants.ts, variant-task.ts): the variant
// decompresses to the base body for every coding this build has, it is stored under a key
// that names the base's ring position, it carries the base's meta and expiry, and a base the
// ring overwrote meanwhile yields no variant. The pool path runs the compiled task (dist/).
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { compressAndStore, variantKey } from '../../src/cache/variants.js';
import { encodeMeta, hashKey, readEntry, writeEntry, type EntryMeta, type StoredEntry } from '../../src/cache/store.js';
import { CacheTable, type EntryRef } from '../../src/cache/table.js';
import { ConfigFileSchema } from '../../src/config/schema.js';
import type { CompressionConfig } from '../../src/config/types.js';
import type { Encoding } from '../../src/filters/compress.js';
import { ZSTD, unzstd } from '../helpers/zstd.js';
import {
  INDEX_HEADER_BYTES, INDEX_SLOTS, SLOT_EXPIRES, SLOT_HASH_HI, SLOT_HASH_LO, SLOT_INTS, allocateCacheMemory, type CacheMemory,
} from '../../src/shm/layout.js';
import { META_DEFAULTS } from '../helpers/cache-fixtures.js';
import { seededBytes } from '../helpers/prng.js';

const KiB = 1024;
const config: CompressionConfig = ConfigFileSchema.parse({ upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, compression: { enabled: true } }).compression;


const decoders: Record<Encoding, (b: Buffer) => Buffer> = {
  gzip: (b) => zlib.gunzipSync(b),
  br: (b) => zlib.brotliDecompressSync(b),
  zstd: unzstd,
};

/** The codings to check: zstd where the addon has it and the CLI can decode it, and always in CI (test/helpers/zstd.ts). */
const CODINGS: Encoding[] = ZSTD ? ['gzip', 'br', 'zstd'] : ['gzip', 'br'];

const TEXT = Buffer.from('<!doctype html><title>Portcullis</title><p>The same paragraph, again and again. '.repeat(2000));
const BODIES: [string, Buffer][] = [
  ['an empty body', Buffer.alloc(0)],
  ['a 1-byte body', Buffer.from('x')],
  ['a short text', Buffer.from('hello, variant\n')],
  ['160 KB of repetitive HTML', TEXT],
  ['64 KiB of random bytes (incompressible)', seededBytes(64 * KiB, 7)],
];

function baseMeta(key: string): EntryMeta {
  return {
    key, status: 200, reason: 'OK',
    headers: ['content-type', 'text/html', 'etag', '"abc"', 'vary', 'accept-encoding'],
    responseTime: 1_800_000_123_456, initialAge: 5, lifetime: 600, ...META_DEFAULTS,
    varyNames: ['accept-language'], varyValues: ['en'], authOk: true, encoding: '',
  };
}

/** Stores a base entry and reads it back as the cache would hand it to compressAndStore. */
function storeBase(table: CacheTable, key: string, body: Buffer, meta = baseMeta(key)): StoredEntry {
  const [hi, lo] = hashKey(key);
  expect(writeEntry(table, hi, lo, encodeMeta(meta), body, body.length, Math.floor(Date.now() / 1000) + 600)).toBe(true);
  return lookup(table, key)!;
}

function lookup(table: CacheTable, key: string): StoredEntry | null {
  const [hi, lo] = hashKey(key);
  const ref: EntryRef = { pos: 0, length: 0 };
  if (!table.find(hi, lo, ref)) return null;
  const e = readEntry(table, ref, hi, lo);
  return e !== null && e.meta.key === key ? e : null;
}

const bodyOf = (table: CacheTable, e: StoredEntry): Buffer => Buffer.from(table.arena.subarray(e.bodyOffset, e.bodyOffset + e.bodyLength));

/** The EXPIRES a slot holds for a hash (read through the documented index layout). */
function slotExpires(mem: CacheMemory, key: string): number | undefined {
  const [hi, lo] = hashKey(key);
  const slots = new Int32Array(mem.index, 0, INDEX_HEADER_BYTES / 4)[INDEX_SLOTS]!;
  const s = new Int32Array(mem.index, INDEX_HEADER_BYTES, slots * SLOT_INTS);
  for (let i = 0; i < slots; i++) {
    const b = i * SLOT_INTS;
    if (s[b + SLOT_HASH_HI] === hi && s[b + SLOT_HASH_LO] === lo) return s[b + SLOT_EXPIRES];
  }
  return undefined;
}

describe('variantKey', () => {
  test.each<[string, [string, Encoding, number], [string, Encoding, number]]>([
    ['the base position', ['0 http://a/x?', 'gzip', 0], ['0 http://a/x?', 'gzip', 8]],
    ['a base position past 2^32', ['0 http://a/x?', 'gzip', 2 ** 32], ['0 http://a/x?', 'gzip', 0]],
    ['the coding', ['0 http://a/x?', 'gzip', 64], ['0 http://a/x?', 'br', 64]],
    ['the base key', ['0 http://a/x?', 'br', 64], ['0 http://a/y?', 'br', 64]],
  ])('differs when only %s differs', (_name, a, b) => {
    expect(variantKey(...a)).not.toBe(variantKey(...b));
  });

  test('is the same for the same base, coding and position', () => {
    expect(variantKey('0 http://a/x?', 'zstd', 4096)).toBe(variantKey('0 http://a/x?', 'zstd', 4096));
  });

  test('never equals a base key it was made from', () => {
    for (const enc of ['gzip', 'br', 'zstd'] as const) expect(variantKey('0 http://a/x?', enc, 0)).not.toBe('0 http://a/x?');
  });
});

describe.each(CODINGS)('compressAndStore %s', (enc) => {
  test.each(BODIES)('%s: the stored variant decompresses to the base body', (_name, body) => {
    const mem = allocateCacheMemory(1024 * KiB);
    const table = new CacheTable(mem);
    const base = storeBase(table, 'base', body);
    const key = variantKey('base', enc, base.pos);
    const out = compressAndStore(table, base, key, enc, config);
    expect(out).not.toBeNull();
    expect(decoders[enc](out!).equals(body)).toBe(true);
    const variant = lookup(table, key);
    expect(variant).not.toBeNull();
    const stored = bodyOf(table, variant!);
    expect(stored.equals(out!)).toBe(true);
    expect(decoders[enc](stored).equals(body)).toBe(true);
    // The base is untouched.
    expect(bodyOf(table, lookup(table, 'base')!).equals(body)).toBe(true);
  });

  test('the variant keeps the base\'s status and freshness, names its coding and drops headers and Vary', () => {
    const mem = allocateCacheMemory(256 * KiB);
    const table = new CacheTable(mem);
    const base = storeBase(table, 'base', TEXT.subarray(0, 5000));
    const key = variantKey('base', enc, base.pos);
    compressAndStore(table, base, key, enc, config);
    const m = lookup(table, key)!.meta;
    const b = baseMeta('base');
    expect(m).toEqual({ ...b, key, encoding: enc, headers: [], varyNames: [], varyValues: [] });
  });

  test('the variant\'s slot expires when the base turns stale (responseTime − initialAge + lifetime)', () => {
    const mem = allocateCacheMemory(256 * KiB);
    const table = new CacheTable(mem);
    const base = storeBase(table, 'base', TEXT.subarray(0, 5000));
    const key = variantKey('base', enc, base.pos);
    compressAndStore(table, base, key, enc, config);
    const b = baseMeta('base');
    expect(slotExpires(mem, key)).toBe(Math.floor(b.responseTime / 1000) - b.initialAge + b.lifetime);
  });

  test('a base the ring overwrote before it was compressed yields null and stores no variant', () => {
    const mem = allocateCacheMemory(64 * KiB);
    const table = new CacheTable(mem);
    const base = storeBase(table, 'base', TEXT.subarray(0, 4000));
    for (let i = 0; table.intact(base.pos); i++) storeBase(table, `other${i}`, seededBytes(4000, i));
    const key = variantKey('base', enc, base.pos);
    expect(compressAndStore(table, base, key, enc, config)).toBeNull();
    expect(lookup(table, key)).toBeNull();
  });
});

describe('variants follow their base\'s position', () => {
  test('a base stored again (new position) does not find the old base\'s variant; its own variant decodes to the new body', () => {
    const mem = allocateCacheMemory(1024 * KiB);
    const table = new CacheTable(mem);
    const v1 = Buffer.from('version one '.repeat(100));
    const v2 = Buffer.from('version two '.repeat(100));
    const first = storeBase(table, 'base', v1);
    const oldKey = variantKey('base', 'gzip', first.pos);
    compressAndStore(table, first, oldKey, 'gzip', config);
    const second = storeBase(table, 'base', v2);
    expect(second.pos).not.toBe(first.pos);
    const newKey = variantKey('base', 'gzip', second.pos);
    expect(newKey).not.toBe(oldKey);
    expect(lookup(table, newKey)).toBeNull();
    compressAndStore(table, second, newKey, 'gzip', config);
    expect(zlib.gunzipSync(bodyOf(table, lookup(table, newKey)!)).equals(v2)).toBe(true);
    // The old variant is only reachable by the old position's key, which nobody asks for any more.
    expect(zlib.gunzipSync(bodyOf(table, lookup(table, oldKey)!)).equals(v1)).toBe(true);
  });

  test('each coding of one base is its own entry', () => {
    const mem = allocateCacheMemory(1024 * KiB);
    const table = new CacheTable(mem);
    const base = storeBase(table, 'base', TEXT);
    for (const enc of CODINGS) compressAndStore(table, base, variantKey('base', enc, base.pos), enc, config);
    for (const enc of CODINGS) {
      const v = lookup(table, variantKey('base', enc, base.pos))!;
      expect(v.meta.encoding).toBe(enc);
      expect(decoders[enc](bodyOf(table, v)).equals(TEXT)).toBe(true);
    }
  });
});

describe('the compression pool (VariantMaker over dist/)', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));

  async function loadMaker(): Promise<typeof import('../../src/cache/variants.js')['VariantMaker']> {
    for (const name of ['variants', 'variant-task', 'store', 'table']) {
      const out = `${root}dist/src/cache/${name}.js`;
      let built: number;
      try { built = statSync(out).mtimeMs; } catch { throw new Error(`${out} is missing: run npm run build:ts first`); }
      if (built < statSync(`${root}src/cache/${name}.ts`).mtimeMs) throw new Error(`${out} is older than its source: run npm run build:ts first`);
    }
    // The pool resolves ./variant-task.js next to variants.js: only the compiled module has it.
    const mod = (await import(`${root}dist/src/cache/variants.js`)) as typeof import('../../src/cache/variants.js');
    return mod.VariantMaker;
  }

  test('a pool thread reads the base from shared memory and stores a variant this thread can read and decode', async () => {
    const VariantMaker = await loadMaker();
    const mem = allocateCacheMemory(4 * 1024 * KiB);
    const table = new CacheTable(mem);
    const body = Buffer.concat([TEXT, TEXT, TEXT, TEXT]);
    const base = storeBase(table, 'big', body);
    const maker = new VariantMaker(mem, new CacheTable(mem));
    try {
      for (const enc of CODINGS) {
        const key = variantKey('big', enc, base.pos);
        const first = maker.make(base, key, enc, config);
        // A second hit on the same variant waits for the same job.
        expect(maker.make(base, key, enc, config)).toBe(first);
        expect(await first).toBe(true);
        const v = lookup(table, key);
        expect(v?.meta.encoding).toBe(enc);
        expect(decoders[enc](bodyOf(table, v!)).equals(body)).toBe(true);
      }
      // A base the ring has lapped since: the task finds nothing to compress.
      for (let i = 0; table.intact(base.pos); i++) storeBase(table, `other${i}`, seededBytes(200 * KiB, i));
      expect(await maker.make(base, variantKey('big', 'gzip', base.pos) + '#late', 'gzip', config)).toBe(false);
    } finally {
      await maker.close();
    }
  }, 20_000);
});
