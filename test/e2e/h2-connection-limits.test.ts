// limits.max_connections_per_ip and limits.connection_rate_per_ip on an HTTP/2 listener (Node's
// server, not uWS): a connection over either is closed as it arrives, before the TLS
// handshake, counted across workers. (A black-box helper reconnected to start a fresh
// rapid-reset budget each time: these limits bound that too.)
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { createTestCa, type TestCa } from '../helpers/tls.js';

let ca: TestCa;
let origin: Origin;
let cert: { cert: string; key: string };

beforeAll(async () => {
  ca = await createTestCa();
  const site = await ca.issue('site', ['site.test']);
  cert = { cert: site.cert, key: site.key };
  origin = await startOrigin((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); });
});

afterAll(async () => {
  await origin?.close();
  ca?.remove();
});

async function proxyWith(limits: Record<string, unknown>): Promise<RunningProxy & { h2Port: number }> {
  const h2Port = await freePort();
  const p = await startProxy({
    listen: [{ address: `127.0.0.1:${h2Port}`, tls: { certificates: [cert] }, protocols: ['h1', 'h2'] }],
    upstreams: { app: { targets: [origin.url] } },
    limits,
  }, { workers: 2 });
  return Object.assign(p, { h2Port });
}

/** An HTTP/2 connection and whether the proxy served a request on it (false: closed before an answer). */
function connect(port: number): Promise<{ session: http2.ClientHttp2Session; open: boolean }> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.ca.certPem, servername: 'site.test' });
    session.on('error', () => resolve({ session, open: false }));
    session.on('close', () => resolve({ session, open: false }));
    const req = session.request({ ':path': '/', ':authority': 'site.test' });
    req.on('error', () => resolve({ session, open: false }));
    req.on('response', (h) => resolve({ session, open: h[':status'] === 200 }));
    req.resume();
    req.end();
  });
}

describe('connection limits on an HTTP/2 listener', () => {
  test('max_connections_per_ip: the third connection is closed; a closed one frees its place', async () => {
    const p = await proxyWith({ max_connections_per_ip: 2 });
    try {
      const a = await connect(p.h2Port);
      const b = await connect(p.h2Port);
      const c = await connect(p.h2Port);
      expect([a.open, b.open, c.open]).toEqual([true, true, false]);
      a.session.destroy();
      await expect.poll(async () => { const d = await connect(p.h2Port); d.session.destroy(); return d.open; }, { timeout: 5000 }).toBe(true);
      b.session.destroy();
      c.session.destroy();
    } finally {
      await p.stop();
    }
  }, 20_000);

  test('connection_rate_per_ip: connections over the rate are closed at once', async () => {
    const p = await proxyWith({ connection_rate_per_ip: { rate: 1, per: '1m', burst: 3 } });
    try {
      const outcomes: boolean[] = [];
      for (let i = 0; i < 5; i++) {
        const c = await connect(p.h2Port);
        outcomes.push(c.open);
        c.session.destroy();
      }
      expect(outcomes).toEqual([true, true, true, false, false]);
    } finally {
      await p.stop();
    }
  }, 20_000);
});
