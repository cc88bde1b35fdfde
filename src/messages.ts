// The only primary ⇄ worker protocol: a discriminated union on `type`.
import type { Config } from './config/types.js';
import type { CacheMemory } from './shm/layout.js';

/** What the primary hands each worker at spawn (workerData). */
export interface WorkerBoot {
  readonly id: number;
  readonly config: Config;
  /** The shared cache's buffers (allocated once by the primary), or null when no route caches. */
  readonly cache: CacheMemory | null;
  /** Enables the `crash` message (tests of worker replacement); never set in production. */
  readonly testHooks: boolean;
}

export type ToWorker =
  | { readonly type: 'drain' }
  | { readonly type: 'crash' };

export type FromWorker =
  | { readonly type: 'ready'; readonly id: number }
  | { readonly type: 'fatal'; readonly id: number; readonly message: string };
