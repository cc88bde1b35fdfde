// stale-while-revalidate's refresh (RFC 5861 §3): the client got the stale entry at once; one
// request, with no client behind it, revalidates the entry upstream. "One" across all workers:
// the refresh holds the key's fill marker (collapse.ts), so a second stale hit anywhere finds
// it taken and only serves. The refresh goes through the normal forwarder and cache fill with
// a Downstream that discards what it is given.
import type { Downstream, RequestHead } from '../downstream/contract.js';
import { Exchange } from '../exchange.js';
import { requestIdFrom } from '../filters/request-id.js';
import type { ExchangeDone } from '../upstream/forward.js';
import { SURROGATE_CAPABILITY_LINE } from './directives.js';
import { releaseFill } from './fill.js';
import { cacheEvents } from './metrics.js';
import type { SharedCache } from './shared-cache.js';
import type { StoredEntry } from './store.js';

/** Sends an exchange upstream with extra header lines (the pipeline's forward phase); `end` when it is over. */
export type ForwardFn = (ds: Downstream, ex: Exchange, lines: string, end: ExchangeDone) => void;

/** A Downstream with nobody behind it: takes everything, sends nothing. */
export class DetachedDownstream implements Downstream {
  done = false;
  committed = false;
  writeHead(): void { this.committed = true; }
  writeBody(): boolean { return true; }
  onWritable(): void {}
  end(): void { this.done = true; }
  respond(): void { this.done = true; this.committed = true; }
  close(): void { this.done = true; }
  onBody(): void {}
  pauseBody(): void {}
  resumeBody(): void {}
  onAbort(): void {}
}

/** Request headers the refresh does not repeat: the client's range, preconditions and cache directives. */
function isClientOnly(name: string): boolean {
  switch (name) {
    case 'range': case 'if-range': case 'if-none-match': case 'if-modified-since': case 'if-match':
    case 'if-unmodified-since': case 'cache-control': case 'pragma': case 'content-length': case 'transfer-encoding':
    case 'x-request-id':
      return true;
    default:
      return false;
  }
}

/**
 * Starts the one background refresh of a stale entry `ex` was just answered with, unless one is
 * already running for its key (in any worker). Returns whether it started.
 */
export function refreshInBackground(cache: SharedCache, ex: Exchange, entry: StoredEntry, forward: ForwardFn): boolean {
  const base = ex.cache!;
  const deadline = Math.floor(Date.now() / 1000) + 60;
  const claim = cache.markers.claim(base.hi, base.lo, deadline);
  // Busy, full or held elsewhere: a later stale hit starts it (the client is served either way).
  if (claim === null || claim === 'busy' || !claim.lead) return false;
  const headers: string[] = [];
  const h = ex.head.headers;
  for (let i = 0; i < h.length; i += 2) if (!isClientOnly(h[i]!)) headers.push(h[i]!, h[i + 1]!);
  const head: RequestHead = { ...ex.head, method: 'GET', headers };
  const bg = new Exchange(head, Date.now());
  bg.requestId = requestIdFrom(undefined);
  bg.host = ex.host;
  bg.path = ex.path;
  bg.route = ex.route;
  // The entry's group (its key names it): the refresh asks the group that answered it.
  bg.upstreamGroup = ex.upstreamGroup;
  bg.identity = ex.identity;
  bg.identityInput = ex.identityInput;
  bg.clientIp = ex.clientIp;
  const identity = ex.identity!;
  const req = (bg.cache = cache.begin(bg, identity.proto, identity.host));
  req.lead = claim.slot;
  const lines = cache.keepStale(req, bg, entry, true);
  if (lines === null) {
    releaseFill(cache, req);
    return false;
  }
  cacheEvents.backgroundRefresh.inc();
  forward(new DetachedDownstream(), bg, SURROGATE_CAPABILITY_LINE + lines, () => releaseFill(cache, req));
  return true;
}
