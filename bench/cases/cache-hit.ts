// Shared-cache hits, 13 B and 16 KiB: the origin marks the body fresh for an hour (Cache-Control: max-age=3600),
// the body check and WARMUP fill the cache, and every measured request is answered from it (the "origin req"
// column must read 0). Baselines from the same run: the origin direct, Portcullis and nginx proxying the same
// path without a cache, and nginx with proxy_cache (bench/nginx.ts).
import { CACHED, SMALL_BODY } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

const common = {
  kind: 'load',
  group: 'cache-hit',
  section: 'cache',
  targets: ['direct', 'portcullis', 'hit-floor', 'portcullis+cache', 'nginx', 'nginx+cache'],
  peers: { 'portcullis+cache': 'nginx+cache', 'nginx+cache': 'nginx+cache', 'hit-floor': 'nginx+cache' },
  ratios: [
    ['portcullis+cache', 'portcullis'],
    ['portcullis+cache', 'nginx+cache'],
    ['nginx+cache', 'nginx'],
    ['portcullis+cache', 'direct'],
    // How low a hit served from JavaScript can go on this front end, and what ours adds to it.
    ['hit-floor', 'nginx+cache'],
    ['portcullis+cache', 'hit-floor'],
  ],
} as const satisfies Partial<LoadCase>;

export const cacheHitSmall: LoadCase = {
  ...common,
  name: 'cache-hit-small',
  title: '13 B cache hit',
  path: '/cache/small',
  bodyBytes: CACHED['/cache/small']!.body.length,
};

export const cacheHit16k: LoadCase = {
  ...common,
  name: 'cache-hit-16k',
  title: '16 KiB cache hit',
  path: '/cache/16k',
  bodyBytes: CACHED['/cache/16k']!.body.length,
};

/**
 * What a route with the cache on costs a request whose answer is never stored (issue #10: at
 * most 1 µs more): the origin's `/small` carries no freshness, so every request is a miss that
 * computes its key, looks it up, and decides at the head not to store. Same run: the same
 * config file without the cache (portcullis-cache), and nginx with and without proxy_cache.
 */
export const cacheMissSmall: LoadCase = {
  kind: 'load',
  name: 'cache-miss-small',
  group: 'cache-miss',
  section: 'cache',
  title: '13 B uncacheable, cache on',
  path: '/small',
  bodyBytes: SMALL_BODY.length,
  uncacheable: true,
  targets: ['portcullis-cache', 'portcullis+cache', 'nginx', 'nginx+cache'],
  peers: { 'portcullis+cache': 'nginx+cache', 'nginx+cache': 'nginx+cache' },
  ratios: [
    ['portcullis+cache', 'portcullis-cache'],
    ['nginx+cache', 'nginx'],
  ],
};
