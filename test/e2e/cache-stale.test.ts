// Serving stale (RFC 5861, RFC 9111 §4.2.4) and the client's request directives (RFC 9111
// §5.2.1), end to end: real proxy (2 workers sharing the cache), real origin. Entries are made
// stale at once by the origin's Age header (max-age=60 with Age: 100 is 40 s stale on arrival),
// so no test waits for a clock.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startCacheOrigin, gate, type CacheOrigin } from '../helpers/cache-origin.js';
import { startRawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request, type Reply } from '../helpers/client.js';

let origin: CacheOrigin;
let proxy: RunningProxy;

function get(path: string, headers: Record<string, string> = {}, port = proxy.port): Promise<Reply> {
  return request(port, { path, headers });
}

beforeAll(async () => {
  origin = await startCacheOrigin();
  proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true }, access_log: true }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

/** Stored already 40 s stale: max-age=60 with Age: 100, plus `extra` directives. */
const staleOnArrival = (extra: string, more: Record<string, string> = {}): Record<string, string> =>
  ({ 'cache-control': `max-age=60, ${extra}`, age: '100', etag: '"s1"', ...more });

describe('stale-while-revalidate', () => {
  test('a stale entry inside the window is served at once, and refreshed by exactly one background request', async () => {
    const refresh = gate();
    const seen = origin.on('/swr', (r) => (r.n === 1
      ? { headers: staleOnArrival('stale-while-revalidate=3600', { 'x-version': '1' }), body: 'old body' }
      // The refresh: answered only when the test says so, so the clients cannot have waited for it.
      : { after: refresh.promise, status: 304, headers: { 'cache-control': 'max-age=60', etag: '"s1"', 'x-version': '2' } }));
    await get('/swr');
    // Twenty clients on fresh connections (both workers) while the refresh is held at the origin.
    const replies = await Promise.all(Array.from({ length: 20 }, () => get('/swr')));
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.text).toBe('old body');
      expect(r.headers['x-version']).toBe('1');
      expect(r.headers['cache-status']).toMatch(/^portcullis; hit; ttl=-\d+; detail=stale-while-revalidate$/);
      expect(Number(r.headers['age'])).toBeGreaterThanOrEqual(100);
    }
    // One refresh, conditional, for all of them (across both workers).
    await origin.waitFor('/swr', 2);
    expect(origin.seen('/swr')[1]!.headers['if-none-match']).toBe('"s1"');
    refresh.open();
    // Once it is back, the entry is fresh with the refreshed headers.
    let after: Reply;
    const deadline = Date.now() + 10_000;
    do { after = await get('/swr'); } while (after.headers['x-version'] !== '2' && Date.now() < deadline);
    expect(after.text).toBe('old body');
    expect(after.headers['cache-status']).toMatch(/^portcullis; hit; ttl=(59|60)$/);
    expect(seen()).toBe(2);
    // The access log says which answers were stale (the writer flushes each second): the twenty,
    // and any of the polling requests above that came before the refresh landed.
    const logDeadline = Date.now() + 5000;
    const staleLines = (): number => proxy.output().split('\n').filter((l) => l.includes('"path":"/swr"') && l.includes('"cache":"stale"')).length;
    while (staleLines() < 20 && Date.now() < logDeadline) await new Promise((r) => setTimeout(r, 100));
    expect(staleLines()).toBeGreaterThanOrEqual(20);
  });

  test('past the window the request waits for the upstream', async () => {
    const seen = origin.on('/swr-past', (r) => ({ headers: r.n === 1 ? staleOnArrival('stale-while-revalidate=10') : { 'cache-control': 'max-age=60' }, body: `v${r.n}` }));
    await get('/swr-past');
    const r = await get('/swr-past');
    expect(r.text).toBe('v2');
    expect(r.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=200; stored');
    expect(seen()).toBe(2);
  });

  test.each(['must-revalidate', 'proxy-revalidate', 'no-cache', 's-maxage=60'])('%s forbids serving it stale', async (directive) => {
    const path = `/swr-forbid-${directive.replace(/\W/g, '')}`;
    const seen = origin.on(path, (r) => ({ headers: r.n === 1 ? staleOnArrival(`stale-while-revalidate=3600, ${directive}`) : { 'cache-control': 'max-age=60' }, body: `v${r.n}` }));
    await get(path);
    const r = await get(path);
    expect(r.text).toBe('v2');
    expect(r.headers['cache-status']).toMatch(/^portcullis; fwd=stale/);
    expect(seen()).toBe(2);
  });

  test("the client's no-cache still goes to the upstream first", async () => {
    const seen = origin.on('/swr-client', (r) => ({ headers: r.n === 1 ? staleOnArrival('stale-while-revalidate=3600') : { 'cache-control': 'max-age=60' }, body: `v${r.n}` }));
    await get('/swr-client');
    const r = await get('/swr-client', { 'cache-control': 'no-cache' });
    expect(r.text).toBe('v2');
    expect(seen()).toBe(2);
  });
});

describe('stale-if-error', () => {
  test.each([500, 502, 503, 504])('a %d from the upstream is answered with the stale entry inside the window', async (status) => {
    const path = `/sie-${status}`;
    const seen = origin.on(path, (r) => (r.n === 1
      ? { headers: staleOnArrival('stale-if-error=3600', { 'content-type': 'text/plain' }), body: 'kept body' }
      : { status, body: 'origin trouble' }));
    await get(path);
    const r = await get(path);
    expect(r.status).toBe(200);
    expect(r.text).toBe('kept body');
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['cache-status']).toBe(`portcullis; fwd=stale; fwd-status=${status}; detail=stale-if-error`);
    expect(seen()).toBe(2);
  });

  test('other errors (a 404, a 501) pass through', async () => {
    origin.on('/sie-404', (r) => (r.n === 1 ? { headers: staleOnArrival('stale-if-error=3600') } : { status: 404, body: 'gone' }));
    await get('/sie-404');
    const r = await get('/sie-404');
    expect(r.status).toBe(404);
    expect(r.text).toBe('gone');
  });

  test('an upstream that cannot be reached (connect refused) is replaced by the stale entry', async () => {
    let live = true;
    const raw = await startRawOrigin((s) => {
      if (!live) { s.destroy(); return; }
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncache-control: max-age=60, stale-if-error=3600\r\nage: 100\r\ncontent-length: 9\r\n\r\nfrom disk'));
    });
    const own = await startProxy({ upstreams: { app: { targets: [raw.url] } }, cache: { enabled: true } });
    try {
      expect((await get('/x', {}, own.port)).text).toBe('from disk');
      live = false; // every later connection is reset before an answer
      const r = await get('/x', {}, own.port);
      expect(r.status).toBe(200);
      expect(r.text).toBe('from disk');
      expect(r.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=502; detail=stale-if-error');
      await raw.close();
      const refused = await get('/x', {}, own.port);
      expect(refused.status).toBe(200);
      expect(refused.text).toBe('from disk');
    } finally {
      await own.stop();
      await raw.close();
    }
  });

  test('past the window the error reaches the client', async () => {
    origin.on('/sie-past', (r) => (r.n === 1 ? { headers: staleOnArrival('stale-if-error=10') } : { status: 503, body: 'down' }));
    await get('/sie-past');
    const r = await get('/sie-past');
    expect(r.status).toBe(503);
    expect(r.text).toBe('down');
  });

  test('without stale-if-error (and cache.stale_if_error off, the default) the error reaches the client', async () => {
    origin.on('/sie-none', (r) => (r.n === 1 ? { headers: staleOnArrival('') } : { status: 503, body: 'down' }));
    await get('/sie-none');
    expect((await get('/sie-none')).status).toBe(503);
  });

  test("the client's own stale-if-error is honoured", async () => {
    origin.on('/sie-request', (r) => (r.n === 1 ? { headers: staleOnArrival(''), body: 'kept' } : { status: 503, body: 'down' }));
    await get('/sie-request');
    const r = await get('/sie-request', { 'cache-control': 'stale-if-error=3600' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('kept');
  });

  describe('cache.stale_if_error', () => {
    let own: RunningProxy;
    beforeAll(async () => {
      own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, stale_if_error: '10m' } }, { workers: 2 });
    });
    afterAll(async () => { await own?.stop(); });

    test('serves a stale entry for an upstream error without any directive', async () => {
      origin.on('/cfg-sie', (r) => (r.n === 1 ? { headers: staleOnArrival(''), body: 'kept' } : { status: 502, body: 'bad gateway' }));
      await get('/cfg-sie', {}, own.port);
      const r = await get('/cfg-sie', {}, own.port);
      expect(r.status).toBe(200);
      expect(r.text).toBe('kept');
    });

    test.each(['must-revalidate', 'proxy-revalidate', 'no-cache', 's-maxage=60'])('but %s forbids it', async (directive) => {
      const path = `/cfg-sie-${directive.replace(/\W/g, '')}`;
      origin.on(path, (r) => (r.n === 1 ? { headers: staleOnArrival(directive), body: 'kept' } : { status: 503, body: 'down' }));
      await get(path, {}, own.port);
      const r = await get(path, {}, own.port);
      expect(r.status).toBe(503);
      expect(r.text).toBe('down');
    });

    test('an entry staler than the window is not served', async () => {
      origin.on('/cfg-sie-old', (r) => (r.n === 1 ? { headers: { 'cache-control': 'max-age=60', age: '3600', etag: '"o"' }, body: 'kept' } : { status: 503, body: 'down' }));
      await get('/cfg-sie-old', {}, own.port);
      expect((await get('/cfg-sie-old', {}, own.port)).status).toBe(503);
    });
  });
});

describe('request directives (RFC 9111 §5.2.1)', () => {
  test('max-age=0 and no-cache revalidate even a fresh entry', async () => {
    const seen = origin.on('/rq-revalidate', (r) => (r.headers['if-none-match'] === '"r"'
      ? { status: 304, headers: { etag: '"r"', 'cache-control': 'max-age=60' } }
      : { headers: { etag: '"r"', 'cache-control': 'max-age=60' }, body: 'fresh body' }));
    await get('/rq-revalidate');
    for (const cc of ['max-age=0', 'no-cache']) {
      const r = await get('/rq-revalidate', { 'cache-control': cc });
      expect(r.text).toBe('fresh body');
      expect(r.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    }
    expect(seen()).toBe(3);
  });

  test('max-age=N refuses an entry older than N; min-fresh=N one fresh for less than N', async () => {
    const seen = origin.on('/rq-age', () => ({ headers: { 'cache-control': 'max-age=600', age: '100' } }));
    await get('/rq-age');
    expect((await get('/rq-age', { 'cache-control': 'max-age=3600' })).headers['cache-status']).toMatch(/hit/);
    expect((await get('/rq-age', { 'cache-control': 'max-age=50' })).headers['cache-status']).toMatch(/fwd=stale/);
    expect((await get('/rq-age', { 'cache-control': 'min-fresh=60' })).headers['cache-status']).toMatch(/hit/);
    expect((await get('/rq-age', { 'cache-control': 'min-fresh=3000' })).headers['cache-status']).toMatch(/fwd=stale/);
    expect(seen()).toBe(3);
  });

  test('max-stale accepts a stale entry without the upstream, unless the response forbids it', async () => {
    const seen = origin.on('/rq-maxstale', () => ({ headers: staleOnArrival('') }));
    await get('/rq-maxstale');
    const r = await get('/rq-maxstale', { 'cache-control': 'max-stale=3600' });
    expect(r.headers['cache-status']).toMatch(/^portcullis; hit; ttl=-\d+; detail=max-stale$/);
    expect((await get('/rq-maxstale', { 'cache-control': 'max-stale' })).headers['cache-status']).toMatch(/detail=max-stale/);
    expect((await get('/rq-maxstale', { 'cache-control': 'max-stale=10' })).headers['cache-status']).toMatch(/fwd=stale/);
    expect(seen()).toBe(2);
    const strict = origin.on('/rq-maxstale-mr', () => ({ headers: staleOnArrival('must-revalidate') }));
    await get('/rq-maxstale-mr');
    expect((await get('/rq-maxstale-mr', { 'cache-control': 'max-stale=3600' })).headers['cache-status']).toMatch(/fwd=stale/);
    expect(strict()).toBe(2);
  });

  test('no-store: the answer to that request is not stored', async () => {
    const seen = origin.on('/rq-nostore', () => ({ headers: { 'cache-control': 'max-age=60' } }));
    const a = await get('/rq-nostore', { 'cache-control': 'no-store' });
    expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=no-store');
    await get('/rq-nostore');
    expect(seen()).toBe(2);
  });

  test('only-if-cached: a stored answer, else 504 without asking the upstream', async () => {
    const seen = origin.on('/rq-oic', () => ({ headers: { 'cache-control': 'max-age=60' }, body: 'cached' }));
    const miss = await get('/rq-oic', { 'cache-control': 'only-if-cached' });
    expect(miss.status).toBe(504);
    expect(miss.headers['x-portcullis-error']).toBe('PC_ERR_NOT_CACHED');
    expect(seen()).toBe(0);
    await get('/rq-oic');
    const hit = await get('/rq-oic', { 'cache-control': 'only-if-cached' });
    expect(hit.status).toBe(200);
    expect(hit.text).toBe('cached');
    const staleOnly = origin.on('/rq-oic-stale', () => ({ headers: staleOnArrival('') }));
    await get('/rq-oic-stale');
    expect((await get('/rq-oic-stale', { 'cache-control': 'only-if-cached' })).status).toBe(504);
    expect(staleOnly()).toBe(1);
  });

  test('a route with client_cache_control: false ignores them', async () => {
    const own = await startProxy({
      upstreams: { app: { targets: [origin.url] } },
      routes: [{ path: '/', upstream: 'app', cache: { enabled: true, client_cache_control: false } }],
    });
    try {
      const seen = origin.on('/rq-off', () => ({ headers: { 'cache-control': 'max-age=60' } }));
      await get('/rq-off', {}, own.port);
      for (const cc of ['no-cache', 'max-age=0', 'no-store', 'min-fresh=3600']) {
        expect((await get('/rq-off', { 'cache-control': cc }, own.port)).headers['cache-status']).toMatch(/^portcullis; hit/);
      }
      // only-if-cached is ignored too: a miss goes upstream as usual.
      origin.on('/rq-off-oic', () => ({ headers: { 'cache-control': 'max-age=60' } }));
      expect((await get('/rq-off-oic', { 'cache-control': 'only-if-cached' }, own.port)).status).toBe(200);
      expect(seen()).toBe(1);
    } finally {
      await own.stop();
    }
  });
});
