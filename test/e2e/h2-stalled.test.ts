// HTTP/2 streams whose client never opens its window hold their upstream connections until
// they are cut (answers stream with backpressure; nothing is buffered to disk). docs/tls.md
// says so, and that `limits.max_requests_per_ip` bounds what one client address holds: here a
// pool of 10 connections, one address opening 20 such streams, and another address still
// served. (A black-box helper filled the default pool of 256 with 4–6 such connections, and
// everyone else got 503 until timeouts.idle.)
import http2 from 'node:http2';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { createTestCa, type TestCa } from '../helpers/tls.js';

let ca: TestCa;
let origin: Origin;
let proxy: RunningProxy;
let port = 0;

beforeAll(async () => {
  ca = await createTestCa();
  const site = await ca.issue('site', ['site.test']);
  origin = await startOrigin((req, res) => {
    if (req.url?.startsWith('/big')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(4 << 20) });
      res.end(Buffer.alloc(4 << 20, 0x62));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('small');
  }, { streamBody: false });
  port = await freePort();
  proxy = await startProxy({
    listen: [{ address: `127.0.0.1:${port}`, tls: { certificates: [{ cert: site.cert, key: site.key }] }, protocols: ['h1', 'h2'] }],
    timeouts: { idle: '4s', connect: '1s' },
    upstreams: { app: { targets: [origin.url], pool: { max_connections: 10 } } },
    limits: { max_requests_per_ip: 8 },
  }, { workers: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  ca?.remove();
});

function connect(localAddress: string, settings: http2.Settings = {}): http2.ClientHttp2Session {
  const c = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.ca.certPem, servername: 'site.test', settings, localAddress });
  c.on('error', () => {});
  return c;
}

/** The status of a stream's answer head, or 0 when it closed without one within `ms`. */
function status(c: http2.ClientHttp2Session, path: string, ms = 5_000): Promise<number> {
  return new Promise((resolve) => {
    const req = c.request({ ':path': path, ':authority': 'site.test' });
    const timer = setTimeout(() => resolve(0), ms);
    req.on('response', (h) => { clearTimeout(timer); resolve(Number(h[':status'])); });
    req.on('error', () => {});
    req.on('close', () => { clearTimeout(timer); resolve(0); });
    req.end();
  });
}

test('streams that never open their window: one address holds max_requests_per_ip of them, others are served', async () => {
  // 20 streams from 127.0.0.1 that never read: 8 are answered (and stall), 12 get 429.
  const attacker = connect('127.0.0.1', { initialWindowSize: 0 });
  const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => status(attacker, `/big/${i}`)));
  expect(statuses.filter((s) => s === 200)).toHaveLength(8);
  expect(statuses.filter((s) => s === 429)).toHaveLength(12);
  // The pool (10) still has room: another address is answered at once, not after a wait and a 503.
  const other = connect('127.0.0.2');
  const t0 = Date.now();
  expect(await status(other, '/small')).toBe(200);
  expect(Date.now() - t0).toBeLessThan(900);
  other.close();
  attacker.destroy();
}, 30_000);
