// The local Limiter: GCRA token buckets in the shared rate table (shm/rate-table.ts), exact
// across every worker of this process. One key costs one slot; a key whose bucket is full
// again needs no slot at all, so the fixed table holds every key that is being limited now.
//
// Per request: find the key's slot among the 4 of its set (or take the set's slot whose
// bucket refills first: free when it is full), then one compareExchange of its TAT. Nothing
// waits: a lost compareExchange retries with the value that won. Never Atomics.wait.
//
// Error, and only when the table is too small: if all 4 slots of a set hold buckets that are
// still refilling, the one closest to full is dropped, and that key starts again with a full
// bucket (it gains at most the tokens it had used). Two keys whose 32-bit tags collide inside
// one set share a bucket (about 4 in 2^32 per lookup). docs/protection.md sizes the table.
import {
  RATE_H_EPOCH_F64, RATE_H_MAGIC, RATE_H_SLOTS, RATE_HEADER_BYTES, RATE_MAGIC, RATE_SLOT_BYTES,
  RATE_SLOT_TAG_I32, RATE_SLOT_TAT_I64, RATE_WAYS, monotonicMs, type RateTableMemory,
} from '../shm/rate-table.js';
import type { BucketRule, Limiter, TakeResult } from './limiter.js';

const SLOT_I32 = RATE_SLOT_BYTES / 4;
const SLOT_I64 = RATE_SLOT_BYTES / 8;
const FIRST_I32 = RATE_HEADER_BYTES / 4;
const FIRST_I64 = RATE_HEADER_BYTES / 8;

export class SharedLimiter implements Limiter {
  readonly #i32: Int32Array;
  readonly #i64: BigInt64Array;
  readonly #mask: number;
  /** performance.now() + this = ms since the table's EPOCH on the shared monotonic clock. */
  readonly #offsetMs: number;
  readonly #result: TakeResult = { allowed: false, remaining: 0, retryAfterNs: 0, resetNs: 0 };
  /** Times a set was full of refilling buckets and one was dropped (the table is too small). */
  evictions = 0;

  constructor(mem: RateTableMemory) {
    this.#i32 = new Int32Array(mem.table);
    this.#i64 = new BigInt64Array(mem.table);
    if (Atomics.load(this.#i32, RATE_H_MAGIC) !== RATE_MAGIC) throw new Error('rate table: bad magic (not allocated by this version)');
    const slots = this.#i32[RATE_H_SLOTS]!;
    this.#mask = (slots - 1) & ~(RATE_WAYS - 1);
    const epoch = new Float64Array(mem.table, 0, RATE_HEADER_BYTES / 8)[RATE_H_EPOCH_F64]!;
    this.#offsetMs = monotonicMs() - performance.now() - epoch;
  }

  /** Now, in ns since the table's epoch. */
  now(): number {
    return Math.floor((performance.now() + this.#offsetMs) * 1e6);
  }

  take(hash: number, tag: number, rule: BucketRule): TakeResult {
    return this.takeAt(hash, tag, rule, this.now());
  }

  /** take() at a given time (tests and the micro-benchmark drive the clock). Hot path. */
  takeAt(hash: number, tag: number, rule: BucketRule, now: number): TakeResult {
    const i32 = this.#i32;
    const set = hash & this.#mask;
    const interval = rule.intervalNs;
    const tau = rule.burst * interval;
    const r = this.#result;
    for (let attempt = 0; attempt < 8; attempt++) {
      let slot = -1;
      for (let w = 0; w < RATE_WAYS; w++) {
        if (Atomics.load(i32, FIRST_I32 + (set + w) * SLOT_I32 + RATE_SLOT_TAG_I32) === tag) { slot = set + w; break; }
      }
      if (slot < 0) slot = this.#claim(set, tag, now);
      const at = FIRST_I64 + slot * SLOT_I64 + RATE_SLOT_TAT_I64;
      const seen = Atomics.load(this.#i64, at);
      const tat = Number(seen);
      const start = tat > now ? tat : now;
      const next = start + interval;
      if (next - now > tau) {
        // Refused: nothing to write. Retry-After: until `start + interval - tau` comes.
        r.allowed = false;
        r.remaining = 0;
        r.retryAfterNs = next - tau - now;
        r.resetNs = start - now;
        return r;
      }
      if (Atomics.compareExchange(this.#i64, at, seen, BigInt(next)) !== seen) continue;
      // The slot may have been given to another key between the tag check and the write: then
      // this request was charged to that key (an error of one) and is counted again here.
      if (Atomics.load(i32, FIRST_I32 + slot * SLOT_I32 + RATE_SLOT_TAG_I32) !== tag) continue;
      r.allowed = true;
      r.remaining = Math.floor((tau - (next - now)) / interval);
      r.retryAfterNs = 0;
      r.resetNs = next - now;
      return r;
    }
    // Eight lost races in a row: the key is under a storm of its own; refuse this one.
    r.allowed = false;
    r.remaining = 0;
    r.retryAfterNs = interval;
    r.resetNs = tau;
    return r;
  }

  /** Labels a slot of the set for `tag`: an empty one, else the one whose bucket refills first. */
  #claim(set: number, tag: number, now: number): number {
    const i32 = this.#i32;
    const i64 = this.#i64;
    for (;;) {
      let best = set;
      let bestTat = Infinity;
      for (let w = 0; w < RATE_WAYS; w++) {
        const s = set + w;
        const t = Atomics.load(i32, FIRST_I32 + s * SLOT_I32 + RATE_SLOT_TAG_I32);
        if (t === tag) return s; // another thread labelled it meanwhile
        const tat = t === 0 ? -1 : Number(Atomics.load(i64, FIRST_I64 + s * SLOT_I64 + RATE_SLOT_TAT_I64));
        if (tat < bestTat) { best = s; bestTat = tat; }
      }
      const tagAt = FIRST_I32 + best * SLOT_I32 + RATE_SLOT_TAG_I32;
      const tatAt = FIRST_I64 + best * SLOT_I64 + RATE_SLOT_TAT_I64;
      const oldTat = Atomics.load(i64, tatAt);
      const old = Atomics.load(i32, tagAt);
      if (Atomics.compareExchange(i32, tagAt, old, tag) !== old) continue;
      if (bestTat > now) this.evictions++;
      // The new key starts with a full bucket (0 is the epoch, long past), unless a thread
      // taking for the same key already wrote its TAT (then that one stands).
      Atomics.compareExchange(i64, tatAt, oldTat, 0n);
      return best;
    }
  }
}
