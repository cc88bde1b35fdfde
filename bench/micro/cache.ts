// Micro-benchmark: the shared cache's own operations, in CPU ns per call: hashKey on a realistic key, a hit
// lookup (CacheTable.find + readEntry, and SharedCache.find, which adds the key/Vary/Authorization checks),
// a compressed variant's lookup, and writeEntry of a 1 KiB entry. Plus the meta decode alone, from the shared
// arena (as readEntry does it) and from a private copy of the same bytes, and the copy respond.ts makes of a
// body's last piece, to show where a hit's time goes.
// Run: npm run build:ts && node dist/bench/micro/cache.js
// Env: ITERATIONS (calls per round), ROUNDS (medians shown), SIZE (cache bytes, default 64MiB).
import { Packr } from 'msgpackr';
import type { CacheConfig } from '../../src/config/types.js';
import type { RequestHead } from '../../src/downstream/contract.js';
import { Exchange } from '../../src/exchange.js';
import { CacheRequest, SharedCache, normalizeVaryValue } from '../../src/cache/shared-cache.js';
import { copyBytes, encodeMeta, hashKey, KeyPrefix, readEntry, writeEntry, type EntryMeta } from '../../src/cache/store.js';
import type { EntryRef } from '../../src/cache/table.js';
import { variantKey } from '../../src/cache/variants.js';
import { parseCacheControl } from '../../src/cache/directives.js';
import { cacheResponseHead } from '../../src/cache/fill.js';
import type { ResponseHead } from '../../src/http/response-parser.js';
import type { CompiledRoute, Runtime } from '../../src/runtime.js';
import { DEFAULT_STORE_POLICY } from '../../src/cache/freshness.js';
import { allocateCacheMemory } from '../../src/shm/layout.js';
import { js, native } from '../../src/native/index.js';
import { envInt, measure as measureNs } from './harness.js';

const ITERATIONS = envInt('ITERATIONS', 200_000);
const ROUNDS = envInt('ROUNDS', 5);
const SIZE = envInt('SIZE', 64 * 1024 * 1024);

let sink = 0;
function measure(iterations: number, fn: (n: number) => void): number {
  return measureNs(iterations, ROUNDS, fn);
}

// ---- inputs ------------------------------------------------------------------------------------
// A key as SharedCache.begin builds it: route name, upstream, scheme, Host, path, query.
const KEY = '/ app http://www.example.com/api/v1/articles/2024/11/some-slug?page=2';
const CONFIG: CacheConfig = {
  enabled: true, size: SIZE, max_entry_bytes: 8 * 1024 * 1024, heuristic: { fraction: 0.1, max: 86400 }, stale_if_error: -1, collapse_timeout: 5000, max_variants: 32,
};

/** The meta of a typical cacheable response, as fill.ts stores it (filtered headers, Via added). */
function metaFor(key: string): EntryMeta {
  return {
    key,
    status: 200,
    reason: 'OK',
    headers: [
      'content-type', 'application/json; charset=utf-8',
      'cache-control', 'public, max-age=3600',
      'etag', '"5f2b8c1e-bc55"',
      'last-modified', 'Sun, 31 Dec 2023 23:59:59 GMT',
      'vary', 'Accept-Encoding',
      'x-content-type-options', 'nosniff',
      'via', '1.1 portcullis',
    ],
    responseTime: Date.now(),
    initialAge: 0,
    lifetime: 3600,
    heuristic: false,
    staleWhileRevalidate: -1,
    staleIfError: -1,
    noStale: false,
    targeted: [],
    date: 'Mon, 01 Jan 2024 00:00:00 GMT',
    varyNames: ['accept-encoding'],
    varyValues: [normalizeVaryValue('gzip, br')], // as fill.ts stores it
    authOk: true,
    encoding: '',
  };
}

function body(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = 97 + (i % 26);
  return b;
}

/** An Exchange for KEY whose request carries the Vary value stored above. */
function exchange(): Exchange {
  const head: RequestHead = {
    method: 'GET',
    rawPath: '/api/v1/articles/2024/11/some-slug',
    query: 'page=2',
    headers: ['host', 'www.example.com', 'user-agent', 'curl/8.5.0', 'accept', '*/*', 'accept-encoding', 'gzip, br'],
    peerIp: '127.0.0.1',
    proxiedIp: '',
    scheme: 'http',
  };
  return new Exchange(head, Date.now());
}

const fmt = (ns: number): string => ns.toFixed(0).padStart(8);

function main(): void {
  console.log(
    `cache micro-bench: node ${process.version}, addon=${native.kind}, ITERATIONS=${ITERATIONS}, ROUNDS=${ROUNDS}, ` +
      `cache ${SIZE / 1024 / 1024} MiB; CPU ns per call (lower is better)`,
  );
  const memory = allocateCacheMemory(SIZE);
  const cache = new SharedCache(memory, CONFIG);
  const table = cache.table;
  const meta = metaFor(KEY);
  const encoded = encodeMeta(meta);
  const kib = body(1024);
  const [hi, lo] = hashKey(KEY);
  // the entry every lookup finds, written once; a few thousand others around it, as in a warm cache
  for (let i = 0; i < 4096; i++) {
    const k = `${KEY}&n=${i}`;
    const [h, l] = hashKey(k);
    writeEntry(table, h, l, encodeMeta(metaFor(k)), kib, kib.length, 2 ** 31 - 1);
  }
  if (!writeEntry(table, hi, lo, encoded, kib, kib.length, 2 ** 31 - 1)) throw new Error('writeEntry failed');
  const ex = exchange();
  const req = new CacheRequest(KEY, { method: 'GET', authorization: false, cookie: false, cacheControl: parseCacheControl(undefined) }, DEFAULT_STORE_POLICY, true, undefined);
  const ref: EntryRef = { pos: 0, length: 0, flags: 0 };
  if (cache.find(req, ex) === null) throw new Error('the stored entry is not found');

  // a gzip variant of it, as respond.ts stores and looks it up
  const base = cache.find(req, ex)!;
  const vKey = variantKey(KEY, 'gzip', base.pos);
  const [vhi, vlo] = hashKey(vKey);
  const vBody = body(300);
  writeEntry(table, vhi, vlo, encodeMeta({ ...meta, key: vKey, headers: [], varyNames: [], varyValues: [], encoding: 'gzip' }), vBody, vBody.length, 2 ** 31 - 1);
  if (cache.findVariant(vKey) === null) throw new Error('the stored variant is not found');

  const keyBytes = Buffer.from(KEY);
  const h2 = new Uint32Array(2);
  const rows: [string, number][] = [];
  const row = (name: string, ns: number): void => {
    rows.push([name, ns]);
    console.log(`${name.padEnd(72)} ${fmt(ns)}`);
  };

  console.log(`\nkey ${keyBytes.length} B ("${KEY}"), meta ${encoded.length} B (msgpackr, ${meta.headers.length / 2} headers), body 1 KiB\n`);
  console.log(`${'operation'.padEnd(72)} ${'ns/call'.padStart(8)}`);
  row(`hashKey (${keyBytes.length} B key, over its UTF-16 code units)`, measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) sink += hashKey(KEY)[1];
  }));
  // What SharedCache.begin pays: the prefix (route, upstream, scheme, host) was hashed once.
  const prefixEnd = KEY.indexOf('/', KEY.indexOf('://') + 3);
  const queryAt = KEY.indexOf('?');
  const keyPrefix = new KeyPrefix(KEY.slice(0, prefixEnd));
  const keyPath = KEY.slice(prefixEnd, queryAt);
  const keyQuery = KEY.slice(queryAt + 1);
  if (keyPrefix.hashAfter(keyPath, keyQuery)[1] !== hashKey(KEY)[1]) throw new Error('hashAfter differs from hashKey');
  row(`  KeyPrefix.hashAfter (the path and query, ${keyPath.length + 1 + keyQuery.length} B)`, measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) sink += keyPrefix.hashAfter(keyPath, keyQuery)[1];
  }));
  row(`  js.hash64 alone, same bytes`, measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) { js.hash64(keyBytes, 0, keyBytes.length, 0x50c4, h2); sink += h2[1]!; }
  }));
  row(`  native.hash64 alone, same bytes`, measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) { native.hash64(keyBytes, 0, keyBytes.length, 0x50c4, h2); sink += h2[1]!; }
  }));
  row('CacheTable.find (hit)', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) { if (table.find(hi, lo, ref)) sink += ref.length; }
  }));
  row('CacheTable.find (miss, 8-slot probe window)', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) { if (!table.find(hi ^ 0x5a5a, lo, ref)) sink++; }
  }));
  table.find(hi, lo, ref);
  row('readEntry (hit: checks + meta decode)', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) sink += readEntry(table, ref, hi, lo)!.bodyLength;
  }));
  row('CacheTable.find + readEntry (hit)', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) { table.find(hi, lo, ref); sink += readEntry(table, ref, hi, lo)!.bodyLength; }
  }));
  row('SharedCache.find (hit: + key, Vary, Authorization checks)', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) sink += cache.find(req, ex)!.bodyLength;
  }));
  row('  the same with hashKey (what a request pays: new CacheRequest)', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) {
      const r = new CacheRequest(KEY, req.facts, DEFAULT_STORE_POLICY, true, undefined);
      sink += cache.find(r, ex)!.bodyLength;
    }
  }));
  row('variantKey + SharedCache.findVariant (stored gzip variant)', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) sink += cache.findVariant(variantKey(KEY, 'gzip', base.pos))!.bodyLength;
  }));

  // The meta decode alone: readEntry unpacks a view of the SharedArrayBuffer; msgpackr's native string
  // extractor takes only an ArrayBuffer, so see what the same bytes cost from a private copy.
  const at = table.offset(ref.pos) + 16;
  const view = table.arena.subarray(at, at + encoded.length);
  const packr = new Packr({ useRecords: false, moreTypes: false });
  row('  meta decode only: unpack from the arena (SharedArrayBuffer view)', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) sink += (packr.unpack(view) as EntryMeta).status;
  }));
  row('  meta decode only: copy to a Buffer, then unpack', measure(ITERATIONS, (n) => {
    for (let i = 0; i < n; i++) sink += (packr.unpack(Buffer.from(view)) as EntryMeta).status;
  }));

  // respond.ts copies a body out of the arena before sending it: copyBytes into a per-worker
  // scratch buffer, from an 8-aligned body (the meta is padded). Against: the same copy from a
  // misaligned offset (what an unpadded meta gave: V8 then copies shared memory byte by byte),
  // and a fresh Buffer per copy.
  const pieceAt = table.offset(ref.pos) + 4096;
  for (const size of [8 * 1024, 16 * 1024]) {
    const it = Math.max(2000, ITERATIONS / 8);
    const scratch = Buffer.allocUnsafe(64 * 1024);
    row(`serving: copy a ${size / 1024} KiB body out of the arena (copyBytes into scratch, as respond.ts)`, measure(it, (n) => {
      for (let i = 0; i < n; i++) { copyBytes(scratch, 0, table.arena, pieceAt, size); sink += scratch[0]!; }
    }));
    row(`  TypedArray#set from a misaligned offset (+1)`, measure(it, (n) => {
      for (let i = 0; i < n; i++) sink += scratch.set(table.arena.subarray(pieceAt + 1, pieceAt + 1 + size)) ?? size;
    }));
    row(`  a fresh Buffer: Buffer.from(arena view)`, measure(it, (n) => {
      for (let i = 0; i < n; i++) sink += Buffer.from(Buffer.from(table.arena.buffer, pieceAt, size)).length;
    }));
  }

  const wIters = Math.max(2000, ITERATIONS / 4);
  // A miss on a caching route whose answers are never stored (nginx's head for `return 200`, no
  // freshness): everything the cache phase adds to such a request, against issue #10's 1 µs.
  const route = { name: '/', config: { upstream: 'app' }, upstream: { name: 'app' }, split: null } as unknown as CompiledRoute;
  const missEx = exchange();
  missEx.route = route;
  const nginxHead = (): ResponseHead => ({
    statusCode: 200, reason: 'OK', contentLength: 13, chunked: false, close: false, keepAliveTimeoutMs: -1, connectionTokens: null, bodyKind: 'length',
    headers: ['server', 'nginx/1.22.1', 'date', 'Mon, 07 Dec 2026 06:50:35 GMT', 'content-type', 'text/plain', 'content-length', '13', 'connection', 'keep-alive', 'x-origin', 'bench'],
  });
  const sent = ['content-type', 'text/plain', 'x-origin', 'bench', 'via', '1.1 portcullis'];
  const noRuntime = undefined as unknown as Runtime;
  row('uncacheable miss: SharedCache.begin + find + skipsCollapse + cacheResponseHead', measure(wIters, (n) => {
    for (let i = 0; i < n; i++) {
      const r = cache.begin(missEx, 'http', '');
      if (cache.find(r, missEx) === null && !cache.skipsCollapse(r.hi, r.lo, 0)) sink++;
      if (cacheResponseHead(noRuntime, cache, r, missEx, nginxHead(), sent.slice()) === null) sink++;
    }
  }));
  row('  SharedCache.begin alone (one pass over the request fields, key, hash, CacheRequest)', measure(wIters, (n) => {
    for (let i = 0; i < n; i++) sink += cache.begin(missEx, 'http', '').hi & 1;
  }));
  const missReq = cache.begin(missEx, 'http', '');
  row('  SharedCache.find (miss) + skipsCollapse', measure(wIters, (n) => {
    for (let i = 0; i < n; i++) if (cache.find(missReq, missEx) === null && !cache.skipsCollapse(missReq.hi, missReq.lo, 0)) sink++;
  }));
  row('  the response-head part alone (cacheResponseHead: store decision, not stored)', measure(wIters, (n) => {
    const r = cache.begin(missEx, 'http', '');
    for (let i = 0; i < n; i++) if (cacheResponseHead(noRuntime, cache, r, missEx, nginxHead(), sent.slice()) === null) sink++;
  }));
  row('  the head and header list alone (allocated per request without the cache too)', measure(wIters, (n) => {
    for (let i = 0; i < n; i++) sink += nginxHead().headers.length + sent.slice().length;
  }));

  const [whi, wlo] = hashKey(`${KEY}&w`);
  row('writeEntry (1 KiB body, meta already encoded: reserve + copy + publish)', measure(wIters, (n) => {
    for (let i = 0; i < n; i++) if (writeEntry(table, whi, wlo, encoded, kib, kib.length, 2 ** 31 - 1)) sink++;
  }));
  row('  encodeMeta + writeEntry (what a fill pays in all)', measure(wIters, (n) => {
    for (let i = 0; i < n; i++) if (writeEntry(table, whi, wlo, encodeMeta(meta), kib, kib.length, 2 ** 31 - 1)) sink++;
  }));
  if (sink === -1) console.log(sink);
}

main();
