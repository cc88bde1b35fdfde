// Randomised soak of the data path: a few hundred seeded random exchanges, run with some
// concurrency through the real proxy, each checked end to end (status, the headers that
// matter, the body by hash, and for /echo the exact bytes the origin received). Mixes
// methods, request bodies (none, 0, small, 64 KiB, MiBs; length or chunked; Expect:
// 100-continue), response sizes and framings (length, chunked, close-delimited; odd sizes
// around uWS's 16 KiB cork buffer), split/delayed origin writes, slow readers, client
// aborts (before the head, mid-response, mid-upload), keep-alive and fresh connections,
// and origins that answer before reading the request body. Afterwards the proxy must
// still answer at once, have logged no error, and hold no more upstream connections than
// its pools allow (and every pool slot must still be usable).
//
// Deterministic per seed: SOAK_SEED=<n> picks the seed (printed in the test name and in
// every failure); SOAK_REQUESTS=<n> the count; SOAK_ONLY=3,17 replays only those exchanges
// of the seed's sequence (to reduce a failure).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { makeRng, seededBytes, type Rng } from '../helpers/prng.js';

const SEED = (process.env.SOAK_SEED !== undefined && process.env.SOAK_SEED !== '' ? Number(process.env.SOAK_SEED) : 0x5eed) >>> 0;
const REQUESTS = Number(process.env.SOAK_REQUESTS ?? 600);
const ONLY = process.env.SOAK_ONLY ? new Set(process.env.SOAK_ONLY.split(',').map(Number)) : null;
const CONCURRENCY = 32;
const WORKERS = 2;
/** Small on purpose: the waiter queue of the pool gets exercised at this concurrency. */
const MAX_CONNECTIONS = 8;
const REQUEST_TIMEOUT_MS = 8000;
const KiB = 1024;
const MiB = 1024 * KiB;
const STATUS_BODY = 'status body\r\n'; // 13 bytes
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const EMPTY_SHA = sha('');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Origin

interface SoakOrigin {
  readonly port: number;
  /** Handler failures (never expected). */
  readonly errors: string[];
  openConnections(): Promise<number>;
  close(): Promise<void>;
}

/** Resolves on 'drain', or when the stream closes first (the proxy dropped it). */
function drainOrClose(s: NodeJS.WritableStream & { destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => { s.off('drain', done); s.off('close', done); resolve(); };
    s.on('drain', done);
    s.on('close', done);
  });
}

async function readBody(req: http.IncomingMessage): Promise<{ len: number; sha: string }> {
  const h = createHash('sha256');
  let len = 0;
  for await (const c of req as AsyncIterable<Buffer>) { h.update(c); len += c.length; }
  return { len, sha: h.digest('hex') };
}

/**
 * Resolves when a client upload may go on: the request's 'drain', its socket's 'drain', or a
 * close. Not req 'drain' alone: Node's client stops forwarding its socket's 'drain' to the
 * request once the final response is complete (Node 20 lib/_http_client.js, socketOnData
 * removes `ondrain` with the parser), so after an early answer a write that returned false
 * never sees req 'drain' and the upload would wait for ever although the proxy reads on.
 */
function uploadDrain(req: http.ClientRequest): Promise<void> {
  const socket = req.socket;
  return new Promise((resolve) => {
    const done = (): void => {
      req.off('drain', done); req.off('close', done);
      socket?.off('drain', done); socket?.off('close', done);
      resolve();
    };
    req.on('drain', done); req.on('close', done);
    socket?.on('drain', done); socket?.on('close', done);
    // Already flushed (the socket uncorks on the next tick, so this is rare): go on.
    if (socket !== null && !socket.writableNeedDrain) done();
  });
}

/** Writes data in `split` pieces with `delay` ms between them, honouring backpressure. */
async function writePieces(res: http.ServerResponse, data: Buffer, split: number, delay: number): Promise<void> {
  const size = Math.max(1, Math.ceil(data.length / split));
  for (let off = 0; off < data.length; off += size) {
    if (res.destroyed) return;
    if (off > 0 && delay > 0) await sleep(delay);
    if (!res.write(data.subarray(off, off + size))) await drainOrClose(res);
  }
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://origin');
  const q = url.searchParams;
  if (url.pathname === '/bytes') {
    // read=none answers before reading the request body (an early answer), after wait ms.
    if (q.get('read') !== 'none') await readBody(req);
    const wait = Number(q.get('wait') ?? 0);
    if (wait > 0) await sleep(wait);
    const n = Number(q.get('n'));
    const framing = q.get('framing');
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'x-soak-n': String(n) };
    if (framing === 'length') headers['content-length'] = String(n);
    else if (framing === 'chunked') headers['transfer-encoding'] = 'chunked';
    else { headers.connection = 'close'; res.useChunkedEncodingByDefault = false; } // close-delimited
    res.writeHead(200, headers);
    await writePieces(res, seededBytes(n, Number(q.get('seed'))), Number(q.get('split') ?? 1), Number(q.get('delay') ?? 0));
    res.end();
    return;
  }
  if (url.pathname === '/echo') {
    const body = await readBody(req);
    const text = echoText(req.method ?? '', body.len, body.sha, req.headers);
    if (q.get('chunked') === '1') {
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      res.write(text.slice(0, 20));
      await sleep(1);
      res.end(text.slice(20));
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
    }
    return;
  }
  const m = /^\/status\/(\d{3})$/.exec(url.pathname);
  if (m) {
    await readBody(req);
    const code = Number(m[1]);
    const kind = q.get('body');
    if (code === 204) { res.writeHead(204, { 'x-soak': 'nc' }); res.end(); return; }
    if (code === 304) {
      // A 304 may carry the representation's length (RFC 9110 §8.6); it still has no body.
      res.writeHead(304, kind === 'cl' ? { etag: '"e"', 'content-length': '13' } : { etag: '"e"' });
      res.end();
      return;
    }
    if (kind === 'none') { res.writeHead(code, { 'content-length': '0' }); res.end(); return; }
    if (kind === 'chunked') {
      res.writeHead(code, { 'transfer-encoding': 'chunked' });
      res.write(STATUS_BODY.slice(0, 6));
      await sleep(1);
      res.end(STATUS_BODY.slice(6));
      return;
    }
    res.writeHead(code, { 'content-length': '13' });
    res.end(STATUS_BODY);
    return;
  }
  await readBody(req);
  res.writeHead(200, { 'content-length': '2' });
  res.end('ok');
}

function echoText(method: string, len: number, bodySha: string, h: http.IncomingHttpHeaders): string {
  return `${method} ${len} ${bodySha} te=${h['transfer-encoding'] ?? '-'} cl=${h['content-length'] ?? '-'} expect=${h.expect ?? '-'}`;
}

async function startSoakOrigin(): Promise<SoakOrigin> {
  const errors: string[] = [];
  const server = http.createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    handle(req, res).catch((err: Error) => {
      // A request the proxy dropped mid-body ends the body iterator with an abort: expected.
      if (!req.destroyed && !res.destroyed) errors.push(`${req.method} ${req.url}: ${err.stack ?? err.message}`);
      res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    errors,
    openConnections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

// ---------------------------------------------------------------------------------------
// Exchanges

type Endpoint = 'bytes' | 'echo' | 'status';
type AgentKind = 'keepalive' | 'keepalive4' | 'fresh';

interface BodySpec {
  n: number;
  seed: number;
  chunked: boolean;
  /** Cut points of the writes (sorted offsets in (0, n)). */
  cuts: number[];
  expect: boolean;
}

interface AbortSpec {
  /** early: destroy `after` ms after start; response: after `after` response bytes; upload: after `after` body bytes. */
  kind: 'early' | 'response' | 'upload';
  after: number;
}

interface Spec {
  i: number;
  method: string;
  endpoint: Endpoint;
  path: string;
  body: BodySpec | null;
  agent: AgentKind;
  /** Pause the response stream for slowMs every slowEvery bytes. */
  slow: { every: number; ms: number } | null;
  abort: AbortSpec | null;
  // /bytes
  n: number;
  seed: number;
  framing: 'length' | 'chunked' | 'close';
  /** Origin answered before reading the request body. */
  early: boolean;
  // /echo
  echoChunked: boolean;
  // /status
  status: number;
  statusBody: 'none' | 'small' | 'chunked' | 'cl' | '';
}

const RESPONSE_SIZES: readonly (readonly [number, (r: Rng) => number])[] = [
  [10, () => 0],
  [14, () => 13],
  [16, () => 16 * KiB],
  // Around the 16 KiB cork buffer and the 16 KiB - 256 pieces of uws-downstream.ts.
  [10, (r) => r.pick([16127, 16128, 16129, 16383, 16385, 32 * KiB + 1, 64 * KiB - 1, 64 * KiB + 1])],
  [14, () => 256 * KiB],
  [8, () => 2 * MiB],
  [14, (r) => r.int(1, 120_000)],
];

const BODY_SIZES: readonly (readonly [number, (r: Rng) => number])[] = [
  [10, () => 0],
  [30, (r) => r.int(1, 2000)],
  [8, (r) => r.pick([16383, 16384, 16385])],
  [22, () => 64 * KiB],
  [14, (r) => r.int(2000, 300_000)],
  [8, (r) => r.int(1 * MiB, 4 * MiB)],
];

function makeBody(r: Rng, n: number): BodySpec {
  const pieces = n === 0 ? 1 : r.int(1, Math.min(8, n));
  const cuts: number[] = [];
  for (let k = 1; k < pieces; k++) cuts.push(r.int(1, n - 1));
  cuts.sort((a, b) => a - b);
  return { n, seed: r.u32(), chunked: r.chance(0.4), cuts, expect: n > 0 && r.chance(0.12) };
}

function makeSpec(i: number, r: Rng): Spec {
  const endpoint = r.weighted<Endpoint>([[55, 'bytes'], [30, 'echo'], [15, 'status']]);
  const method = endpoint === 'echo'
    ? r.weighted([[40, 'POST'], [25, 'PUT'], [10, 'GET'], [10, 'DELETE'], [8, 'OPTIONS'], [7, 'HEAD']])
    : endpoint === 'bytes'
      ? r.weighted([[50, 'GET'], [15, 'HEAD'], [14, 'POST'], [6, 'PUT'], [6, 'DELETE'], [9, 'OPTIONS']])
      : r.weighted([[55, 'GET'], [20, 'HEAD'], [15, 'POST'], [10, 'DELETE']]);
  const withBody = method === 'POST' || method === 'PUT'
    ? true
    : method === 'HEAD' ? false : r.chance(endpoint === 'echo' ? 0.4 : 0.1);
  let body = withBody ? makeBody(r, r.weighted(BODY_SIZES)(r)) : null;
  const spec: Spec = {
    i, method, endpoint, path: '', body,
    agent: r.weighted<AgentKind>([[45, 'keepalive'], [25, 'keepalive4'], [30, 'fresh']]),
    slow: r.chance(0.2) ? { every: r.pick([8 * KiB, 32 * KiB, 128 * KiB]), ms: r.int(2, 20) } : null,
    abort: null,
    n: 0, seed: 0, framing: 'length', early: false, echoChunked: false, status: 0, statusBody: '',
  };
  if (endpoint === 'bytes') {
    spec.n = r.weighted(RESPONSE_SIZES)(r);
    spec.seed = r.u32();
    spec.framing = r.weighted<Spec['framing']>([[45, 'length'], [40, 'chunked'], [15, 'close']]);
    spec.early = body !== null && r.chance(0.2);
    // Mostly with a body big enough to back up in the socket buffers (the proxy pauses it).
    if (spec.early && r.chance(0.6)) spec.body = body = makeBody(r, r.int(512 * KiB, 4 * MiB));
    // Not close-delimited: an origin closing with request bytes unread resets the connection
    // (RST), and the kernel may then drop its answer before the proxy reads it.
    if (spec.early && spec.framing === 'close') spec.framing = 'chunked';
    // Not from a `Connection: close` client either: uWS closes that connection as soon as the
    // answer is out, with the rest of the upload unread, so the client gets a reset (EPIPE)
    // and may lose the answer. A front-end limit (no lingering close), reported; not checked.
    if (spec.early && spec.agent === 'fresh') spec.agent = 'keepalive';
    // `Expect: 100-continue` uploads get early answers too (uWS sends the 100 itself, so the
    // client uploads while the answer may already be complete): see uploadDrain.
    const split = r.pick([1, 1, 2, 3, 5, 8, 17]);
    const delay = r.chance(0.7) ? 0 : r.int(1, 10);
    // An early answer after a wait lets the request body back up (the proxy pauses it).
    const wait = spec.early && r.chance(0.5) ? r.int(5, 60) : 0;
    spec.path = `/bytes?n=${spec.n}&seed=${spec.seed}&framing=${spec.framing}&split=${split}&delay=${delay}&read=${spec.early ? 'none' : 'all'}&wait=${wait}`;
  } else if (endpoint === 'echo') {
    spec.echoChunked = r.chance(0.4);
    spec.path = `/echo?chunked=${spec.echoChunked ? 1 : 0}&i=${i}`;
  } else {
    spec.status = r.pick([204, 304, 404, 500]);
    spec.statusBody = spec.status === 204 ? '' : spec.status === 304 ? r.pick(['', 'cl'] as const) : r.pick(['none', 'small', 'chunked'] as const);
    spec.path = `/status/${spec.status}?body=${spec.statusBody}`;
  }
  if (r.chance(0.06)) {
    const kind = r.pick(['early', 'response', 'upload'] as const);
    const respLen = expectedOf(spec).len;
    if (kind === 'response' && respLen >= 16 * KiB) spec.abort = { kind, after: r.int(1, respLen - 1) };
    else if (kind === 'upload' && body !== null && body.n >= 64 * KiB) spec.abort = { kind, after: r.int(1, body.n - 1) };
    else spec.abort = { kind: 'early', after: r.int(0, 30) };
  }
  return spec;
}

function describeSpec(s: Spec): string {
  const b = s.body === null ? 'none' : `${s.body.n}B ${s.body.chunked ? 'chunked' : 'length'} ${s.body.cuts.length + 1} writes${s.body.expect ? ' expect-100' : ''}`;
  return `#${s.i} ${s.method} ${s.path} body=${b} agent=${s.agent}${s.slow ? ` slow(${s.slow.every}/${s.slow.ms}ms)` : ''}${s.abort ? ` abort=${s.abort.kind}@${s.abort.after}` : ''}`;
}

interface Expected {
  status: number;
  len: number;
  sha: string;
  /** Required content-length value, 'absent', or 'any' (then it must equal len when present). */
  cl: number | 'absent' | 'any';
}

function expectedOf(s: Spec): Expected {
  const head = s.method === 'HEAD';
  if (s.endpoint === 'bytes') {
    const cl = s.framing === 'length' ? s.n : head ? 'absent' : 'any';
    if (head) return { status: 200, len: 0, sha: EMPTY_SHA, cl };
    return { status: 200, len: s.n, sha: sha(seededBytes(s.n, s.seed)), cl };
  }
  if (s.endpoint === 'echo') {
    const b = s.body;
    const bodyBytes = b === null ? Buffer.alloc(0) : seededBytes(b.n, b.seed);
    // What the origin must have seen: our framing, never the client's Expect.
    const h: http.IncomingHttpHeaders = {};
    if (b !== null && b.chunked) h['transfer-encoding'] = 'chunked';
    else if (b !== null) h['content-length'] = String(b.n);
    const text = echoText(s.method, bodyBytes.length, sha(bodyBytes), h);
    const cl = s.echoChunked ? (head ? 'absent' : 'any') : text.length;
    if (head) return { status: 200, len: 0, sha: EMPTY_SHA, cl };
    return { status: 200, len: text.length, sha: sha(text), cl };
  }
  if (s.status === 204 || s.status === 304) return { status: s.status, len: 0, sha: EMPTY_SHA, cl: s.status === 204 ? 'absent' : 'any' };
  const text = s.statusBody === 'none' ? '' : STATUS_BODY;
  const cl = s.statusBody === 'chunked' ? (head ? 'absent' : 'any') : text.length;
  if (head) return { status: s.status, len: 0, sha: EMPTY_SHA, cl };
  return { status: s.status, len: text.length, sha: sha(text), cl };
}

function checkResponse(s: Spec, status: number | undefined, headers: http.IncomingHttpHeaders, len: number, bodySha: string): string | null {
  const e = expectedOf(s);
  const problems: string[] = [];
  if (status !== e.status) problems.push(`status ${status} (want ${e.status}); error header ${String(headers['x-portcullis-error'])}`);
  const te = headers['transfer-encoding'];
  const clRaw = headers['content-length'];
  const cl = clRaw === undefined ? undefined : Number(clRaw);
  const bodiless = s.method === 'HEAD' || e.status === 204 || e.status === 304;
  if (bodiless && te !== undefined) problems.push(`transfer-encoding: ${te} on a bodiless response`);
  if (te !== undefined && cl !== undefined) problems.push(`both transfer-encoding and content-length (${clRaw})`);
  if (e.cl === 'absent' && cl !== undefined) problems.push(`content-length: ${clRaw} (want none)`);
  else if (typeof e.cl === 'number' && cl !== e.cl) problems.push(`content-length: ${clRaw} (want ${e.cl})`);
  else if (e.cl === 'any' && cl !== undefined && !bodiless && cl !== e.len) problems.push(`content-length: ${clRaw} (body is ${e.len})`);
  if (len !== e.len) problems.push(`body ${len} bytes (want ${e.len})`);
  else if (bodySha !== e.sha) problems.push('body bytes differ (sha256)');
  return problems.length === 0 ? null : problems.join('; ');
}

interface Agents { keepalive: http.Agent; keepalive4: http.Agent }

/** Runs one exchange; resolves null when it checked out (or was aborted on purpose), else the problem. */
function runOne(s: Spec, port: number, agents: Agents): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false;
    let state = 'sending';
    let got = 0;
    let responseOk = false;
    let uploadDone = s.body === null;
    let aborted = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (problem: string | null): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      resolve(problem);
    };
    const abortNow = (): void => {
      aborted = true;
      req.destroy();
      finish(null);
    };
    timers.push(setTimeout(() => {
      req.destroy();
      finish(`no outcome after ${REQUEST_TIMEOUT_MS} ms (state: ${state}, ${got} response bytes, upload ${uploadDone ? 'done' : 'not done'})`);
    }, REQUEST_TIMEOUT_MS));

    const headers: Record<string, string> = { 'x-soak-id': String(s.i) };
    const b = s.body;
    if (b !== null) {
      if (b.chunked) headers['transfer-encoding'] = 'chunked';
      else headers['content-length'] = String(b.n);
      if (b.expect) headers.expect = '100-continue';
    }
    const agent = s.agent === 'fresh' ? false : agents[s.agent];
    const req = http.request({ host: '127.0.0.1', port, method: s.method, path: s.path, headers, agent });
    const maybeDone = (): void => { if (responseOk && uploadDone) finish(null); };

    req.on('response', (res) => {
      state = 'response head';
      const hash = createHash('sha256');
      let sinceStall = 0;
      res.on('data', (c: Buffer) => {
        if (settled) return;
        state = 'response body';
        hash.update(c);
        got += c.length;
        if (s.abort?.kind === 'response' && got >= s.abort.after) { abortNow(); return; }
        if (s.slow !== null) {
          sinceStall += c.length;
          if (sinceStall >= s.slow.every) {
            sinceStall = 0;
            res.pause();
            timers.push(setTimeout(() => res.resume(), s.slow.ms));
          }
        }
      });
      res.on('end', () => {
        if (settled) return;
        if (!res.complete) { finish(`response cut short after ${got} bytes`); return; }
        const problem = checkResponse(s, res.statusCode, res.headers, got, hash.digest('hex'));
        if (problem !== null) { finish(problem); return; }
        responseOk = true;
        state = 'response done, upload pending';
        maybeDone();
      });
      res.on('aborted', () => { if (!aborted) finish(`response aborted after ${got} bytes (state ${state})`); });
      res.on('error', (err: NodeJS.ErrnoException) => { if (!aborted) finish(`response error ${err.code ?? err.message} after ${got} bytes`); });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (aborted || settled) return;
      // An origin that answered before reading the body: the proxy may drop the client
      // connection once that complete answer is out.
      if (responseOk && !uploadDone && s.early) { finish(null); return; }
      finish(`request error ${err.code ?? err.message} (state ${state}, ${got} response bytes)`);
    });
    req.on('close', () => {
      if (!settled && responseOk && s.early) finish(null);
    });

    if (s.abort?.kind === 'early') timers.push(setTimeout(abortNow, s.abort.after));

    if (b === null) { req.end(); return; }
    void (async () => {
      if (b.expect) {
        state = 'waiting for 100 Continue';
        await Promise.race([once(req, 'continue'), once(req, 'close')]).catch(() => {});
        if (settled || req.destroyed) return;
      }
      state = 'uploading';
      const data = seededBytes(b.n, b.seed);
      const bounds = [0, ...b.cuts, b.n];
      for (let k = 0; k + 1 < bounds.length; k++) {
        if (settled || req.destroyed) return;
        let piece = data.subarray(bounds[k], bounds[k + 1]);
        if (piece.length === 0) continue;
        if (s.abort?.kind === 'upload' && bounds[k + 1]! >= s.abort.after) {
          piece = piece.subarray(0, s.abort.after - bounds[k]!);
          if (piece.length > 0) req.write(piece);
          await sleep(5);
          abortNow();
          return;
        }
        if (!req.write(piece)) await uploadDrain(req);
      }
      if (settled || req.destroyed) return;
      req.end(() => {
        uploadDone = true;
        if (state === 'uploading') state = 'upload done, waiting for the response';
        maybeDone();
      });
    })();
  });
}

// ---------------------------------------------------------------------------------------
// Raw connections: a few exchanges on one keep-alive connection written byte-exact, each
// request cut at random points (mid-head, head/body, mid-body) with small pauses, the next
// one sent when the answer is complete. And pipelines: all requests in one write. uWS closes
// a connection that pipelines behind a pending async response (docs/limits.md), so there
// every answer that arrives must be right, in order, and the connection may close after.

/** Exchanges fit for a raw connection: no abort, no Expect; a pipeline also gets no early answer. */
function makeRawGroup(first: number, r: Rng, pipelined: boolean): Spec[] {
  const specs: Spec[] = [];
  const count = r.int(2, 5);
  for (let k = 0; k < count; k++) {
    const s = makeSpec(first + k, r);
    s.abort = null;
    s.slow = null;
    s.agent = 'fresh';
    if (s.body !== null) {
      if (s.body.n > 300_000 && !s.early) s.body = makeBody(r, r.int(0, 300_000));
      s.body.expect = false;
    }
    if (s.endpoint === 'bytes') {
      if (pipelined) s.early = false;
      if (s.n > 300_000) s.n = 256 * KiB;
      s.path = `/bytes?n=${s.n}&seed=${s.seed}&framing=${s.framing}&split=${r.int(1, 4)}&delay=0&read=${s.early ? 'none' : 'all'}&wait=${s.early ? r.int(0, 30) : 0}`;
    }
    specs.push(s);
  }
  return specs;
}

function serialize(s: Spec): Buffer {
  const b = s.body;
  let head = `${s.method} ${s.path} HTTP/1.1\r\nhost: soak\r\nx-soak-id: ${s.i}\r\n`;
  if (b === null) return Buffer.from(`${head}\r\n`, 'latin1');
  const data = seededBytes(b.n, b.seed);
  if (!b.chunked) return Buffer.concat([Buffer.from(`${head}content-length: ${b.n}\r\n\r\n`, 'latin1'), data]);
  head += 'transfer-encoding: chunked\r\n\r\n';
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  const bounds = [0, ...b.cuts, b.n];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const piece = data.subarray(bounds[k], bounds[k + 1]);
    if (piece.length === 0) continue;
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'));
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
  return Buffer.concat(parts);
}

interface RawResponse { status: number; headers: http.IncomingHttpHeaders; body: Buffer; next: number }

/** Parses one response at buf[off] (interim 1xx skipped); null when it is not complete yet. */
function parseResponse(buf: Buffer, off: number, bodiless: boolean): RawResponse | null {
  const end = buf.indexOf('\r\n\r\n', off, 'latin1');
  if (end < 0) return null;
  const lines = buf.toString('latin1', off, end).split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  if (status >= 100 && status < 200) return parseResponse(buf, end + 4, bodiless);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    const name = line.slice(0, c).toLowerCase();
    const value = line.slice(c + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let p = end + 4;
  if (bodiless || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0), next: p };
  if (headers['transfer-encoding'] !== undefined) {
    const chunks: Buffer[] = [];
    for (;;) {
      const le = buf.indexOf('\r\n', p, 'latin1');
      if (le < 0) return null;
      const size = parseInt(buf.toString('latin1', p, le), 16);
      p = le + 2;
      if (size === 0) {
        if (buf.length < p + 2) return null;
        return { status, headers, body: Buffer.concat(chunks), next: p + 2 };
      }
      if (buf.length < p + size + 2) return null;
      chunks.push(buf.subarray(p, p + size));
      p += size + 2;
    }
  }
  const n = Number(headers['content-length'] ?? 0);
  if (buf.length < p + n) return null;
  return { status, headers, body: buf.subarray(p, p + n), next: p + n };
}

/** Runs a raw group; null when every answer checks out. */
function runRawGroup(specs: Spec[], pipelined: boolean, port: number, r: Rng): Promise<string | null> {
  const requests = specs.map(serialize);
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf: Buffer = Buffer.alloc(0);
    let off = 0;
    let k = 0;
    let settled = false;
    const finish = (problem: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const what = `${pipelined ? 'pipelined' : 'raw keep-alive'} answer ${k + 1} of ${specs.length}`;
      const before = specs.slice(0, k).map((s) => `\n      after ${describeSpec(s)}`).join('');
      resolve(problem === null ? null : `${describeSpec(specs[Math.min(k, specs.length - 1)]!)} (${what})${before}\n    → ${problem}`);
    };
    const timer = setTimeout(() => finish(`no answer after ${REQUEST_TIMEOUT_MS} ms (${buf.length - off} bytes unparsed)`), REQUEST_TIMEOUT_MS);
    /** Writes one request in 1-3 pieces cut anywhere, a few ms apart. */
    const send = async (bytes: Buffer): Promise<void> => {
      const cuts = [...new Set(Array.from({ length: r.int(0, 2) }, () => r.int(1, bytes.length - 1)))].sort((a, b) => a - b);
      const bounds = [0, ...cuts, bytes.length];
      for (let j = 0; j + 1 < bounds.length; j++) {
        if (settled) return;
        if (j > 0) await sleep(r.int(0, 5));
        if (!socket.write(bytes.subarray(bounds[j], bounds[j + 1]))) await drainOrClose(socket);
      }
    };
    let sending: Promise<void> = Promise.resolve();
    socket.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (k < specs.length) {
        const s = specs[k]!;
        const res = parseResponse(buf, off, s.method === 'HEAD');
        if (res === null) return;
        const problem = checkResponse(s, res.status, res.headers, res.body.length, sha(res.body));
        if (problem !== null) { finish(problem); return; }
        off = res.next;
        k++;
        // A connection that carried a chunked request body serves no further request
        // (docs/limits.md "Request bodies"): its answer says Connection: close, and the group
        // ends there.
        if (s.body !== null && s.body.chunked) {
          if (res.headers['connection'] !== 'close') { finish('no Connection: close after a chunked request body'); return; }
          if (k < specs.length) { finish(null); return; }
        }
        // After an early answer the previous upload may still be going: queue behind it.
        if (!pipelined && k < specs.length) { const bytes = requests[k]!; sending = sending.then(() => send(bytes)); }
      }
      if (off !== buf.length) finish(`${buf.length - off} unexpected bytes after the last answer`);
      else finish(null);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(pipelined ? null : `socket error ${err.code ?? err.message}`));
    socket.on('close', () => finish(pipelined ? null : 'connection closed before the answer'));
    sending = send(pipelined ? Buffer.concat(requests) : requests[0]!);
  });
}

// ---------------------------------------------------------------------------------------

const COLD = ['cold1', 'cold2', 'cold3'];
let origin: SoakOrigin;
let proxy: RunningProxy;
let agents: Agents;

beforeAll(async () => {
  origin = await startSoakOrigin();
  const target = `http://127.0.0.1:${origin.port}`;
  proxy = await startProxy({
    limits: { max_body_bytes: '64MiB' },
    upstreams: {
      app: { targets: [target], pool: { max_connections: MAX_CONNECTIONS } },
      // Pools of their own for the reduced cases: cold (no idle connection) when they start.
      ...Object.fromEntries(COLD.map((name) => [name, { targets: [target], pool: { max_connections: name === 'cold2' ? 1 : 4 } }])),
    },
    routes: [...COLD.map((name) => ({ path: `/${name}/`, upstream: name, strip_prefix: true })), { path: '/', upstream: 'app' }],
  }, { workers: WORKERS });
  agents = {
    keepalive: new http.Agent({ keepAlive: true, maxSockets: 64 }),
    keepalive4: new http.Agent({ keepAlive: true, maxSockets: 4 }),
  };
});

afterAll(async () => {
  agents?.keepalive.destroy();
  agents?.keepalive4.destroy();
  if (proxy) {
    // An exchange stuck in the proxy holds its drain until the helper's 10 s SIGKILL: cut that short.
    const killer = setTimeout(() => proxy.child.kill('SIGKILL'), 3000);
    await proxy.stop();
    clearTimeout(killer);
  }
  await origin?.close();
});

// ---------------------------------------------------------------------------------------
// Reduced cases: the smallest exchanges that reproduced soak failures, each on a pool of its
// own that has no idle connection when it starts. They run first, on a proxy fresh from start.

/** Raw client steps on one connection: a string is written, a RegExp is waited for (in
 *  everything received so far). Resolves with what was received, or rejects on timeout. */
function rawSteps(port: number, steps: (string | RegExp)[], timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let k = 0;
    let waiting: RegExp | null = null;
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`timed out waiting for ${String(waiting)}; got ${JSON.stringify(data)}`)); }, timeoutMs);
    const advance = (): void => {
      while (k < steps.length) {
        const step = steps[k]!;
        if (typeof step === 'string') { socket.write(step, 'latin1'); k++; continue; }
        if (!step.test(data)) { waiting = step; return; }
        k++;
      }
      clearTimeout(timer);
      socket.destroy();
      resolve(data);
    };
    socket.on('data', (d: Buffer) => { data += d.toString('latin1'); advance(); });
    socket.on('error', () => {});
    socket.on('close', () => { if (k < steps.length) { clearTimeout(timer); reject(new Error(`closed waiting for ${String(waiting)}; got ${JSON.stringify(data)}`)); } });
    socket.on('connect', advance);
  });
}

describe('reduced from soak failures', () => {
  const hello = `POST 5 ${sha('hello')} te=- cl=5 expect=-`;

  // Bug: uWS calls onData with an empty, non-last chunk when a Content-Length head arrives
  // without body bytes. With no idle upstream connection, Forwarder.#onClientBody pauses the
  // client for it, and onConnection resumes only when chunks were queued: the body is never
  // read and the exchange hangs until response_header (60 s). Expect: 100-continue always
  // sends the head alone (curl does for bodies over 1 MiB).
  test('a Content-Length body sent after its head (Expect: 100-continue), no idle upstream connection', async () => {
    const got = await rawSteps(proxy.port, [
      'POST /cold1/echo HTTP/1.1\r\nhost: soak\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n',
      /100 Continue\r\n\r\n/,
      'hello',
      /\r\n\r\nPOST .*expect=-$/,
    ]);
    expect(got.endsWith(hello)).toBe(true);
  });

  // Bug: a body that came whole with its head while no upstream connection was free: it is
  // queued without a pause, and onConnection calls resumeBody() anyway. uWS (v20.30) then
  // leaves the client connection unable to serve its next request (res.resume() on a
  // response that was never paused). Timing-dependent in the proxy, so tried a few times,
  // behind a slow exchange holding the pool's only connection (pool of 1).
  test('the next request on a connection whose POST body waited for an upstream connection', async () => {
    for (let trial = 0; trial < 6; trial++) {
      const slow = request(proxy.port, { path: '/cold2/bytes?n=1&seed=1&framing=length&read=all&wait=80', timeoutMs: 3000 });
      await sleep(20);
      const got = await rawSteps(proxy.port, [
        'POST /cold2/echo HTTP/1.1\r\nhost: soak\r\ncontent-length: 5\r\n\r\nhello',
        /expect=-$/,
        'GET /cold2/plain HTTP/1.1\r\nhost: soak\r\n\r\n',
        /\r\n\r\nok$/,
      ], 2000).catch((err: Error) => `trial ${trial}: ${err.message}`);
      expect(got).toContain(hello);
      expect(got).toMatch(/ok$/);
      expect((await slow).status).toBe(200);
    }
  });

  // Bug: the upstream answers before reading the request body while the proxy has the
  // client body paused (upstream backpressure). The response completes with the client
  // still paused: uWS never reads the rest of the body, the upload stalls and the
  // keep-alive connection is lost.
  test('an answer before the request body was read, with the client body paused', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = Buffer.alloc(8 * MiB, 'b');
      const first = await new Promise<{ status: number; text: string; uploaded: boolean }>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1', port: proxy.port, method: 'POST', agent,
          path: '/cold3/bytes?n=5&seed=7&framing=length&read=none&wait=100',
          headers: { 'content-length': String(body.length) },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('latin1');
            // The rest of the upload must be taken (read and dropped) or the connection closed.
            const t = setTimeout(() => resolve({ status: res.statusCode!, text, uploaded: false }), 3000);
            const done = (): void => { clearTimeout(t); resolve({ status: res.statusCode!, text, uploaded: true }); };
            if (req.writableFinished) done(); else { req.on('finish', done); req.on('close', done); }
          });
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(first.status).toBe(200);
      expect(first.text).toBe(seededBytes(5, 7).toString('latin1'));
      expect(first.uploaded).toBe(true);
      const after = await request(proxy.port, { path: '/cold3/plain', agent, timeoutMs: 1000 });
      expect(after.text).toBe('ok');
    } finally {
      agent.destroy();
    }
  });
});

describe(`soak (seed ${SEED}, ${REQUESTS} exchanges, concurrency ${CONCURRENCY})`, () => {
  test('every exchange checks out and the proxy stays healthy', async () => {
    const rng = makeRng(SEED);
    const specs: Spec[] = [];
    for (let i = 0; i < REQUESTS; i++) specs.push(makeSpec(i, rng));
    // Raw groups get ids from 100000 up, from their own stream (the main sequence stays put).
    const prng = makeRng(SEED ^ 0x9e3779b9);
    type Job = { spec: Spec } | { pipeline: Spec[]; pipelined: boolean };
    const jobs: Job[] = specs.map((spec) => ({ spec }));
    for (let g = 0; g < Math.ceil(REQUESTS / 16); g++) {
      const at = prng.int(0, jobs.length);
      const pipelined = prng.chance(0.25);
      jobs.splice(at, 0, { pipeline: makeRawGroup(100_000 + g * 10, prng, pipelined), pipelined });
    }
    const todo = ONLY === null ? jobs : jobs.filter((j) => ('spec' in j ? ONLY.has(j.spec.i) : j.pipeline.some((s) => ONLY.has(s.i))));

    const failures: string[] = [];
    let next = 0;
    const t0 = Date.now();
    const lane = async (): Promise<void> => {
      while (next < todo.length) {
        const job = todo[next++]!;
        if ('spec' in job) {
          const problem = await runOne(job.spec, proxy.port, agents);
          if (problem !== null) failures.push(`${describeSpec(job.spec)}\n    → ${problem}`);
        } else {
          const problem = await runRawGroup(job.pipeline, job.pipelined, proxy.port, makeRng(job.pipeline[0]!.i));
          if (problem !== null) failures.push(problem);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, todo.length) }, lane));
    const ms = Date.now() - t0;
    const single = todo.flatMap((j) => ('spec' in j ? [j.spec] : []));
    const piped = todo.flatMap((j) => ('pipeline' in j ? j.pipeline : []));
    const aborted = single.filter((s) => s.abort !== null).length;
    console.log(`soak seed ${SEED}: ${single.length} exchanges (${aborted} aborted on purpose) + ${piped.length} on raw connections in ${ms} ms, ${failures.length} failed`);

    expect(failures, `seed ${SEED} (replay: SOAK_SEED=${SEED} SOAK_ONLY=<ids>):\n${failures.join('\n')}`).toEqual([]);
    expect(origin.errors).toEqual([]);

    // Still answering at once.
    const t = Date.now();
    const plain = await request(proxy.port, { path: '/plain', timeoutMs: 1000 });
    expect(plain.text).toBe('ok');
    expect(Date.now() - t).toBeLessThan(1000);

    // Upstream connections bounded by the pools (per worker per target).
    await sleep(200);
    // (The reduced cases above may have left an idle connection or so in each of their pools.)
    expect(await origin.openConnections()).toBeLessThanOrEqual(WORKERS * (MAX_CONNECTIONS + COLD.length));

    // Every pool slot still usable (a leaked slot would leave these queued forever).
    const burst = await Promise.all(Array.from({ length: 2 * WORKERS * MAX_CONNECTIONS }, (_, k) =>
      request(proxy.port, { path: `/bytes?n=1000&seed=${k}&framing=length&split=2&delay=40`, timeoutMs: 5000 })
        .then((r) => (r.status === 200 && sha(r.body) === sha(seededBytes(1000, k)) ? 'ok' : `status ${r.status}`), (e: Error) => e.message)));
    expect(burst.filter((x) => x !== 'ok')).toEqual([]);

    // Nothing went wrong inside the proxy (no uncaught error, no worker restart, no warning).
    const out = proxy.output();
    expect(out).not.toMatch(/portcullis: (error|warn):|uncaught|exited with code|Warning|Error:/i);
  }, 60_000);
});
