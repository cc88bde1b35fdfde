// RFC 9111 / 9213 rules end to end, on a real proxy (2 workers sharing the cache) and a real
// origin: which statuses are stored and must-understand, heuristic freshness and Age, parsing,
// the targeted fields (CDN-Cache-Control, Portcullis-Cache-Control), invalidation by Location
// and Content-Location, what a 304 and a HEAD 200 may change, interim responses, ranges from
// the cache, Vary variants, and the Authorization default.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startCacheOrigin, httpDate, type CacheOrigin } from '../helpers/cache-origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request, type Reply } from '../helpers/client.js';
import net from 'node:net';
import { rawRequest } from '../helpers/raw.js';

let origin: CacheOrigin;
let proxy: RunningProxy;

function get(path: string, headers: Record<string, string> = {}, method = 'GET', port = proxy.port): Promise<Reply> {
  return request(port, { path, headers, method });
}

beforeAll(async () => {
  origin = await startCacheOrigin();
  proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true } }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

const ttlOf = (r: Reply): number => Number(/ttl=(-?\d+)/.exec(String(r.headers['cache-status']))?.[1] ?? NaN);

describe('which statuses are stored (RFC 9111 §3)', () => {
  // Any final status may be stored with explicit freshness, not only the heuristically
  // cacheable ones; a hit answers the stored status and body, and no request reaches the origin.
  test.each([302, 303, 307, 400, 500, 502, 503, 504, 599])('a %d with max-age is stored and served from the cache', async (status) => {
    const path = `/status-${status}`;
    const seen = origin.on(path, () => ({ status, headers: { 'cache-control': 'max-age=3600', location: '/elsewhere' }, body: `answer ${status}` }));
    const a = await get(path);
    expect(a.status).toBe(status);
    expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    const b = await get(path);
    expect(b.status).toBe(status);
    expect(b.headers['cache-status']).toMatch(/^portcullis; hit; ttl=/);
    expect(b.body.toString()).toBe(`answer ${status}`);
    expect(b.headers['location']).toBe('/elsewhere');
    expect(seen()).toBe(1);
  });

  test.each([302, 500, 503])('a %d without explicit freshness is not stored', async (status) => {
    const path = `/status-plain-${status}`;
    const seen = origin.on(path, () => ({ status, body: 'x' }));
    const a = await get(path);
    expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=no-freshness');
    await get(path);
    expect(seen()).toBe(2);
  });
});

describe('must-understand (RFC 9111 §5.2.2.3)', () => {
  test('a status the cache does not understand is not stored', async () => {
    const seen = origin.on('/mu-599', () => ({ status: 599, headers: { 'cache-control': 'max-age=3600, must-understand' } }));
    const a = await get('/mu-599');
    expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=must-understand');
    await get('/mu-599');
    expect(seen()).toBe(2);
  });

  test('with a status it understands, must-understand overrides no-store', async () => {
    const seen = origin.on('/mu-200', () => ({ headers: { 'cache-control': 'max-age=3600, must-understand, no-store' } }));
    await get('/mu-200');
    expect((await get('/mu-200')).headers['cache-status']).toMatch(/^portcullis; hit/);
    expect(seen()).toBe(1);
  });
});

describe('heuristic freshness (RFC 9111 §4.2.2)', () => {
  test('a 200 with Last-Modified and no explicit freshness is fresh for 10% of its age, with Age counted', async () => {
    const seen = origin.on('/heur', () => ({ headers: { 'last-modified': httpDate(-1000), age: '30' } }));
    const a = await get('/heur');
    expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    const b = await get('/heur');
    expect(b.headers['cache-status']).toMatch(/^portcullis; hit/);
    // 10% of ~1000 s, minus the 30 s it already was old.
    expect(ttlOf(b)).toBeGreaterThanOrEqual(68);
    expect(ttlOf(b)).toBeLessThanOrEqual(71);
    expect(Number(b.headers['age'])).toBeGreaterThanOrEqual(30);
    expect(seen()).toBe(1);
  });

  test.each([404, 410, 501])('a heuristically cacheable %d is stored too', async (status) => {
    const path = `/heur-${status}`;
    const seen = origin.on(path, () => ({ status, headers: { 'last-modified': httpDate(-1000) } }));
    await get(path);
    expect((await get(path)).status).toBe(status);
    expect(seen()).toBe(1);
  });

  test('a 302 is not, unless it says public', async () => {
    const plain = origin.on('/heur-302', () => ({ status: 302, headers: { location: '/x', 'last-modified': httpDate(-1000) } }));
    await get('/heur-302');
    await get('/heur-302');
    expect(plain()).toBe(2);
    const pub = origin.on('/heur-302p', () => ({ status: 302, headers: { location: '/x', 'cache-control': 'public', 'last-modified': httpDate(-1000) } }));
    await get('/heur-302p');
    await get('/heur-302p');
    expect(pub()).toBe(1);
  });

  test('cache.heuristic: the fraction and the cap are configurable; fraction 0 turns it off', async () => {
    const capped = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, heuristic: { fraction: 0.5, max: '1m' } } });
    const off = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, heuristic: { fraction: 0 } } });
    try {
      origin.on('/heur-cfg', () => ({ headers: { 'last-modified': httpDate(-100_000) } }));
      await get('/heur-cfg', {}, 'GET', capped.port);
      const r = await get('/heur-cfg', {}, 'GET', capped.port);
      expect(ttlOf(r)).toBeGreaterThanOrEqual(58);
      expect(ttlOf(r)).toBeLessThanOrEqual(60);
      const half = origin.on('/heur-half', () => ({ headers: { 'last-modified': httpDate(-40) } }));
      await get('/heur-half', {}, 'GET', capped.port);
      const h = await get('/heur-half', {}, 'GET', capped.port);
      expect(ttlOf(h)).toBeGreaterThanOrEqual(18);
      expect(ttlOf(h)).toBeLessThanOrEqual(20);
      expect(half()).toBe(1);
      const a = await get('/heur-cfg', {}, 'GET', off.port);
      expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=no-freshness');
    } finally {
      await capped.stop();
      await off.stop();
    }
  });
});

describe('parsing', () => {
  test('two max-age values: the most restrictive one', async () => {
    origin.on('/p-two', () => ({ headers: { 'cache-control': 'max-age=3600, max-age=120' } }));
    await get('/p-two');
    const r = await get('/p-two');
    expect(ttlOf(r)).toBeGreaterThanOrEqual(118);
    expect(ttlOf(r)).toBeLessThanOrEqual(120);
  });

  test.each(['max-age=1.5', 'max-age=a100', 'max-age =3600', 'max-age= 3600', "max-age='3600'"])('an invalid number (%s) is not fresh', async (cc) => {
    const path = `/p-bad-${Buffer.from(cc).toString('hex')}`;
    const seen = origin.on(path, () => ({ headers: { 'cache-control': cc } }));
    await get(path);
    await get(path);
    expect(seen()).toBe(2);
  });

  test.each([
    ['a parameter', '7200;foo=bar', false],
    ['a numeric parameter', '7200;foo=111', false],
    ['a list: the first member, old', '7200, 0', false],
    ['a list: the first member, new', '0, 7200', true],
  ])('Age with %s (%s)', async (_name, age, fresh) => {
    const path = `/p-age-${age.replace(/\W/g, '')}`;
    const seen = origin.on(path, () => ({ headers: { 'cache-control': 'max-age=3600', age } }));
    await get(path);
    await get(path);
    expect(seen()).toBe(fresh ? 1 : 2);
  });

  test('Pragma: no-cache without Cache-Control (HTTP/1.0): Expires does not make it fresh; with Cache-Control, Pragma is ignored', async () => {
    const seen = origin.on('/p-pragma', () => ({ headers: { pragma: 'No-Cache', expires: httpDate(3600), date: new Date().toUTCString() } }));
    await get('/p-pragma');
    expect((await get('/p-pragma')).headers['cache-status']).not.toMatch(/hit/);
    expect(seen()).toBe(2);
    const seenCc = origin.on('/p-pragma-cc', () => ({ headers: { pragma: 'no-cache', 'cache-control': 'max-age=3600' } }));
    await get('/p-pragma-cc');
    expect((await get('/p-pragma-cc')).headers['cache-status']).toMatch(/hit/);
    expect(seenCc()).toBe(1);
  });

  test.each(['If-Match', 'If-Unmodified-Since', 'If-Range'])('a request with %s goes to the origin, never answered from the cache', async (name) => {
    const path = `/p-precondition-${name.toLowerCase()}`;
    const seen = origin.on(path, () => ({ headers: { 'cache-control': 'max-age=3600', etag: '"v1"', 'last-modified': httpDate(-3600) } }));
    await get(path);
    expect((await get(path)).headers['cache-status']).toMatch(/hit/);
    const value = name === 'If-Match' ? '"v1"' : httpDate(0);
    const r = await get(path, { [name]: value, ...(name === 'If-Range' ? { range: 'bytes=0-0' } : {}) });
    expect(r.headers['cache-status']).toMatch(/fwd=bypass/);
    expect(seen()).toBe(2);
  });

  test('Expires with a lower-case weekday, month and gmt', async () => {
    const seen = origin.on('/p-expires', () => ({ headers: { expires: httpDate(3600).toLowerCase(), date: new Date().toUTCString() } }));
    await get('/p-expires');
    expect((await get('/p-expires')).headers['cache-status']).toMatch(/hit/);
    expect(seen()).toBe(1);
  });
});

describe('targeted fields (RFC 9213)', () => {
  test('CDN-Cache-Control wins over Cache-Control and is not sent to the client', async () => {
    const seen = origin.on('/t-cdn', () => ({ headers: { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=600' } }));
    const a = await get('/t-cdn');
    expect(a.headers['cdn-cache-control']).toBeUndefined();
    expect(a.headers['cache-control']).toBe('no-store');
    const b = await get('/t-cdn');
    expect(b.headers['cache-status']).toMatch(/^portcullis; hit/);
    expect(b.headers['cdn-cache-control']).toBeUndefined();
    expect(ttlOf(b)).toBeGreaterThan(590);
    expect(seen()).toBe(1);
  });

  test('Portcullis-Cache-Control wins over CDN-Cache-Control; neither reaches the client', async () => {
    const seen = origin.on('/t-ours', () => ({ headers: { 'cache-control': 'max-age=600', 'cdn-cache-control': 'max-age=600', 'portcullis-cache-control': 'no-store' } }));
    const a = await get('/t-ours');
    expect(a.headers['portcullis-cache-control']).toBeUndefined();
    expect(a.headers['cdn-cache-control']).toBeUndefined();
    expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=no-store');
    await get('/t-ours');
    expect(seen()).toBe(2);
  });

  test.each([
    ['private', { 'cdn-cache-control': 'private', 'cache-control': 'max-age=600' }, 2],
    ['a short max-age over a long Cache-Control', { 'cdn-cache-control': 'max-age=0', 'cache-control': 'max-age=600' }, 2],
    ['an invalid field (wrong type) is ignored: Cache-Control decides', { 'cdn-cache-control': 'max-age="600"', 'cache-control': 'max-age=600' }, 1],
    ['an invalid field (wrong type) is ignored: Cache-Control no-store decides', { 'cdn-cache-control': 'max-age="600"', 'cache-control': 'no-store' }, 2],
    ['an invalid field (not a dictionary) is ignored', { 'cdn-cache-control': 'max-age=600, &&&', 'cache-control': 'max-age=600' }, 1],
    ['it ignores a past Expires', { 'cdn-cache-control': 'max-age=600', expires: httpDate(-60) }, 1],
  ])('CDN-Cache-Control: %s', async (name, headers, expected) => {
    const path = `/t-${name.replace(/\W/g, '')}`;
    const seen = origin.on(path, () => ({ headers }));
    await get(path);
    await get(path);
    expect(seen()).toBe(expected);
  });

  test('a 304 without the targeted field keeps the stored one', async () => {
    const seen = origin.on('/t-304', (r) => (r.n === 1
      ? { headers: { 'cdn-cache-control': 'max-age=600', 'cache-control': 'max-age=60', age: '700', etag: '"t"' }, body: 'kept' }
      : { status: 304, headers: { 'cache-control': 'max-age=60', etag: '"t"' } }));
    await get('/t-304');
    const r = await get('/t-304');
    expect(r.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    expect(r.headers['cdn-cache-control']).toBeUndefined();
    const after = await get('/t-304');
    expect(ttlOf(after)).toBeGreaterThan(590);
    expect(seen()).toBe(2);
  });
});

describe('Surrogate-Control (W3C Edge Architecture)', () => {
  test('requests that may be stored announce Surrogate-Capability; a max-age targeted at us is obeyed and the field removed', async () => {
    const seen = origin.on('/sc', (r) => ({
      headers: { 'cache-control': 'no-store', 'surrogate-control': `max-age=600;${String(r.headers['surrogate-capability']).split('=')[0]}` },
    }));
    const a = await get('/sc');
    expect(origin.seen('/sc')[0]!.headers['surrogate-capability']).toBe('portcullis="Surrogate/1.0"');
    expect(a.headers['surrogate-control']).toBeUndefined();
    expect(a.headers['cache-control']).toBe('no-store');
    expect((await get('/sc')).headers['cache-status']).toMatch(/^portcullis; hit/);
    expect(seen()).toBe(1);
  });

  test.each([
    ['targeted at another device', { 'surrogate-control': 'max-age=600;other' }, 2],
    ['no-store over a fresh Cache-Control', { 'surrogate-control': 'no-store', 'cache-control': 'max-age=600' }, 2],
    ['CDN-Cache-Control wins over it', { 'cdn-cache-control': 'no-store', 'surrogate-control': 'max-age=600' }, 2],
    ['a short max-age over a long Cache-Control', { 'surrogate-control': 'max-age=0', 'cache-control': 'max-age=600' }, 2],
  ])('%s', async (name, headers, expected) => {
    const path = `/sc-${name.replace(/\W/g, '')}`;
    const seen = origin.on(path, () => ({ headers }));
    await get(path);
    await get(path);
    expect(seen()).toBe(expected);
  });
});

describe('invalidation (RFC 9111 §4.4)', () => {
  const store = async (path: string): Promise<() => number> => {
    const seen = origin.on(path, (r) => (r.method === 'GET' ? { headers: { 'cache-control': 'max-age=600' } } : { body: 'done' }));
    await get(path);
    expect((await get(path)).headers['cache-status']).toMatch(/hit/);
    return seen;
  };

  test.each([
    ['Location (relative)', 'location', 'target-a'],
    ['Location (absolute path)', 'location', '/inv/target-b'],
    ['Content-Location', 'content-location', 'target-c'],
  ])('a successful POST forgets the URL in its %s', async (_name, field, value) => {
    const target = value.startsWith('/') ? value : `/inv/${value}`;
    const seen = await store(target);
    origin.on('/inv/post', () => ({ status: 201, headers: { [field]: value } }));
    await request(proxy.port, { path: '/inv/post', method: 'POST', body: 'x' });
    expect((await get(target)).headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    expect(seen()).toBe(2);
  });

  test('an absolute Location on the same host counts; another host does not', async () => {
    const same = await store('/inv/abs-same');
    const other = await store('/inv/abs-other');
    const host = `127.0.0.1:${proxy.port}`;
    origin.on('/inv/post2', () => ({ status: 200, headers: { location: `http://${host}/inv/abs-same`, 'content-location': 'http://evil.example/inv/abs-other' } }));
    await request(proxy.port, { path: '/inv/post2', method: 'PUT', body: 'x' });
    expect((await get('/inv/abs-same')).headers['cache-status']).toMatch(/fwd=uri-miss/);
    expect((await get('/inv/abs-other')).headers['cache-status']).toMatch(/hit/);
    expect(same()).toBe(2);
    expect(other()).toBe(1);
  });

  test('a 303 See Other to an unsafe request is a success too (non-error, §4.4): its own URL and its Location go', async () => {
    const self = origin.on('/inv/prg', (r) => (r.method === 'GET' ? { headers: { 'cache-control': 'max-age=600' } } : { status: 303, headers: { location: '/inv/prg-result' } }));
    await get('/inv/prg');
    expect((await get('/inv/prg')).headers['cache-status']).toMatch(/hit/);
    const target = await store('/inv/prg-result');
    const posted = await request(proxy.port, { path: '/inv/prg', method: 'POST', body: 'x' });
    expect(posted.status).toBe(303);
    expect((await get('/inv/prg')).headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    expect((await get('/inv/prg-result')).headers['cache-status']).toBe('portcullis; fwd=uri-miss; stored');
    expect(self()).toBe(3); // GET, POST, GET after it
    expect(target()).toBe(2);
  });

  test('a failed unsafe request invalidates nothing', async () => {
    const seen = await store('/inv/kept');
    origin.on('/inv/post3', () => ({ status: 500, headers: { location: '/inv/kept' } }));
    await request(proxy.port, { path: '/inv/post3', method: 'POST', body: 'x' });
    expect((await get('/inv/kept')).headers['cache-status']).toMatch(/hit/);
    expect(seen()).toBe(1);
  });

  test('an unknown method (M-SEARCH) invalidates like POST', async () => {
    const seen = await store('/inv/msearch');
    const reply = await rawRequest(proxy.port, `M-SEARCH /inv/msearch HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    expect(reply.data).toMatch(/^HTTP\/1\.1 200/);
    expect((await get('/inv/msearch')).headers['cache-status']).toMatch(/fwd=uri-miss/);
    expect(seen()).toBe(3);
  });
});

describe('304 and HEAD updates', () => {
  test('a 304 updates other headers, never Content-Encoding, Content-Range, Content-MD5 or the ETag', async () => {
    const seen = origin.on('/u-304', (r) => (r.n === 1
      ? { headers: { 'cache-control': 'max-age=60', age: '100', etag: '"e1"', 'content-md5': 'AAAA', 'x-a': '1' }, body: 'the body' }
      : { status: 304, headers: { 'cache-control': 'max-age=60', etag: '"e2"', 'content-md5': 'BBBB', 'content-encoding': 'gzip', 'content-range': 'bytes 0-1/2', 'x-a': '2' } }));
    await get('/u-304');
    const r = await get('/u-304');
    expect(r.headers['cache-status']).toBe('portcullis; fwd=stale; fwd-status=304');
    expect(r.text).toBe('the body');
    expect(r.headers['x-a']).toBe('2');
    expect(r.headers['etag']).toBe('"e1"');
    expect(r.headers['content-md5']).toBe('AAAA');
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.headers['content-range']).toBeUndefined();
    const hit = await get('/u-304');
    expect(hit.headers['cache-status']).toMatch(/hit/);
    expect(hit.headers['x-a']).toBe('2');
    expect(seen()).toBe(2);
  });

  test('a HEAD 200 for a stale entry updates its headers and freshness (RFC 9111 §4.3.5)', async () => {
    const seen = origin.on('/u-head', (r) => (r.method === 'HEAD'
      ? { status: 200, headers: { 'cache-control': 'max-age=600', etag: '"h"', 'x-a': '2' } }
      : { headers: { 'cache-control': 'max-age=60', age: '100', etag: '"h"', 'x-a': '1' }, body: 'get body' }));
    await get('/u-head');
    const head = await get('/u-head', {}, 'HEAD');
    expect(head.status).toBe(200);
    const r = await get('/u-head');
    expect(r.headers['cache-status']).toMatch(/^portcullis; hit/);
    expect(r.headers['x-a']).toBe('2');
    expect(r.text).toBe('get body');
    expect(seen()).toBe(2);
  });

  test('a HEAD 200 with another ETag invalidates the stored GET', async () => {
    const seen = origin.on('/u-head-changed', (r) => (r.method === 'HEAD'
      ? { status: 200, headers: { 'cache-control': 'max-age=600', etag: '"new"' } }
      : { headers: { 'cache-control': 'max-age=60', age: '100', etag: r.n === 1 ? '"old"' : '"new"' }, body: `v${r.n}` }));
    await get('/u-head-changed');
    await get('/u-head-changed', {}, 'HEAD');
    const r = await get('/u-head-changed');
    expect(r.text).toBe('v3');
    expect(seen()).toBe(3);
  });
});

describe('interim responses', () => {
  test('103 Early Hints passes through before the final answer, on a keep-alive connection', async () => {
    origin.on('/eh', () => ({
      interim: [{ status: 103, headers: { link: '</style.css>; rel=preload; as=style' } }],
      headers: { 'cache-control': 'max-age=600', 'content-type': 'text/plain' },
      body: 'final body',
    }));
    const host = `127.0.0.1:${proxy.port}`;
    // Two requests, one after the other, on one connection.
    const raw = { data: '' };
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: proxy.port }, () => s.write(`GET /eh HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
      s.setEncoding('latin1');
      let sentSecond = false;
      s.on('data', (d: string) => {
        raw.data += d;
        if (!sentSecond && raw.data.endsWith('final body')) {
          sentSecond = true;
          s.write(`GET /eh HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        }
      });
      s.on('end', resolve);
      s.on('error', reject);
    });
    expect(raw.data).toMatch(/^HTTP\/1\.1 103 Early Hints\r\nlink: <\/style\.css>; rel=preload; as=style\r\nvia: 1\.1 portcullis\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(raw.data.match(/HTTP\/1\.1 103/g)?.length).toBe(1);
    expect(raw.data.match(/HTTP\/1\.1 200 OK/g)?.length).toBe(2);
    expect(raw.data.split('final body').length).toBe(3);
  });

  test('Node\'s client sees the 103 as an information event, then the 200', async () => {
    origin.on('/eh-node', () => ({ interim: [{ status: 103, headers: { link: '</a.js>; rel=preload' } }], body: 'ok' }));
    const http = await import('node:http');
    const info: { status: number; link: unknown }[] = [];
    const reply = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.port, path: '/eh-node', agent: false }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve(`${res.statusCode} ${b}`));
      });
      req.on('information', (i) => info.push({ status: i.statusCode, link: i.headers['link'] }));
      req.on('error', reject);
      req.end();
    });
    expect(info).toEqual([{ status: 103, link: '</a.js>; rel=preload' }]);
    expect(reply).toBe('200 ok');
  });

  test('an upstream error after a 103: the error answer is a well-formed response after it', async () => {
    origin.on('/eh-fail', () => ({ interim: [{ status: 103, headers: { link: '</b.js>; rel=preload' } }], after: new Promise((r) => setTimeout(r, 50)), hangUp: true }));
    const raw = await rawRequest(proxy.port, `GET /eh-fail HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\nConnection: close\r\n\r\n`);
    expect(raw.data).toMatch(/^HTTP\/1\.1 103 Early Hints\r\n[^]*?\r\n\r\nHTTP\/1\.1 502 Bad Gateway\r\n/);
  });

  test('a 102 Processing is relayed before the final answer, and never stored: a hit has no interim response', async () => {
    const seen = origin.on('/interim-102', () => ({
      interim: [{ status: 102, headers: {} }],
      headers: { 'cache-control': 'max-age=600' },
      body: 'final 102',
    }));
    const req = (close: boolean): Promise<string> =>
      rawRequest(proxy.port, `GET /interim-102 HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`).then((r) => r.data);
    const first = await req(true);
    expect(first).toMatch(/^HTTP\/1\.1 102 Processing\r\n[^]*?\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(first.endsWith('final 102')).toBe(true);
    const second = await req(true);
    expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(second).toMatch(/cache-status: portcullis; hit/i);
    expect(second).not.toMatch(/ 102 /);
    expect(seen()).toBe(1);
  });

  test('an unsolicited 100 Continue from the upstream is dropped (the front end sends its own), and the final answer is stored', async () => {
    const seen = origin.on('/interim-100', () => ({ interim: [{ status: 100, headers: {} }], headers: { 'cache-control': 'max-age=600' }, body: 'final 100' }));
    const first = await rawRequest(proxy.port, `GET /interim-100 HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\nConnection: close\r\n\r\n`);
    expect(first.data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(first.data.endsWith('final 100')).toBe(true);
    const second = await get('/interim-100');
    expect(second.headers['cache-status']).toMatch(/^portcullis; hit/);
    expect(second.text).toBe('final 100');
    expect(seen()).toBe(1);
  });

  test('a 103 before the final answer is never stored: the stored answer has none of its fields', async () => {
    const seen = origin.on('/interim', () => ({
      interim: [{ status: 103, headers: { link: '</style.css>; rel=preload; as=style', 'x-hint': 'yes' } }],
      headers: { 'cache-control': 'max-age=600' },
      body: 'final',
    }));
    const a = await get('/interim');
    expect(a.status).toBe(200);
    expect(a.text).toBe('final');
    const b = await get('/interim');
    expect(b.status).toBe(200);
    expect(b.headers['cache-status']).toMatch(/hit/);
    expect(b.headers['x-hint']).toBeUndefined();
    expect(b.headers['link']).toBeUndefined();
    expect(seen()).toBe(1);
  });
});

describe('ranges from the cache (RFC 9110 §14)', () => {
  beforeAll(async () => {
    origin.on('/r', () => ({ headers: { 'cache-control': 'max-age=600', 'content-type': 'text/plain', etag: '"r"' }, body: '0123456789' }));
    await get('/r');
  });

  test.each([
    ['first-last', 'bytes=2-4', '234', 'bytes 2-4/10'],
    ['open-ended', 'bytes=7-', '789', 'bytes 7-9/10'],
    ['suffix', 'bytes=-3', '789', 'bytes 7-9/10'],
    ['a suffix longer than the body', 'bytes=-50', '0123456789', 'bytes 0-9/10'],
    ['a last position past the end', 'bytes=5-100', '56789', 'bytes 5-9/10'],
    ['one byte', 'bytes=0-0', '0', 'bytes 0-0/10'],
  ])('%s: %s → 206', async (_name, range, text, contentRange) => {
    const r = await get('/r', { range });
    expect(r.status).toBe(206);
    expect(r.text).toBe(text);
    expect(r.headers['content-range']).toBe(contentRange);
    expect(r.headers['content-length']).toBe(String(text.length));
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['cache-status']).toMatch(/^portcullis; hit/);
  });

  test.each(['bytes=10-', 'bytes=50-60', 'bytes=-0'])('%s → 416 with the length', async (range) => {
    const r = await get('/r', { range });
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe('bytes */10');
    expect(r.body.length).toBe(0);
  });

  test.each(['bytes=0-1,4-5', 'items=0-1', 'bytes=5-2', 'bytes=x-1'])('%s: ignored, the whole answer', async (range) => {
    const r = await get('/r', { range });
    expect(r.status).toBe(200);
    expect(r.text).toBe('0123456789');
  });

  test('a ranged miss goes upstream with its Range; a 206 is not stored, a full 200 is', async () => {
    const partial = origin.on('/r-partial', (r) => ({ status: 206, headers: { 'cache-control': 'max-age=600', 'content-range': 'bytes 0-1/10' }, body: r.headers['range'] === 'bytes=0-1' ? '01' : 'xx' }));
    const a = await get('/r-partial', { range: 'bytes=0-1' });
    expect(a.status).toBe(206);
    expect(a.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=status');
    await get('/r-partial', { range: 'bytes=0-1' });
    expect(partial()).toBe(2);
    const ignoring = origin.on('/r-full', () => ({ headers: { 'cache-control': 'max-age=600' }, body: 'abcdefghij' }));
    const b = await get('/r-full', { range: 'bytes=0-1' });
    expect(b.status).toBe(200);
    expect(b.text).toBe('abcdefghij');
    const c = await get('/r-full', { range: 'bytes=8-' });
    expect(c.status).toBe(206);
    expect(c.text).toBe('ij');
    expect(ignoring()).toBe(1);
  });

  test('a large entry (3 MiB): a range from its middle', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 'a');
    big.write('MIDDLE', 1_500_000);
    origin.on('/r-big', () => ({ headers: { 'cache-control': 'max-age=600' }, body: big }));
    await get('/r-big');
    const r = await get('/r-big', { range: 'bytes=1500000-1500005' });
    expect(r.status).toBe(206);
    expect(r.text).toBe('MIDDLE');
    const whole = await get('/r-big');
    expect(whole.body.equals(big)).toBe(true);
  });
});

describe('Vary: several variants per URL', () => {
  test('each variant is stored and served, the others stay', async () => {
    const seen = origin.on('/v-lang', (r) => ({ headers: { 'cache-control': 'max-age=600', vary: 'Accept-Language' }, body: `lang ${String(r.headers['accept-language'])}` }));
    for (const lang of ['en', 'fr', 'de']) await get('/v-lang', { 'accept-language': lang });
    for (const lang of ['en', 'fr', 'de', 'en']) {
      const r = await get('/v-lang', { 'accept-language': lang });
      expect(r.text).toBe(`lang ${lang}`);
      expect(r.headers['cache-status']).toMatch(/^portcullis; hit/);
    }
    expect(seen()).toBe(3);
  });

  test('cache.max_variants: storing one more drops the oldest', async () => {
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, max_variants: 2 } });
    try {
      origin.on('/v-cap', (r) => ({ headers: { 'cache-control': 'max-age=600', vary: 'X-V' }, body: `v ${String(r.headers['x-v'])}` }));
      for (const v of ['1', '2', '3']) await get('/v-cap', { 'x-v': v }, 'GET', own.port);
      expect((await get('/v-cap', { 'x-v': '3' }, 'GET', own.port)).headers['cache-status']).toMatch(/hit/);
      expect((await get('/v-cap', { 'x-v': '2' }, 'GET', own.port)).headers['cache-status']).toMatch(/hit/);
      const oldest = await get('/v-cap', { 'x-v': '1' }, 'GET', own.port);
      expect(oldest.headers['cache-status']).toMatch(/fwd=vary-miss/);
      expect(oldest.text).toBe('v 1');
    } finally {
      await own.stop();
    }
  });

  test('a successful POST forgets every variant', async () => {
    const seen = origin.on('/v-inv', (r) => (r.method === 'POST' ? { body: 'ok' } : { headers: { 'cache-control': 'max-age=600', vary: 'X-V' }, body: `v ${String(r.headers['x-v'])}` }));
    await get('/v-inv', { 'x-v': 'a' });
    await get('/v-inv', { 'x-v': 'b' });
    await request(proxy.port, { path: '/v-inv', method: 'POST', body: 'x' });
    expect((await get('/v-inv', { 'x-v': 'a' })).headers['cache-status']).not.toMatch(/hit/);
    expect((await get('/v-inv', { 'x-v': 'b' })).headers['cache-status']).not.toMatch(/hit/);
    expect(seen()).toBe(5);
  });

  test('a response that varies on other names replaces the old variants', async () => {
    const seen = origin.on('/v-names', (r) => ({ headers: { 'cache-control': 'max-age=600', vary: r.n <= 1 ? 'X-A' : 'X-B' }, body: `n${r.n}` }));
    await get('/v-names', { 'x-a': '1', 'x-b': '1' });
    const other = await get('/v-names', { 'x-a': '2', 'x-b': '1' });
    expect(other.text).toBe('n2');
    // Now stored by X-B: X-A no longer matters.
    const r = await get('/v-names', { 'x-a': '3', 'x-b': '1' });
    expect(r.text).toBe('n2');
    expect(r.headers['cache-status']).toMatch(/hit/);
    expect(seen()).toBe(2);
  });
});

describe('Authorization (RFC 9111 §3.5)', () => {
  test('by default an answer that says only must-revalidate is not stored: one user\'s data never reaches another', async () => {
    const seen = origin.on('/a-mr', (r) => ({ headers: { 'cache-control': 'max-age=300, must-revalidate' }, body: `for ${String(r.headers['authorization'])}` }));
    const alice = await get('/a-mr', { authorization: 'Bearer alice' });
    expect(alice.headers['cache-status']).toBe('portcullis; fwd=uri-miss; detail=authorization');
    const anon = await get('/a-mr');
    expect(anon.text).toBe('for undefined');
    const bob = await get('/a-mr', { authorization: 'Bearer bob' });
    expect(bob.text).toBe('for Bearer bob');
    expect(seen()).toBe(3);
  });

  test('a route with authorization: must-revalidate stores it, as RFC 9111 §3.5 allows', async () => {
    const own = await startProxy({
      upstreams: { app: { targets: [origin.url] } },
      routes: [{ path: '/', upstream: 'app', cache: { enabled: true, authorization: 'must-revalidate' } }],
    });
    try {
      const seen = origin.on('/a-mr-opt', () => ({ headers: { 'cache-control': 'max-age=300, must-revalidate' }, body: 'shared report' }));
      await get('/a-mr-opt', { authorization: 'Bearer alice' }, 'GET', own.port);
      const bob = await get('/a-mr-opt', { authorization: 'Bearer bob' }, 'GET', own.port);
      expect(bob.headers['cache-status']).toMatch(/hit/);
      expect(seen()).toBe(1);
    } finally {
      await own.stop();
    }
  });
});
