// timeouts.idle on the upstream side (docs/limits.md "no body progress for timeouts.idle",
// docs/errors.md PC_ERR_UPSTREAM_TIMEOUT): a response body that stops mid-way is cut after
// `idle` (the client sees the truncation, the upstream socket is dropped, the log names the
// timeout), a slow body that keeps moving is not, and a body the proxy still holds back (a
// one-shot compression) gets a 504 instead.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startRawOrigin, type RawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { rawRequest } from '../helpers/raw.js';

const IDLE_MS = 1000;

/** Upstream sockets the proxy closed, by the path it asked for, and when. */
const closedAt = new Map<string, number>();
let stall: RawOrigin;
let proxy: RunningProxy;

/** Per path: what the upstream writes after the request head, as [delay ms, bytes] steps; then it goes quiet (socket left open). */
const SCRIPTS: Record<string, [number, string][]> = {
  '/length': [[0, 'HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000\r\n\r\n0123456789']],
  '/chunked': [[0, 'HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n']],
  // 8 pieces 400 ms apart (2.8 s in all, each gap under the 1 s idle), then the end. Not kept
  // alive: this origin answers one request per connection.
  '/slow': [
    [0, 'HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 80\r\nconnection: close\r\n\r\n'],
    ...Array.from({ length: 8 }, (_, i): [number, string] => [400, `piece-${i}...`.padEnd(10, '.')]),
  ],
  // A compressible body of a one-shot size (the proxy holds it back to compress it whole), cut at half.
  '/oneshot': [[0, `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8000\r\n\r\n${'abcdefgh'.repeat(500)}`]],
};

beforeAll(async () => {
  stall = await startRawOrigin((s) => {
    let head = '';
    s.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = head.split(' ')[1] ?? '';
      s.on('close', () => closedAt.set(path, Date.now()));
      let delay = 0;
      for (const [wait, bytes] of SCRIPTS[path] ?? []) {
        delay += wait;
        setTimeout(() => { if (!s.destroyed) s.write(bytes); }, delay);
      }
    });
  });
  proxy = await startProxy({
    // The log lines are found by the X-Request-Id each request sends: kept from a trusted hop only.
    trusted_proxies: ['127.0.0.1'],
    timeouts: { idle: `${IDLE_MS}ms`, response_header: '5s' },
    access_log: { enabled: true, output: 'stdout' },
    compression: { enabled: true },
    upstreams: { stall: { targets: [stall.url] } },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await stall?.close();
});

/** Waits (polling, generous deadline) until `check` returns a value. */
async function waitFor<T>(what: string, check: () => T | undefined, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The access log line of request `id` (the log flushes about once a second). */
function logLine(id: string): Promise<Record<string, unknown>> {
  return waitFor(`the log line of ${id}`, () => {
    for (const line of proxy.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry['id'] === id) return entry;
    }
    return undefined;
  });
}

/** Body bytes after the head, de-chunked when `chunked`. */
function bodyOf(data: string, chunked = false): string {
  const body = data.slice(data.indexOf('\r\n\r\n') + 4);
  if (!chunked) return body;
  let out = '';
  for (let rest = body; ;) {
    const line = rest.indexOf('\r\n');
    if (line < 0) return out;
    const size = parseInt(rest.slice(0, line), 16);
    if (!(size > 0) || rest.length < line + 2 + size) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

describe('a response body that stops mid-way', () => {
  test.each([
    ['/length', false, '0123456789'],
    ['/chunked', true, 'hello'],
  ] as const)('%s: the client connection is closed after timeouts.idle, the upstream dropped, the log says PC_ERR_UPSTREAM_TIMEOUT', async (path, chunked, sent) => {
    const id = `idle${path.replace('/', '-')}`;
    // Longer than the proxy's idle by far, shorter than forever: without the idle cut the
    // upstream (which never closes) keeps this open until the deadline below.
    const r = await rawRequest(proxy.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nX-Request-Id: ${id}\r\n\r\n`, 9000);
    expect(r.status).toBe(200);
    expect(r.closed).toBe(true);
    expect(bodyOf(r.data, chunked)).toBe(sent);
    if (chunked) expect(r.data).not.toContain('0\r\n\r\n'); // never a clean end: the client sees the cut
    expect(r.ms).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(r.ms).toBeLessThan(8000);
    await waitFor('the upstream socket to close', () => closedAt.get(path));
    const line = await logLine(id);
    expect(line).toMatchObject({ status: 200, error: 'PC_ERR_UPSTREAM_TIMEOUT', res_bytes: sent.length });
    // Cut by idle (1 s), not by response_header (5 s).
    expect(line['ms']).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(line['ms']).toBeLessThan(4000);
  }, 20_000);
});

test('a slow body whose every gap is under timeouts.idle arrives whole (each read restarts the clock)', async () => {
  const r = await rawRequest(proxy.port, 'GET /slow HTTP/1.1\r\nHost: a\r\nX-Request-Id: idle-slow\r\nConnection: close\r\n\r\n', 15_000);
  expect(r.status).toBe(200);
  expect(bodyOf(r.data)).toBe(Array.from({ length: 8 }, (_, i) => `piece-${i}...`.padEnd(10, '.')).join(''));
  expect(r.ms).toBeGreaterThan(2 * IDLE_MS); // it really was slower than one idle period in all
  expect(await logLine('idle-slow')).toMatchObject({ status: 200, error: null, res_bytes: 80 });
}, 20_000);

test('a one-shot compressed body that stalls: nothing was sent yet, so the client gets 504 PC_ERR_UPSTREAM_TIMEOUT', async () => {
  const r = await rawRequest(proxy.port, 'GET /oneshot HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nX-Request-Id: idle-oneshot\r\n\r\n', 9000);
  expect(r.status).toBe(504);
  expect(r.data).toContain('x-portcullis-error: PC_ERR_UPSTREAM_TIMEOUT');
  expect(r.ms).toBeGreaterThanOrEqual(IDLE_MS - 50);
  expect(r.ms).toBeLessThan(8000);
  await waitFor('the upstream socket to close', () => closedAt.get('/oneshot'));
  const line = await logLine('idle-oneshot');
  expect(line).toMatchObject({ status: 504, error: 'PC_ERR_UPSTREAM_TIMEOUT' });
  expect(line['ms']).toBeGreaterThanOrEqual(IDLE_MS - 50);
  expect(line['ms']).toBeLessThan(4000);
}, 20_000);
