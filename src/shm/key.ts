// Stable 64-bit keys for shared-memory slots, from the names that identify what a slot holds
// (upstream name + target URL, route + canary): the same name finds the same slot in every
// worker, after a worker restart and after a config reload.

/** FNV-1a over UTF-16 code units with the given offset basis, finished with murmur3's fmix32. */
function fnv32(text: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two independent 32-bit halves, never both 0 (0/0 marks a free slot). As i32 values. */
export function slotKey(text: string): readonly [hi: number, lo: number] {
  const hi = fnv32(text, 0x811c9dc5) | 0;
  const lo = fnv32(text, 0x050c5d1f) | 0;
  return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
}
