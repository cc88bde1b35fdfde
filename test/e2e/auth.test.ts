// Auth gates end to end: basic auth (scrypt hashes), forward auth (an auth service started by
// the test) and JWT bearer tokens (keys made here with jose, a JWKS served by the test).
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { hashPassword } from '../../src/policy/password-hash.js';

let origin: Origin;
const proxies: RunningProxy[] = [];
const servers: http.Server[] = [];

async function serve(handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, server };
}

async function proxy(config: Record<string, unknown>, workers = 1): Promise<RunningProxy> {
  const p = await startProxy({ upstreams: { app: { targets: [origin.url] } }, ...config }, { workers });
  proxies.push(p);
  return p;
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

beforeAll(async () => {
  origin = await startOrigin();
});

afterAll(async () => {
  for (const p of proxies) await p.stop();
  for (const s of servers) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
  await origin?.close();
});

describe('basic auth', () => {
  let p: RunningProxy;
  beforeAll(async () => {
    const hash = await hashPassword('correct horse', 10);
    const bob = await hashPassword('bob pw', 10);
    p = await proxy({ routes: [{ path: '/', upstream: 'app' }, { path: '/admin/', upstream: 'app', auth: { basic: { realm: 'admin area', users: { alice: hash, bob } } } }] });
  });

  test.each([
    ['missing', undefined, 401, 'PC_ERR_AUTH_MISSING'],
    ['right', basic('alice', 'correct horse'), 200, undefined],
    ['right again (remembered)', basic('alice', 'correct horse'), 200, undefined],
    ['wrong password', basic('alice', 'battery staple'), 401, 'PC_ERR_AUTH_INVALID'],
    ['unknown user', basic('mallory', 'correct horse'), 401, 'PC_ERR_AUTH_INVALID'],
    ['empty password', basic('alice', ''), 401, 'PC_ERR_AUTH_INVALID'],
    ['no colon', `Basic ${Buffer.from('alice').toString('base64')}`, 401, 'PC_ERR_AUTH_INVALID'],
    ['another scheme', 'Bearer abc', 401, 'PC_ERR_AUTH_MISSING'],
    ['garbage', 'Basic %%%', 401, 'PC_ERR_AUTH_INVALID'],
  ])('%s → %i', async (_name, authorization, status, code) => {
    const seen = origin.seen.length;
    const r = await request(p.port, { path: '/admin/panel', headers: authorization === undefined ? {} : { authorization } });
    expect(r.status).toBe(status);
    expect(r.headers['x-portcullis-error']).toBe(code);
    if (status === 401) {
      expect(r.headers['www-authenticate']).toBe('Basic realm="admin area", charset="UTF-8"');
      expect(origin.seen.length).toBe(seen); // the upstream never saw it
    } else {
      expect(origin.seen.at(-1)!.url).toBe('/admin/panel');
    }
  });

  test('outside the gate nothing is asked', async () => {
    expect((await request(p.port, { path: '/public' })).status).toBe(200);
  });

  test('a POST body waits for the check (first use of a credential: scrypt off the thread) and arrives whole', async () => {
    const body = 'x'.repeat(200_000);
    const r = await request(p.port, { method: 'POST', path: '/admin/upload', headers: { authorization: basic('bob', 'bob pw'), 'content-type': 'text/plain' }, body });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).body.length).toBe(body.length);
  });

  test('a POST body with wrong credentials never reaches the upstream', async () => {
    const seen = origin.seen.length;
    const r = await request(p.port, { method: 'POST', path: '/admin/upload', headers: { authorization: basic('alice', 'nope') }, body: 'secret data' });
    expect(r.status).toBe(401);
    expect(origin.seen.length).toBe(seen);
  });
});

describe('forward auth', () => {
  let p: RunningProxy;
  let asked: http.IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    const auth = await serve((req, res) => {
      asked.push({ ...req.headers, ':method': req.method, ':url': req.url });
      const token = req.headers.authorization;
      if (token === 'Bearer good') { res.writeHead(200, { 'remote-user': 'alice', 'remote-groups': 'admins', 'x-internal': 'no' }); res.end(); return; }
      if (token === 'Bearer nobody') { res.writeHead(200); res.end(); return; }
      if (token === 'Bearer slow') { setTimeout(() => { res.writeHead(200); res.end(); }, 3000); return; }
      if (token === undefined) { res.writeHead(302, { location: 'https://login.example/?rd=x', 'set-cookie': 'flow=1' }); res.end(); return; }
      res.writeHead(403, { 'content-type': 'text/html' });
      res.end('<h1>go away</h1>');
    });
    p = await proxy({
      routes: [
        { path: '/app/', upstream: 'app', auth: { forward: { url: `${auth.url}/verify?x=1`, copy_headers: ['Remote-User', 'Remote-Groups'] } } },
        { path: '/cached/', upstream: 'app', auth: { forward: { url: `${auth.url}/verify`, copy_headers: ['Remote-User'], cache: '2s' } } },
        { path: '/down/', upstream: 'app', auth: { forward: { url: 'http://127.0.0.1:1/verify' } } },
        { path: '/timeout/', upstream: 'app', auth: { forward: { url: `${auth.url}/verify`, timeout: '500ms' } } },
      ],
    });
  });

  test('2xx: through, with the copied headers; the auth service saw method, URI and X-Forwarded-*', async () => {
    asked = [];
    const r = await request(p.port, { method: 'DELETE', path: '/app/items/7?force=1', headers: { authorization: 'Bearer good', host: 'site.test', cookie: 'sid=1' } });
    expect(r.status).toBe(200);
    const up = origin.seen.at(-1)!;
    expect(up.method).toBe('DELETE');
    expect(up.headers['remote-user']).toBe('alice');
    expect(up.headers['remote-groups']).toBe('admins');
    expect(up.headers['x-internal']).toBeUndefined();
    expect(asked).toHaveLength(1);
    expect(asked[0]![':method']).toBe('GET');
    expect(asked[0]![':url']).toBe('/verify?x=1');
    expect(asked[0]!['x-forwarded-method']).toBe('DELETE');
    expect(asked[0]!['x-forwarded-uri']).toBe('/app/items/7?force=1');
    expect(asked[0]!['x-forwarded-proto']).toBe('http');
    expect(asked[0]!['x-forwarded-host']).toBe('site.test');
    expect(asked[0]!['x-forwarded-for']).toBe('127.0.0.1');
    expect(asked[0]!.cookie).toBe('sid=1');
  });

  test('a chunked POST body waits for the auth service and arrives whole', async () => {
    const body = 'y'.repeat(300_000);
    const r = await request(p.port, { method: 'POST', path: '/app/upload', headers: { authorization: 'Bearer good', 'transfer-encoding': 'chunked' }, body });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).body).toBe(body);
  });

  test('a 20 MiB upload during a 3 s auth check: held whole (reading paused) or refused past 8 MiB, never half-forwarded', async () => {
    const seen = origin.seen.length;
    const size = 20 * 1024 * 1024;
    const r = await request(p.port, { method: 'POST', path: '/app/big', headers: { authorization: 'Bearer slow' }, body: Buffer.alloc(size, 1) })
      .catch((e: Error) => ({ status: 0, headers: {} as http.IncomingHttpHeaders, text: e.message }));
    if (r.status === 200) {
      // uWS stopped reading while the check was pending: the body was replayed whole.
      expect(origin.seen.at(-1)!.bodyBytes).toBe(size);
    } else {
      // uWS kept delivering past the cap: refused (or reset mid-upload), and nothing forwarded.
      if (r.status !== 0) expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPLOAD_BACKLOG');
      expect(origin.seen.length).toBe(seen);
    }
  });

  test('a client cannot bring its own copied headers, also when the service sets none', async () => {
    const r = await request(p.port, { path: '/app/x', headers: { authorization: 'Bearer nobody', 'remote-user': 'root', 'remote-groups': 'admins' } });
    expect(r.status).toBe(200);
    expect(origin.seen.at(-1)!.headers['remote-user']).toBeUndefined();
    expect(origin.seen.at(-1)!.headers['remote-groups']).toBeUndefined();
  });

  test.each([
    ['a redirect to the login page', {}, 302, (r: { headers: http.IncomingHttpHeaders }) => {
      expect(r.headers.location).toBe('https://login.example/?rd=x');
      expect(r.headers['set-cookie']).toEqual(['flow=1']);
    }],
    ['a 403 with its body', { authorization: 'Bearer bad' }, 403, (r: { headers: http.IncomingHttpHeaders; text?: string }) => {
      expect(r.text).toBe('<h1>go away</h1>');
      expect(r.headers['content-type']).toBe('text/html');
    }],
  ])('any other answer goes back as it is: %s', async (_name, headers, status, more) => {
    const seen = origin.seen.length;
    const r = await request(p.port, { path: '/app/x', headers: headers as Record<string, string> });
    expect(r.status).toBe(status);
    more(r);
    expect(origin.seen.length).toBe(seen);
  });

  test('positive answers are cached for `cache`, negative ones never', async () => {
    asked = [];
    for (let i = 0; i < 3; i++) expect((await request(p.port, { path: '/cached/a', headers: { authorization: 'Bearer good' } })).status).toBe(200);
    expect(asked).toHaveLength(1);
    expect(origin.seen.at(-1)!.headers['remote-user']).toBe('alice');
    for (let i = 0; i < 2; i++) expect((await request(p.port, { path: '/cached/a', headers: { authorization: 'Bearer bad' } })).status).toBe(403);
    expect(asked).toHaveLength(3);
    // Another credential or URI is another entry.
    await request(p.port, { path: '/cached/b', headers: { authorization: 'Bearer good' } });
    expect(asked).toHaveLength(4);
    await new Promise((r) => setTimeout(r, 2100));
    await request(p.port, { path: '/cached/a', headers: { authorization: 'Bearer good' } });
    expect(asked).toHaveLength(5);
  });

  test('an auth service that is down or too slow: 502 PC_ERR_AUTH_UNAVAILABLE', async () => {
    const down = await request(p.port, { path: '/down/x' });
    expect(down.status).toBe(502);
    expect(down.headers['x-portcullis-error']).toBe('PC_ERR_AUTH_UNAVAILABLE');
    const slow = await request(p.port, { path: '/timeout/x', headers: { authorization: 'Bearer slow' } });
    expect(slow.status).toBe(502);
    expect(slow.headers['x-portcullis-error']).toBe('PC_ERR_AUTH_UNAVAILABLE');
  });
});

describe('a client that vanishes while its auth check is pending', () => {
  // (With a request body, reading is paused while the check is pending, and uWS notices the
  // close only when reading resumes: such a request starts upstream and is cut there, as any
  // upload whose client vanishes.)
  test('nothing is forwarded, the proxy goes on, and its in-flight slot is given back', async () => {
    let release: (() => void) | null = null;
    const auth = await serve((req, res) => {
      if (req.headers.authorization === 'Bearer hold') { release = () => { res.writeHead(200); res.end(); }; return; }
      res.writeHead(200); res.end();
    });
    const p = await proxy({ limits: { max_requests_per_ip: 1 }, routes: [{ path: '/', upstream: 'app', auth: { forward: { url: auth.url } } }] });
    const seen = origin.seen.length;
    const net = await import('node:net');
    const s = net.connect(p.port, '127.0.0.1', () => s.write('GET /vanish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hold\r\n\r\n'));
    await expect.poll(() => release !== null, { timeout: 5000 }).toBe(true);
    s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    release!();
    // The slot of the vanished request was given back: the next request passes the limit of 1.
    await expect.poll(async () => (await request(p.port, { path: '/after', headers: { authorization: 'Bearer ok' } })).status, { timeout: 5000 }).toBe(200);
    expect(origin.seen.slice(seen).map((e) => e.url)).toEqual(['/after']);
  });
});

describe('JWT', () => {
  interface Key { kid: string; priv: CryptoKey; jwk: JWK }
  const makeKey = async (kid: string, alg = 'RS256'): Promise<Key> => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    return { kid, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
  };
  const sign = (k: Key, claims: Record<string, unknown>, opts: { exp?: number | string; alg?: string } = {}): Promise<string> => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: k.kid }).setIssuedAt().setIssuer('https://issuer.test').setAudience('api');
    if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
    return jwt.sign(k.priv);
  };

  let p: RunningProxy;
  let a: Key;
  let b: Key;
  let c: Key;
  let served: JWK[] = [];
  let fetches = 0;

  beforeAll(async () => {
    a = await makeKey('key-a');
    b = await makeKey('key-b');
    c = await makeKey('key-c');
    served = [a.jwk];
    const jwks = await serve((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: served }));
    });
    p = await proxy({
      routes: [
        { path: '/api/', upstream: 'app', auth: { jwt: { issuer: 'https://issuer.test', audience: 'api', jwks_url: `${jwks.url}/jwks.json`, clock_skew: '5s', jwks_cooldown: '1s' } } },
        { path: '/inline/', upstream: 'app', auth: { jwt: { audience: ['other', 'api'], keys: [c.jwk] } } },
      ],
    });
  });

  const call = (path: string, token: string | undefined) =>
    request(p.port, { path, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  test('valid token: through', async () => {
    const r = await call('/api/x', await sign(a, { sub: 'u1' }, { exp: '5m' }));
    expect(r.status).toBe(200);
    expect(origin.seen.at(-1)!.url).toBe('/api/x');
  });

  test.each<[string, () => Promise<string | undefined>, string, RegExp]>([
    ['no token', async () => undefined, 'PC_ERR_AUTH_MISSING', /^Bearer realm="\/api\/"$/],
    ['expired', async () => sign(a, {}, { exp: Math.floor(Date.now() / 1000) - 60 }), 'PC_ERR_AUTH_EXPIRED', /error="invalid_token", error_description="token expired"/],
    ['wrong audience', async () => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: a.kid }).setIssuer('https://issuer.test').setAudience('not-api').setExpirationTime('5m').sign(a.priv), 'PC_ERR_AUTH_INVALID', /claim aud rejected/],
    ['wrong issuer', async () => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: a.kid }).setIssuer('https://evil.test').setAudience('api').setExpirationTime('5m').sign(a.priv), 'PC_ERR_AUTH_INVALID', /claim iss rejected/],
    ['unknown key', async () => sign(c, {}, { exp: '5m' }), 'PC_ERR_AUTH_INVALID', /unknown signing key/],
    ['signed by another key under a known kid', async () => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: a.kid }).setIssuer('https://issuer.test').setAudience('api').setExpirationTime('5m').sign(c.priv), 'PC_ERR_AUTH_INVALID', /invalid token/],
    ['alg none', async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"aud":"api","iss":"https://issuer.test"}').toString('base64url')}.`, 'PC_ERR_AUTH_INVALID', /invalid_token/],
    ['garbage', async () => 'not.a.jwt', 'PC_ERR_AUTH_INVALID', /invalid_token/],
  ])('%s → 401', async (_name, make, code, challenge) => {
    const seen = origin.seen.length;
    const r = await call('/api/x', await make());
    expect(r.status).toBe(401);
    expect(r.headers['x-portcullis-error']).toBe(code);
    expect(r.headers['www-authenticate']).toMatch(challenge);
    expect(origin.seen.length).toBe(seen);
  });

  test('within the clock skew an expired token still passes', async () => {
    const r = await call('/api/x', await sign(a, {}, { exp: Math.floor(Date.now() / 1000) - 2 }));
    expect(r.status).toBe(200);
  });

  test('rotated JWKS: a token with the new key is accepted once the set is fetched again', async () => {
    served = [b.jwk];
    await new Promise((r) => setTimeout(r, 1100)); // jwks_cooldown
    const before = fetches;
    const r = await call('/api/x', await sign(b, {}, { exp: '5m' }));
    expect(r.status).toBe(200);
    expect(fetches).toBe(before + 1);
    // The retired key is gone from the set once the cache holds the new one.
    const old = await call('/api/x', await sign(a, {}, { exp: '5m' }));
    expect(old.status).toBe(401);
  });

  test('inline keys, audience from a list', async () => {
    expect((await call('/inline/x', await sign(c, {}, { exp: '5m' }))).status).toBe(200);
    expect((await call('/inline/x', await sign(a, {}, { exp: '5m' }))).status).toBe(401);
  });
});
