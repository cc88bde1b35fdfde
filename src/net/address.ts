// IP address text: parsing IPv4/IPv6 without allocating, and the one canonical form
// (RFC 5952 for IPv6, dotted quad for IPv4 and IPv4-mapped) used in logs, policies
// and X-Forwarded-For.

/** An IPv4-mapped IPv6 address as uWS prints an IPv4 peer on a dual-stack listener (notes §8). */
const UWS_MAPPED_PREFIX = '0000:0000:0000:0000:0000:ffff:';
const UWS_MAPPED_LENGTH = 39;

const CH_0 = 48;
const CH_9 = 57;
const CH_DOT = 46;
const CH_COLON = 58;

/** Value of a hex digit char code, or -1. */
function hexValue(c: number): number {
  if (c >= CH_0 && c <= CH_9) return c - CH_0;
  const l = c | 0x20; // ASCII lowercase
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * Parses a dotted-quad IPv4 address in text[start, end) and returns it as a uint32,
 * or -1 when it is not one. Strict like inet_pton: four decimal octets, no leading
 * zeros (their meaning differs between parsers: "010" is octal to inet_aton).
 * Hot path: a char loop, no allocation.
 */
export function parseIPv4(text: string, start = 0, end = text.length): number {
  if (end - start < 7 || end - start > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let first = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= CH_0 && c <= CH_9) {
      if (digits === 0) first = c;
      else if (first === CH_0) return -1;
      octet = octet * 10 + (c - CH_0);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === CH_DOT) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

/**
 * Parses an IPv6 address in text[start, end) into eight 16-bit groups (`out`), with
 * '::' compression and a dotted IPv4 tail. No zone ids, no brackets. Returns false
 * when it is not an IPv6 address (out is then garbage).
 * Hot path: a char loop, no allocation.
 */
export function parseIPv6(text: string, start: number, end: number, out: Uint16Array): boolean {
  if (end - start < 2 || end - start > 45) return false;
  let i = start;
  let n = 0;
  let gap = -1; // group index where '::' stands
  if (text.charCodeAt(i) === CH_COLON) {
    if (text.charCodeAt(i + 1) !== CH_COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    const groupStart = i;
    let value = 0;
    let digits = 0;
    let h: number;
    while (i < end && (h = hexValue(text.charCodeAt(i))) >= 0) {
      value = value * 16 + h;
      i++;
      if (++digits > 4) return false;
    }
    if (i < end && text.charCodeAt(i) === CH_DOT) {
      // RFC 4291 §2.2 form 3: the last 32 bits as dotted IPv4.
      if (n > 6) return false;
      const v4 = parseIPv4(text, groupStart, end);
      if (v4 < 0) return false;
      out[n++] = v4 >>> 16;
      out[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || n === 8) return false;
    out[n++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== CH_COLON) return false;
    i++;
    if (i < end && text.charCodeAt(i) === CH_COLON) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false; // trailing single ':'
    }
  }
  if (gap < 0) return n === 8;
  if (n === 8) return false; // '::' must stand for at least one group
  // Move the groups after '::' to the end and zero the gap.
  const tail = n - gap;
  for (let k = 1; k <= tail; k++) out[8 - k] = out[n - k]!;
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return true;
}

/** True when the eight groups are ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
export function isMappedIPv4(g: Uint16Array): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

/** Dotted quad for a uint32. */
export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

// Byte → hex text tables: half the cost of Number#toString(16) per group (measured).
const HEX: string[] = []; // no leading zero
const HEX2: string[] = []; // two digits
for (let k = 0; k < 256; k++) {
  HEX.push(k.toString(16));
  HEX2.push(k.toString(16).padStart(2, '0'));
}

/** A 16-bit group in lowercase hex without leading zeros (RFC 5952 §4.1). */
function hex16(v: number): string {
  return v < 256 ? HEX[v]! : HEX[v >>> 8]! + HEX2[v & 255]!;
}

/**
 * RFC 5952 text for eight groups: lowercase, no leading zeros, the longest run (the
 * first on a tie) of two or more zero groups as '::'. IPv4-mapped addresses print
 * as ::ffff:a.b.c.d (§5).
 */
export function formatIPv6(g: Uint16Array): string {
  if (isMappedIPv4(g)) return `::ffff:${formatIPv4(g[6]! * 65536 + g[7]!)}`;
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed (§4.2.2)
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) { k++; continue; }
    let j = k;
    while (j < 8 && g[j] === 0) j++;
    if (j - k > bestLen) { bestStart = k; bestLen = j - k; }
    k = j;
  }
  let s = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      s += '::';
      k += bestLen - 1;
      continue;
    }
    if (s.length > 0 && s.charCodeAt(s.length - 1) !== CH_COLON) s += ':';
    s += hex16(g[k]!);
  }
  return s;
}

// One scratch buffer per thread: every parse is synchronous, so it is never shared.
const scratch = new Uint16Array(8);

/**
 * Canonical text of an IP address: IPv4 as dotted quad, IPv4-mapped IPv6 as the
 * plain IPv4 (a dual-stack listener must not make one client look like two), other
 * IPv6 per RFC 5952. Text that is not an IP address is returned unchanged.
 * Hot path: plain IPv4 and uWS's mapped form skip the general parser.
 */
export function normalizeAddress(text: string): string {
  const len = text.length;
  if (len <= 15 && text.indexOf(':') < 0) return text;
  if (len === UWS_MAPPED_LENGTH && text.startsWith(UWS_MAPPED_PREFIX)) {
    let v = 0;
    for (let i = 30; i < 39; i++) {
      if (i === 34) {
        if (text.charCodeAt(i) !== CH_COLON) return normalizeSlow(text);
        continue;
      }
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) return text;
      v = v * 16 + h;
    }
    return formatIPv4(v);
  }
  return normalizeSlow(text);
}

function normalizeSlow(text: string): string {
  if (!parseIPv6(text, 0, text.length, scratch)) return text;
  if (isMappedIPv4(scratch)) return formatIPv4(scratch[6]! * 65536 + scratch[7]!);
  return formatIPv6(scratch);
}

/** True for a dotted-quad IPv4 address (strict: no leading zeros). */
export function isIPv4(text: string): boolean {
  return parseIPv4(text) >= 0;
}

/** True for an IPv6 address in any RFC 4291 text form (no brackets, no zone id). */
export function isIPv6(text: string): boolean {
  return parseIPv6(text, 0, text.length, scratch);
}

/** A listen host only this machine can reach: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
