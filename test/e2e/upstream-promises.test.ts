// Upstream-side promises a mutation pass over src/ found untested (each one-line change passed the
// whole suite before these): a request is replayed only after a *reused* socket failed (errors.md
// PC_ERR_UPSTREAM_RESET); queued requests get connections first come, first served (limits.md
// "waits in a FIFO"); timeouts.response_header restarts with every request body byte sent, so a slow
// upload that keeps moving is not cut; a chunked body of exactly max_body_bytes passes (only one
// crossing it gets 413).
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, startRawOrigin, type Origin, type RawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a fresh upstream connection that closes before answering', () => {
  let slam: RawOrigin;
  let proxy: RunningProxy;
  beforeAll(async () => {
    slam = await startRawOrigin((s) => s.once('data', () => s.destroy()));
    proxy = await startProxy({ upstreams: { slam: { targets: [slam.url] } } });
  });
  afterAll(async () => { await proxy?.stop(); await slam?.close(); });

  test('is not replayed (only a reused socket may have met the idle race): one connection, 502 PC_ERR_UPSTREAM_RESET', async () => {
    const before = slam.connections();
    const r = await request(proxy.port, { path: '/idempotent-get' });
    expect(r.status).toBe(502);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_RESET');
    expect(slam.connections() - before).toBe(1);
  });
});

describe('requests waiting for a busy target', () => {
  let held: http.ServerResponse[] = [];
  let origin: Origin;
  let proxy: RunningProxy;
  beforeAll(async () => {
    origin = await startOrigin((req, res) => {
      if (req.url === '/hold') { held.push(res); return; } // answered when the test says so
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(req.url);
    });
    proxy = await startProxy({
      timeouts: { connect: '20s' },
      upstreams: { one: { targets: [origin.url], pool: { max_connections: 1 } } },
    }, { workers: 1 });
  });
  afterAll(async () => {
    for (const res of held) res.end();
    held = [];
    await proxy?.stop();
    await origin?.close();
  });

  test('get the connection in the order they came (FIFO)', async () => {
    const first = request(proxy.port, { path: '/hold' });
    for (let i = 0; i < 100 && held.length === 0; i++) await sleep(20);
    expect(held).toHaveLength(1); // the only connection is busy
    const before = origin.seen.length;
    const queued: Promise<unknown>[] = [];
    for (const path of ['/q1', '/q2', '/q3', '/q4']) {
      queued.push(request(proxy.port, { path }));
      await sleep(300); // each one reaches the proxy's queue before the next is sent
    }
    expect(origin.seen.length).toBe(before); // all four waited
    held.shift()!.end('done');
    await first;
    await Promise.all(queued);
    expect(origin.seen.slice(before).map((s) => s.url)).toEqual(['/q1', '/q2', '/q3', '/q4']);
  }, 20_000);
});

describe('request bodies and the upstream clocks', () => {
  let origin: Origin;
  let proxy: RunningProxy;
  beforeAll(async () => {
    origin = await startOrigin((_req, res, body) => {
      const text = String(body.length);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(text.length) });
      res.end(text);
    });
    proxy = await startProxy({
      limits: { max_body_bytes: '200KiB' },
      timeouts: { response_header: '1s', connect: '2s' },
      upstreams: { app: { targets: [origin.url] } },
    });
  });
  afterAll(async () => { await proxy?.stop(); await origin?.close(); });

  test('an upload slower in all than response_header (1 s) but never idle for it arrives whole', async () => {
    // 8 chunks of 20 KiB, 400 ms apart: 2.8 s in all, each gap under the 1 s response_header.
    const s = net.connect(proxy.port, '127.0.0.1');
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.on('error', () => {});
    s.write('POST /slow-upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
    const chunk = 'u'.repeat(20 * 1024);
    for (let i = 0; i < 8; i++) {
      if (i > 0) await sleep(400);
      s.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    }
    s.write('0\r\n\r\n');
    await closed;
    expect(got).toMatch(/^HTTP\/1\.1 200 /);
    expect(got.slice(got.indexOf('\r\n\r\n') + 4)).toBe(String(8 * 20 * 1024));
  }, 20_000);

  test('a chunked body of exactly max_body_bytes passes; one byte more is 413', async () => {
    const chunked = (n: number): string => `POST /exact HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${n.toString(16)}\r\n${'e'.repeat(n)}\r\n0\r\n\r\n`;
    const exact = await rawRequest(proxy.port, chunked(200 * 1024), 5000);
    expect(exact.status).toBe(200);
    expect(exact.data.endsWith(String(200 * 1024))).toBe(true);
    const over = await rawRequest(proxy.port, chunked(200 * 1024 + 1), 5000);
    expect(over.status).toBe(413);
    expect(over.data).toContain('PC_ERR_BODY_TOO_LARGE');
  });
});
