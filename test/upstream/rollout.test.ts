// Canary windows and splits: the latency histogram's p99, the rollback thresholds, the window
// shared across openers and sliding with time, the weighted split and header/cookie overrides.
import { describe, expect, test } from 'vitest';
import { CanaryWindow, latencyBucket, quantile, rollbackReason } from '../../src/upstream/rollout.js';
import { allocateRollouts, LAT_BUCKETS } from '../../src/shm/rollout.js';
import { RouteSplit } from '../../src/upstream/split.js';
import type { CompiledUpstream } from '../../src/upstream/group.js';
import type { RouteConfig } from '../../src/config/types.js';
import { TargetTable } from '../../src/upstream/health/table.js';
import { exchange, makeGroup } from './fixtures.js';

describe('latency histogram', () => {
  test('the p99 of a known spread is within 10%', () => {
    const counts = new Float64Array(LAT_BUCKETS);
    // 1..1000 ms, one request each: p99 = 990 ms
    for (let ms = 1; ms <= 1000; ms++) counts[latencyBucket(ms)]!++;
    expect(Math.abs(quantile(counts, 0.99) - 990) / 990).toBeLessThan(0.1);
    expect(quantile(counts, 0.5)).toBeGreaterThan(450);
    expect(quantile(counts, 0.5)).toBeLessThan(550);
    expect(quantile(new Float64Array(LAT_BUCKETS), 0.99)).toBe(0);
  });

  test('buckets are monotonic and open-ended at the top', () => {
    let last = 0;
    for (const ms of [0, 1, 2, 10, 100, 800, 801, 5000, 60_000, 10_000_000]) {
      const b = latencyBucket(ms);
      expect(b).toBeGreaterThanOrEqual(last);
      last = b;
    }
    expect(latencyBucket(10_000_000)).toBe(LAT_BUCKETS - 1);
  });
});

describe('rollback thresholds', () => {
  const cfg = { error_rate: 0.05, p99: 800, window: 60_000, min_requests: 20 };
  test.each<[string, { requests: number; errors: number; p99: number }, RegExp | null]>([
    ['too few requests decide nothing', { requests: 19, errors: 19, p99: 5000 }, null],
    ['5% errors is at the limit, not over it', { requests: 100, errors: 5, p99: 10 }, null],
    ['6% errors rolls back', { requests: 100, errors: 6, p99: 10 }, /error rate 6\.0%/],
    ['a slow p99 rolls back', { requests: 100, errors: 0, p99: 900 }, /p99 900 ms/],
    ['a fast, healthy canary stays', { requests: 1000, errors: 10, p99: 200 }, null],
  ])('%s', (_n, stats, reason) => {
    const r = rollbackReason(stats, cfg);
    if (reason === null) expect(r).toBeNull();
    else expect(r).toMatch(reason);
  });
});

describe('canary window', () => {
  test('every opener of the same key adds to one window; another key is another window', () => {
    const mem = allocateRollouts();
    const a = new CanaryWindow(mem, 'route / app_v2', 10_000);
    const b = new CanaryWindow(mem, 'route / app_v2', 10_000);
    const other = new CanaryWindow(mem, 'route / app_v3', 10_000);
    const now = 50_000_000;
    for (let i = 0; i < 30; i++) a.record(i % 3 === 0, 5, now);
    for (let i = 0; i < 10; i++) b.record(true, 1000, now + 10);
    expect(b.stats(now + 20)).toMatchObject({ requests: 40, errors: 20 });
    expect(other.stats(now + 20).requests).toBe(0);
    expect(a.markRolledBack()).toBe(true);
    expect(b.markRolledBack()).toBe(false);
    expect(b.rolledBack).toBe(true);
    expect(other.rolledBack).toBe(false);
  });

  test('outcomes older than the window stop counting', () => {
    const w = new CanaryWindow(allocateRollouts(), 'k', 10_000);
    const now = 70_000_000;
    for (let i = 0; i < 10; i++) w.record(true, 5, now);
    expect(w.stats(now + 5000).requests).toBe(10);
    expect(w.stats(now + 11_000).requests).toBe(0);
    w.record(false, 5, now + 11_000);
    expect(w.stats(now + 11_000)).toMatchObject({ requests: 1, errors: 0 });
  });
});

function route(extra: Partial<RouteConfig>): RouteConfig {
  return {
    host: undefined, path: '/', upstream: 'app', strip_prefix: false, host_header: undefined, index: 0, cache: false,
    timeouts: { connect: 1000, response_header: 1000, idle: 1000 }, retries: { attempts: 0, budget: 0.2, on: [] },
    ...extra,
  };
}

function groups(): Map<string, CompiledUpstream> {
  const table = TargetTable.private(2);
  return new Map([['app', makeGroup([1], {}, table)], ['app_v2', makeGroup([1], { name: 'app_v2' } as never, table)]]);
}

describe('route split', () => {
  test('95/5 is exactly 95/5 over every 100 requests (smooth weighted round robin)', () => {
    const g = groups();
    const split = new RouteSplit(route({ split: [{ upstream: 'app', weight: 95 }, { upstream: 'app_v2', weight: 5 }] }), '/', g, null, { log: () => {} });
    const picks = Array.from({ length: 2000 }, () => split.choose(exchange()));
    expect(picks.filter((p) => p === g.get('app_v2'))).toHaveLength(100);
    // never two canary requests in a row
    for (let i = 1; i < picks.length; i++) if (picks[i] === g.get('app_v2')) expect(picks[i - 1]).toBe(g.get('app'));
  });

  test('a header or cookie says always or never; rolled back, the canary gets nothing at all', () => {
    const g = groups();
    const logs: string[] = [];
    const canary = { upstream: 'app_v2', header: 'x-canary', cookie: 'canary', rollback: { error_rate: 0.05, p99: undefined, window: 10_000, min_requests: 5 } };
    const split = new RouteSplit(route({ split: [{ upstream: 'app', weight: 50 }, { upstream: 'app_v2', weight: 50 }], canary }), '/', g, allocateRollouts(), { log: (_l, m) => logs.push(m) });
    const v2 = g.get('app_v2')!;
    for (let i = 0; i < 10; i++) expect(split.choose(exchange({ headers: ['x-canary', 'always'] }))).toBe(v2);
    for (let i = 0; i < 10; i++) expect(split.choose(exchange({ headers: ['cookie', 'canary=never'] }))).not.toBe(v2);
    const now = Date.now();
    for (let i = 0; i < 10; i++) {
      const ex = exchange();
      ex.status = 502;
      split.record(ex, v2, now);
    }
    split.tick(now);
    expect(split.rolledBack).toBe(true);
    expect(logs).toEqual([expect.stringMatching(/route \/: canary app_v2 rolled back: error rate 100\.0%/)]);
    for (let i = 0; i < 20; i++) expect(split.choose(exchange({ headers: ['x-canary', 'always'] }))).not.toBe(v2);
    split.tick(now + 1);
    expect(logs).toHaveLength(1);
  });

  test('the canary header is one list: two lines say what one line with both says', () => {
    const g = groups();
    const canary = { upstream: 'app_v2', header: 'x-canary', cookie: undefined, rollback: undefined };
    // Without a split the canary is reached only when asked for: the weights always pick app.
    const split = new RouteSplit(route({ canary }), '/', g, null, { log: () => {} });
    const v2 = g.get('app_v2')!;
    expect(split.choose(exchange({ headers: ['x-canary', 'always'] }))).toBe(v2);
    expect(split.choose(exchange({ headers: ['x-canary', ' Always '] }))).toBe(v2);
    for (const headers of [
      ['x-canary', 'always, never'],
      ['x-canary', 'always', 'x-canary', 'never'],
      ['x-canary', 'never', 'x-canary', 'always'],
      ['x-canary', 'always', 'x-canary', 'always'],
    ]) expect(split.choose(exchange({ headers }))).not.toBe(v2);
  });

  test('a client that left, or a request to the other group, decides nothing', () => {
    const g = groups();
    const canary = { upstream: 'app_v2', header: undefined, cookie: undefined, rollback: { error_rate: 0.05, p99: undefined, window: 10_000, min_requests: 1 } };
    const split = new RouteSplit(route({ split: [{ upstream: 'app', weight: 1 }, { upstream: 'app_v2', weight: 1 }], canary }), '/', g, null, { log: () => {} });
    const now = Date.now();
    const gone = exchange();
    gone.status = 499;
    gone.clientAborted = true;
    split.record(gone, g.get('app_v2')!, now);
    const other = exchange();
    other.status = 503;
    split.record(other, g.get('app')!, now);
    split.tick(now);
    expect(split.rolledBack).toBe(false);
  });
});
