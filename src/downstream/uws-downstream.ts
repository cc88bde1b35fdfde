// The uWebSockets.js implementation of the Downstream contract: one object per request,
// owning every uWS-specific rule (onAborted first, cork, tryEnd/onWritable resend,
// endWithoutBody for bodiless answers, ArrayBuffers detached after callbacks).
//
// Corking. Every write happens in a cork session this class opens itself, and no
// session ever holds more than uWS's 16 KiB cork buffer: uWS v20.30 loses the data of a
// write that overflows the cork buffer while the socket has backpressure (AsyncSocket::
// uncork returns after buffering the cork contents, without writing the new data). So the
// head is held until the first body bytes (or the end) and goes out in the same session
// (one send for a small response), and streamed bodies go out in pieces that fit.
import type { HttpResponse } from 'uWebSockets.js';
import type { Downstream } from './contract.js';
import { statusLine } from './status-line.js';
import { streamClosed, streamOpened } from '../observe/counters.js';
import type { Connection, ConnectionTable } from './connections.js';
import { appendUnsent, keepUnsent, resendUnsent, type Unsent } from './unsent.js';

const enum Mode { Head, Length, Stream, NoBody, Done }

/**
 * uWS ends a chunked head only with the first body bytes, so an event stream's client would
 * not see the response (EventSource `open`) until the first event. An SSE comment line is
 * a no-op for every SSE client (WHATWG HTML §9.2.6: lines starting with ':' are ignored),
 * so event streams get one at once to carry the head out.
 */
const SSE_HEAD_FLUSH = Buffer.from(':\n\n');

/** uWS LoopData::CORK_BUFFER_SIZE. */
const CORK_BUFFER_BYTES = 16 * 1024;
/** Room kept for what uWS adds around our bytes: Date, framing headers, chunk size lines. */
const CORK_MARGIN = 256;
/** Most bytes of ours one cork session holds: it never overflows uWS's cork buffer. */
export const PIECE_BYTES = CORK_BUFFER_BYTES - CORK_MARGIN;

/**
 * An event stream whose body we may prefix with the SSE comment. Not when the upstream encoded
 * the body itself (Express `compression` flushing per event, say): the comment would go in
 * front of the gzip bytes and break them; such a stream's head waits for its first bytes.
 */
function wantsHeadFlush(headers: readonly string[]): boolean {
  let eventStream = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name === 'content-encoding') return false;
    if (name === 'content-type') eventStream = headers[i + 1]!.toLowerCase().startsWith('text/event-stream');
  }
  return eventStream;
}

/**
 * A status line ("200 OK") and header fields as one string for uWS's writeStatus, which writes
 * "HTTP/1.1 " + it + CRLF and then its own Date and framing. `close`: the answer tells the
 * client to close the connection.
 */
export function headLines(status: string, headers: readonly string[], close: boolean): string {
  let out = status;
  for (let i = 0; i < headers.length; i += 2) out += `\r\n${headers[i]!}: ${headers[i + 1]!}`;
  if (close) out += '\r\nconnection: close';
  return out;
}

export class UwsDownstream implements Downstream {
  done = false;
  /** True while uWS's request callback runs (set by the front end around the pipeline call). */
  inHandler = false;
  /** uWS reported the connection gone: the response must not be touched any more. */
  #aborted = false;
  readonly #res: HttpResponse;
  #mode: Mode = Mode.Head;
  #length = 0;
  /** Head written by writeHead but not yet sent (sent with the first body bytes or the end). */
  #status = '';
  #headers: readonly string[] | null = null;
  #headBytes = 0;
  #announceLength = -1;
  /** tryEnd bytes uWS did not take (length mode): resent from the write offset on writable. */
  #pending: Unsent | null = null;
  #writableCb: (() => void) | null = null;
  #abortCb: (() => void) | null = null;
  #writableHooked = false;
  /** An interim response (writeInterim) went out: uWS's one status line is used. */
  #interimSent = false;
  /** Per-session state for the cork callbacks (bound once, no closure per write). */
  #chunk: Buffer | null = null;
  #ok = true;
  #finished = false;
  /** The request body is paused (res.pause()) and not resumed yet. */
  #bodyPaused = false;
  /** Counted in observe/counters while a length-less (streaming) response is open. */
  #streaming = false;
  readonly #lengthSession = (): void => this.#writeLength();
  readonly #streamSession = (): void => { this.#sendHead(); this.#ok = this.#res.write(this.#chunk!); };
  readonly #endSession = (): void => this.#writeEnd();

  /** The connection this request came on (downstream/connections.ts), released when the response ends. */
  readonly #table: ConnectionTable | null;
  #conn: Connection | null;
  #closing = false;
  #committed = false;
  readonly #unwanted: boolean;

  /** `conn`: the request's connection when the front end already looked it up (table.begin). */
  constructor(res: HttpResponse, table: ConnectionTable | null = null, conn?: Connection | null) {
    this.#res = res;
    this.#table = table;
    this.#conn = conn !== undefined ? conn : table !== null ? table.begin(res) : null;
    this.#unwanted = this.#conn !== null && this.#conn.closing;
    // Must be registered before the handler returns or awaits (shared notes §4).
    res.onAborted(() => {
      this.#aborted = true;
      this.#release();
      if (this.done) return;
      this.done = true;
      this.#mode = Mode.Done;
      this.#uncount();
      const cb = this.#abortCb;
      this.#abortCb = null;
      if (cb) cb();
    });
  }

  writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    if (this.done) return;
    this.#status = statusLine(status, reason);
    this.#headers = headers;
    let bytes = this.#status.length;
    for (let i = 0; i < headers.length; i++) bytes += headers[i]!.length + 2;
    this.#headBytes = bytes;
    if (noBody) {
      // HEAD keeps the length the GET would have had; 204/304 announce none (RFC 9110 §8.6).
      this.#announceLength = bodyLength >= 0 && status !== 204 && status !== 304 ? bodyLength : -1;
      this.#mode = Mode.NoBody;
    } else if (bodyLength >= 0) {
      this.#mode = Mode.Length;
      this.#length = bodyLength;
    } else {
      this.#mode = Mode.Stream;
      this.#streaming = true;
      streamOpened();
      if (wantsHeadFlush(headers)) this.writeBody(SSE_HEAD_FLUSH);
    }
  }

  /** True once a byte of the answer went to uWS (the held head, or a whole answer). */
  get committed(): boolean {
    return this.#committed;
  }

  /** Writes the held head into the current cork session. */
  #sendHead(): void {
    const headers = this.#headers;
    if (headers === null) return;
    this.#headers = null;
    this.#committed = true;
    this.#writeHead(this.#res, this.#status, headers, true);
  }

  /**
   * The status line and every header line as one string for one writeStatus call: uWS writes
   * "HTTP/1.1 " + it + CRLF and then its own Date and framing, exactly as after a writeStatus and
   * one writeHeader per field, but with one JS→C++ crossing per head instead of one per header.
   * Draining, or no more requests on this connection (`keepAlive` and the table says so): the
   * answer tells the client to close (downstream/connections.ts closes it).
   * The bytes on the wire are the same as with writeHeader per field (which checks no CR/LF
   * either): whoever made the fields vouches for them, as before (response parser, config).
   */
  #headLines(status: string, headers: readonly string[], keepAlive: boolean): string {
    return headLines(status, headers, keepAlive && this.#table !== null && (this.#table.draining || this.#closing));
  }

  /**
   * The final head. After an interim response uWS takes no second writeStatus (it writes one
   * status line per response), so the whole head goes through writeHeader, which writes
   * `<name>: <value>\r\n`: the name is everything up to the last line's separator. The same
   * bytes on the wire.
   */
  #writeHead(res: HttpResponse, status: string, headers: readonly string[], keepAlive: boolean): void {
    const lines = this.#headLines(status, headers, keepAlive);
    if (!this.#interimSent) { res.writeStatus(lines); return; }
    const full = `HTTP/1.1 ${lines}`;
    const last = full.lastIndexOf('\r\n');
    const sep = last < 0 ? -1 : full.indexOf(': ', last + 2);
    if (sep < 0) res.writeHeader(`${full}\r\ncache-control`, 'no-store'); // every answer has headers; never reached
    else res.writeHeader(full.slice(0, sep), full.slice(sep + 2));
  }

  /**
   * An interim response (103 Early Hints), sent at once. uWS has no API for one: its writeStatus
   * writes `HTTP/1.1 <status>\r\n`, so the whole interim head is handed to it as the status (the
   * first time) or to writeHeader, which writes `<name>: <value>\r\n` (later ones). Header names
   * and values come from the response parser, which refuses CR, LF and other controls in them.
   */
  writeInterim(status: number, reason: string, headers: readonly string[]): void {
    if (this.done || this.#aborted || this.#mode !== Mode.Head || headers.length === 0) return;
    let lines = '';
    for (let i = 2; i < headers.length; i += 2) lines += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
    const line = statusLine(status, reason);
    const res = this.#res;
    res.cork(() => {
      if (!this.#interimSent) res.writeStatus(`${line}\r\n${headers[0]!}: ${headers[1]!}\r\n${lines}`);
      else res.writeHeader(`HTTP/1.1 ${line}\r\n${headers[0]!}`, `${headers[1]!}\r\n${lines}`);
    });
    this.#interimSent = true;
  }

  writeBody(chunk: Buffer): boolean {
    if (this.done) return true;
    if (this.#mode === Mode.Length) {
      if (this.#pending !== null) {
        // Still waiting for the socket: keep the bytes in order.
        appendUnsent(this.#pending, chunk);
        return false;
      }
      this.#chunk = chunk;
      if (this.#bodyPaused && this.#res.getWriteOffset() + chunk.length >= this.#length) this.resumeBody();
      // tryEnd's writes are "optional": on overflow uWS reports them unwritten instead of
      // losing them, so one session per read is safe here.
      if (this.#headers !== null && this.#headBytes > PIECE_BYTES / 2) this.#res.cork(() => this.#sendHead());
      this.#res.cork(this.#lengthSession);
      this.#chunk = null;
      if (this.#finished) this.#finish();
      return this.#ok;
    }
    if (this.#mode === Mode.Stream) {
      if (chunk.length === 0) return true;
      if (this.#headers !== null && this.#headBytes > PIECE_BYTES / 2) this.#res.cork(() => this.#sendHead());
      let ok = true;
      let off = 0;
      while (off < chunk.length && !this.done) {
        // The first piece shares its session with the head when it is still held.
        const room = this.#headers !== null ? PIECE_BYTES - this.#headBytes : PIECE_BYTES;
        const end = Math.min(chunk.length, off + room);
        this.#chunk = off === 0 && end === chunk.length ? chunk : chunk.subarray(off, end);
        this.#res.cork(this.#streamSession);
        // res.write buffers everything it could not send; false tells us to stop reading.
        if (!this.#ok) ok = false;
        off = end;
      }
      this.#chunk = null;
      if (!ok) this.#hookWritable();
      return ok;
    }
    return true;
  }

  #writeLength(): void {
    this.#sendHead();
    const res = this.#res;
    const chunk = this.#chunk!;
    const offset = res.getWriteOffset();
    const [ok, done] = res.tryEnd(chunk, this.#length);
    if (done) { this.#finished = true; this.#ok = true; return; }
    this.#ok = ok;
    if (ok) return;
    this.#pending = keepUnsent(res, chunk, offset);
    this.#hookWritable();
  }

  onWritable(cb: () => void): void {
    this.#writableCb = cb;
  }

  #hookWritable(): void {
    if (this.#writableHooked) return;
    this.#writableHooked = true;
    this.#res.onWritable((offset) => this.#drain(offset));
  }

  #drain(offset: number): boolean {
    if (this.done) return true;
    const pending = this.#pending;
    if (pending !== null) {
      if (this.#bodyPaused && pending.at + pending.bytes.length >= this.#length) this.resumeBody();
      const result = resendUnsent(this.#res, pending, offset, this.#length);
      if (result[1]) { this.#pending = null; this.#finish(); return true; }
      if (!result[0]) return false;
      this.#pending = null;
    }
    const cb = this.#writableCb;
    if (cb) cb();
    return true;
  }

  end(): void {
    if (this.done) return;
    if (this.#mode === Mode.Length && this.#length > 0) {
      if (this.#pending !== null) return; // the tail is still being flushed; #drain finishes it
      // Fewer bytes than announced: cut the connection so the truncation is visible.
      this.close();
      return;
    }
    this.resumeBody();
    this.#res.cork(this.#endSession);
    this.#finish();
  }

  #writeEnd(): void {
    this.#sendHead();
    const res = this.#res;
    // HEAD announces the length a GET would have had; 204/304 announce none.
    if (this.#mode === Mode.NoBody) {
      if (this.#announceLength >= 0) res.endWithoutBody(this.#announceLength);
      else res.endWithoutBody();
    }
    else res.end();
  }

  respond(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean, headOnly: boolean): void {
    if (this.done) return;
    if (closeConnection && this.inHandler) {
      // An answer that closes, given inside uWS's request callback: uWS would go on parsing
      // the bytes already read after this request (a body it framed one way, a second request
      // hidden in it) and serve them, "Connection: close" or not. Answered from the next loop
      // turn instead, the request is still pending while uWS parses on, and uWS closes a
      // connection that sends a request while one is pending without running any handler:
      // nothing after a refused head is ever served. A client that sent nothing more gets the
      // answer and the close at once.
      this.#finish();
      setImmediate(() => this.#respondNow(status, reason, headers, body, true, headOnly));
      return;
    }
    this.#respondNow(status, reason, headers, body, closeConnection, headOnly);
    this.#finish();
  }

  #respondNow(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean, headOnly: boolean): void {
    if (this.#aborted) return;
    this.#committed = true;
    const res = this.#res;
    this.#resumeNow();
    res.cork(() => {
      this.#writeHead(res, statusLine(status, reason), headers, !closeConnection);
      // uWS end(body) sends the body even for HEAD: announce its length and send none.
      if (!headOnly) res.end(body, closeConnection);
      else res.endWithoutBody(Buffer.byteLength(body), closeConnection);
    });
  }

  close(): void {
    if (this.done) return;
    this.#finish();
    this.#res.close();
  }

  onBody(cb: (chunk: Uint8Array, last: boolean) => void): void {
    this.#res.onData((ab, last) => cb(new Uint8Array(ab), last));
  }

  pauseBody(): void {
    if (this.done || this.#bodyPaused) return;
    this.#bodyPaused = true;
    this.#res.pause();
  }

  /**
   * A no-op unless paused: uWS v20.30 res.resume() on a never-paused response leaves the
   * connection unable to serve its next request. Also called before anything that can
   * complete the response: one must not complete with the body paused (uWS would never read
   * the rest, the client's upload stalls and its connection is lost, and a finished response
   * cannot be touched any more). Resumed, uWS reads and drops the rest.
   */
  resumeBody(): void {
    if (this.done) return;
    this.#resumeNow();
  }

  #resumeNow(): void {
    if (!this.#bodyPaused || this.#aborted) return;
    this.#bodyPaused = false;
    this.#res.resume();
  }

  onAbort(cb: () => void): void {
    this.#abortCb = cb;
  }

  #uncount(): void {
    if (this.#streaming) { this.#streaming = false; streamClosed(); }
  }

  /** The response became a WebSocket (downstream/websocket.ts): nothing more is written here. */
  handOver(): void {
    const conn = this.#conn;
    this.#conn = null;
    if (conn !== null) this.#table!.upgraded(conn);
    this.done = true;
  }

  #release(): void {
    const conn = this.#conn;
    if (conn === null) return;
    this.#conn = null;
    this.#table!.done(conn);
  }

  /** Serve no further request on this connection (a chunked request body: connections.ts closeAfter). */
  closeConnectionAfter(): void {
    this.#closing = true;
    this.#table?.closeAfter(this.#conn);
  }

  /** The client connection this request came on (null when it cannot be matched, or after the end). */
  get connection(): Connection | null {
    return this.#conn;
  }

  /** The connection was marked to serve no further request, yet this one came on it: not served. */
  get unwanted(): boolean {
    return this.#unwanted;
  }

  #finish(): void {
    this.#release();
    this.#uncount();
    this.done = true;
    this.#mode = Mode.Done;
    this.#pending = null;
    this.#abortCb = null;
    this.#writableCb = null;
    this.#headers = null;
  }
}
