// The purge interface's local implementation (src/cache/purge.ts: LocalCachePurge), the one the
// admin API calls: by URL (with every Vary variant), by prefix (scheme, host, path prefix),
// soft (stale, not gone); bad URLs rejected; the purge metrics counted.
import { describe, expect, test } from 'vitest';
import { LocalCachePurge } from '../../src/cache/purge.js';
import { cacheKey, SharedCache } from '../../src/cache/shared-cache.js';
import type { EntryMeta } from '../../src/cache/store.js';
import type { RouteConfig } from '../../src/config/types.js';
import { collect } from '../../src/observe/metrics.js';
import { Router } from '../../src/router/router.js';
import type { CompiledRoute } from '../../src/runtime.js';
import { allocateCacheMemory } from '../../src/shm/layout.js';
import { META_DEFAULTS, cacheConfig, getRequest } from '../helpers/cache-fixtures.js';

function route(path: string, over: Partial<RouteConfig> = {}): CompiledRoute {
  const config: RouteConfig = { host: undefined, path, upstream: 'app', strip_prefix: false, host_header: undefined, index: 0, cache: true, ...over };
  return { config, name: path, upstream: { name: 'app', pools: [], next: 0 }, split: null } as unknown as CompiledRoute;
}

function meta(key: string, over: Partial<EntryMeta> = {}): EntryMeta {
  return {
    key, status: 200, reason: 'OK', headers: [], responseTime: Date.now(), initialAge: 0, lifetime: 600, ...META_DEFAULTS,
    varyNames: [], varyValues: [], authOk: false, encoding: '', ...over,
  };
}

function setup(): { cache: SharedCache; purge: LocalCachePurge; put: (url: string, vary?: [string, string]) => string; has: (key: string, headers?: Record<string, string>) => 'fresh' | 'stale' | null } {
  const cache = new SharedCache(allocateCacheMemory(4 * 1024 * 1024), cacheConfig(4 * 1024 * 1024, 1024 * 1024));
  const router = new Router<CompiledRoute>();
  const r = route('/');
  router.add(undefined, '/', r);
  router.add(undefined, '/api/', route('/api/', { strip_prefix: true }));
  const keyOf = (url: string): string => {
    const u = new URL(url);
    const api = u.pathname.startsWith('/api/');
    return cacheKey(api ? '/api/' : '/', 'app', u.protocol.slice(0, -1), u.host, u.host, api ? u.pathname.slice(4) : u.pathname, u.search.slice(1));
  };
  const put = (url: string, vary?: [string, string]): string => {
    const key = keyOf(url);
    const m = meta(key, vary ? { varyNames: [vary[0]], varyValues: [vary[1]] } : {});
    const req = cacheRequestFor(key);
    expect(cache.store(key, req.hi, req.lo, m, Buffer.from('body'), 4)).toBe(true);
    return key;
  };
  const has = (key: string, headers: Record<string, string> = {}): 'fresh' | 'stale' | null => {
    const req = cacheRequestFor(key);
    const ex = { headerList: (name: string) => headers[name] } as never;
    const e = cache.find(req, ex);
    if (e === null) return null;
    return (e.flags & 1) !== 0 ? 'stale' : 'fresh';
  };
  return { cache, purge: new LocalCachePurge(cache, router), put, has };
}

const cacheRequestFor = (key: string): ReturnType<typeof getRequest> => getRequest(key);

const counter = (name: string, label?: string): number => {
  const f = collect().find((x) => x.name === name);
  return f?.series.find((s) => label === undefined || s.labels[0] === label)?.value ?? 0;
};

describe('LocalCachePurge', () => {
  test('by URL: that entry only', async () => {
    const { purge, put, has } = setup();
    const a = put('http://site.example/a?x=1');
    const b = put('http://site.example/a');
    expect(await purge.purge('http://site.example/a?x=1')).toEqual({ purged: 1 });
    expect(has(a)).toBeNull();
    expect(has(b)).toBe('fresh');
    expect(await purge.purge('http://site.example/a?x=1')).toEqual({ purged: 0 });
  });

  test('by URL on a route with strip_prefix: the key the route stores under', async () => {
    const { purge, put, has } = setup();
    const k = put('http://site.example/api/users');
    expect(await purge.purge('http://site.example/api/users')).toEqual({ purged: 1 });
    expect(has(k)).toBeNull();
  });

  test('a URL with Vary variants: every variant', async () => {
    const { purge, put, has } = setup();
    const k = put('http://site.example/v', ['accept-language', 'en']);
    put('http://site.example/v', ['accept-language', 'fr']);
    expect(has(k, { 'accept-language': 'en' })).toBe('fresh');
    expect(has(k, { 'accept-language': 'fr' })).toBe('fresh');
    expect(await purge.purge('http://site.example/v')).toEqual({ purged: 2 });
    expect(has(k, { 'accept-language': 'en' })).toBeNull();
    expect(has(k, { 'accept-language': 'fr' })).toBeNull();
  });

  test('soft: stale, still there', async () => {
    const { purge, put, has } = setup();
    const k = put('https://site.example/s');
    expect(await purge.purge('https://site.example/s', { soft: true })).toEqual({ purged: 1 });
    expect(has(k)).toBe('stale');
  });

  test('by prefix: same scheme and host, path prefix', async () => {
    const { purge, put, has } = setup();
    const keys = ['http://site.example/d/1', 'http://site.example/d/2?q', 'http://site.example/d/e/3'].map((u) => put(u));
    const other = [put('http://site.example/dx'), put('https://site.example/d/1'), put('http://other.example/d/1')];
    const before = counter('portcullis_cache_purges_total', 'prefix');
    expect(await purge.purge('http://site.example/d/', { prefix: true })).toEqual({ purged: 3 });
    for (const k of keys) expect(has(k)).toBeNull();
    for (const k of other) expect(has(k)).toBe('fresh');
    expect(counter('portcullis_cache_purges_total', 'prefix')).toBe(before + 1);
  });

  test('by prefix, soft', async () => {
    const { purge, put, has } = setup();
    const k = put('http://site.example/soft/1');
    expect(await purge.purge('http://site.example/soft/', { prefix: true, soft: true })).toEqual({ purged: 1 });
    expect(has(k)).toBe('stale');
  });

  test('not an absolute http(s) URL: rejected', async () => {
    const { purge } = setup();
    await expect(purge.purge('/relative')).rejects.toThrow(/absolute/);
    await expect(purge.purge('ftp://site.example/x')).rejects.toThrow(/http/);
  });

  test('a URL no route caches: nothing', async () => {
    const cache = new SharedCache(allocateCacheMemory(1024 * 1024), cacheConfig(1024 * 1024, 256 * 1024));
    const router = new Router<CompiledRoute>();
    router.add(undefined, '/', route('/', { cache: false }));
    expect(await new LocalCachePurge(cache, router).purge('http://site.example/x')).toEqual({ purged: 0 });
  });
});
