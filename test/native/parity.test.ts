// One suite for the native addon and its TypeScript twin (src/native/fallback.ts), a random-input parity
// sweep over sizes and offsets, and agreement with ResponseParser's head phase (accept/reject, status,
// headers, framing) on the same bytes.
import { describe, expect, test } from 'vitest';
import { ResponseParser, type ResponseHead } from '../../src/http/response-parser.js';
import { js, native, type NativeApi } from '../../src/native/index.js';
import { contentLengthOf, OUT_COUNT, OUT_ERROR, OUT_FLAGS, OUT_HEADERS, OUT_KEEPALIVE_MS, OUT_STATUS, SCAN_ERRORS, scanOut, F_CHUNKED, F_CONN_CLOSE, F_HTTP10 } from '../../src/native/layout.js';
import { toResponseHead } from '../../src/native/response-head.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const MAX = 8 * 1024;

test('the addon is built and loaded here (CI builds it)', () => {
  expect(native.kind).toBe(process.env['PORTCULLIS_NATIVE'] === '0' ? 'js' : 'native');
});

const impls: [string, NativeApi][] = native.kind === 'native' ? [['native', native], ['twin', js]] : [['twin', js]];

describe.each(impls)('%s scanHead', (_name, api) => {
  const out = scanOut(MAX);
  const scan = (s: string | Buffer, start = 0): number => {
    const buf = typeof s === 'string' ? b(s) : s;
    return api.scanHead(buf, start, buf.length, MAX, out);
  };

  test('a typical head: offsets, status, length, keep-alive', () => {
    const h = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nKeep-Alive: timeout=5\r\n\r\nHello, World!';
    expect(scan(h)).toBe(h.indexOf('\r\n\r\n') + 4);
    expect(out[OUT_STATUS]).toBe(200);
    expect(out[OUT_COUNT]).toBe(3);
    expect(contentLengthOf(out)).toBe(13);
    expect(out[OUT_KEEPALIVE_MS]).toBe(5000);
    expect(h.slice(out[OUT_HEADERS]!, out[OUT_HEADERS + 1]!)).toBe('Content-Type');
    expect(h.slice(out[OUT_HEADERS + 2]!, out[OUT_HEADERS + 3]!)).toBe('text/plain');
  });

  test('a head at an offset, and a length above 2^32', () => {
    const h = 'xxxxHTTP/1.0 404 Not Found\r\ncontent-length: 8589934592\r\nConnection: close\r\n\r\n';
    expect(scan(h, 4)).toBe(h.length);
    expect(out[OUT_STATUS]).toBe(404);
    expect(contentLengthOf(out)).toBe(8589934592);
    expect(out[OUT_FLAGS]! & (F_HTTP10 | F_CONN_CLOSE)).toBe(F_HTTP10 | F_CONN_CLOSE);
  });

  test('chunked', () => {
    expect(scan('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n')).toBeGreaterThan(0);
    expect(out[OUT_FLAGS]! & F_CHUNKED).toBe(F_CHUNKED);
  });

  test('incomplete head: -2', () => {
    expect(scan('HTTP/1.1 200 OK\r\nContent-Len')).toBe(-2);
  });

  test.each([
    ['HTTP/1.1 200 OK\r\nA: b\n\r\n\r\n', 'bare LF in response head'],
    ['HTTP/2.0 200 OK\r\n\r\n', 'invalid status line'],
    ['HTTP/1.2 200 OK\r\n\r\n', 'unsupported HTTP version'],
    ['HTTP/1.1 099 OK\r\n\r\n', 'invalid status code'],
    ['HTTP/1.1 200 OK\r\n folded\r\n\r\n', 'obsolete line folding'],
    ['HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n', 'invalid header name'],
    ['HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n', 'invalid header value'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n', 'invalid Content-Length'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 'conflicting Content-Length'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 'unsupported Transfer-Encoding'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 'repeated Transfer-Encoding'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n', 'Transfer-Encoding with Content-Length'],
    ['HTTP/1.1 200 OK\r\nConnection: a;b\r\n\r\n', 'invalid Connection'],
  ])('rejects %j: %s', (h, detail) => {
    expect(scan(h)).toBe(-1);
    expect(SCAN_ERRORS[out[OUT_ERROR]!]).toBe(detail);
  });

  test('a head over the limit', () => {
    const h = `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX)}\r\n\r\n`;
    expect(scan(h)).toBe(-1);
    expect(SCAN_ERRORS[out[OUT_ERROR]!]).toBe('head too large');
  });
});

describe.each(impls)('%s hash64', (_name, api) => {
  test('stable values and seed sensitivity', () => {
    const o = new Uint32Array(2);
    api.hash64(b('GET example.com/'), 0, 16, 0, o);
    const first = [o[0], o[1]];
    api.hash64(b('GET example.com/'), 0, 16, 1, o);
    expect([o[0], o[1]]).not.toEqual(first);
    api.hash64(b('xxGET example.com/yy'), 2, 18, 0, o);
    expect([o[0], o[1]]).toEqual(first);
  });
});

// ---- parity sweeps --------------------------------------------------------------------------------------

/** Deterministic PRNG so a failure names a reproducible seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 4294967296;
  };
}

const PIECES = [
  'HTTP/1.1 200 OK\r\n', 'HTTP/1.0 304 Not Modified\r\n', 'HTTP/1.1 101 Switching Protocols\r\n', 'HTTP/1.1 204 \r\n',
  'Content-Length: 12\r\n', 'content-length: 12, 12\r\n', 'Content-Length: 7\r\n', 'Transfer-Encoding: chunked\r\n',
  'Connection: keep-alive\r\n', 'Connection: close, X-Foo\r\n', 'Connection: ,\r\n', 'Keep-Alive: timeout=7, max=5\r\n',
  'Set-Cookie: a=b; Path=/\r\n', 'X-Empty:\r\n', 'X-Ows: \t v \t\r\n', ' folded\r\n', 'Bad\x7fName: x\r\n', 'A: \xff\xfe\r\n',
  '\r\n', '\n', '\r', ':', 'x', ' ', 'HTTP/1.1 2', '\x00',
];

function randomHead(r: () => number): Buffer {
  const parts: string[] = [];
  if (r() < 0.8) parts.push(PIECES[Math.floor(r() * 4)]!);
  const n = Math.floor(r() * 8);
  for (let i = 0; i < n; i++) parts.push(PIECES[Math.floor(r() * PIECES.length)]!);
  if (r() < 0.8) parts.push('\r\n');
  let s = parts.join('');
  if (r() < 0.3) {
    // flip a byte
    const i = Math.floor(r() * s.length);
    s = s.slice(0, i) + String.fromCharCode(Math.floor(r() * 256)) + s.slice(i + 1);
  }
  return b(s);
}

test.skipIf(native.kind !== 'native')('parity sweep: native and twin agree on 20,000 random heads at random offsets', () => {
  const r = rng(4);
  const o1 = scanOut(MAX);
  const o2 = scanOut(MAX);
  const outcomes = { head: 0, invalid: 0, incomplete: 0 };
  for (let k = 0; k < 20_000; k++) {
    const head = randomHead(r);
    const pad = Math.floor(r() * 9);
    const buf = Buffer.concat([Buffer.alloc(pad, 0x0a), head, Buffer.alloc(Math.floor(r() * 5), 0x41)]);
    const end = pad + head.length + Math.floor(r() * 3);
    const max = r() < 0.1 ? Math.floor(r() * 64) + 1 : MAX;
    o1.fill(0);
    o2.fill(0);
    const a = native.scanHead(buf, pad, end, max, o1);
    const c = js.scanHead(buf, pad, end, max, o2);
    if (a !== c || (a >= 0 && !sameOut(o1, o2)) || (a === -1 && o1[OUT_ERROR] !== o2[OUT_ERROR])) {
      throw new Error(`mismatch at case ${k}: ${JSON.stringify(buf.toString('latin1'))} start=${pad} end=${end} max=${max}: native ${a}/${o1[OUT_ERROR]} twin ${c}/${o2[OUT_ERROR]}`);
    }
    if (a > 0) outcomes.head++;
    else if (a === -1) outcomes.invalid++;
    else if (a === -2) outcomes.incomplete++;
  }
  // Every verdict was compared many times (a sweep of only refusals would agree trivially).
  expect(outcomes.head).toBeGreaterThan(2000);
  expect(outcomes.invalid).toBeGreaterThan(8000);
  expect(outcomes.incomplete).toBeGreaterThan(4000);
});

function sameOut(x: Int32Array, y: Int32Array): boolean {
  const n = OUT_HEADERS + 4 * x[OUT_COUNT]!;
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return false;
  return true;
}

test.skipIf(native.kind !== 'native')('parity sweep: hash64 over random sizes and offsets', () => {
  const r = rng(7);
  const data = Buffer.alloc(4096);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  const o1 = new Uint32Array(2);
  const o2 = new Uint32Array(2);
  for (let k = 0; k < 5000; k++) {
    const start = Math.floor(r() * 64);
    const end = start + Math.floor(r() * (k % 10 === 0 ? 4000 : 70));
    const seed = Math.floor(r() * 4294967296);
    native.hash64(data, start, end, seed, o1);
    js.hash64(data, start, end, seed, o2);
    if (o1[0] !== o2[0] || o1[1] !== o2[1]) throw new Error(`hash mismatch start=${start} end=${end} seed=${seed}`);
  }
});

/** ResponseParser's verdict on a complete head (HEAD-request mode, so only the head phase runs). */
function parserVerdict(buf: Buffer): ResponseHead | string {
  let result: ResponseHead | string = 'incomplete';
  const p = new ResponseParser({
    onHead: (h) => { result = h; },
    onBody: () => {},
    onEnd: () => {},
    onError: (e) => { result = `error: ${e.code} ${e.message}`; },
  }, MAX);
  p.reset(true);
  p.execute(buf);
  return result;
}

test('the twin scan + toResponseHead agrees with ResponseParser on 5,000 random final heads', () => {
  const r = rng(11);
  const out = scanOut(MAX);
  let accepted = 0;
  for (let k = 0; k < 5000; k++) {
    const buf = randomHead(r);
    const n = js.scanHead(buf, 0, buf.length, MAX, out);
    // Bytes after the head would be unsolicited for a bodiless answer (the parser then marks it close).
    const verdict = parserVerdict(n > 0 ? buf.subarray(0, n) : buf);
    if (n === -2) continue; // incomplete heads: the parser buffers (no verdict to compare)
    if (n > 0 && out[OUT_STATUS]! < 200 && out[OUT_STATUS] !== 101) continue; // 1xx: the parser loops to the next head
    if (n === -1) {
      expect(typeof verdict === 'string' && verdict.startsWith('error'), `case ${k} ${JSON.stringify(buf.toString('latin1'))}`).toBe(true);
      continue;
    }
    expect(typeof verdict, `case ${k} ${JSON.stringify(buf.toString('latin1'))}: ${String(verdict)}`).toBe('object');
    const ours = toResponseHead(buf, out, true);
    const theirs = verdict as ResponseHead;
    expect({ ...ours, connectionTokens: ours.connectionTokens ?? null }, `case ${k} ${JSON.stringify(buf.toString("latin1"))}`).toEqual({ ...theirs, connectionTokens: theirs.connectionTokens ?? null });
    accepted++;
  }
  expect(accepted).toBeGreaterThan(200);
});
