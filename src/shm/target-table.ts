// The shared per-target table: health state, outlier ejection and resolved addresses of every
// upstream target, one slot per stable identity (upstream name + target URL), so that every
// worker and the primary's health checker read and write the same state and a config reload
// finds it again. Only src/upstream/health/table.ts reads and writes through these names.
//
// ── Header (64 B) ─────────────────────────────────────────────────────────────────────────
//
//   i32:  0       1       2      3      4 … 15
//   ┌───────┬───────┬──────┬──────┬───────────────┐
//   │ MAGIC │ SLOTS │ LOCK │ GEN  │ (reserved)    │
//   └───────┴───────┴──────┴──────┴───────────────┘
//   LOCK   0 free, 1 while a slot is being claimed for a new key (a few stores; spun on, never waited)
//   GEN    bumped on every change a balancer reads (health state, ejection, addresses): a worker
//          rebuilds a group's snapshot when GEN differs from the one the snapshot was built at
//
// ── Slot (224 B, SLOTS of them after the header; open addressing on the key hash) ─────────
//
//   i32 words 0–15 (64 B)
//   ┌────────┬────────┬───────┬───────┬───────────┬──────────┬────────────┬────────────┬──────────┬────────────┬──────────┬──────────┐
//   │ KEY_HI │ KEY_LO │ STATE │ FAILS │ EJECTIONS │ CHECK_OK │ CHECK_FAIL │ ADDR_STATE │ ADDR_SEQ │ ADDR_COUNT │ ADDR_FAM │ ADDR_GEN │ (4 reserved)
//   └────────┴────────┴───────┴───────┴───────────┴──────────┴────────────┴────────────┴──────────┴────────────┴──────────┴──────────┘
//   KEY        64-bit hash of "upstream\ntarget URL"; 0/0 = free
//   STATE      active health: 0 pending (no verdict yet), 1 healthy, 2 unhealthy (written by the primary)
//   FAILS      passive failures since the last success, counted from FIRST_FAIL_AT (workers)
//   EJECTIONS  ejections in a row; the n-th lasts n × passive.eject (at most 10×)
//   CHECK_OK / CHECK_FAIL   consecutive passed / failed active checks (primary)
//   ADDR_STATE 0 name used as written (no resolver), 1 resolving (no answer yet), 2 resolved,
//              3 unresolvable so far; IP-literal targets ignore it
//   ADDR_SEQ   seqlock over ADDR_COUNT, ADDR_FAM and the addresses: odd while the primary writes
//   ADDR_FAM   bit i set: address i is IPv6, else IPv4 (its first word)
//   ADDR_GEN   bumped when the addresses change: pools drop idle connections to old ones
//
//   i64 words at byte 64 (32 B): ms since the Unix epoch
//   ┌───────────────┬───────────────┬──────────────┬────────────────┐
//   │ EJECTED_UNTIL │ FIRST_FAIL_AT │ RECOVERED_AT │ LAST_EJECT_END │
//   └───────────────┴───────────────┴──────────────┴────────────────┘
//   EJECTED_UNTIL  no traffic before this (0: never ejected)
//   RECOVERED_AT   when the target last turned healthy (slow start ramps from here, or from
//                  EJECTED_UNTIL when that is later)
//   LAST_EJECT_END the end of the previous ejection: a new one soon after counts as "in a row"
//
//   addresses at byte 96 (128 B): ADDR_MAX × 16 bytes (4 × u32, network order; IPv4 in the first)

/** "PCT1": laid out by this version of the code. */
export const TARGET_TABLE_MAGIC = 0x50435431;

export const HEADER_INTS = 16;
export const HEADER_BYTES = HEADER_INTS * 4;
export const H_MAGIC = 0;
export const H_SLOTS = 1;
export const H_LOCK = 2;
export const H_GEN = 3;

export const SLOT_BYTES = 224;
export const SLOT_INTS = SLOT_BYTES / 4;
export const SLOT_I64S = SLOT_BYTES / 8;

// i32 positions within a slot.
export const S_KEY_HI = 0;
export const S_KEY_LO = 1;
export const S_STATE = 2;
export const S_FAILS = 3;
export const S_EJECTIONS = 4;
export const S_CHECK_OK = 5;
export const S_CHECK_FAIL = 6;
export const S_ADDR_STATE = 7;
export const S_ADDR_SEQ = 8;
export const S_ADDR_COUNT = 9;
export const S_ADDR_FAM = 10;
export const S_ADDR_GEN = 11;

/** First i64 of a slot (byte 64), as a BigInt64Array index relative to the slot's. */
export const S_I64_BASE = 8;
export const S64_EJECTED_UNTIL = 0;
export const S64_FIRST_FAIL_AT = 1;
export const S64_RECOVERED_AT = 2;
export const S64_LAST_EJECT_END = 3;

/** First address word (byte 96) as an i32 index within the slot. */
export const S_ADDR_BASE = 24;
export const ADDR_MAX = 8;
export const ADDR_INTS = 4;

export const STATE_PENDING = 0;
export const STATE_HEALTHY = 1;
export const STATE_UNHEALTHY = 2;

export const ADDR_BY_NAME = 0;
export const ADDR_RESOLVING = 1;
export const ADDR_RESOLVED = 2;
export const ADDR_UNRESOLVED = 3;

/** The table's one buffer, handed to every worker in workerData. */
export interface TargetTableMemory {
  readonly buffer: SharedArrayBuffer;
}

/** Room for every target four times over (reloads add keys), at least 1024 slots, a power of two. */
export function targetSlotsFor(targets: number): number {
  let n = 1024;
  while (n < targets * 4 && n < 1 << 16) n *= 2;
  return n;
}

/** Allocates a zeroed table (every slot free, every target pending): by the primary, or a test. */
export function allocateTargetTable(targets: number, shared = true): TargetTableMemory {
  const slots = targetSlotsFor(targets);
  const bytes = HEADER_BYTES + slots * SLOT_BYTES;
  const buffer = (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)) as SharedArrayBuffer;
  const header = new Int32Array(buffer, 0, HEADER_INTS);
  header[H_MAGIC] = TARGET_TABLE_MAGIC;
  header[H_SLOTS] = slots;
  return { buffer };
}
