// Every SharedArrayBuffer the primary allocates and the workers share, with its layout.
// Nothing else in the code knows these offsets: cache/table.ts reads and writes through
// the names below.
//
// ── Cache index (CacheMemory.index) ───────────────────────────────────────────────────
//
//   byte 0                16                24              64
//   ┌──────┬──────┬──────┬──────┬───────────┬───────────────┬──────────────────────────┐
//   │MAGIC │SLOTS │ LOCK │ (0)  │  CURSOR   │   (reserved)  │ slot 0 │ slot 1 │ …       │
//   │ i32  │ i32  │ i32  │ i32  │ i64 bytes │               │ 32 B each, SLOTS of them │
//   └──────┴──────┴──────┴──────┴───────────┴───────────────┴──────────────────────────┘
//   LOCK    0 free, else threadId + 1 of the one writer storing (reserve, copy, publish)
//           or removing; never held across an await; readers never take it
//   CURSOR  bytes ever reserved in the arena ring: the arena holds the last `size` of them
//
//   slot (8 × i32):
//   ┌─────┬────────┬────────┬───────┬───────┬────────┬─────────┬─────┐
//   │ SEQ │ HASH_HI│ HASH_LO│ POS_HI│ POS_LO│ LENGTH │ EXPIRES │ (0) │
//   └─────┴────────┴────────┴───────┴───────┴────────┴─────────┴─────┘
//   SEQ      seqlock: odd while the writer edits the slot; a reader retries on a change
//   HASH     64-bit key hash; 0/0 = empty
//   POS      absolute ring position of the entry (hi × 2^32 + lo; < 2^53)
//   LENGTH   entry bytes
//   EXPIRES  unix seconds when the entry turns stale (eviction prefers stale entries)
//
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

/** "PCC1": the index was laid out by this version of the code. */
export const CACHE_MAGIC = 0x50434331;

export const INDEX_HEADER_BYTES = 64;
/** Int32 positions in the index header. */
export const INDEX_MAGIC = 0;
export const INDEX_SLOTS = 1;
export const INDEX_LOCK = 2;
/** BigInt64 position of the cursor (byte 16). */
export const INDEX_CURSOR_I64 = 2;

export const SLOT_INTS = 8;
export const SLOT_BYTES = SLOT_INTS * 4;
export const SLOT_SEQ = 0;
export const SLOT_HASH_HI = 1;
export const SLOT_HASH_LO = 2;
export const SLOT_POS_HI = 3;
export const SLOT_POS_LO = 4;
export const SLOT_LENGTH = 5;
export const SLOT_EXPIRES = 6;

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
  const index = new SharedArrayBuffer(INDEX_HEADER_BYTES + slots * SLOT_BYTES);
  const header = new Int32Array(index, 0, INDEX_HEADER_BYTES / 4);
  header[INDEX_MAGIC] = CACHE_MAGIC;
  header[INDEX_SLOTS] = slots;
  return { index, arena: new SharedArrayBuffer(size) };
}
