// Compression filter tables: Accept-Encoding negotiation, the eligibility rules and header rewrite, and
// one-shot / streaming codecs decompressing back to the input.
import zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { ConfigFileSchema } from '../../src/config/schema.js';
import type { CompressionConfig } from '../../src/config/types.js';
import { Exchange } from '../../src/exchange.js';
import type { ResponseHead } from '../../src/http/response-parser.js';
import { available, compressWhole, isCompressibleType, negotiate, selectEncoding, type Encoding } from '../../src/filters/compress.js';
import { js, native } from '../../src/native/index.js';
import { ZSTD, unzstd } from '../helpers/zstd.js';

const ALL: Encoding[] = ['zstd', 'br', 'gzip'];

test.each<[string | undefined, Encoding[], Encoding | null]>([
  [undefined, ALL, null],
  ['', ALL, null],
  ['gzip', ALL, 'gzip'],
  ['x-gzip', ALL, 'gzip'],
  ['GZIP', ALL, 'gzip'],
  ['gzip, deflate, br', ALL, 'br'],
  ['gzip, deflate, br, zstd', ALL, 'zstd'],
  ['gzip, deflate, br, zstd', ['br', 'gzip'], 'br'],
  ['gzip;q=1.0, br;q=0.5', ALL, 'gzip'],
  ['br;q=0.5, gzip;q=0.5', ['gzip', 'br'], 'gzip'],
  ['gzip;q=0', ALL, null],
  ['*', ALL, 'zstd'],
  ['*;q=0.1, gzip;q=0', ALL, 'zstd'],
  ['*;q=0', ALL, null],
  ['identity', ALL, null],
  ['deflate', ALL, null],
  ['gzip;q=2', ALL, null],
  ['gzip;q=abc, br', ALL, 'br'],
  ['gzip ; q=0.8 , br ; q=0.9', ALL, 'br'],
  ['br;q=0.001', ALL, 'br'],
])('negotiate(%j, %j) = %j', (accept, offered, expected) => {
  expect(negotiate(accept, offered)).toBe(expected);
});

const config: CompressionConfig = ConfigFileSchema.parse({ upstreams: { a: { targets: ['http://127.0.0.1:1'] } }, compression: { enabled: true } }).compression;

test.each([
  ['text/html; charset=utf-8', true],
  ['application/json', true],
  ['Application/JSON', true],
  ['application/ld+json', true],
  ['application/atom+xml', true],
  ['image/svg+xml', true],
  ['application/wasm', true],
  ['text/event-stream', false],
  ['image/png', false],
  ['application/octet-stream', false],
  ['video/mp4', false],
  [undefined, false],
])('compressible type %j: %s', (type, expected) => {
  expect(isCompressibleType(type, config)).toBe(expected);
});

function head(status: number, headers: string[], contentLength = 4096, bodyKind: ResponseHead['bodyKind'] = 'length'): ResponseHead {
  return { statusCode: status, reason: '', headers, contentLength, chunked: bodyKind === 'chunked', close: false, keepAliveTimeoutMs: -1, connectionTokens: null, bodyKind };
}
function exchange(method: string, accept: string | undefined): Exchange {
  return new Exchange({ method, rawPath: '/', query: '', headers: accept === undefined ? ['host', 'x'] : ['host', 'x', 'accept-encoding', accept], peerIp: '127.0.0.1', proxiedIp: '', scheme: 'http' }, 0);
}

describe('selectEncoding', () => {
  const best = available()[0]!;
  /** Streamed bodies never get zstd (no off-thread zstd in Node 20). */
  const bestStreamed = available().filter((e) => e !== 'zstd')[0]!;
  test.each<[string, string, number, string[], number, Encoding | null]>([
    ['plain 200 JSON', 'GET', 200, ['content-type', 'application/json'], 4096, best],
    ['404 HTML is compressed too', 'GET', 404, ['content-type', 'text/html'], 4096, best],
    ['HEAD', 'HEAD', 200, ['content-type', 'application/json'], 4096, null],
    ['204', 'GET', 204, ['content-type', 'application/json'], 4096, null],
    ['206', 'GET', 206, ['content-type', 'text/plain', 'content-range', 'bytes 0-9/100'], 10, null],
    ['already encoded', 'GET', 200, ['content-type', 'text/plain', 'content-encoding', 'gzip'], 4096, null],
    ['no-transform', 'GET', 200, ['content-type', 'text/plain', 'cache-control', 'max-age=60, No-Transform'], 4096, null],
    ['SSE', 'GET', 200, ['content-type', 'text/event-stream'], -1, null],
    ['below min_bytes', 'GET', 200, ['content-type', 'text/plain'], 100, null],
    ['one byte below min_bytes (1 KiB)', 'GET', 200, ['content-type', 'text/plain'], 1023, null],
    ['exactly min_bytes: not below it, so compressed', 'GET', 200, ['content-type', 'text/plain'], 1024, best],
    ['unknown length', 'GET', 200, ['content-type', 'text/plain'], -1, bestStreamed],
    ['no content type', 'GET', 200, [], 4096, null],
  ])('%s', (_name, method, status, headers, length, expected) => {
    const list = [...headers];
    expect(selectEncoding(exchange(method, 'gzip, br, zstd'), head(status, list, length, length === -1 ? 'chunked' : 'length'), list, config)).toBe(expected);
  });

  test('compressing rewrites ETag, Accept-Ranges, Vary and Content-Encoding', () => {
    const list = ['content-type', 'text/plain', 'etag', '"v1"', 'accept-ranges', 'bytes', 'vary', 'Origin'];
    expect(selectEncoding(exchange('GET', 'gzip'), head(200, list), list, config)).toBe('gzip');
    expect(list).toEqual(['content-type', 'text/plain', 'etag', 'W/"v1"', 'vary', 'Origin', 'vary', 'Accept-Encoding', 'content-encoding', 'gzip']);
  });

  test('an eligible response to a client without Accept-Encoding still gets Vary', () => {
    const list = ['content-type', 'text/plain', 'etag', '"v1"'];
    expect(selectEncoding(exchange('GET', undefined), head(200, list), list, config)).toBe(null);
    expect(list).toEqual(['content-type', 'text/plain', 'etag', '"v1"', 'vary', 'Accept-Encoding']);
  });

  test('Vary already naming Accept-Encoding (or *) is left alone', () => {
    const list = ['content-type', 'text/plain', 'vary', 'accept-encoding, origin'];
    selectEncoding(exchange('GET', 'gzip'), head(200, list), list, config);
    expect(list.filter((x) => x === 'vary').length).toBe(1);
  });
});

const BODY = Buffer.from(JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i, name: `item ${i}`, ok: i % 3 === 0 }))));


describe('codecs', () => {
  /** zstd where it can be checked, and always in CI (test/helpers/zstd.ts). */
  const codecs: Encoding[] = ZSTD ? ['zstd', 'br', 'gzip'] : ['br', 'gzip'];
  test.each(codecs)('compressWhole %s round-trips', (enc) => {
    const out = compressWhole(enc, BODY, config);
    expect(out.length).toBeLessThan(BODY.length / 3);
    const back = enc === 'gzip' ? zlib.gunzipSync(out) : enc === 'br' ? zlib.brotliDecompressSync(out) : unzstd(out);
    expect(back.equals(BODY)).toBe(true);
  });

  test('the twin gzip (node:zlib) and the native one (libdeflate) both decode to the input', () => {
    expect(zlib.gunzipSync(js.gzip(BODY, 6)).equals(BODY)).toBe(true);
    expect(zlib.gunzipSync(native.gzip(BODY, 6)).equals(BODY)).toBe(true);
  });

  test.runIf(ZSTD)('ZstdStream: every push is decodable on its own (flushed), the whole frame round-trips', () => {
    const z = new native.ZstdStream!(3);
    const parts: Buffer[] = [];
    for (let i = 0; i < BODY.length; i += 1000) {
      const out = z.push(BODY.subarray(i, i + 1000), false)!;
      expect(out.length).toBeGreaterThan(0);
      parts.push(out);
    }
    parts.push(z.push(Buffer.alloc(0), true)!);
    expect(unzstd(Buffer.concat(parts)).equals(BODY)).toBe(true);
  });
});
