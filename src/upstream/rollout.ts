// Canary windows (layout: shm/rollout.ts): every worker adds each canary request's outcome and
// time to the response head to one shared sliding window, so the rollback decision is taken
// on the whole proxy's traffic, once, and obeyed by every worker.
import type { RollbackConfig } from '../config/types.js';
import {
  allocateRollouts, B_COUNT, B_EPOCH, B_ERRORS, B_LATENCY, BUCKET_INTS, BUCKETS, H_LOCK, H_SLOTS, HEADER_INTS, LAT_BASE,
  LAT_BUCKETS, LAT_RATIO, S_BUCKETS, S_ROLLED_BACK, SLOT_INTS, type RolloutMemory,
} from '../shm/rollout.js';
import { slotKey } from '../shm/key.js';
import { findOrClaimSlot } from '../shm/slots.js';

const LOG_RATIO = Math.log(LAT_RATIO);
const EPOCH_MASK = 0x7fffffff;

/** The latency bucket of `ms`: bucket i holds (LAT_BASE·R^(i−1), LAT_BASE·R^i]. */
export function latencyBucket(ms: number): number {
  if (ms <= LAT_BASE) return 0;
  return Math.min(LAT_BUCKETS - 1, Math.ceil(Math.log(ms / LAT_BASE) / LOG_RATIO - 1e-9));
}

function upperBound(i: number): number {
  return LAT_BASE * LAT_RATIO ** i;
}

/** The q-quantile (0–1) of a latency histogram, interpolated inside its bucket; 0 when empty. */
export function quantile(counts: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n === 0) continue;
    if (seen + n >= rank) {
      const lower = i === 0 ? 0 : upperBound(i - 1);
      if (i === counts.length - 1) return lower;
      return lower + (upperBound(i) - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return upperBound(counts.length - 1);
}

export interface WindowStats {
  readonly requests: number;
  readonly errors: number;
  /** ms; 0 without requests. */
  readonly p99: number;
}

/** Why the stats call for a rollback, or null. */
export function rollbackReason(s: WindowStats, cfg: RollbackConfig): string | null {
  if (s.requests < cfg.min_requests) return null;
  const rate = s.errors / s.requests;
  if (cfg.error_rate !== undefined && rate > cfg.error_rate) {
    return `error rate ${(rate * 100).toFixed(1)}% over ${cfg.window / 1000} s (limit ${(cfg.error_rate * 100).toFixed(1)}%, ${s.requests} requests)`;
  }
  if (cfg.p99 !== undefined && s.p99 > cfg.p99) {
    return `p99 ${Math.round(s.p99)} ms over ${cfg.window / 1000} s (limit ${cfg.p99} ms, ${s.requests} requests)`;
  }
  return null;
}

export class CanaryWindow {
  readonly #ints: Int32Array;
  readonly #base: number;
  readonly #bucketMs: number;
  readonly #latency = new Float64Array(LAT_BUCKETS);

  /** `mem` null: a window private to this thread (no supervisor). */
  constructor(mem: RolloutMemory | null, key: string, window: number) {
    let memory = mem ?? allocateRollouts(1, false);
    let ints = new Int32Array(memory.buffer);
    const [hi, lo] = slotKey(key);
    let slot = findOrClaimSlot({ ints, lock: H_LOCK, slots: ints[H_SLOTS]!, first: HEADER_INTS, stride: SLOT_INTS }, hi, lo);
    if (slot < 0) {
      // Table full (many canary configs since start): this worker decides alone.
      memory = allocateRollouts(1, false);
      ints = new Int32Array(memory.buffer);
      slot = findOrClaimSlot({ ints, lock: H_LOCK, slots: 1, first: HEADER_INTS, stride: SLOT_INTS }, hi, lo);
    }
    this.#ints = ints;
    this.#base = HEADER_INTS + slot * SLOT_INTS;
    this.#bucketMs = Math.max(1, window / BUCKETS);
  }

  get rolledBack(): boolean {
    return Atomics.load(this.#ints, this.#base + S_ROLLED_BACK) !== 0;
  }

  /** Sets the flag; true for the one caller (in the whole proxy) that set it. */
  markRolledBack(): boolean {
    return Atomics.compareExchange(this.#ints, this.#base + S_ROLLED_BACK, 0, 1) === 0;
  }

  record(failed: boolean, ms: number, now: number): void {
    const ints = this.#ints;
    const epoch = Math.floor(now / this.#bucketMs) & EPOCH_MASK;
    const b = this.#base + S_BUCKETS + (epoch % BUCKETS) * BUCKET_INTS;
    const seen = Atomics.load(ints, b + B_EPOCH);
    if (seen !== epoch && Atomics.compareExchange(ints, b + B_EPOCH, seen, epoch) === seen) {
      // This bucket last counted an older epoch: whoever claims it clears it.
      for (let i = B_COUNT; i < BUCKET_INTS; i++) Atomics.store(ints, b + i, 0);
    }
    Atomics.add(ints, b + B_COUNT, 1);
    if (failed) Atomics.add(ints, b + B_ERRORS, 1);
    Atomics.add(ints, b + B_LATENCY + latencyBucket(ms), 1);
  }

  /** Requests, errors and p99 over the buckets of the last window. */
  stats(now: number): WindowStats {
    const ints = this.#ints;
    const current = Math.floor(now / this.#bucketMs) & EPOCH_MASK;
    const latency = this.#latency;
    latency.fill(0);
    let requests = 0;
    let errors = 0;
    for (let k = 0; k < BUCKETS; k++) {
      const b = this.#base + S_BUCKETS + k * BUCKET_INTS;
      const epoch = Atomics.load(ints, b + B_EPOCH);
      if (((current - epoch) & EPOCH_MASK) >= BUCKETS) continue;
      const n = Atomics.load(ints, b + B_COUNT);
      if (n === 0) continue;
      requests += n;
      errors += Atomics.load(ints, b + B_ERRORS);
      for (let i = 0; i < LAT_BUCKETS; i++) latency[i] = latency[i]! + Atomics.load(ints, b + B_LATENCY + i);
    }
    return { requests, errors, p99: quantile(latency, 0.99) };
  }
}
