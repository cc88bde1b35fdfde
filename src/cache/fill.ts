// The cache at the upstream's response head: invalidation after unsafe methods (RFC 9111
// §4.4, invalidate.ts), the 304 that refreshes a stale entry (§4.3.4), the HEAD 200 that
// updates one (§4.3.5), the 5xx a stale entry may stand in for (RFC 5861 stale-if-error), and
// the store decision, which opens a CacheFill that tees the body as it streams to the client.
// The entry is published only once the body is complete: a client never sees half an entry.
import type { Exchange } from '../exchange.js';
import type { ResponseHead } from '../http/response-parser.js';
import type { Runtime } from '../runtime.js';
import { firstField, joinedField } from '../http/field-list.js';
import { isTargetedField, parseCacheControl, parseSurrogateControl, parseTargeted, type CacheControl } from './directives.js';
import { initialAge, storeDecision, type NotStored, type ResponseFacts, type Storable } from './freshness.js';
import { invalidateAfterUnsafe } from './invalidate.js';
import { cacheEvents } from './metrics.js';
import { mayServeStaleOnError, staleFacts } from './reuse.js';
import { CacheRequest, SharedCache, normalizeVaryValue, variantEntryKey, varyNames, type StaleCopy } from './shared-cache.js';
import { encodeMeta, entryBytes, type EntryMeta } from './store.js';

/** Response headers that are about this hop or this answer, never stored or refreshed. */
function isUnstored(name: string): boolean {
  return name === 'age' || name === 'set-cookie' || name === 'cache-status' || isTargetedField(name);
}

/**
 * Headers a 304 or HEAD never changes in the stored response: they describe the stored body's
 * bytes (RFC 9111 §3.2: fields "the cache's stored response depends upon"), the ETag included.
 */
function isBodyFraming(name: string): boolean {
  return name === 'content-encoding' || name === 'content-range' || name === 'content-length' || name === 'transfer-encoding'
    || name === 'content-md5' || name === 'etag';
}

/** A list field's lines joined with ', ' (RFC 9110 §5.3). */
function join(prev: string | undefined, value: string): string {
  return prev === undefined ? value : `${prev}, ${value}`;
}

/**
 * The facts the store decision reads from a response head, in one pass over its fields (a
 * lookup per field name was a dozen passes per miss). The directives in force (RFC 9213 §2.1):
 * the first valid targeted field (Portcullis-Cache-Control, then CDN-Cache-Control), then
 * Surrogate-Control, else Cache-Control.
 */
function responseFacts(status: number, fields: readonly string[], now: number, cookies?: boolean, dateOverride?: string): ResponseFacts {
  let pcc: string | undefined;
  let cdn: string | undefined;
  let surrogate: string | undefined;
  let cacheControl: string | undefined;
  let expires: string | undefined;
  let date: string | undefined;
  let lastModified: string | undefined;
  let vary: string | undefined;
  let pragma: string | undefined;
  let etag = false;
  let setCookie = false;
  for (let i = 0; i < fields.length; i += 2) {
    const v = fields[i + 1]!;
    switch (fields[i]) {
      case 'cache-control': cacheControl = join(cacheControl, v); break;
      case 'expires': expires = join(expires, v); break;
      case 'date': date ??= v; break;
      case 'last-modified': lastModified ??= v; break;
      case 'etag': etag = true; break;
      case 'vary': vary = join(vary, v); break;
      case 'pragma': pragma = join(pragma, v); break;
      case 'set-cookie': setCookie = true; break;
      case 'portcullis-cache-control': pcc = join(pcc, v); break;
      case 'cdn-cache-control': cdn = join(cdn, v); break;
      case 'surrogate-control': surrogate = join(surrogate, v); break;
    }
  }
  let cc = parseTargeted(pcc) ?? parseTargeted(cdn) ?? parseSurrogateControl(surrogate);
  const targeted = cc !== null;
  if (cc === null) cc = parseCacheControl(cacheControl);
  return {
    status,
    cacheControl: cc,
    targeted,
    expires,
    date: dateOverride ?? date,
    lastModified,
    vary,
    setCookie: cookies ?? setCookie,
    pragmaNoCache: pragma !== undefined && pragma.toLowerCase().includes('no-cache'),
    hasValidator: etag || lastModified !== undefined,
    receivedAt: Math.floor(now / 1000),
  };
}

function isUnsafe(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && method !== 'TRACE';
}

/** Upstream failures a stale entry may stand in for (RFC 5861 §4: 500, 502, 503, 504). */
function isServerError(status: number): boolean {
  return status === 500 || status === 502 || status === 503 || status === 504;
}

/** Removes the targeted cache fields (RFC 9213) from a header list going to the client. */
function stripTargeted(headers: string[]): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (isTargetedField(headers[i]!)) headers.splice(i, 2);
  }
}

/** What the forwarder does with the upstream's answer on a caching route. */
export type CacheVerdict =
  /** The stale entry was refreshed by a 304: answer the client from req.stale, ignore the upstream body. */
  | 'refreshed'
  /** An upstream error the stale entry stands in for (stale-if-error): answer from req.stale, ignore the body. */
  | 'stale'
  | CacheFill
  | null;

/** The Cache-Status of an answer from the kept stale entry (after a 304 or instead of an error). */
export function staleAnswerStatus(req: CacheRequest, upstreamStatus: number, verdict: 'refreshed' | 'stale'): string {
  return verdict === 'refreshed'
    ? `portcullis; fwd=stale; fwd-status=${upstreamStatus}`
    : `portcullis; fwd=stale; fwd-status=${upstreamStatus}; detail=stale-if-error${req.collapsed ? '; collapsed' : ''}`;
}

/**
 * Whether the entry kept on req.stale may answer instead of an upstream failure: within the
 * response's, the request's or the configured stale-if-error window, and allowed by its directives.
 */
export function staleMayAnswerError(cache: SharedCache, req: CacheRequest): boolean {
  const stale = req.stale;
  return stale !== null && mayServeStaleOnError(stale.meta, req.facts.cacheControl, cache.config.stale_if_error, Date.now());
}

/**
 * Called at the upstream response head, before the client's head is written. `headers` is the
 * filtered list about to be sent: the targeted cache fields are removed, the store takes a copy,
 * then Cache-Status is appended. `now`: when the head arrived (the upstream connection's clock
 * reading for it): the stored response's time.
 */
export function cacheResponseHead(rt: Runtime, cache: SharedCache, req: CacheRequest, ex: Exchange, head: ResponseHead, headers: string[], now: number = Date.now()): CacheVerdict {
  stripTargeted(headers);
  const status = head.statusCode;
  const method = ex.head.method;
  if (isUnsafe(method)) {
    // A successful unsafe request may have changed the resource (and what Location and
    // Content-Location name): forget what we hold for them.
    if (status >= 200 && status < 400) invalidateAfterUnsafe(rt, cache, req, ex, head);
    headers.push('cache-status', SharedCache.forwardStatus(req, status));
    return null;
  }
  if (req.stale !== null) {
    if (status === 304 && req.conditional) {
      refresh(cache, req, ex, head);
      return 'refreshed';
    }
    if (isServerError(status) && staleMayAnswerError(cache, req)) {
      req.outcome = 'stale';
      cacheEvents.staleIfError.inc();
      return 'stale';
    }
    if (method === 'HEAD' && status === 200) updateFromHead(cache, req, ex, head);
  }
  let verdict: CacheVerdict = null;
  if (req.cacheable && method === 'GET') {
    const facts = responseFacts(status, head.headers, now);
    const decision = storeDecision(req.facts, facts, req.policy);
    if (typeof decision !== 'string') {
      const meta = makeMeta(req, ex, head, headers, decision, facts.cacheControl, now);
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
      // Misses for this key go straight upstream for a while (hit-for-miss, shared-cache.ts).
      cache.markUncacheable(req.hi, req.lo, now);
    }
  } else if (req.cacheable && req.detail === '') {
    req.detail = 'method' satisfies NotStored;
  }
  // Nothing will be stored: requests waiting for this fill go upstream now, not at its end.
  if (verdict === null) releaseFill(cache, req);
  headers.push('cache-status', SharedCache.forwardStatus(req, status));
  return verdict;
}

/** Releases the fill marker this request claimed, if any (idempotent). */
export function releaseFill(cache: SharedCache, req: CacheRequest): void {
  if (req.lead < 0) return;
  cache.markers.release(req.lead, req.hi, req.lo);
  req.lead = -1;
}

function makeMeta(req: CacheRequest, ex: Exchange, head: ResponseHead, headers: readonly string[], storable: Storable, cc: CacheControl, now: number): EntryMeta {
  const stored: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!isUnstored(headers[i]!)) stored.push(headers[i]!, headers[i + 1]!);
  const targeted: string[] = [];
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) if (isTargetedField(h[i]!)) targeted.push(h[i]!, h[i + 1]!);
  const names = varyNames(joinedField(h, 'vary'));
  return {
    key: req.key,
    status: head.statusCode,
    reason: head.reason,
    headers: stored,
    responseTime: now,
    initialAge: initialAge(joinedField(h, 'age'), firstField(h, 'date'), ex.startedAt, now),
    lifetime: storable.lifetime,
    heuristic: storable.heuristic,
    ...staleFacts(cc),
    targeted,
    date: firstField(h, 'date') ?? '',
    varyNames: names,
    varyValues: names.map((n) => normalizeVaryValue(ex.headerList(n))),
    authOk: cc.public || cc.sMaxage >= 0 || (req.policy.authorizationMustRevalidate && cc.mustRevalidate),
    encoding: '',
    // What a prefix purge matches, when the path the upstream is told is another (strip_prefix, a rewrite).
    ...(ex.normalizedPath === ex.path ? {} : { target: ex.head.query === '' ? ex.normalizedPath : `${ex.normalizedPath}?${ex.head.query}` }),
  };
}

/**
 * The stored head updated by a 304 or a HEAD 200 (RFC 9111 §3.2, §4.3.4): same-named headers
 * replaced, body-describing ones kept; plus the Set-Cookie lines (for this client only).
 */
function mergeHead(old: EntryMeta, h: readonly string[]): { headers: string[]; targeted: string[]; cookies: string[] } {
  const fresh = new Map<string, string[]>();
  const cookies: string[] = [];
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (name === 'set-cookie') { cookies.push(name, h[i + 1]!); continue; }
    if ((isUnstored(name) && !isTargetedField(name)) || isBodyFraming(name) || name === 'date' || name === 'connection' || name === 'keep-alive') continue;
    const list = fresh.get(name);
    if (list === undefined) fresh.set(name, [h[i + 1]!]);
    else list.push(h[i + 1]!);
  }
  const headers: string[] = [];
  for (let i = 0; i < old.headers.length; i += 2) if (!fresh.has(old.headers[i]!)) headers.push(old.headers[i]!, old.headers[i + 1]!);
  const targeted: string[] = [];
  for (let i = 0; i < old.targeted.length; i += 2) if (!fresh.has(old.targeted[i]!)) targeted.push(old.targeted[i]!, old.targeted[i + 1]!);
  for (const [name, values] of fresh) for (const v of values) (isTargetedField(name) ? targeted : headers).push(name, v);
  return { headers, targeted, cookies };
}

/** The entry's head after an update from `head`, or a reason it may no longer be kept. */
function updatedMeta(req: CacheRequest, ex: Exchange, old: EntryMeta, head: ResponseHead): { meta: EntryMeta; cookies: string[] } | NotStored {
  const { headers, targeted, cookies } = mergeHead(old, head.headers);
  // Freshness from the merged head: the new Cache-Control/Expires/Date win over the stored ones.
  const date = firstField(head.headers, 'date') ?? old.date;
  const now = Date.now();
  const facts = responseFacts(old.status, [...headers, ...targeted], now, cookies.length > 0, date === '' ? undefined : date);
  // Stored for GETs; a HEAD may refresh the entry all the same.
  const decision = storeDecision({ ...req.facts, method: 'GET' }, facts, req.policy);
  // A 304 may change Vary: the entry is then keyed by this request's values of the new list.
  const names = varyNames(joinedField(headers, 'vary'));
  const meta: EntryMeta = {
    ...old,
    headers,
    targeted,
    date,
    responseTime: now,
    initialAge: initialAge(joinedField(head.headers, 'age'), firstField(head.headers, 'date'), ex.startedAt, now),
    lifetime: typeof decision === 'string' ? 0 : decision.lifetime,
    heuristic: typeof decision === 'string' ? false : decision.heuristic,
    ...staleFacts(facts.cacheControl),
    varyNames: names,
    varyValues: names.map((n) => normalizeVaryValue(ex.headerList(n))),
  };
  return typeof decision === 'string' ? decision : { meta, cookies };
}

/** Writes an updated entry with the kept body, or drops the stored one when it may not stay. */
function rewrite(cache: SharedCache, req: CacheRequest, updated: { meta: EntryMeta } | NotStored, body: Buffer): void {
  if (typeof updated === 'string') {
    cache.remove(req.key);
    return;
  }
  if (entryBytes(encodeMeta(updated.meta).length, body.length) > cache.config.max_entry_bytes) return;
  if (cache.store(req.key, req.hi, req.lo, updated.meta, body, body.length)) cacheEvents.stored.inc();
}

/**
 * RFC 9111 §4.3.4: a 304 updates the stored headers and restarts the entry's freshness; the body
 * is kept. Written as a new entry (the arena is append-only). The 304 answered our If-None-Match
 * with the stored ETag, so the stored body is the current one: its ETag (like its length and
 * coding) is never replaced. When the refreshed headers no longer allow storing, the stored
 * entry is dropped instead.
 */
function refresh(cache: SharedCache, req: CacheRequest, ex: Exchange, head: ResponseHead): void {
  const stale = req.stale!;
  req.outcome = 'revalidated';
  const updated = updatedMeta(req, ex, stale.meta, head);
  // Whatever happens to the stored entry, this client gets the refreshed answer.
  if (typeof updated !== 'string') {
    const meta = updated.meta;
    req.stale = { meta: updated.cookies.length > 0 ? { ...meta, headers: [...meta.headers, ...updated.cookies] } : meta, body: stale.body } satisfies StaleCopy;
  } else {
    const { headers, cookies } = mergeHead(stale.meta, head.headers);
    req.stale = { meta: { ...stale.meta, headers: [...headers, ...cookies] }, body: stale.body };
  }
  rewrite(cache, req, updated, stale.body);
}

/**
 * RFC 9111 §4.3.5: a 200 to a HEAD made for a stale stored GET updates the stored headers (and
 * freshness) when it describes the same representation, and invalidates the entry when its
 * validators or length show the representation changed. The client gets the HEAD answer as is.
 */
function updateFromHead(cache: SharedCache, req: CacheRequest, ex: Exchange, head: ResponseHead): void {
  const stale = req.stale!;
  const changed = (name: string): boolean => {
    const now = firstField(head.headers, name);
    const was = firstField(stale.meta.headers, name);
    return now !== undefined && was !== undefined && now !== was;
  };
  if (changed('etag') || changed('last-modified') || (head.contentLength >= 0 && head.contentLength !== stale.body.length)) {
    cache.remove(req.key);
    return;
  }
  const updated = updatedMeta(req, ex, stale.meta, head);
  rewrite(cache, req, typeof updated === 'string' || updated.cookies.length === 0 ? updated : 'set-cookie', stale.body);
}

/**
 * Tees a response body into private copies (the parser's chunks are views of a reused read
 * buffer), bounded by max_entry_bytes, and writes the entry when the body is complete.
 */
export class CacheFill {
  readonly #cache: SharedCache;
  readonly #req: CacheRequest;
  readonly #meta: EntryMeta;
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
    // A response that varies is stored under its variant key, longer than the base key.
    const stored = meta.varyNames.length === 0 ? meta : { ...meta, key: variantEntryKey(meta.key, meta.varyNames, meta.varyValues) };
    this.#limit = cache.config.max_entry_bytes - entryBytes(encodeMeta(stored).length, 0);
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
    whole.set(chunk, this.#size);
    this.#size = end;
    // The last byte of a known length: store now, before it goes to the client, so the
    // client's next request (maybe in another worker) finds the entry.
    if (end === whole.length) this.end();
  }

  /** The body arrived whole: store it, then let the requests waiting for it in. */
  end(): void {
    if (!this.fits) return;
    const body = this.#whole ?? this.#chunks!;
    if (this.#whole !== null && this.#size !== this.#whole.length) { this.abandon('incomplete'); return; }
    const req = this.#req;
    const stored = this.#cache.store(req.key, req.hi, req.lo, this.#meta, body, this.#size);
    this.#release();
    if (!stored) this.#notStored('busy');
    else {
      if (req.detail === 'pending') req.detail = '';
      cacheEvents.stored.inc();
      cacheEvents.storedBytes.inc(this.#size);
    }
    releaseFill(this.#cache, req);
  }

  /** The body will not be stored: too big, or the exchange failed. */
  abandon(why: 'too-large' | 'incomplete' = 'incomplete'): void {
    if (!this.fits) return;
    this.#release();
    this.#notStored(why);
    releaseFill(this.#cache, this.#req);
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
