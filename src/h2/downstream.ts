// The Downstream contract over Node's request/response objects: an HTTP/2 stream
// (Http2ServerRequest/Response) or an HTTP/1.1 request on the same TLS port (allowHTTP1 gives
// node:http's objects, which have the same API). The pipeline cannot tell it from uWS.
//
// Body chunks are copied before they are written: Node keeps a reference to what it has not
// sent yet, and the chunks the pipeline hands over are views into buffers it reuses (the
// upstream connection's shared read buffer), unlike uWS, which copies what it cannot send.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Downstream } from '../downstream/contract.js';
import { streamClosed, streamOpened } from '../observe/counters.js';

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

const EMPTY = new Uint8Array(0);

/** A flat [name, value, …] list as the header object Node's writeHead takes (repeats as arrays). */
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

export class NodeDownstream implements Downstream {
  done = false;
  readonly #req: NodeRequest;
  readonly #res: NodeResponse;
  readonly #h2: boolean;
  #abortCb: (() => void) | null = null;
  #writableCb: (() => void) | null = null;
  /** Bytes announced with Content-Length (-1: none) and written so far. */
  #announced = -1;
  #written = 0;
  #streaming = false;

  constructor(req: NodeRequest, res: NodeResponse) {
    this.#req = req;
    this.#res = res;
    this.#h2 = req.httpVersionMajor === 2;
    res.on('close', () => {
      if (this.done) return;
      this.#finish();
      const cb = this.#abortCb;
      this.#abortCb = null;
      if (cb) cb();
    });
  }

  writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    if (this.done) return;
    const h = headerObject(headers);
    // HEAD keeps the length the GET would have had; 204/304 announce none (RFC 9110 §8.6).
    if (bodyLength >= 0 && status !== 204 && status !== 304) h['content-length'] = String(bodyLength);
    if (!noBody) this.#announced = bodyLength;
    if (!noBody && bodyLength < 0) { this.#streaming = true; streamOpened(); }
    if (!this.#h2 && reason !== '') (this.#res as ServerResponse).statusMessage = reason;
    (this.#res as ServerResponse).writeHead(status, h);
    // A streamed head (an event stream) goes out now, not with the first body bytes.
    if (this.#streaming) (this.#res as ServerResponse).flushHeaders();
  }

  writeBody(chunk: Buffer): boolean {
    if (this.done || chunk.length === 0) return true;
    this.#written += chunk.length;
    return (this.#res as ServerResponse).write(Buffer.from(chunk));
  }

  onWritable(cb: () => void): void {
    if (this.#writableCb === null) this.#res.on('drain', () => { if (!this.done) this.#writableCb?.(); });
    this.#writableCb = cb;
  }

  end(): void {
    if (this.done) return;
    if (this.#announced > 0 && this.#written < this.#announced) {
      // Fewer bytes than announced: reset so the truncation is visible, as the uWS side closes.
      this.close();
      return;
    }
    this.#finish();
    this.#res.end();
  }

  respond(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean, headOnly: boolean): void {
    if (this.done) return;
    const h = headerObject(headers);
    h['content-length'] = String(Buffer.byteLength(body));
    if (closeConnection && !this.#h2) h['connection'] = 'close';
    if (!this.#h2 && reason !== '') (this.#res as ServerResponse).statusMessage = reason;
    this.#finish();
    (this.#res as ServerResponse).writeHead(status, h);
    // A refused body is not read: on HTTP/2 the stream's own end stops it (RST_STREAM NO_ERROR).
    if (headOnly) this.#res.end();
    else this.#res.end(body);
  }

  close(): void {
    if (this.done) return;
    this.#finish();
    if (this.#h2) (this.#res as Http2ServerResponse).stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    else (this.#res as ServerResponse).destroy();
  }

  onBody(cb: (chunk: Uint8Array, last: boolean) => void): void {
    this.#req.on('data', (chunk: Buffer) => cb(chunk, false));
    this.#req.on('end', () => cb(EMPTY, true));
  }

  pauseBody(): void { this.#req.pause(); }
  resumeBody(): void { this.#req.resume(); }

  onAbort(cb: () => void): void { this.#abortCb = cb; }

  #finish(): void {
    this.done = true;
    if (this.#streaming) { this.#streaming = false; streamClosed(); }
    this.#writableCb = null;
  }
}
