// What a client can do to one stream on an HTTP/2 listener ends that stream, never the worker:
// a reset with an error code (mid-upload, mid-answer), a body longer than its Content-Length,
// a window it never opens, a connection reset under open streams, and a WebSocket message over
// the size limit. Each of these once ended the worker with every connection it held (the
// stream's or the socket's 'error' went unheard): one worker here, so a crash shows as a
// restart in the proxy's output and as a cut download of a bystander.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { createTestCa, type TestCa } from '../helpers/tls.js';

let ca: TestCa;
let origin: Origin;
let wsOrigin: WebSocketServer;
let proxy: RunningProxy;
let port = 0;

beforeAll(async () => {
  ca = await createTestCa();
  const site = await ca.issue('site', ['site.test']);
  origin = await startOrigin((req, res, body) => {
    if (req.url === '/slow') {
      // 20 pieces over about a second: a bystander's download that a crash would cut.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(20 * 1024) });
      let n = 0;
      const t = setInterval(() => { res.write(Buffer.alloc(1024, 0x61)); if (++n === 20) { clearInterval(t); res.end(); } }, 50);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(4 << 20) });
      res.end(Buffer.alloc(4 << 20, 0x62));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`got ${body.length}`);
  }, { streamBody: false });
  wsOrigin = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wsOrigin.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
  await new Promise((r) => wsOrigin.once('listening', r));
  const wsPort = (wsOrigin.address() as { port: number }).port;
  port = await freePort();
  proxy = await startProxy({
    listen: [{ address: `127.0.0.1:${port}`, tls: { certificates: [{ cert: site.cert, key: site.key }] }, protocols: ['h1', 'h2'] }],
    timeouts: { idle: '1s' },
    upstreams: { app: { targets: [origin.url] }, ws: { targets: [`http://127.0.0.1:${wsPort}`] } },
    routes: [
      { path: '/', upstream: 'app' },
      { path: '/ws', upstream: 'ws', websocket: { max_message_size: '64KiB' } },
    ],
  }, { workers: 1 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  wsOrigin?.close();
  ca?.remove();
});

function connect(settings: http2.Settings = {}): http2.ClientHttp2Session {
  const c = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.ca.certPem, servername: 'site.test', settings });
  c.on('error', () => {});
  return c;
}

/** A download on its own connection, running while the attack happens: its bytes, or how it ended. */
function bystander(): Promise<string> {
  const c = connect();
  return new Promise((resolve) => {
    let n = 0;
    const req = c.request({ ':path': '/slow', ':authority': 'site.test' });
    req.on('data', (d: Buffer) => { n += d.length; });
    req.on('end', () => { c.close(); resolve(`${n} bytes`); });
    req.on('error', (e: Error) => { c.destroy(); resolve(`cut at ${n}: ${e.message}`); });
    req.end();
  });
}

/** Waits until the stream is closed by either side; resolves with its RST code (0: ended cleanly). */
function closed(req: http2.ClientHttp2Stream): Promise<number> {
  return new Promise((resolve) => {
    req.on('error', () => {});
    req.resume();
    req.on('close', () => resolve(req.rstCode ?? 0));
  });
}

/** The proxy still answers, and printed no worker failure since `mark` (its output's length then). */
async function stillServes(mark: number): Promise<void> {
  const c = connect();
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const req = c.request({ ':path': '/after', ':authority': 'site.test' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.end();
    });
    expect(status).toBe(200);
  } finally {
    c.close();
  }
  expect(proxy.output().slice(mark)).not.toMatch(/exited with code|restarted|ERR_HTTP2|RangeError|ECONNRESET/);
}

test('a client that resets its upload with PROTOCOL_ERROR, or its answer with INTERNAL_ERROR, ends that stream only', async () => {
  const mark = proxy.output().length;
  const watching = bystander();
  const c = connect();
  const upload = c.request({ ':method': 'POST', ':path': '/upload', ':authority': 'site.test' });
  const uploadClosed = closed(upload);
  upload.write(Buffer.alloc(1000, 0x63));
  setTimeout(() => upload.close(http2.constants.NGHTTP2_PROTOCOL_ERROR), 100);
  const answer = c.request({ ':path': '/slow', ':authority': 'site.test' });
  const answerClosed = closed(answer);
  answer.once('data', () => answer.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  answer.end();
  expect(await uploadClosed).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
  expect(await answerClosed).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
  c.close();
  expect(await watching).toBe(`${20 * 1024} bytes`);
  await stillServes(mark);
});

test('a body longer than its Content-Length resets that stream', async () => {
  const mark = proxy.output().length;
  const watching = bystander();
  const c = connect();
  const req = c.request({ ':method': 'POST', ':path': '/upload', ':authority': 'site.test', 'content-length': '5' });
  const done = closed(req);
  req.end(Buffer.from('hello world, more than five'));
  // PROTOCOL_ERROR from Node 20's http2, INTERNAL_ERROR from Node 24's: reset either way.
  expect(await done).not.toBe(0);
  c.close();
  expect(await watching).toBe(`${20 * 1024} bytes`);
  await stillServes(mark);
});

test('a stream whose client never opens its window is cut after timeouts.idle', async () => {
  const mark = proxy.output().length;
  const c = connect({ initialWindowSize: 0 });
  const req = c.request({ ':path': '/big', ':authority': 'site.test' });
  const t0 = Date.now();
  const code = await closed(req);
  expect(code).not.toBe(0);
  expect(Date.now() - t0).toBeLessThan(10_000);
  c.destroy();
  await stillServes(mark);
}, 20_000);

test('a connection reset under streams it never read ends those streams only', async () => {
  const mark = proxy.output().length;
  const watching = bystander();
  for (let round = 0; round < 3; round++) {
    // The TCP socket under the TLS one is ours, so that it can be reset.
    const tcp = net.connect(port, '127.0.0.1');
    const c = http2.connect(`https://127.0.0.1:${port}`, {
      settings: { initialWindowSize: 0 },
      createConnection: () => tls.connect({ socket: tcp, ca: ca.ca.certPem, servername: 'site.test', ALPNProtocols: ['h2'] }),
    });
    c.on('error', () => {});
    const reqs = Array.from({ length: 5 }, () => c.request({ ':path': '/big', ':authority': 'site.test' }));
    for (const r of reqs) { r.on('error', () => {}); r.end(); }
    await new Promise<void>((resolve) => reqs[4]!.once('response', () => resolve()));
    // A TCP reset (RST), not a FIN: the proxy's socket read fails with ECONNRESET.
    tcp.resetAndDestroy();
    c.destroy();
  }
  expect(await watching).toBe(`${20 * 1024} bytes`);
  await stillServes(mark);
});

test('a WebSocket message over max_message_size on a [h1, h2] listener closes with 1009, and the next tunnel works', async () => {
  const mark = proxy.output().length;
  const open = (): WebSocket => new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: ca.ca.certPem, servername: 'site.test', headers: { host: 'site.test' } });
  const big = open();
  const code = await new Promise<number>((resolve, reject) => {
    big.on('open', () => big.send(Buffer.alloc(100 * 1024)));
    big.on('close', (c) => resolve(c));
    big.on('error', () => {});
    big.on('unexpected-response', (_q, res) => reject(new Error(`status ${res.statusCode}`)));
  });
  expect(code).toBe(1009);
  const next = open();
  const echoed = await new Promise<string>((resolve, reject) => {
    next.on('open', () => next.send('still here'));
    next.on('message', (m) => { resolve(m.toString()); next.close(); });
    next.on('error', reject);
  });
  expect(echoed).toBe('still here');
  await stillServes(mark);
});
