// Forwarding one exchange: gets a pooled connection, sends the head, streams the request
// body up and the response body down with backpressure both ways, retries once on a
// fresh connection when that is safe, and maps failures to answers.
//
//   client ──onBody──▶ [queue until connected] ──writeBody──▶ upstream socket
//          ◀─writeBody── onResponseBody ◀── parser ◀── onread ─┘
//   backpressure: upstream write false → pause client body; client write false → pause socket
import type { Downstream } from '../downstream/contract.js';
import { ProxyError, errorBody } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { ResponseHead } from '../http/response-parser.js';
import type { Runtime, CompiledUpstream } from '../runtime.js';
import { selectPool } from '../runtime.js';
import type { ConnectionUser, UpstreamConnection } from './connection.js';
import type { PoolWaiter, UpstreamPool } from './pool.js';
import { responseHeaders } from '../filters/response-headers.js';
import { openCompression, type ResponseCompression } from '../filters/compress.js';
import { cacheResponseHead, type CacheFill } from '../cache/fill.js';
import { answerFromCache } from '../cache/respond.js';
import { UploadHold } from './upload-budget.js';

const CHUNK_END = '0\r\n\r\n';

const CRLF = '\r\n';

/** RFC 9110 §9.2.2: requests a client may repeat without changing the outcome. */
function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET': case 'HEAD': case 'OPTIONS': case 'TRACE': case 'PUT': case 'DELETE':
      return true;
    default:
      return false;
  }
}

export type ExchangeDone = (ex: Exchange) => void;

export class Forwarder implements PoolWaiter, ConnectionUser {
  readonly #ex: Exchange;
  readonly #ds: Downstream;
  readonly #rt: Runtime;
  readonly #upstream: CompiledUpstream;
  readonly #requestHead: string;
  readonly #chunked: boolean;
  readonly #hasBody: boolean;
  readonly #done: ExchangeDone;
  #pool: UpstreamPool;
  #conn: UpstreamConnection | null = null;
  /** Body chunks received before a connection was ready (copies), and their bytes. */
  #queue: Buffer[] | null = null;
  #queued = 0;
  /** Request-body bytes this exchange holds for a slower upstream (upstream/upload-budget.ts). */
  readonly #hold = new UploadHold();
  #bodyComplete: boolean;
  #bodySent = 0;
  /** The upstream socket's buffer is full: the client is paused by us, not stalling. */
  #upstreamFull = false;
  #headSent = false;
  #finished = false;
  readonly #writable = (): void => { if (this.#conn) this.#conn.resume(); };
  /** Body transform chosen at the response head (filters/compress.ts); null: pass-through. */
  #compression: ResponseCompression | null = null;
  /** Tee of the body into the shared cache (cache/fill.ts); null: not stored. */
  #fill: CacheFill | null = null;
  /** A 304 refreshed the stale entry: the client gets the stored body, the upstream's is ignored. */
  #refreshed = false;

  constructor(ex: Exchange, ds: Downstream, rt: Runtime, upstream: CompiledUpstream, requestHead: string,
    chunked: boolean, contentLength: number, done: ExchangeDone) {
    this.#ex = ex;
    this.#ds = ds;
    this.#rt = rt;
    this.#upstream = upstream;
    this.#requestHead = requestHead;
    this.#chunked = chunked;
    this.#hasBody = chunked || contentLength > 0;
    this.#bodyComplete = !this.#hasBody;
    this.#done = done;
    this.#pool = selectPool(upstream);
    ds.onAbort(() => this.#onClientAbort());
    // uWS only delivers the body to an onData attached synchronously (shared notes §4).
    if (this.#hasBody) ds.onBody((chunk, last) => this.#onClientBody(chunk, last));
    ds.onWritable(this.#writable);
  }

  start(): void {
    // A chunked body is only validated by uWS as it is decoded (a bad first chunk size
    // aborts the request before any onData): send nothing upstream until the first chunk.
    if (!this.#chunked) this.#acquire();
  }

  #acquire(): void {
    this.#ex.attempts = 1;
    this.#ex.upstreamAddress = this.#pool.target.url;
    this.#pool.acquire(this);
  }

  // PoolWaiter ------------------------------------------------------------------------------
  onConnection(conn: UpstreamConnection, now = Date.now()): void {
    if (this.#finished) { this.#pool.onReusable(conn, now); return; }
    this.#conn = conn;
    this.#headSent = true;
    conn.send(this, this.#requestHead, this.#ex.head.method === 'HEAD', this.#rt.config.timeouts.response_header, this.#rt.config.timeouts.idle, now);
    const queue = this.#queue;
    let ok = true;
    if (queue !== null) {
      this.#queue = null;
      this.#queued = 0;
      this.#hold.release();
      for (const chunk of queue) ok = this.#sendBody(chunk) && ok;
    }
    // Reading stopped while no connection was ready, also on the empty first chunk uWS hands
    // over for a Content-Length head that came without body bytes (queue still null then).
    // A full socket buffer leaves the resume to onUpstreamDrain.
    if (ok) this.#ds.resumeBody();
    else {
      this.#upstreamFull = true;
      this.#hold.update(conn.socket.writableLength, this.#rt.config.limits.upload_buffer);
    }
    if (this.#bodyComplete && this.#chunked) conn.writeBody(CHUNK_END);
  }

  onConnectionError(err: ProxyError): void {
    // A connect failure sent nothing: any method may go to the next target. The next one in
    // the list, not the shared round-robin's next: under concurrency that could hand back the
    // target that just failed, so each target is tried at most once per request.
    const pools = this.#upstream.pools;
    if (this.#ex.attempts < pools.length && !this.#finished) {
      this.#ex.attempts++;
      this.#pool = pools[(pools.indexOf(this.#pool) + 1) % pools.length]!;
      this.#ex.upstreamAddress = this.#pool.target.url;
      this.#pool.acquire(this);
      return;
    }
    this.#fail(err);
  }

  // Request body ------------------------------------------------------------------------------
  #onClientBody(chunk: Uint8Array, last: boolean): void {
    if (this.#finished) return;
    const ex = this.#ex;
    ex.requestBytes += chunk.length;
    if (ex.requestBytes > this.#rt.config.limits.max_body_bytes) {
      // Only a chunked body can get here (a declared length was checked up front).
      this.#abortUpstream();
      this.#fail(new ProxyError('PC_ERR_BODY_TOO_LARGE'), true);
      return;
    }
    if (last) this.#bodyComplete = true;
    const conn = this.#conn;
    if (conn === null) {
      // The ArrayBuffer is detached after this callback: keep a copy, and stop reading
      // until the upstream connection is ready.
      if (chunk.length > 0) {
        (this.#queue ??= []).push(Buffer.from(chunk));
        this.#queued += chunk.length;
        if (!this.#hold.update(this.#queued, this.#rt.config.limits.upload_buffer)) { this.#overBudget(); return; }
      }
      if (this.#chunked && this.#ex.attempts === 0) {
        this.#acquire();
        if (this.#conn !== null) return; // an idle connection took the queue already
      }
      if (!last) this.#ds.pauseBody();
      return;
    }
    let ok = true;
    if (chunk.length > 0) ok = this.#sendBody(Buffer.from(chunk));
    if (last && this.#chunked) ok = conn.writeBody(CHUNK_END) && ok;
    if (!ok && !last) {
      this.#upstreamFull = true;
      this.#ds.pauseBody();
      if (!this.#hold.update(conn.socket.writableLength, this.#rt.config.limits.upload_buffer)) this.#overBudget();
    }
  }

  /** The upstream takes the body more slowly than the client sends it, past the budget. */
  #overBudget(): void {
    this.#abortUpstream();
    this.#fail(new ProxyError('PC_ERR_UPLOAD_BACKLOG'), true);
  }

  #sendBody(chunk: Buffer): boolean {
    const conn = this.#conn!;
    this.#bodySent += chunk.length;
    if (!this.#chunked) return conn.writeBody(chunk);
    conn.writeBody(`${chunk.length.toString(16)}${CRLF}`);
    conn.writeBody(chunk);
    return conn.writeBody(CRLF);
  }

  onUpstreamDrain(): void {
    this.#upstreamFull = false;
    this.#hold.release();
    if (!this.#finished && !this.#bodyComplete) this.#ds.resumeBody();
  }

  // Response ----------------------------------------------------------------------------------
  onResponseHead(head: ResponseHead): void {
    const ex = this.#ex;
    ex.status = head.statusCode;
    // The connection read the clock for this read already.
    ex.upstreamHeaderMs = (this.#conn !== null ? this.#conn.readAt : Date.now()) - ex.startedAt;
    const noBody = ex.head.method === 'HEAD' || head.bodyKind === 'none';
    // A bodiless answer repeats the upstream's length (or none); otherwise the framing decides.
    const length = noBody ? head.contentLength : head.bodyKind === 'length' ? head.contentLength : head.bodyKind === 'none' ? 0 : -1;
    const headers = responseHeaders(head, this.#rt.config.via);
    if (ex.cache !== null) {
      const verdict = cacheResponseHead(this.#rt.cache!, ex.cache, ex, head, headers);
      if (verdict === 'refreshed') { this.#refreshed = true; return; }
      this.#fill = verdict;
    }
    const compression = this.#rt.config.compression;
    if (compression.enabled && !noBody) {
      this.#compression = openCompression(ex, head, headers, compression, { ds: this.#ds, resumeUpstream: this.#writable });
      if (this.#compression !== null) return; // it writes the head itself
    }
    this.#ds.writeHead(head.statusCode, head.reason, headers, length, noBody);
  }

  onResponseBody(chunk: Buffer): boolean {
    if (this.#refreshed) return true;
    if (this.#fill !== null) this.#fill.push(chunk);
    this.#ex.responseBytes += chunk.length;
    if (this.#compression !== null) return this.#compression.push(chunk);
    return this.#ds.writeBody(chunk);
  }

  onResponseEnd(): void {
    const conn = this.#conn;
    this.#conn = null;
    // An upstream that answered before reading the whole request body (an early 413/401)
    // leaves the socket mid-request: never reuse it.
    if (!this.#bodyComplete && conn !== null) conn.destroy();
    if (this.#finished) return;
    if (this.#refreshed) { this.#answerRefreshed(); return; }
    if (this.#fill !== null) { this.#fill.end(); this.#fill = null; }
    if (this.#compression !== null) { this.#compression.end(() => this.#finish()); return; }
    this.#ds.end();
    this.#finish();
  }

  onUpstreamError(err: ProxyError, retryable: boolean): void {
    this.#conn = null;
    if (this.#finished) return;
    const ex = this.#ex;
    if (err.code === 'PC_ERR_UPSTREAM_TIMEOUT' && !this.#bodyComplete && !this.#upstreamFull && ex.status === 0) {
      // Each body chunk restarts the upstream's clock, and the upstream was taking what we
      // sent: the deadline passed because the client stopped sending (nginx: client_body_timeout).
      err = new ProxyError('PC_ERR_CLIENT_TIMEOUT', 'request body stalled');
    }
    if (retryable && ex.attempts === 1 && this.#bodySent === 0 && this.#bodyComplete && isIdempotent(ex.head.method)) {
      // The idle race: a reused socket closed under us before any answer. Once, fresh.
      ex.attempts++;
      this.#pool.acquireFresh(this);
      return;
    }
    this.#fail(err);
  }

  /** The client gets the refreshed entry (from the cache when it was stored again, else the private copy). */
  #answerRefreshed(): void {
    const ex = this.#ex;
    const req = ex.cache!;
    const cache = this.#rt.cache!;
    const status = 'portcullis; fwd=stale; fwd-status=304';
    const finish = (): void => this.#finish();
    const fromCopy = (): void => answerFromCache(this.#ds, ex, this.#rt, cache, req, req.stale!, status, finish, finish);
    const entry = cache.find(req, ex);
    if (entry !== null && entry.meta.responseTime === req.stale!.meta.responseTime) answerFromCache(this.#ds, ex, this.#rt, cache, req, entry, status, finish, fromCopy);
    else fromCopy();
  }

  // Endings -------------------------------------------------------------------------------------
  #onClientAbort(): void {
    if (this.#finished) return;
    this.#ex.clientAborted = true;
    if (this.#ex.status === 0) this.#ex.status = 499; // nginx's "client closed request", for the log
    this.#ex.error ??= new ProxyError('PC_ERR_CLIENT_ABORTED');
    this.#abortUpstream();
    this.#finish();
  }

  #abortUpstream(): void {
    const conn = this.#conn;
    this.#conn = null;
    if (conn !== null) conn.destroy();
    else if (!this.#headSent) this.#pool.cancel(this);
  }

  /** Answers with the error when nothing was sent to the client yet, else cuts the connection. */
  #fail(err: ProxyError, closeConnection = false): void {
    if (this.#finished) return;
    const ex = this.#ex;
    ex.error = err;
    const ds = this.#ds;
    // Until a byte of the answer went out (the head waits for the first body bytes, a one-shot
    // compression holds the whole answer), the client can still get a status; after, only the cut.
    if (!ds.committed) {
      respondError(ds, ex, err, closeConnection || !this.#bodyComplete);
    } else {
      ds.close();
    }
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#queue = null;
    this.#hold.release();
    if (this.#fill !== null) { this.#fill.abandon(); this.#fill = null; }
    if (this.#compression !== null) { this.#compression.destroy(); this.#compression = null; }
    this.#done(this.#ex);
  }
}

/**
 * The short error answer every failure gets: status, reason, code; headers only when the request
 * was HEAD. Records the answer on the exchange (error, status, body bytes) for the access log.
 */
export function respondError(ds: Downstream, ex: Exchange, err: ProxyError, closeConnection: boolean, extraHeaders: readonly string[] = []): void {
  const headOnly = ex.head.method === 'HEAD';
  const body = errorBody(err);
  ex.error = err;
  ex.status = err.status;
  ex.responseBytes = headOnly ? 0 : Buffer.byteLength(body);
  ds.respond(err.status, '', [
    'content-type', 'text/plain; charset=utf-8',
    'x-portcullis-error', err.code,
    ...(ex.requestId ? ['x-request-id', ex.requestId] : []),
    'cache-control', 'no-store',
    ...extraHeaders,
  ], body, closeConnection, headOnly);
}
