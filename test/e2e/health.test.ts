// Active health checks and DNS through the real proxy with two workers: checks run once per
// proxy (never once per worker), every worker obeys a verdict at once, a recovered target ramps
// up over slow_start, a target that does not answer or resolve at start is pending (not fatal)
// and joins when it does, and target names follow their DNS records as the TTL runs out.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { startBackend, until, type Backend } from '../helpers/backends.js';
import { startDns, type DnsServer } from '../helpers/dns.js';

let a: Backend, b: Backend, c: Backend;
/** The two addresses one DNS name moves between (same port, two loopback IPs). */
let first: Backend, second: Backend;
/** Nothing listens on its port until the test starts it. */
let latePort: number;
let late: Backend | null = null;
let dns: DnsServer;
let proxy: RunningProxy;
const INTERVAL = 300;
const SLOW_START = 10_000;

beforeAll(async () => {
  [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => startBackend(n)));
  first = await startBackend('first', { host: '127.0.0.2' });
  second = await startBackend('second', { host: '127.0.0.3', port: first.port });
  // A port nothing listens on until the test starts the late target there.
  const probe = await startBackend('probe');
  latePort = probe.port;
  await probe.close();
  dns = await startDns();
  dns.records.set('svc.test', { ips: ['127.0.0.2'], ttl: 1 });
  // Like localhost with ::1 first and a server on 127.0.0.1 only: one address refuses.
  dns.records.set('dual.test', { ips: ['127.0.0.9', '127.0.0.2'], ttl: 60 });
  const health = { path: '/healthz', interval: `${INTERVAL}ms`, timeout: '200ms', unhealthy_after: 2, healthy_after: 2 };
  proxy = await startProxy({
    dns: { servers: [dns.address], min_ttl: '500ms', max_ttl: '3s' },
    upstreams: {
      app: { targets: [a.url, b.url, c.url], health, slow_start: `${SLOW_START}ms`, passive: false },
      late: { targets: [a.url, `http://127.0.0.1:${latePort}`], health, balance: 'round_robin' },
      named: { targets: [`http://svc.test:${first.port}`] },
      unresolved: { targets: [a.url, 'http://nowhere.test:1'] },
      later: { targets: ['http://later.test:' + first.port] },
      dual: { targets: [`http://dual.test:${first.port}`], passive: { failures: 1 } },
    },
    routes: [
      { path: '/late/', upstream: 'late' },
      { path: '/named/', upstream: 'named' },
      { path: '/unresolved/', upstream: 'unresolved' },
      { path: '/later/', upstream: 'later' },
      { path: '/dual/', upstream: 'dual' },
      { path: '/', upstream: 'app' },
    ],
  }, { workers: 2, env: { PORTCULLIS_LOG_LEVEL: 'info' } });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([a, b, c, first, second, late].map((x) => x?.close()));
  await dns?.close();
});

/** n requests, each on a fresh connection (so both workers take some); the backends that answered. */
async function names(path: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i += 10) {
    const replies = await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => request(proxy.port, { path })));
    for (const r of replies) {
      expect(r.status, r.text).toBe(200);
      out.push(r.text);
    }
  }
  return out;
}

describe('active checks', () => {
  test('run once per proxy, not once per worker: one check per interval per target', async () => {
    const from = a.checks.length;
    await new Promise((r) => setTimeout(r, INTERVAL * 6));
    const checks = a.checks.slice(from);
    // One checker: about 6 in 6 intervals (two workers checking would make 12 or more).
    expect(checks.length).toBeGreaterThanOrEqual(2);
    expect(checks.length).toBeLessThanOrEqual(8);
    const gaps = checks.slice(1).map((t, i) => t - checks[i]!).sort((x, y) => x - y);
    expect(gaps[Math.floor(gaps.length / 2)]!).toBeGreaterThan(INTERVAL * 0.6);
  });

  test('every worker stops sending to a target as soon as the checks mark it unhealthy', async () => {
    b.healthy = false;
    await until(() => proxy.output().includes(`${b.url} unhealthy (2 failed checks`), 15_000, 'b marked unhealthy');
    const seen = b.seen.length;
    const served = await names('/x', 60);
    expect(served.filter((n) => n === 'b')).toEqual([]);
    expect(b.seen.length).toBe(seen);
    expect(new Set(served)).toEqual(new Set(['a', 'c']));
  });

  test('back healthy, it ramps up over slow_start instead of taking its full share at once', async () => {
    b.healthy = true;
    // (Not the first "healthy" line: that was its first check, at start.)
    await until(() => proxy.output().includes(`${b.url} healthy (2 passed checks`), 15_000, 'b healthy again');
    const back = Date.now();
    // The first second of a 10 s ramp: under a fifth of its weight, under 10% of the traffic. The
    // bound (20%) holds until ~4 s into the ramp: room for the line reaching the test late.
    const early: string[] = [];
    while (Date.now() - back < 1000 && early.length < 90) early.push(...await names('/x', 10));
    expect(early.filter((n) => n === 'b').length / early.length).toBeLessThan(0.2);
    // During the ramp it does get traffic; after it, its full third.
    while (Date.now() - back < SLOW_START + 200) await names('/x', 30);
    expect(b.seen.some((s) => s.at > back)).toBe(true);
    const later = await names('/x', 90);
    expect(later.filter((n) => n === 'b').length / later.length).toBeGreaterThan(0.25);
  }, 40_000);

  test('a target that does not answer at start is pending, not fatal; it joins once it answers', async () => {
    // Proxy up, late target down: every request is answered by the other one.
    expect(new Set(await names('/late/x', 20))).toEqual(new Set(['a']));
    late = await startBackend('late', { port: latePort });
    await until(() => proxy.output().includes(`http://127.0.0.1:${latePort} healthy (2 passed checks`), 15_000, 'late healthy');
    expect(new Set(await names('/late/x', 20))).toEqual(new Set(['a', 'late']));
  });
});

describe('DNS', () => {
  test('a target whose name does not resolve at start is pending; the others serve', async () => {
    await until(() => /cannot resolve nowhere\.test \(ENOTFOUND\): upstream unresolved: http:\/\/nowhere\.test:1 pending/.test(proxy.output()), 15_000, 'the unresolved line');
    expect(new Set(await names('/unresolved/x', 20))).toEqual(new Set(['a']));
  });

  test('a group whose only name has not resolved yet answers 503; it serves once the name appears', async () => {
    const r = await request(proxy.port, { path: '/later/x' });
    expect(r.status).toBe(503);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_UNAVAILABLE');
    dns.records.set('later.test', { ips: ['127.0.0.3'], ttl: 1 });
    await until(() => proxy.output().includes('later.test resolved to 127.0.0.3'), 15_000, 'later.test resolved');
    expect(new Set(await names('/later/x', 10))).toEqual(new Set(['second']));
  });

  test('a name with an address that refuses and one that answers: every connection falls back within its connect, no request fails', async () => {
    await until(() => proxy.output().includes('dual.test resolved to 127.0.0.9, 127.0.0.2'), 15_000, 'dual.test resolved');
    expect(new Set(await names('/dual/x', 30))).toEqual(new Set(['first']));
    expect(proxy.output()).not.toContain('upstream dual:');
  });

  test('names are resolved again when their TTL runs out: new connections go to the new address', async () => {
    expect(new Set(await names('/named/x', 10))).toEqual(new Set(['first']));
    const asked = dns.queries.get('svc.test') ?? 0;
    dns.records.set('svc.test', { ips: ['127.0.0.3'], ttl: 1 });
    await until(() => proxy.output().includes('svc.test resolved to 127.0.0.3'), 15_000, 'svc.test moved');
    expect(new Set(await names('/named/x', 10))).toEqual(new Set(['second']));
    // Asked about once per TTL (1 s), not per request or per worker.
    expect((dns.queries.get('svc.test') ?? 0) - asked).toBeLessThan(12);
  });
});
