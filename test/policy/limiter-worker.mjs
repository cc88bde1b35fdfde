// One thread of the shared-limiter storm (shared-limiter.test.ts): takes tokens for a few
// keys as fast as it can on the real clock and reports how many were granted per key, and the
// same for the in-flight counters. Plain JavaScript over the compiled modules (dist/).
import { parentPort, workerData } from 'node:worker_threads';
import { SharedLimiter } from '../../dist/src/policy/shared-limiter.js';
import { SharedCounters } from '../../dist/src/policy/shared-counters.js';

const { rate, counters: counterMem, keys, rule, ms, limit } = workerData;
const limiter = new SharedLimiter(rate);
const granted = new Array(keys.length).fill(0);
const end = Date.now() + ms;
while (Date.now() < end) {
  for (let k = 0; k < keys.length; k++) {
    const [h, t] = keys[k];
    if (limiter.take(h, t, rule).allowed) granted[k]++;
  }
}
// In-flight: acquire and release in a tight loop, and record the most ever seen held at once.
const counters = new SharedCounters(counterMem);
let over = 0;
let acquired = 0;
let violations = 0;
for (let i = 0; i < 200_000; i++) {
  const slot = counters.acquire(0x1234, 77, limit);
  if (slot === -1) { over++; continue; }
  acquired++;
  if (counters.count(slot) > limit) violations++;
  counters.release(slot);
}
parentPort.postMessage({ granted, over, acquired, violations });
