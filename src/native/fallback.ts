// Pure-TypeScript twins of every native function (native/addon.cc), same contracts, same results.
// Used when the addon is missing or PORTCULLIS_NATIVE=0; test/native/parity.test.ts runs one suite on both.
import zlib from 'node:zlib';
import { FIELD_VALUE, LOWER_TOKEN } from '../http/chars.js';
import { equalsLower, isOws, keepAliveTimeout, parseLengthList } from '../http/field-scan.js';
import {
  F_CHUNKED, F_CONN_CLOSE, F_CONN_KEEPALIVE, F_CONN_OTHER, F_HAS_CL, F_HTTP10, F_TE, OUT_CL_HI, OUT_CL_LO, OUT_COUNT,
  OUT_ERROR, OUT_FLAGS, OUT_HEADERS, OUT_KEEPALIVE_MS, OUT_REASON_END, OUT_REASON_START, OUT_STATUS,
} from './layout.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const COLON = 0x3a;
const COMMA = 0x2c;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

const E_STATUS_LINE = 1, E_VERSION = 2, E_STATUS_CODE = 3, E_REASON = 4, E_CR_STATUS = 5, E_OBS_FOLD = 6,
  E_BARE_LF = 7, E_NAME = 8, E_VALUE = 9, E_BARE_CR = 10, E_CL_INVALID = 11, E_CL_CONFLICT = 12,
  E_TE_REPEATED = 13, E_TE_UNSUPPORTED = 14, E_CONNECTION = 15, E_TE_AND_CL = 16, E_TOO_LARGE = 17, E_OUT_FULL = 18;

function fail(out: Int32Array, code: number): -1 {
  out[OUT_ERROR] = code;
  return -1;
}

/** Returns the new flags, or -1 when an element is not a token. */
function connectionTokens(b: Uint8Array, s: number, e: number, flags: number): number {
  if (equalsLower(b, s, e, 'keep-alive')) return flags | F_CONN_KEEPALIVE;
  if (equalsLower(b, s, e, 'close')) return flags | F_CONN_CLOSE;
  let p = s;
  let any = false;
  while (p < e) {
    let c = b[p]!;
    if (c === COMMA || isOws(c)) { p++; continue; }
    const ts = p;
    while (p < e && LOWER_TOKEN[(c = b[p]!)] !== 0) p++;
    if (p === ts) return -1;
    if (p < e && c !== COMMA && !isOws(c)) return -1;
    if (equalsLower(b, ts, p, 'close')) flags |= F_CONN_CLOSE;
    else if (equalsLower(b, ts, p, 'keep-alive')) flags |= F_CONN_KEEPALIVE;
    else flags |= F_CONN_OTHER;
    any = true;
  }
  return any ? flags : flags | F_CONN_OTHER;
}


function hasBareLf(b: Uint8Array, i: number, end: number, prev: number): boolean {
  for (let j = i; j < end; j++) if (b[j] === LF && (j > i ? b[j - 1]! : prev) !== CR) return true;
  return false;
}

function findHeadEnd(b: Uint8Array, i: number, len: number): number {
  if (b instanceof Buffer) {
    const j = b.indexOf(CRLFCRLF, i);
    return j !== -1 && j + 4 <= len ? j : len === b.length ? -1 : slowFind(b, i, len);
  }
  return slowFind(b, i, len);
}

function slowFind(b: Uint8Array, i: number, len: number): number {
  for (let j = i; j + 3 < len; j++) if (b[j] === CR && b[j + 1] === LF && b[j + 2] === CR && b[j + 3] === LF) return j;
  return -1;
}

/** Twin of pc::scanHead (native/head.h): see src/native/layout.ts for out[] and the results. */
export function scanHead(b: Uint8Array, start: number, end: number, max: number, out: Int32Array): number {
  const len = end > b.length ? b.length : end;
  if (start < 0 || start > len || out.length < OUT_HEADERS) return -3;
  out[OUT_ERROR] = 0;
  const prev = start > 0 ? b[start - 1]! : -1;
  const term = findHeadEnd(b, start, len);
  if (term === -1 || term + 4 - start > max) {
    const lim = start + max < len ? start + max : len;
    if (hasBareLf(b, start, lim, prev)) return fail(out, E_BARE_LF);
    if (term !== -1 || len - start >= max) return fail(out, E_TOO_LARGE);
    return -2;
  }
  const headEnd = term + 4;
  let p = start;
  if (
    headEnd - start < 16 || b[p] !== 0x48 || b[p + 1] !== 0x54 || b[p + 2] !== 0x54 || b[p + 3] !== 0x50 ||
    b[p + 4] !== 0x2f || b[p + 5] !== 0x31 || b[p + 6] !== 0x2e || b[p + 8] !== SP
  ) {
    return fail(out, E_STATUS_LINE);
  }
  const minor = b[p + 7]!;
  if (minor !== 0x31 && minor !== 0x30) return fail(out, E_VERSION);
  const d0 = b[p + 9]! - 0x30;
  const d1 = b[p + 10]! - 0x30;
  const d2 = b[p + 11]! - 0x30;
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return fail(out, E_STATUS_CODE);
  const status = d0 * 100 + d1 * 10 + d2;
  p += 12;
  let rs = p;
  let re = p;
  let c = b[p]!;
  if (c === SP) {
    rs = ++p;
    while ((c = b[p]!) !== CR) {
      if (FIELD_VALUE[c] === 0) return fail(out, E_REASON);
      p++;
    }
    re = p;
  } else if (c !== CR) {
    return fail(out, E_STATUS_LINE);
  }
  if (b[p + 1] !== LF) return fail(out, E_CR_STATUS);
  p += 2;

  let flags = minor === 0x30 ? F_HTTP10 : 0;
  let contentLength = -1;
  let keepAliveMs = -1;
  let count = 0;
  let h = OUT_HEADERS;
  const capacity = (out.length - OUT_HEADERS) >> 2;
  while ((c = b[p]!) !== CR) {
    const ns = p;
    while (LOWER_TOKEN[c] !== 0) c = b[++p]!;
    if (c !== COLON || p === ns) {
      if (p === ns && isOws(c)) return fail(out, E_OBS_FOLD);
      if (c === LF) return fail(out, E_BARE_LF);
      return fail(out, E_NAME);
    }
    const ne = p++;
    while (isOws((c = b[p]!))) p++;
    const vs = p;
    while (c !== CR) {
      if (FIELD_VALUE[c] === 0) return fail(out, c === LF ? E_BARE_LF : E_VALUE);
      c = b[++p]!;
    }
    if (b[p + 1] !== LF) return fail(out, E_BARE_CR);
    let ve = p;
    while (ve > vs && isOws(b[ve - 1]!)) ve--;
    p += 2;
    if (count >= capacity) return fail(out, E_OUT_FULL);
    out[h] = ns;
    out[h + 1] = ne;
    out[h + 2] = vs;
    out[h + 3] = ve;
    h += 4;
    count++;
    switch (ne - ns) {
      case 14:
        if (equalsLower(b, ns, ne, 'content-length')) {
          const n = parseLengthList(b, vs, ve);
          if (n < 0) return fail(out, n === -2 ? E_CL_CONFLICT : E_CL_INVALID);
          if (contentLength !== -1 && contentLength !== n) return fail(out, E_CL_CONFLICT);
          contentLength = n;
        }
        break;
      case 17:
        if (equalsLower(b, ns, ne, 'transfer-encoding')) {
          if ((flags & F_TE) !== 0) return fail(out, E_TE_REPEATED);
          flags |= F_TE;
          if (!equalsLower(b, vs, ve, 'chunked')) return fail(out, E_TE_UNSUPPORTED);
          flags |= F_CHUNKED;
        }
        break;
      case 10:
        if (equalsLower(b, ns, ne, 'connection')) {
          const f = connectionTokens(b, vs, ve, flags);
          if (f < 0) return fail(out, E_CONNECTION);
          flags = f;
        } else if (equalsLower(b, ns, ne, 'keep-alive')) {
          const ms = keepAliveTimeout(b, vs, ve);
          if (ms >= 0) keepAliveMs = ms;
        }
        break;
    }
  }
  if (p !== headEnd - 2) return fail(out, E_BARE_CR);
  if (status >= 200 && (flags & F_TE) !== 0 && contentLength !== -1) return fail(out, E_TE_AND_CL);

  out[OUT_STATUS] = status;
  if (contentLength !== -1) {
    flags |= F_HAS_CL;
    out[OUT_CL_HI] = Math.floor(contentLength / 4294967296);
    out[OUT_CL_LO] = contentLength % 4294967296 | 0;
  } else {
    out[OUT_CL_HI] = -1;
    out[OUT_CL_LO] = -1;
  }
  out[OUT_FLAGS] = flags;
  out[OUT_REASON_START] = rs;
  out[OUT_REASON_END] = re;
  out[OUT_COUNT] = count;
  out[OUT_KEEPALIVE_MS] = keepAliveMs;
  return headEnd;
}

/** Twin of pc::hash64: two murmur3-style lanes over little-endian 32-bit words. out[0] = hi, out[1] = lo. */
export function hash64(b: Uint8Array, start: number, end: number, seed: number, out: Uint32Array): void {
  if (end > b.length) end = b.length;
  if (start > end) start = end;
  const n = end - start;
  let h1 = (seed ^ n) | 0;
  let h2 = (0x9e3779b9 ^ seed ^ n) | 0;
  let i = start;
  const stop = start + (n & ~3);
  while (i < stop) {
    const k = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    let k1 = Math.imul(k, 0xcc9e2d51);
    k1 = Math.imul((k1 << 15) | (k1 >>> 17), 0x1b873593);
    h1 ^= k1;
    h1 = (Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64) | 0;
    let k2 = Math.imul(k, 0x85ebca6b);
    k2 = Math.imul((k2 << 17) | (k2 >>> 15), 0xc2b2ae35);
    h2 ^= k2;
    h2 = (Math.imul((h2 << 11) | (h2 >>> 21), 9) + 0x52dce729) | 0;
    i += 4;
  }
  const rest = n & 3;
  if (rest !== 0) {
    let k = b[i]!;
    if (rest > 1) k ^= b[i + 1]! << 8;
    if (rest > 2) k ^= b[i + 2]! << 16;
    let k1 = Math.imul(k, 0xcc9e2d51);
    h1 ^= Math.imul((k1 << 15) | (k1 >>> 17), 0x1b873593);
    k1 = Math.imul(k, 0x85ebca6b);
    h2 ^= Math.imul((k1 << 17) | (k1 >>> 15), 0xc2b2ae35);
  }
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
}

/** murmur3's 32-bit finaliser: every input bit reaches every output bit. */
export function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Twin of the native one-shot gzip: node:zlib (different bytes, same decompressed result). */
export function gzip(src: Uint8Array, level: number): Buffer {
  return zlib.gzipSync(src, { level: level > 9 ? 9 : level < 1 ? 1 : level });
}
