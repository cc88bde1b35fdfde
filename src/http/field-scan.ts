// Byte-level readers for the few header values the proxy interprets (Content-Length,
// Connection tokens' case, Keep-Alive timeout), shared by the response parser and the
// TypeScript twin of the native head scanner so both read them the same way.
import { TOKEN } from './chars.js';

const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/** b[s, e) equals the lowercase ASCII literal `lit`, ignoring the case of letters. */
export function equalsLower(b: Uint8Array, s: number, e: number, lit: string): boolean {
  if (e - s !== lit.length) return false;
  for (let k = 0; k < lit.length; k++) {
    const c = b[s + k]!;
    const l = lit.charCodeAt(k);
    if (c !== l && !((c | 0x20) === l && l >= 0x61 && l <= 0x7a)) return false;
  }
  return true;
}

/**
 * Content-Length value in b[s, e): 1*DIGIT, or a list of identical values (`5, 5`, RFC 9110
 * §8.6 lets a recipient accept it). Returns the length, -1 if invalid, -2 if the list has
 * differing values.
 */
export function parseLengthList(b: Uint8Array, s: number, e: number): number {
  let result = -1;
  let p = s;
  for (;;) {
    let n = 0;
    const ds = p;
    let c = 0;
    while (p < e && (c = b[p]! - 0x30) >= 0 && c <= 9) {
      if (n <= MAX_SAFE) n = n * 10 + c;
      p++;
    }
    if (p === ds || n > MAX_SAFE) return -1;
    if (result !== -1 && result !== n) return -2;
    result = n;
    if (p === e) return result;
    while (p < e && isOws(b[p]!)) p++;
    if (p === e || b[p] !== COMMA) return -1;
    p++;
    while (p < e && isOws(b[p]!)) p++;
  }
}

/** `Keep-Alive: timeout=5, max=100` → 5000 (RFC 2068 §19.7.1.1 syntax). -1 when absent or invalid. */
export function keepAliveTimeout(b: Uint8Array, s: number, e: number): number {
  let p = s;
  while (p < e) {
    let c = b[p]!;
    if (c === COMMA || isOws(c)) { p++; continue; }
    const ns = p;
    while (p < e && TOKEN[(c = b[p]!)] !== 0) p++;
    const isTimeout = equalsLower(b, ns, p, 'timeout');
    while (p < e && isOws((c = b[p]!))) p++;
    if (p < e && c === EQUALS) {
      p++;
      while (p < e && isOws(b[p]!)) p++;
      if (p < e && b[p] === DQUOTE) p++;
      const ds = p;
      let n = 0;
      while (p < e && (c = b[p]! - 0x30) >= 0 && c <= 9) {
        if (n <= 2147483647) n = n * 10 + c;
        p++;
      }
      if (isTimeout) return p > ds && n <= 2_147_483 ? n * 1000 : -1;
      // Skip the rest of this parameter's value.
      while (p < e && b[p] !== COMMA) p++;
    } else if (isTimeout) {
      return -1;
    } else {
      while (p < e && b[p] !== COMMA) p++;
    }
  }
  return -1;
}
