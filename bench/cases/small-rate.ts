// 13 B at a fixed request rate, the same for every target: latency "at the same load"
// (the saturating `small` case compares latency when each target runs flat out).
// RATE (req/s, default 10000) sets it; autocannon runs it whatever BENCH_TOOL says.
import { BODIES } from '../lib/bodies.js';
import type { LoadCase } from './types.js';

const rate = Number(process.env['RATE'] ?? 10_000);

export const smallRate: LoadCase = {
  kind: 'load',
  name: 'small-rate',
  title: `13 B at ${rate} req/s`,
  path: '/small',
  bodyBytes: BODIES['/small']!.length,
  rate,
};
