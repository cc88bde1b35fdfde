// The set of shared buffers a proxy process runs with: which exist for a config, allocated
// once by the primary, handed to every worker in workerData (messages.ts WorkerBoot) and kept
// across worker restarts and config reloads. Each segment's layout, with its diagram, lives in
// its own file here in src/shm/ (layout.ts: the cache; metrics.ts: the metrics); this file
// only says which are allocated.
//
// What a reload may change about them (primary/reload.ts refuses the rest, naming a restart):
//   cache     allocated at the first config (or the first reload) with a caching route, at
//             cache.size; a later cache.size takes a restart (the entries live in it)
//   metrics   one column per worker slot, sized by the worker count at start: `workers`
//             takes a restart
import type { Config } from '../config/types.js';
import { allocateCacheMemory, type CacheMemory } from './layout.js';
import { allocateMetricsMemory, type MetricsMemory } from './metrics.js';

export interface SharedSegments {
  /** The shared HTTP cache (index + arena), or null when no route caches. */
  readonly cache: CacheMemory | null;
  /** Every worker's metrics (a column each), or null outside the supervisor. */
  readonly metrics: MetricsMemory | null;
}

/** No shared memory: a runtime built outside the supervisor (tools, unit tests). */
export const NO_SHARED_SEGMENTS: SharedSegments = Object.freeze({ cache: null, metrics: null });

/** Whether the config needs the cache segment (some route caches). */
export function wantsCache(config: Config): boolean {
  return config.routes.some((r) => r.cache);
}

export function allocateSegments(config: Config, workers: number): SharedSegments {
  return {
    // Only when some route caches: otherwise no memory is set aside.
    cache: wantsCache(config) ? allocateCacheMemory(config.cache.size) : null,
    metrics: allocateMetricsMemory(workers),
  };
}
