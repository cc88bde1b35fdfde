// 1,000 concurrent client connections, 13 B responses: per-connection cost under load.
import { BODIES } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

export const conns1000: LoadCase = {
  kind: 'load',
  name: 'conns1000',
  title: '13 B, 1000 conns',
  path: '/small',
  bodyBytes: BODIES['/small']!.length,
  connections: 1000,
};
