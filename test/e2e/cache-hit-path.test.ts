// The cache's hit path (src/cache/hit-path.ts) against the general pipeline, differentially:
// two proxies over one origin with the same config, one with the hit path (the default) and
// one with PORTCULLIS_CACHE_HIT_PATH=off. Each request below goes to both, over raw sockets,
// after the same requests before it; the answers must be the same bytes (Date, Age and the
// ttl in Cache-Status aside: they follow the clock), and the hit path must have served
// exactly the requests marked `hitPath` (its counter), the others being left to the pipeline.
// The requests and metrics each proxy counted must agree too.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startCacheOrigin, type CacheOrigin } from '../helpers/cache-origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { rawRequest } from '../helpers/raw.js';
import { admin } from '../helpers/admin.js';
import { freePort } from '../helpers/ports.js';
import { createTestCa, type TestCa } from '../helpers/tls.js';
import tls from 'node:tls';
import net from 'node:net';
import { once } from 'node:events';

let origin: CacheOrigin;
let ca: TestCa;
/** A proxy: its plain and TLS listeners and its admin port. */
interface Running { readonly proxy: RunningProxy; readonly port: number; readonly tls: number; readonly admin: number }
/** With the hit path, and without it. */
let on: Running;
let off: Running;

const JSON_BODY = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })));
const BIG_BODY = 'x'.repeat(20_000);

beforeAll(async () => {
  origin = await startCacheOrigin();
  const fresh = { 'cache-control': 'public, max-age=600', 'content-type': 'text/plain', 'x-origin': 'yes' };
  origin.on('/plain', () => ({ headers: fresh, body: 'plain body' }));
  origin.on('/edited/plain', () => ({ headers: fresh, body: 'edited body' }));
  origin.on('/vary', (r) => ({ headers: { ...fresh, vary: 'Accept-Language' }, body: `lang ${String(r.headers['accept-language'])}` }));
  origin.on('/etag', () => ({ headers: { ...fresh, etag: '"v1"', 'last-modified': 'Mon, 07 Dec 2026 10:00:00 GMT' }, body: 'tagged' }));
  origin.on('/json', () => ({ headers: { 'cache-control': 'max-age=600', 'content-type': 'application/json' }, body: JSON_BODY }));
  origin.on('/big', () => ({ headers: fresh, body: BIG_BODY }));
  origin.on('/gone', () => ({ status: 404, headers: fresh, body: 'no such thing' }));
  origin.on('/private', () => ({ headers: { 'cache-control': 'private, max-age=600' }, body: 'mine' }));
  origin.on('/latin', () => ({ headers: { ...fresh, 'x-name': 'caf\u00e9' }, body: 'latin' }));
  origin.on('/unshared', () => ({ headers: { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }, body: 'no public' }));
  origin.on('/pipelined', () => ({ headers: fresh, body: 'p'.repeat(8000) }));
  origin.on('/aged', () => ({ headers: fresh, body: 'aged' }));
  origin.on('/short', () => ({ headers: { 'cache-control': 'max-age=1', 'content-type': 'text/plain' }, body: 'short-lived' }));
  const config = {
    upstreams: { app: { targets: [origin.url] } },
    routes: [
      { path: '/', upstream: 'app' },
      { path: '/edited/', upstream: 'app', headers: { preset: 'strict', response: { set: { 'x-edited': '1' }, remove: ['x-origin'] } } },
    ],
    cache: { enabled: true },
    compression: { enabled: true },
    // JSON lines on stdout: each exchange as the log records it, compared below.
    access_log: true,
    // The tests' own connections: X-Forwarded-Proto is believed (a TLS entry reached over plain HTTP).
    trusted_proxies: ['127.0.0.1/32'],
  };
  ca = await createTestCa();
  const site = await ca.issue('site', ['example.test']);
  const start = async (env: Record<string, string>): Promise<Running> => {
    const [port, tlsPort, adminPort] = [await freePort(), await freePort(), await freePort()];
    const listen = [`127.0.0.1:${port}`, { address: `127.0.0.1:${tlsPort}`, tls: { certificates: [{ cert: site.cert, key: site.key }] } }];
    const proxy = await startProxy({ ...config, listen, admin: { listen: `127.0.0.1:${adminPort}` } }, { env });
    return { proxy, port, tls: tlsPort, admin: adminPort };
  };
  [on, off] = await Promise.all([start({}), start({ PORTCULLIS_CACHE_HIT_PATH: 'off' })]);
});

afterAll(async () => {
  await on?.proxy.stop();
  await off?.proxy.stop();
  await origin?.close();
  ca?.remove();
});

function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

async function metrics(port: number): Promise<Map<string, number>> {
  return parseMetrics((await admin(port, 'GET', '/metrics')).text);
}

const HIT_PATH = 'portcullis_cache_hit_path_total';

/** The answer with what follows the clock made comparable. */
function comparable(raw: string): string {
  return raw
    .replace(/\r\nDate: [^\r]*/gi, '\r\nDate: -')
    .replace(/\r\nage: \d+/gi, '\r\nage: -')
    .replace(/ttl=-?\d+/g, 'ttl=-')
    .replace(/\r\nx-request-id: [^\r]*/g, '\r\nx-request-id: -');
}

function requestBytes(method: string, path: string, headers: Record<string, string>): string {
  let head = `${method} ${path} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/** One request with `Connection: close` to a proxy's plain listener (or its TLS one): the whole answer, latin1. */
async function send(to: Running, method: string, path: string, headers: Record<string, string>, overTls = false): Promise<string> {
  if (!overTls) {
    const r = await rawRequest(to.port, requestBytes(method, path, headers), 5000);
    expect(r.closed).toBe(true);
    return r.data;
  }
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: to.tls, servername: 'example.test', ca: ca.ca.certPem, ALPNProtocols: ['http/1.1'] });
    let data = '';
    socket.on('secureConnect', () => socket.write(requestBytes(method, path, headers)));
    socket.on('data', (d: Buffer) => { data += d.toString('latin1'); });
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

interface Case {
  readonly name: string;
  readonly path: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** Requests sent first (to both proxies, over the same listener): what fills the cache. */
  readonly before?: readonly { path: string; headers?: Record<string, string> }[];
  /** Served on the hit path (else by the pipeline). */
  readonly hitPath: boolean;
  /** Part of the answer, to show the case is what it says. */
  readonly shows: RegExp;
  /** Wait before the request (ms). */
  readonly wait?: number;
  /** Over the TLS listener (HSTS, the https scheme). */
  readonly tls?: boolean;
}

const CASES: readonly Case[] = [
  { name: 'a fresh hit', path: '/plain', before: [{ path: '/plain' }], hitPath: true, shows: /cache-status: portcullis; hit; ttl=\d+\r\n[\s\S]*\r\n\r\nplain body$/ },
  { name: 'the first request (a miss)', path: '/plain?first', hitPath: false, shows: /fwd=uri-miss; stored/ },
  { name: 'Content-Length: 0 on a GET', path: '/plain', headers: { 'content-length': '0' }, hitPath: true, shows: /; hit;/ },
  { name: 'X-Forwarded-For from a trusted proxy', path: '/plain', headers: { 'x-forwarded-for': '203.0.113.9' }, hitPath: true, shows: /; hit;/ },
  { name: 'only-if-cached and max-stale', path: '/plain', headers: { 'cache-control': 'only-if-cached, max-stale=5' }, hitPath: true, shows: /; hit;/ },
  { name: 'the route edits the answer (strict preset, set, remove)', path: '/edited/plain', before: [{ path: '/edited/plain' }], hitPath: true, shows: /^(?![\s\S]*x-origin)[\s\S]*; hit;[\s\S]*x-frame-options: DENY[\s\S]*x-edited: 1\r\n/ },
  { name: 'a Vary variant stored for this value', path: '/vary', headers: { 'accept-language': 'de' }, before: [{ path: '/vary', headers: { 'accept-language': 'de' } }], hitPath: true, shows: /lang de$/ },
  { name: 'a Vary variant not stored', path: '/vary', headers: { 'accept-language': 'fr' }, hitPath: false, shows: /fwd=vary-miss[\s\S]*lang fr$/ },
  { name: 'a compressible body, no Accept-Encoding', path: '/json', before: [{ path: '/json' }], hitPath: true, shows: /; hit;[\s\S]*vary: Accept-Encoding\r\n/ },
  { name: 'a compressible body, Accept-Encoding: identity', path: '/json', headers: { 'accept-encoding': 'identity' }, hitPath: true, shows: /; hit;/ },
  { name: 'a compressible body, Accept-Encoding: gzip', path: '/json', headers: { 'accept-encoding': 'gzip' }, hitPath: false, shows: /content-encoding: gzip/ },
  { name: 'a non-ASCII field value', path: '/latin', before: [{ path: '/latin' }], hitPath: true, shows: /x-name: caf/ },
  { name: 'the client\'s If-None-Match (304)', path: '/etag', headers: { 'if-none-match': '"v1"' }, before: [{ path: '/etag' }], hitPath: false, shows: /^HTTP\/1\.1 304 / },
  { name: 'the client\'s If-Modified-Since (304)', path: '/etag', headers: { 'if-modified-since': 'Mon, 07 Dec 2026 11:00:00 GMT' }, hitPath: false, shows: /^HTTP\/1\.1 304 / },
  { name: 'an ETag that does not match (200)', path: '/etag', headers: { 'if-none-match': '"v0"' }, hitPath: true, shows: /^HTTP\/1\.1 200 [\s\S]*; hit;[\s\S]*tagged$/ },
  { name: 'a Range', path: '/plain', headers: { range: 'bytes=0-4' }, hitPath: false, shows: /^HTTP\/1\.1 206 [\s\S]*\r\n\r\nplain$/ },
  { name: 'HEAD', path: '/plain', method: 'HEAD', hitPath: false, shows: /; hit;/ },
  { name: 'Authorization, on an answer marked public', path: '/plain', headers: { authorization: 'Bearer x' }, hitPath: true, shows: /; hit;/ },
  { name: 'Authorization, on an answer not marked public', path: '/unshared', headers: { authorization: 'Bearer x' }, before: [{ path: '/unshared' }], hitPath: false, shows: /fwd=uri-miss/ },
  { name: 'Cache-Control: no-cache', path: '/plain', headers: { 'cache-control': 'no-cache' }, hitPath: false, shows: /fwd=/ },
  { name: 'a body over one cork piece', path: '/big', before: [{ path: '/big' }], hitPath: false, shows: /; hit;[\s\S]*x{20000}$/ },
  { name: 'a stored 404', path: '/gone', before: [{ path: '/gone' }], hitPath: false, shows: /^HTTP\/1\.1 404 [\s\S]*; hit;/ },
  { name: 'a private answer (never stored)', path: '/private', before: [{ path: '/private' }], hitPath: false, shows: /detail=/ },
  { name: 'a dotfile (refused by a filter)', path: '/.env', hitPath: false, shows: /^HTTP\/1\.1 404 / },
  { name: 'over TLS: the listener adds HSTS', path: '/plain', tls: true, before: [{ path: '/plain' }], hitPath: true, shows: /; hit;[\s\S]*strict-transport-security: max-age=/ },
  { name: 'over TLS: the route edits for https (HSTS from the strict preset)', path: '/edited/plain', tls: true, before: [{ path: '/edited/plain' }], hitPath: true, shows: /; hit;[\s\S]*strict-transport-security: [\s\S]*x-edited: 1/ },
  { name: 'the entry a TLS client filled, reached over plain HTTP (X-Forwarded-Proto): no listener HSTS', path: '/plain', headers: { 'x-forwarded-proto': 'https' }, hitPath: true, shows: /^(?![\s\S]*strict-transport-security)[\s\S]*; hit;/ },
  { name: 'the same entry over plain HTTP again', path: '/edited/plain', hitPath: true, shows: /^(?![\s\S]*strict-transport-security)[\s\S]*; hit;/ },
  { name: 'a hit on an entry just stored', path: '/aged', before: [{ path: '/aged' }], hitPath: true, shows: /\r\nage: [01]\r\n/ },
  { name: 'the same entry two seconds later: its Age', path: '/aged', wait: 2100, hitPath: true, shows: /\r\nage: [23]\r\n/ },
  { name: 'a stale entry', path: '/short', before: [{ path: '/short' }], wait: 2100, hitPath: false, shows: /fwd=stale/ },
];

describe('the hit path gives the pipeline\'s answers', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      for (const b of c.before ?? []) {
        await send(on, 'GET', b.path, b.headers ?? {}, c.tls);
        await send(off, 'GET', b.path, b.headers ?? {}, c.tls);
      }
      if (c.wait !== undefined) await new Promise((r) => setTimeout(r, c.wait));
      const before = (await metrics(on.admin)).get(HIT_PATH) ?? 0;
      const a = await send(on, c.method ?? 'GET', c.path, c.headers ?? {}, c.tls);
      const b = await send(off, c.method ?? 'GET', c.path, c.headers ?? {}, c.tls);
      expect(comparable(a)).toBe(comparable(b));
      expect(a).toMatch(c.shows);
      const after = (await metrics(on.admin)).get(HIT_PATH) ?? 0;
      expect(after - before).toBe(c.hitPath ? 1 : 0);
    });
  }

  test('the same requests, counted the same way; none on the hit path where it is off', async () => {
    const [a, b] = await Promise.all([metrics(on.admin), metrics(off.admin)]);
    expect(b.get(HIT_PATH) ?? 0).toBe(0);
    expect(a.get(HIT_PATH)).toBe(CASES.filter((c) => c.hitPath).length);
    const counted = (m: Map<string, number>): [string, number][] =>
      [...m].filter(([k]) => /^portcullis_(requests_total|cache_requests_total|cache_served_bytes_total|response_body_bytes_total)/.test(k)).sort();
    expect(counted(a).length).toBeGreaterThan(4);
    expect(counted(a)).toEqual(counted(b));
    // The access log: the same lines, what follows the clock aside.
    const logged = (p: Running): Record<string, unknown>[] => p.proxy.output().split('\n')
      .filter((l) => l.startsWith('{') && l.includes('"method"'))
      .map((l) => {
        const { time: _t, id: _i, ms: _m, upstream_ms: _u, ...rest } = JSON.parse(l) as Record<string, unknown>;
        return rest;
      });
    // A line reaches the output a little after its answer and its metrics (a worker's log goes
    // through the primary): wait until both proxies have written as many, then compare them.
    for (const deadline = Date.now() + 5000; logged(on).length !== logged(off).length && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(logged(on).length).toBeGreaterThan(CASES.length);
    expect(logged(on).filter((l) => l['cache'] === 'hit').length).toBeGreaterThan(CASES.filter((c) => c.hitPath).length);
    expect(logged(on)).toEqual(logged(off));
  });
});

describe('a client that pipelines hits and does not read', () => {
  /** 3,000 requests for an 8 kB hit in one write; read nothing for 1.5 s, then all there is. */
  async function pipelined(p: Running): Promise<{ answers: number; closed: boolean }> {
    const socket = net.connect(p.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.pause();
    socket.write('GET /pipelined HTTP/1.1\r\nHost: example.test\r\n\r\n'.repeat(3000));
    await new Promise((r) => setTimeout(r, 1500));
    let data = '';
    let closed = false;
    socket.on('data', (d: Buffer) => { data += d.toString('latin1'); });
    socket.on('close', () => { closed = true; });
    socket.on('error', () => {});
    socket.resume();
    // Until the proxy closes, or nothing came for a second.
    for (let last = -1; !closed && data.length !== last;) {
      last = data.length;
      await new Promise((r) => setTimeout(r, 1000));
    }
    socket.destroy();
    return { answers: (data.match(/HTTP\/1\.1 200 /g) ?? []).length, closed };
  }

  test('answers stop at what the socket holds and the connection is closed, as without the hit path', async () => {
    for (const p of [on, off]) await send(p, 'GET', '/pipelined', {});
    const before = (await metrics(on.admin)).get(HIT_PATH) ?? 0;
    const [a, b] = [await pipelined(on), await pipelined(off)];
    // Without backpressure the hit path answered all 3,000 (24 MB held for a client reading nothing).
    expect(b.answers).toBeLessThan(3000);
    expect(b.closed).toBe(true);
    expect(a.answers).toBeLessThan(3000);
    expect(a.closed).toBe(true);
    // What the sockets hold (the client's receive and the proxy's send buffer): 10 to 18 answers
    // of 8 kB on this machine, the same on the session 9 build (5 runs of each, session 10).
    expect(a.answers).toBeGreaterThanOrEqual(5);
    expect((await metrics(on.admin)).get(HIT_PATH)! - before).toBeGreaterThan(10);
  });
});

describe('pipelining (docs/limits.md)', () => {
  test('a hit pipelined after a hit with Connection: close, in the same read, is answered too and the connection stays open, on both paths', async () => {
    for (const p of [on, off]) await send(p, 'GET', '/plain', {});
    const bytes = 'GET /plain HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\nGET /plain HTTP/1.1\r\nHost: example.test\r\n\r\n';
    const [a, b] = [await rawRequest(on.port, bytes, 1500), await rawRequest(off.port, bytes, 1500)];
    for (const r of [a, b]) {
      expect((r.data.match(/HTTP\/1\.1 200 /g) ?? []).length).toBe(2);
      expect(r.closed).toBe(false);
    }
    expect(comparable(a.data)).toBe(comparable(b.data));
  });

  test('a hit, a miss, a hit in one write: the miss is pending when the last arrives, so uWS closes the connection and the first answer goes with it, on both paths', async () => {
    for (const p of [on, off]) await send(p, 'GET', '/plain', {});
    const bytes = 'GET /plain HTTP/1.1\r\nHost: example.test\r\n\r\n'
      + 'GET /plain?pipelined-miss HTTP/1.1\r\nHost: example.test\r\n\r\n'
      + 'GET /plain HTTP/1.1\r\nHost: example.test\r\n\r\n';
    const [a, b] = [await rawRequest(on.port, bytes, 5000), await rawRequest(off.port, bytes, 5000)];
    for (const r of [a, b]) {
      expect(r.closed).toBe(true);
      expect(r.data).toBe('');
    }
  });
});

describe('a reload', () => {
  const edited = (value: string) => ({
    upstreams: { app: { targets: [origin.url] } },
    routes: [{ path: '/', upstream: 'app' }, { path: '/edited/', upstream: 'app', headers: { response: { set: { 'x-edited': value } } } }],
    cache: { enabled: true },
    compression: { enabled: true },
    trusted_proxies: ['127.0.0.1/32'],
  });
  const reloads = (p: Running): number => (p.proxy.output().match(/reload \([^)]*\): config generation/g) ?? []).length;
  async function reload(p: Running, value: string): Promise<void> {
    const before = reloads(p);
    p.proxy.rewrite({ ...edited(value), listen: [`127.0.0.1:${p.port}`], admin: { listen: `127.0.0.1:${p.admin}` } });
    expect((await admin(p.admin, 'POST', '/reload')).status).toBe(200);
    const deadline = Date.now() + 10_000;
    while (reloads(p) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(reloads(p)).toBe(before + 1);
  }
  const ageOf = (answer: string): string => /\r\nage: (\d+)/.exec(answer)?.[1] ?? '';

  test('changes the head of the next hit (the route\'s edits), within the same Age second too', async () => {
    // A head is rebuilt when the entry's Age changes anyway: the reload must show in a hit of the
    // same Age as the hit before it. Tried until a reload fits between two hits in one second.
    let sameSecond = 0;
    for (let attempt = 2; attempt < 8 && sameSecond === 0; attempt++) {
      const first = await send(on, 'GET', '/edited/plain', {});
      expect(first).toMatch(/; hit;/);
      await reload(on, String(attempt));
      const next = await send(on, 'GET', '/edited/plain', {});
      expect(next).toMatch(new RegExp(`; hit;[\\s\\S]*x-edited: ${attempt}\r\n`));
      if (ageOf(next) === ageOf(first)) sameSecond++;
    }
    expect(sameSecond).toBe(1);
    await reload(off, /x-edited: (\d+)/.exec(await send(on, 'GET', '/edited/plain', {}))![1]!);
    const a = await send(on, 'GET', '/edited/plain', {});
    const b = await send(off, 'GET', '/edited/plain', {});
    expect(comparable(a)).toBe(comparable(b));
  });
});

describe('PORTCULLIS_CACHE_HIT_PATH', () => {
  test('a value that is not a switch is refused at start', async () => {
    await expect(startProxy({ cache: { enabled: true } }, { env: { PORTCULLIS_CACHE_HIT_PATH: 'sometimes' } }))
      .rejects.toThrow(/PORTCULLIS_CACHE_HIT_PATH[\s\S]*expected on, off, 1 or 0/);
  });
});
