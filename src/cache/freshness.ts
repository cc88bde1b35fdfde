// RFC 9111 as pure functions: whether a response may be stored in a shared cache, its
// freshness lifetime (explicit, or heuristic per §4.2.2) and its age. No I/O, no clock: callers
// pass times. Directives are parsed in directives.ts.
//
// Stricter than the RFC, on purpose (docs/cache.md):
//   - a response carrying Set-Cookie is never stored;
//   - a response to a request carrying Cookie is stored only when it says it is meant for
//     shared caches (public, s-maxage): a personal page without Cache-Control: private is not
//     handed to the next visitor;
//   - a response to a request carrying Authorization likewise, unless the route opts in to
//     RFC 9111 §3.5's must-revalidate as well (many APIs send must-revalidate on private data).
import { DELTA_MAX, type CacheControl } from './directives.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** Sun, 06 Nov 1994 08:49:37 GMT */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
/** Sunday, 06-Nov-94 08:49:37 GMT */
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
/** Sun Nov  6 08:49:37 1994 */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`, 'i');

function utcSeconds(year: number, month: string, day: number, h: string, m: string, sec: string): number {
  // Case-insensitive, as recipients are in practice (RFC 9110 §5.6.7 asks for leniency).
  const mon = MONTHS.indexOf(month.charAt(0).toUpperCase() + month.slice(1).toLowerCase());
  const hh = Number(h);
  const mm = Number(m);
  const ss = Number(sec);
  if (day < 1 || hh > 23 || mm > 59 || ss > 60) return NaN;
  const ms = Date.UTC(year, mon, day, hh, mm, ss);
  // Date.UTC rolls 31 Feb over into March: a day the month does not have is invalid.
  if (new Date(ms).getUTCDate() !== day) return NaN;
  return Math.floor(ms / 1000);
}

/**
 * Seconds since the epoch of an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, or the obsolete
 * RFC 850 and asctime forms, always GMT. Anything else is NaN ("0", a bare year, ISO 8601):
 * an Expires that is not a date means "already expired" (RFC 9111 §5.3), never a guess.
 */
export function parseHttpDate(v: string | undefined): number {
  if (v === undefined) return NaN;
  const s = v.trim();
  let m = IMF_FIXDATE.exec(s);
  if (m !== null) return utcSeconds(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = RFC850.exec(s);
  if (m !== null) {
    // A two-digit year more than 50 years in the future is in the past century (RFC 9110 §5.6.7).
    const yy = Number(m[3]);
    const now = new Date().getUTCFullYear();
    let year = Math.floor(now / 100) * 100 + yy;
    if (year > now + 50) year -= 100;
    return utcSeconds(year, m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME.exec(s);
  if (m !== null) return utcSeconds(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!);
  return NaN;
}

/**
 * Status codes whose caching rules this cache understands (RFC 9111 §3, §5.2.2.3 must-understand):
 * the final codes RFC 9110 defines. A response with `must-understand` and any other status is
 * not stored.
 */
export function isUnderstoodStatus(status: number): boolean {
  switch (status) {
    case 200: case 201: case 202: case 203: case 204: case 205: case 206:
    case 300: case 301: case 302: case 303: case 304: case 307: case 308:
    case 400: case 401: case 402: case 403: case 404: case 405: case 406: case 407: case 408: case 409:
    case 410: case 411: case 412: case 413: case 414: case 415: case 416: case 417: case 421: case 422:
    case 426:
    case 500: case 501: case 502: case 503: case 504: case 505:
      return true;
    default:
      return false;
  }
}

/** RFC 9110 §15.1: statuses a cache may store with a heuristic lifetime (206 aside: we store complete bodies only). */
export function isHeuristicallyCacheable(status: number): boolean {
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
  /** The request's Cache-Control (all unset when the route ignores client directives). */
  readonly cacheControl: CacheControl;
}

/** The response facts the store decision needs (header values joined as list headers). */
export interface ResponseFacts {
  readonly status: number;
  /** The directives in force: a targeted field's (RFC 9213) when one is valid, else Cache-Control's. */
  readonly cacheControl: CacheControl;
  /** True when cacheControl came from a targeted field: Expires and Pragma are then ignored. */
  readonly targeted?: boolean;
  readonly expires: string | undefined;
  readonly date: string | undefined;
  readonly lastModified?: string | undefined;
  readonly vary: string | undefined;
  readonly setCookie: boolean;
  readonly pragmaNoCache: boolean;
  readonly hasValidator: boolean;
  /** Seconds since the epoch when the response arrived: its date when it has no Date (RFC 9110 §6.6.1). */
  readonly receivedAt?: number;
}

/** The configured parts of the store decision (cache.heuristic, a route's cache.authorization). */
export interface StorePolicy {
  /** Fraction of (Date − Last-Modified) a heuristic lifetime lasts; 0: no heuristic freshness. */
  readonly heuristicFraction: number;
  /** Upper bound of a heuristic lifetime, seconds. */
  readonly heuristicMax: number;
  /** Store answers to requests with Authorization when they say only must-revalidate (RFC 9111 §3.5). */
  readonly authorizationMustRevalidate: boolean;
}

export const DEFAULT_STORE_POLICY: StorePolicy = Object.freeze({ heuristicFraction: 0.1, heuristicMax: 86400, authorizationMustRevalidate: false });

/** Why a response was not stored, for Cache-Status detail, the log and tests. */
export type NotStored =
  | 'method' | 'status' | 'must-understand' | 'no-store' | 'private' | 'set-cookie' | 'vary-star' | 'vary-rewritten'
  | 'authorization' | 'cookie' | 'no-freshness' | 'too-large';

/** Seconds of explicit freshness the response grants (RFC 9111 §4.2.1), or -1 when it grants none. */
export function freshnessLifetime(res: ResponseFacts): number {
  const cc = res.cacheControl;
  if (cc.sMaxage >= 0) return cc.sMaxage;
  if (cc.maxAge >= 0) return cc.maxAge;
  if (res.expires !== undefined && res.targeted !== true) {
    // An invalid Expires ("0", "-1") means "already expired" (§5.3).
    const expires = parseHttpDate(res.expires);
    if (Number.isNaN(expires)) return 0;
    let date = parseHttpDate(res.date);
    if (Number.isNaN(date) && res.receivedAt !== undefined) date = res.receivedAt;
    return Number.isNaN(date) ? 0 : Math.max(0, expires - date);
  }
  return -1;
}

/**
 * A heuristic lifetime (RFC 9111 §4.2.2): a fraction of the time since Last-Modified, capped;
 * -1 when there is no usable Last-Modified. Only for heuristically cacheable statuses, or any
 * status marked `public`.
 */
export function heuristicLifetime(res: ResponseFacts, policy: StorePolicy): number {
  if (policy.heuristicFraction <= 0) return -1;
  if (!isHeuristicallyCacheable(res.status) && !res.cacheControl.public) return -1;
  const lastModified = parseHttpDate(res.lastModified);
  if (Number.isNaN(lastModified)) return -1;
  let date = parseHttpDate(res.date);
  if (Number.isNaN(date) && res.receivedAt !== undefined) date = res.receivedAt;
  if (Number.isNaN(date)) return -1;
  const since = Math.max(0, date - lastModified);
  return Math.min(Math.floor(since * policy.heuristicFraction), policy.heuristicMax);
}

/** What a storable response is kept with: its lifetime and whether it is a heuristic one. */
export interface Storable {
  readonly lifetime: number;
  readonly heuristic: boolean;
}

/**
 * Whether a shared cache may store this response (RFC 9111 §3, §3.5, plus the stricter rules
 * at the top of this file), and for how long it is fresh (0: store, but revalidate before every
 * use); or why not.
 */
export function storeDecision(req: RequestFacts, res: ResponseFacts, policy: StorePolicy = DEFAULT_STORE_POLICY): Storable | NotStored {
  if (req.method !== 'GET') return 'method';
  const status = res.status;
  // Complete bodies only (a 206 is a part), and a 304 is an update, never an entry.
  if (status < 200 || status === 206 || status === 304 || status > 599) return 'status';
  const cc = res.cacheControl;
  // must-understand: store only a status whose rules we know, and then it overrides no-store (§5.2.2.3).
  if (cc.mustUnderstand && !isUnderstoodStatus(status)) return 'must-understand';
  if (req.cacheControl.noStore || (cc.noStore && !cc.mustUnderstand)) return 'no-store';
  if (cc.private) return 'private';
  if (res.setCookie) return 'set-cookie';
  if (res.vary !== undefined) {
    for (const v of res.vary.split(',')) {
      const name = v.trim().toLowerCase();
      if (name === '*') return 'vary-star';
      if (isRewrittenByProxy(name)) return 'vary-rewritten';
    }
  }
  const shared = cc.public || cc.sMaxage >= 0;
  if (req.authorization && !(shared || (policy.authorizationMustRevalidate && cc.mustRevalidate))) return 'authorization';
  if (req.cookie && !shared) return 'cookie';
  // no-cache (and the HTTP/1.0 Pragma form without Cache-Control): may be stored, never used unvalidated.
  if (cc.noCache || (res.targeted !== true && res.pragmaNoCache && !hasAnyDirective(cc))) {
    return res.hasValidator ? { lifetime: 0, heuristic: false } : 'no-freshness';
  }
  const explicit = freshnessLifetime(res);
  if (explicit > 0 || (explicit === 0 && res.hasValidator)) return { lifetime: explicit, heuristic: false };
  if (explicit === 0) return 'no-freshness';
  const heuristic = heuristicLifetime(res, policy);
  if (heuristic < 0) return 'no-freshness';
  return { lifetime: heuristic, heuristic: true };
}

/**
 * Request headers the proxy replaces before the upstream sees them: a Vary on one of them
 * describes values the client never sent (a per-IP page varies on X-Forwarded-For as the
 * proxy wrote it), so comparing the client's own would hand one client's answer to another.
 */
function isRewrittenByProxy(name: string): boolean {
  switch (name) {
    case 'x-forwarded-for': case 'x-forwarded-host': case 'x-forwarded-proto': case 'forwarded':
    case 'x-real-ip': case 'via': case 'x-request-id':
      return true;
    default:
      return false;
  }
}

function hasAnyDirective(cc: CacheControl): boolean {
  return cc.maxAge >= 0 || cc.sMaxage >= 0 || cc.public || cc.noStore || cc.private || cc.noCache;
}

/**
 * The Age field's value in seconds (RFC 9111 §5.1): the first member of a list (the first line of
 * several), a parameter after ';' dropped; anything else (`abc`, `-1`, `1.5`) is ignored (0).
 */
export function parseAge(value: string | undefined): number {
  if (value === undefined) return 0;
  let end = value.length;
  const comma = value.indexOf(',');
  if (comma >= 0) end = comma;
  const semi = value.indexOf(';');
  if (semi >= 0 && semi < end) end = semi;
  const s = value.slice(0, end).trim();
  if (!/^\d+$/.test(s)) return 0;
  const n = Number(s);
  return n > DELTA_MAX ? DELTA_MAX : n;
}

/**
 * corrected_initial_age (RFC 9111 §4.2.3), in seconds: how old the response already was when
 * it arrived. Times are ms since the epoch.
 */
export function initialAge(ageHeader: string | undefined, dateHeader: string | undefined, requestTime: number, responseTime: number): number {
  const date = parseHttpDate(dateHeader);
  const apparent = Number.isNaN(date) ? 0 : Math.max(0, Math.floor(responseTime / 1000) - date);
  const responseDelay = Math.max(0, Math.round((responseTime - requestTime) / 1000));
  return Math.max(apparent, parseAge(ageHeader) + responseDelay);
}

/** current_age (RFC 9111 §4.2.3), in whole seconds. */
export function currentAge(initial: number, responseTime: number, now: number): number {
  return initial + Math.max(0, Math.floor((now - responseTime) / 1000));
}
