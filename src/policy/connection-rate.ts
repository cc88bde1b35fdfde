// The connection limits per peer address that downstream/connection-filter.ts asks at each new
// connection: connection_rate_per_ip over the same Limiter as rate_limit (one token per new
// connection), max_connections_per_ip over the shared in-flight counters.
import type { ConnectionRateConfig } from '../config/protection-types.js';
import { KeyHash, prefixHash } from './key-hash.js';
import type { BucketRule } from './limiter.js';
import type { SharedLimiter } from './shared-limiter.js';
import type { SharedCounters } from './shared-counters.js';

const scratch = new KeyHash();

export class ConnectionRate {
  readonly #limiter: SharedLimiter;
  readonly #rule: BucketRule;
  readonly #seed = prefixHash('conn');

  constructor(config: ConnectionRateConfig, limiter: SharedLimiter) {
    this.#limiter = limiter;
    this.#rule = { intervalNs: Math.max(1, Math.round((config.per * 1e6) / config.rate)), burst: config.burst };
  }

  /** Takes a token for a new connection from `ip`; false: over the rate. */
  allow(ip: string): boolean {
    const k = scratch.reset(this.#seed.h, this.#seed.t).add(ip);
    return this.#limiter.take(k.h, k.tag, this.#rule).allowed;
  }
}

/** limits.max_connections_per_ip over the shared counters (its own key space). */
export class ConnectionsPerIp {
  readonly counters: SharedCounters;
  readonly #limit: number;
  readonly #seed = prefixHash('connip');

  constructor(limit: number, counters: SharedCounters) {
    this.counters = counters;
    this.#limit = limit;
  }

  /** A slot for one more open connection from `ip`, OVER_LIMIT, or UNCOUNTED. */
  acquire(ip: string): number {
    const k = scratch.reset(this.#seed.h, this.#seed.t).add(ip);
    return this.counters.acquire(k.h, k.tag, this.#limit);
  }
}
