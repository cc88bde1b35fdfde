// The Limiter interface: what a rate-limit policy asks of a token-bucket store. The local
// store is shared memory (policy/shared-limiter.ts, exact across this host's workers); a
// store shared by several hosts (Redis) implements the same interface later and may answer
// with a promise, which the policy phase already awaits like an auth check.

/** One bucket's rule, in the store's terms. */
export interface BucketRule {
  /** Nanoseconds between two requests at the sustained rate (per / rate), at least 1. */
  readonly intervalNs: number;
  /** Requests allowed at once (bucket size). */
  readonly burst: number;
}

/** The answer for one request. The local store reuses one object per thread: read it at once. */
export interface TakeResult {
  allowed: boolean;
  /** Requests left in the bucket after this one. */
  remaining: number;
  /** Nanoseconds until the next request would be allowed (0 when allowed). */
  retryAfterNs: number;
  /** Nanoseconds until the bucket is full again. */
  resetNs: number;
}

/**
 * A key is given as its two 32-bit hashes (policy/key-hash.ts): the hashes, not the text,
 * are what a bounded table stores, and computing them allocates nothing.
 */
export interface Limiter {
  take(hash: number, tag: number, rule: BucketRule): TakeResult | Promise<TakeResult>;
}
