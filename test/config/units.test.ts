import { describe, expect, test } from 'vitest';
import { parseDuration, parseSize } from '../../src/config/units.js';

describe('parseSize', () => {
  test.each([
    [512, 512],
    ['512', 512],
    ['512B', 512],
    ['10KB', 10_000],
    ['10MB', 10_000_000],
    ['1GB', 1_000_000_000],
    ['32KiB', 32 * 1024],
    ['64MiB', 64 * 1024 ** 2],
    ['1GiB', 1024 ** 3],
    ['32kib', 32 * 1024],
    [' 1.5 KiB ', 1536],
  ])('%j is %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  test.each([['12 XB'], ['KiB'], ['-1'], ['1e3'], [1.5]])('%j is refused', (input) => {
    expect(parseSize(input)).toHaveProperty('error');
  });
});

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each([
    [10, 'durations need a unit, e.g. "10s" or "10ms"'],
    ['10', 'invalid duration "10"'],
    ['10 s', 'invalid duration'],
    ['ten seconds', 'invalid duration'],
    ['', 'invalid duration'],
    ['25d', 'invalid duration'],
    ['600h', 'too long'],
  ])('%j is refused: %s', (input, message) => {
    const r = parseDuration(input);
    expect(r).toHaveProperty('error');
    expect((r as { error: string }).error).toContain(message);
  });
});
