// The uWebSockets.js implementation of the Downstream contract: one object per request,
// owning every uWS-specific rule (onAborted first, cork, tryEnd/onWritable resend,
// endWithoutBody for bodiless answers, ArrayBuffers detached after callbacks).
import type { HttpResponse } from 'uWebSockets.js';
import type { Downstream } from './contract.js';
import { statusLine } from './status-line.js';

const enum Mode { Head, Length, Stream, NoBody, Done }

export class UwsDownstream implements Downstream {
  done = false;
  readonly #res: HttpResponse;
  #mode: Mode = Mode.Head;
  #length = 0;
  /** tryEnd bytes uWS did not take (length mode): resent from getWriteOffset on writable. */
  #pending: Buffer | null = null;
  #pendingOffset = 0;
  #writableCb: (() => void) | null = null;
  #abortCb: (() => void) | null = null;
  #writableHooked = false;

  constructor(res: HttpResponse) {
    this.#res = res;
    // Must be registered before the handler returns or awaits (shared notes §4).
    res.onAborted(() => {
      if (this.done) return;
      this.done = true;
      this.#mode = Mode.Done;
      const cb = this.#abortCb;
      this.#abortCb = null;
      if (cb) cb();
    });
  }

  cork(fn: () => void): void {
    if (this.done) fn();
    else this.#res.cork(fn);
  }

  writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    if (this.done) return;
    const res = this.#res;
    res.writeStatus(statusLine(status, reason));
    for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
    if (noBody) {
      // HEAD keeps the length the GET would have had; 204/304 announce none (RFC 9110 §8.6).
      if (bodyLength >= 0 && status !== 204 && status !== 304) res.writeHeader('content-length', String(bodyLength));
      this.#mode = Mode.NoBody;
    } else if (bodyLength >= 0) {
      this.#mode = Mode.Length;
      this.#length = bodyLength;
    } else {
      this.#mode = Mode.Stream;
    }
  }

  writeBody(chunk: Buffer): boolean {
    if (this.done) return true;
    const res = this.#res;
    if (this.#mode === Mode.Length) {
      if (this.#pending !== null) {
        // Still waiting for the socket: keep the bytes in order (copy, the view is reused).
        this.#pending = Buffer.concat([this.#pending, chunk]);
        return false;
      }
      const offset = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, this.#length);
      if (done) { this.#finish(); return true; }
      if (ok) return true;
      // uWS did not keep the unsent part: keep a copy and resend it from onWritable.
      this.#pending = Buffer.from(chunk);
      this.#pendingOffset = offset;
      this.#hookWritable();
      return false;
    }
    if (this.#mode === Mode.Stream) {
      if (chunk.length === 0) return true;
      // res.write buffers everything it cannot send; false tells us to stop reading.
      if (res.write(chunk)) return true;
      this.#hookWritable();
      return false;
    }
    return true;
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
      const [ok, done] = this.#res.tryEnd(pending.subarray(offset - this.#pendingOffset), this.#length);
      if (done) { this.#pending = null; this.#finish(); return true; }
      if (!ok) return false;
      this.#pending = null;
    }
    const cb = this.#writableCb;
    if (cb) cb();
    return true;
  }

  end(): void {
    if (this.done) return;
    const res = this.#res;
    switch (this.#mode) {
      case Mode.NoBody:
        res.endWithoutBody();
        break;
      case Mode.Length:
        if (this.#length === 0) res.end();
        else if (this.#pending === null) { res.close(); } // fewer bytes than announced: truncate visibly
        else return; // the tail is still being flushed; #drain finishes it
        break;
      case Mode.Stream:
      case Mode.Head:
        res.end();
        break;
      case Mode.Done:
        return;
    }
    this.#finish();
  }

  respond(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean): void {
    if (this.done) return;
    const res = this.#res;
    res.cork(() => {
      res.writeStatus(statusLine(status, reason));
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
      res.end(body, closeConnection);
    });
    this.#finish();
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
    if (!this.done) this.#res.pause();
  }

  resumeBody(): void {
    if (!this.done) this.#res.resume();
  }

  onAbort(cb: () => void): void {
    this.#abortCb = cb;
  }

  #finish(): void {
    this.done = true;
    this.#mode = Mode.Done;
    this.#pending = null;
    this.#abortCb = null;
    this.#writableCb = null;
  }
}
