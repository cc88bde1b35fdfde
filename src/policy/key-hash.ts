// Two independent 32-bit hashes of a key given in pieces (a policy's prefix, the client IP, a
// header value), computed incrementally so no key string is ever built: FNV-1a for the table
// index and a multiply-xorshift mix for the tag. Hot path.

export const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
export const TAG_SEED = 0x9e3779b9;

/** Two running hashes; `h` indexes the table, `t` is the tag stored in the slot. */
export class KeyHash {
  h = FNV_OFFSET;
  t = TAG_SEED;

  reset(h: number, t: number): this {
    this.h = h;
    this.t = t;
    return this;
  }

  /** Adds a string's UTF-16 code units, then a 0 separator (so "ab"+"c" ≠ "a"+"bc"). */
  add(s: string): this {
    let h = this.h;
    let t = this.t;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h = Math.imul(h ^ c, FNV_PRIME);
      t = Math.imul(t ^ c, 0x85ebca6b);
      t ^= t >>> 13;
    }
    this.h = Math.imul(h ^ 0xff, FNV_PRIME) >>> 0;
    t = Math.imul(t ^ 0xff, 0xc2b2ae35);
    this.t = (t ^ (t >>> 16)) >>> 0;
    return this;
  }

  /** The tag as stored: never 0 (0 marks an empty slot). */
  get tag(): number {
    return this.t === 0 ? 1 : this.t | 0;
  }
}

/** The hashes after `prefix`, to start each request's key from (computed once per policy). */
export function prefixHash(prefix: string): { h: number; t: number } {
  const k = new KeyHash().add(prefix);
  return { h: k.h, t: k.t };
}
