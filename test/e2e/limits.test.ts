// Every limit and timeout answers with the right status, fast, and never hangs.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, startRawOrigin, type Origin, type RawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';

let origin: Origin;
let stall: RawOrigin;
let midBody: RawOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  // Accepts the request and never answers.
  stall = await startRawOrigin(() => {});
  // Announces 1000 bytes, sends 10, then closes.
  midBody = await startRawOrigin((s) => {
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789');
      setTimeout(() => s.destroy(), 50);
    });
  });
  proxy = await startProxy({
    limits: { max_header_bytes: '8KiB', max_body_bytes: '1KiB' },
    timeouts: { response_header: '500ms', connect: '1s' },
    upstreams: {
      ok: { targets: [origin.url] },
      stall: { targets: [stall.url] },
      mid: { targets: [midBody.url] },
      // Port 1 on loopback: nothing listens there, and no parallel test can take it.
      dead: { targets: ['http://127.0.0.1:1'] },
    },
    routes: [
      { path: '/stall', upstream: 'stall' },
      { path: '/mid', upstream: 'mid' },
      { path: '/dead', upstream: 'dead' },
      { path: '/', upstream: 'ok' },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  await stall?.close();
  await midBody?.close();
});

describe('request limits', () => {
  test('431 when the header block is over max_header_bytes', async () => {
    const before = origin.seen.length;
    // uWS answers this one itself: the proxy sets its head limit to max_header_bytes (uws/head-limit.ts).
    const r = await request(proxy.port, { headers: { 'x-big': 'a'.repeat(9000) } });
    expect(r.status).toBe(431);
    expect(origin.seen.length).toBe(before);
  });

  test('413 before anything reaches the upstream when the declared length is over the limit', async () => {
    const before = origin.seen.length;
    const r = await rawRequest(proxy.port, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n');
    expect(r.status).toBe(413);
    expect(r.data).toContain('PC_ERR_BODY_TOO_LARGE');
    expect(origin.seen.length).toBe(before);
  });

  test('413 and the upstream request aborted when a chunked body crosses the limit', async () => {
    const chunk = 'x'.repeat(600);
    const body = `258\r\n${chunk}\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`;
    const before = origin.seen.filter((s) => s.method === 'POST').length;
    const r = await rawRequest(proxy.port, `POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    expect(r.status).toBe(413);
    expect(r.closed).toBe(true);
    // The origin may have seen the start of the request, but never a complete body.
    const posts = origin.seen.filter((s) => s.method === 'POST').slice(before);
    for (const p of posts) expect(p.bodyBytes).toBeLessThanOrEqual(1024);
  });
});

describe('upstream failures', () => {
  test('502 fast when the upstream refuses the connection', async () => {
    const t = Date.now();
    const r = await request(proxy.port, { path: '/dead' });
    expect(r.status).toBe(502);
    expect(r.text).toContain('PC_ERR_UPSTREAM_CONNECT');
    expect(Date.now() - t).toBeLessThan(1000);
  });

  test('504 when the upstream does not answer within response_header', async () => {
    const t = Date.now();
    const r = await request(proxy.port, { path: '/stall' });
    expect(r.status).toBe(504);
    expect(r.text).toContain('PC_ERR_UPSTREAM_TIMEOUT');
    expect(Date.now() - t).toBeGreaterThanOrEqual(450);
    expect(Date.now() - t).toBeLessThan(2500);
  });

  test('upstream closing mid-body closes the client connection (never a hang)', async () => {
    const r = await rawRequest(proxy.port, 'GET /mid HTTP/1.1\r\nHost: a\r\n\r\n', 5000);
    expect(r.status).toBe(200);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(3000);
    const body = r.data.split('\r\n\r\n')[1] ?? '';
    expect(body.length).toBeLessThan(1000);
  });
});

describe('slow clients', () => {
  test('a request head that never completes is closed at the header timeout', async () => {
    const r = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ', 15_000);
    expect(r.closed).toBe(true);
    expect(r.data).toBe('');
    // uWS enforces its own fixed ~10 s timeout for incomplete heads (docs/limits.md).
    expect(r.ms).toBeLessThan(14_000);
  }, 20_000);
});
