// 1 MiB responses: streaming throughput and backpressure; CPU µs/req here is CPU µs per MiB.
import { BODIES } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

export const large1m: LoadCase = {
  kind: 'load',
  name: '1m',
  title: '1 MiB',
  path: '/1m',
  bodyBytes: BODIES['/1m']!.length,
};
