// Retry decisions: which failed tries may be sent again (RFC 9110 §9.2.2 idempotency, and never
// a request whose body has gone upstream), and the per-route budget that keeps retries to a
// share of the traffic so that a struggling upstream is not handed its load again.
import type { RetryConfig } from '../config/types.js';

/** RFC 9110 §9.2.2: requests a client may repeat without changing the outcome. */
export function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET': case 'HEAD': case 'OPTIONS': case 'TRACE': case 'PUT': case 'DELETE':
      return true;
    default:
      return false;
  }
}

/** Why a try failed, as `retries.on` names it (a status code for an answer). */
export type FailureKind = 'connect' | 'reset' | 'timeout' | number;

/**
 * Whether a failed try may be sent again at all (before the budget and attempts):
 * - nothing reached the upstream (no connection): always, any method;
 * - otherwise only when no body byte went upstream (we stream bodies, so sent bytes are gone)
 *   and the request is idempotent, or it has a body the upstream never started to get (the
 *   upstream cannot have acted on a head alone). A bodiless POST that reached an upstream is
 *   never sent twice.
 */
export function replayable(kind: FailureKind, method: string, hasBody: boolean, bodyBytesSent: number): boolean {
  if (kind === 'connect') return true;
  if (bodyBytesSent > 0) return false;
  return isIdempotent(method) || hasBody;
}

export function retriesOn(cfg: RetryConfig, kind: FailureKind): boolean {
  return cfg.on.includes(kind);
}

/** The budget's window: ten one-second buckets. */
const BUCKETS = 10;
const BUCKET_MS = 1000;
/** Retries a window always allows, however little traffic there was (Envoy's min_retry_concurrency). */
export const MIN_RETRIES = 3;

/**
 * Per route, per worker: retries over the last 10 s stay within `share` × requests over the
 * same 10 s (at least MIN_RETRIES). Retries of tries that never reached an upstream (connect
 * errors) are not withdrawn from it: they add no load anywhere.
 */
export class RetryBudget {
  readonly #share: number;
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #bucket = 0;
  #at = 0;

  constructor(share: number) {
    this.#share = share;
  }

  #advance(now: number): number {
    const bucket = Math.floor(now / BUCKET_MS);
    if (bucket !== this.#at) {
      const steps = Math.min(bucket - this.#at, BUCKETS);
      for (let i = 1; i <= steps; i++) {
        const slot = (this.#bucket + i) % BUCKETS;
        this.#requests[slot] = 0;
        this.#retries[slot] = 0;
      }
      this.#bucket = (this.#bucket + Math.max(steps, 0)) % BUCKETS;
      this.#at = bucket;
    }
    return this.#bucket;
  }

  /** Every request of the route counts toward what may be retried. */
  onRequest(now: number): void {
    const b = this.#advance(now);
    this.#requests[b] = this.#requests[b]! + 1;
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(now: number): boolean {
    const b = this.#advance(now);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) { requests += this.#requests[i]!; retries += this.#retries[i]!; }
    if (retries >= Math.max(MIN_RETRIES, this.#share * requests)) return false;
    this.#retries[b] = this.#retries[b]! + 1;
    return true;
  }
}
