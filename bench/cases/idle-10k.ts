// IDLE_CONNECTIONS (10,000) idle keep-alive client connections, one GET each: resident memory of the proxy.
import { BODIES } from '../lib/bodies.js';
import type { IdleCase } from './types.js';

export const idle10k: IdleCase = {
  kind: 'idle',
  name: 'idle10k',
  title: 'idle conns',
  path: '/small',
  bodyBytes: BODIES['/small']!.length,
};
