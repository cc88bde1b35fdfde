// The set of shared buffers a proxy process runs with: which exist for a config, allocated
// once by the primary, handed to every worker in workerData (messages.ts WorkerBoot) and kept
// across worker restarts and config reloads. Each segment's layout, with its diagram, lives in
// its own file here in src/shm/ (layout.ts: the cache; metrics.ts: the metrics; rate-table.ts
// and counter-table.ts: rate limits and per-client counts); this file
// only says which are allocated.
//
// What a reload may change about them (primary/reload.ts refuses the rest, naming a restart):
//   cache     allocated at the first config (or the first reload) with a caching route, at
//             cache.size; a later cache.size takes a restart (the entries live in it)
//   metrics   one column per worker slot, sized by the worker count at start: `workers`
//             takes a restart
//   rateLimit, concurrency   allocated at the first config (or the first reload) that limits;
//             limits.rate_limit_keys is fixed by the first allocation (a later change takes a
//             restart); buckets and counts carry over a reload (keys name routes, not indexes)
import type { Config } from '../config/types.js';
import { allocateCacheMemory, type CacheMemory } from './layout.js';
import { allocateRateTable, type RateTableMemory } from './rate-table.js';
import { allocateCounterTable, type CounterTableMemory } from './counter-table.js';
import { allocateMetricsMemory, type MetricsMemory } from './metrics.js';

export interface SharedSegments {
  /** The shared HTTP cache (index + arena), or null when no route caches. */
  readonly cache: CacheMemory | null;
  /** Token buckets of rate_limit and limits.connection_rate_per_ip (rate-table.ts), or null when none is set. */
  readonly rateLimit: RateTableMemory | null;
  /** In-flight requests per client IP and open connections per peer (limits.max_requests_per_ip, max_connections_per_ip: counter-table.ts), or null. */
  readonly concurrency: CounterTableMemory | null;
  /** Every worker's metrics (a column each), or null outside the supervisor. */
  readonly metrics: MetricsMemory | null;
}

/** No shared memory: a runtime built outside the supervisor (tools, unit tests). */
export const NO_SHARED_SEGMENTS: SharedSegments = Object.freeze({ cache: null, rateLimit: null, concurrency: null, metrics: null });

/** Whether the config needs the rate table (a route's rate_limit, or limits.connection_rate_per_ip). */
export function wantsRateTable(config: Config): boolean {
  return config.routes.some((r) => r.rate_limit !== undefined) || config.limits.connection_rate_per_ip !== undefined;
}

/** Whether the config needs the counter table (limits.max_requests_per_ip or max_connections_per_ip). */
export function wantsCounterTable(config: Config): boolean {
  return config.limits.max_requests_per_ip !== undefined || config.limits.max_connections_per_ip !== undefined;
}

/** Whether the config needs the cache segment (some route caches). */
export function wantsCache(config: Config): boolean {
  return config.routes.some((r) => r.cache);
}

export function allocateSegments(config: Config, workers: number): SharedSegments {
  return {
    // Only when some route caches: otherwise no memory is set aside.
    cache: wantsCache(config) ? allocateCacheMemory(config.cache.size) : null,
    rateLimit: wantsRateTable(config) ? allocateRateTable(config.limits.rate_limit_keys) : null,
    concurrency: wantsCounterTable(config) ? allocateCounterTable() : null,
    metrics: allocateMetricsMemory(workers),
  };
}
