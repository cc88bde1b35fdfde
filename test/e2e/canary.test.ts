// Gradual rollouts through the real proxy with two workers: a weighted split between two
// upstream groups, header and cookie overrides, and automatic rollback when the canary's
// shared error-rate or p99 window crosses its threshold: a log line, no more canary traffic in
// any worker, and it stays rolled back after the canary heals.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { startBackend, until, type Backend } from '../helpers/backends.js';
import { scrapeMetrics } from '../helpers/admin.js';
import { freePort } from '../helpers/ports.js';

let stable: Backend, v2: Backend, v3: Backend, header: Backend;
let proxy: RunningProxy;
let adminPort: number;

beforeAll(async () => {
  [stable, v2, v3, header] = await Promise.all(['stable', 'v2', 'v3', 'header'].map((n) => startBackend(n)));
  adminPort = await freePort();
  proxy = await startProxy({
    admin: { listen: `127.0.0.1:${adminPort}` },
    upstreams: {
      app: { targets: [stable.url] },
      app_v2: { targets: [v2.url], passive: false },
      app_v3: { targets: [v3.url], passive: false },
      app_h: { targets: [header.url] },
    },
    routes: [
      {
        path: '/',
        split: [{ upstream: 'app', weight: 90 }, { upstream: 'app_v2', weight: 10 }],
        canary: { header: 'x-canary', cookie: 'canary', rollback: { error_rate: '20%', window: '10s', min_requests: 10 } },
      },
      {
        path: '/slow/',
        split: [{ upstream: 'app', weight: 50 }, { upstream: 'app_v3', weight: 50 }],
        canary: { upstream: 'app_v3', rollback: { p99: '200ms', window: '10s', min_requests: 10 } },
      },
      { path: '/h/', upstream: 'app', canary: { upstream: 'app_h', header: 'x-canary' } },
    ],
  }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable, v2, v3, header].map((x) => x?.close()));
});

async function names(path: string, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i += 20) {
    const replies = await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => request(proxy.port, { path, headers })));
    out.push(...replies.map((r) => r.text));
  }
  return out;
}

describe('split', () => {
  test('90/10 between two groups', async () => {
    const served = await names('/x', 400);
    const canary = served.filter((n) => n === 'v2').length;
    // Each worker's smooth round robin is exact; two workers add at most one each.
    expect(canary).toBeGreaterThanOrEqual(38);
    expect(canary).toBeLessThanOrEqual(42);
    expect(served.filter((n) => n === 'stable').length + canary).toBe(400);
  });

  test('x-canary: always / never, and the cookie, override the weights', async () => {
    expect(new Set(await names('/x', 20, { 'x-canary': 'always' }))).toEqual(new Set(['v2']));
    expect(new Set(await names('/x', 40, { 'x-canary': 'never' }))).toEqual(new Set(['stable']));
    expect(new Set(await names('/x', 20, { cookie: 'a=b; canary=always' }))).toEqual(new Set(['v2']));
  });

  test('a canary on a route with one upstream is reached only through its header', async () => {
    expect(new Set(await names('/h/x', 30))).toEqual(new Set(['stable']));
    expect(new Set(await names('/h/x', 10, { 'x-canary': 'always' }))).toEqual(new Set(['header']));
  });
});

describe('automatic rollback', () => {
  test('the canary starts failing: rolled back (one log line), no more traffic from any worker, even after it heals', async () => {
    v2.mode = { kind: 'status', status: 500 };
    // Forced onto the canary: the window also holds the ~80 successes of the tests above, so
    // 40 failures make a third of it.
    const failing = await names('/x', 40, { 'x-canary': 'always' });
    expect(failing.every((t) => t === 'v2 500' || t === 'stable')).toBe(true);
    await until(() => /route \/: canary app_v2 rolled back: error rate \d+\.\d% over 10 s \(limit 20\.0%/.test(proxy.output()), 10_000, 'the rollback line');
    const seen = v2.seen.length;
    v2.mode = { kind: 'ok' };
    const after = await names('/x', 200, {});
    const forced = await names('/x', 20, { 'x-canary': 'always' });
    expect(new Set([...after, ...forced])).toEqual(new Set(['stable']));
    expect(v2.seen.length).toBe(seen);
    expect(proxy.output().match(/canary app_v2 rolled back/g)).toHaveLength(1);
    // And a counter, summed over both workers: one rollback, whichever worker decided it.
    const m = await scrapeMetrics(adminPort);
    expect(m.get('portcullis_canary_rollbacks_total{route="/",upstream="app_v2"}')).toBe(1);
  });

  test('a slow canary (p99 over the limit) is rolled back too', async () => {
    v3.mode = { kind: 'delay', ms: 300 };
    await names('/slow/x', 40);
    await until(() => /route \/slow\/: canary app_v3 rolled back: p99 \d+ ms over 10 s \(limit 200 ms/.test(proxy.output()), 10_000, 'the p99 rollback');
    v3.mode = { kind: 'ok' };
    expect(new Set(await names('/slow/x', 40))).toEqual(new Set(['stable']));
    expect((await scrapeMetrics(adminPort)).get('portcullis_canary_rollbacks_total{route="/slow/",upstream="app_v3"}')).toBe(1);
  });
});
