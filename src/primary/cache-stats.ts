// How full the shared cache is, read by the primary straight from the index (shm/layout.ts):
// live entries are slots with a key whose bytes the ring has not reused yet. A few
// microseconds per thousand slots, read at scrape or admin-request time, never on a request.
import {
  INDEX_CURSOR_I64, INDEX_HEADER_BYTES, INDEX_SLOTS, SLOT_EXPIRES, SLOT_HASH_HI, SLOT_HASH_LO, SLOT_INTS, SLOT_LENGTH,
  SLOT_POS_HI, SLOT_POS_LO, type CacheMemory,
} from '../shm/layout.js';

export interface CacheFill {
  readonly sizeBytes: number;
  readonly entries: number;
  /** Of which past their freshness (kept for revalidation). */
  readonly stale: number;
  readonly storedBytes: number;
  /** Bytes ever written to the ring (wraps past sizeBytes as old entries make room). */
  readonly writtenBytes: number;
}

export function cacheFill(mem: CacheMemory, nowSeconds = Date.now() / 1000): CacheFill {
  const header = new Int32Array(mem.index, 0, INDEX_HEADER_BYTES / 4);
  const slots = new Int32Array(mem.index, INDEX_HEADER_BYTES, header[INDEX_SLOTS]! * SLOT_INTS);
  const cursor = Number(Atomics.load(new BigInt64Array(mem.index, 0, INDEX_HEADER_BYTES / 8), INDEX_CURSOR_I64));
  const size = mem.arena.byteLength;
  let entries = 0;
  let stale = 0;
  let stored = 0;
  for (let base = 0; base < slots.length; base += SLOT_INTS) {
    if (slots[base + SLOT_HASH_HI] === 0 && slots[base + SLOT_HASH_LO] === 0) continue;
    const pos = (slots[base + SLOT_POS_HI]! >>> 0) * 0x1_0000_0000 + (slots[base + SLOT_POS_LO]! >>> 0);
    if (pos < cursor - size) continue;
    entries++;
    stored += slots[base + SLOT_LENGTH]! >>> 0;
    if ((slots[base + SLOT_EXPIRES]! >>> 0) < nowSeconds) stale++;
  }
  return { sizeBytes: size, entries, stale, storedBytes: stored, writtenBytes: cursor };
}
