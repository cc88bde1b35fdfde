// Micro-benchmark: ns per upstream response parse (ResponseParser) against Node's own llhttp binding on the same
// bytes, and ns per checkRequestHead on a browser-like request.
// Run: npx tsc -p tsconfig.json && node dist/bench/micro/parser.js
// Figures are CPU ns per operation (process.cpuUsage), medians of ROUNDS interleaved rounds.
// Env: ITERATIONS (parses per round), ROUNDS (the table shows medians), BASELINE=0 to skip llhttp.

import { checkRequestHead } from '../../src/http/request-rules.js';
import { ResponseParser, type ResponseParserHandler } from '../../src/http/response-parser.js';

function int(name: string, dflt: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${raw}: want a non-negative integer`);
  return n;
}

const ITERATIONS = int('ITERATIONS', 200_000);
const ROUNDS = int('ROUNDS', 7);
const BASELINE = process.env['BASELINE'] !== '0';

const SMALL =
  'HTTP/1.1 200 OK\r\n' +
  'Content-Type: text/plain; charset=utf-8\r\n' +
  'Content-Length: 13\r\n' +
  'Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n' +
  'Connection: keep-alive\r\n' +
  'Keep-Alive: timeout=5\r\n' +
  'Cache-Control: no-cache\r\n' +
  '\r\n' +
  'Hello, World!';

function bodyOf(size: number): string {
  let s = '';
  for (let i = 0; i < size; i++) s += String.fromCharCode(97 + (i % 26));
  return s;
}

const KIB16 = bodyOf(16 * 1024);
const LARGE =
  'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 16384\r\n' +
  'Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n' +
  KIB16;

const CHUNK = bodyOf(1024);
const CHUNKED =
  'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n' +
  'Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: keep-alive\r\n\r\n' +
  `400\r\n${CHUNK}\r\n`.repeat(4) +
  '0\r\n\r\n';

interface Case {
  name: string;
  /** The response as the socket delivers it: one or more reads. */
  reads: Buffer[];
  /** Optional variants used in turn (realistic caches: Date, ETag and lengths change between responses). */
  variants?: Buffer[];
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const smallBuf = b(SMALL);
const headEnd = SMALL.indexOf('\r\n\r\n') + 4;

/** 64 small responses whose Date, ETag and Content-Length differ, as consecutive real responses do. */
function varied(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 64; i++) {
    const body = 'Hello, World!'.slice(0, 6 + (i % 8));
    out.push(
      b(
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n' +
          `Content-Length: ${body.length}\r\nDate: Mon, 01 Jan 2024 00:${String(i % 60).padStart(2, '0')}:${String(i).padStart(2, '0')} GMT\r\n` +
          `ETag: "${(0x5f2b8c1e + i * 7919).toString(16)}"\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n` +
          body,
      ),
    );
  }
  return out;
}

const CASES: Case[] = [
  { name: `small (${smallBuf.length} B, 6 headers, 13 B body)`, reads: [smallBuf] },
  { name: 'small, head split across 2 reads', reads: [smallBuf.subarray(0, 60), smallBuf.subarray(60)] },
  { name: 'small, head and body in 2 reads', reads: [smallBuf.subarray(0, headEnd), smallBuf.subarray(headEnd)] },
  { name: 'small, 64 variants (Date, ETag, length)', reads: [smallBuf], variants: varied() },
  { name: `16 KiB Content-Length (${LARGE.length} B)`, reads: [b(LARGE)] },
  { name: `chunked 4 x 1 KiB (${CHUNKED.length} B)`, reads: [b(CHUNKED)] },
];

/**
 * CPU time (user + system) since t0, in ns. CPU time rather than wall time: the cost we want is CPU per
 * parse, and it stays readable on a shared, loaded machine where wall time swings by 2x.
 */
function cpuNs(t0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) * 1000;
}

// Sinks the compiler cannot prove dead.
let sink = 0;

function timeOurs(c: Case): number {
  const handler: ResponseParserHandler = {
    onHead(head) {
      sink += head.headers.length;
    },
    onBody(chunk) {
      sink += chunk.length;
    },
    onEnd() {
      sink++;
    },
    onError(err) {
      throw err;
    },
  };
  const parser = new ResponseParser(handler, 16 * 1024);
  const reads = c.reads;
  const variants = c.variants;
  const t0 = process.cpuUsage();
  if (variants) {
    for (let i = 0; i < ITERATIONS; i++) {
      parser.reset(false);
      parser.execute(variants[i & 63]!);
    }
  } else {
    for (let i = 0; i < ITERATIONS; i++) {
      parser.reset(false);
      for (let r = 0; r < reads.length; r++) parser.execute(reads[r]!);
    }
  }
  return cpuNs(t0) / ITERATIONS;
}

interface LlhttpParser {
  initialize(type: number, resource: object): void;
  execute(buf: Buffer): number | Error;
  [k: number]: unknown;
}
interface LlhttpCtor {
  new (): LlhttpParser;
  RESPONSE: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

function loadLlhttp(): LlhttpCtor | null {
  if (!BASELINE) return null;
  try {
    const binding = (process as unknown as { binding(name: string): { HTTPParser: LlhttpCtor } }).binding;
    const emit = process.emitWarning;
    process.emitWarning = () => {}; // DEP0111 is expected here
    try {
      return binding('http_parser').HTTPParser;
    } finally {
      process.emitWarning = emit;
    }
  } catch {
    return null;
  }
}

/** Node's http client parser (llhttp) on a keep-alive sequence of the same response: headers as JS strings too. */
function timeLlhttp(HTTPParser: LlhttpCtor, c: Case): number {
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {});
  p[HTTPParser.kOnHeadersComplete] = (_v1: number, _v2: number, headers: string[]) => {
    sink += headers.length;
    return 0;
  };
  p[HTTPParser.kOnBody] = (chunk: Buffer) => {
    sink += chunk.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    sink++;
  };
  const reads = c.reads;
  const variants = c.variants;
  const t0 = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) {
    if (variants) {
      const res = p.execute(variants[i & 63]!);
      if (typeof res !== 'number') throw res;
      continue;
    }
    for (let r = 0; r < reads.length; r++) {
      const res = p.execute(reads[r]!);
      if (typeof res !== 'number') throw res;
    }
  }
  return cpuNs(t0) / ITERATIONS;
}

const REQUEST_HEADERS = [
  'host', 'www.example.com',
  'user-agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'accept-language', 'en-US,en;q=0.5',
  'accept-encoding', 'gzip, deflate, br, zstd',
  'connection', 'keep-alive',
  'cookie', 'session=5f2b8c1e9a7d4e3f; theme=dark; _ga=GA1.2.123456789.1700000000',
  'upgrade-insecure-requests', '1',
  'sec-fetch-dest', 'document',
  'sec-fetch-mode', 'navigate',
  'sec-fetch-site', 'none',
  'priority', 'u=0, i',
];
const LIMITS = { max_header_bytes: 16 * 1024, max_header_count: 100, max_body_bytes: 10 * 1024 * 1024 };

function timeRequestRules(): number {
  const t0 = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) {
    const r = checkRequestHead('GET', '/articles/2024/hello-world?ref=home', REQUEST_HEADERS, LIMITS);
    sink += r.constructor === Object ? 0 : 1;
  }
  return cpuNs(t0) / ITERATIONS;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

const fmt = (ns: number): string => ns.toFixed(0).padStart(7);

function main(): void {
  const llhttp = loadLlhttp();
  console.log(
    `parser micro-bench: node ${process.version}, ITERATIONS=${ITERATIONS}, ROUNDS=${ROUNDS}, ` +
      `baseline=${llhttp ? "llhttp (process.binding('http_parser'))" : 'none'}`,
  );
  console.log(`${'case (CPU ns per parse)'.padEnd(44)} ${'ours'.padStart(7)}  ${'llhttp'.padStart(7)}   ours/llhttp`);
  for (const c of CASES) {
    // Warm up both so the first round is not a JIT measurement.
    timeOurs(c);
    if (llhttp) timeLlhttp(llhttp, c);
    const ours: number[] = [];
    const base: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      ours.push(timeOurs(c));
      if (llhttp) base.push(timeLlhttp(llhttp, c));
    }
    const o = median(ours);
    const l = llhttp ? median(base) : NaN;
    console.log(`${c.name.padEnd(44)} ${fmt(o)}  ${llhttp ? fmt(l) : '      -'}   ${llhttp ? (o / l).toFixed(2) + 'x' : '-'}`);
  }
  timeRequestRules();
  const req: number[] = [];
  for (let r = 0; r < ROUNDS; r++) req.push(timeRequestRules());
  console.log(`${`checkRequestHead, browser GET (${REQUEST_HEADERS.length / 2} headers)`.padEnd(44)} ${fmt(median(req))}`);
  if (sink === -1) console.log(sink);
}

main();
