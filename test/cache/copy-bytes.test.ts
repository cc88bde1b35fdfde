// copyBytes moves bytes between the shared arena and private buffers with 8-byte elements
// where it can: every offset, length and alignment must come out byte-exact, both ways.
import { describe, expect, test } from 'vitest';
import { copyBytes } from '../../src/cache/store.js';
import { makeRng, seededBytes } from '../helpers/prng.js';

describe('copyBytes', () => {
  const shared = new Uint8Array(new SharedArrayBuffer(256 * 1024));
  const source = seededBytes(shared.length, 7);
  shared.set(source);

  test('a random sweep of offsets and lengths, shared → private and private → shared', () => {
    const rng = makeRng(42);
    for (let i = 0; i < 2000; i++) {
      const n = rng.int(0, 40_000);
      const srcOff = rng.int(0, shared.length - n);
      const dst = Buffer.alloc(n + 32);
      const dstOff = rng.int(0, 16);
      copyBytes(dst, dstOff, shared, srcOff, n);
      expect(dst.subarray(dstOff, dstOff + n).equals(source.subarray(srcOff, srcOff + n))).toBe(true);
      expect(dst.subarray(0, dstOff).every((b) => b === 0)).toBe(true);
      expect(dst.subarray(dstOff + n).every((b) => b === 0)).toBe(true);

      const back = new Uint8Array(new SharedArrayBuffer(n + 32));
      const backOff = rng.int(0, 16);
      copyBytes(back, backOff, dst, dstOff, n);
      expect(Buffer.from(back.subarray(backOff, backOff + n)).equals(source.subarray(srcOff, srcOff + n))).toBe(true);
    }
  });

  test('bytes that read as NaN doubles are copied exactly', () => {
    const nan = Buffer.alloc(4096);
    for (let i = 0; i < nan.length; i += 8) nan.writeBigUInt64LE(0x7ff8_dead_beef_0001n + BigInt(i), i);
    const arena = new Uint8Array(new SharedArrayBuffer(8192));
    copyBytes(arena, 64, nan, 0, nan.length);
    const out = Buffer.alloc(nan.length);
    copyBytes(out, 0, arena, 64, nan.length);
    expect(out.equals(nan)).toBe(true);
  });
});
