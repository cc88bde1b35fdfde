// The Downstream contract over Node's objects: an HTTP/2 stream (ServerHttp2Stream, its core API:
// no compatibility request/response objects per request), or an HTTP/1.1 request that
// node:http serves on the same TLS port (allowHTTP1). The pipeline cannot tell them from uWS.
//
// Body chunks are copied before they are written: Node keeps a reference to what it has not
// sent yet, and the chunks the pipeline hands over are views into buffers it reuses (the
// upstream connection's shared read buffer), unlike uWS, which copies what it cannot send.
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Downstream } from '../downstream/contract.js';
import { streamClosed, streamOpened } from '../observe/counters.js';

const EMPTY = new Uint8Array(0);

/** A client's stream or request failed: its 'close' follows and ends the exchange. */
function clientGone(): void {}

/** A flat [name, value, …] list as the header object Node takes (repeated names as arrays). */
export function headerObject(headers: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (typeof prev === 'string') out[name] = [prev, value];
    else prev.push(value);
  }
  return out;
}

/** RFC 9110 §6.6.1: the Date every answer carries (uWS writes it on its side); made once a second. */
let dateText = '';
let dateSecond = 0;
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) { dateSecond = second; dateText = new Date(now).toUTCString(); }
  return dateText;
}

/**
 * What both share: the answer goes to a Node writable (drain for backpressure), the request
 * body comes from a Node readable, and a 'close' before the end is the client going away.
 */
abstract class NodeServedDownstream implements Downstream {
  done = false;
  abstract readonly committed: boolean;
  /** The body length the head announced (-1: none, or streamed). */
  protected announced = -1;
  #written = 0;
  #streaming = false;
  #abortCb: (() => void) | null = null;
  #writableCb: (() => void) | null = null;
  #drainHooked = false;
  readonly #out: Writable;
  readonly #body: Readable;

  constructor(closes: EventEmitter, out: Writable, body: Readable) {
    this.#out = out;
    this.#body = body;
    // A stream the client resets with an error code (RST_STREAM PROTOCOL_ERROR, a body longer
    // than its Content-Length, a connection reset under open streams) is destroyed with an
    // 'error' and then 'close'. Unheard, the 'error' is thrown and ends the worker with every
    // connection it holds; the 'close' after it is the abort below.
    closes.on('error', clientGone);
    if (body !== closes) body.on('error', clientGone);
    closes.on('close', () => {
      if (this.done) return;
      this.finish();
      this.clientLeft();
      const cb = this.#abortCb;
      this.#abortCb = null;
      if (cb) cb();
    });
  }

  abstract writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void;
  abstract respond(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean, headOnly: boolean): void;
  /** Ends the answer abruptly: the client sees it cut, not complete. */
  protected abstract cut(): void;

  /** The client closed or reset before the answer was complete. */
  protected clientLeft(): void {}

  /** A head with no known length: the body streams until end(). */
  protected streamOpened(): void {
    this.#streaming = true;
    streamOpened();
  }

  writeBody(chunk: Buffer): boolean {
    if (this.done || chunk.length === 0) return true;
    this.#written += chunk.length;
    if (this.#written === this.announced) {
      // The last bytes of a known length: one end(chunk) instead of write() then end(), one
      // write request fewer for the common small answer.
      this.finish();
      this.#out.end(Buffer.from(chunk));
      return true;
    }
    const ok = this.#out.write(Buffer.from(chunk));
    if (!ok && !this.#drainHooked) {
      this.#drainHooked = true;
      this.#out.on('drain', () => { if (!this.done) this.#writableCb?.(); });
    }
    return ok;
  }

  onWritable(cb: () => void): void { this.#writableCb = cb; }

  end(): void {
    if (this.done) return;
    // Fewer bytes than announced: cut the answer so the truncation is visible, as uWS does.
    if (this.announced > 0 && this.#written < this.announced) { this.close(); return; }
    this.finish();
    this.#out.end();
  }

  close(): void {
    if (this.done) return;
    this.finish();
    this.cut();
  }

  onBody(cb: (chunk: Uint8Array, last: boolean) => void): void {
    this.#body.on('data', (chunk: Buffer) => cb(chunk, false));
    this.#body.on('end', () => cb(EMPTY, true));
  }

  pauseBody(): void { this.#body.pause(); }
  resumeBody(): void { this.#body.resume(); }
  onAbort(cb: () => void): void { this.#abortCb = cb; }

  protected finish(): void {
    this.done = true;
    if (this.#streaming) { this.#streaming = false; streamClosed(); }
    this.#writableCb = null;
  }
}

/** One HTTP/2 stream. */
export class H2StreamDownstream extends NodeServedDownstream {
  /** The head goes out with writeHead (HEADERS frame), so from then on only a reset can end it. */
  committed = false;
  readonly #stream: ServerHttp2Stream;

  readonly #onClientLeft: (() => void) | null;

  /** `onClientLeft`: told when the client gives the stream up before its answer is complete. */
  constructor(stream: ServerHttp2Stream, onClientLeft: (() => void) | null = null) {
    super(stream, stream, stream);
    this.#stream = stream;
    this.#onClientLeft = onClientLeft;
  }

  protected override clientLeft(): void {
    if (this.#onClientLeft !== null) this.#onClientLeft();
  }

  #respond(status: number, headers: readonly string[], length: number, endStream: boolean): void {
    this.committed = true;
    const h = headerObject(headers) as OutgoingHttpHeaders;
    h[':status'] = status;
    h['date'] = httpDate();
    if (length >= 0) h['content-length'] = length;
    this.#stream.respond(h, { endStream });
  }

  writeHead(status: number, _reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    if (this.done) return;
    // HEAD keeps the length the GET would have had; 204/304 announce none (RFC 9110 §8.6).
    this.#respond(status, headers, status === 204 || status === 304 ? -1 : bodyLength, noBody);
    if (noBody) { this.finish(); return; }
    this.announced = bodyLength;
    if (bodyLength < 0) this.streamOpened();
  }

  respond(status: number, _reason: string, headers: readonly string[], body: string, _close: boolean, headOnly: boolean): void {
    if (this.done) return;
    this.finish();
    // A request body not read is stopped by the stream's end (RST_STREAM NO_ERROR, RFC 9113 §8.1).
    this.#respond(status, headers, Buffer.byteLength(body), headOnly);
    if (!headOnly) this.#stream.end(body);
  }

  protected cut(): void { this.#stream.close(constants.NGHTTP2_INTERNAL_ERROR); }
}

/** One HTTP/1.1 request served by node:http on an HTTP/2 listener. */
export class NodeDownstream extends NodeServedDownstream {
  readonly #res: ServerResponse;

  /** node:http has the head once writeHead ran. */
  get committed(): boolean { return this.#res.headersSent; }

  constructor(req: IncomingMessage, res: ServerResponse) {
    super(res, res, req);
    this.#res = res;
  }

  writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    if (this.done) return;
    const h = headerObject(headers);
    if (bodyLength >= 0 && status !== 204 && status !== 304) h['content-length'] = String(bodyLength);
    const streamed = !noBody && bodyLength < 0;
    if (!noBody) this.announced = bodyLength;
    if (streamed) this.streamOpened();
    if (reason !== '') this.#res.statusMessage = reason;
    this.#res.writeHead(status, h);
    // A streamed head (an event stream) goes out now, not with the first body bytes.
    if (streamed) this.#res.flushHeaders();
  }

  respond(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean, headOnly: boolean): void {
    if (this.done) return;
    const h = headerObject(headers);
    h['content-length'] = String(Buffer.byteLength(body));
    if (closeConnection) h['connection'] = 'close';
    if (reason !== '') this.#res.statusMessage = reason;
    this.finish();
    this.#res.writeHead(status, h);
    if (headOnly) this.#res.end();
    else this.#res.end(body);
  }

  protected cut(): void { this.#res.destroy(); }
}
