// redirect_https (308 to https:// for hosts with a certificate, never a loop behind a trusted
// TLS-terminating proxy) and Strict-Transport-Security on TLS listeners.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { createTestCa, tlsGet, type TestCa } from '../helpers/tls.js';

let ca: TestCa;
let origin: Origin;
let proxy: RunningProxy;
let behindLb: RunningProxy;
const ports = { plain: 0, tls: 0, noHsts: 0, custom: 0, lbPlain: 0, lbTls: 0 };

beforeAll(async () => {
  ca = await createTestCa();
  const a = await ca.issue('a', ['a.test', '*.wild.test']);
  const cert = { cert: a.cert, key: a.key };
  origin = await startOrigin((req, res) => {
    if (req.url === '/own-hsts') res.setHeader('strict-transport-security', 'max-age=60');
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  proxy = await startProxy({
    listen: [
      { address: `127.0.0.1:${ports.plain}`, redirect_https: true },
      { address: `127.0.0.1:${ports.tls}`, tls: { certificates: [cert] } },
      { address: `127.0.0.1:${ports.noHsts}`, tls: { certificates: [cert], hsts: false } },
      { address: `127.0.0.1:${ports.custom}`, tls: { certificates: [cert], hsts: { max_age: '1d12h', include_subdomains: true, preload: true } } },
    ],
    upstreams: { app: { targets: [origin.url] } },
    routes: ['a.test', '*.wild.test', 'other.test'].map((host) => ({ host, path: '/', upstream: 'app' })),
  });
  behindLb = await startProxy({
    trusted_proxies: ['127.0.0.0/8'],
    listen: [{ address: `127.0.0.1:${ports.lbPlain}`, redirect_https: true }, { address: `127.0.0.1:${ports.lbTls}`, tls: { certificates: [cert] } }],
    upstreams: { app: { targets: [origin.url] } },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await behindLb?.stop();
  await origin?.close();
  ca?.remove();
});

describe('redirect_https', () => {
  test('a host with a certificate gets 308 to the same URL over https', async () => {
    const r = await request(ports.plain, { path: '/a/b%20c?x=1&y', headers: { host: 'A.test:80' } });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe(`https://a.test:${ports.tls}/a/b%20c?x=1&y`);
    expect(origin.seen.some((s) => s.url.startsWith('/a/b'))).toBe(false);
  });

  test('a wildcard certificate covers its hosts', async () => {
    const r = await request(ports.plain, { path: '/', headers: { host: 'x.wild.test' } });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe(`https://x.wild.test:${ports.tls}/`);
  });

  test('a host without a certificate is served over http', async () => {
    const r = await request(ports.plain, { path: '/plain-ok', headers: { host: 'other.test' } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).url).toBe('/plain-ok');
  });

  test('a POST keeps its method through 308; its unread body closes the connection (no smuggled second request)', async () => {
    const r = await request(ports.plain, { method: 'POST', path: '/form', headers: { host: 'a.test' }, body: 'x=1' });
    expect(r.status).toBe(308);
    // A "body" that is a second request must never be read as one.
    const text = await new Promise<string>((resolve) => {
      const s = net.connect(ports.plain, '127.0.0.1');
      const hidden = 'GET /hidden HTTP/1.1\r\nHost: other.test\r\n\r\n';
      s.write(`POST /form HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`);
      let got = '';
      s.on('data', (d) => { got += d.toString(); });
      s.on('close', () => resolve(got));
    });
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(text).toMatch(/^HTTP\/1\.1 308 /);
    expect(origin.seen.some((x) => x.url === '/hidden')).toBe(false);
  });

  test('HEAD gets the redirect without a body', async () => {
    const r = await request(ports.plain, { method: 'HEAD', path: '/h', headers: { host: 'a.test' } });
    expect(r.status).toBe(308);
    expect(r.body.length).toBe(0);
  });

  test('a client-sent X-Forwarded-Proto: https is not believed: still redirected', async () => {
    const r = await request(ports.plain, { path: '/', headers: { host: 'a.test', 'x-forwarded-proto': 'https' } });
    expect(r.status).toBe(308);
  });

  test('a WebSocket handshake on the plain port is redirected too, not tunnelled in clear', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${ports.plain}/ws`, { headers: { host: 'a.test' } });
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
      ws.on('open', () => { ws.close(); reject(new Error('upgraded over plain http')); });
      ws.on('error', () => {});
    });
    expect(status).toBe(308);
  });

  test('behind a trusted TLS-terminating proxy, X-Forwarded-Proto: https is served (no loop)', async () => {
    const served = await request(ports.lbPlain, { path: '/from-lb', headers: { host: 'a.test', 'x-forwarded-proto': 'https' } });
    expect(served.status).toBe(200);
    const seen = origin.seen.findLast((s) => s.url === '/from-lb')!;
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    const redirected = await request(ports.lbPlain, { path: '/from-lb', headers: { host: 'a.test', 'x-forwarded-proto': 'http' } });
    expect(redirected.status).toBe(308);
    const plain = await request(ports.lbPlain, { path: '/from-lb', headers: { host: 'a.test' } });
    expect(plain.status).toBe(308);
  });

  test('a request line sent byte by byte is still answered (raw socket)', async () => {
    const text = await new Promise<string>((resolve) => {
      const s = net.connect(ports.plain, '127.0.0.1');
      const bytes = Buffer.from('GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n');
      let i = 0;
      let got = '';
      const tick = (): void => { if (i < bytes.length) { s.write(bytes.subarray(i, ++i)); setTimeout(tick, 2); } };
      s.on('connect', tick);
      s.on('data', (d) => { got += d.toString(); if (got.includes('\r\n\r\n')) { s.destroy(); resolve(got); } });
    });
    expect(text).toMatch(/^HTTP\/1\.1 308 /);
    expect(text).toMatch(new RegExp(`location: https://a\\.test:${ports.tls}/slow`, 'i'));
  });
});

describe('Strict-Transport-Security', () => {
  test('on by default on a TLS listener: a year', async () => {
    const r = await tlsGet(ports.tls, { servername: 'a.test' });
    expect(r.status).toBe(200);
    expect(r.headers['strict-transport-security']).toBe('max-age=31536000');
  });

  test('on error answers too (404 with no route)', async () => {
    const r = await tlsGet(ports.tls, { servername: 'a.test', hostHeader: 'nowhere.test', target: '/not-routed' });
    expect(r.status).toBe(404);
    expect(r.headers['strict-transport-security']).toBe('max-age=31536000');
  });

  test('the upstream\'s own header wins and is not doubled', async () => {
    const r = await tlsGet(ports.tls, { servername: 'a.test', target: '/own-hsts' });
    expect(r.headers['strict-transport-security']).toBe('max-age=60');
  });

  test('hsts: false sends none', async () => {
    const r = await tlsGet(ports.noHsts, { servername: 'a.test' });
    expect(r.status).toBe(200);
    expect(r.headers['strict-transport-security']).toBeUndefined();
  });

  test('max_age, include_subdomains and preload are configurable', async () => {
    const r = await tlsGet(ports.custom, { servername: 'a.test' });
    expect(r.headers['strict-transport-security']).toBe('max-age=129600; includeSubDomains; preload');
  });

  test('never on plain http', async () => {
    const r = await request(ports.plain, { path: '/', headers: { host: 'other.test' } });
    expect(r.headers['strict-transport-security']).toBeUndefined();
  });
});
