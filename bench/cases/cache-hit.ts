// Shared-cache hits, 13 B and 16 KiB: the origin marks the body fresh for an hour (Cache-Control: max-age=3600),
// the body check and WARMUP fill the cache, and every measured request is answered from it (the "origin req"
// column must read 0). Baselines from the same run: the origin direct, Portcullis and nginx proxying the same
// path without a cache, and nginx with proxy_cache (bench/nginx.ts).
import { CACHED } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

const common = {
  kind: 'load',
  group: 'cache-hit',
  section: 'cache',
  targets: ['direct', 'portcullis', 'portcullis+cache', 'nginx', 'nginx+cache'],
  peers: { 'portcullis+cache': 'nginx+cache', 'nginx+cache': 'nginx+cache' },
  ratios: [
    ['portcullis+cache', 'portcullis'],
    ['portcullis+cache', 'nginx+cache'],
    ['nginx+cache', 'nginx'],
    ['portcullis+cache', 'direct'],
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
