// The scanHead contract shared by native/head.h and fallback.ts: out[] slots, flags and error codes.
// Change all three together (test/native/parity.test.ts and scripts/fuzz.sh compare them byte for byte).
//
//   out: Int32Array
//   ┌────────┬───────┬────────┬────────┬──────────────┬────────────┬───────┬───────┬──────────────┬─────┬───────────────────────────┐
//   │ 0      │ 1     │ 2      │ 3      │ 4            │ 5          │ 6     │ 7     │ 8            │9-11 │ 12 + 4i ...               │
//   │ status │ flags │ CL / 2³²│ CL % 2³²│ reason start │ reason end │ count │ error │ keep-alive ms│  -  │ name s, name e, val s, val e│
//   └────────┴───────┴────────┴────────┴──────────────┴────────────┴───────┴───────┴──────────────┴─────┴───────────────────────────┘
//   Offsets index the scanned buffer; values are OWS-trimmed; names keep their case.

export const OUT_STATUS = 0;
export const OUT_FLAGS = 1;
export const OUT_CL_HI = 2;
export const OUT_CL_LO = 3;
export const OUT_REASON_START = 4;
export const OUT_REASON_END = 5;
export const OUT_COUNT = 6;
export const OUT_ERROR = 7;
export const OUT_KEEPALIVE_MS = 8;
export const OUT_HEADERS = 12;

export const F_HTTP10 = 1;
export const F_CHUNKED = 2;
export const F_TE = 4;
export const F_CONN_CLOSE = 8;
export const F_CONN_KEEPALIVE = 16;
/** A Connection field names something besides close/keep-alive (or is empty): read its tokens. */
export const F_CONN_OTHER = 32;
export const F_HAS_CL = 64;

/** scanHead results besides "index past the head". */
export const SCAN_INCOMPLETE = -2;
export const SCAN_ERROR = -1;

/** Error code → the detail the TypeScript parser (src/http/response-parser.ts) reports for the same input. */
export const SCAN_ERRORS: readonly string[] = [
  '',
  'invalid status line',
  'unsupported HTTP version',
  'invalid status code',
  'invalid reason phrase',
  'bare CR in status line',
  'obsolete line folding',
  'bare LF in response head',
  'invalid header name',
  'invalid header value',
  'bare CR in response head',
  'invalid Content-Length',
  'conflicting Content-Length',
  'repeated Transfer-Encoding',
  'unsupported Transfer-Encoding',
  'invalid Connection',
  'Transfer-Encoding with Content-Length',
  'head too large',
  'too many header fields',
];
export const E_TOO_LARGE = 17;

/** An out[] big enough for any head of at most maxHeadBytes (a field line is at least 4 bytes: "a:\r\n"). */
export function scanOut(maxHeadBytes: number): Int32Array {
  return new Int32Array(OUT_HEADERS + 4 * (Math.floor(maxHeadBytes / 4) + 1));
}

/** Content-Length from out[], -1 when none. */
export function contentLengthOf(out: Int32Array): number {
  return (out[OUT_FLAGS]! & F_HAS_CL) === 0 ? -1 : out[OUT_CL_HI]! * 4294967296 + (out[OUT_CL_LO]! >>> 0);
}
