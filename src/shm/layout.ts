// Every SharedArrayBuffer the primary allocates and the workers share, with its layout.
// Nothing else in the code knows these offsets: cache/table.ts reads and writes through
// the names below.
//
// ── Cache index (CacheMemory.index) ───────────────────────────────────────────────────
//
//   byte 0                16          24     28     64                 64 + 32·SLOTS
//   ┌──────┬──────┬──────┬──────┬───────────┬──────┬──────┬──────────┬─────────────────┬──────────────────┐
//   │MAGIC │SLOTS │ LOCK │ (0)  │  CURSOR   │FLOCK │FILLS │(reserved)│ slot 0 … SLOTS-1│ fill 0 … FILLS-1 │
//   │ i32  │ i32  │ i32  │ i32  │ i64 bytes │ i32  │ i32  │          │ 32 B each       │ 32 B each        │
//   └──────┴──────┴──────┴──────┴───────────┴──────┴──────┴──────────┴─────────────────┴──────────────────┘
//   LOCK    0 free, else threadId + 1 of the one writer storing (reserve, copy, publish)
//           or removing; never held across an await; readers never take it
//   CURSOR  bytes ever reserved in the arena ring: the arena holds the last `size` of them
//   FLOCK   the fill-marker lock (same encoding as LOCK): held for a few loads and stores
//           while a marker is looked up, claimed or released, never during a copy
//
//   slot (8 × i32):
//   ┌─────┬────────┬────────┬───────┬───────┬────────┬─────────┬───────┐
//   │ SEQ │ HASH_HI│ HASH_LO│ POS_HI│ POS_LO│ LENGTH │ EXPIRES │ FLAGS │
//   └─────┴────────┴────────┴───────┴───────┴────────┴─────────┴───────┘
//   SEQ      seqlock: odd while the writer edits the slot; a reader retries on a change
//   HASH     64-bit key hash; 0/0 = empty
//   POS      absolute ring position of the entry (hi × 2^32 + lo; < 2^53)
//   LENGTH   entry bytes
//   EXPIRES  unix seconds when the entry turns stale (eviction prefers stale entries)
//   FLAGS    bit 0: soft-purged (stale from now on, whatever its lifetime); a new entry
//            published in the slot starts at 0
//
//   fill marker (8 × i32): "a response for this key is being fetched" (request collapsing).
//   A miss claims the marker for its key; concurrent misses in any worker find it and wait
//   (Atomics.waitAsync on WAKE, never Atomics.wait) until the filler publishes or gives up.
//   ┌──────┬────────┬────────┬───────┬──────────┬─────────────┐
//   │ WAKE │ HASH_HI│ HASH_LO│ OWNER │ DEADLINE │ (reserved)  │
//   └──────┴────────┴────────┴───────┴──────────┴─────────────┘
//   WAKE     incremented (and notified) each time the marker is released
//   HASH     the key hash being filled; 0/0 = free
//   OWNER    threadId + 1 of the filler (the primary clears a dead worker's markers)
//   DEADLINE unix seconds after which the marker is void (a filler that never came back)

// ── Cache arena (CacheMemory.arena) ───────────────────────────────────────────────────
//
//   a ring of `size` bytes; an entry is contiguous (a tail too short for it is skipped):
//   ┌──────────┬─────────┬─────────┬──────────┬────────────────────┬──────────────┐
//   │ LENGTH   │ HASH_HI │ HASH_LO │ META_LEN │ meta (msgpackr)    │ body         │
//   │ u32      │ u32     │ u32     │ u32      │ META_LEN, padded   │ the rest     │
//   │          │         │         │          │ to 8 bytes         │ (8-aligned)  │
//   └──────────┴─────────┴─────────┴──────────┴────────────────────┴──────────────┘
//   An entry at absolute position P is intact while CURSOR − size ≤ P: writers move the
//   cursor (under LOCK) before they write, so a reader checks that after it has read.

/** "PCC2": the index was laid out by this version of the code. */
export const CACHE_MAGIC = 0x50434332;

export const INDEX_HEADER_BYTES = 64;
/** Int32 positions in the index header. */
export const INDEX_MAGIC = 0;
export const INDEX_SLOTS = 1;
export const INDEX_LOCK = 2;
/** BigInt64 position of the cursor (byte 16). */
export const INDEX_CURSOR_I64 = 2;
export const INDEX_FILL_LOCK = 6;
export const INDEX_FILLS = 7;

export const SLOT_INTS = 8;
export const SLOT_BYTES = SLOT_INTS * 4;
export const SLOT_SEQ = 0;
export const SLOT_HASH_HI = 1;
export const SLOT_HASH_LO = 2;
export const SLOT_POS_HI = 3;
export const SLOT_POS_LO = 4;
export const SLOT_LENGTH = 5;
export const SLOT_EXPIRES = 6;
export const SLOT_FLAGS = 7;
/** SLOT_FLAGS bit: soft-purged. */
export const FLAG_SOFT_PURGED = 1;

export const FILL_INTS = 8;
export const FILL_BYTES = FILL_INTS * 4;
export const FILL_WAKE = 0;
export const FILL_HASH_HI = 1;
export const FILL_HASH_LO = 2;
export const FILL_OWNER = 3;
export const FILL_DEADLINE = 4;
/** Fill markers: how many different keys can be filled at once with collapsing (a power of two). */
export const FILL_SLOTS = 4096;

export const ENTRY_HEADER_BYTES = 16;
/** Uint32 positions in an entry header. */
export const ENTRY_LENGTH = 0;
export const ENTRY_HASH_HI = 1;
export const ENTRY_HASH_LO = 2;
export const ENTRY_META_LEN = 3;
/** Entries start on 8-byte boundaries so their headers can be read as aligned u32s. */
export const ENTRY_ALIGN = 8;

/** The cache's two shared buffers, handed to every worker in workerData. */
export interface CacheMemory {
  readonly index: SharedArrayBuffer;
  readonly arena: SharedArrayBuffer;
}

/** About one slot per 2 KiB of arena, as a power of two (probing masks with it). */
export function slotCountFor(arenaBytes: number): number {
  let n = 1024;
  while (n < arenaBytes / 2048 && n < 1 << 22) n *= 2;
  return n;
}

/** Allocated once, by the primary (or a test); zero-filled memory is an empty cache. */
export function allocateCacheMemory(arenaBytes: number): CacheMemory {
  const size = Math.floor(arenaBytes / ENTRY_ALIGN) * ENTRY_ALIGN;
  const slots = slotCountFor(size);
  const index = new SharedArrayBuffer(INDEX_HEADER_BYTES + slots * SLOT_BYTES + FILL_SLOTS * FILL_BYTES);
  const header = new Int32Array(index, 0, INDEX_HEADER_BYTES / 4);
  header[INDEX_MAGIC] = CACHE_MAGIC;
  header[INDEX_SLOTS] = slots;
  header[INDEX_FILLS] = FILL_SLOTS;
  return { index, arena: new SharedArrayBuffer(size) };
}
