// Passive health through the real proxy: a target killed under load costs no idempotent request
// (retries carry the in-flight ones, passive ejection takes it out before the next health
// check), a hung target times out and is ejected, and when every target is down the proxy keeps
// trying them (panic) instead of answering 503 until one is back.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import http from 'node:http';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { accessLines, startBackend, until, type Backend } from '../helpers/backends.js';
import { scrapeMetrics } from '../helpers/admin.js';
import { freePort } from '../helpers/ports.js';

let a: Backend, b: Backend, c: Backend, hung: Backend, p1: Backend, p2: Backend;
let proxy: RunningProxy;
let adminPort: number;
const HEALTH_INTERVAL = 2000;

beforeAll(async () => {
  [a, b, c, p1, p2] = await Promise.all(['a', 'b', 'c', 'p1', 'p2'].map((n) => startBackend(n)));
  hung = await startBackend('hung', { mode: { kind: 'hang' } });
  adminPort = await freePort();
  proxy = await startProxy({
    admin: { listen: `127.0.0.1:${adminPort}` },
    access_log: true,
    upstreams: {
      // Health checks every 2 s, two failures to go down: 2–4 s. Passive ejection must come first.
      app: {
        targets: [a.url, b.url, c.url],
        health: { path: '/healthz', interval: `${HEALTH_INTERVAL}ms`, timeout: '500ms', unhealthy_after: 2 },
        passive: { failures: 3, window: '10s', eject: '30s' },
      },
      stuck: { targets: [a.url, hung.url], passive: { failures: 2, eject: '30s' } },
      stuckretry: { targets: [c.url, hung.url], passive: false },
      panic: {
        targets: [p1.url, p2.url],
        health: { path: '/healthz', interval: '200ms', timeout: '200ms', unhealthy_after: 1 },
      },
    },
    routes: [
      { path: '/stuck/', upstream: 'stuck', timeouts: { response_header: '300ms' } },
      { path: '/stuckretry/', upstream: 'stuckretry', timeouts: { response_header: '300ms' }, retries: { on: ['connect', 'reset', 'timeout'] } },
      { path: '/panic/', upstream: 'panic' },
      { path: '/', upstream: 'app' },
    ],
  }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([a, b, c, hung, p1, p2].map((x) => x?.close()));
});

describe('a target killed under load', () => {
  test('no idempotent request fails: in-flight ones are retried, and passive ejection comes before the health checks', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const results: { at: number; status: number; error?: string }[] = [];
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        const at = Date.now();
        try {
          const r = await request(proxy.port, { path: '/load', agent });
          results.push({ at, status: r.status });
        } catch (err) {
          results.push({ at, status: 0, error: (err as Error).message });
        }
      }
    };
    const load = Array.from({ length: 16 }, worker);
    await until(() => results.length > 300 && b.seen.length > 50, 10_000, 'load on all three');
    // Slow answers: requests are sure to be in flight on b when it dies.
    b.mode = { kind: 'delay', ms: 30 };
    await new Promise((r) => setTimeout(r, 200));
    const killedAt = Date.now();
    await b.kill();
    // Ejected by the workers from real traffic, long before two health checks could fail (2–4 s).
    // The order of the two lines is the evidence, not a clock: a loaded machine may be slow to
    // print the line, but the checks cannot fail twice before the workers see 3 failed requests.
    await until(() => proxy.output().includes(`upstream app: ${b.url} ejected`), 15_000, 'passive ejection');
    await until(() => proxy.output().includes(`upstream app: ${b.url} unhealthy`), 15_000, 'the health checks marking it unhealthy');
    const out = proxy.output();
    expect(out.indexOf(`upstream app: ${b.url} ejected`)).toBeLessThan(out.indexOf(`upstream app: ${b.url} unhealthy`));
    await new Promise((r) => setTimeout(r, HEALTH_INTERVAL));
    running = false;
    await Promise.all(load);
    agent.destroy();
    const after = results.filter((r) => r.at >= killedAt);
    expect(after.length).toBeGreaterThan(200);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // Once, by whichever worker saw the failures first; the counter sums both workers.
    expect((await scrapeMetrics(adminPort)).get(`portcullis_upstream_ejections_total{upstream="app",target="${b.url}"}`)).toBe(1);
    // Retries carried the requests that were on b when it died; each shows both tries.
    const retried = accessLines(proxy.output()).filter((l) => Array.isArray(l['tries']) && (l['tries'] as { upstream: string }[]).some((t) => t.upstream === b.url));
    expect(retried.length).toBeGreaterThan(0);
    for (const line of retried) expect(line['status']).toBe(200);
  }, 60_000);
});

describe('a hung target', () => {
  test('times out (504 at the route\'s response_header), then is ejected and gets no more requests', async () => {
    const statuses: number[] = [];
    // passive.failures is 2: two timeouts (each a 504 after 300 ms), shared by both workers,
    // eject it. (Counted by answers, not by when the log line arrives: a loaded machine may print
    // it late while the requests after the ejection already go to the other target.)
    while (statuses.filter((s) => s === 504).length < 2) {
      statuses.push((await request(proxy.port, { path: '/stuck/x' })).status);
      expect(statuses.length).toBeLessThan(20);
    }
    expect(statuses.every((s) => s === 200 || s === 504)).toBe(true);
    await until(() => proxy.output().includes(`upstream stuck: ${hung.url} ejected for 30 s after 2 failures`), 15_000, 'the ejection');
    const reached = hung.seen.length;
    const after = await Promise.all(Array.from({ length: 10 }, () => request(proxy.port, { path: '/stuck/x' })));
    expect(after.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(hung.seen.length).toBe(reached);
  });

  test('with timeout in retries.on, a GET that times out is answered by another target instead', async () => {
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 4 }, () => request(proxy.port, { path: '/stuckretry/x' })));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(replies.map((r) => r.text)).toEqual(['c', 'c', 'c', 'c']);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('panic', () => {
  test('every target unhealthy by its checks: requests still go to them rather than 503', async () => {
    p1.healthy = false;
    p2.healthy = false;
    await until(() => proxy.output().includes(`${p1.url} unhealthy`) && proxy.output().includes(`${p2.url} unhealthy`), 15_000, 'both unhealthy');
    const replies = await Promise.all(Array.from({ length: 10 }, () => request(proxy.port, { path: '/panic/x' })));
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(replies.map((r) => r.text))).toEqual(new Set(['p1', 'p2']));
  });

  test('one of two failing with 503s: only one is ejected (max_ejected 50%), the other keeps serving', async () => {
    p1.healthy = true;
    p2.healthy = true;
    p1.mode = { kind: 'status', status: 503 };
    p2.mode = { kind: 'status', status: 503 };
    const ejections = (): string[] => proxy.output().split('\n').filter((l) => /upstream panic: .* ejected/.test(l));
    for (let i = 0; i < 30; i++) await request(proxy.port, { path: '/panic/x' });
    // The line travels worker → primary → stderr: wait for it, then go on failing both.
    await until(() => ejections().length > 0, 15_000, 'an ejection');
    for (let i = 0; i < 30; i++) expect((await request(proxy.port, { path: '/panic/x' })).status).toBe(503);
    await new Promise((r) => setTimeout(r, 300));
    expect(ejections()).toHaveLength(1);
  });
});
