// The cache phase of the pipeline (pipeline.ts handleCached calls runCachePhase): PURGE, lookup, the
// reuse decision (reuse.ts), answering from the cache (respond.ts), background refresh
// (background.ts), request collapsing (collapse.ts), and otherwise forwarding upstream with
// what the response side (fill.ts) needs: the stale entry kept, validators added, the fill
// marker held until the exchange ends.
//
//   PURGE ─────────────────────────────────────────────────▶ purge.ts
//   not GET/HEAD, body, precondition ──────────────────────▶ forward (fill.ts invalidates)
//   lookup ─ fresh ─────────────────────────────────────────▶ hit
//          ─ stale, stale-while-revalidate ────────────────▶ hit + one background refresh
//          ─ stale, client's max-stale ────────────────────▶ hit
//          ─ stale otherwise / nothing ─ only-if-cached ───▶ 504
//                                      ─ key being filled ─▶ wait (collapse), then lookup again
//                                      ─ else ─────────────▶ claim the fill, keep the stale entry,
//                                                             forward (conditional when it can)
import type { Downstream } from '../downstream/contract.js';
import { ProxyError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { Runtime } from '../runtime.js';
import { respondError, type ExchangeDone } from '../upstream/forward.js';
import { refreshInBackground, type ForwardFn } from './background.js';
import { releaseFill } from './fill.js';
import { cacheEvents } from './metrics.js';
import { handlePurge } from './purge.js';
import { answerFromCache } from './respond.js';
import { reuseOf, ttlOf } from './reuse.js';
import { SharedCache, type CacheRequest } from './shared-cache.js';
import { FLAG_SOFT_PURGED } from '../shm/layout.js';
import { SURROGATE_CAPABILITY_LINE } from './directives.js';
import type { StoredEntry } from './store.js';

/** Runs the cache phase for `ex` (ex.cache set by SharedCache.begin). */
export function runCachePhase(ds: Downstream, ex: Exchange, rt: Runtime, cache: SharedCache, done: ExchangeDone, forward: ForwardFn): void {
  const req = ex.cache!;
  if (ex.head.method === 'PURGE') {
    handlePurge(ds, ex, rt, cache, req, done);
    return;
  }
  if (!req.cacheable) {
    if (req.fwd === 'bypass') req.outcome = 'bypass';
    forward(ds, ex, '', done);
    return;
  }
  lookup(ds, ex, rt, cache, req, done, forward, true);
}

/** Client directives that ask for the upstream anyway: waiting for another fill would not help. */
function wantsUpstream(req: CacheRequest): boolean {
  const cc = req.facts.cacheControl;
  return cc.noCache || cc.maxAge === 0 || cc.minFresh > 0;
}

function lookup(ds: Downstream, ex: Exchange, rt: Runtime, cache: SharedCache, req: CacheRequest, done: ExchangeDone, forward: ForwardFn, mayWait: boolean): void {
  const found = req.found;
  req.found = undefined;
  // Handed over by the hit path, in the request's own turn: its arrival time is now.
  const now = found !== undefined ? ex.startedAt : Date.now();
  const entry = found !== undefined ? found : cache.find(req, ex);
  let stale: StoredEntry | null = null;
  if (entry !== null) {
    const meta = entry.meta;
    const ttl = ttlOf(meta, now, (entry.flags & FLAG_SOFT_PURGED) !== 0);
    const reuse = reuseOf(meta, req.facts.cacheControl, ttl, now);
    if (reuse === 'fresh') {
      req.outcome = 'hit';
      if (req.collapsed) cacheEvents.collapsedHit.inc();
      answer(ds, ex, rt, cache, req, entry, `portcullis; hit; ttl=${ttl}${req.collapsed ? '; collapsed' : ''}`, done, forward);
      return;
    }
    if (reuse !== 'revalidate') {
      req.outcome = 'stale';
      if (reuse === 'stale-while-revalidate') {
        cacheEvents.staleWhileRevalidate.inc();
        refreshInBackground(cache, ex, entry, forward);
      } else {
        cacheEvents.maxStale.inc();
      }
      answer(ds, ex, rt, cache, req, entry, `portcullis; hit; ttl=${ttl}; detail=${reuse}`, done, forward);
      return;
    }
    stale = entry;
  }
  if (req.facts.cacheControl.onlyIfCached) {
    // RFC 9111 §5.2.1.7: nothing stored may answer, and the client forbids asking the upstream.
    req.outcome = 'miss';
    respondError(ds, ex, new ProxyError('PC_ERR_NOT_CACHED'), false);
    done(ex);
    return;
  }
  let end = done;
  const timeout = cache.config.collapse_timeout;
  if (mayWait && timeout > 0 && !wantsUpstream(req) && !cache.skipsCollapse(req.hi, req.lo, now)) {
    const claim = cache.markers.claim(req.hi, req.lo, Math.floor(now / 1000) + Math.ceil(timeout / 1000) + 1);
    if (claim === 'busy') {
      // Another thread holds the marker lock and was preempted: look again on the next turn
      // (a few times), rather than go upstream beside the request filling this key.
      if (req.claimRetries++ < CLAIM_RETRIES) {
        retryLater(ds, ex, () => lookup(ds, ex, rt, cache, req, done, forward, true), done);
        return;
      }
    } else if (claim !== null && !claim.lead) {
      wait(ds, ex, rt, cache, req, done, forward, claim.slot, claim.wake, timeout);
      return;
    } else if (claim !== null && (ex.head.method !== 'GET' || req.range !== undefined)) {
      // Only a GET without Range fills the cache: a HEAD or a ranged miss stores nothing, so it leads no one.
      cache.markers.release(claim.slot, req.hi, req.lo);
    } else if (claim !== null) {
      req.lead = claim.slot;
      end = (e) => { releaseFill(cache, req); done(e); };
    }
  }
  let lines = '';
  if (stale !== null) {
    const meta = stale.meta;
    const forError = !meta.noStale && Math.max(meta.staleIfError, req.facts.cacheControl.staleIfError, cache.config.stale_if_error) >= 0;
    const validate = SharedCache.hasValidator(meta);
    if (validate || forError) lines = cache.keepStale(req, ex, stale, validate) ?? '';
    if (req.stale === null) req.fwd = 'stale';
  }
  forward(ds, ex, SURROGATE_CAPABILITY_LINE + lines, end);
}

/** Lookups retried while the marker lock is busy, one per event-loop turn. */
const CLAIM_RETRIES = 50;

/** Runs `again` on the next event-loop turn unless the client leaves first. */
function retryLater(ds: Downstream, ex: Exchange, again: () => void, done: ExchangeDone): void {
  let gone = false;
  ds.onAbort(() => {
    gone = true;
    ex.clientAborted = true;
    ex.status = 499;
    done(ex);
  });
  setImmediate(() => { if (!gone && !ds.done) again(); });
}

/** Waits for the request filling the same key, then looks up again (and goes upstream itself if still nothing). */
function wait(ds: Downstream, ex: Exchange, rt: Runtime, cache: SharedCache, req: CacheRequest, done: ExchangeDone, forward: ForwardFn,
  slot: number, wake: number, timeout: number): void {
  let gone = false;
  const cancel = cache.waiters.wait(slot, wake, timeout, (released) => {
    if (gone || ds.done) return;
    req.collapsed = true;
    if (!released) cacheEvents.collapsedTimeout.inc();
    else if (cache.find(req, ex) === null) cacheEvents.collapsedMiss.inc();
    lookup(ds, ex, rt, cache, req, done, forward, false);
  });
  ds.onAbort(() => {
    gone = true;
    cancel();
    ex.clientAborted = true;
    ex.status = 499;
    done(ex);
  });
}

/** Answers from a stored entry; if the ring overwrote it before a byte went out, asks the upstream after all. */
function answer(ds: Downstream, ex: Exchange, rt: Runtime, cache: SharedCache, req: CacheRequest, entry: StoredEntry, status: string,
  done: ExchangeDone, forward: ForwardFn): void {
  answerFromCache(ds, ex, rt, cache, req, entry, status, done, () => {
    req.outcome = 'miss';
    req.variant = null;
    forward(ds, ex, SURROGATE_CAPABILITY_LINE, done);
  });
}
