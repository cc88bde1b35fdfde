// Reuse of a stored response (src/cache/reuse.ts) and byte ranges (src/cache/range.ts) as
// tables: fresh, stale-while-revalidate, max-stale, revalidate, the request's limits, what
// forbids stale use, stale-if-error windows; single ranges, suffixes, 416 and what is ignored.
import { describe, expect, test } from 'vitest';
import { parseCacheControl } from '../../src/cache/directives.js';
import { byteRange } from '../../src/cache/range.js';
import { mayServeStaleOnError, reuseOf, staleFacts, ttlOf, type StoredFreshness } from '../../src/cache/reuse.js';

const NOW = 1_800_000_000_000;
/** An entry stored `age` seconds ago (initial age 0) with `lifetime` and the given directives. */
function entry(lifetime: number, age: number, cc = ''): StoredFreshness {
  return { responseTime: NOW - age * 1000, initialAge: 0, lifetime, ...staleFacts(parseCacheControl(cc)) };
}

describe('reuseOf', () => {
  test.each<[string, StoredFreshness, string, string]>([
    ['fresh', entry(60, 10), '', 'fresh'],
    ['stale, nothing allows it', entry(60, 70), '', 'revalidate'],
    ['stale inside stale-while-revalidate', entry(60, 70, 'stale-while-revalidate=30'), '', 'stale-while-revalidate'],
    ['stale past stale-while-revalidate', entry(60, 100, 'stale-while-revalidate=30'), '', 'revalidate'],
    ['swr forbidden by must-revalidate', entry(60, 70, 'stale-while-revalidate=30, must-revalidate'), '', 'revalidate'],
    ['swr forbidden by proxy-revalidate', entry(60, 70, 'stale-while-revalidate=30, proxy-revalidate'), '', 'revalidate'],
    ['swr forbidden by s-maxage', entry(60, 70, 'stale-while-revalidate=30, s-maxage=60'), '', 'revalidate'],
    ['swr forbidden by no-cache', entry(0, 1, 'stale-while-revalidate=30, no-cache'), '', 'revalidate'],
    ['client max-stale within', entry(60, 70), 'max-stale=20', 'max-stale'],
    ['client max-stale exceeded', entry(60, 90), 'max-stale=20', 'revalidate'],
    ['client max-stale without a value', entry(60, 100_000), 'max-stale', 'max-stale'],
    ['client max-stale vs must-revalidate', entry(60, 70, 'must-revalidate'), 'max-stale=3600', 'revalidate'],
    ['client no-cache on a fresh entry', entry(60, 10), 'no-cache', 'revalidate'],
    ['client max-age=0 on a fresh entry', entry(60, 0), 'max-age=0', 'revalidate'],
    ['client max-age older than the entry', entry(60, 10), 'max-age=30', 'fresh'],
    ['client max-age younger than the entry', entry(60, 40), 'max-age=30', 'revalidate'],
    ['client min-fresh satisfied', entry(60, 10), 'min-fresh=40', 'fresh'],
    ['client min-fresh not satisfied', entry(60, 30), 'min-fresh=40', 'revalidate'],
    ['client no-cache beats swr', entry(60, 70, 'stale-while-revalidate=30'), 'no-cache', 'revalidate'],
  ])('%s', (_name, f, cc, expected) => {
    expect(reuseOf(f, parseCacheControl(cc), ttlOf(f, NOW), NOW)).toBe(expected);
  });

  test('a soft-purged entry is stale at once, but may still serve under stale-while-revalidate', () => {
    const f = entry(600, 10, 'stale-while-revalidate=30');
    expect(ttlOf(f, NOW, true)).toBe(0);
    expect(reuseOf(f, parseCacheControl(''), ttlOf(f, NOW, true), NOW)).toBe('stale-while-revalidate');
    const plain = entry(600, 10);
    expect(reuseOf(plain, parseCacheControl(''), ttlOf(plain, NOW, true), NOW)).toBe('revalidate');
  });
});

describe('mayServeStaleOnError', () => {
  test.each<[string, StoredFreshness, string, number, boolean]>([
    ['no window anywhere', entry(60, 70), '', -1, false],
    ['the response says stale-if-error, within', entry(60, 70, 'stale-if-error=30'), '', -1, true],
    ['the response says stale-if-error, past', entry(60, 100, 'stale-if-error=30'), '', -1, false],
    ['the request says stale-if-error', entry(60, 70), 'stale-if-error=30', -1, true],
    ['the configured window', entry(60, 70), '', 600, true],
    ['the configured window, past', entry(60, 1000), '', 600, false],
    ['must-revalidate forbids even the configured window', entry(60, 70, 'must-revalidate'), '', 600, false],
    ['s-maxage forbids it', entry(60, 70, 's-maxage=60, stale-if-error=600'), '', -1, false],
    ['a fresh entry (a 304 race) is usable', entry(60, 10, 'stale-if-error=0'), '', -1, true],
  ])('%s', (_name, f, cc, configured, expected) => {
    expect(mayServeStaleOnError(f, parseCacheControl(cc), configured, NOW)).toBe(expected);
  });
});

describe('byteRange', () => {
  test.each<[string, number, ReturnType<typeof byteRange>]>([
    ['bytes=0-3', 10, { start: 0, end: 3 }],
    ['bytes=2-', 10, { start: 2, end: 9 }],
    ['bytes=-3', 10, { start: 7, end: 9 }],
    ['bytes=-30', 10, { start: 0, end: 9 }],
    ['bytes=5-100', 10, { start: 5, end: 9 }],
    ['bytes=9-9', 10, { start: 9, end: 9 }],
    [' bytes = 1-2 ', 10, { start: 1, end: 2 }],
    ['BYTES=1-2', 10, { start: 1, end: 2 }],
    ['bytes=10-', 10, 'unsatisfiable'],
    ['bytes=-0', 10, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=-5', 0, 'unsatisfiable'],
    ['bytes=0-1,3-4', 10, null],
    ['bytes=3-1', 10, null],
    ['bytes=-', 10, null],
    ['bytes=a-1', 10, null],
    ['bytes 0-1', 10, null],
    ['items=0-1', 10, null],
    ['bytes=1.5-2', 10, null],
  ])('%j of %d bytes', (header, length, expected) => {
    expect(byteRange(header, length)).toEqual(expected);
  });
});
