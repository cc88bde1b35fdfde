// Health state as the balancer sees it: the snapshot (unhealthy, ejected, unresolved targets
// left out; panic when none is left; slow start), active check transitions, passive ejection
// (failures within a window, growing cool-down, max_ejected), and the shared table's cells
// (one slot per identity, addresses under a seqlock).
import { describe, expect, test } from 'vitest';
import { buildSnapshot, rampFactor, SLOW_START_FLOOR } from '../../src/upstream/balancer/snapshot.js';
import { afterCheck, statusPasses } from '../../src/upstream/health/active.js';
import { ejectionCount, ejectionLength, ejectionLimit, recordFailure, recordSuccess } from '../../src/upstream/health/passive.js';
import { TargetTable } from '../../src/upstream/health/table.js';
import { answerLifetime } from '../../src/upstream/health/resolver.js';
import { allocateTargetTable, ADDR_RESOLVING, ADDR_UNRESOLVED, STATE_HEALTHY, STATE_PENDING, STATE_UNHEALTHY } from '../../src/shm/target-table.js';
import { Target } from '../../src/upstream/target.js';
import { exchange, makeGroup, makeTargets, targetConfig } from './fixtures.js';

const PASSIVE = { failures: 3, window: 10_000, eject: 1000, max_ejected: 0.5 };

describe('group snapshot', () => {
  test('unhealthy and ejected targets are left out; an ejection sets when to look again', () => {
    const targets = makeTargets([1, 1, 1]);
    const now = 1_000_000;
    targets[0]!.cell.setState(STATE_UNHEALTHY, null);
    targets[1]!.cell.eject(0, now + 5000, 1);
    const snap = buildSnapshot(targets, 0, now, 0);
    expect(snap.candidates.map((c) => c.target.index)).toEqual([2]);
    expect(snap.panic).toBe(false);
    expect(snap.validUntil).toBe(now + 5000);
    expect(buildSnapshot(targets, 0, now + 5000, 0).candidates.map((c) => c.target.index)).toEqual([1, 2]);
  });

  test('pending (not checked yet) counts as usable; a name that has not resolved does not', () => {
    const table = TargetTable.private(2);
    const pool = { max_connections: 8, idle_timeout: 1000, queue: 1 };
    const named = new Target('g', { ...targetConfig(80), url: 'http://app.internal', host: 'app.internal' }, 0, pool, table.cell('g', 'http://app.internal'), 1000, 65536);
    const literal = new Target('g', targetConfig(81), 1, pool, table.cell('g', targetConfig(81).url), 1000, 65536);
    expect(literal.cell.state).toBe(STATE_PENDING);
    named.cell.setAddrState(ADDR_RESOLVING);
    expect(buildSnapshot([named, literal], 0, Date.now(), 0).candidates.map((c) => c.target)).toEqual([literal]);
    named.cell.setAddrState(ADDR_UNRESOLVED);
    expect(named.dialable).toBe(false);
    named.cell.setAddresses(['10.1.2.3', '::1']);
    expect(named.dialable).toBe(true);
    // Each connection starts one further along the list (the rest are its fallbacks).
    expect([named.addresses(), named.addresses(), named.addresses()]).toEqual([['10.1.2.3', '::1'], ['::1', '10.1.2.3'], ['10.1.2.3', '::1']]);
  });

  test('panic: when no target is usable, every target with an address is tried', () => {
    const targets = makeTargets([1, 2]);
    for (const t of targets) t.cell.setState(STATE_UNHEALTHY, null);
    const snap = buildSnapshot(targets, 0, Date.now(), 0);
    expect(snap.panic).toBe(true);
    expect(snap.candidates.map((c) => [c.target.index, c.weight])).toEqual([[0, 1], [1, 2]]);
  });

  test('slow start ramps the weight from 10% to 100% and asks for a rebuild while it ramps', () => {
    expect(rampFactor(1000, 1000, 30_000)).toBe(SLOW_START_FLOOR);
    expect(rampFactor(16_000, 1000, 30_000)).toBeCloseTo(0.5);
    expect(rampFactor(31_000, 1000, 30_000)).toBe(1);
    expect(rampFactor(5000, 1000, 0)).toBe(1);
    const targets = makeTargets([4, 4]);
    const now = 100_000;
    targets[0]!.cell.setState(STATE_HEALTHY, now - 15_000); // back from unhealthy 15 s ago
    const snap = buildSnapshot(targets, 0, now, 30_000);
    expect(snap.candidates.map((c) => c.weight)).toEqual([2, 4]);
    expect(snap.validUntil).toBe(now + 100);
    // After an ejection the ramp starts at its end.
    targets[1]!.cell.eject(0, now - 3000, 1);
    expect(buildSnapshot(targets, 0, now, 30_000).candidates[1]!.weight).toBeCloseTo(4 * 0.1);
  });

  test('the group rebuilds its snapshot when the shared generation moves, and reuses it otherwise', () => {
    const table = TargetTable.private(2);
    const group = makeGroup([1, 1], {}, table);
    const now = Date.now();
    const a = group.snapshot(now);
    expect(group.snapshot(now + 10)).toBe(a);
    group.targets[0]!.cell.setState(STATE_UNHEALTHY, null);
    const b = group.snapshot(now + 20);
    expect(b).not.toBe(a);
    expect(b.candidates.map((c) => c.target.index)).toEqual([1]);
  });
});

describe('active checks', () => {
  const T = { healthy_after: 2, unhealthy_after: 3 };
  test.each<[string, number, boolean[], number]>([
    ['pending takes the first pass at once', STATE_PENDING, [true], STATE_HEALTHY],
    ['pending takes the first failure at once (does not answer at start)', STATE_PENDING, [false], STATE_UNHEALTHY],
    ['healthy stays up through two failures', STATE_HEALTHY, [false, false], STATE_HEALTHY],
    ['healthy goes down on the third failure in a row', STATE_HEALTHY, [false, false, false], STATE_UNHEALTHY],
    ['a pass in between restarts the count', STATE_HEALTHY, [false, false, true, false, false], STATE_HEALTHY],
    ['unhealthy needs two passes in a row', STATE_UNHEALTHY, [true], STATE_UNHEALTHY],
    ['unhealthy comes back on the second pass', STATE_UNHEALTHY, [true, true], STATE_HEALTHY],
    ['a failure in between restarts the count', STATE_UNHEALTHY, [true, false, true], STATE_UNHEALTHY],
  ])('%s', (_n, start, results, end) => {
    let s = { state: start, ok: 0, fail: 0 };
    for (const r of results) s = afterCheck(s, r, T);
    expect(s.state).toBe(end);
  });

  test.each([[200, true], [399, true], [400, false], [199, false], [204, true]])('expect 200-399: %i → %s', (status, ok) => {
    expect(statusPasses(status, [[200, 399]])).toBe(ok);
  });
});

describe('passive ejection', () => {
  test('failures within the window eject; a success in between starts over', () => {
    const targets = makeTargets([1, 1, 1, 1]);
    const cells = targets.map((t) => t.cell);
    const c = cells[0]!;
    const now = 5_000_000;
    expect(recordFailure(c, cells, PASSIVE, now)).toBeNull();
    expect(recordFailure(c, cells, PASSIVE, now + 1)).toBeNull();
    recordSuccess(c);
    expect(recordFailure(c, cells, PASSIVE, now + 2)).toBeNull();
    expect(recordFailure(c, cells, PASSIVE, now + 3)).toBeNull();
    expect(recordFailure(c, cells, PASSIVE, now + 4)).toEqual({ until: now + 4 + 1000, count: 1 });
    expect(c.ejectedUntil).toBe(now + 1004);
  });

  test('failures further apart than the window never add up', () => {
    const targets = makeTargets([1, 1]);
    const cells = targets.map((t) => t.cell);
    const now = 5_000_000;
    for (let i = 0; i < 10; i++) expect(recordFailure(cells[0]!, cells, PASSIVE, now + i * 6000)).toBeNull();
  });

  test('the cool-down grows when a target fails again soon after, up to 10×, and starts over after a quiet spell', () => {
    expect([1, 2, 3, 10, 11].map((n) => ejectionLength(1000, n))).toEqual([1000, 2000, 3000, 10_000, 10_000]);
    expect(ejectionCount(0, 0, 50_000, 1000)).toBe(1);
    expect(ejectionCount(2, 45_000, 50_000, 1000)).toBe(3);
    expect(ejectionCount(2, 30_000, 50_000, 1000)).toBe(1);
    const targets = makeTargets([1, 1]);
    const cells = targets.map((t) => t.cell);
    let now = 1_000_000;
    for (const expected of [1000, 2000, 3000]) {
      let e = null;
      for (let i = 0; i < 3; i++) e = recordFailure(cells[0]!, cells, PASSIVE, now);
      expect(e!.until - now).toBe(expected);
      now = e!.until + 10;
    }
  });

  test('never more than max_ejected of the group (at least one)', () => {
    expect([[4, 0.5, 2], [3, 0.5, 1], [2, 0.1, 1], [10, 0.25, 2], [1, 0.5, 1]].map(([n, s]) => ejectionLimit(n!, s!))).toEqual([2, 1, 1, 2, 1]);
    const targets = makeTargets([1, 1, 1, 1]);
    const cells = targets.map((t) => t.cell);
    const now = 2_000_000;
    const fail = (i: number) => { let e = null; for (let k = 0; k < 3; k++) e = recordFailure(cells[i]!, cells, PASSIVE, now); return e; };
    expect(fail(0)).not.toBeNull();
    expect(fail(1)).not.toBeNull();
    expect(fail(2)).toBeNull();
    expect(cells.filter((c) => c.ejectedUntil > now)).toHaveLength(2);
  });

  test('two workers seeing the same failures: exactly one of them ejects (and reports) it', () => {
    const mem = allocateTargetTable(2);
    const w1 = new TargetTable(mem).cell('g', 'http://a');
    const w2 = new TargetTable(mem).cell('g', 'http://a');
    const peer = new TargetTable(mem).cell('g', 'http://b');
    const seen = w1.ejectedUntil;
    expect(w2.eject(seen, 9000, 1)).toBe(true);
    expect(w1.eject(seen, 9500, 1)).toBe(false);
    expect(w1.ejectedUntil).toBe(9000);
    expect(peer.ejectedUntil).toBe(0);
  });

  test('an ejection reaches the balancer: the ejected target gets no requests until it ends', () => {
    const group = makeGroup([1, 1, 1]);
    const now = Date.now();
    for (let i = 0; i < 3; i++) group.failed(group.targets[0]!, now, 'test');
    for (let i = 0; i < 30; i++) expect(group.pick(exchange(), null, now + 1)).not.toBe(group.targets[0]);
    const later = now + PASSIVE.eject + 1;
    const picked = new Set(Array.from({ length: 30 }, () => group.pick(exchange(), null, later)));
    expect(picked.has(group.targets[0]!)).toBe(true);
  });
});

describe('shared target table', () => {
  test('one slot per identity (upstream name + URL), found again by every opener; IPv4 and IPv6 addresses round-trip', () => {
    const mem = allocateTargetTable(3);
    const a = new TargetTable(mem);
    const b = new TargetTable(mem);
    a.cell('app', 'http://x:1').setState(STATE_UNHEALTHY, null);
    expect(b.cell('app', 'http://x:1').state).toBe(STATE_UNHEALTHY);
    expect(b.cell('app2', 'http://x:1').state).toBe(STATE_PENDING);
    expect(b.cell('app', 'http://x:2').state).toBe(STATE_PENDING);
    const cell = a.cell('app', 'http://x:1');
    const gen = b.generation();
    expect(cell.setAddresses(['192.0.2.7', '2001:db8::1', 'not an address'])).toBe(true);
    expect(b.generation()).toBeGreaterThan(gen);
    expect(b.cell('app', 'http://x:1').addresses()).toEqual(['192.0.2.7', '2001:db8::1']);
    const addrGen = cell.addrGen;
    expect(cell.setAddresses(['192.0.2.7', '2001:db8::1'])).toBe(false);
    expect(cell.addrGen).toBe(addrGen);
  });

  test('a full table hands out private cells instead of failing', () => {
    const mem = allocateTargetTable(1);
    const t = new TargetTable(mem);
    const slots = new Int32Array(mem.buffer)[1]!;
    for (let i = 0; i < slots; i++) t.cell('g', `http://h:${i}`);
    expect(t.overflowed).toBe(0);
    const extra = t.cell('g', 'http://h:extra');
    expect(t.overflowed).toBe(1);
    extra.setState(STATE_UNHEALTHY, null);
    expect(extra.state).toBe(STATE_UNHEALTHY);
  });
});

describe('DNS answers', () => {
  test.each<[number | undefined, number]>([
    [30, 30_000],
    [0, 5000],
    [1, 5000],
    [86_400, 300_000],
    [undefined, 300_000],
  ])('TTL %s s is used for %i ms (min 5 s, max 5 min; no TTL: the max)', (ttl, ms) => {
    expect(answerLifetime(ttl, 5000, 300_000)).toBe(ms);
  });
});

describe('claim lock', () => {
  test('a claim lock left by a dead worker is freed by the primary; a live holder\'s is not', async () => {
    const { releaseClaimsOf } = await import('../../src/shm/segments.js');
    const mem = allocateTargetTable(1);
    const ints = new Int32Array(mem.buffer);
    ints[2] = 7 + 1; // thread 7 died holding it
    const shm = { cache: null, targets: mem, rollouts: null };
    releaseClaimsOf(shm, 8);
    expect(ints[2]).toBe(8);
    releaseClaimsOf(shm, 7);
    expect(ints[2]).toBe(0);
    expect(new TargetTable(mem).cell('g', 'http://a').state).toBe(STATE_PENDING);
    expect(new TargetTable(mem).overflowed).toBe(0);
  });
});
