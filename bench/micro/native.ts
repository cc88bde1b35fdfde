// Micro-benchmark: every native function against its TypeScript twin on realistic inputs, in CPU ns per
// call, plus the existing ResponseParser head phase (the code a native scan would replace).
// Run: npm run build && node dist/bench/micro/native.js
// Env: ITERATIONS (calls per round, scaled down for big inputs), ROUNDS (medians shown).
import { ResponseParser, type ResponseParserHandler } from '../../src/http/response-parser.js';
import { js, native } from '../../src/native/index.js';
import { scanOut } from '../../src/native/layout.js';
import { toResponseHead } from '../../src/native/response-head.js';
import { envInt, measure as measureNs } from './harness.js';

const ITERATIONS = envInt('ITERATIONS', 200_000);
const ROUNDS = envInt('ROUNDS', 5);

let sink = 0;
function measure(iterations: number, fn: (n: number) => void): number {
  return measureNs(iterations, ROUNDS, fn);
}

// ---- inputs ------------------------------------------------------------------------------------
const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const SMALL_HEAD = b(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n' +
    'Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n' +
    'Cache-Control: no-cache\r\n\r\n',
);
const BROWSER_HEAD = b(
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n' +
    'Content-Type: text/html; charset=utf-8\r\nContent-Length: 48213\r\nConnection: keep-alive\r\n' +
    'Keep-Alive: timeout=5\r\nVary: Accept-Encoding, Cookie\r\nCache-Control: private, max-age=0, must-revalidate\r\n' +
    'ETag: "5f2b8c1e-bc55"\r\nLast-Modified: Sun, 31 Dec 2023 23:59:59 GMT\r\n' +
    'Set-Cookie: session=5f2b8c1e9a7d4e3f5f2b8c1e9a7d4e3f; Path=/; HttpOnly; Secure; SameSite=Lax\r\n' +
    'Set-Cookie: theme=dark; Path=/; Max-Age=31536000\r\n' +
    "Content-Security-Policy: default-src 'self'; img-src 'self' data: https://cdn.example.com; script-src 'self' 'nonce-abc123'\r\n" +
    'Strict-Transport-Security: max-age=63072000; includeSubDomains; preload\r\nX-Content-Type-Options: nosniff\r\n' +
    'X-Frame-Options: DENY\r\nReferrer-Policy: strict-origin-when-cross-origin\r\n\r\n',
);
let big = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n';
for (let i = 0; big.length < 4000; i++) big += `X-Trace-${i}: ${'abcdef0123456789'.repeat(6)}\r\n`;
const BIG_HEAD = b(`${big}\r\n`);
const HEADS = [
  { name: `small head (${SMALL_HEAD.length} B, 7 fields)`, buf: SMALL_HEAD },
  { name: `browser head (${BROWSER_HEAD.length} B, 18 fields)`, buf: BROWSER_HEAD },
  { name: `big head (${BIG_HEAD.length} B)`, buf: BIG_HEAD },
];

const MAX = 64 * 1024;
const out = scanOut(MAX);

function parserHeadPhase(buf: Buffer): (n: number) => void {
  const handler: ResponseParserHandler = {
    onHead(h) { sink += h.headers.length; },
    onBody(c) { sink += c.length; },
    onEnd() { sink++; },
    onError(e) { throw e; },
  };
  const p = new ResponseParser(handler, MAX);
  return (n) => {
    for (let i = 0; i < n; i++) {
      p.reset(true); // HEAD request: execute() is the head phase alone
      p.execute(buf);
    }
  };
}
function scanOnly(api: typeof native, buf: Buffer): (n: number) => void {
  return (n) => {
    for (let i = 0; i < n; i++) sink += api.scanHead(buf, 0, buf.length, MAX, out);
  };
}
function scanAndBuild(api: typeof native, buf: Buffer): (n: number) => void {
  return (n) => {
    for (let i = 0; i < n; i++) {
      if (api.scanHead(buf, 0, buf.length, MAX, out) < 0) throw new Error('scan failed');
      sink += toResponseHead(buf, out, true).headers.length;
    }
  };
}

const fmt = (ns: number): string => ns.toFixed(0).padStart(8);
const ratio = (a: number, b2: number): string => `${(a / b2).toFixed(2)}x`.padStart(8);

function main(): void {
  console.log(`native micro-bench: node ${process.version}, addon=${native.kind}, features=${JSON.stringify(native.features)}, ITERATIONS=${ITERATIONS}, ROUNDS=${ROUNDS}`);
  if (native.kind !== 'native') console.log('WARNING: the addon did not load; both columns are the TypeScript twin');
  console.log('\nresponse head phase (CPU ns per head; lower is better)');
  console.log(`${'input'.padEnd(34)} ${'parser'.padStart(8)} ${'n.scan'.padStart(8)} ${'js.scan'.padStart(8)} ${'n.scan+b'.padStart(8)} ${'js.sc+b'.padStart(8)} ${'n+b/parser'.padStart(10)}`);
  for (const h of HEADS) {
    const it = h.buf.length > 1000 ? ITERATIONS / 10 : ITERATIONS;
    const parser = measure(it, parserHeadPhase(h.buf));
    const ns = measure(it, scanOnly(native, h.buf));
    const jss = measure(it, scanOnly(js, h.buf));
    const nb = measure(it, scanAndBuild(native, h.buf));
    const jb = measure(it, scanAndBuild(js, h.buf));
    console.log(`${h.name.padEnd(34)} ${fmt(parser)} ${fmt(ns)} ${fmt(jss)} ${fmt(nb)} ${fmt(jb)} ${ratio(nb, parser).padStart(10)}`);
  }

  console.log('\nhash64 (CPU ns per hash; lower is better)');
  console.log(`${'input'.padEnd(34)} ${'native'.padStart(8)} ${'twin'.padStart(8)} ${'native/twin'.padStart(12)}`);
  const h2 = new Uint32Array(2);
  for (const size of [32, 128, 1024, 16 * 1024]) {
    const key = b(`GET https://www.example.com/articles/2024/${'x'.repeat(size)}`).subarray(0, size);
    const it = Math.max(2000, Math.floor(ITERATIONS * 64 / Math.max(64, size)));
    const n = measure(it, (k) => { for (let i = 0; i < k; i++) { native.hash64(key, 0, size, 0, h2); sink += h2[0]!; } });
    const j = measure(it, (k) => { for (let i = 0; i < k; i++) { js.hash64(key, 0, size, 0, h2); sink += h2[0]!; } });
    console.log(`${`${size} B key`.padEnd(34)} ${fmt(n)} ${fmt(j)} ${ratio(n, j).padStart(12)}`);
  }
  if (sink === -1) console.log(sink);
}

main();
