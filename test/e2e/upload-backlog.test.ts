// Clients that send request bodies faster than the upstream takes them. uWS 20.57 keeps
// reading a paused client (docs/limits.md "Request bodies"), so the proxy bounds what a worker
// holds for upstreams (limits.upload_buffer, all exchanges together): past that an
// exchange ends with 503 PC_ERR_UPLOAD_BACKLOG, never the whole body held in memory.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { rssOf, startProxy, type RunningProxy } from '../helpers/proxy.js';

const MiB = 1024 * 1024;
const TOTAL = 300 * MiB;
let slow: net.Server;
let stalled: net.Server;
const stalledSockets = new Set<net.Socket>();
let proxy: RunningProxy;
/** Same upstreams, timeouts.response_header 8s: an exchange the stalled upstream never answers ends with 504. */
let proxy8: RunningProxy;

beforeAll(async () => {
  // Reads a piece, then nothing for 5 ms: a few MB/s.
  slow = net.createServer((c) => {
    let n = 0;
    c.on('data', (d: Buffer) => {
      c.pause();
      setTimeout(() => c.resume(), 5);
      n += d.length;
      if (n >= TOTAL) c.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  // Accepts and never reads.
  stalled = net.createServer((c) => { stalledSockets.add(c); c.pause(); c.on('error', () => {}); });
  await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
  const port = (slow.address() as net.AddressInfo).port;
  const stalledPort = (stalled.address() as net.AddressInfo).port;
  proxy = await startProxy({
    limits: { max_body_bytes: '1GiB', upload_buffer: '16MiB' },
    access_log: true,
    timeouts: { response_header: '120s' },
    upstreams: { slow: { targets: [`http://127.0.0.1:${port}`] }, stalled: { targets: [`http://127.0.0.1:${stalledPort}`] } },
    routes: [{ path: '/stalled', upstream: 'stalled' }, { path: '/', upstream: 'slow' }],
  });
  proxy8 = await startProxy({
    limits: { max_body_bytes: '1GiB' },
    timeouts: { response_header: '8s' },
    upstreams: { stalled: { targets: [`http://127.0.0.1:${stalledPort}`] } },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await proxy8?.stop();
  await new Promise<void>((r) => slow.close(() => r()));
  for (const c of stalledSockets) c.destroy();
  await new Promise<void>((r) => stalled.close(() => r()));
});

/** Uploads `total` bytes at full speed to `path`; resolves with the answer (status 0: connection closed). */
function upload(path: string, total: number, via = proxy): Promise<{ status: number; code: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: via.port, method: 'POST', path, agent: false, headers: { 'content-length': String(total) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: String(res.headers['x-portcullis-error'] ?? '') }));
    });
    req.on('error', () => resolve({ status: 0, code: 'connection closed' }));
    const block = Buffer.alloc(MiB, 117);
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += MiB;
        if (!req.write(block)) { req.once('drain', pump); return; }
      }
      req.end();
    };
    pump();
  });
}

/** Runs `work` while sampling the proxy's RSS; the peak growth in bytes. */
async function peakGrowth(work: () => Promise<unknown>, via = proxy): Promise<number> {
  const pid = via.child.pid!;
  const base = await rssOf(pid);
  let peak = base;
  const sampler = setInterval(() => { void rssOf(pid).then((r) => { peak = Math.max(peak, r); }); }, 50);
  try { await work(); } finally { clearInterval(sampler); }
  return peak - base;
}

test('a 300 MiB upload at full speed to a slow upstream ends with 503 PC_ERR_UPLOAD_BACKLOG, memory bounded', async () => {
  let result = { status: 0, code: '' };
  const growth = await peakGrowth(async () => { result = await upload('/', TOTAL); });
  // The client may see the close before the 503 (it is still sending when the proxy answers
  // and closes: docs/limits.md "Request bodies"); the proxy's own log line says what it did.
  if (result.status !== 0) expect(result).toEqual({ status: 503, code: 'PC_ERR_UPLOAD_BACKLOG' });
  const deadline = Date.now() + 5000;
  while (!proxy.output().includes('PC_ERR_UPLOAD_BACKLOG') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(proxy.output()).toMatch(/"status":503[^\n]*PC_ERR_UPLOAD_BACKLOG|PC_ERR_UPLOAD_BACKLOG[^\n]*"status":503/);
  // The worker holds at most limits.upload_buffer (16 MiB here) for it.
  expect(growth).toBeLessThan(64 * MiB);
}, 60_000);

test('twelve 60 MB uploads to an upstream that never reads: the worker holds at most limits.upload_buffer', async () => {
  let results: { status: number; code: string }[] = [];
  const growth = await peakGrowth(async () => { results = await Promise.all(Array.from({ length: 12 }, () => upload('/', 60 * MiB, proxy8))); }, proxy8);
  // Each ends: over the budget (503; a client still sending may see the reset before the
  // answer: 0), or held within it until the upstream's timeout (504).
  for (const r of results) expect([0, 503, 504]).toContain(r.status);
  // 64 MiB held at most, plus the copies of chunks already written that the GC has not taken
  // back yet (RSS counts them): not 12 × 60 MB. Without the bound this grew by 660 MiB; with it,
  // 92–126 MiB on a quiet machine, 170 once on a loaded CI run (over the 160 MiB first allowed).
  expect(growth).toBeLessThan(256 * MiB);
}, 60_000);
