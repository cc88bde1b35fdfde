// Incremental HTTP/1.1 parser for upstream responses (RFC 9112), one per upstream connection, reused across
// responses through reset(). Hot path: every upstream `data` Buffer goes through execute().
//
//   execute(buf) ──► HEAD ──(1xx: parse, drop, loop)──► onHead ──► BODY_LENGTH ─────────────┐
//                     │ head split across reads:              ├──► CHUNK_SIZE ⇄ CHUNK_DATA ─┤ (trailers) ──► onEnd
//                     │ bytes gathered in #scratch            ├──► BODY_CLOSE ── finish() ──┤
//                     ▼                                       └──► (none) ──────────────────┘
//
// Performance notes: the head terminator is found with one Buffer#indexOf; header lines are then walked
// with table-driven byte loops inside that bounded region (no regex, no per-byte strings) and each name and
// value becomes one latin1 string. Body bytes are never copied: onBody gets views of the input Buffer.

import { isUtf8 } from 'node:buffer';
import { ProxyError } from '../errors.js';
import { FIELD_VALUE, HEX, LOWER_TOKEN, TOKEN } from './chars.js';
import { equalsLower, keepAliveTimeout, parseLengthList } from './field-scan.js';

export type BodyKind = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseHead {
  statusCode: number;
  reason: string;
  /** Flat [name, value, name, value...]; names lowercased; arrival order; duplicates kept; values OWS-trimmed. */
  headers: string[];
  /** -1 when no Content-Length. Reported for HEAD/304 responses too (it describes the representation). */
  contentLength: number;
  chunked: boolean;
  /**
   * Do not reuse the connection: Connection: close, HTTP/1.0 without keep-alive, close-delimited body,
   * 101, or unsolicited bytes after the message (set just before onEnd in that last case).
   */
  close: boolean;
  /** Keep-Alive: timeout=N, in ms, or -1. */
  keepAliveTimeoutMs: number;
  /** Lowercased tokens listed in Connection (hop-by-hop names to strip), or null. Shared constants: never mutate. */
  connectionTokens: readonly string[] | null;
  /** Body framing per RFC 9112 §6.3. */
  bodyKind: BodyKind;
}

export interface ResponseParserHandler {
  /** Final (non-1xx, or 101) response head. */
  onHead(head: ResponseHead): void;
  /** An interim (1xx) head other than 100 and 101, e.g. 103 Early Hints: never stored, relayed when possible. */
  onInterim?(head: ResponseHead): void;
  /** Decoded body bytes: a VIEW aliasing the Buffer passed to execute(); copy it to keep it past that buffer's life. */
  onBody(chunk: Buffer): void;
  /** Message complete; the connection is reusable unless head.close. */
  onEnd(): void;
  /** PC_ERR_UPSTREAM_PROTOCOL, PC_ERR_UPSTREAM_HEADERS_TOO_LARGE, or PC_ERR_UPSTREAM_RESET from finish(). */
  onError(err: ProxyError): void;
}

/** Chunk-size line (digits + BWS + extensions) longer than this is an attack, not a chunk. */
const MAX_CHUNK_LINE = 4096;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const SEMI = 0x3b;
const COMMA = 0x2c;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

const S_HEAD = 0;
const S_BODY_LENGTH = 1;
const S_BODY_CLOSE = 2;
const S_CHUNK_SIZE = 3;
const S_CHUNK_SIZE_BWS = 4;
const S_CHUNK_EXT = 5;
const S_CHUNK_SIZE_LF = 6;
const S_CHUNK_DATA = 7;
const S_CHUNK_DATA_CR = 8;
const S_CHUNK_DATA_LF = 9;
const S_TRAILER_START = 10;
const S_TRAILER_NAME = 11;
const S_TRAILER_VALUE = 12;
const S_TRAILER_LF = 13;
const S_TRAILER_END_LF = 14;
const S_DONE = 15;
const S_ERROR = 16;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// Shared Connection token lists for the two values nearly every upstream sends (no array per response).
const KEEP_ALIVE_TOKENS: readonly string[] = Object.freeze(['keep-alive']);
const CLOSE_TOKENS: readonly string[] = Object.freeze(['close']);

/** Node exposes these fast, undocumented slicers on Buffer; they skip toString()'s encoding dispatch. */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/**
 * Incremental upstream response parser.
 *
 * Contract:
 * - Call reset(noBody) before each request's response (noBody = HEAD request: no body whatever the status).
 * - execute(data) returns the number of bytes consumed, or -1 after onError (the parser is then dead until
 *   reset()). It consumes everything unless:
 *   (a) pause() was called from a callback: execute returns right after that callback; feed the rest
 *       (`data.subarray(n)`) to a later execute() call, which resumes;
 *   (b) the message completed (onEnd) with bytes left over. After a 101 those bytes are the upgraded
 *       protocol's (hand them to the tunnel); otherwise they are unsolicited, and head.close was set.
 *   onEnd of a message follows its last onHead/onBody immediately, even when paused.
 * - Calling reset() from inside a callback (e.g. abort) is safe: execute() stops at once.
 * - Data fed after onEnd and before reset() is a protocol error.
 */
export class ResponseParser {
  readonly #handler: ResponseParserHandler;
  readonly #maxHeadBytes: number;
  #state = S_HEAD;
  #noBody = false;
  #epoch = 0;
  #paused = false;
  /** Any byte of the current response seen (finish() before that is a retryable reset). */
  #started = false;
  /** Body bytes left (length or current chunk), or the chunk size being accumulated. */
  #remaining = 0;
  /** Chunk-size digits seen, then bytes of the size line / trailer section (bounded). */
  #count = 0;
  #head: ResponseHead | null = null;
  /** Gathers a head that arrives across reads; allocated once, on the first split head. */
  #scratch: Buffer | null = null;
  #scratchLen = 0;

  constructor(handler: ResponseParserHandler, maxHeadBytes: number) {
    this.#handler = handler;
    this.#maxHeadBytes = maxHeadBytes;
  }

  /** Prepare for the response to a new request; noBody=true for HEAD requests. */
  reset(noBody: boolean): void {
    this.#state = S_HEAD;
    this.#noBody = noBody;
    this.#epoch++;
    this.#paused = false;
    this.#started = false;
    this.#remaining = 0;
    this.#count = 0;
    this.#head = null;
    this.#scratchLen = 0;
  }

  /** Stop execute() after the callback in progress (backpressure); the next execute() resumes. */
  pause(): void {
    this.#paused = true;
  }

  /** The head being delivered (after onHead), or null. */
  get head(): ResponseHead | null {
    return this.#head;
  }

  /** Feed bytes. Returns bytes consumed, or -1 after onError. See the class contract. Hot path. */
  execute(data: Buffer): number {
    this.#paused = false;
    const len = data.length;
    const epoch = this.#epoch;
    let i = 0;
    if (len > 0) this.#started = true;
    while (i < len) {
      switch (this.#state) {
        case S_HEAD: {
          const r = this.#readHead(data, i);
          if (r < 0) return r === -2 ? len : -1; // -2: head incomplete, all bytes buffered
          const head = this.#parseHead(this.#headSrc! as Latin1Buffer, this.#headStart, this.#headEnd);
          this.#headSrc = null;
          if (head === null) return -1;
          i = r;
          const status = head.statusCode;
          // Interim response: reported (RFC 9110 §15.2: a proxy forwards it; 103 Early Hints is
          // relayed to the client), then the final head is parsed. 100 Continue is not: uWS
          // answered the client's Expect itself. A 101 ends the HTTP message; what it means is
          // the user's business (connection.ts refuses it).
          if (status < 200 && status !== 101) {
            if (status !== 100 && this.#handler.onInterim !== undefined) {
              this.#handler.onInterim(head);
              if (epoch !== this.#epoch) return i;
            }
            continue;
          }
          this.#head = head;
          switch (head.bodyKind) {
            case 'length':
              this.#state = S_BODY_LENGTH;
              this.#remaining = head.contentLength;
              break;
            case 'chunked':
              this.#state = S_CHUNK_SIZE;
              this.#remaining = 0;
              this.#count = 0;
              break;
            case 'close':
              this.#state = S_BODY_CLOSE;
              break;
            default:
              this.#state = S_DONE;
          }
          this.#handler.onHead(head);
          if (epoch !== this.#epoch) return i;
          if (this.#state === S_DONE || (this.#state === S_BODY_LENGTH && this.#remaining === 0)) {
            return this.#complete(data, i);
          }
          if (this.#paused) return i;
          break;
        }
        case S_BODY_LENGTH: {
          const avail = len - i;
          const rem = this.#remaining;
          if (avail <= rem) {
            this.#remaining = rem - avail;
            this.#handler.onBody(i === 0 ? data : data.subarray(i));
            if (epoch !== this.#epoch) return len;
            if (this.#remaining === 0) return this.#complete(data, len);
            return len;
          }
          this.#remaining = 0;
          this.#handler.onBody(data.subarray(i, i + rem));
          if (epoch !== this.#epoch) return i + rem;
          return this.#complete(data, i + rem);
        }
        case S_BODY_CLOSE:
          this.#handler.onBody(i === 0 ? data : data.subarray(i));
          return len;
        case S_CHUNK_SIZE: {
          let size = this.#remaining;
          let digits = this.#count;
          let c = 0;
          let h = 0;
          while (i < len && (h = HEX[(c = data[i]!)]!) >= 0) {
            // Reject sizes beyond 2^53 before they lose precision.
            if (size > (MAX_SAFE - h) / 16) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'chunk size overflow');
            size = size * 16 + h;
            digits++;
            i++;
          }
          this.#remaining = size;
          this.#count = digits;
          if (digits > MAX_CHUNK_LINE) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'chunk size line too long');
          if (i === len) break;
          if (digits === 0) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'invalid chunk size');
          i++;
          if (c === CR) this.#state = S_CHUNK_SIZE_LF;
          else if (c === SEMI) this.#state = S_CHUNK_EXT;
          else if (c === SP || c === HTAB) this.#state = S_CHUNK_SIZE_BWS;
          else return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'invalid chunk size');
          break;
        }
        case S_CHUNK_SIZE_BWS: {
          // RFC 9112 §7.1.1: BWS is only allowed before a chunk extension's ';'.
          const c = data[i++]!;
          if (++this.#count > MAX_CHUNK_LINE) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'chunk size line too long');
          if (c === SEMI) this.#state = S_CHUNK_EXT;
          else if (c !== SP && c !== HTAB) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'invalid chunk size');
          break;
        }
        case S_CHUNK_EXT: {
          // Extensions are allowed and ignored (RFC 9112 §7.1.1); only their bytes are checked.
          let c = 0;
          let n = this.#count;
          while (i < len && (c = data[i]!) !== CR) {
            if (FIELD_VALUE[c] === 0) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'invalid chunk extension');
            i++;
            n++;
          }
          this.#count = n;
          if (n > MAX_CHUNK_LINE) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'chunk size line too long');
          if (i < len) {
            i++;
            this.#state = S_CHUNK_SIZE_LF;
          }
          break;
        }
        case S_CHUNK_SIZE_LF:
          if (data[i++] !== LF) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'bare CR in chunk size line');
          this.#count = 0;
          this.#state = this.#remaining === 0 ? S_TRAILER_START : S_CHUNK_DATA;
          break;
        case S_CHUNK_DATA: {
          const avail = len - i;
          const rem = this.#remaining;
          const n = avail < rem ? avail : rem;
          this.#remaining = rem - n;
          if (this.#remaining === 0) this.#state = S_CHUNK_DATA_CR;
          this.#handler.onBody(i === 0 && n === len ? data : data.subarray(i, i + n));
          i += n;
          if (epoch !== this.#epoch || this.#paused) return i;
          break;
        }
        case S_CHUNK_DATA_CR:
          if (data[i++] !== CR) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'missing CRLF after chunk data');
          this.#state = S_CHUNK_DATA_LF;
          break;
        case S_CHUNK_DATA_LF:
          if (data[i++] !== LF) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'missing CRLF after chunk data');
          this.#state = S_CHUNK_SIZE;
          this.#remaining = 0;
          this.#count = 0;
          break;
        case S_DONE:
          return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'data after the response');
        case S_ERROR:
          return -1;
        default: {
          const r = this.#trailers(data, i);
          if (r < 0) return -1;
          if (this.#state === S_DONE) return this.#complete(data, r);
          i = r;
        }
      }
    }
    return len;
  }

  /** Socket EOF: ends a close-delimited body; anything else unfinished is an upstream reset. */
  finish(): void {
    switch (this.#state) {
      case S_DONE:
      case S_ERROR:
        return;
      case S_BODY_CLOSE:
        this.#state = S_DONE;
        this.#handler.onEnd();
        return;
      case S_HEAD:
        if (!this.#started) {
          // Nothing of this response arrived: the classic keep-alive race (upstream closed an idle socket).
          this.#state = S_ERROR;
          this.#handler.onError(new ProxyError('PC_ERR_UPSTREAM_RESET', 'closed before the response'));
          return;
        }
        this.#state = S_ERROR;
        this.#handler.onError(new ProxyError('PC_ERR_UPSTREAM_RESET', 'closed in the response head', false));
        return;
      default:
        this.#state = S_ERROR;
        this.#handler.onError(new ProxyError('PC_ERR_UPSTREAM_RESET', 'closed in the response body', false));
    }
  }

  #complete(data: Buffer, i: number): number {
    this.#state = S_DONE;
    const head = this.#head!;
    // RFC 9112 §9.3 has no room for bytes the client did not ask for: never reuse such a connection.
    if (i < data.length) head.close = true;
    this.#handler.onEnd();
    return i;
  }

  #fail(code: 'PC_ERR_UPSTREAM_PROTOCOL' | 'PC_ERR_UPSTREAM_HEADERS_TOO_LARGE', detail: string): -1 {
    this.#state = S_ERROR;
    this.#scratchLen = 0;
    this.#handler.onError(new ProxyError(code, detail));
    return -1;
  }

  /**
   * Finds the end of the head starting at data[i]. Returns the index just past CRLFCRLF when the head is
   * complete (it is then in #scratch[0, scratchLen) if it was split, else in data), -2 when more bytes are
   * needed (all were buffered), -1 after an error.
   */
  #readHead(data: Buffer, i: number): number {
    const max = this.#maxHeadBytes;
    const len = data.length;
    if (this.#scratchLen === 0) {
      const end = data.indexOf(CRLFCRLF, i);
      if (end !== -1) {
        if (end + 4 - i > max) {
          // Same verdict whatever the read boundaries: the split path reports a bare LF before the size.
          if (!this.#noBareLf(data, i, i + max, i > 0 ? data[i - 1]! : -1)) return -1;
          return this.#fail('PC_ERR_UPSTREAM_HEADERS_TOO_LARGE', `head over ${max} bytes`);
        }
        this.#headSrc = data;
        this.#headStart = i;
        this.#headEnd = end + 4;
        return end + 4;
      }
      if (!this.#noBareLf(data, i, i + max, i > 0 ? data[i - 1]! : -1)) return -1;
      if (len - i >= max) return this.#fail('PC_ERR_UPSTREAM_HEADERS_TOO_LARGE', `head over ${max} bytes`);
      const scratch = (this.#scratch ??= Buffer.allocUnsafeSlow(max));
      data.copy(scratch, 0, i, len);
      this.#scratchLen = len - i;
      return -2;
    }
    // Slow path: the head was split across reads.
    const scratch = this.#scratch!;
    const old = this.#scratchLen;
    const take = Math.min(max - old, len - i);
    data.copy(scratch, old, i, i + take);
    const filled = old + take;
    const end = scratch.subarray(0, filled).indexOf(CRLFCRLF, old >= 3 ? old - 3 : 0);
    if (end !== -1) {
      this.#scratchLen = 0;
      this.#headSrc = scratch;
      this.#headStart = 0;
      this.#headEnd = end + 4;
      return i + (end + 4 - old);
    }
    if (!this.#noBareLf(data, i, i + take, scratch[old - 1]!)) return -1;
    if (filled >= max) return this.#fail('PC_ERR_UPSTREAM_HEADERS_TOO_LARGE', `head over ${max} bytes`);
    this.#scratchLen = filled;
    return -2;
  }

  // Where the complete head lives: set by #readHead, read once by execute.
  #headSrc: Buffer | null = null;
  #headStart = 0;
  #headEnd = 0;

  /** Early bare-LF check on an incomplete head, so a LF-only upstream fails now instead of at a timeout. */
  #noBareLf(data: Buffer, i: number, end: number, prev: number): boolean {
    let j = data.indexOf(LF, i);
    while (j !== -1 && j < end) {
      if ((j > i ? data[j - 1]! : prev) !== CR) {
        this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'bare LF in response head');
        return false;
      }
      j = data.indexOf(LF, j + 1);
    }
    return true;
  }

  /** buf[start, end) is a whole head ending in CRLFCRLF. RFC 9112 §4 (status line), §5 (fields), §6.3 (framing). */
  #parseHead(buf: Latin1Buffer, start: number, end: number): ResponseHead | null {
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]
    let p = start;
    if (
      end - start < 16 ||
      buf[p] !== 0x48 || buf[p + 1] !== 0x54 || buf[p + 2] !== 0x54 || buf[p + 3] !== 0x50 ||
      buf[p + 4] !== 0x2f || buf[p + 5] !== 0x31 || buf[p + 6] !== 0x2e || buf[p + 8] !== SP
    ) {
      return this.#failHead('invalid status line');
    }
    const minor = buf[p + 7]!;
    if (minor !== 0x31 && minor !== 0x30) return this.#failHead('unsupported HTTP version');
    const d0 = buf[p + 9]! - 0x30;
    const d1 = buf[p + 10]! - 0x30;
    const d2 = buf[p + 11]! - 0x30;
    // RFC 9110 §15: 100–599. A client cannot classify 600+ (and may treat it as a success).
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.#failHead('invalid status code');
    const statusCode = d0 * 100 + d1 * 10 + d2;
    p += 12;
    let reason = '';
    let c = buf[p]!;
    if (c === SP) {
      const rs = ++p;
      while ((c = buf[p]!) !== CR) {
        if (FIELD_VALUE[c] === 0) return this.#failHead('invalid reason phrase');
        p++;
      }
      const rl = p - rs;
      if (rl === 2 && buf[rs] === 0x4f && buf[rs + 1] === 0x4b) reason = 'OK';
      else if (rl > 0) reason = buf.latin1Slice(rs, p);
    } else if (c !== CR) {
      return this.#failHead('invalid status line');
    }
    if (buf[p + 1] !== LF) return this.#failHead('bare CR in status line');
    p += 2;

    const headers: string[] = [];
    let contentLength = -1;
    let teSeen = false;
    let chunked = false;
    let connClose = false;
    let connKeepAlive = false;
    let keepAliveTimeoutMs = -1;
    let connectionTokens: readonly string[] | null = null;

    // Field lines until the empty line; the region ends in CRLFCRLF, so every loop below stops in bounds.
    while ((c = buf[p]!) !== CR) {
      const ns = p;
      let t = 0;
      let h = 0;
      while ((t = LOWER_TOKEN[c]!) !== 0) {
        h = (Math.imul(h, 31) + t) | 0;
        c = buf[++p]!;
      }
      if (c !== COLON || p === ns) {
        if (p === ns && (c === SP || c === HTAB)) return this.#failHead('obsolete line folding');
        if (c === LF) return this.#failHead('bare LF in response head');
        return this.#failHead('invalid header name');
      }
      const ne = p++;
      while ((c = buf[p]!) === SP || c === HTAB) p++;
      const vs = p;
      let vh = 0;
      let high = 0;
      while (c !== CR) {
        if (FIELD_VALUE[c] === 0) {
          return this.#failHead(c === LF ? 'bare LF in response head' : 'invalid header value');
        }
        vh = (Math.imul(vh, 31) + c) | 0;
        high |= c;
        c = buf[++p]!;
      }
      if (buf[p + 1] !== LF) return this.#failHead('bare CR in response head');
      let ve = p;
      while (ve > vs && ((c = buf[ve - 1]!) === SP || c === HTAB)) ve--;
      p += 2;
      const name = internName(buf, ns, ne, h);
      // The hash covers trailing OWS too; harmless, it only picks the slot.
      // obs-text (bytes >= 0x80): the front end writes strings as UTF-8, so a value that is
      // valid UTF-8 is decoded as such and leaves byte for byte; other bytes become latin1
      // characters (re-encoded, never dropped). ASCII, the common case, skips the check.
      const value = high >= 0x80
        ? (isUtf8(buf.subarray(vs, ve)) ? buf.utf8Slice(vs, ve) : buf.latin1Slice(vs, ve))
        : ve - vs <= MAX_CACHED_VALUE ? internValue(buf, vs, ve, vh) : buf.latin1Slice(vs, ve);
      headers.push(name, value);

      switch (ne - ns) {
        case 14:
          if (name === 'content-length') {
            const n = parseLengthList(buf, vs, ve);
            if (n < 0) return this.#failHead(n === -2 ? 'conflicting Content-Length' : 'invalid Content-Length');
            if (contentLength !== -1 && contentLength !== n) return this.#failHead('conflicting Content-Length');
            contentLength = n;
          }
          break;
        case 17:
          if (name === 'transfer-encoding') {
            // Only a lone `chunked` is accepted: other codings are not ours to decode, and a second TE
            // field is a framing ambiguity.
            if (teSeen) return this.#failHead('repeated Transfer-Encoding');
            teSeen = true;
            if (!equalsLower(buf, vs, ve, 'chunked')) return this.#failHead('unsupported Transfer-Encoding');
            chunked = true;
          }
          break;
        case 10:
          if (name === 'connection') {
            const tokens = connectionTokensOf(buf, vs, ve, value);
            if (tokens === null) return this.#failHead('invalid Connection');
            for (let k = 0; k < tokens.length; k++) {
              const tok = tokens[k];
              if (tok === 'close') connClose = true;
              else if (tok === 'keep-alive') connKeepAlive = true;
            }
            connectionTokens = connectionTokens === null ? tokens : connectionTokens.concat(tokens);
          } else if (name === 'keep-alive') {
            const ms = keepAliveTimeout(buf, vs, ve);
            if (ms >= 0) keepAliveTimeoutMs = ms;
          }
          break;
      }
    }
    // A line starting with a lone CR would end the loop early: the empty line must be the terminator found.
    if (p !== end - 2) return this.#failHead('bare CR in response head');

    const http10 = minor === 0x30;
    let close = http10 ? !connKeepAlive : connClose;
    let bodyKind: BodyKind;
    if (statusCode < 200) {
      bodyKind = 'none';
      if (statusCode === 101) close = true; // the connection now belongs to the upgraded protocol
    } else {
      // RFC 9112 §6.3, strict: TE with CL is request-smuggling material even though §6.3 rule 3 lets TE win.
      if (teSeen && contentLength !== -1) return this.#failHead('Transfer-Encoding with Content-Length');
      // §6.1: TE in an HTTP/1.0 message means faulty framing: read it, then close.
      if (teSeen && http10) close = true;
      if (this.#noBody || statusCode === 204 || statusCode === 304) bodyKind = 'none';
      else if (chunked) bodyKind = 'chunked';
      else if (contentLength !== -1) bodyKind = 'length';
      else {
        bodyKind = 'close';
        close = true;
      }
    }
    return {
      statusCode,
      reason,
      headers,
      contentLength,
      chunked,
      close,
      keepAliveTimeoutMs,
      connectionTokens,
      bodyKind,
    };
  }

  #failHead(detail: string): null {
    this.#fail('PC_ERR_UPSTREAM_PROTOCOL', detail);
    return null;
  }

  /** Trailer section after the last chunk (RFC 9112 §7.1.2): validated, bounded by maxHeadBytes, discarded. */
  #trailers(data: Buffer, i: number): number {
    const len = data.length;
    const max = this.#maxHeadBytes;
    let state = this.#state;
    let n = this.#count;
    while (i < len && state !== S_DONE) {
      const c = data[i++]!;
      if (++n > max) {
        this.#fail('PC_ERR_UPSTREAM_HEADERS_TOO_LARGE', `trailers over ${max} bytes`);
        return -1;
      }
      switch (state) {
        case S_TRAILER_START:
          if (c === CR) state = S_TRAILER_END_LF;
          else if (TOKEN[c] !== 0) state = S_TRAILER_NAME;
          else return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', c === SP || c === HTAB ? 'obsolete line folding' : 'invalid trailer');
          break;
        case S_TRAILER_NAME:
          if (c === COLON) state = S_TRAILER_VALUE;
          else if (TOKEN[c] === 0) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'invalid trailer name');
          break;
        case S_TRAILER_VALUE:
          if (c === CR) state = S_TRAILER_LF;
          else if (FIELD_VALUE[c] === 0) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'invalid trailer value');
          break;
        case S_TRAILER_LF:
          if (c !== LF) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'bare CR in trailers');
          state = S_TRAILER_START;
          break;
        case S_TRAILER_END_LF:
          if (c !== LF) return this.#fail('PC_ERR_UPSTREAM_PROTOCOL', 'bare CR in trailers');
          state = S_DONE;
          break;
      }
    }
    this.#state = state;
    this.#count = n;
    return i;
  }
}

// Header-name cache: the same few dozen names arrive on every response, so each is sliced and lowercased
// once per thread and then found by hash and a byte compare (no string allocated). Identical string objects
// also make later Map/Set lookups on names cheaper (hash cached in the string). Bounded: 512 slots.
// Each slot keeps its string and a copy of its bytes: comparing bytes with bytes is about four times
// cheaper than reading the cached string's characters (charCodeAt checks the string's shape each time),
// and these compares were a third of the head parse.
//
//   nameCache[slot]   the string handed out          nameBytes[slot * 64 .. + length)  its bytes
const NAME_CACHE_SLOTS = 512;
const MAX_CACHED_NAME = 64;
const nameCache: string[] = new Array<string>(NAME_CACHE_SLOTS).fill('');
const nameBytes = new Uint8Array(NAME_CACHE_SLOTS * MAX_CACHED_NAME);

/** Lowercased name for buf[ns, ne), all token bytes; h is the hash of its lowercased bytes. */
function internName(buf: Latin1Buffer, ns: number, ne: number, h: number): string {
  const slot = (h ^ (h >>> 9)) & (NAME_CACHE_SLOTS - 1);
  const cached = nameCache[slot]!;
  const n = ne - ns;
  const base = slot * MAX_CACHED_NAME;
  if (cached.length === n) {
    let k = 0;
    while (k < n && LOWER_TOKEN[buf[ns + k]!] === nameBytes[base + k]) k++;
    if (k === n) return cached;
  }
  const name = buf.latin1Slice(ns, ne).toLowerCase();
  if (n <= MAX_CACHED_NAME) {
    nameCache[slot] = name;
    for (let k = 0; k < n; k++) nameBytes[base + k] = LOWER_TOKEN[buf[ns + k]!]!;
  }
  return name;
}

// Same idea for short values (keep-alive, no-cache, text/html...): most repeat response after response.
//   valueCache[slot]  the string handed out          valueBytes[slot * 48 .. + length)  its bytes
const VALUE_CACHE_SLOTS = 1024;
const MAX_CACHED_VALUE = 48;
const valueCache: string[] = new Array<string>(VALUE_CACHE_SLOTS).fill('');
const valueBytes = new Uint8Array(VALUE_CACHE_SLOTS * MAX_CACHED_VALUE);

/** buf[vs, ve) as a string, all bytes below 0x80 and at most MAX_CACHED_VALUE of them; h is their hash. */
function internValue(buf: Latin1Buffer, vs: number, ve: number, h: number): string {
  const n = ve - vs;
  if (n === 0) return '';
  const slot = (h ^ (h >>> 10)) & (VALUE_CACHE_SLOTS - 1);
  const cached = valueCache[slot]!;
  const base = slot * MAX_CACHED_VALUE;
  if (cached.length === n) {
    let k = 0;
    while (k < n && buf[vs + k] === valueBytes[base + k]) k++;
    if (k === n) return cached;
  }
  const value = buf.latin1Slice(vs, ve);
  valueCache[slot] = value;
  valueBytes.set(buf.subarray(vs, ve), base);
  return value;
}

/** Connection = #connection-option (RFC 9110 §7.6.1). Returns lowercased tokens, or null if one is not a token. */
function connectionTokensOf(buf: Buffer, s: number, e: number, value: string): readonly string[] | null {
  if (equalsLower(buf, s, e, 'keep-alive')) return KEEP_ALIVE_TOKENS;
  if (equalsLower(buf, s, e, 'close')) return CLOSE_TOKENS;
  const out: string[] = [];
  let p = s;
  while (p < e) {
    let c = buf[p]!;
    if (c === COMMA || c === SP || c === HTAB) {
      p++;
      continue;
    }
    const ts = p;
    while (p < e && TOKEN[(c = buf[p]!)] !== 0) p++;
    if (p === ts) return null;
    if (p < e && c !== COMMA && c !== SP && c !== HTAB) return null;
    out.push(value.slice(ts - s, p - s).toLowerCase());
  }
  return out;
}

