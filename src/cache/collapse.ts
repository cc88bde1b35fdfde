// Request collapsing across every worker: fill markers in the cache index (layout in
// shm/layout.ts) say "a response for this key is being fetched". The first miss for a key
// claims its marker and goes upstream; concurrent misses for the same key, in any worker, find
// the marker and wait for its release (Atomics.waitAsync: the event loop keeps running; never
// Atomics.wait), then look the key up again: a stored answer serves them all, otherwise each
// goes upstream. A waiter gives up after cache.collapse_timeout; a marker whose filler never
// comes back is void after its deadline (and the primary clears a dead worker's at once).
//
//   worker A: miss ─ claim(key) = lead ─▶ upstream ─▶ store ─ release(key) ─▶ notify
//   worker B: miss ─ claim(key) = wait ─ waitAsync(WAKE) ·····················▶ find(key): hit
import { threadId } from 'node:worker_threads';
import {
  FILL_DEADLINE, FILL_HASH_HI, FILL_HASH_LO, FILL_INTS, FILL_OWNER, FILL_WAKE, INDEX_FILL_LOCK, INDEX_FILLS,
  INDEX_HEADER_BYTES, INDEX_SLOTS, SLOT_BYTES, type CacheMemory,
} from '../shm/layout.js';

type WaitResult = 'ok' | 'not-equal' | 'timed-out';
/** Atomics.waitAsync (ES2024; Node ≥ 16): lib ES2022 does not declare it. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number, ms: number): { async: true; value: Promise<WaitResult> } | { async: false; value: WaitResult };
}).waitAsync;

/** Markers looked at from a key's home marker. */
const PROBE = 8;
/**
 * The marker lock is held for a few loads and stores. A claim spins this long for it and then
 * says 'busy' (the caller retries on a later loop turn, never blocking its event loop for a
 * holder the scheduler preempted); a release must happen, so it spins up to RELEASE_SPIN_MS.
 */
const CLAIM_SPIN_MS = 0.1;
const RELEASE_SPIN_MS = 100;

export type Claim =
  /** This request fills the key: release(slot) when done, whatever happens. */
  | { readonly lead: true; readonly slot: number }
  /** Another request is filling the key: wait for WAKE to move from `wake`. */
  | { readonly lead: false; readonly slot: number; readonly wake: number };

function fillView(memory: CacheMemory): { header: Int32Array; fills: Int32Array; count: number } {
  const header = new Int32Array(memory.index, 0, INDEX_HEADER_BYTES / 4);
  const count = header[INDEX_FILLS]!;
  const offset = INDEX_HEADER_BYTES + header[INDEX_SLOTS]! * SLOT_BYTES;
  return { header, fills: new Int32Array(memory.index, offset, count * FILL_INTS), count };
}

/** The fill markers as one thread sees them. */
export class FillMarkers {
  readonly #header: Int32Array;
  readonly #fills: Int32Array;
  readonly #mask: number;
  readonly #owner: number;

  constructor(memory: CacheMemory, ownerThreadId = threadId) {
    const view = fillView(memory);
    this.#header = view.header;
    this.#fills = view.fills;
    this.#mask = view.count - 1;
    this.#owner = ownerThreadId + 1;
  }

  /**
   * Claims the key's marker (lead) or finds the one another request holds (wait). Null: no
   * collapsing this time (every marker of the window is in use); 'busy': the marker lock is held
   * by a thread the scheduler preempted: try again on a later turn.
   * `deadline`: unix seconds after which a claimed marker is void.
   */
  claim(hi: number, lo: number, deadline: number): Claim | 'busy' | null {
    if (!this.#lock(CLAIM_SPIN_MS)) return 'busy';
    try {
      const f = this.#fills;
      const now = Math.floor(Date.now() / 1000);
      let free = -1;
      for (let i = 0; i < PROBE; i++) {
        const slot = (lo + i) & this.#mask;
        const base = slot * FILL_INTS;
        const owner = f[base + FILL_OWNER]!;
        const live = owner !== 0 && f[base + FILL_DEADLINE]! >= now;
        if (live && f[base + FILL_HASH_HI] === hi && f[base + FILL_HASH_LO] === lo) {
          return { lead: false, slot, wake: Atomics.load(f, base + FILL_WAKE) };
        }
        if (!live && free < 0) free = slot;
      }
      if (free < 0) return null;
      const base = free * FILL_INTS;
      // A void marker (its filler gone) still has waiters: wake them before reusing it.
      if (f[base + FILL_OWNER] !== 0) this.#wake(base);
      f[base + FILL_HASH_HI] = hi;
      f[base + FILL_HASH_LO] = lo;
      f[base + FILL_DEADLINE] = deadline;
      Atomics.store(f, base + FILL_OWNER, this.#owner);
      return { lead: true, slot: free };
    } finally {
      this.#unlock();
    }
  }

  /** Releases a marker this thread claimed for (hi, lo) and wakes its waiters in every worker. */
  release(slot: number, hi: number, lo: number): void {
    const f = this.#fills;
    const base = slot * FILL_INTS;
    // Without the lock (held for 100 ms: a holder stopped, which the primary clears when it
    // dies) the deadline voids the marker later; the waiters are woken now all the same.
    if (!this.#lock(RELEASE_SPIN_MS)) { this.#wake(base); return; }
    try {
      if (f[base + FILL_OWNER] !== this.#owner || f[base + FILL_HASH_HI] !== hi || f[base + FILL_HASH_LO] !== lo) return;
      f[base + FILL_HASH_HI] = 0;
      f[base + FILL_HASH_LO] = 0;
      Atomics.store(f, base + FILL_OWNER, 0);
      this.#wake(base);
    } finally {
      this.#unlock();
    }
  }

  /**
   * Resolves when the marker's WAKE moves from `wake` ('ok' or 'not-equal': released) or after
   * `ms` ('timed-out'). Event-driven: the worker's loop runs meanwhile.
   */
  waitRelease(slot: number, wake: number, ms: number): Promise<WaitResult> {
    const r = waitAsync(this.#fills, slot * FILL_INTS + FILL_WAKE, wake, ms);
    return r.async ? r.value : Promise.resolve(r.value);
  }

  #wake(base: number): void {
    Atomics.add(this.#fills, base + FILL_WAKE, 1);
    Atomics.notify(this.#fills, base + FILL_WAKE);
  }

  #lock(maxMs: number): boolean {
    let deadline = 0;
    for (let i = 0; ; i++) {
      if (Atomics.compareExchange(this.#header, INDEX_FILL_LOCK, 0, this.#owner) === 0) return true;
      if ((i & 63) !== 63) continue;
      const now = performance.now();
      if (deadline === 0) deadline = now + maxMs;
      else if (now > deadline) return false;
    }
  }

  #unlock(): void {
    Atomics.store(this.#header, INDEX_FILL_LOCK, 0);
  }
}

/**
 * Clears what a dead thread held (the primary calls this through releaseLockOf): the marker lock
 * and its markers, waking their waiters so they go upstream at once.
 */
export function releaseFillsOf(memory: CacheMemory, threadId: number): void {
  const { header, fills, count } = fillView(memory);
  const owner = threadId + 1;
  Atomics.compareExchange(header, INDEX_FILL_LOCK, owner, 0);
  for (let slot = 0; slot < count; slot++) {
    const base = slot * FILL_INTS;
    if (Atomics.compareExchange(fills, base + FILL_OWNER, owner, 0) !== owner) continue;
    Atomics.add(fills, base + FILL_WAKE, 1);
    Atomics.notify(fills, base + FILL_WAKE);
  }
}

/**
 * This worker's waiters, grouped by marker: one waitAsync per marker however many requests wait
 * on it here. A waiter's callback gets true when released, false on timeout.
 */
export class Waiters {
  readonly #markers: FillMarkers;
  readonly #groups = new Map<string, Set<(released: boolean) => void>>();

  constructor(markers: FillMarkers) {
    this.#markers = markers;
  }

  /** Calls `wake` once, on release or after `ms`; the returned function cancels (client gone). */
  wait(slot: number, wake: number, ms: number, onWake: (released: boolean) => void): () => void {
    const id = `${slot}:${wake}`;
    let group = this.#groups.get(id);
    if (group === undefined) {
      const members = (group = new Set());
      this.#groups.set(id, members);
      void this.#markers.waitRelease(slot, wake, ms).then((r) => {
        this.#groups.delete(id);
        for (const cb of members) cb(r !== 'timed-out');
      });
    }
    group.add(onWake);
    const members = group;
    return () => { members.delete(onWake); };
  }

  /** Requests waiting in this worker (tests, metrics). */
  get size(): number {
    let n = 0;
    for (const g of this.#groups.values()) n += g.size;
    return n;
  }
}
