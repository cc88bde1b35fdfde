// Request filtering, header edits and security presets, redirects and rewrites end to end.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';

let origin: Origin;
let p: RunningProxy;
let trusting: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin((req, res, body) => {
    if (req.url === '/self') { res.writeHead(302, { location: `http://${req.headers['x-forwarded-host']}/self` }); res.end(); return; }
    if (req.url === '/https-only') { res.writeHead(301, { location: `https://${req.headers['x-forwarded-host']}/https-only` }); res.end(); return; }
    if (req.url?.endsWith('/framed')) { res.writeHead(200, { 'x-frame-options': 'SAMEORIGIN' }); res.end('f'); return; }
    res.writeHead(200, { 'content-type': 'application/json', server: 'Apache/2.4.1 (Unix)', 'x-powered-by': 'PHP/5.3', 'x-debug': 'secret' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString() }));
  });
  const routes = [
    { path: '/', upstream: 'app' },
    { path: '/api/', upstream: 'app', methods: ['GET', 'POST'] },
    { path: '/static/', upstream: 'app', allow_dotfiles: true },
    { path: '/legacy/', upstream: 'app', allow_method_override: true },
    {
      path: '/secure/', upstream: 'app',
      headers: { preset: 'strict', request: { set: { 'x-env': 'prod' }, remove: ['x-debug-token'] }, response: { set: { 'cache-control': 'no-store' }, remove: ['x-debug'] } },
    },
    { path: '/guarded/', upstream: 'app', deny: [
      { path: '\\.php$' },
      { query: '(?i)union.+select'.replace('(?i)', '') },
      { header: { name: 'User-Agent', pattern: 'sqlmap' } },
      { header: { name: 'X-Scanner' }, status: 404 },
    ] },
    { path: '/v1/users/:id/', upstream: 'app', rewrite: '/users/{id}/v2/{path}' },
    { path: '/old-api/', upstream: 'app', rewrite: '/api/{path}' },
  ];
  const config = {
    upstreams: { app: { targets: [origin.url] } },
    limits: { max_url_bytes: 200 },
    headers: { response: { set: { 'x-served-by': 'edge' } } },
    redirects: [
      { from: 'http://old.example.com/*', to: 'https://example.com/{path}', status: 308 },
      { from: '/moved', to: '/new-home', status: 301 },
      { from: '/docs/*', to: 'https://docs.example.com/{path}', status: 302 },
      { from: '/uri/*', to: 'https://x.example/{uri}', status: 307 },
      { from: 'http://loop.example/*', to: 'http://loop.example/{path}', status: 301 },
      { from: '/self-loop', to: '/self-loop', status: 302 },
    ],
    routes,
  };
  p = await startProxy(config);
  trusting = await startProxy({ ...config, trusted_proxies: ['127.0.0.1'] });
});

afterAll(async () => {
  await p?.stop();
  await trusting?.stop();
  await origin?.close();
});

describe('methods', () => {
  test.each<[string, number]>([['GET', 200], ['HEAD', 200], ['POST', 200], ['PUT', 405], ['DELETE', 405], ['PATCH', 405], ['OPTIONS', 405]])('%s on a GET/POST route → %i', async (method, status) => {
    const r = await request(p.port, { method, path: '/api/x' });
    expect(r.status).toBe(status);
    if (status === 405) {
      expect(r.headers.allow).toBe('GET, POST, HEAD');
      expect(r.headers['x-portcullis-error']).toBe('PC_ERR_METHOD_NOT_ALLOWED');
    }
  });

  test('routes without methods take any', async () => {
    expect((await request(p.port, { method: 'PUT', path: '/x' })).status).toBe(200);
  });
});

describe('URL length', () => {
  test.each<[string, number]>([['a'.repeat(150), 200], ['a'.repeat(199), 200], ['a'.repeat(200), 414]])('path of %#: over limits.max_url_bytes → 414', async (rest, status) => {
    const r = await request(p.port, { path: `/${rest}` });
    expect(r.status).toBe(status);
  });

  test('the query counts too', async () => {
    const r = await request(p.port, { path: `/x?q=${'b'.repeat(200)}` });
    expect(r.status).toBe(414);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_URL_TOO_LONG');
  });
});

describe('dotfiles', () => {
  test.each<[string, number]>([
    ['/.git/config', 404], ['/.env', 404], ['/.htaccess', 404], ['/app/.git/HEAD', 404], ['/%2Egit/config', 404], ['/.git;x/config', 404],
    ['/.well-known/acme-challenge/abc', 200], ['/.well-known', 200], ['/.well-knownx', 404], ['/a.b/c', 200], ['/file.env', 200],
    ['/static/.hidden', 200],
  ])('%s → %i', async (target, status) => {
    const seen = origin.seen.length;
    const r = await rawRequest(p.port, `GET ${target} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(status);
    if (status === 404) {
      expect(r.data).toContain('PC_ERR_HIDDEN_PATH');
      expect(origin.seen.length).toBe(seen);
    }
  });
});

describe('deny rules', () => {
  test.each<[string, Record<string, string>, number]>([
    ['/guarded/index.php', {}, 403],
    ['/guarded/index.html', {}, 200],
    ['/guarded/q?id=1 union all select 2'.replace(/ /g, '%20'), {}, 403],
    ['/guarded/q?id=1', {}, 200],
    ['/guarded/x', { 'user-agent': 'sqlmap/1.7' }, 403],
    ['/guarded/x', { 'user-agent': 'curl/8' }, 200],
    ['/guarded/x', { 'x-scanner': '' }, 404],
  ])('%s %j → %i', async (path, headers, status) => {
    const r = await request(p.port, { path, headers });
    expect(r.status).toBe(status);
    if (status === 403) expect(r.headers['x-portcullis-error']).toBe('PC_ERR_DENIED');
  });
});

describe('override headers from untrusted clients', () => {
  const OVERRIDES = {
    'x-original-url': '/admin', 'x-rewrite-url': '/admin', 'x-host': 'evil.test', 'x-original-host': 'evil.test',
    'x-forwarded-server': 'evil.test', 'client-ip': '10.0.0.1', 'x-originating-ip': '10.0.0.1', 'x-remote-addr': '10.0.0.1',
    'x-remote-ip': '10.0.0.1', 'x-proxyuser-ip': '10.0.0.1', 'x-http-method-override': 'DELETE', 'x-http-method': 'DELETE', 'x-method-override': 'DELETE',
  };

  test('are removed before the upstream sees them', async () => {
    const r = await request(p.port, { path: '/x', headers: { ...OVERRIDES, 'x-kept': 'yes' } });
    const seen = JSON.parse(r.text).headers as Record<string, string>;
    for (const name of Object.keys(OVERRIDES)) expect(seen[name], name).toBeUndefined();
    expect(seen['x-kept']).toBe('yes');
  });

  test('a route may allow method overrides (only those)', async () => {
    const r = await request(p.port, { path: '/legacy/x', headers: OVERRIDES });
    const seen = JSON.parse(r.text).headers as Record<string, string>;
    expect(seen['x-http-method-override']).toBe('DELETE');
    expect(seen['x-method-override']).toBe('DELETE');
    expect(seen['x-original-url']).toBeUndefined();
  });

  test('from a trusted proxy they pass', async () => {
    const r = await request(trusting.port, { path: '/x', headers: OVERRIDES });
    const seen = JSON.parse(r.text).headers as Record<string, string>;
    expect(seen['x-original-url']).toBe('/admin');
    expect(seen['x-http-method-override']).toBe('DELETE');
  });
});

describe('security headers', () => {
  test('Server and X-Powered-By are removed by default; the global set applies everywhere', async () => {
    const r = await request(p.port, { path: '/x' });
    expect(r.headers.server).toBeUndefined();
    expect(r.headers['x-powered-by']).toBeUndefined();
    expect(r.headers['x-debug']).toBe('secret');
    expect(r.headers['x-served-by']).toBe('edge');
    expect(r.headers['x-content-type-options']).toBeUndefined();
  });

  test('preset strict, set and remove on the response; set and remove on the request', async () => {
    const r = await request(p.port, { path: '/secure/x', headers: { 'x-debug-token': 't', 'x-env': 'dev' } });
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['content-security-policy']).toBe("frame-ancestors 'none'");
    expect(r.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
    expect(r.headers['permissions-policy']).toContain('camera=()');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['x-debug']).toBeUndefined();
    expect(r.headers['x-served-by']).toBe('edge');
    // HSTS belongs to HTTPS answers only.
    expect(r.headers['strict-transport-security']).toBeUndefined();
    const seen = JSON.parse(r.text).headers as Record<string, string>;
    expect(seen['x-env']).toBe('prod');
    expect(seen['x-debug-token']).toBeUndefined();
  });

  test('strict adds HSTS when a trusted hop says the client came over HTTPS; an untrusted claim does not', async () => {
    const viaTls = await request(trusting.port, { path: '/secure/x', headers: { 'x-forwarded-proto': 'https' } });
    expect(viaTls.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    const spoofed = await request(p.port, { path: '/secure/x', headers: { 'x-forwarded-proto': 'https' } });
    expect(spoofed.headers['strict-transport-security']).toBeUndefined();
  });

  test('an app\'s own X-Frame-Options stands against the preset', async () => {
    const r = await request(p.port, { path: '/secure/framed' });
    expect(r.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });

  test('error answers carry the route\'s headers too', async () => {
    const r = await rawRequest(p.port, 'GET /secure/.env HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(404);
    expect(r.data.toLowerCase()).toContain('x-content-type-options: nosniff');
  });
});

describe('redirects', () => {
  test.each<[string, string, Record<string, string>, number, string]>([
    ['host and wildcard', '/a/b?x=1', { host: 'old.example.com' }, 308, 'https://example.com/a/b?x=1'],
    ['the host root', '/', { host: 'old.example.com' }, 308, 'https://example.com/'],
    ['exact path, any host', '/moved', { host: 'site.test' }, 301, '/new-home'],
    ['exact path keeps the query', '/moved?a=b', { host: 'site.test' }, 301, '/new-home?a=b'],
    ['prefix without a route for it', '/docs/guide/intro', { host: 'site.test' }, 302, 'https://docs.example.com/guide/intro'],
    ['"/docs/*" takes "/docs"', '/docs', { host: 'site.test' }, 302, 'https://docs.example.com/'],
    ['{uri} carries the query itself', '/uri/x?y=1', { host: 'site.test' }, 307, 'https://x.example//uri/x?y=1'],
  ])('%s: %s', async (_name, path, headers, status, location) => {
    const seen = origin.seen.length;
    const r = await request(p.port, { path, headers });
    expect(r.status).toBe(status);
    expect(r.headers.location).toBe(location);
    expect(origin.seen.length).toBe(seen);
  });

  test('another host is not redirected', async () => {
    const r = await request(p.port, { path: '/a', headers: { host: 'new.example.com' } });
    expect(r.status).toBe(200);
  });

  test('a redirect to the request\'s own URL answers 508 with the reason', async () => {
    for (const [path, host] of [['/x', 'loop.example'], ['/self-loop', 'site.test']] as const) {
      const r = await request(p.port, { path, headers: { host } });
      expect(r.status).toBe(508);
      expect(r.headers['x-portcullis-error']).toBe('PC_ERR_REDIRECT_LOOP');
      expect(r.text).toContain('redirect loop');
    }
  });

  test('an upstream redirecting to the same URL is passed on and logged with a warning', async () => {
    const r = await request(p.port, { path: '/self', headers: { host: 'app.test' } });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('http://app.test/self');
    await expect.poll(() => p.output(), { timeout: 5000 }).toMatch(/warn: upstream of route \/ redirected http:\/\/app\.test\/self to itself/);
    // Another URL of the same shape is not a loop.
    const other = await request(p.port, { path: '/https-only', headers: { host: 'app.test' } });
    expect(other.status).toBe(301);
  });
});

describe('rewrites', () => {
  test('route parameters and the rest of the path', async () => {
    const r = await request(p.port, { path: '/v1/users/42/posts/7?draft=1' });
    expect(JSON.parse(r.text).url).toBe('/users/42/v2/posts/7?draft=1');
  });

  test('a prefix route', async () => {
    const r = await request(p.port, { path: '/old-api/items' });
    expect(JSON.parse(r.text).url).toBe('/api/items');
  });
});
