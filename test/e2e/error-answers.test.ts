// The answer every failure the proxy answers itself gets (docs/errors.md): status, the body
// "<status> <reason> (<code>)", x-portcullis-error, x-request-id (the client's when well-formed
// and sent by a trusted hop: the test client is one here; else a minted one; the id the access
// log records), no-store; headers only
// for HEAD. One row per way the proxy refuses or fails, each on the wire as a client sees it.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/errors.js';
import { startRawOrigin, type RawOrigin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request, type Reply } from '../helpers/client.js';

let stall: RawOrigin;
let broken: RawOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  stall = await startRawOrigin(() => {}); // accepts, never answers
  broken = await startRawOrigin((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nbad header\r\n\r\n')));
  proxy = await startProxy({
    // The client's X-Request-Id is kept only from a trusted hop (test/e2e/proxy.test.ts checks
    // that an untrusted one is replaced): trusting loopback checks that the answer carries it.
    trusted_proxies: ['127.0.0.1'],
    limits: { max_body_bytes: '1KiB' },
    timeouts: { response_header: '500ms', connect: '1s' },
    access_log: { enabled: true, output: 'stdout' },
    upstreams: {
      stall: { targets: [stall.url] },
      broken: { targets: [broken.url] },
      // Port 1 on loopback: nothing listens there.
      dead: { targets: ['http://127.0.0.1:1'] },
    },
    routes: [
      { host: 'app.test', path: '/stall', upstream: 'stall' },
      { host: 'app.test', path: '/broken', upstream: 'broken' },
      { host: 'app.test', path: '/dead', upstream: 'dead' },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await stall?.close();
  await broken?.close();
});

interface Case { name: string; method: string; path: string; body?: string; code: ErrorCode }

const CASES: Case[] = [
  { name: 'no route', method: 'GET', path: '/nowhere', code: 'PC_ERR_NO_ROUTE' },
  { name: 'TRACE', method: 'TRACE', path: '/stall', code: 'PC_ERR_METHOD' },
  { name: 'a path with %00', method: 'GET', path: '/stall/%00', code: 'PC_ERR_BAD_PATH' },
  { name: 'a declared body over max_body_bytes', method: 'POST', path: '/stall', body: 'x'.repeat(2000), code: 'PC_ERR_BODY_TOO_LARGE' },
  { name: 'an upstream that refuses', method: 'GET', path: '/dead', code: 'PC_ERR_UPSTREAM_CONNECT' },
  { name: 'an upstream that never answers', method: 'GET', path: '/stall', code: 'PC_ERR_UPSTREAM_TIMEOUT' },
  { name: 'an invalid upstream answer', method: 'GET', path: '/broken', code: 'PC_ERR_UPSTREAM_PROTOCOL' },
];

function send(c: Case, headers: Record<string, string>, method = c.method): Promise<Reply> {
  return request(proxy.port, { method, path: c.path, headers: { host: 'app.test', ...headers }, ...(c.body !== undefined && method !== 'HEAD' ? { body: c.body } : {}), timeoutMs: 10_000 });
}

/** The access log lines so far (stdout, flushed about once a second). */
function logLines(): Record<string, unknown>[] {
  return proxy.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** What each answer said, checked against the access log at the end (one flush for all). */
const answered: { id: string; status: number; code: ErrorCode }[] = [];

const MINTED = /^[0-9a-f]{16}-[0-9a-z]+$/;

describe.each(CASES)('$name → $code', (c) => {
  const spec = ERRORS[c.code];

  test('status, body, x-portcullis-error, no-store, and the client\'s well-formed X-Request-Id', async () => {
    const id = `err-${c.code.toLowerCase()}`;
    const r = await send(c, { 'x-request-id': id });
    expect(r.status).toBe(spec.status);
    expect(r.text).toBe(`${spec.status} ${spec.reason} (${c.code})\n`);
    expect(r.headers['x-portcullis-error']).toBe(c.code);
    expect(r.headers['x-request-id']).toBe(id);
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.headers['cache-control']).toBe('no-store');
    answered.push({ id, status: spec.status, code: c.code });
  });

  test('without an X-Request-Id, or with a malformed one, the answer carries a minted id, the one logged', async () => {
    for (const incoming of [undefined, 'has spaces and ! marks']) {
      const r = await send(c, incoming === undefined ? {} : { 'x-request-id': incoming });
      expect(r.status).toBe(spec.status);
      const id = r.headers['x-request-id'];
      expect(id).toMatch(MINTED);
      answered.push({ id: id as string, status: spec.status, code: c.code });
    }
  });
});

describe.each(CASES.filter((c) => c.method === 'GET'))('HEAD, $name → $code', (c) => {
  const spec = ERRORS[c.code];
  const body = `${spec.status} ${spec.reason} (${c.code})\n`;
  test('the same status and headers, no body', async () => {
    const id = `head-${c.code.toLowerCase()}`;
    const r = await send(c, { 'x-request-id': id }, 'HEAD');
    expect(r.status).toBe(spec.status);
    expect(r.body.length).toBe(0);
    expect(r.headers['x-portcullis-error']).toBe(c.code);
    expect(r.headers['x-request-id']).toBe(id);
    answered.push({ id, status: spec.status, code: c.code });
  });

  test('Content-Length is the length a GET would get (also when the answer closes the connection)', async () => {
    const r = await send(c, {}, 'HEAD');
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });
});

test('two requests never share a minted id', async () => {
  const [a, b] = await Promise.all([send(CASES[0]!, {}), send(CASES[0]!, {})]);
  expect(a.headers['x-request-id']).toMatch(MINTED);
  expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
});

test('the access log has each answer under the id the client was given, with its status and code', async () => {
  expect(answered.length).toBe(CASES.length * 3 + CASES.filter((c) => c.method === 'GET').length);
  const until = Date.now() + 10_000;
  for (;;) {
    const byId = new Map(logLines().map((l) => [l['id'], l]));
    const missing = answered.filter((a) => !byId.has(a.id));
    if (missing.length === 0 || Date.now() > until) {
      expect(missing).toEqual([]);
      for (const a of answered) expect(byId.get(a.id), a.id).toMatchObject({ status: a.status, error: a.code });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
});
