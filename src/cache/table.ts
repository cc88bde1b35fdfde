// The cache index and the arena ring in shared memory (layouts in shm/layout.ts): find
// an entry by key hash without locks, reserve ring space and publish or remove entries
// under one short writer lock. Every worker (and the compression pool) opens its own
// CacheTable over the same two buffers.
import { threadId } from 'node:worker_threads';
import {
  CACHE_MAGIC, ENTRY_ALIGN, INDEX_CURSOR_I64, INDEX_HEADER_BYTES, INDEX_LOCK, INDEX_MAGIC, INDEX_SLOTS,
  SLOT_EXPIRES, SLOT_FLAGS, SLOT_HASH_HI, SLOT_HASH_LO, SLOT_INTS, SLOT_LENGTH, SLOT_POS_HI, SLOT_POS_LO, SLOT_SEQ,
  FLAG_SOFT_PURGED, type CacheMemory,
} from '../shm/layout.js';
import { releaseFillsOf } from './collapse.js';

/** Slots looked at from a key's home slot: a full window evicts its oldest entry. */
const PROBE = 8;
const TWO_32 = 0x1_0000_0000;
/**
 * How long a store spins for the lock before it gives up (the store is skipped, never waited
 * for). The lock is held for a whole entry copy (about 1 ms for 8 MiB), so a store that meets
 * a big one being written skips rather than stall its event loop.
 */
const STORE_SPIN_MS = 0.1;
/** A removal (invalidation) must happen: it spins up to this long, longer than any copy. */
const REMOVE_SPIN_MS = 100;
/** Seqlock re-reads before a reader treats a slot as busy (a miss). */
const READ_TRIES = 64;

/** Where a found entry lives. Reused by the caller (no allocation per lookup). */
export interface EntryRef {
  pos: number;
  length: number;
  /** SLOT_FLAGS of the slot (FLAG_SOFT_PURGED). */
  flags: number;
}

export class CacheTable {
  readonly arena: Uint8Array;
  readonly capacity: number;
  readonly #slots: Int32Array;
  readonly #header: Int32Array;
  readonly #cursor: BigInt64Array;
  readonly #mask: number;
  /** The writer lock's value (never 0): threadId + 1 of the worker this table works for. */
  readonly #owner: number;

  /**
   * `ownerThreadId`: whose lock this table takes. A compression-pool thread works for a worker
   * and takes the lock in that worker's name, so the primary's release of a dead worker's lock
   * also covers a pool thread that died with it.
   */
  constructor(mem: CacheMemory, ownerThreadId = threadId) {
    this.#owner = ownerThreadId + 1;
    this.#header = new Int32Array(mem.index, 0, INDEX_HEADER_BYTES / 4);
    if (this.#header[INDEX_MAGIC] !== CACHE_MAGIC) throw new Error('cache index: not laid out by allocateCacheMemory');
    const slots = this.#header[INDEX_SLOTS]!;
    this.#slots = new Int32Array(mem.index, INDEX_HEADER_BYTES, slots * SLOT_INTS);
    this.#cursor = new BigInt64Array(mem.index, 0, INDEX_HEADER_BYTES / 8);
    this.#mask = slots - 1;
    this.arena = new Uint8Array(mem.arena);
    this.capacity = mem.arena.byteLength;
  }

  /** Bytes ever reserved in the ring. */
  cursor(): number {
    return Number(Atomics.load(this.#cursor, INDEX_CURSOR_I64));
  }

  /** True while the entry at absolute position `pos` has not been overwritten (or reserved over). */
  intact(pos: number): boolean {
    return this.cursor() - this.capacity <= pos;
  }

  /** Arena offset of an absolute ring position. */
  offset(pos: number): number {
    return pos % this.capacity;
  }

  /**
   * Finds the slot for a hash; fills `out` and returns true, or false (miss). Lock-free.
   * A slot whose hash words differ is passed over on two loads: a miss (the common case on a
   * route whose answers are not stored) reads 2 words per probed slot, not 8. Those two are
   * plain loads, a filter: an Atomics.load costs some 15 ns on Node 20 and a miss probes the
   * whole window. A word read while a writer rewrites the slot (aligned 32-bit words do not
   * tear) can only make the slot look "not ours" (a miss, as when the writer had not yet
   * begun) or like a match, which the seqlock read below then checks with atomic loads.
   */
  find(hi: number, lo: number, out: EntryRef): boolean {
    const s = this.#slots;
    for (let i = 0; i < PROBE; i++) {
      const base = ((lo + i) & this.#mask) * SLOT_INTS;
      if (s[base + SLOT_HASH_LO] !== lo || s[base + SLOT_HASH_HI] !== hi) continue;
      if (this.#readSlot(base, out) && this.#readHi === hi && this.#readLo === lo) return true;
    }
    return false;
  }

  /** The hash words #readSlot read last (two fields rather than a tuple per read). */
  #readHi = 0;
  #readLo = 0;

  /**
   * Reads the slot at `base` as one consistent snapshot (seqlock: an even sequence, the same
   * before and after) into `out`, #readHi and #readLo. False when writers kept it busy for
   * every try: the caller treats the slot as not there.
   */
  #readSlot(base: number, out: EntryRef): boolean {
    const s = this.#slots;
    for (let t = 0; t < READ_TRIES; t++) {
      const seq = Atomics.load(s, base + SLOT_SEQ);
      if ((seq & 1) === 1) continue;
      const h = Atomics.load(s, base + SLOT_HASH_HI);
      const l = Atomics.load(s, base + SLOT_HASH_LO);
      const pos = (Atomics.load(s, base + SLOT_POS_HI) >>> 0) * TWO_32 + (Atomics.load(s, base + SLOT_POS_LO) >>> 0);
      const length = Atomics.load(s, base + SLOT_LENGTH);
      const flags = Atomics.load(s, base + SLOT_FLAGS);
      if (Atomics.load(s, base + SLOT_SEQ) !== seq) continue;
      this.#readHi = h;
      this.#readLo = l;
      out.pos = pos;
      out.length = length;
      out.flags = flags;
      return true;
    }
    return false;
  }

  /**
   * Writes and publishes one entry under the writer lock: reserves `length` bytes of ring,
   * lets `write(offset)` copy the entry to that arena offset, and points the key's slot at it.
   * The copy happens under the lock on purpose: no other writer can move the ring over bytes
   * still being written, so a slow writer (descheduled, or in a GC pause) never lands its late
   * bytes in entries published since. False: nothing stored (lock busy, or too big).
   */
  store(hi: number, lo: number, length: number, expires: number, write: (offset: number) => void): boolean {
    if (length > this.capacity || !this.#lock(STORE_SPIN_MS)) return false;
    try {
      const pos = this.#reserveLocked(length);
      write(this.offset(pos));
      this.#publishLocked(hi, lo, pos, length, expires);
      return true;
    } finally {
      this.#unlock();
    }
  }

  /** Moves the ring by `length` bytes without writing them (tests, and nothing else). */
  reserve(length: number): number {
    if (length > this.capacity || !this.#lock(STORE_SPIN_MS)) return -1;
    try {
      return this.#reserveLocked(length);
    } finally {
      this.#unlock();
    }
  }

  /** Points the key's slot at an entry written earlier; false when it was overwritten since (tests). */
  publish(hi: number, lo: number, pos: number, length: number, expires: number): boolean {
    if (!this.#lock(STORE_SPIN_MS)) return false;
    try {
      if (!this.intact(pos)) return false;
      this.#publishLocked(hi, lo, pos, length, expires);
      return true;
    } finally {
      this.#unlock();
    }
  }

  #reserveLocked(length: number): number {
    const need = Math.ceil(length / ENTRY_ALIGN) * ENTRY_ALIGN;
    const c = this.cursor();
    const off = c % this.capacity;
    // An entry never wraps: a tail too short for it is skipped.
    const start = off + need > this.capacity ? c + (this.capacity - off) : c;
    Atomics.store(this.#cursor, INDEX_CURSOR_I64, BigInt(start + need));
    return start;
  }

  /**
   * Replaces an entry of the same key; otherwise takes an empty, overwritten or stale slot,
   * else the oldest in the window.
   */
  #publishLocked(hi: number, lo: number, pos: number, length: number, expires: number): void {
    const s = this.#slots;
    const now = Math.floor(Date.now() / 1000);
    let victim = -1;
    let victimScore = Infinity;
    for (let i = 0; i < PROBE; i++) {
      const base = ((lo + i) & this.#mask) * SLOT_INTS;
      const h = s[base + SLOT_HASH_HI]!;
      const l = s[base + SLOT_HASH_LO]!;
      if (h === hi && l === lo) { victim = base; break; }
      const slotPos = (s[base + SLOT_POS_HI]! >>> 0) * TWO_32 + (s[base + SLOT_POS_LO]! >>> 0);
      // Empty or overwritten: free. Stale: next best. Else the oldest write goes.
      const score = (h === 0 && l === 0) || !this.intact(slotPos) ? -Infinity
        : s[base + SLOT_EXPIRES]! >>> 0 <= now ? -1 : slotPos;
      if (score < victimScore) { victimScore = score; victim = base; }
    }
    this.#write(victim, hi, lo, pos, length, expires);
  }

  /** Forgets the key (RFC 9111 §4.4 invalidation). Its bytes age out of the ring. */
  remove(hi: number, lo: number): boolean {
    if (!this.#lock(REMOVE_SPIN_MS)) return false;
    try {
      const s = this.#slots;
      for (let i = 0; i < PROBE; i++) {
        const base = ((lo + i) & this.#mask) * SLOT_INTS;
        if (s[base + SLOT_HASH_HI] === hi && s[base + SLOT_HASH_LO] === lo) this.#write(base, 0, 0, 0, 0, 0);
      }
      return true;
    } finally {
      this.#unlock();
    }
  }

  /**
   * Marks the key's entry soft-purged (stale from now on; it may still be revalidated, or serve
   * stale where its directives allow). False when the key has no slot.
   */
  markSoftPurged(hi: number, lo: number): boolean {
    if (!this.#lock(REMOVE_SPIN_MS)) return false;
    try {
      const s = this.#slots;
      let found = false;
      for (let i = 0; i < PROBE; i++) {
        const base = ((lo + i) & this.#mask) * SLOT_INTS;
        if (s[base + SLOT_HASH_HI] !== hi || s[base + SLOT_HASH_LO] !== lo) continue;
        Atomics.add(s, base + SLOT_SEQ, 1);
        Atomics.or(s, base + SLOT_FLAGS, FLAG_SOFT_PURGED);
        Atomics.add(s, base + SLOT_SEQ, 1);
        found = true;
      }
      return found;
    } finally {
      this.#unlock();
    }
  }

  /** Number of index slots (for a scan). */
  get slotCount(): number {
    return this.#mask + 1;
  }

  /**
   * Reads slot `i` (seqlock-consistent) into `out` and returns its key hash, or null when the slot
   * is empty, busy, or points at an overwritten entry. For scans (prefix purge), not lookups.
   */
  slotAt(i: number, out: EntryRef): [hi: number, lo: number] | null {
    if (!this.#readSlot(i * SLOT_INTS, out)) return null;
    const h = this.#readHi;
    const l = this.#readLo;
    if ((h === 0 && l === 0) || !this.intact(out.pos)) return null;
    return [h, l];
  }

  /** Releases the writer lock if this thread holds it (a thread that ends mid-operation). */
  releaseIfHeld(): void {
    Atomics.compareExchange(this.#header, INDEX_LOCK, this.#owner, 0);
  }

  #write(base: number, hi: number, lo: number, pos: number, length: number, expires: number): void {
    const s = this.#slots;
    Atomics.add(s, base + SLOT_SEQ, 1); // odd: readers retry
    Atomics.store(s, base + SLOT_HASH_HI, hi);
    Atomics.store(s, base + SLOT_HASH_LO, lo);
    Atomics.store(s, base + SLOT_POS_HI, Math.floor(pos / TWO_32));
    Atomics.store(s, base + SLOT_POS_LO, pos >>> 0);
    Atomics.store(s, base + SLOT_LENGTH, length);
    // Unsigned seconds (good until 2106), clamped: a far-future Expires is not a negative one.
    Atomics.store(s, base + SLOT_EXPIRES, Math.min(Math.max(0, Math.floor(expires)), 0xffff_ffff) | 0);
    Atomics.store(s, base + SLOT_FLAGS, 0);
    Atomics.add(s, base + SLOT_SEQ, 1);
  }

  #lock(maxMs: number): boolean {
    // Spin, never wait: workers run uWS event loops that must not block (shared notes §13).
    // The clock is read every 64 attempts: the uncontended case costs one compareExchange.
    let deadline = 0;
    for (let i = 0; ; i++) {
      if (Atomics.compareExchange(this.#header, INDEX_LOCK, 0, this.#owner) === 0) return true;
      if ((i & 63) !== 63) continue;
      const now = performance.now();
      if (deadline === 0) deadline = now + maxMs;
      else if (now > deadline) return false;
    }
  }

  #unlock(): void {
    Atomics.store(this.#header, INDEX_LOCK, 0);
  }
}

/**
 * Releases what the thread `threadId` held when it ended (the primary calls this when a worker
 * exits): the writer lock (a worker killed mid-copy must not stop every store for good), the
 * fill-marker lock, and its fill markers (so other workers' waiters go upstream at once instead
 * of waiting out the collapse timeout).
 */
export function releaseLockOf(memory: CacheMemory, threadId: number): void {
  const header = new Int32Array(memory.index, 0, INDEX_HEADER_BYTES / 4);
  Atomics.compareExchange(header, INDEX_LOCK, threadId + 1, 0);
  releaseFillsOf(memory, threadId);
}
