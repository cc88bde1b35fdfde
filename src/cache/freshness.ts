// RFC 9111 as pure functions: Cache-Control parsing, whether a response may be stored in
// a shared cache, its freshness lifetime and its age. No I/O, no clock: callers pass times.
//
// Stricter than the RFC, on purpose (docs/cache.md):
//   - only explicit freshness (s-maxage, max-age, Expires) is stored, never a heuristic
//     lifetime: like nginx, a response that says nothing is not cached;
//   - a response carrying Set-Cookie is never stored;
//   - a response to a request carrying Cookie or Authorization is stored only when it says
//     it is meant for shared caches (public, s-maxage; for Authorization also
//     must-revalidate, RFC 9111 §3.5): a personal page without Cache-Control: private
//     is not handed to the next visitor.

export interface CacheControl {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  noTransform: boolean;
  /** Seconds, -1 when absent (or invalid). */
  maxAge: number;
  sMaxage: number;
}

const NONE: Readonly<CacheControl> = Object.freeze({
  noStore: false, noCache: false, private: false, public: false, mustRevalidate: false,
  proxyRevalidate: false, noTransform: false, maxAge: -1, sMaxage: -1,
});

/** RFC 9111 §1.2.2 delta-seconds; a value too large to hold is 2^31 (§1.2.2). */
function deltaSeconds(v: string): number {
  const s = v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v;
  if (!/^\d+$/.test(s)) return -1;
  const n = Number(s);
  return n > 2147483648 ? 2147483648 : n;
}

/**
 * Cache-Control directives (RFC 9111 §5.2). Names are case-insensitive; unknown ones are
 * ignored; `private="x"` and `no-cache="x"` count as the unqualified directive (stricter
 * than needed, never less safe). A duplicated or invalid max-age is treated as 0 (§4.2.1:
 * "stale"), so a confusing header never makes a response live longer.
 */
export function parseCacheControl(value: string | undefined): CacheControl {
  if (value === undefined || value === '') return { ...NONE };
  const cc = { ...NONE };
  let seenMaxAge = false;
  let seenSMaxage = false;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const arg = eq === -1 ? '' : part.slice(eq + 1).trim();
    switch (name) {
      case 'no-store': cc.noStore = true; break;
      case 'no-cache': cc.noCache = true; break;
      case 'private': cc.private = true; break;
      case 'public': cc.public = true; break;
      case 'must-revalidate': cc.mustRevalidate = true; break;
      case 'proxy-revalidate': cc.proxyRevalidate = true; break;
      case 'no-transform': cc.noTransform = true; break;
      case 'max-age': {
        const n = deltaSeconds(arg);
        cc.maxAge = seenMaxAge || n < 0 ? 0 : n;
        seenMaxAge = true;
        break;
      }
      case 's-maxage': {
        const n = deltaSeconds(arg);
        cc.sMaxage = seenSMaxage || n < 0 ? 0 : n;
        seenSMaxage = true;
        break;
      }
    }
  }
  return cc;
}

/** Seconds since the epoch of an HTTP-date (RFC 9110 §5.6.7), or NaN. */
export function parseHttpDate(v: string | undefined): number {
  if (v === undefined) return NaN;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? NaN : Math.floor(ms / 1000);
}

/** Status codes a cache may store when the response carries explicit freshness (RFC 9110 §15.1 "heuristically cacheable" plus the ones we can replay whole). */
export function isCacheableStatus(status: number): boolean {
  switch (status) {
    case 200: case 203: case 204: case 300: case 301: case 308: case 404: case 405: case 410: case 414: case 501:
      return true;
    default:
      return false;
  }
}

/** What the request side decides before any response (RFC 9111 §3, §4). */
export interface RequestFacts {
  readonly method: string;
  readonly authorization: boolean;
  readonly cookie: boolean;
  readonly cacheControl: CacheControl;
}

/** The response facts the store decision needs (header values joined as list headers). */
export interface ResponseFacts {
  readonly status: number;
  readonly cacheControl: CacheControl;
  readonly expires: string | undefined;
  readonly date: string | undefined;
  readonly vary: string | undefined;
  readonly setCookie: boolean;
  readonly pragmaNoCache: boolean;
  readonly hasValidator: boolean;
}

/** Why a response was not stored, for the log and tests. */
export type NotStored =
  | 'method' | 'status' | 'no-store' | 'private' | 'set-cookie' | 'vary-star' | 'authorization'
  | 'cookie' | 'no-freshness' | 'too-large';

/** Seconds of freshness the response grants (RFC 9111 §4.2.1), or -1 when it grants none explicitly. */
export function freshnessLifetime(res: ResponseFacts): number {
  const cc = res.cacheControl;
  if (cc.sMaxage >= 0) return cc.sMaxage;
  if (cc.maxAge >= 0) return cc.maxAge;
  if (res.expires !== undefined) {
    // An invalid Expires ("0", "-1") means "already expired" (§5.3).
    const expires = parseHttpDate(res.expires);
    if (Number.isNaN(expires)) return 0;
    const date = parseHttpDate(res.date);
    return Number.isNaN(date) ? 0 : Math.max(0, expires - date);
  }
  return -1;
}

/**
 * Whether a shared cache may store this response (RFC 9111 §3, §3.5, plus the stricter rules
 * at the top of this file). Returns the freshness lifetime in seconds (0: store, but
 * revalidate before every use), or why not.
 */
export function storeDecision(req: RequestFacts, res: ResponseFacts): number | NotStored {
  if (req.method !== 'GET') return 'method';
  if (!isCacheableStatus(res.status)) return 'status';
  const cc = res.cacheControl;
  if (req.cacheControl.noStore || cc.noStore) return 'no-store';
  if (cc.private) return 'private';
  if (res.setCookie) return 'set-cookie';
  if (res.vary !== undefined && res.vary.split(',').some((v) => v.trim() === '*')) return 'vary-star';
  const shared = cc.public || cc.sMaxage >= 0;
  if (req.authorization && !(shared || cc.mustRevalidate)) return 'authorization';
  if (req.cookie && !shared) return 'cookie';
  // no-cache (and the HTTP/1.0 Pragma form without Cache-Control): may be stored, never used unvalidated.
  if (cc.noCache || (res.pragmaNoCache && !hasAnyDirective(cc))) return res.hasValidator ? 0 : 'no-freshness';
  const lifetime = freshnessLifetime(res);
  if (lifetime < 0) return 'no-freshness';
  if (lifetime === 0 && !res.hasValidator) return 'no-freshness';
  return lifetime;
}

function hasAnyDirective(cc: CacheControl): boolean {
  return cc.maxAge >= 0 || cc.sMaxage >= 0 || cc.public || cc.noStore || cc.private || cc.noCache;
}

/**
 * corrected_initial_age (RFC 9111 §4.2.3), in seconds: how old the response already was when
 * it arrived. Times are ms since the epoch.
 */
export function initialAge(ageHeader: string | undefined, dateHeader: string | undefined, requestTime: number, responseTime: number): number {
  const date = parseHttpDate(dateHeader);
  const apparent = Number.isNaN(date) ? 0 : Math.max(0, Math.floor(responseTime / 1000) - date);
  const ageValue = ageHeader !== undefined && /^\s*\d+\s*$/.test(ageHeader) ? Number(ageHeader) : 0;
  const responseDelay = Math.max(0, Math.round((responseTime - requestTime) / 1000));
  return Math.max(apparent, ageValue + responseDelay);
}

/** current_age (RFC 9111 §4.2.3), in whole seconds. */
export function currentAge(initial: number, responseTime: number, now: number): number {
  return initial + Math.max(0, Math.floor((now - responseTime) / 1000));
}
