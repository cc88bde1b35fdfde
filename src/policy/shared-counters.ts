// In-flight counts per key in the shared concurrency table (shm/counter-table.ts), exact
// across workers: acquire() adds one when the key is under its limit and returns the slot to
// release later; nothing blocks. A set whose 8 slots all count live requests of other keys
// cannot take a new key: that request is let through uncounted (`overflows` says how often),
// a deliberate fail-open: the table has room for 65,536 clients with requests in flight.
import {
  COUNTER_H_MAGIC, COUNTER_H_SLOTS, COUNTER_HEADER_BYTES, COUNTER_MAGIC, COUNTER_SLOT_BYTES,
  COUNTER_SLOT_COUNT, COUNTER_SLOT_TAG, COUNTER_WAYS, type CounterTableMemory,
} from '../shm/counter-table.js';

const SLOT_I32 = COUNTER_SLOT_BYTES / 4;
const FIRST = COUNTER_HEADER_BYTES / 4;
/** Returned by acquire when the request is over the limit. */
export const OVER_LIMIT = -1;
/** Returned by acquire when no slot was free: let through, nothing to release. */
export const UNCOUNTED = -2;

export class SharedCounters {
  readonly #i32: Int32Array;
  readonly #mask: number;
  overflows = 0;

  constructor(mem: CounterTableMemory) {
    this.#i32 = new Int32Array(mem.table);
    if (Atomics.load(this.#i32, COUNTER_H_MAGIC) !== COUNTER_MAGIC) throw new Error('counter table: bad magic');
    this.#mask = (this.#i32[COUNTER_H_SLOTS]! - 1) & ~(COUNTER_WAYS - 1);
  }

  /** One more in flight for the key, if that stays within `limit`: the slot, OVER_LIMIT or UNCOUNTED. */
  acquire(hash: number, tag: number, limit: number): number {
    const i32 = this.#i32;
    const set = hash & this.#mask;
    for (let attempt = 0; attempt < 16; attempt++) {
      let slot = -1;
      for (let w = 0; w < COUNTER_WAYS; w++) {
        if (Atomics.load(i32, FIRST + (set + w) * SLOT_I32 + COUNTER_SLOT_TAG) === tag) { slot = set + w; break; }
      }
      if (slot < 0) {
        slot = this.#claim(set, tag);
        if (slot < 0) { this.overflows++; return UNCOUNTED; }
      }
      const at = FIRST + slot * SLOT_I32 + COUNTER_SLOT_COUNT;
      const c = Atomics.load(i32, at);
      if (c < 0) continue; // being relabelled
      if (c >= limit) {
        if (Atomics.load(i32, FIRST + slot * SLOT_I32 + COUNTER_SLOT_TAG) !== tag) continue;
        return OVER_LIMIT;
      }
      if (Atomics.compareExchange(i32, at, c, c + 1) !== c) continue;
      if (Atomics.load(i32, FIRST + slot * SLOT_I32 + COUNTER_SLOT_TAG) === tag) return slot;
      // Relabelled for another key between our check and our increment: undo, look again.
      Atomics.sub(i32, at, 1);
    }
    this.overflows++;
    return UNCOUNTED;
  }

  release(slot: number): void {
    if (slot >= 0) Atomics.sub(this.#i32, FIRST + slot * SLOT_I32 + COUNTER_SLOT_COUNT, 1);
  }

  /** The count of a slot (tests). */
  count(slot: number): number {
    return Atomics.load(this.#i32, FIRST + slot * SLOT_I32 + COUNTER_SLOT_COUNT);
  }

  /** Relabels an idle slot (count 0) of the set for `tag`, or -1 when every slot is busy. */
  #claim(set: number, tag: number): number {
    const i32 = this.#i32;
    for (let w = 0; w < COUNTER_WAYS; w++) {
      const s = set + w;
      const countAt = FIRST + s * SLOT_I32 + COUNTER_SLOT_COUNT;
      if (Atomics.load(i32, FIRST + s * SLOT_I32 + COUNTER_SLOT_TAG) === tag) return s;
      if (Atomics.compareExchange(i32, countAt, 0, -1) !== 0) continue;
      Atomics.store(i32, FIRST + s * SLOT_I32 + COUNTER_SLOT_TAG, tag);
      Atomics.store(i32, countAt, 0);
      return s;
    }
    return -1;
  }
}
