// A client that sends a request body faster than the upstream takes it. uWS 20.57 keeps
// reading a paused client (docs/limits.md "Request bodies"), so the proxy bounds what it holds
// for the upstream: the upload completes with memory bounded, or ends with 503
// PC_ERR_UPLOAD_BACKLOG, never the whole body held in memory.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { rssOf, startProxy, type RunningProxy } from '../helpers/proxy.js';

const MiB = 1024 * 1024;
const TOTAL = 300 * MiB;
let slow: net.Server;
let proxy: RunningProxy;

beforeAll(async () => {
  // Reads a piece, then nothing for 5 ms: a few MB/s.
  slow = net.createServer((c) => {
    let n = 0;
    c.on('data', (d: Buffer) => {
      c.pause();
      setTimeout(() => c.resume(), 5);
      n += d.length;
      if (n >= TOTAL) c.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const port = (slow.address() as net.AddressInfo).port;
  proxy = await startProxy({
    limits: { max_body_bytes: '1GiB' },
    timeouts: { response_header: '120s' },
    upstreams: { slow: { targets: [`http://127.0.0.1:${port}`] } },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await new Promise<void>((r) => slow.close(() => r()));
});

test('a 300 MiB upload at full speed to a slow upstream: memory stays bounded, the answer is 503 PC_ERR_UPLOAD_BACKLOG', async () => {
  const pid = proxy.child.pid!;
  const base = await rssOf(pid);
  let peak = base;
  const sampler = setInterval(() => { void rssOf(pid).then((r) => { peak = Math.max(peak, r); }); }, 50);
  const result = await new Promise<{ status: number; code: string }>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'POST', path: '/', agent: false, headers: { 'content-length': String(TOTAL) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: String(res.headers['x-portcullis-error'] ?? '') }));
    });
    req.on('error', () => resolve({ status: 0, code: 'connection closed' }));
    const block = Buffer.alloc(MiB, 117);
    let sent = 0;
    const pump = (): void => {
      while (sent < TOTAL) {
        sent += MiB;
        if (!req.write(block)) { req.once('drain', pump); return; }
      }
      req.end();
    };
    pump();
  });
  clearInterval(sampler);
  expect(result).toEqual({ status: 503, code: 'PC_ERR_UPLOAD_BACKLOG' });
  expect(peak - base).toBeLessThan(160 * MiB);
}, 60_000);
