// The cache index and the arena ring in shared memory (layouts in shm/layout.ts): find
// an entry by key hash without locks, reserve ring space and publish or remove entries
// under one short writer lock. Every worker (and the compression pool) opens its own
// CacheTable over the same two buffers.
import { threadId } from 'node:worker_threads';
import {
  CACHE_MAGIC, ENTRY_ALIGN, INDEX_CURSOR_I64, INDEX_HEADER_BYTES, INDEX_LOCK, INDEX_MAGIC, INDEX_SLOTS,
  SLOT_EXPIRES, SLOT_HASH_HI, SLOT_HASH_LO, SLOT_INTS, SLOT_LENGTH, SLOT_POS_HI, SLOT_POS_LO, SLOT_SEQ,
  type CacheMemory,
} from '../shm/layout.js';

/** Slots looked at from a key's home slot: a full window evicts its oldest entry. */
const PROBE = 8;
const TWO_32 = 0x1_0000_0000;
/** Lock attempts before a writer gives up (the operation is skipped, never waited for). */
const LOCK_SPINS = 100_000;
/** Seqlock re-reads before a reader treats a slot as busy (a miss). */
const READ_TRIES = 64;

/** Where a found entry lives. Reused by the caller (no allocation per lookup). */
export interface EntryRef {
  pos: number;
  length: number;
}

export class CacheTable {
  readonly arena: Uint8Array;
  readonly capacity: number;
  readonly #slots: Int32Array;
  readonly #header: Int32Array;
  readonly #cursor: BigInt64Array;
  readonly #mask: number;
  /** The writer lock's value for this thread (never 0). */
  readonly #owner = threadId + 1;

  constructor(mem: CacheMemory) {
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

  /** Finds the slot for a hash; fills `out` and returns true, or false (miss). Lock-free. */
  find(hi: number, lo: number, out: EntryRef): boolean {
    const s = this.#slots;
    for (let i = 0; i < PROBE; i++) {
      const base = ((lo + i) & this.#mask) * SLOT_INTS;
      for (let t = 0; t < READ_TRIES; t++) {
        const seq = Atomics.load(s, base + SLOT_SEQ);
        if ((seq & 1) === 1) continue;
        const h = Atomics.load(s, base + SLOT_HASH_HI);
        const l = Atomics.load(s, base + SLOT_HASH_LO);
        const pos = (Atomics.load(s, base + SLOT_POS_HI) >>> 0) * TWO_32 + (Atomics.load(s, base + SLOT_POS_LO) >>> 0);
        const length = Atomics.load(s, base + SLOT_LENGTH);
        if (Atomics.load(s, base + SLOT_SEQ) !== seq) continue;
        if (h === hi && l === lo) {
          out.pos = pos;
          out.length = length;
          return true;
        }
        break;
      }
    }
    return false;
  }

  /**
   * Reserves `length` bytes of ring for a new entry; returns its absolute position, or -1
   * when the lock is busy too long. The bytes are the caller's until it publishes (or drops) them.
   */
  reserve(length: number): number {
    const need = Math.ceil(length / ENTRY_ALIGN) * ENTRY_ALIGN;
    if (need > this.capacity) return -1;
    if (!this.#lock()) return -1;
    try {
      const c = this.cursor();
      const off = c % this.capacity;
      // An entry never wraps: a tail too short for it is skipped.
      const start = off + need > this.capacity ? c + (this.capacity - off) : c;
      Atomics.store(this.#cursor, INDEX_CURSOR_I64, BigInt(start + need));
      return start;
    } finally {
      this.#unlock();
    }
  }

  /**
   * Points the key's slot at a written entry. False (nothing published) when the entry was
   * overwritten while being written or the lock is busy. Replaces an entry of the same key;
   * otherwise takes an empty, overwritten or stale slot, else the oldest in the window.
   */
  publish(hi: number, lo: number, pos: number, length: number, expires: number): boolean {
    if (!this.#lock()) return false;
    try {
      if (!this.intact(pos)) return false;
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
          : s[base + SLOT_EXPIRES]! <= now ? -1 : slotPos;
        if (score < victimScore) { victimScore = score; victim = base; }
      }
      this.#write(victim, hi, lo, pos, length, expires);
      return true;
    } finally {
      this.#unlock();
    }
  }

  /** Forgets the key (RFC 9111 §4.4 invalidation). Its bytes age out of the ring. */
  remove(hi: number, lo: number): void {
    if (!this.#lock()) return;
    try {
      const s = this.#slots;
      for (let i = 0; i < PROBE; i++) {
        const base = ((lo + i) & this.#mask) * SLOT_INTS;
        if (s[base + SLOT_HASH_HI] === hi && s[base + SLOT_HASH_LO] === lo) this.#write(base, 0, 0, 0, 0, 0);
      }
    } finally {
      this.#unlock();
    }
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
    Atomics.store(s, base + SLOT_EXPIRES, expires);
    Atomics.add(s, base + SLOT_SEQ, 1);
  }

  #lock(): boolean {
    // Spin, never wait: workers run uWS event loops that must not block (shared notes §13).
    for (let i = 0; i < LOCK_SPINS; i++) {
      if (Atomics.compareExchange(this.#header, INDEX_LOCK, 0, this.#owner) === 0) return true;
    }
    return false;
  }

  #unlock(): void {
    Atomics.store(this.#header, INDEX_LOCK, 0);
  }
}
