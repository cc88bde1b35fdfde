// The set of shared buffers a proxy process runs with: which exist for a config, allocated
// once by the primary, handed to every worker in workerData (messages.ts WorkerBoot) and kept
// across worker restarts. Each segment's layout, with its diagram, lives in its own file here
// in src/shm/ (layout.ts: the cache); this file only says which are allocated.
import type { Config } from '../config/types.js';
import { allocateCacheMemory, type CacheMemory } from './layout.js';
import { allocateRateTable, type RateTableMemory } from './rate-table.js';
import { allocateCounterTable, type CounterTableMemory } from './counter-table.js';

export interface SharedSegments {
  /** The shared HTTP cache (index + arena), or null when no route caches. */
  readonly cache: CacheMemory | null;
  /** Token buckets of rate_limit and limits.connection_rate_per_ip (rate-table.ts), or null when none is set. */
  readonly rateLimit: RateTableMemory | null;
  /** In-flight requests per client IP and open connections per peer (limits.max_requests_per_ip, max_connections_per_ip: counter-table.ts), or null. */
  readonly concurrency: CounterTableMemory | null;
}

/** No shared memory: a runtime built outside the supervisor (tools, unit tests). */
export const NO_SHARED_SEGMENTS: SharedSegments = Object.freeze({ cache: null, rateLimit: null, concurrency: null });

export function allocateSegments(config: Config): SharedSegments {
  return {
    // Only when some route caches: otherwise no memory is set aside.
    cache: config.routes.some((r) => r.cache) ? allocateCacheMemory(config.cache.size) : null,
    rateLimit: config.routes.some((r) => r.rate_limit !== undefined) || config.limits.connection_rate_per_ip !== undefined
      ? allocateRateTable(config.limits.rate_limit_keys)
      : null,
    concurrency: config.limits.max_requests_per_ip !== undefined || config.limits.max_connections_per_ip !== undefined ? allocateCounterTable() : null,
  };
}
