// Byte-class tables shared by the HTTP/1.1 parsers: token chars (RFC 9110 §5.6.2), field-value chars, hex digits.

/** RFC 9110 §5.6.2 tchar: 0 = not a token char, 1 = token char, 2 = token char that is an uppercase letter. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 2;

/** Token bytes mapped to their lowercase form; 0 for bytes that are not token chars. */
export const LOWER_TOKEN = new Uint8Array(256);
for (let c = 0; c < 256; c++) if (TOKEN[c] !== 0) LOWER_TOKEN[c] = TOKEN[c] === 2 ? c + 0x20 : c;

/**
 * RFC 9110 §5.5 field-content bytes: HTAB, SP, VCHAR and obs-text. Every other control byte (NUL, CR,
 * LF, DEL...) is 0, so CR/LF can never travel from a parsed field value into a header we write.
 */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[0x09] = 1;
for (let c = 0x20; c < 0x7f; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/** Hex digit value, or -1. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/** True when `s` is a non-empty RFC 9110 token. Allocation-free. */
export function isToken(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] === 0) return false;
  }
  return true;
}
