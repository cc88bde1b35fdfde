// A stored gzip variant: 64 KiB of JSON requested with Accept-Encoding: gzip. With cache and compression on,
// Portcullis compresses the stored body once (the second request) and serves the stored variant from then on.
// Baselines from the same run, all gzip level 5: Portcullis compressing every response on the fly (compression
// on, cache off), nginx gzip on the fly, and nginx proxy_cache + gzip (nginx caches the identity body and
// compresses it on every hit). No direct row: the origin does not compress.
import { CACHED } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

export const cacheVariant: LoadCase = {
  kind: 'load',
  name: 'cache-variant',
  section: 'cache',
  title: '64 KiB JSON gzip hit',
  path: '/cache/64k.json',
  bodyBytes: CACHED['/cache/64k.json']!.body.length,
  headers: { 'Accept-Encoding': 'gzip' },
  encoding: 'gzip',
  targets: ['portcullis+gzip', 'portcullis+cache+gzip', 'nginx+gzip', 'nginx+cache+gzip'],
  peers: { 'portcullis+gzip': 'nginx+gzip', 'portcullis+cache+gzip': 'nginx+cache+gzip', 'nginx+gzip': 'nginx+gzip', 'nginx+cache+gzip': 'nginx+cache+gzip' },
  ratios: [
    ['portcullis+cache+gzip', 'portcullis+gzip'],
    ['portcullis+cache+gzip', 'nginx+gzip'],
    ['portcullis+cache+gzip', 'nginx+cache+gzip'],
    ['portcullis+gzip', 'nginx+gzip'],
  ],
};
