// The rate-limit table: token buckets of every worker in one SharedArrayBuffer, so N workers
// enforce one limit, not N. Fixed size whatever the number of keys. Only policy/shared-limiter.ts
// reads and writes it, through the names below.
//
//   byte 0       4       8                16                                  64
//   ┌───────┬───────┬────────────────┬────────────────────────────────────┬──────────────┐
//   │ MAGIC │ SLOTS │ EPOCH f64 (ms) │ (reserved)                         │ slot 0, 1, … │
//   │ i32   │ i32   │ monotonic clock│                                    │ 16 B each    │
//   └───────┴───────┴────────────────┴────────────────────────────────────┴──────────────┘
//   EPOCH   the process's monotonic clock (ms) when the primary allocated the table; every
//           time in the table counts nanoseconds from it, so all threads agree (one clock)
//
//   slot (16 B, at byte 64 + 16 × index; 4 slots make one 64-byte set, probed together):
//   ┌─────────┬─────────┬───────────────────────────────┐
//   │ TAG i32 │ (0)     │ TAT i64                       │
//   └─────────┴─────────┴───────────────────────────────┘
//   TAG   second hash of the key, never 0; 0 = empty
//   TAT   GCRA "theoretical arrival time" of the key's next request, ns since EPOCH:
//         the whole token-bucket state in one word, updated with one compareExchange.
//         TAT ≤ now means a full bucket, the same as no entry: such a slot is free to reuse.

/** "PCR1". */
export const RATE_MAGIC = 0x50435231;
export const RATE_HEADER_BYTES = 64;
/** Int32 positions in the header. */
export const RATE_H_MAGIC = 0;
export const RATE_H_SLOTS = 1;
/** Float64 position of EPOCH (byte 8). */
export const RATE_H_EPOCH_F64 = 1;

export const RATE_SLOT_BYTES = 16;
/** Slots probed for one key: one 64-byte set. */
export const RATE_WAYS = 4;
/** Int32 offset of TAG within a slot, and BigInt64 offset of TAT within a slot. */
export const RATE_SLOT_TAG_I32 = 0;
export const RATE_SLOT_TAT_I64 = 1;

export interface RateTableMemory {
  readonly table: SharedArrayBuffer;
}

/** The process's monotonic clock in ms, the same in every thread (CLOCK_MONOTONIC). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Allocated once by the primary (or a test): slots rounded up to a power of two. */
export function allocateRateTable(slots: number): RateTableMemory {
  let n = RATE_WAYS;
  while (n < slots) n *= 2;
  const table = new SharedArrayBuffer(RATE_HEADER_BYTES + n * RATE_SLOT_BYTES);
  const i32 = new Int32Array(table);
  i32[RATE_H_SLOTS] = n;
  new Float64Array(table, 0, RATE_HEADER_BYTES / 8)[RATE_H_EPOCH_F64] = monotonicMs();
  Atomics.store(i32, RATE_H_MAGIC, RATE_MAGIC);
  return { table };
}
