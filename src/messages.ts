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
  /** Pending ACME HTTP-01 challenges, token → key authorization (tls/challenges.ts). */
  readonly challenges: Readonly<Record<string, string>>;
}

/** What the primary hands a worker besides its config: current TLS state. */
export type WorkerState = Pick<WorkerBoot, 'tls' | 'challenges'>;

export type ToWorker =
  | { readonly type: 'drain' }
  | { readonly type: 'crash' }
  /** A TLS listener's certificates changed (file replaced, certificate issued): new handshakes use `set`. */
  | { readonly type: 'tls-certificates'; readonly listener: string; readonly set: TlsCertSet }
  /** Answer (or, with null, stop answering) an ACME HTTP-01 challenge; reply `ack` with `id`. */
  | { readonly type: 'acme-challenge'; readonly token: string; readonly keyAuthorization: string | null; readonly id: number };

export type FromWorker =
  | { readonly type: 'ready'; readonly id: number }
  | { readonly type: 'fatal'; readonly id: number; readonly message: string }
  /** The worker did what message `ack` (of a `broadcastAndWait`) asked. */
  | { readonly type: 'ack'; readonly id: number; readonly ack: number }
  /** A handshake on an ACME listener named `name`, which no certificate covers (acme.on_demand). */
  | { readonly type: 'acme-on-demand'; readonly id: number; readonly name: string };
