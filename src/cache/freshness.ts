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

/**
 * No directive at all, as a fresh object the parser fills in. A literal, not a spread of a frozen
 * template: V8 clones a frozen object on its slow path, about 1% of a cache hit's CPU when the
 * request carries no Cache-Control (the common case).
 */
function none(): CacheControl {
  return {
    noStore: false, noCache: false, private: false, public: false, mustRevalidate: false,
    proxyRevalidate: false, noTransform: false, maxAge: -1, sMaxage: -1,
  };
}

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
  const cc = none();
  if (value === undefined || value === '') return cc;
  let seenMaxAge = false;
  let seenSMaxage = false;
  for (const part of splitList(value)) {
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

/**
 * The elements of a comma-separated list (RFC 9110 §5.6.1), where a comma inside a
 * quoted-string (with its backslash escapes) does not separate: `ext="a, public"` is one element.
 */
export function splitList(value: string): string[] {
  if (!value.includes('"')) return value.split(',');
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c) i++; // quoted-pair
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) {
      quoted = true;
    } else if (c === 0x2c) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** Sun, 06 Nov 1994 08:49:37 GMT */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** Sunday, 06-Nov-94 08:49:37 GMT */
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** Sun Nov  6 08:49:37 1994 */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

function utcSeconds(year: number, month: string, day: number, h: string, m: string, sec: string): number {
  const mon = MONTHS.indexOf(month);
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
  /** Seconds since the epoch when the response arrived: its date when it has no Date (RFC 9110 §6.6.1). */
  readonly receivedAt?: number;
}

/** Why a response was not stored, for the log and tests. */
export type NotStored =
  | 'method' | 'status' | 'no-store' | 'private' | 'set-cookie' | 'vary-star' | 'vary-rewritten' | 'authorization'
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
    let date = parseHttpDate(res.date);
    if (Number.isNaN(date) && res.receivedAt !== undefined) date = res.receivedAt;
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
  if (res.vary !== undefined) {
    for (const v of res.vary.split(',')) {
      const name = v.trim().toLowerCase();
      if (name === '*') return 'vary-star';
      if (isRewrittenByProxy(name)) return 'vary-rewritten';
    }
  }
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
