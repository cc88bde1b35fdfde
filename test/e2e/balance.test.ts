// Load balancing through the real proxy to real origins: each policy's distribution (one route
// per policy, table-driven), weighted ratios, consistent hashing that keeps keys when a target
// is added, the sticky cookie's round trip, and per-target max_connections with a bounded queue
// (503 with Retry-After beyond it).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import http from 'node:http';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { startBackend, until, type Backend } from '../helpers/backends.js';

let a: Backend, b: Backend, c: Backend, d: Backend, slow: Backend;
let proxy: RunningProxy;
/** The same group with a fourth target added, for hash stability. */
let grown: RunningProxy;

const three = () => [a.url, b.url, c.url];

beforeAll(async () => {
  [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((n) => startBackend(n)));
  slow = await startBackend('slow', { mode: { kind: 'delay', ms: 2500 } });
  const upstreams = {
    rr: { targets: three() },
    weighted: { targets: [a.url, { url: b.url, weight: 3 }] },
    lr: { targets: three(), balance: 'least_requests' },
    random: { targets: three(), balance: 'random' },
    first: { targets: three(), balance: 'first' },
    hash: { targets: three(), balance: { hash: { key: 'header:x-user' } } },
    iphash: { targets: three(), balance: 'hash' },
    sticky: { targets: three(), sticky: { cookie: 'pc_sticky', ttl: '1h' } },
    small: { targets: [{ url: slow.url, max_connections: 1 }], pool: { queue: 1 } },
  };
  proxy = await startProxy({
    timeouts: { connect: '6s' },
    upstreams,
    routes: Object.keys(upstreams).map((name) => ({ path: `/${name}/`, upstream: name })),
  });
  grown = await startProxy({ upstreams: { hash: { targets: [...three(), d.url], balance: { hash: { key: 'header:x-user' } } } } });
});

afterAll(async () => {
  await proxy?.stop();
  await grown?.stop();
  await Promise.all([a, b, c, d, slow].map((x) => x?.close()));
});

/** Which backend answered each of n requests (the body is its name). */
async function spread(path: string, n: number, headers: (i: number) => Record<string, string> = () => ({}), port = proxy.port): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    for (let i = 0; i < n; i += 20) {
      const replies = await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => request(port, { path, headers: headers(i + k), agent })));
      for (const r of replies) {
        expect(r.status).toBe(200);
        counts[r.text] = (counts[r.text] ?? 0) + 1;
      }
    }
  } finally {
    agent.destroy();
  }
  return counts;
}

describe('distribution per policy', () => {
  const N = 600;
  test.each<[string, Record<string, number>, number]>([
    ['/rr/', { a: 1 / 3, b: 1 / 3, c: 1 / 3 }, 0.01],
    ['/weighted/', { a: 1 / 4, b: 3 / 4 }, 0.01],
    ['/lr/', { a: 1 / 3, b: 1 / 3, c: 1 / 3 }, 0.1],
    ['/random/', { a: 1 / 3, b: 1 / 3, c: 1 / 3 }, 0.1],
    ['/first/', { a: 1 }, 0],
  ])('%s', async (path, shares, tolerance) => {
    const counts = await spread(`${path}x`, N);
    for (const [name, share] of Object.entries(shares)) {
      expect(Math.abs((counts[name] ?? 0) / N - share), `${name}: ${counts[name]} of ${N}`).toBeLessThanOrEqual(tolerance);
    }
    expect(Object.values(counts).reduce((x, y) => x + y, 0)).toBe(N);
  });

  test('hash on client_ip: one client always reaches the same target', async () => {
    const counts = await spread('/iphash/x', 60);
    expect(Object.values(counts)).toEqual([60]);
  });
});

describe('consistent hashing', () => {
  test('each key keeps its target, and adding a fourth target moves about a quarter of the keys, all to it', async () => {
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const where = async (port: number, path: string) => Promise.all(users.map(async (u) => (await request(port, { path, headers: { 'x-user': u } })).text));
    const before = await where(proxy.port, '/hash/x');
    expect(await where(proxy.port, '/hash/x')).toEqual(before);
    const after = await where(grown.port, '/x');
    const moved = users.filter((_, i) => after[i] !== before[i]);
    for (const u of moved) expect(after[users.indexOf(u)]).toBe('d');
    expect(moved.length / users.length).toBeGreaterThan(0.12);
    expect(moved.length / users.length).toBeLessThan(0.38);
  });
});

describe('sticky cookie', () => {
  test('the first answer names its target in a cookie; requests carrying it stay there', async () => {
    const first = await request(proxy.port, { path: '/sticky/x' });
    const cookie = String(first.headers['set-cookie']);
    expect(cookie).toMatch(/^pc_sticky=[0-9a-f]{16}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
    const value = cookie.split(';')[0]!;
    for (let i = 0; i < 20; i++) {
      const r = await request(proxy.port, { path: '/sticky/x', headers: { cookie: `theme=dark; ${value}` } });
      expect(r.text).toBe(first.text);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    // Without the cookie, round robin moves on (and sets a cookie for the new target).
    const others = await Promise.all([1, 2].map(() => request(proxy.port, { path: '/sticky/x' })));
    expect(others.some((r) => r.text !== first.text)).toBe(true);
  });

  test('a cookie for an unknown target is replaced', async () => {
    const r = await request(proxy.port, { path: '/sticky/x', headers: { cookie: 'pc_sticky=ffffffffffffffff' } });
    expect(r.status).toBe(200);
    expect(String(r.headers['set-cookie'])).toMatch(/^pc_sticky=[0-9a-f]{16};/);
  });
});

describe('max_connections and the wait queue', () => {
  test('one in flight, one waiting, the third gets 503 with Retry-After at once; the waiting one is served', async () => {
    let firstDone = false;
    const inFlight = request(proxy.port, { path: '/small/1' }).finally(() => { firstDone = true; });
    await until(() => slow.seen.some((s) => s.url === '/small/1'), 10_000, 'the first request at the origin');
    // Two more at once: whichever reaches the proxy first takes the one queue place, the other
    // is refused (no clock decides which one is which).
    const more = ['/small/2', '/small/3'].map((path) => request(proxy.port, { path }).then((r) => ({ path, r, firstDone })));
    const replies = await Promise.all(more);
    const refused = replies.filter((x) => x.r.status === 503);
    const served = replies.filter((x) => x.r.status === 200);
    expect(refused).toHaveLength(1);
    expect(served).toHaveLength(1);
    expect(refused[0]!.r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_FULL');
    expect(refused[0]!.r.headers['retry-after']).toBe('1');
    // Refused while the first still held the only connection, not after waiting for it.
    expect(refused[0]!.firstDone).toBe(false);
    expect((await inFlight).status).toBe(200);
    expect(slow.seen.filter((s) => s.url.startsWith('/small/')).map((s) => s.url)).toEqual(['/small/1', served[0]!.path]);
  }, 20_000);
});
