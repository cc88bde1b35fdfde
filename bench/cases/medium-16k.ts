// 16 KiB responses: one body copy that no longer fits a single small buffer.
import { BODIES } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

export const medium16k: LoadCase = {
  kind: 'load',
  name: '16k',
  title: '16 KiB',
  path: '/16k',
  bodyBytes: BODIES['/16k']!.length,
};
