// Per-route timeouts over the global ones: an event stream route stays quiet for 30 s while an
// API route on the same proxy times out in half a second, and a route without its own keeps
// the global idle timeout; a route's own connect timeout bounds how long its requests wait for
// a connection to a busy target.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import http from 'node:http';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { startOrigin, startRawOrigin, type Origin, type RawOrigin } from '../helpers/origin.js';
import { until } from '../helpers/admin.js';

let origin: Origin;
let hang: RawOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    const url = req.url ?? '';
    if (url.includes('events')) {
      // One event, a long silence, another event, end.
      const quiet = Number(new URLSearchParams(url.split('?')[1]).get('quiet'));
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: first\n\n');
      setTimeout(() => { if (!res.destroyed) res.end('data: second\n\n'); }, quiet);
      return;
    }
    // The API: answers after ?delay ms.
    const delay = Number(new URLSearchParams(url.split('?')[1]).get('delay') ?? 0);
    setTimeout(() => { if (!res.destroyed) res.end('api'); }, delay);
  }, { keepAliveTimeout: 120_000 });
  hang = await startRawOrigin(() => {}); // accepts, never answers
  proxy = await startProxy({
    timeouts: { response_header: '5s', idle: '2s', connect: '3s' },
    upstreams: { app: { targets: [origin.url] }, busy: { targets: [hang.url], pool: { max_connections: 1 }, passive: false } },
    routes: [
      { path: '/busy/quick/', upstream: 'busy', timeouts: { connect: '300ms' } },
      { path: '/busy/', upstream: 'busy' },
      { path: '/sse/', upstream: 'app', timeouts: { response_header: '5s', idle: '10m' } },
      { path: '/api/', upstream: 'app', timeouts: { response_header: '500ms' } },
      { path: '/', upstream: 'app' },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  await hang?.close();
});

function stream(path: string): Promise<{ status: number; body: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: proxy.port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, complete: true }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body, complete: false }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body, complete: false }));
    }).on('error', reject);
  });
}

describe('per-route timeouts', () => {
  test('a 30 s quiet event stream survives on its route while the API route times out in 500 ms', async () => {
    const started = Date.now();
    const sse = stream('/sse/events?quiet=30000');
    // Meanwhile, on the same proxy: the API route's response_header is 500 ms, not the global 5 s.
    const t0 = Date.now();
    const slow = await request(proxy.port, { path: '/api/x?delay=2000' });
    expect(slow.status).toBe(504);
    expect(slow.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(3000); // 500 ms with room for a loaded machine; the global is 5 s
    expect((await request(proxy.port, { path: '/api/x?delay=100' })).text).toBe('api');
    // A route without its own timeouts cuts a stream quiet for longer than the global idle (2 s).
    const cut = await stream('/events?quiet=4000');
    expect(cut.body).toContain('data: first\n\n');
    expect(cut.body).not.toContain('second');
    expect(cut.complete).toBe(false);
    const r = await sse;
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(r.body).toMatch(/data: first\n\ndata: second\n\n$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(30_000);
  }, 45_000);

  test('a route\'s own connect timeout bounds its wait for a busy target; the other route waits the global one', async () => {
    // The only connection to the hanging target is taken (it ends in 504 after response_header, 5 s).
    const first = request(proxy.port, { path: '/busy/1' });
    await until(() => hang.connections() >= 1, 10_000, 'the first request at the target');
    const t0 = Date.now();
    const quick = request(proxy.port, { path: '/busy/quick/2' }).then((r) => ({ r, ms: Date.now() - t0 }));
    const slow = request(proxy.port, { path: '/busy/3' }).then((r) => ({ r, ms: Date.now() - t0 }));
    const q = await quick;
    expect(q.r.status).toBe(503);
    expect(q.r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_UNAVAILABLE');
    expect(q.r.headers['retry-after']).toBeDefined();
    expect(q.ms).toBeGreaterThanOrEqual(250);
    expect(q.ms).toBeLessThan(2500); // 300 ms, with room for a loaded machine; the global is 3 s
    const s = await slow;
    expect(s.r.status).toBe(503);
    expect(s.ms).toBeGreaterThanOrEqual(2900); // a timer never fires early: this one waited timeouts.connect
    expect((await first).status).toBe(504);
  }, 20_000);
});
