// Whether a stored response may answer a request (RFC 9111 §4, §4.2.4, §5.2.1; RFC 5861), as
// pure functions of the entry's freshness, the request's directives and the clock:
//
//   fresh ──────────────────────────────────▶ hit
//   stale, within stale-while-revalidate ───▶ hit now, one background refresh
//   stale, within the client's max-stale ───▶ hit (stale)
//   otherwise ──────────────────────────────▶ revalidate (or fetch); on an upstream error,
//                                              within stale-if-error: the stale entry
//
// must-revalidate, proxy-revalidate, s-maxage and no-cache forbid every stale use.
import type { CacheControl } from './directives.js';
import { currentAge } from './freshness.js';

/** The freshness facts kept with an entry (a subset of EntryMeta). */
export interface StoredFreshness {
  readonly responseTime: number;
  readonly initialAge: number;
  readonly lifetime: number;
  /** Seconds past its lifetime the entry may be served while one refresh runs (-1: none). */
  readonly staleWhileRevalidate: number;
  /** Seconds past its lifetime the entry may stand in for an upstream error (-1: none). */
  readonly staleIfError: number;
  /** must-revalidate, proxy-revalidate, s-maxage or no-cache: never served stale. */
  readonly noStale: boolean;
}

export type Reuse =
  /** Fresh: answer from the cache. */
  | 'fresh'
  /** Stale but within stale-while-revalidate: answer now, refresh in the background. */
  | 'stale-while-revalidate'
  /** Stale, accepted by the client's max-stale. */
  | 'max-stale'
  /** Go upstream (conditionally when the entry has validators). */
  | 'revalidate';

/** Seconds the entry stays fresh from `now` (≤ 0: stale). A soft-purged entry is stale at once. */
export function ttlOf(f: StoredFreshness, now: number, softPurged = false): number {
  const ttl = f.lifetime - currentAge(f.initialAge, f.responseTime, now);
  return softPurged && ttl > 0 ? 0 : ttl;
}

/**
 * What to do with a stored entry for a request. `cc` is the request's Cache-Control (all unset
 * when the route ignores client directives). `ttl` comes from ttlOf.
 */
export function reuseOf(f: StoredFreshness, cc: CacheControl, ttl: number, now: number): Reuse {
  // The client's own limits first (§5.2.1): no-cache, max-age and min-fresh ask for validation.
  if (cc.noCache) return 'revalidate';
  if (cc.maxAge >= 0 && currentAge(f.initialAge, f.responseTime, now) > cc.maxAge) return 'revalidate';
  if (cc.maxAge === 0) return 'revalidate';
  if (ttl > 0) {
    if (cc.minFresh >= 0 && ttl < cc.minFresh) return 'revalidate';
    return 'fresh';
  }
  if (f.noStale) return 'revalidate';
  const staleness = -ttl;
  if (cc.maxStale >= 0 && staleness <= cc.maxStale && cc.minFresh < 0) return 'max-stale';
  if (f.staleWhileRevalidate >= 0 && staleness < f.staleWhileRevalidate) return 'stale-while-revalidate';
  return 'revalidate';
}

/**
 * Whether the stale entry may answer instead of an upstream failure (RFC 5861 §4, RFC 9111
 * §4.2.4): within the response's or the request's stale-if-error, or the configured window
 * (`cache.stale_if_error`, seconds, -1: off), and never when the response forbids stale use.
 */
export function mayServeStaleOnError(f: StoredFreshness, cc: CacheControl, configured: number, now: number): boolean {
  if (f.noStale) return false;
  const staleness = Math.max(0, -ttlOf(f, now));
  const window = Math.max(f.staleIfError, cc.staleIfError, configured);
  return window >= 0 && staleness <= window;
}

/** The stale-use facts of a response's directives, for its entry. */
export function staleFacts(cc: CacheControl): Pick<StoredFreshness, 'staleWhileRevalidate' | 'staleIfError' | 'noStale'> {
  return {
    staleWhileRevalidate: cc.staleWhileRevalidate,
    staleIfError: cc.staleIfError,
    // s-maxage implies proxy-revalidate for a shared cache (RFC 9111 §5.2.2.10).
    noStale: cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxage >= 0 || cc.noCache,
  };
}
