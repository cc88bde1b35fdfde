// The cache at the upstream's response head: invalidation after unsafe methods (RFC 9111
// §4.4), the 304 that refreshes a stale entry (§4.3.4), and the store decision, which
// opens a CacheFill that tees the body as it streams to the client. The entry is
// published only once the body is complete: a client never sees half an entry.
import type { Exchange } from '../exchange.js';
import type { ResponseHead } from '../http/response-parser.js';
import { initialAge, parseCacheControl, storeDecision, type NotStored, type ResponseFacts } from './freshness.js';
import { firstField, joinedField } from '../http/field-list.js';
import { CacheRequest, SharedCache, normalizeVaryValue, varyNames } from './shared-cache.js';
import { copyBytes, encodeMeta, entryBytes, expiresAt, writeEntry, type EntryMeta } from './store.js';

/** Response headers that are about this hop or this answer, never stored or refreshed. */
function isUnstored(name: string): boolean {
  return name === 'age' || name === 'set-cookie' || name === 'cache-status';
}

/** Upstream header value (list headers joined), from the parsed head. */
function upstreamHeader(head: ResponseHead, name: string): string | undefined {
  return joinedField(head.headers, name);
}

function responseFacts(head: ResponseHead): ResponseFacts {
  return {
    status: head.statusCode,
    cacheControl: parseCacheControl(upstreamHeader(head, 'cache-control')),
    expires: upstreamHeader(head, 'expires'),
    date: upstreamHeader(head, 'date'),
    vary: upstreamHeader(head, 'vary'),
    setCookie: upstreamHeader(head, 'set-cookie') !== undefined,
    pragmaNoCache: (upstreamHeader(head, 'pragma') ?? '').toLowerCase().includes('no-cache'),
    hasValidator: upstreamHeader(head, 'etag') !== undefined || upstreamHeader(head, 'last-modified') !== undefined,
    receivedAt: Math.floor(Date.now() / 1000),
  };
}

/** Headers a 304 never changes in the stored response: they describe the stored body's bytes (RFC 9111 §3.2). */
function isBodyFraming(name: string): boolean {
  return name === 'content-encoding' || name === 'content-range' || name === 'content-length' || name === 'transfer-encoding';
}

function isUnsafe(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && method !== 'TRACE';
}

/** What the forwarder does with the upstream's answer on a caching route. */
export type CacheVerdict =
  /** The stale entry was refreshed by a 304: answer the client from req.stale, ignore the upstream body. */
  | 'refreshed'
  | CacheFill
  | null;

/**
 * Called at the upstream response head, before the client's head is written. `headers` is the
 * filtered list about to be sent: the store takes a copy, then Cache-Status is appended.
 */
export function cacheResponseHead(cache: SharedCache, req: CacheRequest, ex: Exchange, head: ResponseHead, headers: string[]): CacheVerdict {
  const status = head.statusCode;
  const method = ex.head.method;
  if (isUnsafe(method)) {
    // A successful unsafe request may have changed the resource: forget what we hold for it.
    if (status >= 200 && status < 400) cache.table.remove(req.hi, req.lo);
    headers.push('cache-status', SharedCache.forwardStatus(req, status));
    return null;
  }
  if (req.stale !== null && status === 304) {
    refresh(cache, req, ex, head);
    return 'refreshed';
  }
  let verdict: CacheVerdict = null;
  if (req.cacheable && method === 'GET') {
    const now = Date.now();
    const decision = storeDecision(req.facts, responseFacts(head));
    if (typeof decision === 'number') {
      const meta = makeMeta(req, ex, head, headers, decision, now);
      const known = head.bodyKind === 'length' || head.bodyKind === 'none';
      const fill = new CacheFill(cache, req, meta, head.bodyKind === 'length' ? head.contentLength : head.bodyKind === 'none' ? 0 : -1);
      if (fill.fits) {
        verdict = fill;
        // The header goes out now; a body of unknown length may still turn out too big, so
        // only a known length is announced as stored (the log says what really happened).
        req.outcome = 'stored';
        if (!known) req.detail = 'pending';
      } else {
        req.detail = 'too-large' satisfies NotStored;
      }
    } else {
      req.detail = decision;
    }
  } else if (req.cacheable) {
    req.detail = 'method' satisfies NotStored;
  }
  headers.push('cache-status', SharedCache.forwardStatus(req, status));
  return verdict;
}

function makeMeta(req: CacheRequest, ex: Exchange, head: ResponseHead, headers: readonly string[], lifetime: number, now: number): EntryMeta {
  const stored: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!isUnstored(headers[i]!)) stored.push(headers[i]!, headers[i + 1]!);
  const names = varyNames(upstreamHeader(head, 'vary'));
  const cc = parseCacheControl(upstreamHeader(head, 'cache-control'));
  return {
    key: req.key,
    status: head.statusCode,
    reason: head.reason,
    headers: stored,
    responseTime: now,
    initialAge: initialAge(upstreamHeader(head, 'age'), upstreamHeader(head, 'date'), ex.startedAt, now),
    lifetime,
    varyNames: names,
    varyValues: names.map((n) => normalizeVaryValue(ex.headerList(n))),
    authOk: cc.public || cc.sMaxage >= 0 || cc.mustRevalidate,
    encoding: '',
  };
}

/**
 * RFC 9111 §4.3.4: a 304 updates the stored headers (same-named ones replaced) and restarts
 * the entry's freshness; the body is kept. Written as a new entry (the arena is append-only).
 * When the refreshed headers no longer allow storing, the old entry is dropped instead.
 */
function refresh(cache: SharedCache, req: CacheRequest, ex: Exchange, head: ResponseHead): void {
  const stale = req.stale!;
  const old = stale.meta;
  const fresh = new Map<string, string[]>();
  /** Set-Cookie on the 304: for this client only; the entry stops being storable. */
  const cookies: string[] = [];
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (name === 'set-cookie') { cookies.push(name, h[i + 1]!); continue; }
    if (isUnstored(name) || isBodyFraming(name) || name === 'date' || name === 'connection' || name === 'keep-alive') continue;
    const list = fresh.get(name);
    if (list === undefined) fresh.set(name, [h[i + 1]!]);
    else list.push(h[i + 1]!);
  }
  const merged: string[] = [];
  for (let i = 0; i < old.headers.length; i += 2) if (!fresh.has(old.headers[i]!)) merged.push(old.headers[i]!, old.headers[i + 1]!);
  for (const [name, values] of fresh) for (const v of values) merged.push(name, v);
  req.outcome = 'revalidated';
  // Freshness from the merged head: the 304's Cache-Control/Expires/Date win over the stored ones.
  const facts: ResponseFacts = {
    status: old.status,
    cacheControl: parseCacheControl(joinedField(merged, 'cache-control')),
    expires: firstField(merged, 'expires'),
    date: upstreamHeader(head, 'date'),
    vary: joinedField(merged, 'vary'),
    setCookie: cookies.length > 0,
    pragmaNoCache: false,
    hasValidator: firstField(merged, 'etag') !== undefined || firstField(merged, 'last-modified') !== undefined,
    receivedAt: Math.floor(Date.now() / 1000),
  };
  // Stored for GETs; a HEAD may refresh the entry all the same.
  const lifetime = storeDecision({ ...req.facts, method: 'GET' }, facts);
  // A 304 may change Vary: the entry is now keyed by this request's values of the new list.
  const names = varyNames(joinedField(merged, 'vary'));
  const now = Date.now();
  const meta: EntryMeta = {
    ...old,
    headers: merged,
    responseTime: now,
    initialAge: initialAge(upstreamHeader(head, 'age'), upstreamHeader(head, 'date'), ex.startedAt, now),
    lifetime: typeof lifetime === 'number' ? lifetime : 0,
    varyNames: names,
    varyValues: names.map((n) => normalizeVaryValue(ex.headerList(n))),
  };
  // Whatever happens to the stored entry, this client gets the refreshed answer.
  req.stale = { meta: cookies.length > 0 ? { ...meta, headers: [...merged, ...cookies] } : meta, body: stale.body };
  if (typeof lifetime !== 'number') {
    cache.table.remove(req.hi, req.lo);
    return;
  }
  const encoded = encodeMeta(meta);
  if (entryBytes(encoded.length, stale.body.length) > cache.config.max_entry_bytes) return;
  writeEntry(cache.table, req.hi, req.lo, encoded, stale.body, stale.body.length, expiresAt(meta));
}

/**
 * Tees a response body into private copies (the parser's chunks are views of a reused read
 * buffer), bounded by max_entry_bytes, and writes the entry when the body is complete.
 */
export class CacheFill {
  readonly #cache: SharedCache;
  readonly #req: CacheRequest;
  readonly #meta: EntryMeta;
  readonly #encoded: Buffer;
  /** Known length: one buffer filled in place. Unknown: the copies, in order. */
  #whole: Buffer | null = null;
  #chunks: Buffer[] | null = null;
  #size = 0;
  readonly #limit: number;
  fits: boolean;

  constructor(cache: SharedCache, req: CacheRequest, meta: EntryMeta, contentLength: number) {
    this.#cache = cache;
    this.#req = req;
    this.#meta = meta;
    this.#encoded = encodeMeta(meta);
    this.#limit = cache.config.max_entry_bytes - entryBytes(this.#encoded.length, 0);
    this.fits = this.#limit >= 0 && contentLength <= this.#limit;
    if (this.fits) {
      if (contentLength >= 0) this.#whole = Buffer.allocUnsafe(contentLength);
      else this.#chunks = [];
    }
  }

  /** A body chunk on its way to the client (a view valid only during the call). */
  push(chunk: Uint8Array): void {
    if (!this.fits) return;
    const end = this.#size + chunk.length;
    const whole = this.#whole;
    if (whole === null) {
      if (end > this.#limit) { this.abandon('too-large'); return; }
      this.#chunks!.push(Buffer.from(chunk));
      this.#size = end;
      return;
    }
    if (end > whole.length) { this.abandon('too-large'); return; }
    copyBytes(whole, this.#size, chunk, 0, chunk.length);
    this.#size = end;
    // The last byte of a known length: store now, before it goes to the client, so the
    // client's next request (maybe in another worker) finds the entry.
    if (end === whole.length) this.end();
  }

  /** The body arrived whole: store it. */
  end(): void {
    if (!this.fits) return;
    const body = this.#whole ?? this.#chunks!;
    if (this.#whole !== null && this.#size !== this.#whole.length) { this.abandon('incomplete'); return; }
    const stored = writeEntry(this.#cache.table, this.#req.hi, this.#req.lo, this.#encoded, body, this.#size, expiresAt(this.#meta));
    this.#release();
    if (!stored) this.#notStored('busy');
    else if (this.#req.detail === 'pending') this.#req.detail = '';
  }

  /** The body will not be stored: too big, or the exchange failed. */
  abandon(why: 'too-large' | 'incomplete' = 'incomplete'): void {
    if (!this.fits) return;
    this.#release();
    this.#notStored(why);
  }

  #notStored(why: string): void {
    this.#req.outcome = 'miss';
    this.#req.detail = why;
  }

  #release(): void {
    this.fits = false;
    this.#whole = null;
    this.#chunks = null;
  }
}
