// Rows of docs/limits.md that no test checked: a target that does not accept within
// timeouts.connect, upstream status codes outside 100-599, the declared-length 413 closing the
// connection, and the "forwarded differently from nginx" rows (normalised path and raw query,
// lowercase header names, latin1 reason phrases, HEAD connections never reused, the client's
// Connection: close, a compressed answer's 304 passed as the upstream sent it).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, startRawOrigin, type Origin, type RawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';

/** A loopback listener that never accepts (backlog 0, its one queue slot taken): connects to it hang. */
interface Blackhole { port: number; close(): void }

async function startBlackhole(): Promise<Blackhole> {
  // Node accepts every connection it is offered, so a tiny python3 listener (python3 is already
  // needed by node-gyp) holds the socket without accepting.
  const py: ChildProcess = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()', // until the test closes our stdin
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    py.once('error', reject);
  });
  // Take the single accept-queue slot; every later SYN is dropped, so connects wait.
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => {});
  await new Promise<void>((resolve) => filler.once('connect', () => resolve()));
  return { port, close: () => { filler.destroy(); py.stdin!.end(); py.kill(); } };
}

let blackhole: Blackhole;
let origin: Origin;
let raw: RawOrigin;
let proxy: RunningProxy;
/** The proxy-side port of the connection each path arrived on. */
const remotePorts = new Map<string, number>();
/** What the raw origin answers next (the whole response, latin1). */
let answer = '';

beforeAll(async () => {
  blackhole = await startBlackhole();
  origin = await startOrigin((req, res, body) => {
    remotePorts.set(req.url ?? '', req.socket.remotePort ?? 0);
    // Weak comparison (RFC 9110 §13.1.2), as servers do for If-None-Match.
    if (req.url === '/etag' && (req.headers['if-none-match'] ?? '').replace('W/', '') === '"v1"') {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
      return;
    }
    if (req.url === '/etag') {
      res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', 'content-length': '4000' });
      res.end('x'.repeat(4000));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'X-Origin-Case': 'Mixed' });
    res.end(JSON.stringify({ url: req.url, rawHeaders: req.rawHeaders, body: body.length }));
  });
  raw = await startRawOrigin((s) => s.once('data', () => s.end(Buffer.from(answer, 'latin1'))));
  proxy = await startProxy({
    limits: { max_body_bytes: '1KiB' },
    timeouts: { connect: '1s', response_header: '5s' },
    compression: { enabled: true },
    upstreams: {
      hole: { targets: [`http://127.0.0.1:${blackhole.port}`] },
      // The black hole first: each request pays its connect timeout, then the next target answers.
      holeThenLive: { targets: [`http://127.0.0.1:${blackhole.port}`, origin.url] },
      app: { targets: [origin.url] },
      raw: { targets: [raw.url] },
    },
    routes: [
      { path: '/hole', upstream: 'hole' },
      { path: '/failover/', upstream: 'holeThenLive' },
      { path: '/raw', upstream: 'raw' },
      { path: '/', upstream: 'app' },
    ],
  }, { workers: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  await raw?.close();
  blackhole?.close();
});

describe('a target that does not accept within timeouts.connect', () => {
  test('502 PC_ERR_UPSTREAM_CONNECT after the connect timeout (1 s), not the response timeout (5 s)', async () => {
    const t = Date.now();
    const r = await request(proxy.port, { path: '/hole' });
    const ms = Date.now() - t;
    expect(r.status).toBe(502);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_CONNECT');
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(4500);
  });

  test('the next target is tried within the same request', async () => {
    // Round robin: of two requests one starts at the black hole, waits out the connect timeout,
    // then gets its answer from the live target.
    const before = origin.seen.length;
    const times: number[] = [];
    for (const path of ['/failover/a', '/failover/b']) {
      const t = Date.now();
      const r = await request(proxy.port, { path });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text).url).toBe(path);
      times.push(Date.now() - t);
    }
    expect(origin.seen.length).toBe(before + 2);
    expect(Math.max(...times)).toBeGreaterThanOrEqual(950);
    expect(Math.max(...times)).toBeLessThan(4500);
  });
});

describe('upstream status codes outside 100-599', () => {
  test.each(['600 Too High', '999 Way Too High', '099 Too Low', '000 Zero'])('HTTP/1.1 %s → 502 PC_ERR_UPSTREAM_PROTOCOL', async (status) => {
    answer = `HTTP/1.1 ${status}\r\ncontent-length: 2\r\n\r\nok`;
    const r = await request(proxy.port, { path: '/raw' });
    expect(r.status).toBe(502);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_PROTOCOL');
  });

  test('599, the highest valid code, passes', async () => {
    answer = 'HTTP/1.1 599 Edge\r\ncontent-length: 2\r\n\r\nok';
    expect((await request(proxy.port, { path: '/raw' })).status).toBe(599);
  });
});

test('a declared body over max_body_bytes: 413, and the connection is closed (its body is never parsed)', async () => {
  const r = await rawRequest(proxy.port, `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n${'x'.repeat(2000)}`, 5000);
  expect(r.status).toBe(413);
  expect(r.data).toContain('PC_ERR_BODY_TOO_LARGE');
  expect(r.closed).toBe(true);
  expect(r.ms).toBeLessThan(4000);
});

describe('forwarded differently from a plain nginx proxy_pass', () => {
  test.each([
    ['/a/%7euser/%7E', '/a/~user/~'],
    ['/a/%2f/b', '/a/%2F/b'],
    ['/a//b///c', '/a/b/c'],
    ['/a/./b/../c', '/a/c'],
    ['/a/b?', '/a/b'],
    ['/a/b?x=%7e&y=%2f+z&&w', '/a/b?x=%7e&y=%2f+z&&w'],
    ['/a/%7e?q=%7e', '/a/~?q=%7e'],
  ])('the path %s reaches the upstream as %s (the query byte for byte)', async (sent, seen) => {
    const r = await rawRequest(proxy.port, `GET ${sent} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(origin.seen.at(-1)!.url).toBe(seen);
  });

  test('header names are lowercase both ways', async () => {
    const r = await rawRequest(proxy.port, 'GET /case HTTP/1.1\r\nHost: a\r\nX-Client-Case: Mixed\r\nConnection: close\r\n\r\n');
    const names = origin.seen.at(-1)!.rawHeaders.filter((_, i) => i % 2 === 0);
    expect(names).toContain('x-client-case');
    expect(names).not.toContain('X-Client-Case');
    expect(r.data).toContain('\r\nx-origin-case: Mixed\r\n');
    expect(r.data).not.toContain('X-Origin-Case');
  });

  test('a reason phrase with latin1 bytes reaches the client re-encoded as UTF-8', async () => {
    answer = 'HTTP/1.1 200 Caf\xe9\r\ncontent-length: 2\r\n\r\nok'; // é as the one latin1 byte 0xE9
    const got = await new Promise<Buffer>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => s.write('GET /raw HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('close', () => resolve(Buffer.concat(parts)));
    });
    const statusLine = got.subarray(0, got.indexOf('\r\n'));
    expect(statusLine.equals(Buffer.from('HTTP/1.1 200 Café', 'utf8'))).toBe(true);
  });

  test('the upstream connection after a HEAD is closed, never reused', async () => {
    expect((await request(proxy.port, { path: '/after-head/0' })).status).toBe(200);
    expect((await request(proxy.port, { method: 'HEAD', path: '/after-head/1' })).status).toBe(200);
    expect((await request(proxy.port, { path: '/after-head/2' })).status).toBe(200);
    expect((await request(proxy.port, { path: '/after-head/3' })).status).toBe(200);
    // A GET's connection is reused (by the HEAD); the HEAD's is not (the next GET opens another,
    // which the GET after it reuses).
    expect(remotePorts.get('/after-head/1')).toBe(remotePorts.get('/after-head/0'));
    expect(remotePorts.get('/after-head/2')).not.toBe(remotePorts.get('/after-head/1'));
    expect(remotePorts.get('/after-head/3')).toBe(remotePorts.get('/after-head/2'));
  });

  test("the client's Connection: close is honoured (closed after the answer) and not echoed", async () => {
    const r = await rawRequest(proxy.port, 'GET /close HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 5000);
    expect(r.status).toBe(200);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(4000);
    expect(r.data.toLowerCase()).not.toContain('connection:');
  });

  test("a compressed answer's revalidation: the upstream's 304 goes out as it is (its strong ETag, no Vary)", async () => {
    const full = await request(proxy.port, { path: '/etag', headers: { 'accept-encoding': 'gzip' } });
    expect(full.headers['content-encoding']).toBe('gzip');
    expect(full.headers['etag']).toBe('W/"v1"');
    // The client revalidates with the ETag it was given.
    const r = await request(proxy.port, { path: '/etag', headers: { 'accept-encoding': 'gzip', 'if-none-match': 'W/"v1"' } });
    expect(r.status).toBe(304);
    expect(r.headers['etag']).toBe('"v1"');
    expect(r.headers['vary']).toBeUndefined();
    expect(r.headers['content-encoding']).toBeUndefined();
  });
});
