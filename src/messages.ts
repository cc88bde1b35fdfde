// The only primary ⇄ worker protocol: a discriminated union on `type`.
import type { Config } from './config/types.js';
import type { ListenerInfo } from './downstream/listeners.js';
import type { SharedSegments } from './shm/segments.js';

/** What the primary hands each worker at spawn (workerData). */
export interface WorkerBoot {
  readonly id: number;
  readonly config: Config;
  /** The config generation `config` is (1 at start, +1 per reload). */
  readonly generation: number;
  /** Every shared buffer, allocated once by the primary and kept across worker restarts. */
  readonly shm: SharedSegments;
  /** uWS's WebSocket message limit for every App: fixed from the config the process started with. */
  readonly maxMessage: number;
  /** Enables the `crash` message (tests of worker replacement); never set in production. */
  readonly testHooks: boolean;
}

/** What one worker reports when the primary asks (admin /workers, /connections, plan). */
export interface WorkerInspection {
  readonly id: number;
  readonly generation: number;
  /** Live generations, current first: in-flight requests and open streams on each. */
  readonly generations: readonly { readonly id: number; readonly inflight: number; readonly streams: number; readonly retired: boolean }[];
  readonly listeners: readonly ListenerInfo[];
  /** Open (or handshaking) WebSocket tunnels by route label. */
  readonly tunnelsByRoute: Readonly<Record<string, number>>;
  /** Open streaming responses by route label (current and retired generations). */
  readonly streamsByRoute: Readonly<Record<string, number>>;
  readonly inflight: number;
}

export type ToWorker =
  | { readonly type: 'drain' }
  | { readonly type: 'crash' }
  /** Reload, phase 1: compile `config`, open the listeners it adds; answer `prepared`. */
  | { readonly type: 'prepare'; readonly generation: number; readonly config: Config; readonly shm: SharedSegments }
  /** Phase 2: every worker prepared; swap to the generation, drain what it removed. */
  | { readonly type: 'commit'; readonly generation: number }
  /** Some worker could not prepare: drop the prepared generation, close what it opened. */
  | { readonly type: 'abort'; readonly generation: number }
  /** SIGUSR1: reopen access log files (logrotate moved them). */
  | { readonly type: 'reopen-logs'; readonly ask: number }
  | { readonly type: 'inspect'; readonly ask: number };

export type FromWorker =
  | { readonly type: 'ready'; readonly id: number; readonly generation: number }
  | { readonly type: 'fatal'; readonly id: number; readonly message: string }
  | { readonly type: 'prepared'; readonly id: number; readonly generation: number; readonly error: string | null }
  | { readonly type: 'committed'; readonly id: number; readonly generation: number; readonly tunnelsClosed: number }
  | { readonly type: 'inspected'; readonly id: number; readonly ask: number; readonly info: WorkerInspection }
  | { readonly type: 'reopened'; readonly id: number; readonly ask: number };
