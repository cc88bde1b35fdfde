// The seconds handed to uWS for a configured client-side timeout: never early on its 4-second tick.
import { describe, expect, test } from 'vitest';
import { uwsTimeoutSeconds } from '../../src/downstream/server.js';

describe('uwsTimeoutSeconds', () => {
  test.each([
    [1, 8], [4000, 8], [5000, 12], [8000, 12], [10_000, 16], [60_000, 64], [61_000, 68],
  ])('%i ms → %i s', (ms, s) => {
    expect(uwsTimeoutSeconds(ms)).toBe(s);
  });

  test('uWS closes a socket given S seconds in (4(⌈S/4⌉−1), 4⌈S/4⌉]: the earliest close is never before the configured time, the latest at most 8 s after', () => {
    for (let ms = 1; ms <= 300_000; ms += 250) {
      const ticks = Math.ceil(uwsTimeoutSeconds(ms) / 4);
      expect(4 * (ticks - 1) * 1000).toBeGreaterThanOrEqual(ms);
      expect(4 * ticks * 1000 - ms).toBeLessThanOrEqual(8000);
    }
  });
});
