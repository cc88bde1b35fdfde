// The set of shared buffers a proxy process runs with: which exist for a config, allocated
// once by the primary, handed to every worker in workerData (messages.ts WorkerBoot) and kept
// across worker restarts. Each segment's layout, with its diagram, lives in its own file here
// in src/shm/ (layout.ts: the cache); this file only says which are allocated.
import type { Config } from '../config/types.js';
import { allocateCacheMemory, type CacheMemory } from './layout.js';

export interface SharedSegments {
  /** The shared HTTP cache (index + arena), or null when no route caches. */
  readonly cache: CacheMemory | null;
}

/** No shared memory: a runtime built outside the supervisor (tools, unit tests). */
export const NO_SHARED_SEGMENTS: SharedSegments = Object.freeze({ cache: null });

export function allocateSegments(config: Config): SharedSegments {
  return {
    // Only when some route caches: otherwise no memory is set aside.
    cache: config.routes.some((r) => r.cache) ? allocateCacheMemory(config.cache.size) : null,
  };
}
