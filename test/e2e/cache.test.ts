// The shared cache end to end: real proxy (2 workers sharing one cache), real origin that
// counts what reaches it. What is stored and what never is (private answers above all),
// freshness and expiry, revalidation with 304, the client's conditional requests, HEAD,
// invalidation by unsafe methods, Vary, size limits, eviction, and compressed variants
// made once and served from the cache.
import http from 'node:http';
import zlib from 'node:zlib';
import { ZSTD, unzstd } from '../helpers/zstd.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import net from 'node:net';
import { rssOf, startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request, type Reply } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';


/** Per-path origin behaviour: headers (and optional status/body) for each request. */
type Behaviour = (req: { method: string; headers: Record<string, string | string[] | undefined>; n: number }) => {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Send the head and part of the body, then destroy the socket. */
  die?: boolean;
};

const behaviours = new Map<string, Behaviour>();
const counts = new Map<string, number>();
let origin: Origin;
let proxy: RunningProxy;

function json(size: number, seed = 0): string {
  let s = '[';
  for (let i = 0; s.length < size; i++) s += `{"id":${i + seed},"name":"item ${i}","tags":["a","b"]},`;
  return `${s.slice(0, size - 1)}]`;
}

/** Registers a path's behaviour and returns a function counting the origin's requests for it. */
function on(path: string, b: Behaviour): () => number {
  behaviours.set(path, b);
  return () => counts.get(path) ?? 0;
}

function get(path: string, headers: Record<string, string> = {}, method = 'GET', port = proxy.port): Promise<Reply> {
  return request(port, { path, headers, method });
}

beforeAll(async () => {
  origin = await startOrigin((req, res, body) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    const n = (counts.get(url) ?? 0) + 1;
    counts.set(url, n);
    const b = behaviours.get(url) ?? behaviours.get(path);
    if (b === undefined) { res.writeHead(404); res.end(); return; }
    const out = b({ method: req.method ?? 'GET', headers: req.headers, n });
    const payload = out.body ?? `body ${url} #${n} ${body.length}`;
    const status = out.status ?? 200;
    if (out.die) {
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(payload) + 1000), ...out.headers });
      res.write(payload);
      setTimeout(() => res.destroy(), 20);
      return;
    }
    const bodyless = status === 304 || status === 204 || req.method === 'HEAD';
    const chunked = out.headers?.['transfer-encoding'] !== undefined;
    res.writeHead(status, { ...(bodyless || chunked ? {} : { 'content-length': String(Buffer.byteLength(payload)) }), ...out.headers });
    res.end(bodyless ? undefined : payload);
  });
  proxy = await startProxy({
    upstreams: { app: { targets: [origin.url] } },
    cache: { enabled: true },
    access_log: true,
  }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

describe('what is stored', () => {
  test('a response with max-age is fetched once, then answered from the cache by every worker', async () => {
    const seen = on('/fresh', () => ({ headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain', etag: '"f1"' } }));
    const first = await get('/fresh');
    expect(first.headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    // Fresh connections each time: the kernel spreads them over both workers.
    for (let i = 0; i < 12; i++) {
      const r = await get('/fresh');
      expect(r.status).toBe(200);
      expect(r.text).toBe(first.text);
      expect(r.headers['content-type']).toBe('text/plain');
      expect(r.headers['etag']).toBe('"f1"');
      expect(r.headers['cache-status']).toMatch(/^portcullis; hit; ttl=(59|60)$/);
      expect(r.headers['age']).toMatch(/^[01]$/);
    }
    expect(seen()).toBe(1);
  });

  test.each([
    ['no Cache-Control', {}],
    ['private', { 'cache-control': 'private, max-age=60' }],
    ['private with a field list', { 'cache-control': 'private="x-user", max-age=60' }],
    ['no-store', { 'cache-control': 'no-store, max-age=60' }],
    ['Set-Cookie', { 'cache-control': 'max-age=60', 'set-cookie': 'sid=secret' }],
    ['Vary: *', { 'cache-control': 'max-age=60', vary: '*' }],
    ['max-age=0 without a validator', { 'cache-control': 'max-age=0' }],
    ['Expires in the past', { expires: 'Thu, 01 Jan 1970 00:00:00 GMT' }],
  ])('not stored: %s', async (name, headers) => {
    const path = `/never-${name.replace(/\W+/g, '-')}`;
    const seen = on(path, () => ({ headers }));
    const a = await get(path);
    const b = await get(path);
    expect(a.text).not.toBe(b.text);
    expect(b.headers['cache-status']).toMatch(/^portcullis; fwd=uri-miss; detail=/);
    expect(seen()).toBe(2);
  });

  test.each([500, 502, 201, 302])('status %i is stored when it has explicit freshness (RFC 9111 §3: any final status)', async (status) => {
    const path = `/status-${status}`;
    const seen = on(path, () => ({ status, headers: { 'cache-control': 'max-age=60', ...(status === 302 ? { location: '/x' } : {}) } }));
    await get(path);
    const b = await get(path);
    expect(b.status).toBe(status);
    expect(b.headers['cache-status']).toMatch(/^portcullis; hit; ttl=/);
    expect(seen()).toBe(1);
  });

  test.each([500, 302, 201, 403])('status %i without explicit freshness is not stored (not heuristically cacheable)', async (status) => {
    const path = `/status-plain-${status}`;
    const seen = on(path, () => ({ status, headers: { 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT', ...(status === 302 ? { location: '/x' } : {}) } }));
    await get(path);
    const b = await get(path);
    expect(b.status).toBe(status);
    expect(b.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=no-freshness');
    expect(seen()).toBe(2);
  });

  test('404 with max-age is stored (negative caching the origin asked for)', async () => {
    const seen = on('/gone', () => ({ status: 404, headers: { 'cache-control': 'max-age=60' } }));
    await get('/gone');
    const b = await get('/gone');
    expect(b.status).toBe(404);
    expect(b.headers['cache-status']).toMatch(/hit/);
    expect(seen()).toBe(1);
  });

  test('a personal answer to a request with a cookie is never handed to the next visitor', async () => {
    // The origin forgot Cache-Control: private but set max-age: the cookie'd request's answer is not shared.
    const seen = on('/me', (r) => ({ headers: { 'cache-control': 'max-age=60' }, body: `hello ${String(r.headers['cookie'] ?? 'anonymous')}` }));
    const alice = await get('/me', { cookie: 'user=alice' });
    expect(alice.text).toBe('hello user=alice');
    expect(alice.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=cookie');
    const anon = await get('/me');
    expect(anon.text).toBe('hello anonymous');
    expect(seen()).toBe(2);
  });

  test('Authorization: stored only when the answer is marked public, and then shared', async () => {
    const seenPrivate = on('/auth-plain', (r) => ({ headers: { 'cache-control': 'max-age=60' }, body: `for ${String(r.headers['authorization'])}` }));
    await get('/auth-plain', { authorization: 'Bearer a' });
    const other = await get('/auth-plain', { authorization: 'Bearer b' });
    expect(other.text).toBe('for Bearer b');
    expect(seenPrivate()).toBe(2);

    const seenPublic = on('/auth-public', () => ({ headers: { 'cache-control': 'public, max-age=60' }, body: 'the same for everyone' }));
    await get('/auth-public', { authorization: 'Bearer a' });
    const b = await get('/auth-public', { authorization: 'Bearer b' });
    const anon = await get('/auth-public');
    expect(b.headers['cache-status']).toMatch(/hit/);
    expect(anon.text).toBe('the same for everyone');
    expect(seenPublic()).toBe(1);
  });

  test('an entry stored without Authorization is not used for a request carrying it', async () => {
    const seen = on('/auth-later', () => ({ headers: { 'cache-control': 'max-age=60' } }));
    await get('/auth-later');
    const withAuth = await get('/auth-later', { authorization: 'Bearer x' });
    expect(withAuth.headers['cache-status']).not.toMatch(/hit/);
    expect(seen()).toBe(2);
  });

  test('the query string is part of the key', async () => {
    const seen = on('/q', () => ({ headers: { 'cache-control': 'max-age=60' } }));
    const a1 = await get('/q?a=1');
    const a2 = await get('/q?a=2');
    const a1again = await get('/q?a=1');
    expect(a1.text).not.toBe(a2.text);
    expect(a1again.text).toBe(a1.text);
    expect(seen()).toBe(0); // counted per full URL
    expect(counts.get('/q?a=1')).toBe(1);
    expect(counts.get('/q?a=2')).toBe(1);
  });

  test('the Host as sent is the key: a port makes another entry (the origin may build links from it)', async () => {
    on('/by-port', (r) => ({ headers: { 'cache-control': 'max-age=60' }, body: `link to http://${String(r.headers['host'])}/` }));
    const a = await get('/by-port', { host: 'example.com:8443' });
    const b = await get('/by-port', { host: 'example.com' });
    const c = await get('/by-port', { host: 'EXAMPLE.COM:8443' });
    expect(a.text).toBe('link to http://example.com:8443/');
    expect(b.text).toBe('link to http://example.com/');
    expect(c.text).toBe(a.text);
    expect(c.headers['cache-status']).toMatch(/hit/);
  });

  test.each(['X-Forwarded-For', 'X-Real-IP', 'Forwarded', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'Via', 'X-Request-Id'])(
    'Vary on a header the proxy rewrites (%s) is not stored', async (name) => {
      const path = `/geo-${name.toLowerCase()}`;
      const seen = on(path, (r) => ({ headers: { 'cache-control': 'public, max-age=60', vary: name }, body: `for ${String(r.headers[name.toLowerCase()])}` }));
      const a = await get(path);
      expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=vary-rewritten');
      await get(path);
      expect(seen()).toBe(2);
    });

  test('Vary: a request without the header and one with it empty are different', async () => {
    on('/vary-empty', (r) => ({ headers: { 'cache-control': 'max-age=60', vary: 'X-User' }, body: `user [${String(r.headers['x-user'])}]` }));
    await get('/vary-empty');
    const empty = await get('/vary-empty', { 'x-user': '' });
    expect(empty.text).toBe('user []');
    const spaced = await get('/vary-empty', { 'x-user': 'a  b' });
    const single = await get('/vary-empty', { 'x-user': 'a b' });
    expect(single.text).toBe('user [a b]');
    expect(spaced.text).toBe('user [a  b]');
  });

  test('If-Match and If-Unmodified-Since go to the upstream: a stored answer cannot judge them', async () => {
    const seen = on('/precond', () => ({ headers: { 'cache-control': 'max-age=60', etag: '"p"' } }));
    await get('/precond');
    const r = await get('/precond', { 'if-match': '"other"' });
    expect(r.headers['cache-status']).toBe('portcullis; fwd=bypass');
    expect(seen()).toBe(2);
  });

  test('the host is part of the key', async () => {
    on('/by-host', (r) => ({ headers: { 'cache-control': 'max-age=60' }, body: `host ${String(r.headers['host'])}` }));
    const a = await get('/by-host', { host: 'a.example' });
    const b = await get('/by-host', { host: 'b.example' });
    const a2 = await get('/by-host', { host: 'a.example' });
    expect(a.text).toBe('host a.example');
    expect(b.text).toBe('host b.example');
    expect(a2.text).toBe('host a.example');
    expect(a2.headers['cache-status']).toMatch(/hit/);
  });

  test('Vary: one entry per Accept-Language value it was stored with', async () => {
    on('/vary', (r) => ({ headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, body: `lang ${String(r.headers['accept-language'])}` }));
    const en = await get('/vary', { 'accept-language': 'en' });
    const fr = await get('/vary', { 'accept-language': 'fr' });
    expect(fr.text).toBe('lang fr');
    expect(fr.headers['cache-status']).toMatch(/fwd=vary-miss/);
    const fr2 = await get('/vary', { 'accept-language': 'fr' });
    expect(fr2.text).toBe('lang fr');
    expect(fr2.headers['cache-status']).toMatch(/hit/);
    expect(en.text).toBe('lang en');
  });

  test('a body over max_entry_bytes passes through and is not stored (known and unknown length)', async () => {
    const big = 'z'.repeat(300 * 1024);
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, size: '4MiB', max_entry_bytes: '256KiB' } });
    try {
      const seen = on('/too-big', () => ({ headers: { 'cache-control': 'max-age=60' }, body: big }));
      const a = await get('/too-big', {}, 'GET', own.port);
      expect(a.body.length).toBe(big.length);
      expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=too-large');
      await get('/too-big', {}, 'GET', own.port);
      expect(seen()).toBe(2);
    } finally {
      await own.stop();
    }
  });

  test('a chunked body that outgrows max_entry_bytes is not announced as stored, and is not', async () => {
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, size: '4MiB', max_entry_bytes: '256KiB' }, access_log: true });
    try {
      const big = 'c'.repeat(300 * 1024);
      const seen = on('/chunked-big', () => ({ headers: { 'cache-control': 'max-age=60', 'transfer-encoding': 'chunked' }, body: big }));
      const a = await get('/chunked-big', {}, 'GET', own.port);
      expect(a.text).toBe(big);
      expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss');
      const b = await get('/chunked-big', {}, 'GET', own.port);
      expect(b.headers['cache-status']).not.toMatch(/hit/);
      expect(seen()).toBe(2);
      const deadline = Date.now() + 5000;
      while (!own.output().includes('"path":"/chunked-big"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(own.output()).toMatch(/"path":"\/chunked-big".*"cache":"miss"/);
      expect(own.output()).not.toMatch(/"path":"\/chunked-big".*"cache":"stored"/);
    } finally {
      await own.stop();
    }
  });

  test('a body the upstream cut short is never stored', async () => {
    const seen = on('/cut', (r) => (r.n === 1 ? { headers: { 'cache-control': 'max-age=60' }, die: true } : { headers: { 'cache-control': 'max-age=60' } }));
    await get('/cut').catch(() => null);
    const b = await get('/cut');
    expect(b.status).toBe(200);
    expect(b.text).toMatch(/#2/);
    expect(seen()).toBe(2);
  });
});

describe('freshness and revalidation', () => {
  test('an expired entry without a validator is fetched again', async () => {
    // max-age=2: Date has whole seconds, so a response can be up to 1 s old on arrival (RFC 9111 §4.2.3).
    const seen = on('/short', () => ({ headers: { 'cache-control': 'max-age=2' } }));
    await get('/short');
    expect((await get('/short')).headers['cache-status']).toMatch(/hit/);
    await new Promise((r) => setTimeout(r, 2100));
    const late = await get('/short');
    expect(late.headers['cache-status']).toMatch(/fwd=stale/);
    expect(seen()).toBe(2);
  });

  test("the upstream's Age counts: max-age=100 with Age: 100 is already stale", async () => {
    const seen = on('/aged', () => ({ headers: { 'cache-control': 'max-age=100', age: '100' } }));
    await get('/aged');
    await get('/aged');
    expect(seen()).toBe(2);
  });

  test('a stale entry with an ETag is revalidated: a 304 refreshes it and the client gets the stored body', async () => {
    const seen = on('/etag', (r) => (r.headers['if-none-match'] === '"v1"'
      ? { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=60', 'x-refreshed': String(r.n) } }
      : { headers: { etag: '"v1"', 'cache-control': 'max-age=1', 'content-type': 'text/plain', 'x-refreshed': 'no' }, body: 'original body' }));
    await get('/etag');
    await new Promise((r) => setTimeout(r, 2100));
    const revalidated = await get('/etag');
    expect(revalidated.status).toBe(200);
    expect(revalidated.text).toBe('original body');
    expect(revalidated.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    expect(revalidated.headers['x-refreshed']).toBe('2'); // headers from the 304 replace the stored ones
    expect(revalidated.headers['content-type']).toBe('text/plain');
    expect(origin.seen.filter((s) => s.url === '/etag')[1]!.headers['if-none-match']).toBe('"v1"');
    const hit = await get('/etag');
    expect(hit.headers['cache-status']).toMatch(/hit/);
    expect(hit.text).toBe('original body');
    expect(hit.headers['x-refreshed']).toBe('2');
    expect(seen()).toBe(2);
  });

  test('a 304 carrying Set-Cookie: this client gets the cookie, the entry is no longer kept', async () => {
    const seen = on('/etag-cookie', (r) => (r.headers['if-none-match'] === '"k"'
      ? { status: 304, headers: { etag: '"k"', 'cache-control': 'max-age=60', 'set-cookie': `sid=${r.n}` } }
      : { headers: { etag: '"k"', 'cache-control': 'max-age=1' }, body: 'shared body' }));
    await get('/etag-cookie');
    await new Promise((r) => setTimeout(r, 2100));
    const withCookie = await get('/etag-cookie');
    expect(withCookie.text).toBe('shared body');
    expect(withCookie.headers['set-cookie']).toEqual(['sid=2']);
    const next = await get('/etag-cookie');
    expect(next.headers['set-cookie']).toBeUndefined();
    expect(next.headers['cache-status']).not.toMatch(/hit/);
    expect(seen()).toBe(3);
  });

  test('a 304 that adds Vary re-keys the entry: another value is a miss', async () => {
    const seen = on('/vary304', (r) => (r.headers['if-none-match'] === '"v"'
      ? { status: 304, headers: { etag: '"v"', 'cache-control': 'max-age=60', vary: 'X-User' } }
      : { headers: { etag: '"v"', 'cache-control': 'max-age=1' }, body: `for ${String(r.headers['x-user'])}` }));
    await get('/vary304', { 'x-user': 'alice' });
    await new Promise((r) => setTimeout(r, 2100));
    const alice = await get('/vary304', { 'x-user': 'alice' });
    expect(alice.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    const bob = await get('/vary304', { 'x-user': 'bob' });
    expect(bob.headers['cache-status']).toMatch(/vary-miss/);
    expect(bob.text).toBe('for bob');
    expect(seen()).toBe(3);
  });

  test('a HEAD that revalidates a stale entry keeps it; a 304 cannot relabel its encoding', async () => {
    const seen = on('/head-reval', (r) => (r.headers['if-none-match'] === '"h"'
      ? { status: 304, headers: { etag: '"h"', 'cache-control': 'max-age=60', 'content-encoding': 'gzip' } }
      : { headers: { etag: '"h"', 'cache-control': 'max-age=1' }, body: 'plain text body' }));
    await get('/head-reval');
    await new Promise((r) => setTimeout(r, 2100));
    const head = await get('/head-reval', {}, 'HEAD');
    expect(head.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    expect(head.headers['age']).toMatch(/^[01]$/); // Date has whole seconds
    const after = await get('/head-reval');
    expect(after.headers['cache-status']).toMatch(/hit/);
    expect(after.headers['content-encoding']).toBeUndefined();
    expect(after.text).toBe('plain text body');
    expect(seen()).toBe(2);
  });

  test('a stale entry with Last-Modified is revalidated with If-Modified-Since; a 200 replaces it', async () => {
    const lm = 'Wed, 21 Oct 2015 07:28:00 GMT';
    const seen = on('/lm', (r) => ({ headers: { 'last-modified': lm, 'cache-control': r.n === 1 ? 'max-age=1' : 'max-age=60' }, body: `version ${r.n}` }));
    await get('/lm');
    await new Promise((r) => setTimeout(r, 2100));
    const second = await get('/lm');
    expect(origin.seen.filter((s) => s.url === '/lm')[1]!.headers['if-modified-since']).toBe(lm);
    expect(second.text).toBe('version 2');
    expect(second.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=200; stored');
    expect((await get('/lm')).text).toBe('version 2');
    expect(seen()).toBe(2);
  });

  test('no-cache: stored, but revalidated before every use', async () => {
    const seen = on('/nocache', (r) => (r.headers['if-none-match'] === '"n"'
      ? { status: 304, headers: { etag: '"n"', 'cache-control': 'no-cache' } }
      : { headers: { etag: '"n"', 'cache-control': 'no-cache' }, body: 'kept' }));
    await get('/nocache');
    const a = await get('/nocache');
    const b = await get('/nocache');
    expect(a.text).toBe('kept');
    expect(b.text).toBe('kept');
    expect(a.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    expect(seen()).toBe(3);
  });
});

describe('answers from the cache', () => {
  test("the client's If-None-Match gets a 304 from the cache", async () => {
    const seen = on('/cond', () => ({ headers: { 'cache-control': 'max-age=60', etag: '"c1"', 'content-type': 'text/plain' } }));
    await get('/cond');
    const r = await get('/cond', { 'if-none-match': '"other", "c1"' });
    expect(r.status).toBe(304);
    expect(r.body.length).toBe(0);
    expect(r.headers['etag']).toBe('"c1"');
    expect(r.headers['content-type']).toBeUndefined();
    const miss = await get('/cond', { 'if-none-match': '"other"' });
    expect(miss.status).toBe(200);
    expect(seen()).toBe(1);
  });

  test("the client's If-Modified-Since gets a 304 from the cache", async () => {
    const lm = 'Wed, 21 Oct 2015 07:28:00 GMT';
    on('/cond-lm', () => ({ headers: { 'cache-control': 'max-age=60', 'last-modified': lm } }));
    await get('/cond-lm');
    expect((await get('/cond-lm', { 'if-modified-since': lm })).status).toBe(304);
    expect((await get('/cond-lm', { 'if-modified-since': 'Tue, 20 Oct 2015 07:28:00 GMT' })).status).toBe(200);
  });

  test('HEAD is answered from a stored GET: the length, no body, keep-alive intact', async () => {
    const seen = on('/head', () => ({ headers: { 'cache-control': 'max-age=60' }, body: 'twelve bytes' }));
    await get('/head');
    // Pipelined: both answers come from the cache synchronously (uWS closes pipelined async ones).
    const host = `127.0.0.1:${proxy.port}`; // the Host node's client sent when it was stored
    const raw = await rawRequest(proxy.port, `HEAD /head HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /head HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const text = raw.data;
    expect(text.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    expect(text).toMatch(/content-length: 12\r\n/i);
    expect(text.endsWith('twelve bytes')).toBe(true);
    expect(text.split('twelve bytes').length).toBe(2); // the HEAD answer carried none
    expect(seen()).toBe(1);
  });

  test('an empty 200 is stored and answered with Content-Length: 0', async () => {
    const seen = on('/empty', () => ({ headers: { 'cache-control': 'max-age=60' }, body: '' }));
    await get('/empty');
    const r = await get('/empty');
    expect(r.headers['cache-status']).toMatch(/hit/);
    expect(r.headers['content-length']).toBe('0');
    expect(r.body.length).toBe(0);
    expect(seen()).toBe(1);
  });

  test('slow readers of a large hit hold one piece each, not the body', async () => {
    const big = json(6 * 1024 * 1024, 3);
    on('/slow-big', () => ({ headers: { 'cache-control': 'max-age=60', 'content-type': 'application/json' }, body: big }));
    expect((await get('/slow-big')).body.length).toBe(big.length);
    const before = await rssOf(proxy.child.pid!);
    // 60 clients that read nothing: the kernel buffers fill, the rest waits in the proxy.
    const sockets = await Promise.all(Array.from({ length: 60 }, () => new Promise<net.Socket>((resolve) => {
      const s = net.connect({ port: proxy.port, host: '127.0.0.1' }, () => {
        s.write(`GET /slow-big HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\n\r\n`);
        s.pause();
        resolve(s);
      });
    })));
    await new Promise((r) => setTimeout(r, 1500));
    const during = await rssOf(proxy.child.pid!);
    for (const s of sockets) s.destroy();
    // A copy of the body per client would be 60 × 6 MiB = 360 MiB.
    expect(during - before).toBeLessThan(100 * 1024 * 1024);
    // And the body still arrives whole for a client that reads.
    expect((await get('/slow-big')).text).toBe(big);
  });

  test('a Range request is answered from the stored complete entry', async () => {
    const seen = on('/range', () => ({ headers: { 'cache-control': 'max-age=60' }, body: '0123456789' }));
    await get('/range');
    const r = await get('/range', { range: 'bytes=0-3' });
    expect(r.status).toBe(206);
    expect(r.text).toBe('0123');
    expect(r.headers['content-range']).toBe('bytes 0-3/10');
    expect(r.headers['cache-status']).toMatch(/^portcullis; hit; ttl=/);
    expect(seen()).toBe(1);
  });

  test('a successful POST invalidates the stored GET; a failed one does not', async () => {
    const seen = on('/item', (r) => (r.method === 'POST'
      ? { status: r.headers['x-fail'] ? 500 : 200, body: 'posted' }
      : { headers: { 'cache-control': 'max-age=60' } }));
    await get('/item');
    expect((await get('/item')).headers['cache-status']).toMatch(/hit/);
    const failed = await request(proxy.port, { path: '/item', method: 'POST', headers: { 'x-fail': '1' }, body: 'x' });
    expect(failed.headers['cache-status']).toBe('portcullis; fwd=method');
    expect((await get('/item')).headers['cache-status']).toMatch(/hit/);
    await request(proxy.port, { path: '/item', method: 'POST', body: 'x' });
    const after = await get('/item');
    expect(after.headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    expect(seen()).toBe(4);
  });
});

describe('forwarded identity', () => {
  test('scheme and host forwarded by a trusted proxy are part of the key', async () => {
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true }, trusted_proxies: ['127.0.0.2'] });
    try {
      // An http→https redirect, as an origin behind a TLS terminator sends it: cacheable (301).
      on('/tp', (r) => (r.headers['x-forwarded-proto'] === 'http'
        ? { status: 301, headers: { 'cache-control': 'max-age=60', location: 'https://www.example.com/tp' }, body: 'moved' }
        : { headers: { 'cache-control': 'max-age=60' }, body: `page for ${String(r.headers['x-forwarded-host'])}` }));
      const viaTrusted = (headers: Record<string, string>): Promise<Reply> => new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: own.port, path: '/tp', localAddress: '127.0.0.2', headers, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => { const body = Buffer.concat(chunks); resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString() }); });
        });
        req.on('error', reject);
        req.end();
      });
      const plain = await viaTrusted({ 'x-forwarded-proto': 'http', 'x-forwarded-host': 'www.example.com' });
      expect(plain.status).toBe(301);
      const tls = await viaTrusted({ 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.example.com' });
      expect(tls.status).toBe(200);
      expect(tls.text).toBe('page for www.example.com');
      const other = await viaTrusted({ 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' });
      expect(other.text).toBe('page for evil.example');
    } finally {
      await own.stop();
    }
  });
});

describe('configuration', () => {
  test('off by default; a route opts in with cache: true', async () => {
    const own = await startProxy({
      upstreams: { app: { targets: [origin.url] } },
      routes: [{ path: '/static/', upstream: 'app', cache: true }, { path: '/', upstream: 'app' }],
    });
    try {
      const seenStatic = on('/static/app.js', () => ({ headers: { 'cache-control': 'max-age=60' } }));
      const seenApi = on('/api/x', () => ({ headers: { 'cache-control': 'max-age=60' } }));
      for (let i = 0; i < 3; i++) {
        await get('/static/app.js', {}, 'GET', own.port);
        const api = await get('/api/x', {}, 'GET', own.port);
        expect(api.headers['cache-status']).toBeUndefined();
      }
      expect(seenStatic()).toBe(1);
      expect(seenApi()).toBe(3);
    } finally {
      await own.stop();
    }
  });

  test('eviction: a cache much smaller than the traffic keeps serving correct bodies', async () => {
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, size: '1MiB', max_entry_bytes: '256KiB' } }, { workers: 2 });
    try {
      const bodies = new Map<string, string>();
      for (let i = 0; i < 24; i++) {
        const path = `/evict-${i}`;
        const body = json(100 * 1024 + i * 97, i);
        bodies.set(path, body);
        on(path, () => ({ headers: { 'cache-control': 'max-age=60' }, body }));
      }
      for (let round = 0; round < 3; round++) {
        await Promise.all([...bodies].map(async ([path, body]) => {
          const r = await get(path, {}, 'GET', own.port);
          expect(r.text).toBe(body);
        }));
      }
      // 24 bodies of ~100 KiB do not fit in 1 MiB: at most 10 are still there, and some are
      // (HEAD is answered from a stored GET and stores nothing itself).
      const heads = await Promise.all([...bodies.keys()].map((path) => get(path, {}, 'HEAD', own.port)));
      const hits = heads.filter((h) => /^portcullis; hit; ttl=\d+$/.test(String(h.headers['cache-status']))).length;
      expect(hits).toBeGreaterThanOrEqual(1);
      expect(hits).toBeLessThanOrEqual(10);
      // An evicted body is fetched and stored again, and the next request is its hit.
      const evicted = [...bodies.keys()].find((_path, i) => !/^portcullis; hit/.test(String(heads[i]!.headers['cache-status'])))!;
      const again = await get(evicted, {}, 'GET', own.port);
      expect(again.headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
      const hit = await get(evicted, {}, 'GET', own.port);
      expect(hit.headers['cache-status']).toMatch(/^portcullis; hit; ttl=\d+$/);
      expect(hit.text).toBe(bodies.get(evicted));
    } finally {
      await own.stop();
    }
  });
});

describe('compressed variants', () => {
  let cproxy: RunningProxy;
  beforeAll(async () => {
    cproxy = await startProxy({
      upstreams: { app: { targets: [origin.url] } },
      cache: { enabled: true },
      compression: { enabled: true },
      access_log: true,
    }, { workers: 1 });
  });
  afterAll(async () => { await cproxy?.stop(); });

  /** The access log lines for a path, once the writer has flushed them (it batches each second). */
  async function logLines(path: string, count: number): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const lines = cproxy.output().split('\n').filter((l) => l.includes(`"path":"${path}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
      if (lines.length >= count || Date.now() > deadline) return lines;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test.each([
    ['gzip', 8 * 1024, (b: Buffer) => zlib.gunzipSync(b)],
    ['br', 8 * 1024, (b: Buffer) => zlib.brotliDecompressSync(b)],
    ['gzip', 400 * 1024, (b: Buffer) => zlib.gunzipSync(b)],
    ['br', 400 * 1024, (b: Buffer) => zlib.brotliDecompressSync(b)],
    // zstd has no off-thread streaming compressor, so a miss never gets it for a large body; a cached one can.
    ...(ZSTD ? [['zstd', 8 * 1024, unzstd], ['zstd', 400 * 1024, unzstd]] as const : []),
  ])('%s of a %i B body: compressed once, then served from the cache without recompressing', async (enc, size, decode) => {
    const path = `/variant-${enc}-${size}`;
    const body = json(size, size);
    const seen = on(path, () => ({ headers: { 'cache-control': 'max-age=60', 'content-type': 'application/json', etag: '"j"' }, body }));
    await request(cproxy.port, { path }); // stored (identity)
    const replies: Reply[] = [];
    for (let i = 0; i < 3; i++) replies.push(await request(cproxy.port, { path, headers: { 'accept-encoding': enc } }));
    for (const r of replies) {
      expect(r.headers['content-encoding']).toBe(enc);
      expect(r.headers['vary']).toBe('Accept-Encoding');
      expect(r.headers['etag']).toBe('W/"j"');
      expect(decode(r.body).toString()).toBe(body);
      expect(r.body.length).toBeLessThan(body.length / 2);
    }
    const identity = await request(cproxy.port, { path });
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.text).toBe(body);
    expect(seen()).toBe(1);
    const lines = await logLines(path, 5);
    expect(lines.map((l) => [l['cache'], l['cache_variant']])).toEqual([
      ['stored', null], ['hit', 'made'], ['hit', 'stored'], ['hit', 'stored'], ['hit', null],
    ]);
  });

  test('a Range from a client that accepts gzip: the identity bytes, never labelled as compressed', async () => {
    const body = json(8000, 7);
    on('/range-gz', () => ({ headers: { 'cache-control': 'max-age=60', 'content-type': 'application/json', etag: '"g"' }, body }));
    await request(cproxy.port, { path: '/range-gz' });
    const r = await request(cproxy.port, { path: '/range-gz', headers: { 'accept-encoding': 'gzip', range: 'bytes=100-199' } });
    expect(r.status).toBe(206);
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.headers['etag']).toBe('"g"');
    expect(r.text).toBe(body.slice(100, 200));
    const none = await request(cproxy.port, { path: '/range-gz', headers: { 'accept-encoding': 'gzip', range: 'bytes=9000-' } });
    expect(none.status).toBe(416);
    expect(none.headers['content-encoding']).toBeUndefined();
  });

  test('an event stream and an image are never compressed from the cache', async () => {
    on('/img', () => ({ headers: { 'cache-control': 'max-age=60', 'content-type': 'image/png' }, body: json(8000) }));
    await request(cproxy.port, { path: '/img' });
    const r = await request(cproxy.port, { path: '/img', headers: { 'accept-encoding': 'gzip' } });
    expect(r.headers['cache-status']).toMatch(/hit/);
    expect(r.headers['content-encoding']).toBeUndefined();
  });

  test('a 304 from the cache to a compressed client carries Vary and the weak ETag', async () => {
    on('/v304', () => ({ headers: { 'cache-control': 'max-age=60', 'content-type': 'text/html', etag: '"h"' }, body: json(5000) }));
    await request(cproxy.port, { path: '/v304' });
    const r = await request(cproxy.port, { path: '/v304', headers: { 'accept-encoding': 'gzip', 'if-none-match': 'W/"h"' } });
    expect(r.status).toBe(304);
    expect(r.headers['etag']).toBe('W/"h"');
    expect(r.headers['vary']).toBe('Accept-Encoding');
  });
});
