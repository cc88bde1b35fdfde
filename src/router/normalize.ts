// normalizePath: the one canonical form of a request path, used both to match routes
// and as the path forwarded upstream, so the proxy and the origin never disagree about
// which resource a request names (RFC 3986 §6.2.2 syntax-based normalisation).

// Byte classes of RFC 3986 §3.3 `pchar` plus '/'. Anything else (controls, space,
// `"<>\^`{|}`, '#', '[', ']', non-ASCII) is rejected: we follow `pchar` exactly rather
// than guess what an origin makes of a byte the grammar does not allow.
const INVALID = 0;
const PLAIN = 1; // unreserved / sub-delims / ':' / '@'
const PERCENT = 2;
const SLASH = 3;

const CLASS = buildClassTable();

function buildClassTable(): Uint8Array {
  const t = new Uint8Array(128);
  const plain = "-._~!$&'()*+,;=:@";
  for (let c = 0x30; c <= 0x39; c++) t[c] = PLAIN;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = PLAIN;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = PLAIN;
  for (const ch of plain) t[ch.charCodeAt(0)] = PLAIN;
  t[0x25] = PERCENT;
  t[0x2f] = SLASH;
  return t;
}

const CH_SLASH = 0x2f;
const CH_DOT = 0x2e;

/**
 * Returns the normalised path, or null when the request must be rejected (400).
 * `raw` is the path part of the request-target (no query), exactly as received.
 */
export function normalizePath(raw: string): string | null {
  const len = raw.length;
  if (len === 0 || raw.charCodeAt(0) !== CH_SLASH) return null;
  // Hot path: one scan, no allocation. An already-canonical path (no escapes, no '//',
  // no segment starting with '.') is returned as the same string.
  for (let i = 1; i < len; i++) {
    const c = raw.charCodeAt(i);
    const k = c < 128 ? CLASS[c]! : INVALID;
    if (k === PLAIN) continue;
    if (k === INVALID) return null;
    if (k === PERCENT) return normalizeSlow(raw);
    // SLASH: the next byte tells whether a '//' or a dot-segment starts here.
    const next = raw.charCodeAt(i + 1);
    if (next === CH_SLASH || next === CH_DOT) return normalizeSlow(raw);
  }
  // The loop looks after each '/' from index 1 on; this covers the leading one.
  return raw.charCodeAt(1) === CH_DOT || raw.charCodeAt(1) === CH_SLASH ? normalizeSlow(raw) : raw;
}

// Slow path: split on literal '/', canonicalise each segment's escapes, then remove
// dot-segments (RFC 3986 §5.2.4) over the canonical segments, so dots spelt as %2E are
// seen too. Empty segments (from '//' runs) are dropped except a trailing one, which
// keeps the "directory" meaning of a final '/'.
function normalizeSlow(raw: string): string | null {
  const out: string[] = [];
  let trailingSlash = false;
  let start = 1;
  const len = raw.length;
  while (start <= len) {
    let end = raw.indexOf('/', start);
    if (end === -1) end = len;
    const isLast = end === len;
    if (end === start) {
      // Empty segment: a merged '//' or the final '/'.
      if (isLast) trailingSlash = true;
    } else {
      const seg = canonicalSegment(raw, start, end);
      if (seg === null) return null;
      if (seg === '.') {
        trailingSlash = isLast;
      } else if (seg === '..') {
        out.pop(); // above the root stays at the root (§5.2.4 step 2C)
        trailingSlash = isLast;
      } else {
        if (hasHiddenDotSegment(seg)) return null;
        out.push(seg);
        trailingSlash = false;
      }
    }
    start = end + 1;
  }
  if (out.length === 0) return '/';
  const path = '/' + out.join('/');
  return trailingSlash ? path + '/' : path;
}

/**
 * Canonical form of raw[start, end): escapes of unreserved characters decoded, every
 * other escape with uppercase hex (§6.2.2.1-2). Null on a byte outside `pchar`, a
 * malformed escape, or %00 (no origin should ever see a NUL).
 */
function canonicalSegment(raw: string, start: number, end: number): string | null {
  let seg = '';
  let copied = start; // raw[copied, i) is pending verbatim
  for (let i = start; i < end; i++) {
    const c = raw.charCodeAt(i);
    const k = c < 128 ? CLASS[c]! : INVALID;
    if (k === PLAIN) continue;
    if (k !== PERCENT) return null;
    const hi = hexValue(raw.charCodeAt(i + 1));
    const lo = i + 2 < end ? hexValue(raw.charCodeAt(i + 2)) : -1;
    if (hi < 0 || lo < 0 || i + 2 >= end) return null;
    const byte = (hi << 4) | lo;
    if (byte === 0) return null;
    seg += raw.slice(copied, i);
    seg += isUnreserved(byte) ? String.fromCharCode(byte) : '%' + HEX[hi]! + HEX[lo]!;
    i += 2;
    copied = i + 1;
  }
  return copied === start ? raw.slice(start, end) : seg + raw.slice(copied, end);
}

/**
 * Segments an origin may still read as '.' or '..' although RFC 3986 does not:
 * - An encoded slash or backslash stays data in the path we forward, but an origin (or
 *   a filesystem behind it) may decode it into a separator: '..%2Fadmin'.
 * - Servlet containers drop ';' path parameters before resolving dot-segments, so
 *   '/static/..;/admin' reaches /admin on Tomcat.
 * Either way the request could match one route and reach another resource, so such a
 * segment is refused rather than guessed at. `seg` is canonical and not '.' or '..'.
 */
function hasHiddenDotSegment(seg: string): boolean {
  if (seg.charCodeAt(0) !== CH_DOT && seg.indexOf('%2F') === -1 && seg.indexOf('%5C') === -1) return false;
  for (const piece of seg.split(/%2F|%5C/)) {
    const semi = piece.indexOf(';');
    const name = semi === -1 ? piece : piece.slice(0, semi);
    if (name === '.' || name === '..') return true;
  }
  return false;
}

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

// RFC 3986 §2.3: ALPHA / DIGIT / '-' / '.' / '_' / '~'.
function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x30 && b <= 0x39) ||
    b === 0x2d ||
    b === 0x2e ||
    b === 0x5f ||
    b === 0x7e
  );
}
