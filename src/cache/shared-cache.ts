// The shared cache as one worker sees it: the table over shared memory, the per-request
// decisions before the upstream (key, lookup, Vary variants, revalidation), storing entries
// (with their Vary variants), removing them, and the fill markers for request collapsing. The
// response side is in fill.ts, serving in respond.ts, the reuse rules in reuse.ts.
//
//   pipeline ─ begin() ─▶ CacheRequest on ex.cache
//            ─ find()  ─▶ fresh entry: respond.ts serves it (no upstream)
//                         stale entry: reuse.ts decides (serve stale, revalidate, refetch)
//                         nothing usable: claim the key's fill marker (collapse.ts), forward;
//                         fill.ts decides at the response head whether to store
//
// Vary (RFC 9111 §4.1): a response that varies is stored under its variant key (the base key
// plus the request's values of the Vary names), and the base key holds a small marker entry
// naming the Vary fields and the variants stored (at most cache.max_variants; the oldest goes).
//
//   key ──▶ plain entry                                     (no Vary)
//   key ──▶ marker { varyNames, variants } ─ key + values ──▶ variant entry
import type { CacheConfig, RouteCacheOptions } from '../config/types.js';
import type { Exchange } from '../exchange.js';
import { firstField } from '../http/field-list.js';
import type { CidrMatcher } from '../net/cidr.js';
import type { CacheMemory } from '../shm/layout.js';
import { noDirectives, parseCacheControl } from './directives.js';
import type { RequestFacts, StorePolicy } from './freshness.js';
import { FillMarkers, Waiters } from './collapse.js';
import { chooseUpstream } from '../upstream/route-groups.js';
import { copyBytes, encodeMeta, expiresAt, hashKey, KeyPrefix, readEntry, writeEntry, type EntryMeta, type StoredEntry } from './store.js';
import { CacheTable, type EntryRef } from './table.js';
import { VariantMaker } from './variants.js';

/** What the cache did for one exchange, for the access log (`cache`). */
export type CacheOutcome = 'hit' | 'stale' | 'miss' | 'stored' | 'revalidated' | 'bypass' | 'purge';

/** A stale entry kept for the exchange: its head and a private copy of its body. */
export interface StaleCopy {
  readonly meta: EntryMeta;
  readonly body: Buffer;
}

/** Per-request cache state, on `ex.cache` for routes that cache. */
export class CacheRequest {
  readonly key: string;
  readonly hi: number;
  readonly lo: number;
  readonly facts: RequestFacts;
  readonly policy: StorePolicy;
  /** GET or HEAD without a body or precondition: a stored answer may serve it. */
  readonly cacheable: boolean;
  /** The request's Range (served from a stored complete entry), or undefined. */
  readonly range: string | undefined;
  outcome: CacheOutcome = 'miss';
  /** RFC 9211 `fwd` (why the upstream was asked) and `detail` (why nothing was stored). */
  fwd = 'uri-miss';
  detail = '';
  /** A hit answered with a compressed variant: already stored, or made for this request. */
  variant: 'stored' | 'made' | null = null;
  /** The stale entry, kept for a 304 (revalidation) or to stand in for an upstream error. */
  stale: StaleCopy | null = null;
  /** Validators from `stale` went upstream (a 304 refreshes it). */
  conditional = false;
  /** The fill marker this request claimed (collapse.ts), -1: none. */
  lead = -1;
  /** Waited for another request's fill. */
  collapsed = false;
  /** Lookups retried because the fill-marker lock was busy (phase.ts). */
  claimRetries = 0;
  /**
   * What find() gave the cache's hit path (cache/hit-path.ts) when it did not answer: the
   * lookup that follows in the same turn takes it instead of searching again (once).
   */
  found: StoredEntry | null | undefined = undefined;

  /** `hi`, `lo`: hashKey(key), when the caller has it (SharedCache.begin hashes by parts). */
  constructor(key: string, facts: RequestFacts, policy: StorePolicy, cacheable: boolean, range: string | undefined, hi?: number, lo?: number) {
    this.key = key;
    if (hi !== undefined && lo !== undefined) {
      this.hi = hi;
      this.lo = lo;
    } else {
      [this.hi, this.lo] = hashKey(key);
    }
    this.facts = facts;
    this.policy = policy;
    this.cacheable = cacheable;
    this.range = range;
  }
}

/** Request headers that make the client's own conditional request: never replaced by ours. */
const CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range'];

/** Stands for "the request did not have this header" (distinct from an empty one). */
const ABSENT = '\u0000';
/** Separates the parts of a variant key (never in a header value). */
const SEP = '\u0001';

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

/** The key a variant is stored under: the base key, the Vary names and the request's values. */
export function variantEntryKey(baseKey: string, names: readonly string[], values: readonly string[]): string {
  return `${baseKey}${SEP}${names.join(',')}${SEP}${values.join(SEP)}`;
}

/**
 * The cache key: what the upstream is told, not our normalised view of it. The route by what it
 * is (its name, and the upstream group serving the request: on a route with a split or a
 * canary, each group's answers are its own, so a client that opts into the canary never puts
 * the canary's answer in front of the others), the scheme, the Host as sent (port included: an
 * origin that builds links from Host answers `a:8443` differently from `a`) and the host a
 * trusted proxy forwarded when it differs (an http→https redirect must not reach https
 * clients), the path and the query.
 */
export function cacheKey(routeName: string, upstream: string, proto: string, sentHost: string, forwardedHost: string, path: string, query: string): string {
  return `${cacheKeyPrefix(routeName, upstream, proto, sentHost, forwardedHost)}${path}?${query}`;
}

/** cacheKey up to the path: what a route's requests to one host share. */
function cacheKeyPrefix(routeName: string, upstream: string, proto: string, sentHost: string, forwardedHost: string): string {
  const sent = sentHost.toLowerCase();
  const claimed = forwardedHost.toLowerCase();
  const host = claimed === sent ? sent : `${sent} ${claimed}`;
  return `${routeName} ${upstream} ${proto}://${host}`;
}

/**
 * The last key prefix hashed (store.ts KeyPrefix), by the inputs it was made of: a worker's
 * requests mostly repeat one route and host, so most keys hash only their path and query. The
 * inputs are compared as strings, the hosts by content (each request brings its own copies).
 */
class LastPrefix {
  routeName = '';
  upstream = '';
  proto = '';
  sentHost = '';
  forwardedHost = '';
  prefix: KeyPrefix | null = null;

  of(routeName: string, upstream: string, proto: string, sentHost: string, forwardedHost: string): KeyPrefix {
    if (this.prefix !== null && this.sentHost === sentHost && this.forwardedHost === forwardedHost && this.routeName === routeName &&
      this.upstream === upstream && this.proto === proto) {
      return this.prefix;
    }
    this.routeName = routeName;
    this.upstream = upstream;
    this.proto = proto;
    this.sentHost = sentHost;
    this.forwardedHost = forwardedHost;
    return (this.prefix = new KeyPrefix(cacheKeyPrefix(routeName, upstream, proto, sentHost, forwardedHost)));
  }
}

/** The URL a key stands for, as `scheme://host/path?query` (the forwarded host when there is one). */
export function keyUrl(key: string): { scheme: string; host: string; target: string } | null {
  const at = key.indexOf('://');
  if (at < 0) return null;
  const space = key.lastIndexOf(' ', at);
  const scheme = key.slice(space + 1, at);
  const rest = key.slice(at + 3);
  const slash = rest.indexOf('/');
  if (slash < 0) return null;
  const hosts = rest.slice(0, slash);
  const sp = hosts.indexOf(' ');
  const target = rest.slice(slash);
  return { scheme, host: sp < 0 ? hosts : hosts.slice(sp + 1), target: target.endsWith('?') ? target.slice(0, -1) : target };
}

/** The route's cache options as the store decision reads them. */
function storePolicyOf(config: CacheConfig, options: RouteCacheOptions | undefined): StorePolicy {
  return {
    heuristicFraction: config.heuristic.fraction,
    heuristicMax: config.heuristic.max,
    authorizationMustRevalidate: options?.authorization === 'must-revalidate',
  };
}

/** How long a key whose answer was not stored skips collapsing, and how many such keys a worker remembers. */
const PASS_MS = 10_000;
const PASS_HINTS = 4096;

/** One number for a key's two hash halves (collisions only cost a collapse). */
function passKey(hi: number, lo: number): number {
  return (hi ^ Math.imul(lo, 0x9e3779b1)) >>> 0;
}

export class SharedCache {
  readonly table: CacheTable;
  readonly config: CacheConfig;
  readonly memory: CacheMemory;
  readonly variants: VariantMaker;
  readonly markers: FillMarkers;
  readonly waiters: Waiters;
  /** Client addresses allowed to send PURGE (cache.purge_allow, else trusted_proxies). */
  readonly purgeAllowed: CidrMatcher;
  readonly #ref: EntryRef = { pos: 0, length: 0, flags: 0 };
  readonly #policies = new WeakMap<object, StorePolicy>();
  readonly #defaultPolicy: StorePolicy;
  /**
   * Hit-for-miss (as Varnish calls it): keys whose last answer was not stored, until when (ms).
   * A miss for one goes upstream at once instead of waiting for another request's fill, which
   * would fetch an uncacheable URL in rounds (one leader, then its waiters). Per worker: only a
   * hint, a wrong one costs a collapse, never a wrong answer. Bounded: cleared when full.
   */
  readonly #passUntil = new Map<number, number>();
  readonly #lastPrefix = new LastPrefix();

  constructor(memory: CacheMemory, config: CacheConfig, purgeAllowed: CidrMatcher = () => false) {
    this.memory = memory;
    this.table = new CacheTable(memory);
    this.config = config;
    this.purgeAllowed = purgeAllowed;
    this.#defaultPolicy = storePolicyOf(config, undefined);
    this.variants = new VariantMaker(memory, this.table);
    this.markers = new FillMarkers(memory);
    this.waiters = new Waiters(this.markers);
  }

  /** Remembers that this key's answer was not stored: its misses skip collapsing for a while. */
  markUncacheable(hi: number, lo: number, now: number): void {
    if (this.#passUntil.size >= PASS_HINTS) this.#passUntil.clear();
    this.#passUntil.set(passKey(hi, lo), now + PASS_MS);
  }

  /** Whether a miss for this key should go upstream without waiting for a fill (markUncacheable). */
  skipsCollapse(hi: number, lo: number, now: number): boolean {
    if (this.#passUntil.size === 0) return false;
    const until = this.#passUntil.get(passKey(hi, lo));
    return until !== undefined && until > now;
  }

  /** Starts the cache's part of an exchange on a caching route (see cacheKey). */
  begin(ex: Exchange, proto: string, forwardedHost: string): CacheRequest {
    const h = ex.head;
    const route = ex.route!;
    const options = route.config.cache_options;
    // The request fields the cache reads, in one pass (a lookup per name was ten passes).
    let host: string | undefined;
    let authorization = false;
    let cookie = false;
    let cacheControl: string | undefined;
    let contentLength: string | undefined;
    let chunked = false;
    let precondition = false;
    let range: string | undefined;
    const fields = h.headers;
    for (let i = 0; i < fields.length; i += 2) {
      const v = fields[i + 1]!;
      switch (fields[i]) {
        case 'host': host ??= v; break;
        case 'authorization': authorization = true; break;
        case 'cookie': cookie = true; break;
        case 'cache-control': cacheControl = cacheControl === undefined ? v : `${cacheControl}, ${v}`; break;
        case 'content-length': contentLength ??= v; break;
        case 'transfer-encoding': chunked = true; break;
        // Preconditions a stored answer cannot judge go to the upstream (RFC 9111 §4.3.2).
        case 'if-match': case 'if-unmodified-since': case 'if-range': precondition = true; break;
        case 'range': range ??= v; break;
      }
    }
    // The group the route's split sends this request to (a canary's answers are its own).
    const group = chooseUpstream(route, ex).name;
    const prefix = this.#lastPrefix.of(route.name, group, proto, route.config.host_header ?? host ?? '', forwardedHost);
    const path = ex.path;
    const query = h.query;
    const key = `${prefix.text}${path}?${query}`;
    const [hi, lo] = prefix.hashAfter(path, query);
    const facts: RequestFacts = {
      method: h.method,
      authorization,
      cookie,
      // A route may ignore what clients ask for (an edge that must not let clients force load on the origin).
      cacheControl: options?.client_cache_control === false ? noDirectives() : parseCacheControl(cacheControl),
    };
    const safe = h.method === 'GET' || h.method === 'HEAD';
    const hasBody = (contentLength ?? '0') !== '0' || chunked;
    // Range is served from a stored complete answer.
    const cacheable = safe && !hasBody && !precondition;
    let policy = options === undefined ? this.#defaultPolicy : this.#policies.get(options);
    if (policy === undefined) {
      policy = storePolicyOf(this.config, options);
      this.#policies.set(options!, policy);
    }
    const req = new CacheRequest(key, facts, policy, cacheable, range, hi, lo);
    if (!safe) req.fwd = 'method';
    else if (!cacheable) req.fwd = 'bypass';
    return req;
  }

  /**
   * The stored entry that matches the request (key, Vary variant, Authorization rules), fresh or
   * not, or null. Sets req.fwd to 'vary-miss' when the URL has entries for other Vary values.
   */
  find(req: CacheRequest, ex: Exchange): StoredEntry | null {
    let entry = this.#read(req.key, req.hi, req.lo);
    if (entry === null || entry.meta.encoding !== '') return null;
    if (entry.meta.variants !== undefined) {
      const names = entry.meta.varyNames;
      const values = names.map((n) => normalizeVaryValue(ex.headerList(n)));
      const key = variantEntryKey(req.key, names, values);
      const [hi, lo] = hashKey(key);
      entry = this.#read(key, hi, lo);
      if (entry === null) { req.fwd = 'vary-miss'; return null; }
    }
    const meta = entry.meta;
    if (req.facts.authorization && !meta.authOk) return null;
    // A variant is found by its values already; this checks an entry written under a base key
    // with Vary names (not done by store(), kept as the rule's last line of defence).
    for (let i = 0; i < meta.varyValues.length; i++) {
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

  /**
   * Stores a response for the request's key: a plain entry, or (when it varies) the variant plus
   * the URL's marker, dropping the oldest variant over cache.max_variants. False: not stored
   * (the writer lock stayed busy, or too big).
   */
  store(baseKey: string, baseHi: number, baseLo: number, meta: EntryMeta, body: Uint8Array | readonly Uint8Array[], bodyLength: number): boolean {
    const table = this.table;
    if (meta.varyNames.length === 0) {
      return writeEntry(table, baseHi, baseLo, encodeMeta({ ...meta, key: baseKey }), body, bodyLength, expiresAt(meta));
    }
    const key = variantEntryKey(baseKey, meta.varyNames, meta.varyValues);
    const [hi, lo] = hashKey(key);
    if (!writeEntry(table, hi, lo, encodeMeta({ ...meta, key }), body, bodyLength, expiresAt(meta))) return false;
    // The marker: same names → this variant first, then the others still listed; new names → a new list.
    const old = this.#read(baseKey, baseHi, baseLo);
    const oldMeta = old !== null && old.meta.variants !== undefined && sameNames(old.meta.varyNames, meta.varyNames) ? old.meta : null;
    const variants = [hi, lo];
    const previous = oldMeta?.variants ?? [];
    for (let i = 0; i < previous.length; i += 2) {
      if (previous[i] === hi && previous[i + 1] === lo) continue;
      if (variants.length / 2 < this.config.max_variants) variants.push(previous[i]!, previous[i + 1]!);
      else table.remove(previous[i]!, previous[i + 1]!);
    }
    const until = Math.max(expiresAt(meta), oldMeta?.until ?? 0);
    if (oldMeta !== null && previous.length === variants.length && previous[0] === hi && previous[1] === lo && until === oldMeta.until) return true;
    const marker: EntryMeta = {
      key: baseKey, status: 0, reason: '', headers: [], responseTime: meta.responseTime, initialAge: 0, lifetime: 0,
      staleWhileRevalidate: -1, staleIfError: -1, noStale: true, heuristic: false, targeted: [], date: '',
      varyNames: meta.varyNames, varyValues: [], authOk: false, encoding: '', variants, until,
      ...(meta.target === undefined ? {} : { target: meta.target }),
    };
    writeEntry(table, baseHi, baseLo, encodeMeta(marker), new Uint8Array(0), 0, until);
    return true;
  }

  /**
   * Forgets a key and, when it is a Vary marker, every variant it lists (RFC 9111 §4.4
   * invalidation, purge). `soft`: mark stale instead (revalidated on next use). Returns how many
   * entries were affected.
   */
  remove(key: string, soft = false): number {
    const [hi, lo] = hashKey(key);
    const entry = this.#read(key, hi, lo);
    let n = 0;
    const variants = entry?.meta.variants ?? [];
    for (let i = 0; i < variants.length; i += 2) {
      if (soft ? this.table.markSoftPurged(variants[i]!, variants[i + 1]!) : this.#removeFound(variants[i]!, variants[i + 1]!)) n++;
    }
    if (soft) {
      if (entry !== null && entry.meta.variants === undefined && this.table.markSoftPurged(hi, lo)) n++;
    } else if (this.#removeFound(hi, lo)) {
      if (entry !== null && entry.meta.variants === undefined) n++;
    }
    return n;
  }

  #removeFound(hi: number, lo: number): boolean {
    if (!this.table.find(hi, lo, this.#ref)) return false;
    return this.table.remove(hi, lo);
  }

  /**
   * For a stale entry: a private copy of it on req.stale (for a 304, or to stand in for an upstream
   * error), and the validator lines to add upstream, or '' when it cannot be revalidated (no
   * validator, the client's own conditional request). Null: the entry was overwritten meanwhile.
   */
  keepStale(req: CacheRequest, ex: Exchange, entry: StoredEntry, validate: boolean): string | null {
    // A private copy: the answer may come long after the ring has moved on.
    const body = Buffer.allocUnsafe(entry.bodyLength);
    copyBytes(body, 0, this.table.arena, entry.bodyOffset, entry.bodyLength);
    if (!this.table.intact(entry.pos)) return null;
    req.stale = { meta: entry.meta, body };
    req.fwd = 'stale';
    if (!validate) return '';
    for (const name of CONDITIONALS) if (ex.header(name) !== undefined) return '';
    const etag = firstField(entry.meta.headers, 'etag');
    const lastModified = firstField(entry.meta.headers, 'last-modified');
    let lines = '';
    if (etag !== undefined) lines += `if-none-match: ${etag}\r\n`;
    if (lastModified !== undefined) lines += `if-modified-since: ${lastModified}\r\n`;
    req.conditional = lines !== '';
    return lines;
  }

  /** Whether a stored entry could be revalidated by this request (it has a validator to send). */
  static hasValidator(meta: EntryMeta): boolean {
    return firstField(meta.headers, 'etag') !== undefined || firstField(meta.headers, 'last-modified') !== undefined;
  }

  /** RFC 9211 Cache-Status value for an answer that went to the upstream. */
  static forwardStatus(req: CacheRequest, upstreamStatus: number): string {
    let v = `portcullis; fwd=${req.fwd}`;
    if (req.stale !== null) v += `; fwd-status=${upstreamStatus}`;
    // 'pending': a body of unknown length that may still turn out too big: not announced.
    if (req.outcome === 'stored') v += req.detail === 'pending' ? '' : '; stored';
    else if (req.detail !== '') v += `; detail=${req.detail}`;
    if (req.collapsed) v += '; collapsed';
    return v;
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}
