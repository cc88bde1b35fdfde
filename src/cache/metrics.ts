// The cache's events in the metrics registry (observe/metrics.ts): handles resolved once at
// load, one inc() per event on the hot path. Requests by outcome (hit, miss, stale, …) are
// counted per route at the end of each exchange (observe/request-metrics.ts,
// portcullis_cache_requests_total); these are the events an outcome does not show.
import { counter } from '../observe/metrics.js';

const stale = counter('portcullis_cache_stale_served_total', 'Stale entries served, by the rule that allowed it', ['reason']);
const collapsed = counter('portcullis_cache_collapsed_total', 'Requests that waited for another request filling the same key, by what they got', ['result']);
const purges = counter('portcullis_cache_purges_total', 'Purge operations, by kind', ['kind']);
const purged = counter('portcullis_cache_purged_entries_total', 'Entries removed or marked stale by purges');
const stores = counter('portcullis_cache_stores_total', 'Entries written to the shared cache');
const storedBytes = counter('portcullis_cache_store_bytes_total', 'Body bytes written to the shared cache');
const servedBytes = counter('portcullis_cache_served_bytes_total', 'Body bytes answered from the shared cache');
const hitPath = counter('portcullis_cache_hit_path_total', 'Hits answered on the hit path: in the request callback, without the general pipeline (cache/hit-path.ts)');
const refreshes = counter('portcullis_cache_background_refreshes_total', 'Background refreshes started for stale-while-revalidate');

export const cacheEvents = {
  staleWhileRevalidate: stale.with('stale-while-revalidate'),
  maxStale: stale.with('max-stale'),
  staleIfError: stale.with('stale-if-error'),
  collapsedHit: collapsed.with('hit'),
  collapsedMiss: collapsed.with('miss'),
  collapsedTimeout: collapsed.with('timeout'),
  purgeExact: purges.with('exact'),
  purgePrefix: purges.with('prefix'),
  purged: purged.with(),
  stored: stores.with(),
  storedBytes: storedBytes.with(),
  servedBytes: servedBytes.with(),
  backgroundRefresh: refreshes.with(),
  hitPath: hitPath.with(),
};
