// Router: host precedence with fall-through, path precedence (static > param > prefix),
// params, strip_prefix prefixes, and route table errors.

import { describe, expect, test } from 'vitest';
import { RouteConflictError, Router, type RouteMatch } from '../../src/router/router.js';

type Row = [host: string, path: string, value: string | null, params: Record<string, string> | null, prefix: string];

function check<T>(m: RouteMatch<T> | null, value: T | null, params: Record<string, string> | null, prefix: string): void {
  if (value === null) {
    expect(m).toBeNull();
    return;
  }
  expect(m).not.toBeNull();
  expect(m!.value).toBe(value);
  expect(m!.params === null ? null : { ...m!.params }).toEqual(params);
  expect(m!.prefix).toBe(prefix);
}

describe('the reference config', () => {
  // api.example.com /v1/ → A ; *.example.com / → B ; / → C ; /admin → D ;
  // /users/:id → E ; /files/* → F
  const router = new Router<string>();
  router.add('api.example.com', '/v1/', 'A');
  router.add('*.example.com', '/', 'B');
  router.add(undefined, '/', 'C');
  router.add(undefined, '/admin', 'D');
  router.add(undefined, '/users/:id', 'E');
  router.add(undefined, '/files/*', 'F');

  test.each<Row>([
    // exact host, prefix route
    ['api.example.com', '/v1/users', 'A', null, '/v1'],
    ['api.example.com', '/v1/users/42/x', 'A', null, '/v1'],
    ['api.example.com', '/v1/', 'A', null, '/v1'],
    // '/v1/' does not match '/v1': falls through to the wildcard host
    ['api.example.com', '/v1', 'B', null, ''],
    ['api.example.com', '/v2/users', 'B', null, ''],
    // host routes come before host-less ones, even a more specific host-less path
    ['api.example.com', '/admin', 'B', null, ''],
    ['api.example.com', '/users/1', 'B', null, ''],
    // wildcard host, any depth, not the apex
    ['www.example.com', '/', 'B', null, ''],
    ['www.example.com', '/admin', 'B', null, ''],
    ['a.b.example.com', '/x/y', 'B', null, ''],
    ['example.com', '/admin', 'D', null, '/admin'],
    ['notexample.com', '/x', 'C', null, ''],
    ['example.com.evil.org', '/x', 'C', null, ''],
    // host-less routes
    ['other.org', '/', 'C', null, ''],
    ['other.org', '/anything/at/all', 'C', null, ''],
    ['other.org', '/admin', 'D', null, '/admin'],
    ['other.org', '/admin/', 'C', null, ''],
    ['other.org', '/admin/x', 'C', null, ''],
    ['other.org', '/admins', 'C', null, ''],
    ['other.org', '/adm', 'C', null, ''],
    ['other.org', '/users/42', 'E', { id: '42' }, '/users/42'],
    ['other.org', '/users/a%2Fb', 'E', { id: 'a%2Fb' }, '/users/a%2Fb'],
    ['other.org', '/users/42/', 'C', null, ''],
    ['other.org', '/users/42/posts', 'C', null, ''],
    ['other.org', '/users/', 'C', null, ''],
    ['other.org', '/users', 'C', null, ''],
    ['other.org', '/files/a/b.txt', 'F', { '*': 'a/b.txt' }, '/files'],
    ['other.org', '/files/x', 'F', { '*': 'x' }, '/files'],
    ['other.org', '/files/', 'F', { '*': '' }, '/files'],
    ['other.org', '/files', 'C', null, ''],
    ['[::1]', '/admin', 'D', null, '/admin'],
    ['127.0.0.1', '/files/z', 'F', { '*': 'z' }, '/files'],
  ])('%s %s → %s %j prefix %j', (host, path, value, params, prefix) => {
    check(router.find(host, path), value, params, prefix);
  });
});

describe('path precedence within one host', () => {
  const router = new Router<string>();
  const routes: [string, string][] = [
    ['/', 'root'],
    ['/a/', 'prefix a'],
    ['/a/b', 'exact a/b'],
    ['/a/b/', 'prefix a/b'],
    ['/a/b/c', 'exact a/b/c'],
    ['/a/:x', 'param a'],
    ['/a/:x/c', 'param a c'],
    ['/a/:x/d/', 'param a prefix d'],
    ['/v1/users/:id/posts/:post', 'two params'],
    ['/v1/users/:id/files/*', 'param then star'],
    ['/static/*', 'star'],
    ['/usage', 'usage'],
    ['/users/me', 'users me'],
    ['/users/:id', 'users param'],
    ['/users/:uid/avatar', 'users avatar'],
    ['/:tenant/dashboard', 'tenant dashboard'],
    ['/deep/:a/:b/:c', 'three params'],
  ];
  for (const [pattern, value] of routes) router.add(undefined, pattern, value);

  test.each<Row>([
    ['h', '/', 'root', null, ''],
    ['h', '/zzz', 'root', null, ''],
    ['h', '/a', 'root', null, ''],
    ['h', '/a/', 'prefix a', null, '/a'],
    // static segment beats param
    ['h', '/a/b', 'exact a/b', null, '/a/b'],
    ['h', '/a/z', 'param a', { x: 'z' }, '/a/z'],
    ['h', '/a/bb', 'param a', { x: 'bb' }, '/a/bb'],
    ['h', '/a/b/c', 'exact a/b/c', null, '/a/b/c'],
    ['h', '/a/z/c', 'param a c', { x: 'z' }, '/a/z/c'],
    // longer static prefix beats shorter; the static subtree is searched before params
    ['h', '/a/b/', 'prefix a/b', null, '/a/b'],
    ['h', '/a/b/x', 'prefix a/b', null, '/a/b'],
    ['h', '/a/b/d/e', 'prefix a/b', null, '/a/b'],
    ['h', '/a/b/c/d', 'prefix a/b', null, '/a/b'],
    // param beats prefix at the same depth; backtracking out of a dead static branch
    ['h', '/a/z/d/', 'param a prefix d', { x: 'z' }, '/a/z/d'],
    ['h', '/a/z/d/e/f', 'param a prefix d', { x: 'z' }, '/a/z/d'],
    ['h', '/a/z/q', 'prefix a', null, '/a'],
    ['h', '/a/z/c/', 'prefix a', null, '/a'],
    ['h', '/a/z/d', 'prefix a', null, '/a'],
    ['h', '/v1/users/7/posts/9', 'two params', { id: '7', post: '9' }, '/v1/users/7/posts/9'],
    ['h', '/v1/users/7/posts', 'root', null, ''],
    ['h', '/v1/users/7/posts/9/x', 'root', null, ''],
    ['h', '/v1/users/7/files/a/b', 'param then star', { id: '7', '*': 'a/b' }, '/v1/users/7/files'],
    ['h', '/v1/users/7/files/', 'param then star', { id: '7', '*': '' }, '/v1/users/7/files'],
    ['h', '/static/css/site.css', 'star', { '*': 'css/site.css' }, '/static'],
    ['h', '/static', 'root', null, ''],
    // radix splits ('/us' shared by /usage, /users/...)
    ['h', '/usage', 'usage', null, '/usage'],
    ['h', '/usag', 'root', null, ''],
    ['h', '/usages', 'root', null, ''],
    ['h', '/users/me', 'users me', null, '/users/me'],
    ['h', '/users/mex', 'users param', { id: 'mex' }, '/users/mex'],
    ['h', '/users/m', 'users param', { id: 'm' }, '/users/m'],
    ['h', '/users/42', 'users param', { id: '42' }, '/users/42'],
    ['h', '/users/me/avatar', 'users avatar', { uid: 'me' }, '/users/me/avatar'],
    ['h', '/users/42/avatar', 'users avatar', { uid: '42' }, '/users/42/avatar'],
    // a static first segment that dead-ends falls back to the root param
    ['h', '/users/dashboard', 'users param', { id: 'dashboard' }, '/users/dashboard'],
    ['h', '/usage/dashboard', 'tenant dashboard', { tenant: 'usage' }, '/usage/dashboard'],
    ['h', '/a/dashboard', 'param a', { x: 'dashboard' }, '/a/dashboard'],
    ['h', '/acme/dashboard', 'tenant dashboard', { tenant: 'acme' }, '/acme/dashboard'],
    ['h', '/acme/dashboard/x', 'root', null, ''],
    ['h', '/deep/1/2/3', 'three params', { a: '1', b: '2', c: '3' }, '/deep/1/2/3'],
    ['h', '/deep/1/2', 'root', null, ''],
  ])('%s %s → %s %j prefix %j', (host, path, value, params, prefix) => {
    check(router.find(host, path), value, params, prefix);
  });
});

describe('no match', () => {
  const router = new Router<string>();
  router.add('api.example.com', '/v1/', 'A');
  router.add(undefined, '/health', 'H');
  router.add(undefined, '/u/:id', 'U');

  test.each<Row>([
    ['api.example.com', '/v2', null, null, ''],
    ['api.example.com', '/health', 'H', null, '/health'],
    ['other.org', '/v1/x', null, null, ''],
    ['other.org', '/healthz', null, null, ''],
    ['other.org', '/health/', null, null, ''],
    ['other.org', '/u/', null, null, ''],
    ['other.org', '/u/1/2', null, null, ''],
    ['other.org', '/', null, null, ''],
  ])('%s %s → %s', (host, path, value, params, prefix) => {
    check(router.find(host, path), value, params, prefix);
  });

  test('an empty router matches nothing', () => {
    expect(new Router<string>().find('a', '/')).toBeNull();
  });
});

describe('results', () => {
  const router = new Router<number>();
  router.add(undefined, '/static', 1);
  router.add(undefined, '/dir/', 2);
  router.add(undefined, '/p/:a', 3);
  router.add(undefined, '/p/:b/c', 4);

  test('routes without params answer with one shared frozen object (no allocation)', () => {
    const a = router.find('h', '/static');
    expect(router.find('h', '/static')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(router.find('h', '/dir/x')).toBe(router.find('h', '/dir/y/z'));
  });

  test('param names belong to the route, not the position', () => {
    expect({ ...router.find('h', '/p/1')!.params }).toEqual({ a: '1' });
    expect({ ...router.find('h', '/p/1/c')!.params }).toEqual({ b: '1' });
  });

  test('params inherit nothing, so a param named __proto__ or toString is plain data', () => {
    const r = new Router<number>();
    r.add(undefined, '/x/:__proto__/:toString', 1);
    const params = r.find('h', '/x/polluted/str')!.params!;
    expect(params['__proto__']).toBe('polluted');
    expect(params['toString']).toBe('str');
    expect(Object.keys(params)).toEqual(['__proto__', 'toString']);
    expect('hasOwnProperty' in params).toBe(false);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('route table errors', () => {
  test.each<[string, [string | undefined, string][], RegExp]>([
    ['same exact path twice', [[undefined, '/a'], [undefined, '/a']], /\/a: conflicts with \* \/a/],
    ['same prefix twice', [[undefined, '/a/'], [undefined, '/a/']], /conflicts/],
    ["'/a/' and '/a/*'", [[undefined, '/a/'], [undefined, '/a/*']], /\/a\/\*: conflicts with \* \/a\//],
    ['same param shape, other name', [[undefined, '/u/:id'], [undefined, '/u/:uid']], /\/u\/:uid: conflicts with \* \/u\/:id/],
    ['same shape after a param', [[undefined, '/u/:id/x'], [undefined, '/u/:n/x']], /\/u\/:n\/x/],
    ['host case differs only', [['API.example.com', '/a'], ['api.example.com', '/a']], /api\.example\.com \/a/],
    ['same wildcard host twice', [['*.example.com', '/'], ['*.EXAMPLE.com', '/']], /\*\.example\.com \//],
    ["'*' and undefined are the same host", [['*', '/'], [undefined, '/']], /conflicts/],
    ['no leading slash', [[undefined, 'a/b']], /route \* a\/b: not a valid path/],
    ['empty pattern', [[undefined, '']], /not a valid path/],
    ['double slash', [[undefined, '/a//b']], /write it as \/a\/b/],
    ['dot-segment', [[undefined, '/a/./b']], /write it as \/a\/b/],
    ['encoded unreserved', [[undefined, '/%7euser']], /write it as \/~user/],
    ['lowercase escape', [[undefined, '/a%2fb']], /write it as \/a%2Fb/],
    ['space', [[undefined, '/a b']], /not a valid path/],
    ['star in the middle', [[undefined, '/a/*/b']], /'\*' is only allowed/],
    ['star inside a segment', [[undefined, '/a*']], /'\*' is only allowed/],
    ['empty param name', [[undefined, '/a/:']], /parameter name/],
    ['bad param name', [[undefined, '/a/:1x']], /parameter name '1x'/],
    ['param name with a dash', [[undefined, '/a/:my-id']], /parameter name/],
    ['repeated param name', [[undefined, '/a/:id/b/:id']], /':id' appears twice/],
    ['host with port', [['example.com:8080', '/']], /invalid host/],
    ['host with space', [['bad host', '/']], /invalid host/],
    ['wildcard in the middle of a host', [['a.*.example.com', '/']], /invalid host/],
  ])('%s throws', (_name, adds, message) => {
    const router = new Router<number>();
    expect(() => adds.forEach(([host, pattern], i) => router.add(host, pattern, i))).toThrow(RouteConflictError);
    const again = new Router<number>();
    expect(() => adds.forEach(([host, pattern], i) => again.add(host, pattern, i))).toThrow(message);
  });

  test.each<[string, [string | undefined, string][]]>([
    ['same path on different hosts', [['a.example.com', '/x'], ['b.example.com', '/x'], [undefined, '/x'], ['*.example.com', '/x']]],
    ['exact and prefix of the same name', [[undefined, '/a'], [undefined, '/a/']]],
    ['static and param siblings', [[undefined, '/u/me'], [undefined, '/u/:id']]],
    ['star and exact below it', [[undefined, '/f/*'], [undefined, '/f/x']]],
    ['colon inside a segment is literal', [[undefined, '/a:b'], [undefined, '/a/b:c']]],
  ])('%s is allowed', (_name, adds) => {
    const router = new Router<number>();
    expect(() => adds.forEach(([host, pattern], i) => router.add(host, pattern, i))).not.toThrow();
  });

  test('the error names host and pattern as fields', () => {
    const router = new Router<number>();
    router.add('api.example.com', '/v1/', 1);
    try {
      router.add('api.example.com', '/v1/*', 2);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RouteConflictError);
      expect((err as RouteConflictError).host).toBe('api.example.com');
      expect((err as RouteConflictError).pattern).toBe('/v1/*');
    }
  });
});

describe('parity with a brute-force oracle', () => {
  // The oracle states the precedence rule directly: each route that matches gets a key,
  // one entry per path segment it consumes (static 0, param 1) and a final 2 for a
  // prefix/star; the lexicographically smallest key wins. The trie must agree.
  type Answer = { value: number; params: Record<string, string> | null; prefix: string } | null;

  function oracle(routes: readonly [string, number][], path: string): Answer {
    const segs = path.slice(1).split('/');
    let best: { key: number[]; answer: NonNullable<Answer> } | null = null;
    for (const [pattern, value] of routes) {
      const pat = pattern.slice(1).split('/');
      const last = pat[pat.length - 1];
      const open = last === '' || last === '*';
      const body = open ? pat.slice(0, -1) : pat;
      if (open ? segs.length <= body.length : segs.length !== body.length) continue;
      const key: number[] = [];
      const params: Record<string, string> = {};
      let ok = true;
      body.forEach((p, i) => {
        if (p.startsWith(':') && segs[i] !== '') {
          key.push(1);
          params[p.slice(1)] = segs[i]!;
        } else if (p === segs[i]) key.push(0);
        else ok = false;
      });
      if (!ok) continue;
      if (open) key.push(2);
      if (last === '*') params['*'] = segs.slice(body.length).join('/');
      const prefix = open ? (body.length ? '/' + segs.slice(0, body.length).join('/') : '') : path;
      const answer = { value, params: Object.keys(params).length ? params : null, prefix };
      if (best === null || compare(key, best.key) < 0) best = { key, answer };
    }
    return best?.answer ?? null;
  }

  function compare(a: number[], b: number[]): number {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  }

  // Small deterministic PRNG (mulberry32) so a failure reproduces.
  function rng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  test.each([1, 2, 3, 4, 5, 6, 7, 8])('random table, seed %i: 400 paths agree', (seed) => {
    const rand = rng(seed);
    const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)]!;
    const router = new Router<number>();
    const routes: [string, number][] = [];
    for (let i = 0; i < 40; i++) {
      const depth = Math.floor(rand() * 4);
      const segs = Array.from({ length: depth }, (_, k) => pick(['a', 'b', 'ab', 'abc', ':p', ':p']).replace(':p', `:p${k}`));
      const end = pick(['exact', 'prefix', 'star']);
      const pattern = '/' + [...segs, end === 'prefix' ? '' : end === 'star' ? '*' : ''].join('/');
      const fixed = end === 'exact' && depth > 0 ? '/' + segs.join('/') : pattern;
      try {
        router.add(undefined, fixed, i);
        routes.push([fixed, i]);
      } catch (err) {
        expect(err).toBeInstanceOf(RouteConflictError);
      }
    }
    let withParams = 0;
    let deeper = 0;
    for (let i = 0; i < 400; i++) {
      const depth = Math.floor(rand() * 5);
      const segs = Array.from({ length: depth }, () => pick(['a', 'b', 'ab', 'abc', 'x', 'ba']));
      const path = '/' + segs.join('/') + (depth > 0 && rand() < 0.3 ? '/' : '');
      const got = router.find('h', path);
      const plain = got === null ? null : { value: got.value, params: got.params === null ? null : { ...got.params }, prefix: got.prefix };
      expect(plain, `${path} in ${JSON.stringify(routes)}`).toEqual(oracle(routes, path));
      if (plain !== null && plain.params !== null) withParams++;
      if (plain !== null && plain.prefix.length > 1) deeper++;
    }
    // Many paths were won by routes below the root, many with parameters (agreeing on the
    // catch-all alone would prove little).
    expect(withParams).toBeGreaterThan(100);
    expect(deeper).toBeGreaterThan(150);
  });
});
