// The selection policies as pure functions over a snapshot: distribution per policy and weight
// (table-driven), smooth round robin's order, failover order, power of two choices, consistent
// hashing's stability when targets come and go, sticky cookies, and the one question
// available() asks.
import { describe, expect, test } from 'vitest';
import { makePolicy } from '../../src/upstream/balancer/policy.js';
import { available, buildSnapshot, type GroupSnapshot } from '../../src/upstream/balancer/snapshot.js';
import { hashString, rendezvous } from '../../src/upstream/balancer/hash.js';
import { stickyCookie, stickyPolicy } from '../../src/upstream/balancer/sticky.js';
import type { BalanceConfig } from '../../src/config/types.js';
import type { Target } from '../../src/upstream/target.js';
import { exchange, makeTargets, tally } from './fixtures.js';

function snapshotOf(targets: readonly Target[]): GroupSnapshot {
  return buildSnapshot(targets, 0, Date.now(), 0);
}

const N = 12_000;

describe('distribution per policy', () => {
  // [policy, weights, tolerance as a share of each expected count]
  test.each<[string, BalanceConfig, number[], number]>([
    ['round_robin, equal', { policy: 'round_robin' }, [1, 1, 1], 0],
    ['round_robin, weighted 1:3', { policy: 'round_robin' }, [1, 3], 0],
    ['round_robin, weighted 5:1:1', { policy: 'round_robin' }, [5, 1, 1], 0],
    ['random, equal', { policy: 'random' }, [1, 1, 1], 0.06],
    ['random, weighted 1:3', { policy: 'random' }, [1, 3], 0.06],
    ['least_requests (idle group), equal', { policy: 'least_requests' }, [1, 1, 1], 0.06],
    ['least_requests (idle group), weighted 1:3', { policy: 'least_requests' }, [1, 3], 0.06],
    ['hash on client_ip, equal', { policy: 'hash', key: { kind: 'client_ip' } }, [1, 1, 1], 0.08],
    ['hash on client_ip, weighted 1:3', { policy: 'hash', key: { kind: 'client_ip' } }, [1, 3], 0.08],
  ])('%s', (_name, balance, weights, tolerance) => {
    const targets = makeTargets(weights);
    const policy = makePolicy(balance, targets.length);
    const snap = snapshotOf(targets);
    const counts = tally(N, (i) => policy.select(snap, exchange({ clientIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }), null)?.target ?? null, targets.length);
    const total = weights.reduce((a, b) => a + b, 0);
    weights.forEach((w, i) => {
      const want = (N * w) / total;
      expect(Math.abs(counts[i]! - want), `target ${i}: ${counts[i]} of ${N}, want ${want}`).toBeLessThanOrEqual(want * tolerance + (tolerance === 0 ? 1 : 0));
    });
  });

  test('first: everything to the first available target, in config order', () => {
    const targets = makeTargets([1, 1, 1]);
    const policy = makePolicy({ policy: 'first' }, 3);
    const snap = snapshotOf(targets);
    expect(tally(100, () => policy.select(snap, exchange(), null)?.target ?? null, 3)).toEqual([100, 0, 0]);
    targets[0]!.inflight = targets[0]!.maxConnections; // full: the next one takes over
    expect(tally(100, () => policy.select(snap, exchange(), null)?.target ?? null, 3)).toEqual([0, 100, 0]);
    expect(policy.select(snap, exchange(), [targets[1]!])?.target).toBe(targets[2]);
  });
});

describe('smooth weighted round robin', () => {
  test('weights 5:1:1 interleave (nginx: a a b a c a a), never a run of five', () => {
    const targets = makeTargets([5, 1, 1]);
    const policy = makePolicy({ policy: 'round_robin' }, 3);
    const snap = snapshotOf(targets);
    const order = Array.from({ length: 7 }, () => 'abc'[policy.select(snap, exchange(), null)!.target.index]).join('');
    expect(order).toBe('aabacaa');
  });

  test('a target that cannot take the request is skipped without disturbing the others\' rotation', () => {
    const targets = makeTargets([1, 1, 1]);
    const policy = makePolicy({ policy: 'round_robin' }, 3);
    const snap = snapshotOf(targets);
    targets[1]!.inflight = targets[1]!.maxConnections;
    const order = Array.from({ length: 6 }, () => policy.select(snap, exchange(), null)!.target.index);
    expect(order.filter((i) => i === 1)).toEqual([]);
    expect(order.filter((i) => i === 0)).toHaveLength(3);
  });
});

describe('least_requests (power of two choices)', () => {
  test('a loaded target loses every draw it is part of', () => {
    const targets = makeTargets([1, 1, 1]);
    const policy = makePolicy({ policy: 'least_requests' }, 3);
    const snap = snapshotOf(targets);
    targets[0]!.inflight = 10;
    targets[1]!.inflight = 1;
    const counts = tally(3000, () => policy.select(snap, exchange(), null)!.target, 3);
    expect(counts[0]).toBe(0);
    // 2 vs 1: target 2 wins whenever it is drawn (2 of the 3 pairs), target 1 only in {0,1}.
    expect(counts[2]! / 3000).toBeGreaterThan(0.55);
    expect(counts[1]! / 3000).toBeGreaterThan(0.2);
  });

  test('load is compared per unit of weight', () => {
    const targets = makeTargets([1, 4]);
    const policy = makePolicy({ policy: 'least_requests' }, 2);
    const snap = snapshotOf(targets);
    targets[0]!.inflight = 1; // 1 per unit
    targets[1]!.inflight = 3; // 0.75 per unit: the heavier target still wins
    expect(tally(500, () => policy.select(snap, exchange(), null)!.target, 2)).toEqual([0, 500]);
  });
});

describe('consistent hashing (rendezvous)', () => {
  const KEYS = Array.from({ length: 20_000 }, (_, i) => hashString(`client-${i}`));

  function mapping(targets: readonly Target[]): number[] {
    const snap = snapshotOf(targets);
    return KEYS.map((k) => rendezvous(snap.candidates, k, null)!.target.config.port);
  }

  test('removing one of N targets remaps about 1/N of the keys, and only the keys it held', () => {
    const five = makeTargets([1, 1, 1, 1, 1]);
    const before = mapping(five);
    const removed = five[2]!.config.port;
    const after = mapping(five.filter((_, i) => i !== 2));
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        expect(before[i]).toBe(removed);
      }
    }
    expect(moved / KEYS.length).toBeGreaterThan(0.17);
    expect(moved / KEYS.length).toBeLessThan(0.23);
  });

  test('adding a target takes about 1/(N+1) of the keys, all of them to the new one', () => {
    const six = makeTargets([1, 1, 1, 1, 1, 1]);
    const before = mapping(six.slice(0, 5));
    const after = mapping(six);
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        expect(after[i]).toBe(six[5]!.config.port);
      }
    }
    expect(moved / KEYS.length).toBeGreaterThan(1 / 6 - 0.03);
    expect(moved / KEYS.length).toBeLessThan(1 / 6 + 0.03);
  });

  test('a full target\'s keys go to their next best; every other key stays', () => {
    const targets = makeTargets([1, 1, 1, 1]);
    const snap = snapshotOf(targets);
    const before = KEYS.map((k) => rendezvous(snap.candidates, k, null)!.target);
    targets[1]!.inflight = targets[1]!.maxConnections;
    KEYS.forEach((k, i) => {
      const t = rendezvous(snap.candidates, k, null)!.target;
      if (before[i] !== targets[1]) expect(t).toBe(before[i]);
      else expect(t).not.toBe(targets[1]);
    });
  });

  test.each([
    ['header:x-user', { kind: 'header', name: 'x-user' } as const, (v: string) => ['x-user', v]],
    ['cookie:session', { kind: 'cookie', name: 'session' } as const, (v: string) => ['cookie', `a=1; session=${v}; b=2`]],
  ])('key %s: the same value always reaches the same target; a request without it is spread at random', (_n, key, header) => {
    const targets = makeTargets([1, 1, 1]);
    const policy = makePolicy({ policy: 'hash', key }, 3);
    const snap = snapshotOf(targets);
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      const first = policy.select(snap, exchange({ headers: header(user) }), null)!.target;
      for (let i = 0; i < 20; i++) expect(policy.select(snap, exchange({ headers: header(user), clientIp: `10.0.0.${i}` }), null)!.target).toBe(first);
    }
    const spread = tally(3000, () => policy.select(snap, exchange(), null)!.target, 3);
    for (const c of spread) expect(c).toBeGreaterThan(800);
  });
});

describe('sticky cookie', () => {
  test('a cookie naming an available target wins; a stale, unknown or full one falls back to the policy', () => {
    const targets = makeTargets([1, 1, 1]);
    const inner = makePolicy({ policy: 'first' }, 3);
    const policy = stickyPolicy(inner, 'pc_sticky');
    const snap = snapshotOf(targets);
    const withCookie = (v: string) => exchange({ headers: ['cookie', `pc_sticky=${v}`] });
    expect(policy.select(snap, withCookie(targets[2]!.stickyId), null)!.target).toBe(targets[2]);
    expect(policy.select(snap, withCookie('0123456789abcdef'), null)!.target).toBe(targets[0]);
    targets[2]!.inflight = targets[2]!.maxConnections;
    expect(policy.select(snap, withCookie(targets[2]!.stickyId), null)!.target).toBe(targets[0]);
  });

  test('the cookie names the target by a hash of its identity (not its address), and is set only when it changes', () => {
    const [t] = makeTargets([1]);
    expect(t!.stickyId).toMatch(/^[0-9a-f]{16}$/);
    expect(t!.stickyId).not.toContain('127');
    const cfg = { cookie: 'pc_sticky', ttl: 3_600_000 };
    expect(stickyCookie(exchange(), t!, cfg)).toBe(`pc_sticky=${t!.stickyId}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax`);
    expect(stickyCookie(exchange({ headers: ['cookie', `pc_sticky=${t!.stickyId}`] }), t!, cfg)).toBeNull();
    const https = exchange();
    https.identity = { clientIp: '10.0.0.1', proto: 'https', host: '' };
    expect(stickyCookie(https, t!, { cookie: 's', ttl: undefined })).toBe(`s=${t!.stickyId}; Path=/; HttpOnly; SameSite=Lax; Secure`);
  });
});

describe('available()', () => {
  test('not full, and not already tried by this request', () => {
    const targets = makeTargets([1, 1]);
    const [a, b] = snapshotOf(targets).candidates;
    expect(available(a!, null)).toBe(true);
    expect(available(a!, [targets[0]!])).toBe(false);
    expect(available(b!, [targets[0]!])).toBe(true);
    targets[1]!.inflight = targets[1]!.maxConnections - 1;
    expect(available(b!, null)).toBe(true);
    targets[1]!.inflight++;
    expect(available(b!, null)).toBe(false);
  });
});
