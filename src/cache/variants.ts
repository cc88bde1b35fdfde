// Compressed variants of stored entries: a body is compressed once per coding and kept as
// its own entry, keyed by the base entry's key, the coding and the base's ring position
// (so a replaced or refreshed base never serves an old variant). Bodies up to
// compression.sync_max_bytes are compressed on the worker thread; larger ones in a small
// piscina pool (variant-task.ts) that reads the base from shared memory and writes the
// variant there itself, so no body crosses threads by copy.
import { Piscina } from 'piscina';
import type { CompressionConfig } from '../config/types.js';
import { compressWhole, type Encoding } from '../filters/compress.js';
import type { CacheMemory } from '../shm/layout.js';
import { encodeMeta, expiresAt, hashKey, writeEntry, type EntryMeta, type StoredEntry } from './store.js';
import { threadId } from 'node:worker_threads';
import type { CacheTable } from './table.js';

export function variantKey(baseKey: string, enc: Encoding, basePos: number): string {
  return `${baseKey} ~${enc}@${basePos}`;
}

/**
 * Compresses the base body and stores the variant. Returns the compressed bytes, or null when the
 * base was overwritten while being read. Shared by the worker (small bodies) and the pool task.
 */
export function compressAndStore(table: CacheTable, base: StoredEntry, key: string, enc: Encoding, config: CompressionConfig): Buffer | null {
  const body = table.arena.subarray(base.bodyOffset, base.bodyOffset + base.bodyLength);
  const out = compressWhole(enc, body, config);
  if (!table.intact(base.pos)) return null;
  const meta: EntryMeta = { ...base.meta, key, headers: [], varyNames: [], varyValues: [], encoding: enc };
  const [hi, lo] = hashKey(key);
  writeEntry(table, hi, lo, encodeMeta(meta), out, out.length, expiresAt(base.meta));
  return out;
}

/** What the pool task gets: the shared memory and where the base entry is. */
export interface VariantTask {
  readonly memory: CacheMemory;
  /** The worker's threadId: the pool thread takes the writer lock in its name (table.ts). */
  readonly owner: number;
  readonly pos: number;
  readonly length: number;
  readonly baseKey: string;
  readonly key: string;
  readonly enc: Encoding;
  readonly config: CompressionConfig;
}

/** Threads compressing large variants, one pool per worker, started on first use. */
export class VariantMaker {
  readonly #memory: CacheMemory;
  readonly #table: CacheTable;
  #pool: Piscina | null = null;
  /** Variants being made by this worker: concurrent hits wait for the same one. */
  readonly #pending = new Map<string, Promise<boolean>>();

  constructor(memory: CacheMemory, table: CacheTable) {
    this.#memory = memory;
    this.#table = table;
  }

  make(base: StoredEntry, key: string, enc: Encoding, config: CompressionConfig): Promise<boolean> {
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending;
    if (this.#pool === null) {
      this.#pool = new Piscina({
        filename: new URL('./variant-task.js', import.meta.url).href,
        minThreads: 0,
        maxThreads: 1,
        idleTimeout: 30_000,
      });
      // A pool thread that ends in the middle of a store (it holds the lock in our name).
      const table = this.#table;
      this.#pool.on('workerDestroy', () => table.releaseIfHeld());
    }
    const task: VariantTask = {
      memory: this.#memory, owner: threadId, pos: base.pos, length: base.length, baseKey: base.meta.key, key, enc, config,
    };
    const p = (this.#pool.run(task) as Promise<boolean>).finally(() => this.#pending.delete(key));
    this.#pending.set(key, p);
    return p;
  }

  close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    return pool === null ? Promise.resolve() : pool.destroy();
  }
}
