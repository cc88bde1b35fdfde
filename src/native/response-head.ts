// Builds the parser's ResponseHead from scanHead offsets (src/native/layout.ts). This is what wiring the
// native scan into the response parser would cost on the JS side; bench/micro/native.ts measures scan +
// this against ResponseParser's own head phase, and test/native/parity.test.ts checks they agree.
import { LOWER_TOKEN } from '../http/chars.js';
import type { BodyKind, ResponseHead } from '../http/response-parser.js';
import {
  contentLengthOf, F_CHUNKED, F_CONN_CLOSE, F_CONN_KEEPALIVE, F_HTTP10, F_TE, OUT_COUNT, OUT_FLAGS,
  OUT_HEADERS, OUT_KEEPALIVE_MS, OUT_REASON_END, OUT_REASON_START, OUT_STATUS,
} from './layout.js';

/** Node's fast latin1 slicer (undocumented, also used by the response parser). */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

const SLOTS = 512;
const names: string[] = new Array<string>(SLOTS).fill('');

function nameAt(buf: Latin1Buffer, s: number, e: number): string {
  const n = e - s;
  const slot = (n * 31 + LOWER_TOKEN[buf[s]!]! * 7 + LOWER_TOKEN[buf[e - 1]!]!) & (SLOTS - 1);
  const cached = names[slot]!;
  if (cached.length === n) {
    let k = 0;
    while (k < n && LOWER_TOKEN[buf[s + k]!] === cached.charCodeAt(k)) k++;
    if (k === n) return cached;
  }
  const name = buf.latin1Slice(s, e).toLowerCase();
  if (n <= 64) names[slot] = name;
  return name;
}

const KEEP_ALIVE: readonly string[] = Object.freeze(['keep-alive']);
const CLOSE: readonly string[] = Object.freeze(['close']);

/** ResponseHead for a successful scan of buf (noBody: the request was HEAD). */
export function toResponseHead(data: Buffer, out: Int32Array, noBody: boolean): ResponseHead {
  const buf = data as Latin1Buffer;
  const status = out[OUT_STATUS]!;
  const flags = out[OUT_FLAGS]!;
  const count = out[OUT_COUNT]!;
  const rs = out[OUT_REASON_START]!;
  const re = out[OUT_REASON_END]!;
  const reason = re - rs === 2 && buf[rs] === 0x4f && buf[rs + 1] === 0x4b ? 'OK' : re > rs ? buf.latin1Slice(rs, re) : '';
  const headers: string[] = new Array<string>(count * 2);
  let connectionTokens: readonly string[] | null = null;
  for (let i = 0, o = OUT_HEADERS; i < count; i++, o += 4) {
    const name = nameAt(buf, out[o]!, out[o + 1]!);
    const value = buf.latin1Slice(out[o + 2]!, out[o + 3]!);
    headers[2 * i] = name;
    headers[2 * i + 1] = value;
    if (name === 'connection') {
      const lower = value.toLowerCase();
      const tokens = lower === 'keep-alive' ? KEEP_ALIVE : lower === 'close' ? CLOSE
        : lower.split(/[\s,]+/).filter((t: string) => t !== '');
      connectionTokens = connectionTokens === null ? tokens : connectionTokens.concat(tokens);
    }
  }
  const contentLength = contentLengthOf(out);
  const http10 = (flags & F_HTTP10) !== 0;
  let close = http10 ? (flags & F_CONN_KEEPALIVE) === 0 : (flags & F_CONN_CLOSE) !== 0;
  let bodyKind: BodyKind;
  if (status < 200) {
    bodyKind = 'none';
    if (status === 101) close = true;
  } else {
    if ((flags & F_TE) !== 0 && http10) close = true;
    if (noBody || status === 204 || status === 304) bodyKind = 'none';
    else if ((flags & F_CHUNKED) !== 0) bodyKind = 'chunked';
    else if (contentLength !== -1) bodyKind = 'length';
    else {
      bodyKind = 'close';
      close = true;
    }
  }
  return {
    statusCode: status, reason, headers, contentLength, chunked: (flags & F_CHUNKED) !== 0, close,
    keepAliveTimeoutMs: out[OUT_KEEPALIVE_MS]!, connectionTokens, bodyKind,
  };
}
