// Client identity end to end: X-Forwarded-* and Forwarded are believed only from
// configured trusted proxies; a spoofed X-Forwarded-For never becomes the client IP.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';

let origin: Origin;
let untrusting: RunningProxy;
let trusting: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  untrusting = await startProxy({ upstreams: { app: { targets: [origin.url] } } });
  trusting = await startProxy({ trusted_proxies: ['127.0.0.0/8'], upstreams: { app: { targets: [origin.url] } } });
});

afterAll(async () => {
  await untrusting?.stop();
  await trusting?.stop();
  await origin?.close();
});

const spoof = {
  'x-forwarded-for': '6.6.6.6',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'evil.example',
  forwarded: 'for=6.6.6.6;proto=https',
};

describe('without a trusted proxy', () => {
  test('plain request: the peer is the client', async () => {
    await request(untrusting.port, { path: '/', headers: { host: 'site.test' } });
    const h = origin.seen.at(-1)!.headers;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('site.test');
    expect(h.forwarded).toBe('for=127.0.0.1;host=site.test;proto=http');
  });

  test('spoofed X-Forwarded-* and Forwarded are discarded', async () => {
    await request(untrusting.port, { path: '/', headers: { host: 'site.test', ...spoof } });
    const h = origin.seen.at(-1)!.headers;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('site.test');
    expect(h.forwarded).not.toContain('6.6.6.6');
  });
});

/** GET / on a keep-alive agent bound to `agent`'s local address; resolves with the origin's X-Forwarded-For. */
function viaAgent(port: number, agent: http.Agent, tag: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/peer-${tag}`, agent, headers: { host: 'site.test' } }, (res) => {
      res.resume();
      res.on('end', () => {
        const seen = origin.seen.findLast((s) => s.url === `/peer-${tag}`);
        resolve(String(seen?.headers['x-forwarded-for']));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the peer address per connection', () => {
  // The address is read once per client connection and kept with it (downstream/server.ts):
  // requests on two kept-alive connections from different addresses, interleaved, each name their own.
  test('two keep-alive connections from different addresses, interleaved', async () => {
    const a = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: '127.0.0.1' });
    const b = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: '127.0.0.3' });
    try {
      const got: string[] = [];
      for (let i = 0; i < 3; i++) {
        got.push(await viaAgent(untrusting.port, a, `a${i}`));
        got.push(await viaAgent(untrusting.port, b, `b${i}`));
      }
      expect(got).toEqual(['127.0.0.1', '127.0.0.3', '127.0.0.1', '127.0.0.3', '127.0.0.1', '127.0.0.3']);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});

describe('behind a trusted proxy', () => {
  test('the chain from a trusted peer is believed', async () => {
    await request(trusting.port, { path: '/', headers: { host: 'site.test', ...spoof } });
    const h = origin.seen.at(-1)!.headers;
    expect(h['x-forwarded-for']).toBe('6.6.6.6, 127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-forwarded-host']).toBe('evil.example');
  });

  test('repeated X-Forwarded-For lines are one list', async () => {
    await request(trusting.port, { path: '/', headers: { 'x-forwarded-for': ['1.1.1.1', '127.0.0.2'] } });
    expect(origin.seen.at(-1)!.headers['x-forwarded-for']).toBe('1.1.1.1, 127.0.0.2, 127.0.0.1');
  });
});

/** A PROXY protocol v2 header (TCP over IPv4) claiming the connection came from `src`. */
function proxyV2(src: string): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const body = Buffer.alloc(12);
  src.split('.').forEach((o, i) => { body[i] = Number(o); });
  [127, 0, 0, 1].forEach((o, i) => { body[4 + i] = o; });
  body.writeUInt16BE(40000, 8);
  body.writeUInt16BE(8080, 10);
  return Buffer.concat([sig, Buffer.from([0x21, 0x11, 0x00, 12]), body]);
}

describe('PROXY protocol v2', () => {
  const http = Buffer.from('GET /pp HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n');

  test('from an untrusted peer the claimed address is ignored', async () => {
    const r = await rawRequest(untrusting.port, Buffer.concat([proxyV2('9.9.9.9'), http]));
    expect(r.status).toBe(200);
    expect(origin.seen.at(-1)!.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  test('from a trusted peer the claimed address is the client', async () => {
    const r = await rawRequest(trusting.port, Buffer.concat([proxyV2('9.9.9.9'), http]));
    expect(r.status).toBe(200);
    expect(origin.seen.at(-1)!.headers['x-forwarded-for']).toBe('9.9.9.9');
  });
});
