// The shared rate table and in-flight counters: GCRA arithmetic against a driven clock
// (burst, sustained rate, Retry-After, reset), eviction when a set is full, and storms of
// four threads on the real clock that must grant exactly what one thread would.
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { allocateRateTable } from '../../src/shm/rate-table.js';
import { allocateCounterTable } from '../../src/shm/counter-table.js';
import { SharedLimiter } from '../../src/policy/shared-limiter.js';
import { OVER_LIMIT, SharedCounters, UNCOUNTED } from '../../src/policy/shared-counters.js';
import { KeyHash } from '../../src/policy/key-hash.js';

const S = 1e9;
const rule = (rate: number, perS: number, burst: number) => ({ intervalNs: Math.round((perS * S) / rate), burst });
const key = (s: string): [number, number] => { const k = new KeyHash().add(s); return [k.h, k.tag]; };

describe('GCRA on a driven clock', () => {
  test('a full bucket grants `burst` at once, then one per interval', () => {
    const l = new SharedLimiter(allocateRateTable(1024));
    const [h, t] = key('a');
    const r = rule(10, 1, 5); // 10/s, burst 5
    const t0 = 1000 * S;
    const granted = [];
    for (let i = 0; i < 7; i++) granted.push(l.takeAt(h, t, r, t0).allowed);
    expect(granted).toEqual([true, true, true, true, true, false, false]);
    expect(l.takeAt(h, t, r, t0 + 0.099 * S).allowed).toBe(false);
    expect(l.takeAt(h, t, r, t0 + 0.1 * S).allowed).toBe(true);
    expect(l.takeAt(h, t, r, t0 + 0.1 * S).allowed).toBe(false);
  });

  test('remaining, Retry-After and reset', () => {
    const l = new SharedLimiter(allocateRateTable(1024));
    const [h, t] = key('b');
    const r = rule(2, 10, 3); // one per 5 s, burst 3
    const t0 = 50 * S;
    expect(l.takeAt(h, t, r, t0)).toMatchObject({ allowed: true, remaining: 2, resetNs: 5 * S });
    expect(l.takeAt(h, t, r, t0)).toMatchObject({ allowed: true, remaining: 1, resetNs: 10 * S });
    expect(l.takeAt(h, t, r, t0)).toMatchObject({ allowed: true, remaining: 0, resetNs: 15 * S });
    expect(l.takeAt(h, t, r, t0)).toMatchObject({ allowed: false, remaining: 0, retryAfterNs: 5 * S, resetNs: 15 * S });
    expect(l.takeAt(h, t, r, t0 + 2 * S)).toMatchObject({ allowed: false, retryAfterNs: 3 * S });
  });

  test('sustained: over 100 s at 10 r/s exactly burst + 1000 are granted', () => {
    const l = new SharedLimiter(allocateRateTable(1024));
    const [h, t] = key('c');
    const r = rule(10, 1, 20);
    let granted = 0;
    for (let ms = 0; ms <= 100_000; ms++) if (l.takeAt(h, t, r, 10 * S + ms * 1e6).allowed) granted++;
    expect(granted).toBe(20 + 1000);
  });

  test('keys do not share buckets', () => {
    const l = new SharedLimiter(allocateRateTable(1024));
    const r = rule(1, 60, 1);
    const granted = ['k1', 'k2', 'k3', 'k1'].map((s) => { const [h, t] = key(s); return l.takeAt(h, t, r, 5 * S).allowed; });
    expect(granted).toEqual([true, true, true, false]);
  });

  test('a full set drops the bucket closest to full; a key at rest costs no slot', () => {
    const l = new SharedLimiter(allocateRateTable(4)); // one set of 4
    const r = rule(1, 100, 1);
    const t0 = 1000 * S;
    // Four keys limited at different times fill the set.
    for (let i = 0; i < 4; i++) expect(l.takeAt(i * 7 + 1, 100 + i, r, t0 + i * S).allowed).toBe(true);
    expect(l.takeAt(1, 100, r, t0 + 10 * S).allowed).toBe(false);
    // A fifth key evicts the oldest refilling bucket (key 0)...
    expect(l.takeAt(99, 200, r, t0 + 10 * S).allowed).toBe(true);
    expect(l.evictions).toBe(1);
    // ...which comes back with a full bucket: the documented error.
    expect(l.takeAt(1, 100, r, t0 + 10 * S).allowed).toBe(true);
    // After the buckets refill, new keys reuse slots without an eviction counted.
    const before = l.evictions;
    for (let i = 0; i < 8; i++) expect(l.takeAt(500 + i, 300 + i, r, t0 + 1000 * S + i).allowed).toBe(true);
    expect(l.evictions).toBe(before + 4); // the last 4 arrive while the first 4 new ones are refilling
  });
});

describe('in-flight counters', () => {
  test('acquire up to the limit, release gives back', () => {
    const c = new SharedCounters(allocateCounterTable(8));
    const slots = [c.acquire(5, 9, 2), c.acquire(5, 9, 2)];
    expect(slots.every((s) => s >= 0)).toBe(true);
    expect(c.acquire(5, 9, 2)).toBe(OVER_LIMIT);
    c.release(slots[0]!);
    expect(c.acquire(5, 9, 2)).toBeGreaterThanOrEqual(0);
  });

  test('a set whose slots all hold requests of other keys lets a new key through uncounted', () => {
    const c = new SharedCounters(allocateCounterTable(8));
    for (let k = 1; k <= 8; k++) expect(c.acquire(0, k, 5)).toBeGreaterThanOrEqual(0);
    expect(c.acquire(0, 99, 5)).toBe(UNCOUNTED);
    expect(c.overflows).toBe(1);
  });

  test('an idle slot is relabelled for a new key', () => {
    const c = new SharedCounters(allocateCounterTable(8));
    const held = [];
    for (let k = 1; k <= 8; k++) held.push(c.acquire(0, k, 5));
    c.release(held[3]!);
    const slot = c.acquire(0, 99, 5);
    expect(slot).toBe(held[3]);
    expect(c.count(slot)).toBe(1);
  });
});

describe('four threads on one table', () => {
  test('grant exactly what the bucket allows, and never exceed an in-flight limit', async () => {
    const rate = allocateRateTable(1024);
    const counters = allocateCounterTable(8);
    const keys = ['x', 'y', 'z'].map(key);
    const r = rule(100, 1, 50); // 100/s, burst 50
    const ms = 1500;
    const fast = { key: key('fast'), rule: { intervalNs: 50_000, burst: 1000 } }; // 20,000/s: below what 4 threads attempt
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 4 }, () => new Promise<{ granted: number[]; times: number[][]; fastGranted: number; fastStart: number; fastStop: number; over: number; acquired: number; violations: number }>((resolve, reject) => {
      const w = new Worker(new URL('./limiter-worker.mjs', import.meta.url), { workerData: { rate, counters, keys, rule: r, fast, ms, limit: 2 } });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    const elapsed = (Date.now() - started) / 1000;
    for (let k = 0; k < keys.length; k++) {
      const total = results.reduce((n, res) => n + res.granted[k]!, 0);
      expect(total).toBeLessThanOrEqual(50 + 100 * elapsed + 1);
      expect(total).toBeGreaterThan(50); // the threads did compete for more than the burst
      // The bucket's promise over every window, whatever the threads' scheduling: between any
      // two grants, at most burst + rate × (time between them) grants in all (GCRA).
      const times = results.flatMap((res) => res.times[k]!).sort((a, b) => a - b);
      let worst = 0;
      for (let i = 0; i < times.length; i++) {
        for (let j = i; j < times.length; j++) {
          worst = Math.max(worst, j - i + 1 - (50 + (times[j]! - times[i]!) / r.intervalNs));
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
    }
    // The racing key: never more than burst + 20,000/s over the time the threads raced for it.
    const fastTotal = results.reduce((n, res) => n + res.fastGranted, 0);
    const window = Math.max(...results.map((res) => res.fastStop)) - Math.min(...results.map((res) => res.fastStart));
    expect(fastTotal).toBeLessThanOrEqual(1000 + window / fast.rule.intervalNs + 1);
    // With limit 2 and 4 threads, some acquisitions must have found the key full, and the
    // count is back to zero at the end.
    expect(results.reduce((n, res) => n + res.acquired, 0)).toBeGreaterThan(0);
    expect(results.reduce((n, res) => n + res.violations, 0)).toBe(0);
    const c = new SharedCounters(counters);
    const slot = c.acquire(0x1234, 77, 100);
    expect(c.count(slot)).toBe(1);
  }, 20_000);
});
