// Upstream state across a hot reload (issue 14 reloads, issue 12 state): health, ejections and
// canary rollbacks are kept in shared memory by identity (upstream name + target URL, route +
// canary), so a reload that reorders or adds targets keeps them, and a changed canary starts
// over; the primary's checks follow the new config.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';
import { admin } from '../helpers/admin.js';
import { startBackend, until, type Backend } from '../helpers/backends.js';

let a: Backend, b: Backend, c: Backend, v2: Backend;
let proxy: RunningProxy;
let adminPort: number;

const health = { path: '/healthz', interval: '200ms', timeout: '150ms', unhealthy_after: 1, healthy_after: 1 };

function config(targets: string[], canary: Record<string, unknown>): Record<string, unknown> {
  return {
    admin: { listen: `127.0.0.1:${adminPort}` },
    upstreams: {
      app: { targets, health, passive: { failures: 2, eject: '1m' } },
      app_v2: { targets: [v2.url], passive: false },
    },
    routes: [
      { path: '/app/', upstream: 'app' },
      { path: '/', split: [{ upstream: 'app', weight: 1 }, { upstream: 'app_v2', weight: 1 }], canary: { upstream: 'app_v2', header: 'x-canary', ...canary } },
    ],
  };
}

const ROLLBACK = { rollback: { error_rate: '10%', window: '30s', min_requests: 5 } };

beforeAll(async () => {
  [a, b, c, v2] = await Promise.all(['a', 'b', 'c', 'v2'].map((n) => startBackend(n)));
  adminPort = await freePort();
  proxy = await startProxy(config([a.url, b.url], ROLLBACK), { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([a, b, c, v2].map((x) => x?.close()));
});

async function names(path: string, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  return (await Promise.all(Array.from({ length: n }, () => request(proxy.port, { path, headers })))).map((r) => r.text);
}

describe('a reload keeps what every worker knows about targets and canaries', () => {
  test('an unhealthy target, an ejected one and a rolled-back canary stay so across a reload that reorders and adds targets', async () => {
    // a: down by its health checks; b: ejected by passive health (503s, healthy checks).
    a.healthy = false;
    await until(() => proxy.output().includes(`${a.url} unhealthy`), 15_000, 'a unhealthy');
    b.mode = { kind: 'status', status: 503 };
    for (let i = 0; i < 6 && !proxy.output().includes(`${b.url} ejected`); i++) await names('/app/x', 2);
    await until(() => proxy.output().includes(`${b.url} ejected`), 15_000, 'b ejected');
    b.mode = { kind: 'ok' };
    // The canary fails until it is rolled back.
    v2.mode = { kind: 'status', status: 500 };
    await names('/', 10, { 'x-canary': 'always' });
    await until(() => proxy.output().includes('canary app_v2 rolled back'), 15_000, 'the rollback');
    v2.mode = { kind: 'ok' };

    // Reload: targets reordered, c added; the canary section unchanged.
    proxy.rewrite(config([c.url, b.url, a.url], ROLLBACK));
    const r = await admin(adminPort, 'POST', '/reload');
    expect(r.status).toBe(200);
    const seen = { a: a.seen.length, b: b.seen.length, v2: v2.seen.length };
    // Only c serves /app/ (a still unhealthy, b still ejected), and the canary stays rolled back.
    expect(new Set(await names('/app/x', 20))).toEqual(new Set(['c']));
    expect(new Set(await names('/', 20, { 'x-canary': 'always' }))).toEqual(new Set(['c']));
    expect({ a: a.seen.length, b: b.seen.length, v2: v2.seen.length }).toEqual(seen);
    const ups = (await admin(adminPort, 'GET', '/upstreams')).json.upstreams;
    const app = ups.find((u: { name: string }) => u.name === 'app');
    const byUrl = Object.fromEntries(app.targets.map((t: { url: string }) => [t.url, t]));
    expect(byUrl[a.url]).toMatchObject({ state: 'unhealthy' });
    expect(byUrl[b.url].ejected_until).toBeGreaterThan(Date.now());
    // The primary checks the new target too (its first check makes it healthy).
    await until(() => proxy.output().includes(`${c.url} healthy`), 15_000, 'c checked');
  });

  test('a reload that changes the canary starts it over: it gets traffic again', async () => {
    proxy.rewrite(config([c.url, b.url, a.url], { rollback: { error_rate: '20%', window: '30s', min_requests: 5 } }));
    expect((await admin(adminPort, 'POST', '/reload')).status).toBe(200);
    expect(new Set(await names('/', 10, { 'x-canary': 'always' }))).toEqual(new Set(['v2']));
  });

  test('a target back healthy after the reload is used again (the checks follow the new config)', async () => {
    a.healthy = true;
    // The second "healthy" line: the first was its first check, at start.
    const healthyLines = (): number => proxy.output().split('\n').filter((l) => l.includes(`${a.url} healthy`)).length;
    await until(() => healthyLines() >= 2, 15_000, 'a healthy again');
    expect(new Set(await names('/app/x', 30))).toEqual(new Set(['a', 'c']));
  });
});
