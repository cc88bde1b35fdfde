// Forwarding one exchange: a target from the group's balancer, a pooled connection, the head
// sent, the request body streamed up and the response body down with backpressure both ways;
// a failed try retried on another target when the route's retries allow it and it is safe
// (upstream/retry.ts); passive health told of every try; failures mapped to answers.
//
//   client ──onBody──▶ [queue until connected] ──writeBody──▶ upstream socket
//          ◀─writeBody── onResponseBody ◀── parser ◀── onread ─┘
//   backpressure: upstream write false → pause client body; client write false → pause socket
//
//   try:  pick target ─▶ pool.acquire ─▶ send ─▶ head ─▶ body ─▶ end   (target.inflight held throughout)
//           ▲   connect error / reset / timeout / retried 5xx: passive failure, then, if
//           └── replayable + retries.on + attempts + budget: the next try (another target first)
import type { Downstream } from '../downstream/contract.js';
import { ProxyError, errorBody } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { ResponseHead } from '../http/response-parser.js';
import type { Runtime, CompiledUpstream, CompiledRoute } from '../runtime.js';
import type { ConnectionUser, UpstreamConnection } from './connection.js';
import type { PoolWaiter, UpstreamPool } from './pool.js';
import type { Target } from './target.js';
import { isIdempotent, replayable, retriesOn, type FailureKind } from './retry.js';
import { counter } from '../observe/metrics.js';
import { responseHeaders } from '../filters/response-headers.js';
import { openCompression, type ResponseCompression } from '../filters/compress.js';
import { cacheResponseHead, staleAnswerStatus, staleMayAnswerError, type CacheFill } from '../cache/fill.js';
import { answerFromCache } from '../cache/respond.js';
import { UploadHold } from './upload-budget.js';

const CHUNK_END = '0\r\n\r\n';

const CRLF = '\r\n';

const retries = counter('portcullis_upstream_retries_total', 'Tries sent again after a failed one', ['upstream', 'reason']);
const budgetSpent = counter('portcullis_upstream_retry_budget_exhausted_total', 'Retries refused because the route\'s retry budget was spent', ['route']);

/** 503s that say when to come back (a full or busy upstream frees up soon). */
const RETRY_AFTER = ['retry-after', '1'];
/**
 * Interim answers (103 Early Hints and the like) passed on per exchange. A client needs one or
 * two; each may be as large as a response head (max_response_header_bytes).
 */
const MAX_INTERIM_FORWARDED = 8;

function reasonOf(kind: FailureKind): string {
  return typeof kind === 'number' ? 'status' : kind;
}

export type ExchangeDone = (ex: Exchange) => void;

export class Forwarder implements PoolWaiter, ConnectionUser {
  readonly #ex: Exchange;
  readonly #ds: Downstream;
  readonly #rt: Runtime;
  readonly #route: CompiledRoute;
  readonly #upstream: CompiledUpstream;
  readonly #requestHead: string;
  readonly #chunked: boolean;
  readonly #hasBody: boolean;
  readonly #done: ExchangeDone;
  /** The target of the current try; null between tries and after the last. */
  #target: Target | null = null;
  /** The pool of the latest try (a connection it hands over after the end goes back to it). */
  #pool: UpstreamPool | null = null;
  /** Targets this request has failed on (the next try prefers another). */
  #tried: Target[] | null = null;
  /** When the current try started (ms), for the tries in the access log. */
  #tryStart = 0;
  /** Retries spent (retries.attempts bounds them). */
  #retries = 0;
  /** Interim (1xx) answers from the upstream so far. */
  #interims = 0;
  /** The one fresh-connection retry of the idle race (a reused socket closed under us) is spent. */
  #raced = false;
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
  /**
   * The client gets the cache's stale entry, the upstream's body is ignored: a 304 refreshed it,
   * or it stands in for an upstream error (stale-if-error).
   */
  #fromStale: 'refreshed' | 'stale' | null = null;

  constructor(ex: Exchange, ds: Downstream, rt: Runtime, upstream: CompiledUpstream, requestHead: string,
    chunked: boolean, contentLength: number, done: ExchangeDone) {
    this.#ex = ex;
    this.#ds = ds;
    this.#rt = rt;
    this.#route = ex.route!;
    this.#upstream = upstream;
    this.#requestHead = requestHead;
    this.#chunked = chunked;
    this.#hasBody = chunked || contentLength > 0;
    this.#bodyComplete = !this.#hasBody;
    this.#done = done;
    ds.onAbort(() => this.#onClientAbort());
    // uWS only delivers the body to an onData attached synchronously (shared notes §4).
    if (this.#hasBody) ds.onBody((chunk, last) => this.#onClientBody(chunk, last));
    ds.onWritable(this.#writable);
  }

  start(): void {
    this.#route.budget.onRequest(this.#ex.startedAt);
    // A chunked body is only validated by uWS as it is decoded (a bad first chunk size
    // aborts the request before any onData): send nothing upstream until the first chunk.
    if (!this.#chunked) this.#acquire(this.#ex.startedAt);
  }

  /**
   * Starts a try: a target from the balancer, then a connection from its pool. `failed`: the
   * error of the try before, answered when no other target is left to retry on.
   */
  #acquire(now: number, failed: ProxyError | null = null, fresh = false): boolean {
    const ex = this.#ex;
    const picked = fresh ? this.#target : this.#upstream.pick(ex, this.#tried, now);
    if (picked === null) { this.#fail(failed ?? new ProxyError('PC_ERR_UPSTREAM_UNAVAILABLE')); return false; }
    if (picked instanceof ProxyError) { this.#fail(picked); return false; }
    this.#target = picked;
    this.#pool = picked.pool;
    picked.inflight++;
    ex.attempts++;
    ex.upstreamAddress = picked.url;
    this.#tryStart = now;
    const connectMs = this.#route.timeouts.connect;
    if (fresh) picked.pool.acquireFresh(this, connectMs);
    else picked.pool.acquire(this, connectMs);
    return true;
  }

  /**
   * Ends the current try: the target's in-flight count, and what passive health and the access
   * log learn of it. `failure`: what went wrong (null: it answered, or the client left).
   */
  #endTry(failure: { err: ProxyError | null; status: number; health: boolean } | null): Target | null {
    const target = this.#target;
    if (target === null) return null;
    this.#target = null;
    target.inflight--;
    if (failure === null) return target;
    const now = Date.now();
    if (failure.health) this.#upstream.failed(target, now, failure.err !== null ? `${failure.err.code}${failure.err.detail ? ` (${failure.err.detail})` : ''}` : `status ${failure.status}`);
    (this.#tried ??= []).push(target);
    (this.#ex.tries ??= []).push({ upstream: target.url, status: failure.status, error: failure.err?.code ?? null, ms: now - this.#tryStart });
    return target;
  }

  /**
   * Whether a failed try is sent again: nothing reached the client, the failure is one the
   * route retries, the request is replayable, and attempts and budget allow it.
   */
  #mayRetry(kind: FailureKind, now: number): boolean {
    const ex = this.#ex;
    if (this.#finished || ex.clientAborted || ex.status !== 0) return false;
    const cfg = this.#route.config.retries;
    if (this.#retries >= cfg.attempts || !retriesOn(cfg, kind)) return false;
    if (!replayable(kind, ex.head.method, this.#hasBody, this.#bodySent)) return false;
    if (!this.#upstream.hasOther(this.#tried, this.#target, now)) return false;
    // A try that never reached an upstream adds no load anywhere: it costs no budget.
    if (kind !== 'connect' && !this.#route.budget.tryRetry(now)) {
      budgetSpent.with(this.#route.name).inc();
      return false;
    }
    return true;
  }

  /** The next try, on another target; without one, the failure is the answer. */
  #retry(kind: FailureKind, now: number, failed: ProxyError): void {
    this.#headSent = false;
    this.#upstreamFull = false;
    const ex = this.#ex;
    const before = ex.attempts;
    if (!this.#acquire(now, failed)) return;
    if (ex.attempts > before) {
      this.#retries++;
      retries.with(this.#upstream.name, reasonOf(kind)).inc();
    }
  }

  // PoolWaiter ------------------------------------------------------------------------------
  onConnection(conn: UpstreamConnection, now = Date.now()): void {
    if (this.#finished) { this.#pool!.onReusable(conn, now); return; }
    this.#conn = conn;
    this.#headSent = true;
    const timeouts = this.#route.timeouts;
    conn.send(this, this.#requestHead, this.#ex.head.method === 'HEAD', timeouts.response_header, timeouts.idle, now);
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
    if (this.#finished) return;
    // No connection: nothing was sent, any method may go elsewhere. A refused or timed-out
    // connect counts against the target's health; a wait for a busy pool does not.
    const connectFailed = err.code === 'PC_ERR_UPSTREAM_CONNECT';
    this.#endTry({ err, status: 0, health: connectFailed });
    const now = Date.now();
    if (this.#mayRetry('connect', now)) { this.#retry('connect', now, err); return; }
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
        this.#acquire(Date.now());
        if (this.#conn !== null || this.#finished) return; // an idle connection took the queue already
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
    const target = this.#target!;
    const status = head.statusCode;
    // The connection read the clock for this read already.
    const now = this.#conn !== null ? this.#conn.readAt : Date.now();
    if (status >= 500) {
      // A 5xx the route retries: this answer is dropped (the connection with it, unread).
      if (this.#mayRetry(status, now)) {
        const conn = this.#conn;
        this.#conn = null;
        if (conn !== null) conn.destroy();
        this.#endTry({ err: null, status, health: true });
        this.#retry(status, now, new ProxyError('PC_ERR_UPSTREAM_UNAVAILABLE', `status ${status}, then no other target`));
        return;
      }
      this.#upstream.failed(target, now, `status ${status}`);
    } else {
      this.#upstream.succeeded(target);
    }
    ex.status = status;
    ex.upstreamHeaderMs = now - ex.startedAt;
    const noBody = ex.head.method === 'HEAD' || head.bodyKind === 'none';
    // A bodiless answer repeats the upstream's length (or none); otherwise the framing decides.
    const length = noBody ? head.contentLength : head.bodyKind === 'length' ? head.contentLength : head.bodyKind === 'none' ? 0 : -1;
    const headers = responseHeaders(head, this.#rt.config.via);
    if (ex.cache !== null) {
      const verdict = cacheResponseHead(this.#rt, this.#rt.cache!, ex.cache, ex, head, headers, now);
      if (verdict === 'refreshed' || verdict === 'stale') { this.#fromStale = verdict; return; }
      this.#fill = verdict;
    }
    // After the cache's decision: the cookie is this client's, never part of a stored answer.
    const sticky = this.#upstream.stickyCookie(ex, target);
    if (sticky !== null) headers.push('set-cookie', sticky);
    const compression = this.#rt.config.compression;
    if (compression.enabled && !noBody) {
      this.#compression = openCompression(ex, head, headers, compression, { ds: this.#ds, resumeUpstream: this.#writable });
      if (this.#compression !== null) return; // it writes the head itself
    }
    this.#ds.writeHead(status, head.reason, headers, length, noBody);
  }

  /** 103 Early Hints (and 102): relayed before the final head when the front end can; never cached. */
  onResponseInterim(head: ResponseHead): void {
    if (this.#finished || this.#ex.status !== 0 || this.#ds.writeInterim === undefined) return;
    // Interim answers are written without backpressure: past a few, the rest are dropped, or
    // an upstream sending 103s to a client that does not read fills the worker's memory.
    if (++this.#interims > MAX_INTERIM_FORWARDED) return;
    this.#ds.writeInterim(head.statusCode, head.reason, responseHeaders(head, this.#rt.config.via));
  }

  onResponseBody(chunk: Buffer): boolean {
    if (this.#fromStale !== null) return true;
    if (this.#fill !== null) this.#fill.push(chunk);
    this.#ex.responseBytes += chunk.length;
    if (this.#compression !== null) return this.#compression.push(chunk);
    return this.#ds.writeBody(chunk);
  }

  onResponseEnd(): void {
    const conn = this.#conn;
    this.#conn = null;
    this.#endTry(null);
    // An upstream that answered before reading the whole request body (an early 413/401)
    // leaves the socket mid-request: never reuse it.
    if (!this.#bodyComplete && conn !== null) conn.destroy();
    if (this.#finished) return;
    if (this.#fromStale !== null) { this.#answerStale(this.#fromStale, this.#ex.status); return; }
    if (this.#fill !== null) { this.#fill.end(); this.#fill = null; }
    if (this.#compression !== null) { this.#compression.end(() => this.#finish()); return; }
    this.#ds.end();
    this.#finish();
  }

  onUpstreamError(err: ProxyError, retryable: boolean): void {
    this.#conn = null;
    if (this.#finished) { this.#endTry(null); return; }
    const ex = this.#ex;
    if (err.code === 'PC_ERR_UPSTREAM_TIMEOUT' && !this.#bodyComplete && !this.#upstreamFull && ex.status === 0) {
      // Each body chunk restarts the upstream's clock, and the upstream was taking what we
      // sent: the deadline passed because the client stopped sending (nginx: client_body_timeout).
      err = new ProxyError('PC_ERR_CLIENT_TIMEOUT', 'request body stalled');
    }
    if (retryable && !this.#raced && this.#bodySent === 0 && this.#bodyComplete && isIdempotent(ex.head.method)) {
      // The idle race: a reused socket closed under us before any answer. Our doing, not the
      // upstream's: once, on a fresh connection to the same target, outside retries and budget.
      this.#raced = true;
      const target = this.#target!;
      (ex.tries ??= []).push({ upstream: target.url, status: 0, error: err.code, ms: Date.now() - this.#tryStart });
      target.inflight--;
      this.#headSent = false;
      this.#acquire(Date.now(), err, true);
      return;
    }
    const kind: FailureKind | null = err.code === 'PC_ERR_UPSTREAM_RESET' ? 'reset' : err.code === 'PC_ERR_UPSTREAM_TIMEOUT' && ex.status === 0 ? 'timeout' : null;
    // The client's own slowness says nothing about the upstream.
    this.#endTry({ err, status: 0, health: err.side === 'upstream' });
    const now = Date.now();
    if (kind !== null && this.#mayRetry(kind, now)) { this.#retry(kind, now, err); return; }
    this.#fail(err);
  }

  /**
   * The client gets the stale entry kept by the cache: refreshed by a 304 (from the cache when it
   * was stored again, else the private copy), or as it was, instead of an upstream error.
   */
  #answerStale(verdict: 'refreshed' | 'stale', upstreamStatus: number): void {
    const ex = this.#ex;
    const req = ex.cache!;
    const cache = this.#rt.cache!;
    const status = staleAnswerStatus(req, upstreamStatus, verdict);
    const finish = (): void => this.#finish();
    const fromCopy = (): void => answerFromCache(this.#ds, ex, this.#rt, cache, req, req.stale!, status, finish, finish);
    const entry = verdict === 'refreshed' ? cache.find(req, ex) : null;
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
    const target = this.#target;
    this.#endTry(null);
    if (conn !== null) conn.destroy();
    else if (!this.#headSent && target !== null) target.pool.cancel(this);
  }

  /** Answers with the error when nothing was sent to the client yet, else cuts the connection. */
  #fail(err: ProxyError, closeConnection = false): void {
    if (this.#finished) return;
    const ex = this.#ex;
    ex.error = err;
    const ds = this.#ds;
    if (ex.status === 0 && !ds.committed && err.side === 'upstream' && ex.cache !== null && staleMayAnswerError(this.#rt.cache!, ex.cache)) {
      // No answer from the upstream yet and the cache holds a stale one it may use instead (stale-if-error).
      ex.cache.outcome = 'stale';
      this.#answerStale('stale', err.status);
      return;
    }
    // Until a byte of the answer went out (the head waits for the first body bytes, a one-shot
    // compression holds the whole answer), the client can still get a status; after, only the cut.
    if (!ds.committed) {
      const busy = err.code === 'PC_ERR_UPSTREAM_FULL' || err.code === 'PC_ERR_UPSTREAM_UNAVAILABLE';
      respondError(ds, ex, err, closeConnection || !this.#bodyComplete, busy ? RETRY_AFTER : undefined);
    } else {
      ds.close();
    }
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#queue = null;
    this.#endTry(null);
    this.#hold.release();
    if (this.#fill !== null) { this.#fill.abandon(); this.#fill = null; }
    if (this.#compression !== null) { this.#compression.destroy(); this.#compression = null; }
    const split = this.#route.split;
    if (split !== null) split.record(this.#ex, this.#upstream, Date.now());
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
