// Finding or claiming a keyed slot in a shared open-addressing table whose slots start with a
// 64-bit key (KEY_HI, KEY_LO; 0/0 = free). Lookups take no lock; a claim takes the table's
// lock word for a few stores, spinning (never Atomics.wait: it would block a uWS thread). The
// lock holds threadId + 1 of the claimer, so the primary can free it when a worker dies.
import { threadId } from 'node:worker_threads';

/** How long a claim spins for the lock before it gives up (the caller falls back). */
const CLAIM_SPIN_MS = 50;

export interface SlotTable {
  readonly ints: Int32Array;
  /** i32 index of the lock word in the header. */
  readonly lock: number;
  readonly slots: number;
  /** i32 index of slot 0 and the i32 stride between slots. */
  readonly first: number;
  readonly stride: number;
}

function probe(t: SlotTable, hi: number, lo: number): { index: number; found: boolean } {
  const mask = t.slots - 1;
  let i = (lo ^ hi) & mask;
  for (let n = 0; n < t.slots; n++, i = (i + 1) & mask) {
    const base = t.first + i * t.stride;
    const h = Atomics.load(t.ints, base);
    const l = Atomics.load(t.ints, base + 1);
    if (h === hi && l === lo) return { index: i, found: true };
    if (h === 0 && l === 0) return { index: i, found: false };
  }
  return { index: -1, found: false };
}

/** The slot holding the key, claimed when absent; -1 when the table is full or the lock stayed taken. */
export function findOrClaimSlot(t: SlotTable, hi: number, lo: number): number {
  const seen = probe(t, hi, lo);
  if (seen.found) return seen.index;
  const deadline = Date.now() + CLAIM_SPIN_MS;
  while (Atomics.compareExchange(t.ints, t.lock, 0, threadId + 1) !== 0) {
    if (Date.now() > deadline) return -1;
  }
  try {
    const again = probe(t, hi, lo);
    if (again.found || again.index < 0) return again.index;
    const base = t.first + again.index * t.stride;
    // The non-zero half first: a lock-free reader never sees 0/0 (free) on a claimed slot.
    if (hi !== 0) { Atomics.store(t.ints, base, hi); Atomics.store(t.ints, base + 1, lo); }
    else { Atomics.store(t.ints, base + 1, lo); Atomics.store(t.ints, base, hi); }
    return again.index;
  } finally {
    Atomics.store(t.ints, t.lock, 0);
  }
}

/** Frees a table's claim lock if the given (dead) thread held it. */
export function releaseClaimOf(ints: Int32Array, lock: number, deadThreadId: number): void {
  Atomics.compareExchange(ints, lock, deadThreadId + 1, 0);
}
