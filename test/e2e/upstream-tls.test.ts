// TLS to https:// upstreams: verification against a custom CA (or the default roots), SNI,
// a client certificate, keep-alive reuse, streaming, WebSockets (wss), and a certificate the
// proxy must not accept answered as 502 PC_ERR_UPSTREAM_TLS.
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { createServer as createHttpServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocketServer } from 'ws';
import WebSocket from 'ws';
import { request } from '../helpers/client.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { createTestCa, type TestCa } from '../helpers/tls.js';

interface TlsOrigin {
  readonly port: number;
  readonly seen: { url: string; servername: string | false; clientCn: string | undefined; socket: number }[];
  connections(): number;
  close(): Promise<void>;
}

/** An https origin answering JSON about what it saw (SNI, client certificate), or 1 MiB on /big. */
async function startTlsOrigin(options: tls.TlsOptions, wsEcho = false): Promise<TlsOrigin> {
  const seen: TlsOrigin['seen'] = [];
  const sockets = new Map<net.Socket, number>();
  let count = 0;
  const server = https.createServer(options, (req, res) => {
    const socket = req.socket as tls.TLSSocket;
    const peer = socket.getPeerCertificate();
    seen.push({ url: req.url ?? '', servername: socket.servername ?? false, clientCn: peer?.subject?.CN as string | undefined, socket: sockets.get(socket) ?? -1 });
    req.resume();
    req.on('end', () => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16 * 1024, i));
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(seen.at(-1)));
    });
  });
  server.on('secureConnection', (s) => { sockets.set(s, ++count); });
  server.on('tlsClientError', () => {});
  if (wsEcho) {
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    connections: () => count,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

let ca: TestCa;
let otherCa: TestCa;
let good: TlsOrigin;
let mtls: TlsOrigin;
let untrusted: TlsOrigin;
let wrongName: TlsOrigin;
let expired: TlsOrigin;
let plainPort: number;
let plainServer: ReturnType<typeof createHttpServer>;
let proxy: RunningProxy;

beforeAll(async () => {
  ca = await createTestCa();
  otherCa = await createTestCa('Some Other CA');
  const origin = await ca.issue('origin', ['origin.test', '127.0.0.1']);
  const client = await ca.issue('client', ['portcullis-client'], { clientAuth: true });
  const stranger = await otherCa.issue('stranger', ['origin.test', '127.0.0.1']);
  const elsewhere = await ca.issue('elsewhere', ['elsewhere.test']);
  const old = await ca.issue('old', ['origin.test', '127.0.0.1'], { notBefore: Date.now() - 5 * 86_400_000, notAfter: Date.now() - 86_400_000 });
  good = await startTlsOrigin({ cert: origin.pem.certPem, key: origin.pem.keyPem }, true);
  mtls = await startTlsOrigin({ cert: origin.pem.certPem, key: origin.pem.keyPem, requestCert: true, rejectUnauthorized: true, ca: ca.ca.certPem });
  untrusted = await startTlsOrigin({ cert: stranger.pem.certPem, key: stranger.pem.keyPem });
  wrongName = await startTlsOrigin({ cert: elsewhere.pem.certPem, key: elsewhere.pem.keyPem });
  expired = await startTlsOrigin({ cert: old.pem.certPem, key: old.pem.keyPem });
  plainServer = createHttpServer((_req, res) => res.end('plain'));
  await new Promise<void>((r) => plainServer.listen(0, '127.0.0.1', r));
  plainPort = (plainServer.address() as net.AddressInfo).port;
  const withCa = { ca: ca.caFile };
  proxy = await startProxy({
    upstreams: {
      good: { targets: [`https://127.0.0.1:${good.port}`], tls: { ...withCa, server_name: 'origin.test' } },
      byip: { targets: [`https://127.0.0.1:${good.port}`], tls: withCa },
      roots: { targets: [`https://127.0.0.1:${good.port}`] },
      mtls: { targets: [`https://127.0.0.1:${mtls.port}`], tls: { ...withCa, cert: client.cert, key: client.key } },
      nocert: { targets: [`https://127.0.0.1:${mtls.port}`], tls: withCa },
      untrusted: { targets: [`https://127.0.0.1:${untrusted.port}`], tls: withCa },
      wrongname: { targets: [`https://127.0.0.1:${wrongName.port}`], tls: { ...withCa, server_name: 'origin.test' } },
      expired: { targets: [`https://127.0.0.1:${expired.port}`], tls: withCa },
      plain: { targets: [`https://127.0.0.1:${plainPort}`], tls: withCa },
      insecure: { targets: [`https://127.0.0.1:${untrusted.port}`], tls: { verify: false } },
      failover: { targets: [`https://127.0.0.1:${untrusted.port}`, `https://127.0.0.1:${good.port}`], tls: withCa },
      // Active health checks of https targets go over TLS with the group's settings.
      checked: { targets: [`https://127.0.0.1:${good.port}`], tls: { ...withCa, server_name: 'origin.test' }, health: { path: '/healthz', interval: '500ms', timeout: '500ms', healthy_after: 1, unhealthy_after: 1 } },
      checkedbad: { targets: [`https://127.0.0.1:${untrusted.port}`], tls: withCa, health: { path: '/healthz', interval: '500ms', timeout: '500ms', healthy_after: 1, unhealthy_after: 1 } },
    },
    routes: ['good', 'byip', 'roots', 'mtls', 'nocert', 'untrusted', 'wrongname', 'expired', 'plain', 'insecure', 'failover']
      .map((u) => ({ path: `/${u}/`, upstream: u, strip_prefix: true })),
  });
});

afterAll(async () => {
  await proxy?.stop();
  for (const o of [good, mtls, untrusted, wrongName, expired]) await o?.close();
  plainServer?.closeAllConnections();
  plainServer?.close();
  ca?.remove();
  otherCa?.remove();
});

describe('verified https upstreams', () => {
  test('a custom CA and server_name: SNI is the name, the answer comes through', async () => {
    const r = await request(proxy.port, { path: '/good/x' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ url: '/x', servername: 'origin.test' });
  });

  test('an IP target is checked against its IP and sends no SNI', async () => {
    const r = await request(proxy.port, { path: '/byip/y' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ url: '/y', servername: false });
  });

  test('keep-alive: sequential requests share one TLS connection', async () => {
    const before = good.connections();
    for (let i = 0; i < 5; i++) expect((await request(proxy.port, { path: `/good/k${i}` })).status).toBe(200);
    expect(good.connections() - before).toBeLessThanOrEqual(1);
    const sockets = new Set(good.seen.filter((s) => s.url.startsWith('/k')).map((s) => s.socket));
    expect(sockets.size).toBe(1);
  });

  test('a client certificate (mTLS) is presented when configured', async () => {
    const r = await request(proxy.port, { path: '/mtls/m' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ url: '/m', clientCn: 'portcullis-client' });
  });

  test('a 1 MiB body streams through intact', async () => {
    const r = await request(proxy.port, { path: '/good/big' });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(1024 * 1024);
    for (let i = 0; i < 64; i++) expect(r.body[i * 16 * 1024 + 5]).toBe(i);
  });

  test('a WebSocket to an https upstream goes over wss', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/good/ws`);
      ws.on('open', () => ws.send('over tls'));
      ws.on('message', (m) => { resolve(m.toString()); ws.close(); });
      ws.on('error', reject);
      ws.on('unexpected-response', (_q, res) => reject(new Error(`status ${res.statusCode}`)));
    });
    expect(reply).toBe('over tls');
  });

  test('failover: a target with a bad certificate is skipped for the next', async () => {
    const r = await request(proxy.port, { path: '/failover/f' });
    expect(r.status).toBe(200);
  });
});

describe('certificates the proxy refuses: 502 PC_ERR_UPSTREAM_TLS', () => {
  test.each([
    ['an unknown CA', '/untrusted/'],
    ['a name that does not match', '/wrongname/'],
    ['an expired certificate', '/expired/'],
    ['a test CA when only the default roots are trusted', '/roots/'],
    ['a server that does not speak TLS', '/plain/'],
  ])('%s', async (_name, path) => {
    const r = await request(proxy.port, { path });
    expect(r.status).toBe(502);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_TLS');
    expect(r.text).toBe('502 upstream TLS handshake failed (PC_ERR_UPSTREAM_TLS)\n');
  });

  test('a server that wants a client certificate and gets none', async () => {
    const r = await request(proxy.port, { path: '/nocert/' });
    expect(r.status).toBe(502);
    expect(['PC_ERR_UPSTREAM_TLS', 'PC_ERR_UPSTREAM_RESET']).toContain(r.headers['x-portcullis-error']);
  });

  test('a WebSocket to an untrusted upstream is refused with the same code', async () => {
    const status = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/untrusted/ws`);
      ws.on('unexpected-response', (_q, res) => resolve(`${res.statusCode} ${res.headers['x-portcullis-error']}`));
      ws.on('open', () => { ws.close(); resolve('open'); });
      ws.on('error', () => {});
    });
    expect(status).toBe('502 PC_ERR_UPSTREAM_TLS');
  });

  test('health checks of https targets use TLS with the group\'s CA and name: a verified target is healthy, an untrusted one unhealthy', async () => {
    const deadline = Date.now() + 15_000;
    const goodLine = `upstream checked: https://127.0.0.1:${good.port} healthy`;
    const badLine = `upstream checkedbad: https://127.0.0.1:${untrusted.port} unhealthy`;
    while (!(proxy.output().includes(goodLine) && proxy.output().includes(badLine)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(proxy.output()).toContain(goodLine);
    expect(proxy.output()).toContain(badLine);
    expect(proxy.output()).not.toContain(`upstream checked: https://127.0.0.1:${good.port} unhealthy`);
    // The check reached the origin over TLS, with the configured name as SNI.
    expect(good.seen.some((s) => s.url === '/healthz' && s.servername === 'origin.test')).toBe(true);
  });

  test('verify: false accepts it (testing only), with a warning at start', async () => {
    const r = await request(proxy.port, { path: '/insecure/i' });
    expect(r.status).toBe(200);
    expect(proxy.output()).toMatch(/warn: upstream insecure: tls\.verify is false/);
  });
});
