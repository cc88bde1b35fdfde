// A small seeded PRNG for randomised tests (mulberry32): the same seed gives the same
// sequence on every machine, so a failing run is replayed by its seed alone. Plus a fast
// deterministic byte generator (xorshift32 per 32-bit word) for bodies checked by hash.

export interface Rng {
  /** Uniform integer in [0, 2^32). */
  u32(): number;
  /** Uniform float in [0, 1). */
  float(): number;
  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Picks from [weight, value] pairs in proportion to the weights. */
  weighted<T>(items: readonly (readonly [number, T])[]): T;
}

export function makeRng(seed: number): Rng {
  let a = seed >>> 0;
  const u32 = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const float = (): number => u32() / 4294967296;
  return {
    u32,
    float,
    int: (lo, hi) => lo + Math.floor(float() * (hi - lo + 1)),
    chance: (p) => float() < p,
    pick: (items) => items[Math.floor(float() * items.length)]!,
    weighted: (items) => {
      let total = 0;
      for (const [w] of items) total += w;
      let r = float() * total;
      for (const [w, v] of items) {
        if (r < w) return v;
        r -= w;
      }
      return items[items.length - 1]![1];
    },
  };
}

/** n pseudo-random bytes fully determined by (n, seed); a one-byte shift changes the hash. */
export function seededBytes(n: number, seed: number): Buffer {
  const words = Math.ceil(n / 4);
  const ab = new ArrayBuffer(words * 4);
  const w = new Uint32Array(ab);
  // xorshift32 must not start at 0.
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < words; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    w[i] = x;
  }
  return Buffer.from(ab, 0, n);
}
