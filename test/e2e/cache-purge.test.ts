// PURGE on caching routes, end to end: only from allowed addresses (cache.purge_allow, by
// default trusted_proxies), by URL (every Vary variant), by prefix, soft (mark stale); a spoofed
// X-Forwarded-For never makes a stranger allowed; the upstream never sees a PURGE.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startCacheOrigin, type CacheOrigin } from '../helpers/cache-origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request, type Reply } from '../helpers/client.js';
import { admin } from '../helpers/admin.js';
import { freePort } from '../helpers/ports.js';

let origin: CacheOrigin;
let proxy: RunningProxy;

/** A request from a chosen loopback address (127.0.0.2 is not 127.0.0.1 to the proxy). */
function from(localAddress: string, port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, localAddress, headers: { host: 'site.example', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { const body = Buffer.concat(chunks); resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString() }); });
    });
    req.on('error', reject);
    req.end();
  });
}

const get = (path: string, headers: Record<string, string> = {}): Promise<Reply> => from('127.0.0.1', proxy.port, path, 'GET', headers);
const purge = (path: string, headers: Record<string, string> = {}, address = '127.0.0.2'): Promise<Reply> => from(address, proxy.port, path, 'PURGE', headers);

beforeAll(async () => {
  origin = await startCacheOrigin();
  proxy = await startProxy({
    upstreams: { app: { targets: [origin.url] } },
    cache: { enabled: true, purge_allow: ['127.0.0.2'] },
    access_log: true,
  }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

async function stored(path: string, headers: Record<string, string> = {}): Promise<() => number> {
  const seen = origin.on(path, (r) => ({
    headers: r.headers['if-none-match'] === '"p"' ? {} : { 'cache-control': 'max-age=600', etag: '"p"' },
    ...(r.headers['if-none-match'] === '"p"' ? { status: 304 } : {}),
  }));
  await get(path, headers);
  expect((await get(path, headers)).headers['cache-status']).toMatch(/^portcullis; hit/);
  return seen;
}

describe('PURGE', () => {
  test('from an allowed address: the entry is gone, and the upstream never saw a PURGE', async () => {
    const seen = await stored('/pg/one');
    const r = await purge('/pg/one');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ purged: 1 });
    expect(r.headers['content-type']).toBe('application/json');
    expect((await get('/pg/one')).headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    expect(origin.seen('/pg/one').map((s) => s.method)).toEqual(['GET', 'GET']);
    expect(seen()).toBe(2);
    const deadline = Date.now() + 5000;
    const logged = (): boolean => /"method":"PURGE"[^\n]*"path":"\/pg\/one"[^\n]*"status":200[^\n]*"cache":"purge"/.test(proxy.output());
    while (!logged() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(logged()).toBe(true);
  });

  test('from any other address: 403 with a code, and the entry stays', async () => {
    await stored('/pg/refused');
    const r = await purge('/pg/refused', {}, '127.0.0.1');
    expect(r.status).toBe(403);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_PURGE_FORBIDDEN');
    expect((await get('/pg/refused')).headers['cache-status']).toMatch(/hit/);
  });

  test('a spoofed X-Forwarded-For from an untrusted peer does not make it allowed', async () => {
    await stored('/pg/spoof');
    const r = await purge('/pg/spoof', { 'x-forwarded-for': '127.0.0.2', forwarded: 'for=127.0.0.2' }, '127.0.0.1');
    expect(r.status).toBe(403);
    expect((await get('/pg/spoof')).headers['cache-status']).toMatch(/hit/);
  });

  test('nothing stored: 200, purged 0', async () => {
    const r = await purge('/pg/never');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ purged: 0 });
  });

  test('a URL with Vary variants: all of them go', async () => {
    const seen = origin.on('/pg/vary', (r) => ({ headers: { 'cache-control': 'max-age=600', vary: 'X-V' }, body: `v ${String(r.headers['x-v'])}` }));
    await get('/pg/vary', { 'x-v': '1' });
    await get('/pg/vary', { 'x-v': '2' });
    const r = await purge('/pg/vary');
    expect(JSON.parse(r.text)).toEqual({ purged: 2 });
    expect((await get('/pg/vary', { 'x-v': '1' })).headers['cache-status']).not.toMatch(/hit/);
    expect((await get('/pg/vary', { 'x-v': '2' })).headers['cache-status']).not.toMatch(/hit/);
    expect(seen()).toBe(4);
  });

  test('Portcullis-Purge: soft marks the entry stale: the next request revalidates it', async () => {
    const seen = await stored('/pg/soft');
    const r = await purge('/pg/soft', { 'portcullis-purge': 'soft' });
    expect(JSON.parse(r.text)).toEqual({ purged: 1 });
    const next = await get('/pg/soft');
    expect(next.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    expect(origin.seen('/pg/soft')[1]!.headers['if-none-match']).toBe('"p"');
    expect((await get('/pg/soft')).headers['cache-status']).toMatch(/^portcullis; hit/);
    expect(seen()).toBe(2);
  });

  test('Portcullis-Purge: prefix purges every URL under the path, and nothing else', async () => {
    await stored('/pg/dir/a');
    await stored('/pg/dir/b?x=1');
    await stored('/pg/dir/sub/c');
    await stored('/pg/dirt');
    const r = await purge('/pg/dir/', { 'portcullis-purge': 'prefix' });
    expect(JSON.parse(r.text)).toEqual({ purged: 3 });
    for (const p of ['/pg/dir/a', '/pg/dir/b?x=1', '/pg/dir/sub/c']) expect((await get(p)).headers['cache-status']).not.toMatch(/hit/);
    expect((await get('/pg/dirt')).headers['cache-status']).toMatch(/hit/);
  });

  test('a prefix purge is by host: another host keeps its entries', async () => {
    await stored('/pg/hosted');
    await stored('/pg/hosted', { host: 'other.example' });
    const r = await purge('/pg/', { 'portcullis-purge': 'prefix' });
    expect(JSON.parse(r.text).purged).toBeGreaterThanOrEqual(1);
    expect((await get('/pg/hosted')).headers['cache-status']).not.toMatch(/hit/);
    expect((await get('/pg/hosted', { host: 'other.example' })).headers['cache-status']).toMatch(/hit/);
  });

  test('by default (no purge_allow) the allowed addresses are trusted_proxies, and none are trusted', async () => {
    const strict = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true } });
    const trusting = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true }, trusted_proxies: ['127.0.0.2'] });
    try {
      expect((await from('127.0.0.1', strict.port, '/pg/x', 'PURGE')).status).toBe(403);
      expect((await from('127.0.0.2', strict.port, '/pg/x', 'PURGE')).status).toBe(403);
      expect((await from('127.0.0.2', trusting.port, '/pg/x', 'PURGE')).status).toBe(200);
      // A trusted proxy forwarding a stranger's PURGE: the stranger is the client, and is refused.
      expect((await from('127.0.0.2', trusting.port, '/pg/x', 'PURGE', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(403);
    } finally {
      await strict.stop();
      await trusting.stop();
    }
  });

  test('on a route that does not cache, PURGE is just a method: it reaches the upstream', async () => {
    const own = await startProxy({
      upstreams: { app: { targets: [origin.url] } },
      routes: [{ path: '/', upstream: 'app' }],
      cache: { purge_allow: ['127.0.0.2'] },
    });
    try {
      origin.on('/pg/plain', () => ({ body: 'origin purge' }));
      const r = await from('127.0.0.2', own.port, '/pg/plain', 'PURGE');
      expect(r.text).toBe('origin purge');
      expect(origin.seen('/pg/plain').map((s) => s.method)).toEqual(['PURGE']);
    } finally {
      await own.stop();
    }
  });
});

describe('the admin API purge (POST /cache/purge)', () => {
  let own: RunningProxy;
  let adminPort: number;
  beforeAll(async () => {
    adminPort = await freePort();
    own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true }, admin: { listen: `127.0.0.1:${adminPort}` } }, { workers: 2 });
  });
  afterAll(async () => { await own?.stop(); });

  const getOwn = (path: string): Promise<Reply> => request(own.port, { path, headers: { host: 'site.example' } });

  async function storedOwn(path: string): Promise<void> {
    origin.on(path, (r) => (r.headers['if-none-match'] === '"a"' ? { status: 304, headers: { etag: '"a"' } } : { headers: { 'cache-control': 'max-age=600', etag: '"a"' } }));
    await getOwn(path);
    expect((await getOwn(path)).headers['cache-status']).toMatch(/^portcullis; hit/);
  }

  test('by URL: the entry is gone in every worker', async () => {
    await storedOwn('/adm/one');
    const r = await admin(adminPort, 'POST', '/cache/purge', { body: { url: 'http://site.example/adm/one' } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, purged: 1 });
    expect((await getOwn('/adm/one')).headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    for (let i = 0; i < 4; i++) expect((await getOwn('/adm/one')).headers['cache-status']).toMatch(/^portcullis; hit/);
    expect(origin.seen('/adm/one').length).toBe(2);
  });

  test('by prefix, and soft', async () => {
    await storedOwn('/adm/dir/a');
    await storedOwn('/adm/dir/b');
    const soft = await admin(adminPort, 'POST', '/cache/purge', { body: { url: 'http://site.example/adm/dir/', prefix: true, soft: true } });
    expect(soft.json).toMatchObject({ purged: 2 });
    expect((await getOwn('/adm/dir/a')).headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    const hard = await admin(adminPort, 'POST', '/cache/purge', { body: { url: 'http://site.example/adm/dir/', prefix: true } });
    expect(hard.json).toMatchObject({ purged: 2 });
    expect((await getOwn('/adm/dir/b')).headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
  });

  test('GET /cache says purge is available', async () => {
    const r = await admin(adminPort, 'GET', '/cache');
    expect(r.json).toMatchObject({ enabled: true, purge: true });
  });
});

describe('a prefix purge on a strip_prefix route', () => {
  // The key holds the path the upstream is told (/sp/dir/a is stored as /dir/a); a prefix purge
  // matches the URL clients see. (A black-box helper found the prefix purge removing nothing there.)
  let sp: RunningProxy;
  let adminPort: number;
  const getSp = (path: string): Promise<Reply> => from('127.0.0.1', sp.port, path);

  beforeAll(async () => {
    adminPort = await freePort();
    sp = await startProxy({
      upstreams: { app: { targets: [origin.url] } },
      routes: [{ path: '/sp/', upstream: 'app', strip_prefix: true }, { path: '/', upstream: 'app' }],
      cache: { enabled: true, purge_allow: ['127.0.0.2'] },
      admin: { listen: `127.0.0.1:${adminPort}` },
    }, { workers: 2 });
  });

  afterAll(async () => {
    await sp?.stop();
  });

  async function storedSp(path: string): Promise<void> {
    // The origin sees the stripped path.
    origin.on(path.slice(3).split('?')[0]!, () => ({ headers: { 'cache-control': 'max-age=600' } }));
    await getSp(path);
    expect((await getSp(path)).headers['cache-status']).toMatch(/^portcullis; hit/);
  }

  test('PURGE with Portcullis-Purge: prefix removes the route\'s entries under the client\'s path, and nothing else', async () => {
    await storedSp('/sp/dir/a');
    await storedSp('/sp/dir/b?x=1');
    await storedSp('/sp/dirt');
    // The same upstream path through the other route: another URL for clients.
    origin.on('/dir/a', () => ({ headers: { 'cache-control': 'max-age=600' } }));
    await getSp('/dir/a');
    expect((await getSp('/dir/a')).headers['cache-status']).toMatch(/^portcullis; hit/);
    const r = await from('127.0.0.2', sp.port, '/sp/dir/', 'PURGE', { 'portcullis-purge': 'prefix' });
    expect(JSON.parse(r.text)).toEqual({ purged: 2 });
    for (const p of ['/sp/dir/a', '/sp/dir/b?x=1']) expect((await getSp(p)).headers['cache-status']).not.toMatch(/hit/);
    for (const p of ['/sp/dirt', '/dir/a']) expect((await getSp(p)).headers['cache-status']).toMatch(/hit/);
  });

  test('the admin API\'s prefix purge too', async () => {
    await storedSp('/sp/adm/a');
    const r = await admin(adminPort, 'POST', '/cache/purge', { body: { url: 'http://site.example/sp/adm/', prefix: true } });
    expect(r.json).toMatchObject({ purged: 1 });
    expect((await getSp('/sp/adm/a')).headers['cache-status']).not.toMatch(/hit/);
  });
});
