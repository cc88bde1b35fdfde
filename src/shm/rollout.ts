// The shared canary windows: per canary (route + canary group + a fingerprint of its config),
// a sliding window of request outcomes and latencies that every worker adds to, and the
// rolled-back flag they all obey. Only src/upstream/rollout.ts reads and writes through these names.
//
// ── Header (64 B) ─────────────────────────────────────────────────────────────────────────
//   i32:  MAGIC │ SLOTS │ LOCK │ (reserved × 13)
//   LOCK   0 free, 1 while a slot is claimed for a new key (spun on, never waited)
//
// ── Slot (SLOT_INTS × i32) ────────────────────────────────────────────────────────────────
//   ┌────────┬────────┬─────────────┬────────────┬──────────────┬───────────────┬────────────────────────────────┐
//   │ KEY_HI │ KEY_LO │ ROLLED_BACK │ (reserved) │ bucket 0     │ bucket 1      │ … BUCKETS of them              │
//   └────────┴────────┴─────────────┴────────────┴──────────────┴───────────────┴────────────────────────────────┘
//   KEY          64-bit hash of route name + canary group + canary config; 0/0 = free. A changed
//                config is another key: a fresh window, not rolled back
//   ROLLED_BACK  0 serving, 1 rolled back (set once, by compareExchange: the winner logs it)
//
//   bucket (BUCKET_INTS × i32): window / BUCKETS ms of outcomes, reused round robin
//   ┌───────┬───────┬────────┬─────────────────────────────────────────────┐
//   │ EPOCH │ COUNT │ ERRORS │ LATENCY[LAT_BUCKETS]                        │
//   └───────┴───────┴────────┴─────────────────────────────────────────────┘
//   EPOCH    floor(now / bucket ms) mod 2^31 this bucket counts for; a writer that finds an older
//            epoch claims it (compareExchange) and zeroes the counts
//   LATENCY  requests by time to the response head: bucket i holds (LAT_BASE × LAT_RATIO^(i−1),
//            LAT_BASE × LAT_RATIO^i] ms (i = 0: up to LAT_BASE ms; the last: everything above)

export const ROLLOUT_MAGIC = 0x50435231; // "PCR1"

export const HEADER_INTS = 16;
export const HEADER_BYTES = HEADER_INTS * 4;
export const H_MAGIC = 0;
export const H_SLOTS = 1;
export const H_LOCK = 2;

export const BUCKETS = 10;
export const LAT_BUCKETS = 128;
/** ms of the first latency bucket's upper bound; each next bound is LAT_RATIO times larger (≈ 3 minutes at the end). */
export const LAT_BASE = 1;
export const LAT_RATIO = 1.1;

export const B_EPOCH = 0;
export const B_COUNT = 1;
export const B_ERRORS = 2;
export const B_LATENCY = 3;
export const BUCKET_INTS = B_LATENCY + LAT_BUCKETS;

export const S_KEY_HI = 0;
export const S_KEY_LO = 1;
export const S_ROLLED_BACK = 2;
export const S_BUCKETS = 4;
export const SLOT_INTS = S_BUCKETS + BUCKETS * BUCKET_INTS;

export const ROLLOUT_SLOTS = 64;

export interface RolloutMemory {
  readonly buffer: SharedArrayBuffer;
}

export function allocateRollouts(slots = ROLLOUT_SLOTS, shared = true): RolloutMemory {
  const bytes = HEADER_BYTES + slots * SLOT_INTS * 4;
  const buffer = (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)) as SharedArrayBuffer;
  const header = new Int32Array(buffer, 0, HEADER_INTS);
  header[H_MAGIC] = ROLLOUT_MAGIC;
  header[H_SLOTS] = slots;
  return { buffer };
}
