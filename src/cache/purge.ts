// Purging: the small interface the admin API (and later a shared store) calls, its local
// implementation over this process's shared cache, and the PURGE method on caching routes.
//
//   CachePurger.purge('https://example.com/a?b=1')                    the URL's entry (all its Vary variants)
//   CachePurger.purge('https://example.com/static/', { prefix: true }) every entry whose URL starts so
//   CachePurger.purge(url, { soft: true })                             mark stale instead: revalidated on next
//                                                                       use, and still allowed to serve stale
//                                                                       (stale-while-revalidate, stale-if-error)
//
//   PURGE /a HTTP/1.1                   from cache.purge_allow (default: trusted_proxies), else 403
//   Portcullis-Purge: prefix, soft      optional
import type { Downstream } from '../downstream/contract.js';
import { ProxyError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import { splitList } from './directives.js';
import { normalizeHost } from '../router/host.js';
import { normalizePath } from '../router/normalize.js';
import type { Router } from '../router/router.js';
import type { CompiledRoute, Runtime } from '../runtime.js';
import { respondError, type ExchangeDone } from '../upstream/forward.js';
import { keysOfUrl, requestKeys, routeFor } from './invalidate.js';
import { cacheEvents } from './metrics.js';
import { keyUrl, type CacheRequest, type SharedCache } from './shared-cache.js';
import { readEntry } from './store.js';
import type { EntryRef } from './table.js';

export interface PurgeOptions {
  /** Every entry whose URL starts with the given one (same scheme and host, path prefix). */
  readonly prefix?: boolean;
  /** Mark stale instead of removing. */
  readonly soft?: boolean;
}

export interface PurgeResult {
  /** Entries removed (or marked stale). */
  readonly purged: number;
}

/**
 * Purge by URL or URL prefix. The one interface a cache shared between hosts (Redis, later)
 * implements too; the admin API calls it (cache/admin-purge.ts gives the primary its own).
 */
export interface CachePurger {
  /** `urlOrPrefix`: absolute, `http(s)://host[:port]/path[?query]` (the Host clients send, port included). */
  purge(urlOrPrefix: string, options?: PurgeOptions): Promise<PurgeResult>;
}

/** Index slots examined per event-loop turn during a prefix scan: the worker keeps serving meanwhile. */
const SCAN_BATCH = 4096;

/** Purges this process's shared cache (any thread may own one: a worker, or the primary for the admin API). */
export class LocalCachePurge implements CachePurger {
  readonly #cache: SharedCache;
  readonly #router: Router<CompiledRoute>;

  constructor(cache: SharedCache, router: Router<CompiledRoute>) {
    this.#cache = cache;
    this.#router = router;
  }

  async purge(url: string, options: PurgeOptions = {}): Promise<PurgeResult> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`purge: not an absolute URL: ${url}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`purge: not an http(s) URL: ${url}`);
    const scheme = parsed.protocol.slice(0, -1);
    const soft = options.soft === true;
    if (options.prefix === true) {
      cacheEvents.purgePrefix.inc();
      return { purged: await this.#scan(scheme, parsed.host, parsed.pathname + parsed.search, soft) };
    }
    cacheEvents.purgeExact.inc();
    const host = normalizeHost(parsed.host);
    const path = normalizePath(parsed.pathname);
    if (host === null || path === null) return { purged: 0 };
    const found = routeFor(this.#router, host, path);
    if (found === null || !found.route.config.cache) return { purged: 0 };
    const route = found.route;
    // The URL's entry under each group the route may send it to (its split's and canary's).
    let n = 0;
    for (const key of keysOfUrl(route, scheme, route.config.host_header ?? parsed.host, parsed.host, found.path, parsed.search.slice(1))) {
      n += this.#cache.remove(key, soft);
    }
    cacheEvents.purged.inc(n);
    return { purged: n };
  }

  /** Every slot whose entry's URL matches, in batches so the event loop keeps turning. */
  async #scan(scheme: string, host: string, prefix: string, soft: boolean): Promise<number> {
    const table = this.#cache.table;
    const ref: EntryRef = { pos: 0, length: 0, flags: 0 };
    let n = 0;
    for (let start = 0; start < table.slotCount; start += SCAN_BATCH) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      const end = Math.min(table.slotCount, start + SCAN_BATCH);
      for (let i = start; i < end; i++) {
        const hash = table.slotAt(i, ref);
        if (hash === null) continue;
        const entry = readEntry(table, ref, hash[0], hash[1]);
        if (entry === null) continue;
        const u = keyUrl(entry.meta.key);
        // Compressed variants are reached through their base entry: they go with it. The target
        // is the client's (on a strip_prefix route the key holds the path the upstream is told).
        if (u === null || entry.meta.encoding !== '' || u.scheme !== scheme || u.host !== host || !(entry.meta.target ?? u.target).startsWith(prefix)) continue;
        if (soft ? table.markSoftPurged(hash[0], hash[1]) : table.remove(hash[0], hash[1])) {
          if (entry.meta.variants === undefined) n++;
        }
      }
    }
    cacheEvents.purged.inc(n);
    return n;
  }
}

/** The Portcullis-Purge request header: `prefix` and/or `soft`. */
function purgeOptions(value: string | undefined): { prefix: boolean; soft: boolean } {
  const tokens = value === undefined ? [] : splitList(value).map((t) => t.trim().toLowerCase());
  return { prefix: tokens.includes('prefix'), soft: tokens.includes('soft') };
}

/**
 * PURGE on a caching route: from an allowed client address, removes (or marks stale) the
 * request's entry, or with `Portcullis-Purge: prefix` every entry under its URL, and answers
 * 200 with `{"purged":N}`; from anyone else, 403. Never reaches the upstream.
 */
export function handlePurge(ds: Downstream, ex: Exchange, rt: Runtime, cache: SharedCache, req: CacheRequest, done: ExchangeDone): void {
  req.outcome = 'purge';
  if (!cache.purgeAllowed(ex.clientIp)) {
    respondError(ds, ex, new ProxyError('PC_ERR_PURGE_FORBIDDEN', ex.clientIp), false);
    done(ex);
    return;
  }
  const options = purgeOptions(ex.header('portcullis-purge'));
  const answer = (purged: number): void => {
    if (ds.done) return;
    const body = `{"purged":${purged}}\n`;
    ex.status = 200;
    ex.responseBytes = ex.head.method === 'HEAD' ? 0 : Buffer.byteLength(body);
    ds.respond(200, '', ['content-type', 'application/json', 'cache-control', 'no-store'], body, false, false);
    done(ex);
  };
  if (!options.prefix) {
    cacheEvents.purgeExact.inc();
    // The URL under each upstream group of its route (a canary's entry included).
    let n = cache.remove(req.key, options.soft);
    for (const key of requestKeys(ex)) if (key !== req.key) n += cache.remove(key, options.soft);
    cacheEvents.purged.inc(n);
    answer(n);
    return;
  }
  ds.onAbort(() => {
    ex.clientAborted = true;
    ex.status = 499;
    done(ex);
  });
  const identity = ex.identity!;
  const url = `${identity.proto}://${identity.host}${ex.head.rawPath}${ex.head.query === '' ? '' : `?${ex.head.query}`}`;
  rt.purge!.purge(url, { prefix: true, soft: options.soft }).then((r) => answer(r.purged), () => answer(0));
}
