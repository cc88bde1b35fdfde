// Strict checks on a downstream request head as uWS hands it over: framing (smuggling shapes), field syntax,
// Host, request target and size limits. uWS lets these through to the handler (shared notes §6). Hot path:
// pure, and allocation-free for a body-less request with lowercase names.

import type { Limits } from '../config/types.js';
import { ProxyError } from '../errors.js';
import { isIPv6 } from 'node:net';
import { isToken, TOKEN } from './chars.js';

export { isToken };

export interface RequestFraming {
  /** Declared body length, -1 when none. */
  readonly contentLength: number;
  readonly chunked: boolean;
}

export type RequestLimits = Pick<Limits, 'max_header_bytes' | 'max_header_count' | 'max_body_bytes'>;

// Shared results for the framings that carry no number: no object per request.
const NO_BODY: RequestFraming = Object.freeze({ contentLength: -1, chunked: false });
const CHUNKED: RequestFraming = Object.freeze({ contentLength: -1, chunked: true });

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** RFC 3986 reg-name bytes: unreserved / sub-delims ('%' is handled as pct-encoded). */
const REG_NAME = new Uint8Array(128);
for (const c of "-._~!$&'()*+,;=") REG_NAME[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) REG_NAME[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) REG_NAME[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) REG_NAME[c] = 1;

/**
 * Validates a client request head. `url` is the whole request target (path and query); `headers` is the flat
 * [name, value, ...] list from uWS (names lowercase, duplicates as separate entries). Returns the body
 * framing, or the ProxyError to answer with: PC_ERR_SMUGGLING, PC_ERR_BAD_HEADER, PC_ERR_BAD_REQUEST,
 * PC_ERR_HEADERS_TOO_LARGE or PC_ERR_BODY_TOO_LARGE. Pure.
 */
export function checkRequestHead(
  method: string,
  url: string,
  headers: readonly string[],
  limits: RequestLimits,
): RequestFraming | ProxyError {
  const n = headers.length;
  if ((n & 1) !== 0) return new ProxyError('PC_ERR_BAD_REQUEST', 'odd header list');
  if (n >>> 1 > limits.max_header_count) {
    return new ProxyError('PC_ERR_HEADERS_TOO_LARGE', `more than ${limits.max_header_count} header fields`);
  }
  if (!isToken(method)) return new ProxyError('PC_ERR_BAD_REQUEST', 'invalid method');
  if (!isOriginForm(url)) return new ProxyError('PC_ERR_BAD_REQUEST', 'request target is not origin-form');

  // Request line as sent (method SP target SP HTTP/1.1 CRLF) and the blank line ending the head:
  // the head as uWS counts it for UWS_HTTP_MAX_HEADERS_SIZE (uws/head-limit.ts).
  let bytes = method.length + url.length + 12 + 2;
  let contentLength = -1;
  let chunked = false;
  let teSeen = false;
  let hostSeen = false;
  for (let k = 0; k < n; k += 2) {
    let name = headers[k]!;
    const value = headers[k + 1]!;
    bytes += name.length + value.length + 4;
    const kind = tokenKind(name);
    if (kind === 0) return new ProxyError('PC_ERR_BAD_HEADER', 'invalid header name');
    // uWS lowercases names; a caller that does not must not slip `Content-Length` past the checks below.
    if (kind === 2) name = name.toLowerCase();
    // Host's own syntax (isHost) admits only visible ASCII: no second pass over its value.
    if (name !== 'host' && !isFieldValue(value)) return new ProxyError('PC_ERR_BAD_HEADER', `invalid value in ${name}`);
    switch (name.length) {
      case 4:
        if (name === 'host') {
          if (hostSeen) return new ProxyError('PC_ERR_BAD_REQUEST', 'more than one Host');
          hostSeen = true;
          if (!isHost(value)) {
            // The value was not scanned for control bytes before (isHost admits none): they get the code any field's would.
            return isFieldValue(value) ? new ProxyError('PC_ERR_BAD_REQUEST', 'invalid Host') : new ProxyError('PC_ERR_BAD_HEADER', 'invalid value in host');
          }
        }
        break;
      case 14:
        if (name === 'content-length') {
          const len = contentLengthField(value);
          if (len === -2) return new ProxyError('PC_ERR_SMUGGLING', 'conflicting Content-Length list');
          if (len < 0) return new ProxyError('PC_ERR_BAD_REQUEST', 'invalid Content-Length');
          if (contentLength !== -1 && contentLength !== len) {
            return new ProxyError('PC_ERR_SMUGGLING', 'conflicting Content-Length');
          }
          contentLength = len;
        }
        break;
      case 17:
        if (name === 'transfer-encoding') {
          // RFC 9112 §6.1: only a lone `chunked` is unambiguous; everything else is how smuggling starts.
          if (teSeen) return new ProxyError('PC_ERR_SMUGGLING', 'repeated Transfer-Encoding');
          teSeen = true;
          if (!isChunked(value)) return new ProxyError('PC_ERR_SMUGGLING', 'Transfer-Encoding other than chunked');
          chunked = true;
        }
        break;
    }
  }
  // RFC 9112 §6.3 rule 3: TE and CL together is the classic CL.TE / TE.CL desync; refuse, do not pick one.
  if (teSeen && contentLength !== -1) {
    return new ProxyError('PC_ERR_SMUGGLING', 'Transfer-Encoding with Content-Length');
  }
  if (bytes > limits.max_header_bytes) {
    return new ProxyError('PC_ERR_HEADERS_TOO_LARGE', `head over ${limits.max_header_bytes} bytes`);
  }
  if (!hostSeen) return new ProxyError('PC_ERR_BAD_REQUEST', 'missing Host');
  if (contentLength > limits.max_body_bytes) {
    return new ProxyError('PC_ERR_BODY_TOO_LARGE', `Content-Length over ${limits.max_body_bytes}`);
  }
  if (chunked) return CHUNKED;
  if (contentLength === -1) return NO_BODY;
  return { contentLength, chunked: false };
}

/** Content-Length field value: 1*DIGIT with optional surrounding OWS. Returns the length, or -1 if invalid. */
export function parseContentLength(value: string): number {
  let s = 0;
  let e = value.length;
  while (s < e && isOws(value.charCodeAt(s))) s++;
  while (e > s && isOws(value.charCodeAt(e - 1))) e--;
  return digits(value, s, e);
}

/** 0 = not a token, 1 = token, 2 = token with an uppercase letter. */
function tokenKind(s: string): number {
  const n = s.length;
  if (n === 0) return 0;
  let kind = 1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const t = c > 0xff ? 0 : TOKEN[c]!;
    if (t === 0) return 0;
    if (t === 2) kind = 2;
  }
  return kind;
}

/** RFC 9110 §5.5: no CTL but HTAB (so no CR, LF, NUL, DEL). Characters past ASCII are obs-text. */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

/** origin-form (RFC 9112 §3.2.1): '/' then visible ASCII, no fragment. */
function isOriginForm(url: string): boolean {
  if (url.charCodeAt(0) !== 0x2f) return false;
  for (let i = 1; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23) return false;
  }
  return true;
}

/** Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2); empty is invalid for a proxy. */
function isHost(h: string): boolean {
  const n = h.length;
  let i = 0;
  if (n === 0) return false;
  if (h.charCodeAt(0) === 0x5b) {
    // IP-literal: hex digits, ':' and '.' (IPv4-mapped) up to ']'.
    i = 1;
    let c = 0;
    while (i < n && (c = h.charCodeAt(i)) !== 0x5d) {
      if (!(c === 0x3a || c === 0x2e || (c < 128 && ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66))))) {
        return false;
      }
      i++;
    }
    if (i === n || i === 1) return false;
    // Its characters are right; is it an IPv6 address (RFC 3986 IP-literal: '::' once at most,
    // eight groups)? Rare in a Host, so the parse is only paid for here.
    if (!isIPv6(h.slice(1, i))) return false;
    i++;
  } else {
    let c = 0;
    while (i < n && (c = h.charCodeAt(i)) !== 0x3a) {
      if (c === 0x25) {
        if (!isHex(h.charCodeAt(i + 1)) || !isHex(h.charCodeAt(i + 2))) return false;
        i += 3;
        continue;
      }
      if (c >= 128 || REG_NAME[c] === 0) return false;
      i++;
    }
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (h.charCodeAt(i) !== 0x3a) return false;
  const port = digits(h, i + 1, n);
  return port >= 0 && port <= 65535 && n - i - 1 <= 5;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** 1*DIGIT in s[a, b), at most 2^53-1; else -1. */
function digits(s: string, a: number, b: number): number {
  if (a >= b) return -1;
  let n = 0;
  for (let i = a; i < b; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n > MAX_SAFE ? -1 : n;
}

/**
 * A Content-Length field value: the length, -1 when not 1*DIGIT, -2 for a list of differing lengths (`5, 6`,
 * smuggling). A list of identical lengths (`5, 5`) is -1: RFC 9110 §8.6 lets us accept it, but uWS frames the
 * body by its own reading of the field, so anything but plain digits is refused.
 */
function contentLengthField(value: string): number {
  const single = parseContentLength(value);
  if (single >= 0 || value.indexOf(',') === -1) return single;
  let first = -1;
  let differing = false;
  let s = 0;
  while (s <= value.length) {
    let e = value.indexOf(',', s);
    if (e === -1) e = value.length;
    let a = s;
    let b = e;
    while (a < b && isOws(value.charCodeAt(a))) a++;
    while (b > a && isOws(value.charCodeAt(b - 1))) b--;
    const v = digits(value, a, b);
    if (v < 0) return -1;
    if (first === -1) first = v;
    else if (v !== first) differing = true;
    s = e + 1;
  }
  return differing ? -2 : -1;
}

/** Exactly `chunked`, any case, optional OWS around it. */
function isChunked(value: string): boolean {
  let s = 0;
  let e = value.length;
  while (s < e && isOws(value.charCodeAt(s))) s++;
  while (e > s && isOws(value.charCodeAt(e - 1))) e--;
  if (e - s !== 7) return false;
  const lit = 'chunked';
  for (let k = 0; k < 7; k++) {
    if ((value.charCodeAt(s + k) | 0x20) !== lit.charCodeAt(k)) return false;
  }
  return true;
}
