// The compression pool's task (piscina): reads a stored entry from shared memory, compresses
// its body and stores the variant (variants.ts). Runs on a pool thread, never a worker's.
import { compressAndStore, type VariantTask } from './variants.js';
import { hashKey, readEntry } from './store.js';
import { CacheTable } from './table.js';

/** A pool thread serves one worker, so one cache memory: its table is made once (each task
 * brings a new SharedArrayBuffer object for the same memory, so identity cannot be the key). */
let table: CacheTable | null = null;

export default function makeVariant(task: VariantTask): boolean {
  table ??= new CacheTable(task.memory, task.owner);
  const [hi, lo] = hashKey(task.baseKey);
  const base = readEntry(table, { pos: task.pos, length: task.length }, hi, lo);
  if (base === null || base.meta.key !== task.baseKey) return false;
  return compressAndStore(table, base, task.key, task.enc, task.config) !== null;
}
