// HTTPS listeners on uWS SSLApp: SNI (exact names, a wildcard, the default for unknown or
// absent names), protocol versions and ciphers, session resumption, and what the upstream
// learns about the client (scheme, IP) — with real TLS clients (node:tls, curl).
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { createTestCa, handshakeError, tlsGet, type TestCa } from '../helpers/tls.js';

const run = promisify(execFile);

/** 1 MiB where each position has its own value. */
const pattern = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 13 + (i >> 12)) & 0xff));

let ca: TestCa;
let origin: Origin;
let proxy: RunningProxy;
let port: number;
let plainPort: number;

beforeAll(async () => {
  ca = await createTestCa();
  const main = await ca.issue('default', ['default.test']);
  const a = await ca.issue('a', ['a.test']);
  const b = await ca.issue('b', ['b.test', 'b2.test']);
  const wild = await ca.issue('wild', ['*.wild.test']);
  origin = await startOrigin((req, res, body) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const t = setInterval(() => { res.write(`tick ${n}\n`); if (++n === 3) { clearInterval(t); res.end(); } }, 150);
      return;
    }
    if (req.url === '/big') { res.end(pattern); return; }
    if (req.url === '/upload') { res.end(JSON.stringify({ bytes: body.length, same: body.equals(pattern) })); return; }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
  });
  port = await freePort();
  plainPort = await freePort();
  proxy = await startProxy({
    listen: [`127.0.0.1:${plainPort}`, { address: `127.0.0.1:${port}`, tls: { certificates: [main, a, b, wild].map(({ cert, key }) => ({ cert, key })) } }],
    upstreams: { app: { targets: [origin.url] } },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  ca?.remove();
});

describe('SNI', () => {
  test.each([
    ['a.test', 'a.test'],
    ['b.test', 'b.test'],
    ['b2.test', 'b.test'],
    ['x.wild.test', 'x.wild.test'],
    ['other.wild.test', 'other.wild.test'],
  ])('%s gets a certificate that verifies for it', async (servername) => {
    const r = await tlsGet(port, { servername, ca: ca.ca.certPem, rejectUnauthorized: true });
    expect(r.authorized).toBe(true);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).headers.host).toBe(servername);
  });

  test.each([
    ['unknown.test'],
    ['a.b.wild.test'], // a wildcard covers one label only (RFC 6125 §6.4.3)
    ['wild.test'],
  ])('an unknown name (%s) gets the default certificate', async (servername) => {
    const r = await tlsGet(port, { servername });
    expect(r.cn).toBe('default.test');
    expect(r.status).toBe(200);
  });

  test('a client that sends no name gets the default certificate', async () => {
    const r = await tlsGet(port, { servername: '' });
    expect(r.cn).toBe('default.test');
    expect(r.status).toBe(200);
  });

  test('curl verifies each name against the CA', async () => {
    for (const name of ['a.test', 'y.wild.test', 'default.test']) {
      const { stdout } = await run('curl', ['-sS', '--cacert', ca.caFile, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/hello`, '-w', '\n%{http_code} %{ssl_verify_result}']);
      const [body, status] = stdout.split('\n');
      expect(status).toBe('200 0');
      expect(JSON.parse(body!).url).toBe('/hello');
    }
  });
});

describe('protocol versions and ciphers', () => {
  test('TLS 1.3 is negotiated when the client offers it', async () => {
    const r = await tlsGet(port, { servername: 'a.test' });
    expect(r.protocol).toBe('TLSv1.3');
  });

  test('TLS 1.2 with a forward-secret AEAD suite', async () => {
    const r = await tlsGet(port, { servername: 'a.test', maxVersion: 'TLSv1.2' });
    expect(r.protocol).toBe('TLSv1.2');
    expect(r.cipher).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM|CHACHA20-POLY1305)/);
  });

  test.each([['TLSv1'], ['TLSv1.1']] as const)('%s is refused by the server', async (version) => {
    // SECLEVEL=0: the client itself would otherwise refuse to offer the old version.
    const err = await handshakeError(port, { servername: 'a.test', minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });
    expect(err).toMatch(/alert protocol version/);
  });

  test('TLS 1.2 CBC suites (no AEAD) are refused', async () => {
    // Suites OpenSSL's own default list would accept with this ECDSA certificate.
    const err = await handshakeError(port, { servername: 'a.test', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256' });
    expect(err).toMatch(/handshake failure/);
  });

  test.each([['TLSv1.2'], ['TLSv1.3']] as const)('%s sessions resume', async (version) => {
    const first = await tlsGet(port, { servername: 'a.test', maxVersion: version });
    expect(first.session).toBeDefined();
    const second = await tlsGet(port, { servername: 'a.test', maxVersion: version, session: first.session! });
    expect(second.reused).toBe(true);
    expect(second.status).toBe(200);
  });
});

describe('what the upstream learns', () => {
  test('X-Forwarded-Proto and Forwarded say https; the client IP is the peer', async () => {
    await tlsGet(port, { servername: 'a.test', target: '/who' });
    const seen = origin.seen.findLast((s) => s.url === '/who')!;
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers.forwarded).toBe('for=127.0.0.1;host=a.test;proto=https');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-real-ip']).toBe('127.0.0.1');
  });

  test('the plain listener next to it still says http', async () => {
    const r = await fetch(`http://127.0.0.1:${plainPort}/plain`);
    expect(r.status).toBe(200);
    expect(origin.seen.findLast((s) => s.url === '/plain')!.headers['x-forwarded-proto']).toBe('http');
  });

  test('a client-sent X-Forwarded-Proto: http over TLS is not believed', async () => {
    await tlsGet(port, { servername: 'a.test', target: '/spoof', requestHeaders: { 'x-forwarded-proto': 'http' } });
    expect(origin.seen.findLast((s) => s.url === '/spoof')!.headers['x-forwarded-proto']).toBe('https');
  });
});

test('plain HTTP sent to the TLS port gets no HTTP answer', async () => {
  const err = await new Promise<string>((resolve) => {
    fetch(`http://127.0.0.1:${port}/`).then((r) => resolve(`status ${r.status}`), (e: Error) => resolve(String((e as { cause?: Error }).cause?.message ?? e.message)));
  });
  expect(err).not.toMatch(/^status/);
});

describe('bodies over TLS (uWS SSLApp)', () => {
  /** A whole answer over one TLS connection, as raw bytes, with the arrival time of each read. */
  function raw(request: string | Buffer): Promise<{ text: string; body: Buffer; reads: number[] }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const reads: number[] = [];
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', rejectUnauthorized: false }, () => s.write(request));
      s.on('data', (d: Buffer) => { chunks.push(d); reads.push(Date.now()); });
      s.on('end', () => {
        const all = Buffer.concat(chunks);
        const end = all.indexOf('\r\n\r\n');
        resolve({ text: all.subarray(0, end).toString(), body: all.subarray(end + 4), reads });
      });
      s.on('error', reject);
    });
  }

  test('a streamed answer arrives piece by piece', async () => {
    const r = await raw('GET /stream HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
    expect(r.text).toMatch(/transfer-encoding: chunked/i);
    expect(r.body.toString()).toMatch(/tick 0\n[\s\S]*tick 2\n/);
    expect(r.reads.at(-1)! - r.reads[0]!).toBeGreaterThan(200);
  });

  test('1 MiB down and 1 MiB up arrive intact', async () => {
    const down = await raw('GET /big HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
    expect(down.body.equals(pattern)).toBe(true);
    const up = await raw(Buffer.concat([Buffer.from(`POST /upload HTTP/1.1\r\nhost: a.test\r\ncontent-length: ${pattern.length}\r\nconnection: close\r\n\r\n`), pattern]));
    expect(JSON.parse(up.body.toString())).toEqual({ bytes: pattern.length, same: true });
  });
});

test('a handshake sent a byte a second is cut by timeouts.header, and the port keeps serving', async () => {
  const slowPort = await freePort();
  const slow = await startProxy({
    listen: [{ address: `127.0.0.1:${slowPort}`, tls: { certificates: [{ cert: `${ca.dir}/a.crt`, key: `${ca.dir}/a.key` }] } }],
    timeouts: { header: '5s' },
    upstreams: { app: { targets: [origin.url] } },
  });
  try {
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const s = net.connect(slowPort, '127.0.0.1');
      // The first bytes of a TLS record header (handshake, TLS 1.0 record version), one a second.
      const bytes = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
      let i = 0;
      const t = setInterval(() => { if (i < bytes.length && !s.destroyed) s.write(Buffer.from([bytes[i++]!])); }, 1000);
      s.on('close', () => { clearInterval(t); resolve(Date.now() - started); });
      s.on('error', () => {});
    });
    expect(closedAfter).toBeLessThan(15_000);
    expect((await tlsGet(slowPort, { servername: 'a.test' })).status).toBe(200);
  } finally {
    await slow.stop();
  }
}, 30_000);

