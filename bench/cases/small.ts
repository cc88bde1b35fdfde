// 13 B responses: the per-request overhead of the proxy.
import { BODIES } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

export const small: LoadCase = {
  kind: 'load',
  name: 'small',
  title: '13 B',
  path: '/small',
  bodyBytes: BODIES['/small']!.length,
};
