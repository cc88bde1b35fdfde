// The cache key and its hash as SharedCache.begin makes them: by parts (the prefix a route's
// requests to one host share is hashed once, store.ts KeyPrefix), always equal to cacheKey and
// to hashKey of the whole key, whatever changed from one request to the next.
import { describe, expect, test } from 'vitest';
import { cacheKey } from '../../src/cache/shared-cache.js';
import { hashKey, KeyPrefix } from '../../src/cache/store.js';
import { parseConfigText } from '../../src/config/load.js';
import type { RequestHead } from '../../src/downstream/contract.js';
import { Exchange } from '../../src/exchange.js';
import { buildRuntime } from '../../src/runtime.js';
import { allocateSegments } from '../../src/shm/segments.js';

describe('KeyPrefix', () => {
  test.each([
    ['/a', ''],
    ['/a', 'b=1'],
    ['/', ''],
    ['/é/ü', 'q=日本'],
    [`/${'x'.repeat(3000)}`, 'y'],
  ])('hashes %j ? %j as hashKey hashes the whole key', (path, query) => {
    const prefix = new KeyPrefix('/ app https://Example.test');
    expect(prefix.hashAfter(path, query)).toEqual(hashKey(`${prefix.text}${path}?${query}`));
  });

  test('a path and a query are not interchangeable', () => {
    const prefix = new KeyPrefix('/ app http://a');
    expect(prefix.hashAfter('/x', 'y')).not.toEqual(prefix.hashAfter('/x?y', ''));
    expect(prefix.hashAfter('/x', '')).not.toEqual(hashKey('/ app http://a/x'));
  });
});

describe('SharedCache.begin', () => {
  const config = parseConfigText([
    'upstreams: { app: { targets: ["http://127.0.0.1:9"] }, other: { targets: ["http://127.0.0.1:10"] } }',
    'routes:',
    '  - { path: /api/, upstream: other }',
    '  - { path: /, upstream: app }',
    'cache: { enabled: true, size: 8MiB }',
    'access_log: false',
  ].join('\n'), 'test.yaml', {});
  const rt = buildRuntime(config, allocateSegments(config, 1));

  /** begin() for one request; the key it must make, by cacheKey. */
  function begin(host: string, forwarded: string, proto: string, path: string, query: string): { got: string; hi: number; lo: number; want: string } {
    const head: RequestHead = { method: 'GET', rawPath: path, query, headers: ['host', host], peerIp: '127.0.0.1', proxiedIp: '', scheme: 'http' };
    const ex = new Exchange(head, Date.now());
    const match = rt.router.find(host.toLowerCase(), path)!;
    ex.route = match.value;
    ex.path = path;
    ex.host = host.toLowerCase();
    const req = rt.cache!.begin(ex, proto, forwarded);
    const want = cacheKey(match.value.name, match.value.config.upstream, proto, host, forwarded, path, query);
    return { got: req.key, hi: req.hi, lo: req.lo, want };
  }

  test('each request gets its own key and that key\'s hash, when route, host, forwarded host or scheme change between requests', () => {
    const requests: [string, string, string, string, string][] = [
      ['a.test', 'a.test', 'http', '/x', ''],
      ['a.test', 'a.test', 'http', '/y', 'q=1'],
      ['b.test', 'b.test', 'http', '/y', 'q=1'],
      ['b.test', 'c.test', 'http', '/y', 'q=1'],
      ['b.test', 'c.test', 'https', '/y', 'q=1'],
      ['b.test', 'c.test', 'https', '/api/y', 'q=1'],
      ['B.test', 'c.test', 'https', '/api/y', 'q=1'],
      ['a.test', 'a.test', 'http', '/x', ''],
    ];
    const keys = new Set<string>();
    for (const r of requests) {
      const { got, hi, lo, want } = begin(...r);
      expect(got).toBe(want);
      expect([hi, lo]).toEqual(hashKey(want));
      keys.add(got);
    }
    // The first and last are one request; 'B.test' is 'b.test'.
    expect(keys.size).toBe(requests.length - 2);
  });
});
