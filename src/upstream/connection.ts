// One keep-alive HTTP/1.1 connection to an upstream target: a raw net.Socket read
// through `onread` into a per-connection buffer (no Readable-stream machinery on the
// hot path), our own response parser, and the exchange currently using it.
import type net from 'node:net';
import { ProxyError } from '../errors.js';
import { connectEndpoint, handshakeError, type UpstreamEndpoint } from './tls.js';
import { ResponseParser, type ResponseHead, type ResponseParserHandler } from '../http/response-parser.js';

/** What a connection reports to the exchange using it. */
export interface ConnectionUser {
  onResponseHead(head: ResponseHead): void;
  /** An interim response (103 Early Hints, 102) before the final head. */
  onResponseInterim?(head: ResponseHead): void;
  /** Return false when the client is not keeping up: the connection stops reading. */
  onResponseBody(chunk: Buffer): boolean;
  onResponseEnd(): void;
  /** Upstream failure. `retryable`: the request can safely be sent again on a fresh connection. */
  onUpstreamError(err: ProxyError, retryable: boolean): void;
  /** Called when the connection can take more request body bytes. */
  onUpstreamDrain(): void;
}

/** The pool side of a connection. */
export interface ConnectionOwner {
  onConnected(conn: UpstreamConnection): void;
  /** A TLS session ticket to resume the next connection with (https targets). */
  onSession?(session: Buffer): void;
  onConnectFailed(conn: UpstreamConnection, err: ProxyError): void;
  /** `now`: Date.now() as the caller already read it (the read that ended the response). */
  onReusable(conn: UpstreamConnection, now?: number): void;
  onClosed(conn: UpstreamConnection): void;
}

/** Large: a 1 MiB body then takes a few reads instead of sixteen (bench: 330 vs 560 µs of
 *  CPU per MiB). Shared per worker, so its size costs no memory per connection. */
const READ_BUFFER_BYTES = 1024 * 1024;
/**
 * One read buffer for every upstream socket of this thread (module state is per worker
 * thread). Safe because each read is consumed synchronously in its callback: body chunks
 * are written to the client (uWS copies what it cannot send, or the unsent tail is copied),
 * the parser copies a split head, and bytes held back under backpressure are copied (the
 * rare path). Memory stays one buffer per worker instead of one per pooled connection.
 */
const sharedReadBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

export const enum ConnState { Connecting, Idle, Busy, Closed }

export class UpstreamConnection implements ResponseParserHandler {
  state: ConnState = ConnState.Connecting;
  /** Requests completed on this socket; > 0 means a request on it is a reuse. */
  served = 0;
  /** Deadline (ms since epoch) checked by the worker clock: connect, response head, idle. */
  deadline = 0;
  /**
   * Date.now() at the read being handled (or the resume of a paused one): the head's arrival
   * time and every deadline set while handling it use this one reading of the clock.
   */
  readAt = 0;
  /** Upstream's Keep-Alive timeout in ms, -1 when it gave none. */
  keepAliveMs = -1;
  readonly socket: net.Socket;
  readonly #owner: ConnectionOwner;
  readonly #parser: ResponseParser;
  #user: ConnectionUser | null = null;
  #gotResponseBytes = false;
  #headSeen = false;
  /** The client is not keeping up: the parser stopped mid-buffer and the socket is paused. */
  #paused = false;
  /** Unparsed bytes held back while paused (a copy: the read buffer is shared). */
  #leftover: Buffer | null = null;
  /** The request was HEAD: see onEnd. */
  #headRequest = false;
  /** Set per exchange: deadline for the response head, then idle between body bytes. */
  #responseHeaderMs = 0;
  #idleMs = 0;

  constructor(endpoint: UpstreamEndpoint, connectTimeoutMs: number, maxHeadBytes: number, owner: ConnectionOwner, session?: Buffer) {
    this.#owner = owner;
    this.#parser = new ResponseParser(this, maxHeadBytes);
    this.deadline = Date.now() + connectTimeoutMs;
    const secure = endpoint.tls !== null;
    this.socket = connectEndpoint(endpoint, {
      onread: { buffer: sharedReadBuffer, callback: (n: number, buf: Buffer) => this.#onRead(n, buf) },
      session,
    });
    // A TLS socket cannot read into our buffer: its chunks arrive as 'data' (fresh buffers).
    if (secure) {
      const socket = this.socket;
      socket.on('data', (chunk: Buffer) => { if (!this.#onRead(chunk.length, chunk)) socket.pause(); });
      socket.on('session', (s: Buffer) => owner.onSession?.(s));
    }
    this.socket.on(secure ? 'secureConnect' : 'connect', () => {
      if (this.state !== ConnState.Connecting) return;
      this.state = ConnState.Idle;
      this.#owner.onConnected(this);
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      const tlsError = secure && this.state === ConnState.Connecting ? handshakeError(err) : null;
      if (tlsError !== null) this.#connectFailedWith(tlsError);
      else this.#fail(err.code ?? err.message);
    });
    this.socket.on('end', () => this.#onEnd());
    this.socket.on('close', () => this.#fail('closed'));
    this.socket.on('drain', () => { if (this.#user) this.#user.onUpstreamDrain(); });
  }

  /** Sends a request head (and, for bodiless requests, that is the whole request). */
  send(user: ConnectionUser, head: string, noResponseBody: boolean, responseHeaderMs: number, idleMs: number, now = Date.now()): void {
    this.state = ConnState.Busy;
    this.#user = user;
    this.#gotResponseBytes = false;
    this.#headSeen = false;
    this.#paused = false;
    this.#leftover = null;
    this.#responseHeaderMs = responseHeaderMs;
    this.#idleMs = idleMs;
    this.#headRequest = noResponseBody;
    this.deadline = now + responseHeaderMs;
    this.#parser.reset(noResponseBody);
    // uWS hands us header values decoded as UTF-8; writing UTF-8 gives the client's bytes
    // back exactly (an obs-text value that was valid UTF-8 passes byte for byte).
    this.socket.write(head, 'utf8');
  }

  /** Writes request body bytes; false when the socket buffer is full (wait for onUpstreamDrain). */
  writeBody(chunk: Uint8Array | string): boolean {
    if (this.state !== ConnState.Busy) return true;
    this.deadline = Date.now() + this.#responseHeaderMs;
    return this.socket.write(chunk);
  }

  /** The client drained: parse what was held back, then read from the socket again. */
  resume(): void {
    if (!this.#paused || this.state !== ConnState.Busy) return;
    this.#paused = false;
    this.readAt = Date.now();
    this.deadline = this.readAt + this.#idleMs;
    const left = this.#leftover;
    this.#leftover = null;
    if (left !== null && this.#user !== null) {
      this.#parse(left);
    }
    // #parse may have ended the message (state Idle) or dropped the socket (Closed).
    if (!this.#paused && (this.state as ConnState) !== ConnState.Closed) this.socket.resume();
  }

  /** Drops the connection (client gone mid-exchange, body limit, timeout). */
  destroy(): void {
    this.#user = null;
    if (this.state === ConnState.Closed) return;
    this.state = ConnState.Closed;
    this.socket.destroy();
    this.#owner.onClosed(this);
  }

  /** Called by the worker clock when `deadline` has passed. */
  expire(): void {
    const user = this.#user;
    if (this.state === ConnState.Connecting) {
      this.#connectFailed('connect timeout');
      return;
    }
    this.#closeWith();
    if (user) user.onUpstreamError(new ProxyError('PC_ERR_UPSTREAM_TIMEOUT', this.#headSeen ? 'no body progress' : 'no response head'), false);
  }

  #onRead(n: number, buf: Buffer): boolean {
    const user = this.#user;
    if (user === null) {
      // Bytes nobody asked for on an idle connection: the upstream is confused. Never reuse.
      this.destroy();
      return false;
    }
    this.#gotResponseBytes = true;
    const now = (this.readAt = Date.now());
    // Before the final head the deadline stays where send (or the last request-body write)
    // put it: response_header is the time to the head, not between its bytes. Moved per read,
    // an upstream sending a byte a second, or endless 1xx answers, held the client for ever.
    if (this.#headSeen) this.deadline = now + this.#idleMs;
    this.#parse(buf.subarray(0, n));
    // false pauses the socket (net onread contract) until resume().
    return !this.#paused;
  }

  #parse(data: Buffer): void {
    const used = this.#parser.execute(data);
    // Bytes after a complete message are unsolicited: the parser marks the head `close`
    // and onEnd drops the socket, so only a pause leaves bytes worth keeping.
    if (this.#paused && used >= 0 && used < data.length) this.#leftover = Buffer.from(data.subarray(used));
  }

  // ResponseParserHandler ------------------------------------------------------------
  onHead(head: ResponseHead): void {
    if (head.statusCode === 101) {
      // Every plain request goes out without Upgrade (hop-by-hop), so a switch was never asked
      // for (RFC 9110 §15.2.2) and the socket no longer speaks HTTP. WebSockets use tunnel.ts.
      this.#parser.reset(true); // new epoch: execute() stops after this callback
      this.onError(new ProxyError('PC_ERR_UPSTREAM_PROTOCOL', '101 Switching Protocols to a request without Upgrade'));
      return;
    }
    this.#headSeen = true;
    this.keepAliveMs = head.keepAliveTimeoutMs;
    this.deadline = this.readAt + this.#idleMs;
    if (this.#user) this.#user.onResponseHead(head);
  }

  onInterim(head: ResponseHead): void {
    const user = this.#user;
    if (user !== null && user.onResponseInterim !== undefined) user.onResponseInterim(head);
  }

  onBody(chunk: Buffer): void {
    const user = this.#user;
    if (user && !user.onResponseBody(chunk)) {
      this.#paused = true;
      this.#parser.pause();
    }
  }

  onEnd(): void {
    const user = this.#user;
    this.#user = null;
    this.served++;
    // Read `close` now: the parser sets it at the very end when unsolicited bytes follow.
    // After HEAD, never reuse: servers that ignore the method send the body anyway, and bytes
    // arriving after the next request went out would be read as that request's answer, i.e.
    // another client's. (Those in the same read are caught above; later ones cannot be.)
    const close = this.#headRequest || (this.#parser.head?.close ?? true);
    this.#paused = false;
    this.#leftover = null;
    if (close || this.state !== ConnState.Busy) {
      this.destroy();
    } else {
      this.state = ConnState.Idle;
      // Reading may have been stopped by an onread `false` (isPaused() does not report
      // that); an idle socket must read again to see the upstream's FIN.
      this.socket.resume();
    }
    if (user) user.onResponseEnd();
    if (this.state === ConnState.Idle) this.#owner.onReusable(this, this.readAt);
  }

  onError(err: ProxyError): void {
    const user = this.#user;
    this.#closeWith();
    if (user) user.onUpstreamError(err, false);
  }

  // Socket lifecycle -------------------------------------------------------------------
  #onEnd(): void {
    // EOF: ends a close-delimited body; anything else mid-message is a failure.
    if (this.state === ConnState.Busy && this.#user) {
      if (this.#headSeen) { this.#parser.finish(); return; }
    }
    this.#fail('upstream closed the connection');
  }

  #fail(reason: string): void {
    if (this.state === ConnState.Closed) return;
    if (this.state === ConnState.Connecting) {
      this.#connectFailed(reason);
      return;
    }
    const user = this.#user;
    const nothingReceived = !this.#gotResponseBytes;
    this.#closeWith();
    if (user) {
      // Retrying is safe when this was a reused socket (the idle-close race) and the
      // upstream never answered; the exchange adds the method/body conditions.
      const retryable = this.served > 0 && nothingReceived;
      user.onUpstreamError(new ProxyError(nothingReceived ? 'PC_ERR_UPSTREAM_RESET' : 'PC_ERR_UPSTREAM_PROTOCOL', reason), retryable);
    }
  }

  /** The pool learns of a failed connect through onConnectFailed only (not onClosed). */
  #connectFailed(reason: string): void {
    this.#connectFailedWith(new ProxyError('PC_ERR_UPSTREAM_CONNECT', reason));
  }

  #connectFailedWith(err: ProxyError): void {
    if (this.state !== ConnState.Connecting) return;
    this.state = ConnState.Closed;
    this.socket.destroy();
    this.#owner.onConnectFailed(this, err);
  }

  #closeWith(): void {
    this.#user = null;
    if (this.state === ConnState.Closed) return;
    this.state = ConnState.Closed;
    this.socket.destroy();
    this.#owner.onClosed(this);
  }
}
