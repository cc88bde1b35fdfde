// Rate limits end to end: exact across worker threads (one shared table, not one per worker),
// the 429 answer and its headers (Retry-After, IETF RateLimit/RateLimit-Policy), the key kinds,
// in-flight requests per client IP, and the connection-rate hook.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';

let origin: Origin;
const proxies: RunningProxy[] = [];
/** When each request reached the origin (ms), by path: the window the limiter granted over. */
const arrivals = new Map<string, number[]>();

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    const list = arrivals.get(req.url ?? '') ?? [];
    list.push(Date.now());
    arrivals.set(req.url ?? '', list);
    if (req.url?.startsWith('/slow')) { setTimeout(() => res.end('slow'), 400); return; }
    res.end('ok');
  });
});

afterAll(async () => {
  for (const p of proxies) await p.stop();
  await origin?.close();
});

async function proxy(config: Record<string, unknown>, workers = 1): Promise<RunningProxy> {
  const p = await startProxy({ upstreams: { app: { targets: [origin.url] } }, ...config }, { workers });
  proxies.push(p);
  return p;
}

/**
 * Hammers `path` from `parallel` keep-alive connections for `ms` and counts the answers by
 * status. Many connections, so the kernel spreads them over every worker (SO_REUSEPORT).
 */
async function hammer(port: number, path: string, ms: number, parallel = 12): Promise<{ ok: number; limited: number; other: number; errors: string[]; elapsedMs: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: parallel });
  const counts = { ok: 0, limited: 0, other: 0, errors: [] as string[] };
  const start = Date.now();
  let last = start;
  const loop = async (): Promise<void> => {
    while (Date.now() - start < ms) {
      const r = await request(port, { path, agent }).catch((e: Error & { code?: string }) => {
        counts.errors.push(`${e.message} ${e.code} at ${Date.now() - start}ms`);
        return { status: -1 };
      });
      last = Date.now();
      if (r.status === 200) counts.ok++;
      else if (r.status === 429) counts.limited++;
      else counts.other++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, loop));
  agent.destroy();
  return { ...counts, elapsedMs: last - start };
}

describe('accuracy: 10 r/s sustained over 5 s', () => {
  // burst 10: the first second's worth at once, then 10 per second. Allowed over D seconds:
  // burst + 10 × D. A limit kept per worker would let through N times the rate.
  const config = { routes: [{ path: '/', upstream: 'app', rate_limit: { rate: 10, per: '1s', burst: 10 } }] };

  test.each([1, 2, 3])('%i worker(s): the observed rate is within 5 percent of the limit', async (workers) => {
    const p = await proxy(config, workers);
    const path = `/accuracy-${workers}`;
    const r = await hammer(p.port, path, 5000);
    expect(r.errors, p.output()).toEqual([]);
    // The window is measured where the granted requests arrive (the origin), not at the client,
    // whose own latency under load would stretch it: burst + rate × (last − first arrival).
    const seen = arrivals.get(path)!;
    expect(seen.length).toBe(r.ok);
    expect(seen.at(-1)! - seen[0]!).toBeGreaterThan(4000);
    const expected = 10 + (10 * (seen.at(-1)! - seen[0]!)) / 1000;
    expect(r.other).toBe(0);
    expect(r.limited).toBeGreaterThan(r.ok); // the limit was actually under pressure
    expect(Math.abs(r.ok - expected) / expected, `${r.ok} allowed, expected ${expected.toFixed(1)}`).toBeLessThan(0.05);
    await p.stop();
  }, 30_000);
});

describe('the 429 answer', () => {
  let p: RunningProxy;
  beforeAll(async () => {
    p = await proxy({ routes: [{ path: '/', upstream: 'app', rate_limit: { rate: 2, per: '10s', burst: 3 } }] });
  });

  test('allowed answers carry RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers)', async () => {
    const r = await request(p.port, { path: '/a' });
    expect(r.status).toBe(200);
    expect(r.headers['ratelimit-policy']).toBe('"client_ip";q=3;w=15');
    expect(r.headers['ratelimit']).toMatch(/^"client_ip";r=2;t=(5|6)$/);
  });

  test('over the burst: 429 with Retry-After, RateLimit r=0 and the error code', async () => {
    await request(p.port, { path: '/a' });
    await request(p.port, { path: '/a' });
    const r = await request(p.port, { path: '/a' });
    expect(r.status).toBe(429);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_RATE_LIMITED');
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(4);
    expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(5);
    expect(r.headers['ratelimit']).toMatch(/^"client_ip";r=0;t=1[45]$/);
    expect(r.headers['ratelimit-policy']).toBe('"client_ip";q=3;w=15');
    expect(r.text).toContain('429');
  });
});

describe('keys', () => {
  let p: RunningProxy;
  beforeAll(async () => {
    p = await proxy({
      routes: [
        { path: '/by-key/', upstream: 'app', rate_limit: { rate: 1, per: '1m', burst: 2, key: 'header:X-Api-Key' } },
        { path: '/shared/', upstream: 'app', rate_limit: { rate: 1, per: '1m', burst: 2, key: 'route' } },
        { path: '/both/', upstream: 'app', rate_limit: { rate: 1, per: '1m', burst: 1, key: 'client_ip+header:X-Api-Key' } },
        { path: '/other/', upstream: 'app', rate_limit: { rate: 1, per: '1m', burst: 1 } },
      ],
    });
  });

  const statuses = async (path: string, headers: Record<string, string>[]): Promise<number[]> => {
    const out: number[] = [];
    for (const h of headers) out.push((await request(p.port, { path, headers: h })).status);
    return out;
  };

  test('header:NAME gives each value its own bucket', async () => {
    expect(await statuses('/by-key/x', [{ 'x-api-key': 'a' }, { 'x-api-key': 'a' }, { 'x-api-key': 'a' }, { 'x-api-key': 'b' }])).toEqual([200, 200, 429, 200]);
  });

  test('header:NAME without the header is keyed by the client IP (leaving it out escapes nothing)', async () => {
    expect(await statuses('/by-key/y', [{}, {}, {}])).toEqual([200, 200, 429]);
  });

  test('route: one bucket for everyone on the route', async () => {
    expect(await statuses('/shared/1', [{ 'x-api-key': 'a' }, { 'x-api-key': 'b' }, { 'x-api-key': 'c' }])).toEqual([200, 200, 429]);
  });

  test('client_ip+header:NAME: both parts make the key', async () => {
    expect(await statuses('/both/1', [{ 'x-api-key': 'a' }, { 'x-api-key': 'a' }, { 'x-api-key': 'b' }])).toEqual([200, 429, 200]);
  });

  test('each route has its own buckets', async () => {
    expect(await statuses('/other/1', [{}, {}])).toEqual([200, 429]);
  });
});

describe('client identity: spoofed X-Forwarded-For does not get a fresh bucket', () => {
  test('from an untrusted peer every spoofed XFF shares the peer\'s bucket', async () => {
    const p = await proxy({ routes: [{ path: '/', upstream: 'app', rate_limit: { rate: 1, per: '1m', burst: 2 } }] });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await request(p.port, { headers: { 'x-forwarded-for': `10.0.0.${i}` } })).status);
    expect(codes).toEqual([200, 200, 429, 429]);
    await p.stop();
  });

  test('header:NAME without the header: each client IP has its own bucket', async () => {
    const p = await proxy({ trusted_proxies: ['127.0.0.1'], routes: [{ path: '/', upstream: 'app', rate_limit: { rate: 1, per: '1m', burst: 1, key: 'header:X-Api-Key' } }] });
    const codes: number[] = [];
    for (const ip of ['10.0.0.1', '10.0.0.1', '10.0.0.2']) codes.push((await request(p.port, { headers: { 'x-forwarded-for': ip } })).status);
    expect(codes).toEqual([200, 429, 200]);
    await p.stop();
  });

  test('behind a trusted proxy each client has its own bucket', async () => {
    const p = await proxy({ trusted_proxies: ['127.0.0.1'], routes: [{ path: '/', upstream: 'app', rate_limit: { rate: 1, per: '1m', burst: 1 } }] });
    const codes: number[] = [];
    for (const ip of ['10.0.0.1', '10.0.0.1', '10.0.0.2']) codes.push((await request(p.port, { headers: { 'x-forwarded-for': ip } })).status);
    expect(codes).toEqual([200, 429, 200]);
    await p.stop();
  });
});

describe('limits.max_requests_per_ip', () => {
  test('in-flight requests per client IP are counted across workers and given back', async () => {
    const p = await proxy({ limits: { max_requests_per_ip: 2 } }, 2);
    const agents = Array.from({ length: 4 }, () => new http.Agent({ keepAlive: false }));
    const slow = await Promise.all(agents.map((agent) => request(p.port, { path: '/slow', agent })));
    const codes = slow.map((r) => r.status).sort();
    expect(codes).toEqual([200, 200, 429, 429]);
    expect(slow.find((r) => r.status === 429)!.headers['x-portcullis-error']).toBe('PC_ERR_CONCURRENCY');
    // Every slot was given back: the next ones pass. (A slot is given back when its exchange
    // ends, just after the answer's last byte went out, as nginx's limit_conn does: a client
    // can see its answer a moment before then, on a loaded machine, so a 429 is retried.)
    let again: number[] = [];
    for (let tries = 0; tries < 20; tries++) {
      again = (await Promise.all([request(p.port, { path: '/slow' }), request(p.port, { path: '/slow' })])).map((r) => r.status);
      if (again.every((s) => s === 200)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(again).toEqual([200, 200]);
    await p.stop();
  });
});

describe('limits.max_connections_per_ip', () => {
  /** Opens a connection and reports whether the proxy kept it open (it answers a request on it). */
  const connect = (port: number): Promise<{ socket: net.Socket; open: boolean }> => new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    let data = '';
    socket.on('data', (d) => { data += d.toString(); if (data.includes('\r\n\r\nok')) resolve({ socket, open: true }); });
    socket.on('close', () => resolve({ socket, open: false }));
    socket.on('error', () => {});
  });

  test('open connections per address are counted across workers; a closed one frees its place', async () => {
    const p = await proxy({ limits: { max_connections_per_ip: 2 } }, 2);
    const a = await connect(p.port);
    const b = await connect(p.port);
    const c = await connect(p.port);
    expect([a.open, b.open, c.open]).toEqual([true, true, false]);
    a.socket.destroy();
    // The close reaches the worker's hook asynchronously: poll for the freed place.
    await expect.poll(async () => { const d = await connect(p.port); d.socket.destroy(); return d.open; }, { timeout: 5000 }).toBe(true);
    b.socket.destroy();
    await p.stop();
  });
});

describe('limits.connection_rate_per_ip', () => {
  test('new connections over the rate are closed at once, before any answer', async () => {
    const p = await proxy({ limits: { connection_rate_per_ip: { rate: 1, per: '1m', burst: 3 } } }, 2);
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(await new Promise<string>((resolve) => {
        const s = net.connect(p.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        let data = '';
        s.on('data', (d) => { data += d.toString(); if (data.includes('\r\n\r\n')) { s.destroy(); resolve(data.slice(9, 12)); } });
        s.on('close', () => resolve(data === '' ? 'closed' : data.slice(9, 12)));
        s.on('error', () => resolve('closed'));
      }));
    }
    expect(outcomes).toEqual(['200', '200', '200', 'closed', 'closed']);
    await p.stop();
  });
});
