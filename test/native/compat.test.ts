// The C23 functions uWS's binary calls (native/compat.cc on glibc < 2.38, glibc's own from 2.38),
// through the addon's c23strtol test hook: a table of the cases C23 defines, and a seeded sweep
// against a reference model of C23 strtol/strtoul written from the standard (N3096 §7.24.1.7).
import { describe, expect, test } from 'vitest';
import { openAddon } from '../../src/native/addon.js';
import { uwsGlibc } from '../../src/uws/glibc.js';
import { makeRng } from '../helpers/prng.js';

const addon = openAddon();
const c23 = addon.c23strtol!;

const LONG_MAX = 2n ** 63n - 1n;
const LONG_MIN = -(2n ** 63n);
const ULONG_MAX = 2n ** 64n - 1n;

function digitValue(c: string | undefined): number {
  if (c === undefined) return 99;
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

/** C23 strtol (unsigned: strtoul) in the "C" locale: [value, chars read, ERANGE]. */
function reference(text: string, base: number, unsigned: boolean): [string, number, boolean] {
  let i = 0;
  while (i < text.length && ' \t\n\v\f\r'.includes(text[i]!)) i++;
  let negative = false;
  if (text[i] === '+' || text[i] === '-') { negative = text[i] === '-'; i++; }
  let b = base;
  const prefixed = (letter: RegExp, digitOk: (c: string | undefined) => boolean): boolean =>
    text[i] === '0' && letter.test(text[i + 1] ?? '') && digitOk(text[i + 2]);
  if ((b === 0 || b === 16) && prefixed(/[xX]/, (c) => digitValue(c) < 16)) { i += 2; b = 16; }
  else if ((b === 0 || b === 2) && prefixed(/[bB]/, (c) => c === '0' || c === '1')) { i += 2; b = 2; }
  else if (b === 0) b = text[i] === '0' ? 8 : 10;
  let acc = 0n;
  const start = i;
  while (digitValue(text[i]) < b) { acc = acc * BigInt(b) + BigInt(digitValue(text[i])); i++; }
  if (i === start) return ['0', 0, false]; // no subject sequence: nothing read
  if (unsigned) {
    if (acc > ULONG_MAX) return [String(ULONG_MAX), i, true];
    return [String(negative ? (2n ** 64n - acc) % 2n ** 64n : acc), i, false];
  }
  if (negative) return acc > -LONG_MIN ? [String(LONG_MIN), i, true] : [String(-acc), i, false];
  return acc > LONG_MAX ? [String(LONG_MAX), i, true] : [String(acc), i, false];
}

test('the hook exists where uWS needs the functions (glibc)', () => {
  expect(typeof addon.c23strtol).toBe(uwsGlibc.glibcVersion() === null ? 'undefined' : 'function');
});

describe('__isoc23_strtol / __isoc23_strtoul', () => {
  test.each([
    // text, base, unsigned, value, chars read, ERANGE
    ['12345', 10, false, '12345', 5, false],
    ['  -42xyz', 10, false, '-42', 5, false],
    ['+7', 10, false, '7', 2, false],
    ['0x1F', 16, false, '31', 4, false],
    ['0x1F', 0, false, '31', 4, false],
    ['ff', 16, false, '255', 2, false],
    ['017', 0, false, '15', 3, false],
    ['0b101', 0, false, '5', 5, false],
    ['0b101', 2, false, '5', 5, false],
    ['0B101', 2, false, '5', 5, false],
    ['101', 2, false, '5', 3, false],
    ['-0b101', 0, false, '-5', 6, false],
    ['+0b11', 2, false, '3', 5, false],
    ['  0b11 rest', 0, false, '3', 6, false],
    ['0b101', 10, false, '0', 1, false], // base 10: "0", then 'b' stops it
    ['0b101', 16, false, '45313', 5, false], // base 16: b is a digit
    ['0b2', 0, false, '0', 1, false], // no binary digit after the prefix: the "0" alone
    ['0b', 2, false, '0', 1, false],
    ['0x', 16, false, '0', 1, false],
    ['', 10, false, '0', 0, false],
    ['-', 10, false, '0', 0, false],
    ['xyz', 0, false, '0', 0, false],
    // Limits and overflow: clamped, ERANGE, the end past every digit.
    ['9223372036854775807', 10, false, String(LONG_MAX), 19, false],
    ['9223372036854775808', 10, false, String(LONG_MAX), 19, true],
    ['-9223372036854775808', 10, false, String(LONG_MIN), 20, false],
    ['-9223372036854775809', 10, false, String(LONG_MIN), 20, true],
    [`0b${'1'.repeat(63)}`, 0, false, String(LONG_MAX), 65, false],
    [`0b1${'0'.repeat(63)}`, 0, false, String(LONG_MAX), 66, true],
    [`-0b1${'0'.repeat(63)}`, 2, false, String(LONG_MIN), 67, false],
    [`-0b1${'0'.repeat(63)}1`, 2, false, String(LONG_MIN), 68, true],
    [`0b${'1'.repeat(64)}`, 0, true, String(ULONG_MAX), 66, false],
    [`0b${'1'.repeat(65)}`, 0, true, String(ULONG_MAX), 67, true],
    [`0b${'1'.repeat(200)}`, 2, false, String(LONG_MAX), 202, true],
    ['-0b1', 0, true, String(ULONG_MAX), 4, false], // strtoul negates in the unsigned type
    ['-1', 10, true, String(ULONG_MAX), 2, false],
    ['18446744073709551616', 10, true, String(ULONG_MAX), 20, true],
  ] as const)('%j base %i unsigned %s → %s, %i read, ERANGE %s', (text, base, unsigned, value, read, range) => {
    expect(c23(text, base, unsigned)).toEqual([value, read, range]);
    // The model agrees with every row (so the sweep below checks the same thing).
    expect(reference(text, base, unsigned)).toEqual([value, read, range]);
  });

  test('a seeded sweep of 20,000 strings agrees with the C23 model (binary, hex, octal, signs, overflow)', () => {
    const rng = makeRng(0xc23);
    // Spaces, a sign, a prefix (or junk where one would be), then digits and junk.
    const pieces = [' ', '+', '-', '0', '1', '0b', 'b', 'x', '7', '9', 'a', 'f', 'z', '2', '1'.repeat(40), '0'.repeat(30), 'F'.repeat(17)];
    const seen = { accepted: 0, binary: 0, hex: 0, overflow: 0, negative: 0 };
    for (let n = 0; n < 20_000; n++) {
      let text = rng.chance(0.2) ? rng.pick([' ', '\t', ' \n ']) : '';
      if (rng.chance(0.4)) text += rng.pick(['+', '-']);
      text += rng.weighted([[3, '0b'], [1, '0B'], [2, '0x'], [1, '0X'], [2, '0'], [1, 'b'], [3, '']] as const);
      const parts = rng.int(0, 4);
      for (let k = 0; k < parts; k++) text += rng.pick(pieces);
      const base = rng.pick([0, 0, 0, 2, 2, 8, 10, 16, 36]);
      const unsigned = rng.chance(0.5);
      const want = reference(text, base, unsigned);
      const got = c23(text, base, unsigned);
      if (got[0] !== want[0] || got[1] !== want[1] || got[2] !== want[2]) {
        throw new Error(`c23strtol(${JSON.stringify(text)}, ${base}, ${unsigned}) = ${JSON.stringify(got)}, C23 says ${JSON.stringify(want)}`);
      }
      if (want[1] > 0) seen.accepted++;
      if (want[1] > 0 && (base === 0 || base === 2) && /^\s*[+-]?0[bB][01]/.test(text)) seen.binary++;
      if (want[1] > 0 && (base === 0 || base === 16) && /^\s*[+-]?0[xX][0-9a-fA-F]/.test(text)) seen.hex++;
      if (want[2]) seen.overflow++;
      if (want[1] > 0 && want[0].startsWith('-')) seen.negative++;
    }
    // The sweep is only worth something if it reached each kind of input many times.
    expect(seen.accepted).toBeGreaterThan(12_000);
    expect(seen.binary).toBeGreaterThan(500);
    expect(seen.hex).toBeGreaterThan(700);
    expect(seen.overflow).toBeGreaterThan(1_000);
    expect(seen.negative).toBeGreaterThan(400);
  });
});
