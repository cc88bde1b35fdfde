// The compression pool's task (piscina): reads a stored entry from shared memory, compresses
// its body and stores the variant (variants.ts). Runs on a pool thread, never a worker's.
import { compressAndStore, type VariantTask } from './variants.js';
import { hashKey, readEntry } from './store.js';
import { CacheTable } from './table.js';

const tables = new WeakMap<SharedArrayBuffer, CacheTable>();

export default function makeVariant(task: VariantTask): boolean {
  let table = tables.get(task.memory.index);
  if (table === undefined) {
    table = new CacheTable(task.memory);
    tables.set(task.memory.index, table);
  }
  const [hi, lo] = hashKey(task.baseKey);
  const base = readEntry(table, { pos: task.pos, length: task.length }, hi, lo);
  if (base === null || base.meta.key !== task.baseKey) return false;
  return compressAndStore(table, base, task.key, task.enc, task.config) !== null;
}
