// Upstream selection under failure: a request tries each target at most once (never the dead
// one twice), a request waiting for a busy pool gives up with 503 after timeouts.connect, and
// a client whose upload stalls is told 408, not a 504 that blames the upstream.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, startRawOrigin, type Origin, type RawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';
import { freePort } from '../helpers/ports.js';

let origin: Origin;
let hang: RawOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  hang = await startRawOrigin(() => {}); // accepts, never answers
  const dead = `http://127.0.0.1:${await freePort()}`; // nothing listens: refused at once
  const dead2 = `http://127.0.0.1:${await freePort()}`;
  proxy = await startProxy({
    timeouts: { connect: '500ms', response_header: '1500ms' },
    upstreams: {
      pair: { targets: [origin.url, dead] },
      trio: { targets: [dead, origin.url, dead2] },
      busy: { targets: [hang.url], pool: { max_connections: 1 } },
      app: { targets: [origin.url] },
    },
    routes: [
      { path: '/pair/', upstream: 'pair' },
      { path: '/trio/', upstream: 'trio' },
      { path: '/busy/', upstream: 'busy' },
      { path: '/', upstream: 'app' },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  await hang?.close();
});

describe('failover', () => {
  test.each(['/pair/x', '/trio/x'])('concurrent requests to %s never retry the dead target instead of the live one', async (path) => {
    for (let round = 0; round < 3; round++) {
      const replies = await Promise.all(Array.from({ length: 12 }, () => request(proxy.port, { path })));
      expect(replies.map((r) => r.status)).toEqual(Array(12).fill(200));
    }
  });
});

describe('a busy pool', () => {
  test('requests queued for a connection give up with 503 after timeouts.connect, not N × response_header', async () => {
    const started = Date.now();
    const first = request(proxy.port, { path: '/busy/1' }); // takes the only connection, then 504
    await new Promise((r) => setTimeout(r, 100));
    const queued = await Promise.all([request(proxy.port, { path: '/busy/2' }), request(proxy.port, { path: '/busy/3' })]);
    for (const r of queued) {
      expect(r.status).toBe(503);
      expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_UNAVAILABLE');
    }
    expect(Date.now() - started).toBeLessThan(1400); // ~500 ms of waiting, well before the first one's 504
    expect((await first).status).toBe(504);
  });
});

describe('a stalled upload', () => {
  test('is answered 408 PC_ERR_CLIENT_TIMEOUT: the client stopped, not the upstream', async () => {
    const r = await rawRequest(proxy.port, 'POST /upload HTTP/1.1\r\nhost: a.test\r\ncontent-length: 100\r\n\r\n0123456789', 4000);
    expect(r.status).toBe(408);
    expect(r.data).toMatch(/x-portcullis-error: PC_ERR_CLIENT_TIMEOUT/i);
    expect(r.ms).toBeLessThan(3000);
  });
});
