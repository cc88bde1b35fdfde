// Cache directives as pure functions: Cache-Control (RFC 9111 §5.2, request and response
// directives) and the targeted fields that take its place for us (RFC 9213:
// Portcullis-Cache-Control, then CDN-Cache-Control), which are Structured Field Dictionaries
// (RFC 8941). No I/O; every value the rest of the cache reads about directives comes from here.

export interface CacheControl {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  noTransform: boolean;
  /** RFC 9111 §5.2.2.3: store only when the status code's caching rules are understood. */
  mustUnderstand: boolean;
  /** Request only (RFC 9111 §5.2.1.7): answer from the cache or 504. */
  onlyIfCached: boolean;
  /** Seconds, -1 when absent. An invalid value is 0 (§4.2.1: not fresh), duplicates keep the smallest. */
  maxAge: number;
  sMaxage: number;
  /** RFC 5861 response directives: seconds a stale response may still be used (-1: absent). */
  staleWhileRevalidate: number;
  staleIfError: number;
  /** Request directives (RFC 9111 §5.2.1.2, §5.2.1.3). max-stale without a value: any staleness (2^31). */
  maxStale: number;
  minFresh: number;
}

/** RFC 9111 §1.2.2: a delta-seconds too large to hold is 2^31. */
export const DELTA_MAX = 2147483648;

/** A fresh CacheControl with nothing set (callers may change it). An object literal: spreading a frozen template costs ~0.3 µs per request. */
export function noDirectives(): CacheControl {
  return {
    noStore: false, noCache: false, private: false, public: false, mustRevalidate: false,
    proxyRevalidate: false, noTransform: false, mustUnderstand: false, onlyIfCached: false,
    maxAge: -1, sMaxage: -1, staleWhileRevalidate: -1, staleIfError: -1, maxStale: -1, minFresh: -1,
  };
}

/** RFC 9111 §1.2.2 delta-seconds (quoted form accepted, §5.2); -1 when invalid. */
function deltaSeconds(v: string): number {
  const s = v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22 ? v.slice(1, -1) : v;
  if (!/^\d+$/.test(s)) return -1;
  const n = Number(s);
  return n > DELTA_MAX ? DELTA_MAX : n;
}

/** Two values for one directive: the most restrictive (smallest) wins; an invalid one is 0. */
function restrict(previous: number, n: number): number {
  const v = n < 0 ? 0 : n;
  return previous < 0 ? v : Math.min(previous, v);
}

/**
 * Cache-Control directives (RFC 9111 §5.2). Names are case-insensitive; unknown ones are
 * ignored; `private="x"` and `no-cache="x"` count as the unqualified directive (stricter than
 * needed, never less safe). A numeric directive with an invalid value (`1.5`, `a100`, spaces
 * around `=`, single quotes) is 0: a confusing header never makes a response live longer.
 */
export function parseCacheControl(value: string | undefined): CacheControl {
  const cc = noDirectives();
  if (value === undefined || value === '') return cc;
  for (const element of splitList(value)) {
    const part = element.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const name = rawName.toLowerCase();
    // `max-age =60` and `max-age= 60`: RFC 9110 allows no whitespace around '='.
    const spaced = rawName.trimEnd() !== rawName || (eq !== -1 && /^\s/.test(part.slice(eq + 1)));
    const arg = eq === -1 ? '' : part.slice(eq + 1);
    const seconds = (): number => (spaced ? 0 : deltaSeconds(arg));
    switch (spaced ? name.trimEnd() : name) {
      case 'no-store': cc.noStore = true; break;
      case 'no-cache': cc.noCache = true; break;
      case 'private': cc.private = true; break;
      case 'public': cc.public = true; break;
      case 'must-revalidate': cc.mustRevalidate = true; break;
      case 'proxy-revalidate': cc.proxyRevalidate = true; break;
      case 'no-transform': cc.noTransform = true; break;
      case 'must-understand': cc.mustUnderstand = true; break;
      case 'only-if-cached': cc.onlyIfCached = true; break;
      case 'max-age': cc.maxAge = restrict(cc.maxAge, seconds()); break;
      case 's-maxage': cc.sMaxage = restrict(cc.sMaxage, seconds()); break;
      case 'stale-while-revalidate': cc.staleWhileRevalidate = restrict(cc.staleWhileRevalidate, seconds()); break;
      case 'stale-if-error': cc.staleIfError = restrict(cc.staleIfError, seconds()); break;
      case 'min-fresh': cc.minFresh = restrict(cc.minFresh, seconds()); break;
      // max-stale without a value accepts any staleness; with an invalid one, none.
      case 'max-stale': cc.maxStale = restrict(cc.maxStale, eq === -1 ? DELTA_MAX : seconds()); break;
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

// ---- Targeted fields (RFC 9213) ------------------------------------------------------------

// The targeted cache-control fields this cache obeys, most specific first (RFC 9213 §2.1):
// Portcullis-Cache-Control, then CDN-Cache-Control. The first one present with a valid,
// non-empty value replaces Cache-Control and Expires for storing and freshness (fill.ts
// responseFacts). Both are removed from what clients receive.

/** The cache fields used for us and never sent to clients: the targeted ones and Surrogate-Control. */
export function isTargetedField(name: string): boolean {
  return name === 'portcullis-cache-control' || name === 'cdn-cache-control' || name === 'surrogate-control';
}

// ---- Surrogate-Control (W3C Edge Architecture Specification 1.0) ---------------------------

/** Our device token: what Surrogate-Control directives are targeted at (`max-age=60;portcullis`). */
export const SURROGATE_TOKEN = 'portcullis';
/** Announced upstream on requests the cache may store (Surrogate-Capability), so origins can target us. */
export const SURROGATE_CAPABILITY_LINE = `surrogate-capability: ${SURROGATE_TOKEN}="Surrogate/1.0"\r\n`;

/**
 * Surrogate-Control, the targeted field that came before RFC 9213 (used by Fastly, Akamai,
 * Varnish): its directives, minus those targeted at another device (`;token`), or null when
 * none of max-age / no-store remains. It ranks after CDN-Cache-Control. `max-age=N+M` (the
 * spec's stale extension) counts as max-age=N.
 */
export function parseSurrogateControl(value: string | undefined): CacheControl | null {
  if (value === undefined) return null;
  const kept: string[] = [];
  for (const element of splitList(value)) {
    const semi = element.indexOf(';');
    if (semi >= 0 && element.slice(semi + 1).trim().toLowerCase() !== SURROGATE_TOKEN) continue;
    kept.push((semi >= 0 ? element.slice(0, semi) : element).replace(/^(\s*max-age=\d+)\+\d+\s*$/i, '$1'));
  }
  const cc = parseCacheControl(kept.join(','));
  if (cc.maxAge < 0 && !cc.noStore) return null;
  return { ...noDirectives(), maxAge: cc.maxAge, noStore: cc.noStore };
}

/** A parsed Structured Field bare item (RFC 8941 §3.3), as much as directives need. */
type BareItem = { t: 'int'; v: number } | { t: 'bool'; v: boolean } | { t: 'other' };

/** Parses a bare item at s[i]; returns [item, next index] or null (a syntax error). */
function bareItem(s: string, i: number): [BareItem, number] | null {
  const c = s.charCodeAt(i);
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
    // sf-integer / sf-decimal
    const m = /^-?\d{1,15}(\.\d{1,3})?/.exec(s.slice(i));
    if (m === null) return null;
    const text = m[0];
    if (m[1] === undefined) return [{ t: 'int', v: Number(text) }, i + text.length];
    if (text.replace('-', '').split('.')[0]!.length > 12) return null;
    return [{ t: 'other' }, i + text.length];
  }
  if (c === 0x22) {
    // sf-string: printable ASCII, \" and \\ only
    for (let j = i + 1; j < s.length; j++) {
      const d = s.charCodeAt(j);
      if (d === 0x5c) {
        const e = s.charCodeAt(j + 1);
        if (e !== 0x22 && e !== 0x5c) return null;
        j++;
      } else if (d === 0x22) {
        return [{ t: 'other' }, j + 1];
      } else if (d < 0x20 || d > 0x7e) {
        return null;
      }
    }
    return null;
  }
  if (c === 0x3f) {
    // sf-boolean
    const d = s[i + 1];
    if (d !== '0' && d !== '1') return null;
    return [{ t: 'bool', v: d === '1' }, i + 2];
  }
  if (c === 0x3a) {
    // sf-binary
    const m = /^:[A-Za-z0-9+/=]*:/.exec(s.slice(i));
    return m === null ? null : [{ t: 'other' }, i + m[0].length];
  }
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2a) {
    // sf-token
    const m = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.exec(s.slice(i));
    return [{ t: 'other' }, i + m![0].length];
  }
  return null;
}

const KEY = /^[a-z*][a-z0-9_\-.*]*/;

/** Parameters (;key[=bare-item])* at s[i]; returns the next index or -1. */
function parameters(s: string, i: number): number {
  while (s.charCodeAt(i) === 0x3b) {
    i++;
    while (s.charCodeAt(i) === 0x20) i++;
    const m = KEY.exec(s.slice(i));
    if (m === null) return -1;
    i += m[0].length;
    if (s.charCodeAt(i) === 0x3d) {
      const item = bareItem(s, i + 1);
      if (item === null) return -1;
      i = item[1];
    }
  }
  return i;
}

/**
 * An RFC 8941 Dictionary as (key, value) pairs in order, or null when the text is not one (the
 * whole field is then ignored, RFC 9213 §2.1). A member without a value is boolean true; inner
 * lists are recognised and reported as 'other'. Parameters are parsed and dropped.
 */
export function parseDictionary(text: string): Array<[string, BareItem]> | null {
  const s = text.replace(/^[ \t]+|[ \t]+$/g, '');
  const out: Array<[string, BareItem]> = [];
  let i = 0;
  if (s === '') return out;
  for (;;) {
    const m = KEY.exec(s.slice(i));
    if (m === null) return null;
    const key = m[0];
    i += key.length;
    let value: BareItem = { t: 'bool', v: true };
    if (s.charCodeAt(i) === 0x3d) {
      i++;
      if (s.charCodeAt(i) === 0x28) {
        // inner list: ( item params ... ) params
        i++;
        for (;;) {
          while (s.charCodeAt(i) === 0x20) i++;
          if (s.charCodeAt(i) === 0x29) { i++; break; }
          const item = bareItem(s, i);
          if (item === null) return null;
          i = parameters(s, item[1]);
          if (i < 0) return null;
          const d = s.charCodeAt(i);
          if (d !== 0x20 && d !== 0x29) return null;
        }
        value = { t: 'other' };
      } else {
        const item = bareItem(s, i);
        if (item === null) return null;
        value = item[0];
        i = item[1];
      }
    }
    i = parameters(s, i);
    if (i < 0) return null;
    // A later duplicate key overrides an earlier one (RFC 8941 §4.2.2).
    const at = out.findIndex(([k]) => k === key);
    if (at >= 0) out.splice(at, 1);
    out.push([key, value]);
    while (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09) i++;
    if (i >= s.length) return out;
    if (s.charCodeAt(i) !== 0x2c) return null;
    i++;
    while (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09) i++;
    if (i >= s.length) return null; // trailing comma
  }
}

/**
 * A targeted field's directives (RFC 9213 §2.2: Cache-Control's response directives with
 * Structured Field syntax), or null when the field is empty, not a Dictionary, or gives a known
 * directive a value of the wrong type (`max-age="60"`): the field is then ignored.
 */
export function parseTargeted(value: string | undefined): CacheControl | null {
  if (value === undefined) return null;
  const dict = parseDictionary(value);
  if (dict === null || dict.length === 0) return null;
  const cc = noDirectives();
  for (const [key, item] of dict) {
    const flag = item.t === 'bool' ? item.v : item.t === 'other' && (key === 'no-cache' || key === 'private');
    const seconds = item.t === 'int' && item.v >= 0 ? Math.min(item.v, DELTA_MAX) : -2;
    switch (key) {
      case 'no-store': case 'no-cache': case 'private': case 'public': case 'must-revalidate':
      case 'proxy-revalidate': case 'no-transform': case 'must-understand': {
        // no-cache / private may carry a field list (an inner list or string): still the directive.
        if (item.t === 'int') return null;
        const prop = DIRECTIVE_FLAGS[key];
        cc[prop] = flag;
        break;
      }
      case 'max-age': case 's-maxage': case 'stale-while-revalidate': case 'stale-if-error': {
        if (seconds === -2) return null;
        cc[DIRECTIVE_SECONDS[key]] = seconds;
        break;
      }
    }
  }
  return cc;
}

const DIRECTIVE_FLAGS = {
  'no-store': 'noStore', 'no-cache': 'noCache', private: 'private', public: 'public', 'must-revalidate': 'mustRevalidate',
  'proxy-revalidate': 'proxyRevalidate', 'no-transform': 'noTransform', 'must-understand': 'mustUnderstand',
} as const;
const DIRECTIVE_SECONDS = {
  'max-age': 'maxAge', 's-maxage': 'sMaxage', 'stale-while-revalidate': 'staleWhileRevalidate', 'stale-if-error': 'staleIfError',
} as const;
