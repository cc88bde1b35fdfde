// One thread of the shared-limiter storm (shared-limiter.test.ts): takes tokens for a few
// keys as fast as it can on the real clock and reports how many were granted per key, and the
// same for the in-flight counters. Plain JavaScript over the compiled modules (dist/).
import { parentPort, workerData } from 'node:worker_threads';
import { SharedLimiter } from '../../dist/src/policy/shared-limiter.js';
import { SharedCounters } from '../../dist/src/policy/shared-counters.js';

const { rate, counters: counterMem, keys, rule, fast, ms, limit } = workerData;
const limiter = new SharedLimiter(rate);
const granted = new Array(keys.length).fill(0);
/** When each granted take happened (ns on the table's clock, shared by every thread), per key. */
const times = keys.map(() => []);
const end = Date.now() + ms;
while (Date.now() < end) {
  for (let k = 0; k < keys.length; k++) {
    const [h, t] = keys[k];
    const now = limiter.now();
    if (limiter.takeAt(h, t, rule, now).allowed) { granted[k]++; times[k].push(now); }
  }
}
// A key under a 20,000/s limit, taken as fast as the thread can: the bucket stays empty, so
// every grant is a race between threads for its word (a non-atomic update grants more than the rule).
let fastGranted = 0;
const fastStart = limiter.now();
const fastEnd = Date.now() + ms;
while (Date.now() < fastEnd) {
  for (let i = 0; i < 1000; i++) if (limiter.take(fast.key[0], fast.key[1], fast.rule).allowed) fastGranted++;
}
const fastStop = limiter.now();
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
parentPort.postMessage({ granted, times, fastGranted, fastStart, fastStop, over, acquired, violations });
