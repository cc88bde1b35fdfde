// The cache on routes with a canary or a weighted split, through the real proxy with two
// workers: the group chosen for a request is part of its cache key, so a client that opts into
// the canary (header or cookie) never puts the canary's answer in front of other clients, and
// is never served the stable group's; a weighted split keeps each group's answers apart; a PURGE
// and a write remove a URL under every group; a background refresh asks the group its stale
// entry came from. (Found by a black-box test: before, one client's
// `X-Canary: always` cached the canary's answer for everyone.)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import type { Reply } from '../helpers/client.js';

/** An origin that names itself in every body, fresh for ten minutes, and counts what reached it by method and path. */
interface NamedOrigin { readonly url: string; readonly seen: Map<string, number>; close(): Promise<void> }

async function namedOrigin(name: string): Promise<NamedOrigin> {
  const seen = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const key = `${req.method} ${req.url}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    req.resume();
    req.on('end', () => {
      // /swr/: stale after a second, then served stale while a background refresh runs.
      const cc = req.url?.startsWith('/swr/') ? 'public, max-age=1, stale-while-revalidate=60' : 'public, max-age=600';
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': cc }).end(`${name} ${req.url}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

let stable: NamedOrigin;
let canary: NamedOrigin;
let proxy: RunningProxy;

/** A request from a chosen loopback address (PURGE is allowed from 127.0.0.2 only). */
function send(path: string, method = 'GET', headers: Record<string, string> = {}, localAddress = '127.0.0.1', port = proxy.port): Promise<Reply> {
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

const ALWAYS = { 'x-canary': 'always' };
const NEVER = { 'x-canary': 'never' };

beforeAll(async () => {
  [stable, canary] = await Promise.all([namedOrigin('stable'), namedOrigin('canary')]);
  proxy = await startProxy({
    upstreams: { app: { targets: [stable.url] }, app_c: { targets: [canary.url] } },
    routes: [
      { path: '/h/', upstream: 'app', canary: { upstream: 'app_c', header: 'x-canary', cookie: 'canary' } },
      { path: '/w/', split: [{ upstream: 'app', weight: 50 }, { upstream: 'app_c', weight: 50 }] },
    ],
    cache: { enabled: true, purge_allow: ['127.0.0.2'] },
  }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable, canary].map((o) => o?.close()));
});

describe('a canary reached by header or cookie', () => {
  test('the canary\'s answer, cached for the client that asked for it, is never served to the others', async () => {
    const first = await send('/h/a', 'GET', ALWAYS);
    expect(first.text).toBe('canary /h/a');
    expect(first.headers['cache-status']).toMatch(/fwd=uri-miss/);
    // Stored: the next `always` is a hit.
    expect((await send('/h/a', 'GET', ALWAYS)).headers['cache-status']).toMatch(/^portcullis; hit/);
    for (const headers of [{}, NEVER, { cookie: 'canary=never' }, { 'x-canary': 'maybe' }]) {
      expect((await send('/h/a', 'GET', headers)).text).toBe('stable /h/a');
    }
    expect(stable.seen.get('GET /h/a')).toBe(1);
    expect(canary.seen.get('GET /h/a')).toBe(1);
  });

  test('the stable answer, cached first, is not served to a client that asks for the canary', async () => {
    expect((await send('/h/b')).text).toBe('stable /h/b');
    expect((await send('/h/b')).headers['cache-status']).toMatch(/^portcullis; hit/);
    expect((await send('/h/b', 'GET', ALWAYS)).text).toBe('canary /h/b');
    expect((await send('/h/b', 'GET', { cookie: 'x=1; canary=always' })).text).toBe('canary /h/b');
    expect(canary.seen.get('GET /h/b')).toBe(1);
  });

  test('a PURGE removes the URL under both groups', async () => {
    await send('/h/c');
    await send('/h/c', 'GET', ALWAYS);
    const purged = await send('/h/c', 'PURGE', {}, '127.0.0.2');
    expect(purged.status).toBe(200);
    for (const headers of [{}, ALWAYS]) expect((await send('/h/c', 'GET', headers)).headers['cache-status']).toMatch(/fwd=uri-miss/);
    expect(stable.seen.get('GET /h/c')).toBe(2);
    expect(canary.seen.get('GET /h/c')).toBe(2);
  });

  test('a write through either group removes the URL under both', async () => {
    await send('/h/d');
    await send('/h/d', 'GET', ALWAYS);
    expect((await send('/h/d', 'POST', { ...ALWAYS, 'content-length': '0' })).status).toBe(200);
    for (const headers of [{}, ALWAYS]) expect((await send('/h/d', 'GET', headers)).headers['cache-status']).toMatch(/fwd=uri-miss/);
  });
});

describe('a weighted split', () => {
  test('each group\'s answers are stored apart: requests keep going to both, and each is served its own group\'s', async () => {
    const served = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const r = await send('/w/x');
      served.set(r.text, (served.get(r.text) ?? 0) + 1);
    }
    // 50/50 per worker: both groups answer (from the cache once each has stored its answer).
    expect([...served.keys()].sort()).toEqual(['canary /w/x', 'stable /w/x']);
    expect(served.get('canary /w/x')).toBeGreaterThanOrEqual(10);
    // Each group was asked once per worker at most: the rest were hits on its own entry.
    expect(stable.seen.get('GET /w/x')).toBeLessThanOrEqual(2);
    expect(canary.seen.get('GET /w/x')).toBeLessThanOrEqual(2);
  });
});

describe('a background refresh on a weighted split', () => {
  test('asks the group its stale entry came from, not the split\'s next choice', async () => {
    // One worker: its split alternates the two groups, so a refresh that chose anew would go
    // to the other group than the request it refreshes for.
    const one = await startProxy({
      upstreams: { app: { targets: [stable.url] }, app_c: { targets: [canary.url] } },
      routes: [{ path: '/swr/', split: [{ upstream: 'app', weight: 50 }, { upstream: 'app_c', weight: 50 }] }],
      cache: { enabled: true },
    }, { workers: 1 });
    try {
      const get = (): Promise<Reply> => send('/swr/x', 'GET', {}, '127.0.0.1', one.port);
      const first = await get();
      const second = await get();
      expect([first.text, second.text].sort()).toEqual(['canary /swr/x', 'stable /swr/x']);
      // Both entries stale (max-age=1; Age counts whole seconds).
      await new Promise((r) => setTimeout(r, 2_100));
      const third = await get();
      expect(third.headers['cache-status']).toMatch(/detail=stale-while-revalidate/);
      const [own, other] = third.text.startsWith('stable') ? [stable, canary] : [canary, stable];
      await expect.poll(() => own.seen.get('GET /swr/x'), { timeout: 3_000 }).toBe(2);
      // Give a wrongly routed refresh time to show.
      await new Promise((r) => setTimeout(r, 300));
      expect(other.seen.get('GET /swr/x')).toBe(1);
    } finally {
      await one.stop();
    }
  }, 20_000);
});
