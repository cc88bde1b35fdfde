// Answering from the cache: the stored head plus Age and Cache-Status, the client's own
// conditional request (304), HEAD, and compressed variants: a body is compressed once per
// coding, stored beside its entry, and served many times. Small bodies are compressed on
// the worker thread, large ones in the compression pool (variants.ts).
//
// A body is copied out of shared memory and checked against the ring after the copy: the
// ring may overwrite an entry at any time (a writer in another thread), and a slow client
// can take minutes over a body, so an answer never sends from the ring itself.
//   - a body of one piece (64 KiB) is copied into one per-thread scratch buffer and sent by
//     one writeBody (uWS sends it or copies what it could not take: the scratch is free again);
//   - a larger body is copied once per entry, and every answer in flight for that entry shares
//     the copy (by ring position, which names one entry for ever; weakly held, so it goes when
//     the last answer does). It is sent in pieces with backpressure. Memory stays at one copy
//     per large entry being sent, however many slow clients read it.
import type { Downstream } from '../downstream/contract.js';
import type { Exchange } from '../exchange.js';
import { selectEncoding, type Encoding } from '../filters/compress.js';
import type { ResponseHead } from '../http/response-parser.js';
import type { Runtime } from '../runtime.js';
import type { CompressionConfig } from '../config/types.js';
import { currentAge, parseHttpDate } from './freshness.js';
import { firstField } from '../http/field-list.js';
import type { CacheRequest, SharedCache } from './shared-cache.js';
import type { CacheTable } from './table.js';
import { copyBytes, type EntryMeta, type StoredEntry } from './store.js';
import { compressAndStore, variantKey } from './variants.js';
import { byteRange } from './range.js';
import { cacheEvents } from './metrics.js';

export type ExchangeEnd = (ex: Exchange) => void;

/** Bytes per body write: well below what uWS copies when a socket is full. */
const PIECE_BYTES = 64 * 1024;

/** A body to send: a view into the arena (checked against `table` at `pos`) or a private copy (`table` null). */
interface BodySource {
  readonly body: Uint8Array;
  readonly table: CacheTable | null;
  readonly pos: number;
  /** A part of the entry's body (a range): its copy is not shared under the entry's position. */
  readonly part?: boolean;
}

/**
 * Each piece of a stored body is copied here and sent by one writeBody, which either hands it
 * to the kernel or copies what uWS could not take: the buffer is free again when it returns.
 */
const scratch = Buffer.allocUnsafe(PIECE_BYTES);

/** Copies of large bodies being sent, by ring position, shared by the answers in flight. */
const inFlight = new Map<number, WeakRef<Buffer>>();
const forget = new FinalizationRegistry<number>((pos) => {
  if (inFlight.get(pos)?.deref() === undefined) inFlight.delete(pos);
});

/** The body ready to send, or null when the ring overwrote it before the copy was complete. */
function copyOut(source: BodySource): Buffer | null {
  const { body, table, pos } = source;
  if (table === null) return Buffer.from(body.buffer, body.byteOffset, body.length);
  if (body.length <= PIECE_BYTES) {
    const copy = scratch.subarray(0, body.length);
    copyBytes(copy, 0, body, 0, body.length);
    return table.intact(pos) ? copy : null;
  }
  const shared = source.part === true ? undefined : inFlight.get(pos)?.deref();
  if (shared !== undefined) return shared;
  const copy = Buffer.allocUnsafe(body.length);
  copyBytes(copy, 0, body, 0, body.length);
  if (!table.intact(pos)) return null;
  if (source.part === true) return copy;
  inFlight.set(pos, new WeakRef(copy));
  forget.register(copy, pos);
  return copy;
}

/** RFC 9110 §15.4.5: what a 304 repeats of the 200 it stands for. */
function isNotModifiedHeader(name: string): boolean {
  switch (name) {
    case 'cache-control': case 'content-location': case 'etag': case 'expires': case 'vary':
    case 'last-modified': case 'age': case 'cache-status': case 'via':
      return true;
    default:
      return false;
  }
}

/** Weak comparison of entity tags (RFC 9110 §8.8.3.2): W/ is ignored. */
function weakEqual(a: string, b: string): boolean {
  const x = a.startsWith('W/') ? a.slice(2) : a;
  const y = b.startsWith('W/') ? b.slice(2) : b;
  return x === y;
}

/** RFC 9110 §13.1.2 / §13.1.3 evaluated against the stored response (only for 200). */
export function isNotModified(ex: Exchange, meta: EntryMeta): boolean {
  if (meta.status !== 200) return false;
  const inm = ex.headerList('if-none-match');
  if (inm !== undefined) {
    const etag = firstField(meta.headers, 'etag');
    if (inm.trim() === '*') return true;
    if (etag === undefined) return false;
    return inm.split(',').some((t) => weakEqual(t.trim(), etag));
  }
  const ims = ex.header('if-modified-since');
  // Without Last-Modified the stored Date stands for it (RFC 9111 §4.3.2).
  const lastModified = firstField(meta.headers, 'last-modified') ?? (meta.date === '' ? undefined : meta.date);
  if (ims === undefined || lastModified === undefined) return false;
  const since = parseHttpDate(ims);
  const modified = parseHttpDate(lastModified);
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
}

/** The fields of an answer from the cache, and the coding it is sent with (null: the stored body). */
export interface HitHead {
  /** The stored fields plus Age and Cache-Status (and the Vary a coding adds). */
  readonly headers: string[];
  /** The fields for the stored body when a coding was chosen but no coded body can be had. */
  readonly plain: string[];
  readonly enc: Encoding | null;
}

/** The head of an answer from `meta` (filters/compress.ts chooses the coding). */
export function hitHead(ex: Exchange, meta: EntryMeta, bodyLength: number, cacheStatus: string, compression: CompressionConfig, bodyless: boolean, now: number): HitHead {
  const headers = meta.headers.slice();
  headers.push('age', String(currentAge(meta.initialAge, meta.responseTime, now)), 'cache-status', cacheStatus);
  let enc: Encoding | null = null;
  let plain = headers;
  if (compression.enabled && !bodyless) {
    plain = headers.slice();
    const head = { statusCode: meta.status, bodyKind: 'length', contentLength: bodyLength } as ResponseHead;
    enc = selectEncoding(ex, head, headers, compression, true);
    // Without a variant the answer is the stored body with the Vary the coded one would carry.
    if (enc !== null && firstField(headers, 'vary') !== undefined && firstField(plain, 'vary') === undefined) plain.push('vary', 'Accept-Encoding');
  }
  return { headers, plain, enc };
}

/**
 * A stored body of one piece (at most PIECE_BYTES), copied into the per-thread scratch buffer:
 * valid until the next copy, so it must be handed to the front end at once. Null when the
 * ring overwrote the entry before the copy was complete, or when it is larger.
 */
export function copyStoredPiece(table: CacheTable, entry: StoredEntry): Buffer | null {
  if (entry.bodyLength > PIECE_BYTES) return null;
  return copyOut({ body: table.arena.subarray(entry.bodyOffset, entry.bodyOffset + entry.bodyLength), table, pos: entry.pos });
}

/**
 * Answers the exchange from a stored entry (a fresh hit) or from a just-revalidated one.
 * `lost` is called instead (nothing sent yet) if the entry was overwritten before any byte went out.
 */
export function answerFromCache(ds: Downstream, ex: Exchange, rt: Runtime, cache: SharedCache, req: CacheRequest,
  entry: StoredEntry | { readonly meta: EntryMeta; readonly body: Buffer }, cacheStatus: string, done: ExchangeEnd, lost: () => void): void {
  const meta = entry.meta;
  const source: BodySource = 'body' in entry
    ? { body: entry.body, table: null, pos: -1 }
    : { body: cache.table.arena.subarray(entry.bodyOffset, entry.bodyOffset + entry.bodyLength), table: cache.table, pos: entry.pos };
  const bodyless = ex.head.method === 'HEAD' || meta.status === 204;
  const compression = rt.config.compression;
  const { headers, plain, enc } = hitHead(ex, meta, source.body.length, cacheStatus, compression, bodyless, Date.now());

  if (isNotModified(ex, meta)) {
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) if (isNotModifiedHeader(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
    finishHead(ds, ex, 304, '', out, -1, true, done);
    return;
  }
  if (bodyless) {
    finishHead(ds, ex, meta.status, meta.reason, headers, source.body.length, true, done);
    return;
  }
  if (req.range !== undefined && meta.status === 200 && ex.head.method === 'GET') {
    const range = byteRange(req.range, source.body.length);
    if (range !== null) {
      // A part of the stored identity body: never compressed, so the identity headers.
      const partHeaders = plain.slice();
      if (range === 'unsatisfiable') {
        partHeaders.push('content-range', `bytes */${source.body.length}`);
        finishHead(ds, ex, 416, 'Range Not Satisfiable', partHeaders, 0, true, done);
        return;
      }
      partHeaders.push('content-range', `bytes ${range.start}-${range.end}/${source.body.length}`);
      const part: BodySource = { body: source.body.subarray(range.start, range.end + 1), table: source.table, pos: source.pos, part: true };
      new StoredBodySender(ds, ex, meta, partHeaders, part, done, lost, 206).start();
      return;
    }
  }
  if (enc === null) {
    new StoredBodySender(ds, ex, meta, headers, source, done, lost).start();
    return;
  }
  if (source.table === null) {
    // A private copy (the entry was not re-stored after a 304): no variant to keep, so none is made.
    new StoredBodySender(ds, ex, meta, plain, source, done, lost).start();
    return;
  }
  const stored = entry as StoredEntry;
  const key = variantKey(meta.key, enc, stored.pos);
  const variant = cache.findVariant(key);
  if (variant !== null) {
    req.variant = 'stored';
    const body = cache.table.arena.subarray(variant.bodyOffset, variant.bodyOffset + variant.bodyLength);
    new StoredBodySender(ds, ex, meta, headers, { body, table: cache.table, pos: variant.pos }, done, lost).start();
    return;
  }
  if (source.body.length <= compression.sync_max_bytes) {
    const made = compressAndStore(cache.table, stored, key, enc, compression);
    if (made === null) { lost(); return; }
    req.variant = 'made';
    new StoredBodySender(ds, ex, meta, headers, { body: made, table: null, pos: -1 }, done, lost).start();
    return;
  }
  // Large: compressed once in the pool, off this thread; this request waits for it.
  ds.onAbort(() => {
    ex.clientAborted = true;
    ex.status = 499;
    done(ex);
  });
  cache.variants.make(stored, key, enc, compression).then((ok) => {
    if (ds.done) return;
    const v = ok ? cache.findVariant(key) : null;
    if (v !== null) {
      req.variant = 'made';
      const body = cache.table.arena.subarray(v.bodyOffset, v.bodyOffset + v.bodyLength);
      new StoredBodySender(ds, ex, meta, headers, { body, table: cache.table, pos: v.pos }, done, lost).start();
    } else if (cache.table.intact(stored.pos)) {
      new StoredBodySender(ds, ex, meta, plain, source, done, lost).start();
    } else {
      lost();
    }
  }, () => {
    if (!ds.done) new StoredBodySender(ds, ex, meta, plain, source, done, lost).start();
  });
}

function finishHead(ds: Downstream, ex: Exchange, status: number, reason: string, headers: readonly string[], length: number, noBody: boolean, done: ExchangeEnd): void {
  ex.status = status;
  ds.writeHead(status, reason, headers, length, noBody);
  ds.end();
  done(ex);
}

/** Sends a stored body in pieces with backpressure (one object per answer, no closure per piece). */
class StoredBodySender {
  readonly #ds: Downstream;
  readonly #ex: Exchange;
  readonly #source: BodySource;
  readonly #done: ExchangeEnd;
  readonly #lost: () => void;
  readonly #meta: EntryMeta;
  readonly #headers: readonly string[];
  readonly #status: number;
  #body: Buffer | null = null;
  #off = 0;
  #finished = false;

  constructor(ds: Downstream, ex: Exchange, meta: EntryMeta, headers: readonly string[], source: BodySource, done: ExchangeEnd, lost: () => void, status = meta.status) {
    this.#status = status;
    this.#ds = ds;
    this.#ex = ex;
    this.#meta = meta;
    this.#headers = headers;
    this.#source = source;
    this.#done = done;
    this.#lost = lost;
  }

  start(): void {
    const body = copyOut(this.#source);
    // Overwritten before anything was sent: the exchange can still go to the upstream.
    if (body === null) { this.#lost(); return; }
    this.#body = body;
    const ds = this.#ds;
    ds.onAbort(() => {
      if (this.#finished) return;
      this.#ex.clientAborted = true;
      this.#ex.status = 499;
      this.#finish();
    });
    ds.onWritable(() => this.#pump());
    this.#ex.status = this.#status;
    ds.writeHead(this.#status, this.#status === this.#meta.status ? this.#meta.reason : '', this.#headers, body.length, false);
    this.#pump();
  }

  #pump(): void {
    const body = this.#body!;
    while (!this.#finished && !this.#ds.done) {
      const start = this.#off;
      const end = Math.min(body.length, start + PIECE_BYTES);
      if (!this.#send(start === 0 && end === body.length ? body : body.subarray(start, end))) return;
    }
  }

  /** Sends one piece; true when the next one may follow at once, false: wait for onWritable (or done). */
  #send(piece: Buffer): boolean {
    const ds = this.#ds;
    this.#off += piece.length;
    this.#ex.responseBytes += piece.length;
    cacheEvents.servedBytes.inc(piece.length);
    const ok = ds.writeBody(piece);
    if (this.#off >= this.#body!.length) {
      // All handed over: uWS flushes what it kept on its own (as for a proxied body).
      ds.end();
      this.#finish();
      return false;
    }
    return ok && !ds.done;
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#body = null;
    this.#done(this.#ex);
  }
}
