// Range requests answered from a stored complete response (RFC 9110 §14): a single byte range
// (first-last, first-, -suffix) becomes a 206 with Content-Range; a range that starts past the
// end, a 416 with `Content-Range: bytes */length`. Anything else (another unit, several ranges,
// bad syntax) is ignored and the whole answer sent, as §14.2 allows.

/** The inclusive byte range to send, 'unsatisfiable' (416), or null: ignore the Range header (200). */
export type ByteRange = { readonly start: number; readonly end: number } | 'unsatisfiable' | null;

export function byteRange(header: string, length: number): ByteRange {
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return null;
  const specs = header.slice(eq + 1).split(',').map((s) => s.trim()).filter((s) => s !== '');
  // Several ranges would need multipart/byteranges: the whole answer is allowed instead.
  if (specs.length !== 1) return null;
  const m = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    // suffix-range: the last n bytes
    const n = Number(m[2]);
    if (n === 0 || length === 0) return 'unsatisfiable';
    return { start: Math.max(0, length - n), end: length - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return null;
  if (start >= length) return 'unsatisfiable';
  return { start, end: Math.min(last, length - 1) };
}
