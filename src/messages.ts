// The only primary ⇄ worker protocol: a discriminated union on `type`.
import type { Config } from './config/types.js';
import type { SharedSegments } from './shm/segments.js';
import type { TlsCertSet } from './tls/cert-set.js';

/** What the primary hands each worker at spawn (workerData). */
export interface WorkerBoot {
  readonly id: number;
  readonly config: Config;
  /** Every shared buffer, allocated once by the primary and kept across worker restarts. */
  readonly shm: SharedSegments;
  /** Enables the `crash` message (tests of worker replacement); never set in production. */
  readonly testHooks: boolean;
  /** The certificates of every TLS listener, by listener key (tls/cert-set.ts), as of the spawn. */
  readonly tls: Readonly<Record<string, TlsCertSet>>;
}

export type ToWorker =
  | { readonly type: 'drain' }
  | { readonly type: 'crash' }
  /** A TLS listener's certificates changed (file replaced, certificate issued): new handshakes use `set`. */
  | { readonly type: 'tls-certificates'; readonly listener: string; readonly set: TlsCertSet };

export type FromWorker =
  | { readonly type: 'ready'; readonly id: number }
  | { readonly type: 'fatal'; readonly id: number; readonly message: string };
