// The hit path: a GET that a fresh stored answer serves as it is, decided in the front end's
// request callback without the general pipeline's per-request objects (the Downstream
// wrappers and their callbacks, the policy phase's PolicyDownstream, the cache phase's
// lookup and body sender). It runs the same phases through the same functions, in the same
// order as pipeline.ts handleRequest:
//
//   parse → route → identify → policies (filters only) → cache key → lookup → fresh? → head, body
//
// and gives an answer only when every one of them says "a plain fresh hit". Otherwise
// handleRequest goes on from where the hit path stopped (pipeline.ts Prepared: nothing is done
// twice), or starts over when it stopped before routing. Every step only reads (the only
// policies run are filters, which touch no counter), so stopping anywhere changes nothing. Not
// on the hit path:
//   - not a GET; a body; an ACME or redirect_https listener; a refusal by any phase;
//   - a route with auth, a rate or in-flight limit, request edits or a rewrite;
//   - a miss, a stale entry, a status other than 200, the client's own conditional (304),
//     a Range, a coding to compress with, an answer over `maxBytes`.
// The answer is the one answerFromCache (respond.ts) gives, made by the same functions; the
// test cache-hit-path.test.ts holds the two paths to the same bytes.
//
// The head (status line and fields) of a hit depends on the entry, its age (Age, and the ttl
// in Cache-Status), the route's response edits, the scheme (part of the entry's key), HSTS and
// the compression settings, and on nothing else in the request unless it asks for a coding. It
// is built once per entry, age second and listener, and kept as bytes: uWS takes them as they
// are, where a string is encoded again on every write. A reload (new edits, new settings)
// starts the kept heads afresh. The body is kept beside its head, a private copy made once per
// entry (a ring position names one entry for ever, so its bytes never change), up to
// KEPT_BODY_BYTES per thread: a copy out of the ring per hit, checked against the ring after,
// was a fifth of what the hit path itself cost for a 13 B body.
import type { RequestHead } from '../downstream/contract.js';
import { ProxyError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import { identify, parse, route, startExchange, type Prepared } from '../pipeline.js';
import { passesAsIs } from '../policy/phase.js';
import { applyResponseEdits } from '../policy/response-edits.js';
import type { CompressionConfig } from '../config/types.js';
import type { Runtime } from '../runtime.js';
import { FLAG_SOFT_PURGED } from '../shm/layout.js';
import { withHsts } from '../tls/hsts.js';
import { currentAge } from './freshness.js';
import { cacheEvents } from './metrics.js';
import { copyStoredPiece, hitHead, isNotModified } from './respond.js';
import { reuseOf, ttlOf } from './reuse.js';
import type { EntryMeta, StoredEntry } from './store.js';
import type { CacheTable } from './table.js';

/** A hit ready to write: the exchange (status, bytes and cache outcome set) and its bytes. */
export interface PlainHit {
  readonly ex: Exchange;
  /** "200 OK\r\n<field>: <value>…" without the last CRLF (uWS's writeStatus adds Date and framing). */
  readonly head: Buffer;
  /** The body: kept with the head, or in the per-thread scratch buffer (valid until the next hit or stored answer). */
  readonly body: Buffer;
}

/** A status, reason and fields as the front end writes them (uws-downstream.ts headLines). */
export type HeadFormat = (status: number, reason: string, headers: readonly string[]) => string;

/** A head built for one entry at one age, and what else it was built from; the entry's body. */
interface KeptHit {
  readonly age: number;
  readonly hsts: string | null;
  /** The head, or null when the answer would be compressed or is over the size given. */
  readonly head: Buffer | null;
  readonly maxBytes: number;
  /** A private copy of the entry's body, or null: not kept (yet, or over KEPT_BODY_BYTES). */
  body: Buffer | null;
}

/** Heads and bodies by ring position (a position names one entry for ever), per thread; bounded. */
const heads = new Map<number, KeptHit>();
const HEADS_MAX = 4096;
/** Bytes of kept bodies, and their bound per thread (4,096 heads of 16 KiB would be 64 MiB). */
let keptBytes = 0;
const KEPT_BODY_BYTES = 4 * 1024 * 1024;
/** The runtime generation the kept heads were built under (its route edits, its compression settings). */
let headsOf: Runtime | null = null;

/**
 * The answer to `head` when it is a plain fresh hit of at most `maxBytes` (head and body). When
 * not: what was done so far (parse, route, identify, and maybe the cache's lookup) for
 * handleRequest to go on from, or null when it must start over (a GET the hit path never takes,
 * a refusal by parse or route). `hsts`: the listener's Strict-Transport-Security value;
 * `format`: the front end's own formatting of a head (its general path writes with it too).
 */
export function hitPath(head: RequestHead, rt: Runtime, hsts: string | null, maxBytes: number, format: HeadFormat): PlainHit | Prepared | null {
  const cache = rt.cache;
  if (cache === null || head.method !== 'GET') return null;
  const listener = head.listener;
  if (listener !== undefined && (listener.challenges !== null || listener.redirect !== null)) return null;
  const ex = startExchange(head, rt);
  const framing = parse(ex, rt);
  if (framing instanceof ProxyError || framing.chunked || framing.contentLength > 0) return null;
  if (route(ex, rt) !== null) return null;
  identify(ex, rt);
  const prepared: Prepared = { ex, framing };
  if (!ex.route!.config.cache || !passesAsIs(ex, rt)) return prepared;

  const identity = ex.identity!;
  const req = cache.begin(ex, identity.proto, identity.host);
  // Handed over from here on: the policies have let the request through as it is.
  ex.cache = req;
  if (!req.cacheable || req.range !== undefined) return prepared;
  const entry = cache.find(req, ex);
  req.found = entry;
  if (entry === null) return prepared;
  const meta = entry.meta;
  if (meta.status !== 200 || entry.bodyLength > maxBytes || isNotModified(ex, meta)) return prepared;
  // The request's own time (startExchange): freshness and Age are judged as of its arrival.
  const now = ex.startedAt;
  const ttl = ttlOf(meta, now, (entry.flags & FLAG_SOFT_PURGED) !== 0);
  // The Age the head carries (a kept head is good for this one).
  const age = currentAge(meta.initialAge, meta.responseTime, now);
  if (reuseOf(meta, req.facts.cacheControl, ttl, now) !== 'fresh') return prepared;

  const compression = rt.config.compression;
  if (headsOf !== rt) { heads.clear(); keptBytes = 0; headsOf = rt; }
  let kept = heads.get(entry.pos);
  let built: Buffer | null;
  if (compression.enabled && ex.header('accept-encoding') !== undefined) {
    // The coding depends on the request: decided (and the head built) for this one. The body
    // is the entry's either way, kept as for any other hit (a browser always asks for a coding).
    built = buildHead(ex, meta, entry, ttl, compression, hsts, maxBytes, now, format, false);
    // No head kept yet (age -1 matches no request): the first hit without a coding builds one.
    if (built !== null && kept === undefined) kept = keep(entry.pos, { age: -1, hsts, head: null, maxBytes, body: null }, true);
  } else {
    if (kept === undefined || kept.age !== age || kept.hsts !== hsts || kept.maxBytes !== maxBytes) {
      const head = buildHead(ex, meta, entry, ttl, compression, hsts, maxBytes, now, format, true);
      // The body stays: it is the entry's, whatever the head was built for.
      kept = keep(entry.pos, { age, hsts, head, maxBytes, body: kept === undefined ? null : kept.body }, kept === undefined);
    }
    built = kept.head;
  }
  if (built === null) return prepared;
  const body = kept!.body ?? keepBody(kept!, cache.table, entry);
  // Overwritten meanwhile: the lookup finds what is there now.
  if (body === null) { req.found = undefined; return prepared; }

  req.found = undefined;
  req.outcome = 'hit';
  ex.status = 200;
  ex.responseBytes = body.length;
  cacheEvents.servedBytes.inc(body.length);
  return { ex, head: built, body };
}

/** Bytes of bodies kept now, in this thread (tests: the bound holds). */
export function keptBodyBytes(): number {
  return keptBytes;
}

/** Keeps `kept` for the entry at `pos`; a new entry first makes room within HEADS_MAX. */
function keep(pos: number, kept: KeptHit, isNew: boolean): KeptHit {
  if (isNew && heads.size >= HEADS_MAX) forgetOldest();
  heads.set(pos, kept);
  return kept;
}

/** Drops the kept head (and body) made first. */
function forgetOldest(): void {
  const first = heads.entries().next().value!;
  keptBytes -= first[1].body?.length ?? 0;
  heads.delete(first[0]);
}

/**
 * The entry's body, copied out of the ring (null: overwritten before the copy was complete),
 * and kept with its head while KEPT_BODY_BYTES allows; over it, the copy is the scratch one
 * (respond.ts copyStoredPiece), good until the next.
 */
function keepBody(kept: KeptHit, table: CacheTable, entry: StoredEntry): Buffer | null {
  const piece = copyStoredPiece(table, entry);
  if (piece === null || keptBytes + piece.length > KEPT_BODY_BYTES) return piece;
  // Its own memory, not a slice of Node's shared 8 KiB pool: a kept 13 B body would hold a
  // whole pool slab alive, and KEPT_BODY_BYTES would count 13.
  const own = Buffer.allocUnsafeSlow(piece.length);
  piece.copy(own);
  kept.body = own;
  keptBytes += piece.length;
  return own;
}

/**
 * The head answerFromCache would write for this entry (respond.ts hitHead, then what the
 * Downstream wrappers add, in their order: the route's edits, then HSTS), as the UTF-8 bytes uWS
 * makes of the string. Null when the answer would be compressed or is over `maxBytes`. `kept`:
 * the head is kept (per entry and second), in memory of its own.
 */
function buildHead(ex: Exchange, meta: EntryMeta, entry: StoredEntry, ttl: number, compression: CompressionConfig, hsts: string | null,
  maxBytes: number, now: number, format: HeadFormat, kept: boolean): Buffer | null {
  const hit = hitHead(ex, meta, entry.bodyLength, `portcullis; hit; ttl=${ttl}`, compression, false, now);
  if (hit.enc !== null) return null;
  const edits = ex.route!.policies.responseEdits;
  let headers: readonly string[] = edits === null ? hit.headers : applyResponseEdits(hit.headers, edits, ex.identity!.proto === 'https', null);
  if (hsts !== null) headers = withHsts(headers, hsts);
  const text = format(200, meta.reason, headers);
  let head: Buffer;
  if (kept) {
    // Its own memory, as a kept body's (keepBody): heads rebuilt every second, out of Node's
    // shared pool, would leave the live ones scattered over pool slabs that each stay alive.
    head = Buffer.allocUnsafeSlow(Buffer.byteLength(text, 'utf8'));
    head.write(text, 'utf8');
  } else {
    head = Buffer.from(text, 'utf8');
  }
  return head.length + entry.bodyLength > maxBytes ? null : head;
}
