// Client identity end to end: X-Forwarded-* and Forwarded are believed only from
// configured trusted proxies; a spoofed X-Forwarded-For never becomes the client IP.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';

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
