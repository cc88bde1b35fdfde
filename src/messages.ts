// The only primary ⇄ worker protocol: a discriminated union on `type`.
import type { Config } from './config/types.js';
import type { SharedSegments } from './shm/segments.js';

/** What the primary hands each worker at spawn (workerData). */
export interface WorkerBoot {
  readonly id: number;
  readonly config: Config;
  /** Every shared buffer, allocated once by the primary and kept across worker restarts. */
  readonly shm: SharedSegments;
  /** Enables the `crash` message (tests of worker replacement); never set in production. */
  readonly testHooks: boolean;
}

export type ToWorker =
  | { readonly type: 'drain' }
  | { readonly type: 'crash' };

export type FromWorker =
  | { readonly type: 'ready'; readonly id: number }
  /** An operational line (an ejection, a canary rollback) for the primary to print. */
  | { readonly type: 'log'; readonly id: number; readonly level: 'info' | 'warn' | 'error'; readonly message: string }
  | { readonly type: 'fatal'; readonly id: number; readonly message: string };
