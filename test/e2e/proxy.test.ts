// End-to-end forwarding through the real proxy: routing, header hygiene, framing.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';

let app: Origin;
let api: Origin;
let proxy: RunningProxy;

beforeAll(async () => {
  app = await startOrigin();
  api = await startOrigin((req, res, body) => {
    if (req.url?.startsWith('/status/')) {
      const code = Number(req.url.split('/')[2]);
      res.writeHead(code, { etag: '"x"' });
      res.end();
      return;
    }
    if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('hello ');
      setTimeout(() => res.end('world'), 20);
      return;
    }
    if (req.url === '/len') {
      res.writeHead(200, { 'content-length': '5' });
      res.end(req.method === 'HEAD' ? undefined : 'hello');
      return;
    }
    if (req.url === '/nolen') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(req.method === 'HEAD' ? undefined : 'hello');
      return;
    }
    if (req.url === '/utf8') {
      // Raw UTF-8 bytes in a header value (obs-text), as many apps send filenames.
      res.setHeader('content-disposition', Buffer.from('attachment; filename="résumé.pdf"').toString('latin1'));
      res.end(JSON.stringify({ name: Buffer.from(String(req.headers['x-name']), 'latin1').toString('hex') }));
      return;
    }
    if (req.url === '/hop') {
      res.writeHead(200, { connection: 'x-secret, keep-alive', 'x-secret': 'leak', 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', 'x-kept': 'yes', 'content-length': '2' });
      res.end('ok');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-origin': 'api' });
    res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers, body: body.toString() }));
  });
  proxy = await startProxy({
    upstreams: { app: { targets: [app.url] }, api: { targets: [api.url] } },
    routes: [
      { host: 'api.example.com', path: '/v1/', upstream: 'api', strip_prefix: true },
      { host: '*.example.com', path: '/', upstream: 'api', host_header: 'internal.example' },
      { path: '/admin', upstream: 'api' },
      { path: '/api/', upstream: 'api' },
      { path: '/', upstream: 'app' },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await app?.close();
  await api?.close();
});

describe('routing', () => {
  test.each([
    // host, path, expected origin, expected upstream path
    ['localhost', '/', 'app', '/'],
    ['localhost', '/x/y?q=1', 'app', '/x/y?q=1'],
    ['api.example.com', '/v1/users?id=7', 'api', '/users?id=7'],
    ['api.example.com', '/other', 'api', '/other'],
    ['www.example.com', '/anything', 'api', '/anything'],
    ['a.b.example.com', '/', 'api', '/'],
    ['example.com', '/', 'app', '/'],
    ['localhost', '/admin', 'api', '/admin'],
    ['localhost', '/admin/x', 'app', '/admin/x'],
    ['localhost', '//admin', 'api', '/admin'],
    ['localhost', '/./admin', 'api', '/admin'],
    ['localhost', '/%61dmin', 'api', '/admin'],
    ['localhost', '/api/../admin', 'api', '/admin'],
  ])('%s %s → %s %s', async (host, path, origin, upstreamPath) => {
    const before = { app: app.seen.length, api: api.seen.length };
    const r = await request(proxy.port, { path, headers: { host } });
    expect(r.status).toBe(200);
    const target = origin === 'app' ? app : api;
    const other = origin === 'app' ? api : app;
    expect(target.seen.length).toBe(before[origin as 'app' | 'api'] + 1);
    expect(other.seen.length).toBe(before[origin === 'app' ? 'api' : 'app']);
    expect(target.seen.at(-1)!.url).toBe(upstreamPath);
  });

  test('an encoded slash cannot climb out of a route: /static/..%2fadmin is refused with 400', async () => {
    const before = api.seen.length + app.seen.length;
    const r = await request(proxy.port, { path: '/static/..%2fadmin' });
    expect(r.status).toBe(400);
    expect(r.text).toContain('PC_ERR_BAD_PATH');
    expect(api.seen.length + app.seen.length).toBe(before);
  });

  test('Host is preserved by default and rewritten per route', async () => {
    await request(proxy.port, { path: '/keep', headers: { host: 'localhost:1234' } });
    expect(app.seen.at(-1)!.headers.host).toBe('localhost:1234');
    await request(proxy.port, { path: '/x', headers: { host: 'www.example.com' } });
    expect(api.seen.at(-1)!.headers.host).toBe('internal.example');
    expect(api.seen.at(-1)!.headers['x-forwarded-host']).toBe('www.example.com');
  });
});

describe('unmatched requests', () => {
  test('404 from the proxy with a reason, not a silent close', async () => {
    const p = await startProxy({ upstreams: { app: { targets: [app.url] } }, routes: [{ path: '/only/', upstream: 'app' }] });
    try {
      const r = await request(p.port, { path: '/elsewhere' });
      expect(r.status).toBe(404);
      expect(r.text).toContain('PC_ERR_NO_ROUTE');
      expect(r.headers['x-portcullis-error']).toBe('PC_ERR_NO_ROUTE');
    } finally {
      await p.stop();
    }
  });
});

describe('headers', () => {
  test('hop-by-hop request headers (and those Connection names) never reach the upstream', async () => {
    await request(proxy.port, {
      path: '/hop-req',
      headers: {
        connection: 'x-private, keep-alive', 'x-private': 'secret', 'keep-alive': 'timeout=9', te: 'trailers',
        'proxy-connection': 'keep-alive', 'proxy-authorization': 'Basic abc', upgrade: 'h2c', 'x-normal': 'kept',
      },
    });
    const h = app.seen.at(-1)!.headers;
    for (const name of ['x-private', 'keep-alive', 'te', 'trailer', 'proxy-connection', 'proxy-authorization', 'upgrade']) {
      expect(h[name], name).toBeUndefined();
    }
    expect(h['x-normal']).toBe('kept');
    expect(h.via).toBe('1.1 portcullis');
  });

  test('Trailer and TE never reach the upstream (raw request)', async () => {
    const r = await rawRequest(proxy.port, 'GET /raw-hop HTTP/1.1\r\nHost: a\r\nTrailer: x-t\r\nTE: trailers\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(200);
    const h = app.seen.at(-1)!.headers;
    expect(app.seen.at(-1)!.url).toBe('/raw-hop');
    expect(h.trailer).toBeUndefined();
    expect(h.te).toBeUndefined();
  });

  test('hop-by-hop response headers are removed; Via is added', async () => {
    const r2 = await request(proxy.port, { path: '/v1/hop', headers: { host: 'api.example.com' } });
    expect(r2.status).toBe(200);
    expect(r2.text).toBe('ok');
    expect(r2.headers['x-secret']).toBeUndefined();
    expect(r2.headers['keep-alive']).toBeUndefined();
    expect(r2.headers['proxy-authenticate']).toBeUndefined();
    expect(r2.headers['x-kept']).toBe('yes');
    expect(r2.headers.via).toBe('1.1 portcullis');
    expect(r2.rawHeaders.filter((h) => h.toLowerCase() === 'date')).toHaveLength(1);
    expect(r2.rawHeaders.filter((h) => h.toLowerCase() === 'content-length')).toHaveLength(1);
  });

  test('non-ASCII (UTF-8) header bytes pass byte for byte both ways', async () => {
    const r = await rawRequest(proxy.port, Buffer.concat([
      Buffer.from('GET /v1/utf8 HTTP/1.1\r\nHost: api.example.com\r\nX-Name: '),
      Buffer.from('café-crème ok'),
      Buffer.from('\r\nConnection: close\r\n\r\n'),
    ]));
    expect(r.status).toBe(200);
    const raw = Buffer.from(r.data, 'latin1');
    expect(raw.includes(Buffer.from('filename="résumé.pdf"'))).toBe(true);
    const body = JSON.parse(r.data.split('\r\n\r\n')[1]!) as { name: string };
    expect(body.name).toBe(Buffer.from('café-crème ok').toString('hex'));
  });

  test('X-Request-Id is generated; a client outside trusted_proxies cannot choose it', async () => {
    await request(proxy.port, { path: '/rid' });
    const generated = app.seen.at(-1)!.headers['x-request-id'];
    expect(generated).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
    const r = await request(proxy.port, { path: '/rid', headers: { 'x-request-id': 'abc-123' } });
    expect(app.seen.at(-1)!.headers['x-request-id']).not.toBe('abc-123');
    expect(app.seen.at(-1)!.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
    expect(r.headers['x-request-id'] ?? app.seen.at(-1)!.headers['x-request-id']).not.toBe('abc-123');
  });

  test('X-Request-Id from a trusted hop is propagated when valid', async () => {
    const trusting = await startProxy({ trusted_proxies: ['127.0.0.1'], upstreams: { app: { targets: [app.url] } } });
    try {
      await request(trusting.port, { path: '/rid', headers: { 'x-request-id': 'abc-123' } });
      expect(app.seen.at(-1)!.headers['x-request-id']).toBe('abc-123');
      await request(trusting.port, { path: '/rid', headers: { 'x-request-id': 'bad id with spaces' } });
      expect(app.seen.at(-1)!.headers['x-request-id']).not.toBe('bad id with spaces');
    } finally {
      await trusting.stop();
    }
  });
});

describe('framing', () => {
  test('POST with a Content-Length body', async () => {
    const r = await request(proxy.port, { method: 'POST', path: '/v1/echo', headers: { host: 'api.example.com', 'content-type': 'text/plain' }, body: 'payload-123' });
    expect(JSON.parse(r.text).body).toBe('payload-123');
    expect(api.seen.at(-1)!.headers['content-length']).toBe('11');
  });

  test('POST with a chunked body is re-chunked upstream', async () => {
    const r = await request(proxy.port, { method: 'POST', path: '/v1/echo', headers: { host: 'api.example.com', 'transfer-encoding': 'chunked' }, body: 'chunky' });
    expect(JSON.parse(r.text).body).toBe('chunky');
    expect(api.seen.at(-1)!.headers['transfer-encoding']).toBe('chunked');
  });

  test('a chunked response streams through', async () => {
    const r = await request(proxy.port, { path: '/v1/chunked', headers: { host: 'api.example.com' } });
    expect(r.text).toBe('hello world');
    expect(r.headers['transfer-encoding']).toBe('chunked');
  });

  test('HEAD gets headers and the GET length, no body', async () => {
    const get = await request(proxy.port, { path: '/v1/len', headers: { host: 'api.example.com' } });
    const head = await request(proxy.port, { method: 'HEAD', path: '/v1/len', headers: { host: 'api.example.com' } });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    expect(get.text).toBe('hello');
  });

  test('HEAD without an upstream length announces none', async () => {
    const head = await rawRequest(proxy.port, 'HEAD /v1/nolen HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n');
    expect(head.status).toBe(200);
    expect(head.data.toLowerCase()).not.toContain('content-length');
    expect(head.data.endsWith('\r\n\r\n')).toBe(true);
  });

  test.each([204, 304])('%i has no body and no Content-Length', async (code) => {
    const r = await request(proxy.port, { path: `/v1/status/${code}`, headers: { host: 'api.example.com' } });
    expect(r.status).toBe(code);
    expect(r.body.length).toBe(0);
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.headers.etag).toBe('"x"');
  });

  test('many requests reuse keep-alive connections', async () => {
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 4 });
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => request(proxy.port, { path: `/ka/${i}`, agent })));
    agent.destroy();
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(replies.map((r) => JSON.parse(r.text).url)).toEqual(Array.from({ length: 200 }, (_, i) => `/ka/${i}`));
  });
});
