// Shared fixtures of the cache's unit tests: an entry head with every field, and a cache config.
import type { CacheConfig } from '../../src/config/types.js';
import { DEFAULT_STORE_POLICY, type RequestFacts } from '../../src/cache/freshness.js';
import { noDirectives } from '../../src/cache/directives.js';
import { CacheRequest } from '../../src/cache/shared-cache.js';
import type { EntryMeta } from '../../src/cache/store.js';

/** The fields an entry head needs beyond what a test cares about (defaults of a plain 200). */
export const META_DEFAULTS = {
  heuristic: false, staleWhileRevalidate: -1, staleIfError: -1, noStale: false, targeted: [] as string[], date: '',
} satisfies Partial<EntryMeta>;

export function cacheConfig(size: number, maxEntry: number, over: Partial<CacheConfig> = {}): CacheConfig {
  return {
    enabled: true, size, max_entry_bytes: maxEntry, heuristic: { fraction: 0.1, max: 86400 }, stale_if_error: -1,
    collapse_timeout: 5000, max_variants: 32, ...over,
  };
}

export const GET_FACTS: RequestFacts = { method: 'GET', authorization: false, cookie: false, cacheControl: noDirectives() };

/** A cache request for `key` as SharedCache.begin would make it for a plain GET. */
export function getRequest(key: string, facts: RequestFacts = GET_FACTS): CacheRequest {
  return new CacheRequest(key, facts, DEFAULT_STORE_POLICY, true, undefined);
}
