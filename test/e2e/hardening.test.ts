// Findings of a raw-byte review against nginx's behaviour, each pinned by a test: HEAD error
// answers without a body, an unasked-for 101, stale bytes after a HEAD answer, TRACE, and
// client-identity claims other than X-Forwarded-For.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, startRawOrigin, type Origin, type RawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';

let origin: Origin;
let switcher: RawOrigin;
let headBody: RawOrigin;
let proxy: RunningProxy;
let trustedProxy: RunningProxy;

/** Sends requests one after another on ONE connection; resolves with everything received. */
function sequence(port: number, requests: string[], settleMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    const next = (): void => {
      if (i < requests.length) { s.write(requests[i++]!); return; }
      clearTimeout(timer);
      timer = setTimeout(() => { s.destroy(); resolve(data); }, settleMs);
    };
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      clearTimeout(timer);
      // Next request once this answer's head is in (bodies here are small and come with it).
      timer = setTimeout(next, 100);
    });
    s.on('error', reject);
    s.on('connect', next);
  });
}

beforeAll(async () => {
  origin = await startOrigin();
  // Answers every request with 101 (never asked for: the proxy strips Upgrade).
  switcher = await startRawOrigin((s) => {
    s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n'));
  });
  // A server that ignores the method: HEAD gets its head, then 150 ms later a "body" that reads
  // like a whole response (a body may hold any bytes); GET is answered after 300 ms.
  headBody = await startRawOrigin((s) => {
    let buffered = '';
    s.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const path = /^\S+ (\S+)/.exec(head)![1]!;
        const body = `HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nLEAKED`;
        const answer = (text: string): string => `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${text.length}\r\n\r\n`;
        if (head.startsWith('HEAD ')) {
          s.write(answer(body));
          setTimeout(() => { if (!s.destroyed) s.write(body); }, 150);
        } else {
          setTimeout(() => { if (!s.destroyed) s.write(answer(`for ${path}`) + `for ${path}`); }, 300);
        }
      }
    });
  });
  const upstreams = {
    app: { targets: [origin.url] },
    switch: { targets: [switcher.url] },
    // One connection: whatever the HEAD left behind would meet the very next request.
    headbody: { targets: [headBody.url], pool: { max_connections: 1 } },
  };
  const routes = [
    { path: '/switch', upstream: 'switch' },
    { path: '/headbody/', upstream: 'headbody' },
    { path: '/app/', upstream: 'app' },
  ];
  proxy = await startProxy({ upstreams, routes });
  trustedProxy = await startProxy({ trusted_proxies: ['127.0.0.1/32'], upstreams, routes });
});

afterAll(async () => {
  await proxy?.stop();
  await trustedProxy?.stop();
  await origin?.close();
  await switcher?.close();
  await headBody?.close();
});

describe('HEAD', () => {
  test('an error answer to HEAD has its headers only, and the connection serves the next request', async () => {
    // 404 (no route), then a GET on the same connection: stray body bytes would corrupt it.
    const data = await sequence(proxy.port, [
      'HEAD /nowhere HTTP/1.1\r\nhost: a.test\r\n\r\n',
      'GET /app/after HTTP/1.1\r\nhost: a.test\r\n\r\n',
    ], 200);
    const [first, ...rest] = data.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 404 /);
    expect(first).toMatch(/x-portcullis-error: PC_ERR_NO_ROUTE/i);
    expect(first!.endsWith('\r\n\r\n')).toBe(true); // nothing after the head
    const length = Number(/content-length: (\d+)/i.exec(first!)?.[1]);
    expect(length).toBeGreaterThan(0); // the length a GET would have had
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(rest[0]).toContain('"/app/after"');
  });

  test('a 502 answer to HEAD has no body either', async () => {
    const r = await request(proxy.port, { method: 'HEAD', path: '/switch' });
    expect(r.status).toBe(502);
    expect(r.body.length).toBe(0);
  });

  test('body bytes a server sends late after a HEAD answer never reach the next exchange', async () => {
    const head = await request(proxy.port, { method: 'HEAD', path: '/headbody/first' });
    expect(head.status).toBe(200);
    // Sent at once: on a reused connection it would be in flight when the late bytes arrive.
    const get = await request(proxy.port, { path: '/headbody/second' });
    expect(get.status).toBe(200);
    expect(get.text).toBe('for /headbody/second');
  });
});

describe('responses the proxy refuses', () => {
  test('a 101 to a plain request is a 502, not a final answer', async () => {
    const started = Date.now();
    const r = await request(proxy.port, { path: '/switch', timeoutMs: 3000 });
    expect(r.status).toBe(502);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_PROTOCOL');
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

describe('methods', () => {
  // (TRACK and other unknown methods never reach us: uWS closes the connection, docs/limits.md.)
  test('TRACE is answered 405 and never forwarded', async () => {
    const before = origin.seen.length;
    const r = await rawRequest(proxy.port, 'TRACE /app/t HTTP/1.1\r\nhost: a.test\r\ncookie: session=secret\r\nconnection: close\r\n\r\n', 2000);
    expect(r.status).toBe(405);
    expect(r.data).toMatch(/x-portcullis-error: PC_ERR_METHOD/i);
    expect(r.data).not.toContain('secret');
    expect(origin.seen.length).toBe(before);
  });
});

describe('client identity claims besides X-Forwarded-For', () => {
  const claims = {
    'x-real-ip': '6.6.6.6',
    'x-client-ip': '6.6.6.6',
    'true-client-ip': '6.6.6.6',
    'cf-connecting-ip': '6.6.6.6',
    'x-forwarded-port': '443',
    'x-forwarded-ssl': 'on',
    proxy: 'http://evil.test:3128',
  };

  test('from an untrusted client: dropped, X-Real-IP is the real peer, Proxy never passes', async () => {
    const r = await request(proxy.port, { path: '/app/claims', headers: { ...claims, 'x-keep': 'yes' } });
    const seen = JSON.parse(r.text).headers as Record<string, string>;
    expect(seen['x-real-ip']).toBe('127.0.0.1');
    for (const name of ['x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'x-forwarded-port', 'x-forwarded-ssl', 'proxy']) {
      expect(seen[name], name).toBeUndefined();
    }
    expect(seen['x-keep']).toBe('yes');
  });

  test('from a trusted proxy: its claims pass, X-Real-IP is the resolved client, Proxy still never passes', async () => {
    const r = await request(trustedProxy.port, { path: '/app/claims', headers: { ...claims, 'x-forwarded-for': '198.51.100.7' } });
    const seen = JSON.parse(r.text).headers as Record<string, string>;
    expect(seen['x-real-ip']).toBe('198.51.100.7');
    expect(seen['cf-connecting-ip']).toBe('6.6.6.6');
    expect(seen['x-forwarded-port']).toBe('443');
    expect(seen['x-forwarded-ssl']).toBe('on');
    expect(seen['proxy']).toBeUndefined();
  });
});
