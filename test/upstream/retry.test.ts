// Which failed tries may be sent again, and the per-route budget that caps retries to a share
// of the traffic.
import { describe, expect, test } from 'vitest';
import { MIN_RETRIES, replayable, RetryBudget } from '../../src/upstream/retry.js';

describe('replayable', () => {
  test.each<[string, Parameters<typeof replayable>, boolean]>([
    ['a POST that never connected (nothing was sent)', ['connect', 'POST', true, 0], true],
    ['a POST with a body already sent', ['reset', 'POST', true, 10], false],
    ['a POST whose body was sent (status retry)', [503, 'POST', true, 10], false],
    ['a bodiless POST that reached the upstream', ['reset', 'POST', false, 0], false],
    ['a bodiless POST answered 503', [503, 'POST', false, 0], false],
    ['a POST whose head went out but no body byte yet', ['reset', 'POST', true, 0], true],
    ['a GET reset before the answer', ['reset', 'GET', false, 0], true],
    ['a GET that timed out', ['timeout', 'GET', false, 0], true],
    ['a PUT whose body was sent', ['timeout', 'PUT', true, 5], false],
    ['a DELETE answered 502', [502, 'DELETE', false, 0], true],
    ['a PATCH reset (not idempotent)', ['reset', 'PATCH', false, 0], false],
  ])('%s → %s', (_n, args, expected) => {
    expect(replayable(...args)).toBe(expected);
  });
});

describe('retry budget', () => {
  test(`a quiet route still gets ${MIN_RETRIES} retries per 10 s`, () => {
    const b = new RetryBudget(0.2);
    const now = 1_000_000;
    for (let i = 0; i < MIN_RETRIES; i++) expect(b.tryRetry(now)).toBe(true);
    expect(b.tryRetry(now)).toBe(false);
  });

  test('retries stay within the share of the last 10 s of requests', () => {
    const b = new RetryBudget(0.2);
    const now = 2_000_000;
    for (let i = 0; i < 100; i++) b.onRequest(now + i * 10);
    let granted = 0;
    for (let i = 0; i < 50; i++) if (b.tryRetry(now + 1000)) granted++;
    expect(granted).toBe(20);
  });

  test('the window slides: old requests and retries stop counting after 10 s', () => {
    const b = new RetryBudget(0.5);
    const now = 3_000_000;
    for (let i = 0; i < 40; i++) b.onRequest(now);
    for (let i = 0; i < 20; i++) expect(b.tryRetry(now)).toBe(true);
    expect(b.tryRetry(now + 5000)).toBe(false);
    // 10 s later the spent retries and the requests that paid for them are both gone.
    expect(b.tryRetry(now + 10_500)).toBe(true);
    let granted = 1;
    while (b.tryRetry(now + 10_600)) granted++;
    expect(granted).toBe(MIN_RETRIES);
  });
});
