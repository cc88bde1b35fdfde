// 13 B through a route with a rate limit (shared-memory token bucket, every request takes a
// token) and an IP rule, against the same config file and route without them, in the same
// run: the price of the policy phase (issue #13 asks for CPU per request within 10%).
import { BODIES } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

export const protect: LoadCase = {
  kind: 'load',
  name: 'protect',
  title: '13 B, rate limit + IP rule',
  path: '/small',
  bodyBytes: BODIES['/small']!.length,
  targets: ['direct', 'portcullis+route', 'portcullis+protect', 'nginx'],
  ratios: [['portcullis+protect', 'portcullis+route']],
};
