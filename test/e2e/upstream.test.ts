// Upstream behaviour: the idle-close race is retried once on a fresh connection, the
// upstream's Keep-Alive timeout is honoured, and malformed upstream answers become 502s
// (CR/LF never passes from an upstream header into a response).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, startRawOrigin, type Origin, type RawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

describe('the idle-close race', () => {
  let origin: RawOrigin;
  let proxy: RunningProxy;
  let answered = 0;

  beforeAll(async () => {
    // Answers the first request on each connection, then drops the connection when the
    // second one arrives (as an upstream closing an idle socket at that instant would).
    origin = await startRawOrigin((s) => {
      let n = 0;
      s.on('data', () => {
        n++;
        if (n === 1) { answered++; s.write(OK); } else s.destroy();
      });
    });
    proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } } });
  });
  afterAll(async () => { await proxy?.stop(); await origin?.close(); });

  test('an idempotent request that hits a dead reused socket is retried once, fresh', async () => {
    const first = await request(proxy.port, { path: '/1' });
    expect(first.status).toBe(200);
    const second = await request(proxy.port, { path: '/2' });
    expect(second.status).toBe(200);
    expect(second.text).toBe('ok');
    expect(origin.connections()).toBe(2);
    expect(answered).toBe(2);
  });

  test('a POST with a body on a dead reused socket is not replayed: 502', async () => {
    await request(proxy.port, { path: '/warm' }); // leaves a used socket in the pool
    const before = origin.connections();
    const r = await request(proxy.port, { method: 'POST', path: '/p', body: 'data' });
    expect(r.status).toBe(502);
    expect(r.text).toContain('PC_ERR_UPSTREAM_RESET');
    expect(origin.connections()).toBe(before);
  });
});

describe('upstream Keep-Alive timeout', () => {
  let origin: Origin;
  let proxy: RunningProxy;

  beforeAll(async () => {
    // Node advertises `Keep-Alive: timeout=3`: the proxy may keep the socket idle 2 s.
    origin = await startOrigin((_req, res) => { res.writeHead(200); res.end('ok'); }, { keepAliveTimeout: 3000 });
    proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } } });
  });
  afterAll(async () => { await proxy?.stop(); await origin?.close(); });

  test('sockets are reused within the upstream\'s timeout and never past it', async () => {
    for (let i = 0; i < 3; i++) expect((await request(proxy.port, { path: `/a/${i}` })).status).toBe(200);
    expect(origin.connections()).toBe(1);
    await new Promise((res) => setTimeout(res, 2300));
    expect((await request(proxy.port, { path: '/b' })).status).toBe(200);
    expect(origin.connections()).toBe(2);
  });
});

describe('upstream Keep-Alive: timeout=0', () => {
  let origin: RawOrigin;
  let proxy: RunningProxy;

  beforeAll(async () => {
    // Keeps the socket open but says it will not wait for another request.
    origin = await startRawOrigin((s) => {
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\nkeep-alive: timeout=0\r\ncontent-length: 2\r\n\r\nok'));
    });
    proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } } });
  });
  afterAll(async () => { await proxy?.stop(); await origin?.close(); });

  test('a socket the upstream gave no idle time is never reused', async () => {
    for (let i = 0; i < 3; i++) expect((await request(proxy.port, { path: `/z/${i}` })).status).toBe(200);
    expect(origin.connections()).toBe(3);
  });
});

describe('malformed upstream answers', () => {
  const cases: [string, string, string][] = [
    ['CR inside a header value', 'HTTP/1.1 200 OK\r\nx-bad: a\rInjected: yes\r\ncontent-length: 2\r\n\r\nok', 'PC_ERR_UPSTREAM_PROTOCOL'],
    ['LF inside a header value (bare LF)', 'HTTP/1.1 200 OK\r\nx-bad: a\nInjected: yes\r\ncontent-length: 2\r\n\r\nok', 'PC_ERR_UPSTREAM_PROTOCOL'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nx-a: b\r\n c\r\ncontent-length: 2\r\n\r\nok', 'PC_ERR_UPSTREAM_PROTOCOL'],
    ['a control byte (ESC) in a header value', 'HTTP/1.1 200 OK\r\nx-bad: a\x1b[31mb\r\ncontent-length: 2\r\n\r\nok', 'PC_ERR_UPSTREAM_PROTOCOL'],
    ['DEL in a header value', 'HTTP/1.1 200 OK\r\nx-bad: a\x7fb\r\ncontent-length: 2\r\n\r\nok', 'PC_ERR_UPSTREAM_PROTOCOL'],
    ['a control byte (SOH) in the reason phrase', 'HTTP/1.1 200 O\x01K\r\ncontent-length: 2\r\n\r\nok', 'PC_ERR_UPSTREAM_PROTOCOL'],
    ['differing Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok', 'PC_ERR_UPSTREAM_PROTOCOL'],
    ['garbage status line', 'HTTP/1.1 2OO OK\r\n\r\n', 'PC_ERR_UPSTREAM_PROTOCOL'],
    ['head over the response header limit', `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70_000)}\r\ncontent-length: 2\r\n\r\nok`, 'PC_ERR_UPSTREAM_HEADERS_TOO_LARGE'],
    ['closed before any answer', '', 'PC_ERR_UPSTREAM_RESET'],
  ];
  let origin: RawOrigin;
  let proxy: RunningProxy;
  let current = '';

  beforeAll(async () => {
    origin = await startRawOrigin((s) => {
      s.once('data', () => { if (current === '') s.destroy(); else s.end(current); });
    });
    proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } } });
  });
  afterAll(async () => { await proxy?.stop(); await origin?.close(); });

  test.each(cases)('%s → 502', async (_name, answer, code) => {
    current = answer;
    const r = await request(proxy.port, { path: '/' });
    expect(r.status).toBe(502);
    expect(r.text).toContain(code);
    expect(r.headers.injected).toBeUndefined();
  });

  test('1xx interim answers are skipped; the final answer passes', async () => {
    current = 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal';
    const r = await request(proxy.port, { path: '/' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('final');
  });
});

describe('an upstream that stalls or floods before its final head', () => {
  // Each connection's behaviour is named by the request path.
  let origin: RawOrigin;
  let proxy: RunningProxy;
  const timers = new Set<NodeJS.Timeout>();
  const every = (ms: number, fn: () => boolean): void => {
    const t = setInterval(() => { if (!fn()) { clearInterval(t); timers.delete(t); } }, ms);
    timers.add(t);
  };

  beforeAll(async () => {
    origin = await startRawOrigin((s) => {
      s.on('error', () => {});
      s.once('data', (d: Buffer) => {
        const path = / (\S+) /.exec(d.toString('latin1'))![1]!;
        if (path === '/continue-forever') every(100, () => s.write('HTTP/1.1 100 Continue\r\n\r\n') && !s.destroyed);
        if (path === '/hints-forever') every(100, () => s.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n') && !s.destroyed);
        if (path === '/byte-a-tick') {
          const head = `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${'x-pad: aaaaaaaa\r\n'.repeat(20)}\r\nok`;
          let i = 0;
          every(50, () => !s.destroyed && i < head.length && s.write(head[i++]!));
        }
        if (path === '/forty-hints') {
          s.end(`${'HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n'.repeat(40)}HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal`);
        }
      });
    });
    proxy = await startProxy({ timeouts: { response_header: '1s', idle: '30s' }, upstreams: { app: { targets: [origin.url] } } });
  });
  afterAll(async () => {
    for (const t of timers) clearInterval(t);
    await proxy?.stop();
    await origin?.close();
  });

  // response_header is the time to the final head (docs/config.md), not between its bytes:
  // moved by every read, each of these held the client for as long as the upstream went on.
  test.each([
    ['100 Continue every 100 ms, never a final answer', '/continue-forever'],
    ['103 Early Hints every 100 ms, never a final answer', '/hints-forever'],
    ['a head sent a byte every 50 ms (over 20 s in all)', '/byte-a-tick'],
  ])('%s: 504 at response_header', async (_name, path) => {
    const t0 = Date.now();
    const r = await request(proxy.port, { path });
    expect(r.status).toBe(504);
    expect(r.text).toContain('PC_ERR_UPSTREAM_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  test('of 40 interim answers, the first 8 reach the client, then the final one', async () => {
    const r = await rawRequest(proxy.port, `GET /forty-hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 5000);
    expect(r.data.match(/^HTTP\/1\.1 103 /gm)?.length).toBe(8);
    expect(r.data).toMatch(/HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nfinal$/);
  });
});

describe('access log', () => {
  test('one JSON line per request with route, upstream, status, bytes, durations and request id', async () => {
    const origin = await startOrigin((_req, res) => { res.writeHead(201, { 'content-length': '5' }); res.end('hello'); });
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
    const file = join(dir, 'access.log');
    // Loopback trusted: the client's X-Request-Id is kept only from a trusted hop.
    const proxy = await startProxy({ trusted_proxies: ['127.0.0.1'], access_log: { enabled: true, output: file }, upstreams: { app: { targets: [origin.url] } } });
    try {
      await request(proxy.port, { method: 'POST', path: '/logged?q=1', headers: { 'x-request-id': 'log-test-1' }, body: 'abc' });
      await request(proxy.port, { path: '/second' });
      const refused = await request(proxy.port, { method: 'TRACE', path: '/refused' });
      await new Promise((r) => setTimeout(r, 1500)); // the log flushes every second
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(3);
      // The proxy's own answers count their body bytes too (nginx's $body_bytes_sent).
      expect(lines[2]).toMatchObject({ method: 'TRACE', status: 405, error: 'PC_ERR_METHOD', res_bytes: refused.body.length });
      expect(refused.body.length).toBeGreaterThan(0);
      expect(lines[0]).toMatchObject({
        id: 'log-test-1', method: 'POST', path: '/logged', route: '/', upstream: origin.url,
        status: 201, req_bytes: 3, res_bytes: 5, client: '127.0.0.1', error: null,
      });
      expect(typeof lines[0]!['ms']).toBe('number');
      expect(typeof lines[0]!['upstream_ms']).toBe('number');
    } finally {
      await proxy.stop();
      await origin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a log that cannot be written (disk full) loses lines, never the proxy: it keeps serving and stops on SIGTERM', async () => {
    const origin = await startOrigin((_req, res) => { res.writeHead(200); res.end('ok'); });
    // /dev/full: every write fails with ENOSPC. It froze the worker (sonic-boom's flushSync retries forever).
    const proxy = await startProxy({ access_log: { enabled: true, output: '/dev/full' }, upstreams: { app: { targets: [origin.url] } } });
    try {
      for (let i = 0; i < 5; i++) {
        expect((await request(proxy.port, { path: `/full/${i}`, timeoutMs: 2000 })).status).toBe(200);
        await new Promise((r) => setTimeout(r, 500)); // across several 1 s flushes
      }
      expect(proxy.output().match(/lines are being lost/g)).toHaveLength(1);
      const started = Date.now();
      expect(await proxy.stop()).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });
});
