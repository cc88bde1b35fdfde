// 13 B with metrics on and off (issue 14: within 5%): the same config run twice, one with the
// workers counting every request into shared memory (requests by route/status/method, latency
// histogram, bytes), one with PORTCULLIS_METRICS=off. The same-run ratio is what counts.
import { BODIES } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

export const metrics: LoadCase = {
  kind: 'load',
  name: 'metrics',
  title: '13 B, metrics',
  path: '/small',
  bodyBytes: BODIES['/small']!.length,
  targets: ['portcullis+metrics', 'portcullis-metrics'],
  peers: { 'portcullis+metrics': 'portcullis-metrics', 'portcullis-metrics': 'portcullis-metrics' },
  ratios: [['portcullis+metrics', 'portcullis-metrics']],
};
