// The front end on uWS 20.57, as raw bytes: what it answers at once (505, 400, 431), what now
// passes that the old build dropped (60 header lines, 32 KiB heads in several reads, `api_key`
// names, PURGE), Host bounds, and how header bytes outside ASCII travel (docs/limits.md).
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startOrigin, startRawOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { rawRequest } from '../helpers/raw.js';

let origin: Origin;
let wsOrigin: WebSocketServer;
let wsPort = 0;
/** Raw header lines of the upgrade requests the WebSocket origin saw. */
const upgrades: string[][] = [];
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin(undefined, { maxHeaderSize: 64 * 1024 });
  const server = http.createServer();
  wsOrigin = new WebSocketServer({ server });
  wsOrigin.on('connection', (ws, req) => { upgrades.push(req.rawHeaders); ws.on('message', (m) => ws.send(m)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  wsPort = (server.address() as net.AddressInfo).port;
  proxy = await startProxy({
    upstreams: { app: { targets: [origin.url] }, ws: { targets: [`http://127.0.0.1:${wsPort}`] } },
    routes: [{ path: '/ws', upstream: 'ws' }, { host: '*.example.com', path: '/', upstream: 'app' }, { path: '/', upstream: 'app' }],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  for (const c of wsOrigin?.clients ?? []) c.terminate();
  await new Promise<void>((r) => (wsOrigin ? wsOrigin.close(() => r()) : r()));
});

/** Sends `bytes` as several writes, `gapMs` apart (a head that arrives in pieces). */
function rawInPieces(bytes: string, pieces: number, gapMs = 30): Promise<{ status: number; data: string }> {
  return new Promise((resolve) => {
    const s = net.connect(proxy.port, '127.0.0.1');
    let data = '';
    s.on('data', (d: Buffer) => { data += d.toString('latin1'); if (/\r\n\r\n/.test(data)) s.end(); });
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), data }));
    s.on('error', () => {});
    const size = Math.ceil(bytes.length / pieces);
    let i = 0;
    const next = (): void => {
      if (i >= bytes.length) return;
      s.write(bytes.slice(i, i + size));
      i += size;
      setTimeout(next, gapMs);
    };
    s.on('connect', next);
  });
}

const last = (): Origin['seen'][number] => origin.seen.at(-1)!;

describe('answered at once, never held', () => {
  test.each([
    ['HTTP/1.0 (ApacheBench, curl -0)', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n', 505],
    ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', 505],
    ['HTTP/0.9', 'GET /\r\n\r\n', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 505],
    ['absolute-form target', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n', 505],
    ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n', 400],
  ])('%s: answered with its status and closed', async (_name, bytes, status) => {
    const before = origin.seen.length;
    const r = await rawRequest(proxy.port, bytes, 2000);
    expect(r.status).toBe(status);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(1000);
    expect(origin.seen.length).toBe(before);
  });

  test('a 16 KB Host of a.a.a…com is refused with 400 at once (it cost 83 ms of CPU per request)', async () => {
    const r = await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: ${'a.'.repeat(8000)}example.com\r\n\r\n`, 2000);
    expect(r.status).toBe(400);
    expect(r.data).toContain('PC_ERR_BAD_REQUEST');
    expect(r.ms).toBeLessThan(1000);
  });
});

describe('what the old build dropped now passes', () => {
  test('60 header lines reach the origin', async () => {
    const lines = Array.from({ length: 59 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    const r = await rawRequest(proxy.port, `GET /sixty HTTP/1.1\r\nHost: a\r\n${lines}Connection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(last().url).toBe('/sixty');
    expect(last().headers['x-h58']).toBe('58');
  });

  test('98 header lines pass (the most max_header_count allows); a 99th gets uWS\'s 431', async () => {
    const lines = (n: number): string => Array.from({ length: n - 2 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
    // Host and Connection are two of the lines.
    const ok = await rawRequest(proxy.port, `GET /ninety-eight HTTP/1.1\r\nHost: a\r\n${lines(98)}Connection: close\r\n\r\n`);
    expect(ok.status).toBe(200);
    expect(last().url).toBe('/ninety-eight');
    const over = await rawRequest(proxy.port, `GET /ninety-nine HTTP/1.1\r\nHost: a\r\n${lines(99)}Connection: close\r\n\r\n`);
    expect(over.status).toBe(431);
    expect(over.closed).toBe(true);
  });

  test('a 32 KiB head of cookies, sent in several reads, reaches the origin (max_header_bytes 32KiB)', async () => {
    const start = 'GET /cookies HTTP/1.1\r\nHost: a\r\nConnection: close\r\nCookie: ';
    const head = `${start}${'c'.repeat(32 * 1024 - start.length - 4)}\r\n\r\n`;
    expect(head.length).toBe(32 * 1024);
    const r = await rawInPieces(head, 4);
    expect(r.status, r.data.slice(0, 300)).toBe(200);
    expect(last().url).toBe('/cookies');
    expect(last().headers.cookie!.length).toBe(32 * 1024 - start.length - 4);
  });

  test('a head one byte over max_header_bytes gets 431', async () => {
    const start = 'GET /cookies HTTP/1.1\r\nHost: a\r\nCookie: ';
    const head = `${start}${'c'.repeat(32 * 1024 - start.length - 3)}\r\n\r\n`;
    const r = await rawInPieces(head, 4);
    expect(r.status).toBe(431);
  });

  test('a header name with an underscore (api_key) reaches the origin', async () => {
    const r = await rawRequest(proxy.port, 'GET /key HTTP/1.1\r\nHost: a\r\napi_key: s3cret\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(200);
    expect(last().headers['api_key']).toBe('s3cret');
  });

  test('an underscore spelling of a header the proxy owns or refuses never reaches the origin (CGI servers read X_Real_IP as X-Real-IP)', async () => {
    const spoof = ['X_Forwarded_For: 6.6.6.6', 'X_Real_IP: 6.6.6.6', 'X-Forwarded_Proto: https', 'X_Forwarded_Host: evil', 'Transfer_Encoding: chunked',
      'Content_Length: 5', 'X_Request_Id: forged', 'Client_IP: 6.6.6.6', 'X_Original_URL: /admin', 'Proxy: http://evil', 'api_key: kept'];
    const r = await rawRequest(proxy.port, `GET /underscore HTTP/1.1\r\nHost: a\r\n${spoof.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    const seen = last();
    expect(seen.url).toBe('/underscore');
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.filter((n) => n.includes('_'))).toEqual(['api_key']);
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-real-ip']).toBe('127.0.0.1');
    expect(JSON.stringify(seen.rawHeaders)).not.toContain('6.6.6.6');
  });

  test('PURGE reaches the origin on a route without a cache', async () => {
    const r = await rawRequest(proxy.port, 'PURGE /thing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(200);
    expect(last().method).toBe('PURGE');
    expect(last().url).toBe('/thing');
  });

  test('a 253-character host reaches a wildcard route', async () => {
    const host = `${'a.'.repeat(120)}b.example.com`;
    expect(host.length).toBeLessThanOrEqual(253);
    const r = await rawRequest(proxy.port, `GET /deep HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(last().headers.host).toBe(host);
  });
});

describe('header bytes outside ASCII (docs/limits.md)', () => {
  const send = (value: Buffer): Promise<Buffer> =>
    rawRequest(proxy.port, Buffer.concat([Buffer.from('GET /bytes HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-V: '), value, Buffer.from('\r\n\r\n')]))
      .then(() => Buffer.from(last().headers['x-v'] as string, 'latin1'));

  test('UTF-8 inside a value reaches the origin byte for byte', async () => {
    const value = Buffer.from('t\u00e9x\u4e2dy');
    expect((await send(value)).equals(value)).toBe(true);
  });

  test('uWS drops bytes >= 0x80 at either end of a value before the proxy sees it (a known uWS limitation)', async () => {
    expect((await send(Buffer.from('\u00e9t\u00e9x'))).equals(Buffer.from('t\u00e9x'))).toBe(true);
    expect((await send(Buffer.from('\u00e9mile'))).equals(Buffer.from('mile'))).toBe(true);
    expect((await send(Buffer.from('caf\u00e9'))).equals(Buffer.from('caf'))).toBe(true);
  });

  test('an upgrade carries the same bytes as a plain request, characters above U+00FF included', async () => {
    const value = 't\u0113x\u4e2dy'; // ē and 中: node:http refused these on the upgrade hop (400)
    const plain = await send(Buffer.from(value));
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`, { headers: { 'x-v': Buffer.from(value).toString('latin1') } });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    ws.close();
    const raw = upgrades.at(-1)!;
    const got = raw[raw.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === 'x-v') + 1]!;
    expect(Buffer.from(got, 'latin1').equals(plain)).toBe(true);
    expect(Buffer.from(got, 'latin1').toString('utf8')).toBe(value);
  });
});

describe('WebSocket handshakes (RFC 6455 §4.2.1)', () => {
  const handshake = (lines: string): string => `GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n${lines}\r\n`;
  const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

  test.each([
    ['an Upgrade other than websocket', `Upgrade: foo\r\n${KEY}`],
    ['two Sec-WebSocket-Key headers', `Upgrade: websocket\r\n${KEY}${KEY}`],
  ])('%s is refused with 400, never upgraded', async (_name, lines) => {
    const before = upgrades.length;
    const r = await rawRequest(proxy.port, handshake(lines), 2000);
    expect(r.status).toBe(400);
    expect(r.data).toContain('PC_ERR_BAD_REQUEST');
    expect(upgrades.length).toBe(before);
  });

  test.each([
    ['a key that is not 16 bytes of base64', 'Upgrade: websocket\r\nSec-WebSocket-Key: c2hvcnQ=\r\n'],
    ['no key', 'Upgrade: websocket\r\n'],
  ])('%s is never upgraded (uWS does not take it for a handshake)', async (_name, lines) => {
    const before = upgrades.length;
    const r = await rawRequest(proxy.port, handshake(lines), 1000);
    expect(r.status).not.toBe(101);
    expect(upgrades.length).toBe(before);
  });

  test('a valid handshake is upgraded', async () => {
    const r = await rawRequest(proxy.port, handshake(`Upgrade: websocket\r\n${KEY}`), 1000);
    expect(r.status).toBe(101);
  });
});

describe('an upstream answer that fails before any byte reached the client', () => {
  test('is answered 502 PC_ERR_UPSTREAM_PROTOCOL, not a silent close (bare-LF chunked framing)', async () => {
    const bad = await startRawOrigin((sock) => {
      sock.once('data', () => sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n'));
    });
    const p = await startProxy({ upstreams: { bad: { targets: [bad.url] } } });
    try {
      const r = await rawRequest(p.port, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 3000);
      expect(r.status).toBe(502);
      expect(r.data).toContain('PC_ERR_UPSTREAM_PROTOCOL');
    } finally {
      await p.stop();
      await bad.close();
    }
  });
});
