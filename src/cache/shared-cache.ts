// The shared cache as one worker sees it: the table over shared memory, the per-request
// decisions before the upstream (key, lookup, Vary, freshness, revalidation) and the
// pending compressed variants. The response side is in fill.ts, serving in respond.ts.
//
//   pipeline ─ begin() ─▶ CacheRequest on ex.cache
//            ─ find()  ─▶ fresh entry: respond.ts serves it (no upstream)
//                         stale entry with a validator: revalidate (If-None-Match / If-Modified-Since)
//                         nothing usable: forward; fill.ts decides at the response head whether to store
import type { CacheConfig } from '../config/types.js';
import type { Exchange } from '../exchange.js';
import { firstField } from '../http/field-list.js';
import type { CacheMemory } from '../shm/layout.js';
import { currentAge, parseCacheControl, type RequestFacts } from './freshness.js';
import { copyBytes, hashKey, readEntry, type EntryMeta, type StoredEntry } from './store.js';
import { CacheTable, type EntryRef } from './table.js';
import { VariantMaker } from './variants.js';

/** What the cache did for one exchange, for the access log (`cache`). */
export type CacheOutcome = 'hit' | 'miss' | 'stored' | 'revalidated' | 'bypass';

/** Per-request cache state, on `ex.cache` for routes that cache. */
export class CacheRequest {
  readonly key: string;
  readonly hi: number;
  readonly lo: number;
  readonly facts: RequestFacts;
  /** GET or HEAD without a body or Range: a stored answer may serve it. */
  readonly cacheable: boolean;
  outcome: CacheOutcome = 'miss';
  /** RFC 9211 `fwd` (why the upstream was asked) and `detail` (why nothing was stored). */
  fwd = 'uri-miss';
  detail = '';
  /** A hit answered with a compressed variant: already stored, or made for this request. */
  variant: 'stored' | 'made' | null = null;
  /** Revalidating: the stale entry, its body copied out of shared memory. */
  stale: { readonly meta: EntryMeta; readonly body: Buffer } | null = null;

  constructor(key: string, facts: RequestFacts, cacheable: boolean) {
    this.key = key;
    [this.hi, this.lo] = hashKey(key);
    this.facts = facts;
    this.cacheable = cacheable;
  }
}

/** Request headers that make the client's own conditional request: never replaced by ours. */
const CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range'];

/** Stands for "the request did not have this header" (distinct from an empty one). */
const ABSENT = '\u0000';

/** A Vary value as compared (RFC 9111 §4.1): list elements trimmed, nothing else changed. */
export function normalizeVaryValue(v: string | undefined): string {
  if (v === undefined) return ABSENT;
  return v.split(',').map((s) => s.trim()).join(',');
}

/** Lowercase, deduplicated header names of a Vary value. */
export function varyNames(vary: string | undefined): string[] {
  if (vary === undefined) return [];
  const names: string[] = [];
  for (const part of vary.split(',')) {
    const n = part.trim().toLowerCase();
    if (n !== '' && !names.includes(n)) names.push(n);
  }
  return names;
}

export class SharedCache {
  readonly table: CacheTable;
  readonly config: CacheConfig;
  readonly memory: CacheMemory;
  readonly variants: VariantMaker;
  readonly #ref: EntryRef = { pos: 0, length: 0 };

  constructor(memory: CacheMemory, config: CacheConfig) {
    this.memory = memory;
    this.table = new CacheTable(memory);
    this.config = config;
    this.variants = new VariantMaker(memory, this.table);
  }

  /**
   * Starts the cache's part of an exchange on a caching route. The key holds what the upstream
   * is told, not our normalised view of it: the Host as sent (port included: an origin that
   * builds links from Host answers `a:8443` differently from `a`), and the scheme and host a
   * trusted proxy forwarded (an http→https redirect must not reach https clients).
   */
  begin(ex: Exchange, proto: string, forwardedHost: string): CacheRequest {
    const h = ex.head;
    const route = ex.route!;
    const sentHost = (route.config.host_header ?? ex.header('host') ?? '').toLowerCase();
    const claimed = forwardedHost.toLowerCase();
    const host = claimed === sentHost ? sentHost : `${sentHost} ${claimed}`;
    // The route by what it is (name and upstream), not its position in the file.
    const key = `${route.name} ${route.config.upstream} ${proto}://${host}${ex.path}?${h.query}`;
    const facts: RequestFacts = {
      method: h.method,
      authorization: ex.header('authorization') !== undefined,
      cookie: ex.header('cookie') !== undefined,
      cacheControl: parseCacheControl(ex.headerList('cache-control')),
    };
    const safe = h.method === 'GET' || h.method === 'HEAD';
    const hasBody = (ex.header('content-length') ?? '0') !== '0' || ex.header('transfer-encoding') !== undefined;
    // Range, and preconditions a stored answer cannot judge (If-Match, If-Unmodified-Since,
    // If-Range), go to the upstream (RFC 9111 §4.3.2).
    const cacheable = safe && !hasBody && ex.header('range') === undefined && ex.header('if-match') === undefined
      && ex.header('if-unmodified-since') === undefined && ex.header('if-range') === undefined;
    const req = new CacheRequest(key, facts, cacheable);
    if (!safe) req.fwd = 'method';
    else if (!cacheable) req.fwd = 'bypass';
    return req;
  }

  /**
   * The stored entry that matches the request (key, Vary, Authorization rules), fresh or not,
   * or null. Sets req.fwd to 'vary-miss' when an entry exists for other Vary values.
   */
  find(req: CacheRequest, ex: Exchange): StoredEntry | null {
    const entry = this.#read(req.key, req.hi, req.lo);
    if (entry === null || entry.meta.encoding !== '') return null;
    const meta = entry.meta;
    if (req.facts.authorization && !meta.authOk) return null;
    for (let i = 0; i < meta.varyNames.length; i++) {
      if (normalizeVaryValue(ex.headerList(meta.varyNames[i]!)) !== meta.varyValues[i]) {
        req.fwd = 'vary-miss';
        return null;
      }
    }
    return entry;
  }

  /** A compressed variant stored for the base entry, or null. */
  findVariant(variantKey: string): StoredEntry | null {
    const [hi, lo] = hashKey(variantKey);
    return this.#read(variantKey, hi, lo);
  }

  /** The entry stored under exactly `key` (a hash match is confirmed by the full key), or null. */
  #read(key: string, hi: number, lo: number): StoredEntry | null {
    const ref = this.#ref;
    if (!this.table.find(hi, lo, ref)) return null;
    const entry = readEntry(this.table, ref, hi, lo);
    return entry !== null && entry.meta.key === key ? entry : null;
  }

  /** Seconds the entry stays fresh from `now` (≤ 0: stale). */
  static ttl(meta: EntryMeta, now: number): number {
    return meta.lifetime - currentAge(meta.initialAge, meta.responseTime, now);
  }

  /**
   * For a stale entry: the validator lines to add to the upstream request, with the body kept
   * for a 304 (req.stale), or null when it cannot be revalidated (no validator, the client's
   * own conditional request, or the entry was overwritten meanwhile).
   */
  prepareRevalidation(req: CacheRequest, ex: Exchange, entry: StoredEntry): string | null {
    for (const name of CONDITIONALS) if (ex.header(name) !== undefined) return null;
    const etag = firstField(entry.meta.headers, 'etag');
    const lastModified = firstField(entry.meta.headers, 'last-modified');
    if (etag === undefined && lastModified === undefined) return null;
    // A private copy: the 304 may come long after the ring has moved on.
    const body = Buffer.allocUnsafe(entry.bodyLength);
    copyBytes(body, 0, this.table.arena, entry.bodyOffset, entry.bodyLength);
    if (!this.table.intact(entry.pos)) return null;
    req.stale = { meta: entry.meta, body };
    req.fwd = 'stale';
    let lines = '';
    if (etag !== undefined) lines += `if-none-match: ${etag}\r\n`;
    if (lastModified !== undefined) lines += `if-modified-since: ${lastModified}\r\n`;
    return lines;
  }

  /** RFC 9211 Cache-Status value for an answer that went to the upstream. */
  static forwardStatus(req: CacheRequest, upstreamStatus: number): string {
    let v = `portcullis; fwd=${req.fwd}`;
    if (req.stale !== null) v += `; fwd-status=${upstreamStatus}`;
    // 'pending': a body of unknown length that may still turn out too big: not announced.
    if (req.outcome === 'stored') v += req.detail === 'pending' ? '' : '; stored';
    else if (req.detail !== '') v += `; detail=${req.detail}`;
    return v;
  }
}
