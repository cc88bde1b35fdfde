// The concurrency table: how many requests each client IP has in flight and how many
// connections each peer address holds open, across all workers (limits.max_requests_per_ip,
// limits.max_connections_per_ip: two key spaces in one table). Fixed size. Only
// policy/shared-counters.ts reads and writes it.
//
//   byte 0       4       8                                              64
//   ┌───────┬───────┬──────────────────────────────────────────────────┬────────────────┐
//   │ MAGIC │ SLOTS │ (reserved)                                       │ slot 0, 1, …   │
//   └───────┴───────┴──────────────────────────────────────────────────┴────────────────┘
//
//   slot (8 B, at byte 64 + 8 × index; 8 slots make one 64-byte set, probed together):
//   ┌─────────┬───────────┐
//   │ TAG i32 │ COUNT i32 │
//   └─────────┴───────────┘
//   TAG    second hash of the key, never 0; 0 = empty
//   COUNT  requests in flight; -1 while a thread relabels the slot for another key (only a
//          slot at 0 may be relabelled, so a count is never lost)

/** "PCC2". */
export const COUNTER_MAGIC = 0x50434332;
export const COUNTER_HEADER_BYTES = 64;
export const COUNTER_H_MAGIC = 0;
export const COUNTER_H_SLOTS = 1;
export const COUNTER_SLOT_BYTES = 8;
export const COUNTER_WAYS = 8;
export const COUNTER_SLOT_TAG = 0;
export const COUNTER_SLOT_COUNT = 1;
/** Slots: one per possible concurrent client is plenty; 64K slots = 512 KiB. */
export const COUNTER_SLOTS = 65536;

export interface CounterTableMemory {
  readonly table: SharedArrayBuffer;
}

export function allocateCounterTable(slots = COUNTER_SLOTS): CounterTableMemory {
  let n = COUNTER_WAYS;
  while (n < slots) n *= 2;
  const table = new SharedArrayBuffer(COUNTER_HEADER_BYTES + n * COUNTER_SLOT_BYTES);
  const i32 = new Int32Array(table);
  i32[COUNTER_H_SLOTS] = n;
  Atomics.store(i32, COUNTER_H_MAGIC, COUNTER_MAGIC);
  return { table };
}
