// The per-connection budget of streams an HTTP/2 client may give up (rapid reset): a burst,
// then a sustained rate, both stricter than nghttp2's own limit (1,000, then 33 a second).
import { expect, test } from 'vitest';
import { RESET_BURST, RESET_RATE, ResetBudget } from '../../src/h2/reset-budget.js';

test('a burst of RESET_BURST passes, the next one does not', () => {
  const b = new ResetBudget(0);
  for (let i = 0; i < RESET_BURST; i++) expect(b.take(0)).toBe(true);
  expect(b.take(0)).toBe(false);
});

test('spent, it refills at RESET_RATE a second and never above the burst', () => {
  const b = new ResetBudget(0);
  for (let i = 0; i < RESET_BURST; i++) b.take(0);
  // One second later: exactly RESET_RATE more.
  for (let i = 0; i < RESET_RATE; i++) expect(b.take(1000)).toBe(true);
  expect(b.take(1000)).toBe(false);
  // An hour idle gives back the burst, no more.
  let n = 0;
  while (b.take(3_600_000)) n++;
  expect(n).toBe(RESET_BURST);
});

test('stricter than nghttp2 in burst and rate, so it is spent first', () => {
  expect(RESET_BURST).toBeLessThan(1000);
  expect(RESET_RATE).toBeLessThan(33);
  // A browser leaving a page cancels at most the 128 streams it may have open.
  expect(RESET_BURST).toBeGreaterThan(128);
});
