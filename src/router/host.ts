// Hosts: normalising the client's Host header, parsing a route's host pattern, and the
// table that finds, for one request host, the per-host values in precedence order
// (exact host, then *.suffix wildcards from the longest suffix, then any host).

/** A route's host constraint after validation. */
export type HostPattern =
  | { readonly kind: 'exact'; readonly host: string }
  | { readonly kind: 'wildcard'; /** 'example.com' for '*.example.com' */ readonly suffix: string }
  | { readonly kind: 'any' };

// Name bytes: letters, digits, '-', '.', '_' ('_' is not valid in DNS host names, but
// it is common in internal names and harmless for matching).
const NAME = 1;
const UPPER = 2;
const HOST_CLASS = buildHostClass();

function buildHostClass(): Uint8Array {
  const t = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) t[c] = NAME;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = NAME;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = UPPER;
  t[0x2d] = NAME; // '-'
  t[0x2e] = NAME; // '.'
  t[0x5f] = NAME; // '_'
  return t;
}

const CH_DOT = 0x2e;
/** Longest host name (RFC 1035 §2.3.4, without the root's trailing dot). */
export const MAX_NAME = 253;
const CH_COLON = 0x3a;

/**
 * Host header → lowercase name without port and without one trailing dot, or null when
 * it is not a name or a bracketed IPv6 literal. Empty labels ('a..b', '.a') are refused:
 * they never name a real host and would blur wildcard matching.
 */
export function normalizeHost(hostHeader: string): string | null {
  const len = hostHeader.length;
  if (len === 0) return null;
  if (hostHeader.charCodeAt(0) === 0x5b) return normalizeIpv6(hostHeader);
  // Hot path: one scan; an already-canonical host is returned as the same string.
  let end = len;
  let lower = true;
  for (let i = 0; i < len; i++) {
    const c = hostHeader.charCodeAt(i);
    const k = c < 128 ? HOST_CLASS[c]! : 0;
    if (k === NAME) continue;
    if (k === UPPER) {
      lower = false;
      continue;
    }
    if (c === CH_COLON && isPort(hostHeader, i + 1)) {
      end = i;
      break;
    }
    return null;
  }
  if (end > 0 && hostHeader.charCodeAt(end - 1) === CH_DOT) end--;
  // RFC 1035 §2.3.4: a name is at most 253 characters (so at most 127 labels). Longer ones name
  // nothing, and refusing them keeps every per-host lookup bounded.
  if (end === 0 || end > MAX_NAME || !labelsNonEmpty(hostHeader, end)) return null;
  if (end === len && lower) return hostHeader;
  const name = hostHeader.slice(0, end);
  return lower ? name : name.toLowerCase();
}

// '[' IPv6 ']' [ ':' port ]. Zone ids ('%25eth0') are refused: they mean nothing to
// a remote client's request.
function normalizeIpv6(h: string): string | null {
  const close = h.indexOf(']');
  if (close < 3) return null; // shortest literal is '[::]'
  let colons = 0;
  for (let i = 1; i < close; i++) {
    const c = h.charCodeAt(i);
    if (c === CH_COLON) colons++;
    else if (!isHex(c) && c !== CH_DOT) return null;
  }
  if (colons < 2) return null;
  if (close + 1 !== h.length && !(h.charCodeAt(close + 1) === CH_COLON && isPort(h, close + 2))) {
    return null;
  }
  const literal = close + 1 === h.length ? h : h.slice(0, close + 1);
  return literal.toLowerCase();
}

// RFC 3986 §3.2.3: port = *DIGIT (an empty port is allowed and means the default).
function isPort(s: string, from: number): boolean {
  if (s.length - from > 5) return false;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function labelsNonEmpty(s: string, end: number): boolean {
  if (s.charCodeAt(0) === CH_DOT) return false;
  for (let i = 1; i < end; i++) {
    if (s.charCodeAt(i) === CH_DOT && s.charCodeAt(i - 1) === CH_DOT) return false;
  }
  return s.charCodeAt(end - 1) !== CH_DOT;
}

/**
 * A route's host: undefined or '*' = any host, '*.example.com' = any depth of subdomain
 * of example.com (not example.com itself), anything else = that exact host. Returns
 * null when the pattern is not a valid host (ports are not part of a pattern).
 */
export function parseHostPattern(pattern: string | undefined): HostPattern | null {
  if (pattern === undefined || pattern === '*') return { kind: 'any' };
  if (pattern.startsWith('*.')) {
    const suffix = canonicalName(pattern.slice(2));
    return suffix === null || suffix.startsWith('[') ? null : { kind: 'wildcard', suffix };
  }
  const host = canonicalName(pattern);
  return host === null ? null : { kind: 'exact', host };
}

// normalizeHost, but a port is refused rather than silently dropped.
function canonicalName(s: string): string | null {
  const norm = normalizeHost(s);
  const bare = s.endsWith('.') ? s.slice(0, -1) : s;
  return norm !== null && norm === bare.toLowerCase() ? norm : null;
}

/** Formats a pattern back for messages. */
export function formatHostPattern(p: HostPattern): string {
  return p.kind === 'exact' ? p.host : p.kind === 'wildcard' ? `*.${p.suffix}` : '*';
}

/**
 * Per-host values. Exact hosts are one Map lookup; wildcards cost one lookup per distinct
 * suffix length configured (not per label of the request host, which a client controls), and
 * nothing when no wildcard is configured.
 */
export class HostTable<V> {
  readonly #exact = new Map<string, V>();
  readonly #wildcard = new Map<string, V>();
  /** Lengths of the configured wildcard suffixes, longest (most specific) first. */
  #suffixLengths: number[] = [];
  #any: V | undefined = undefined;

  /** The value stored for a pattern, if any. */
  get(p: HostPattern): V | undefined {
    if (p.kind === 'exact') return this.#exact.get(p.host);
    if (p.kind === 'wildcard') return this.#wildcard.get(p.suffix);
    return this.#any;
  }

  set(p: HostPattern, value: V): void {
    if (p.kind === 'exact') this.#exact.set(p.host, value);
    else if (p.kind === 'wildcard') {
      this.#wildcard.set(p.suffix, value);
      if (!this.#suffixLengths.includes(p.suffix.length)) this.#suffixLengths = [...this.#suffixLengths, p.suffix.length].sort((a, b) => b - a);
    } else this.#any = value;
  }

  /**
   * Calls `visit(value, arg)` for each value that applies to `host` (already
   * normalised), most specific first, until one returns non-null. `arg` lets hot callers
   * pass a module-level function instead of allocating a closure per request.
   */
  resolve<A, R>(host: string, visit: (value: V, arg: A) => R | null, arg: A): R | null {
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      const r = visit(exact, arg);
      if (r !== null) return r;
    }
    const lengths = this.#suffixLengths;
    for (let i = 0; i < lengths.length; i++) {
      // The suffix of that length, when a dot precedes it: longest first = most specific. The
      // host itself is never a candidate, so '*.example.com' does not match example.com.
      const at = host.length - lengths[i]!;
      if (at < 2 || host.charCodeAt(at - 1) !== CH_DOT) continue;
      const v = this.#wildcard.get(host.slice(at));
      if (v === undefined) continue;
      const r = visit(v, arg);
      if (r !== null) return r;
    }
    return this.#any === undefined ? null : visit(this.#any, arg);
  }
}
