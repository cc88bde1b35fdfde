// The set of shared buffers a proxy process runs with: which exist for a config, allocated
// once by the primary, handed to every worker in workerData (messages.ts WorkerBoot) and kept
// across worker restarts. Each segment's layout, with its diagram, lives in its own file here
// in src/shm/ (layout.ts: the cache; target-table.ts: upstream health and addresses;
// rollout.ts: canary windows); this file only says which are allocated.
import type { Config } from '../config/types.js';
import { allocateCacheMemory, type CacheMemory } from './layout.js';
import { allocateRollouts, H_LOCK as ROLLOUT_LOCK, type RolloutMemory } from './rollout.js';
import { releaseClaimOf } from './slots.js';
import { allocateTargetTable, H_LOCK as TARGET_LOCK, type TargetTableMemory } from './target-table.js';

export interface SharedSegments {
  /** The shared HTTP cache (index + arena), or null when no route caches. */
  readonly cache: CacheMemory | null;
  /** Health, ejection and addresses of every upstream target; null: private to each runtime. */
  readonly targets: TargetTableMemory | null;
  /** Canary windows and rollback flags; null: private to each runtime. */
  readonly rollouts: RolloutMemory | null;
}

/** No shared memory: a runtime built outside the supervisor (tools, unit tests). */
export const NO_SHARED_SEGMENTS: SharedSegments = Object.freeze({ cache: null, targets: null, rollouts: null });

export function allocateSegments(config: Config): SharedSegments {
  let targets = 0;
  for (const group of Object.values(config.upstreams)) targets += group.targets.length;
  return {
    // Only when some route caches: otherwise no memory is set aside.
    cache: config.routes.some((r) => r.cache) ? allocateCacheMemory(config.cache.size) : null,
    // Always (about 0.25 MiB and 0.33 MiB): a reload may add health checks or canaries.
    targets: allocateTargetTable(targets),
    rollouts: allocateRollouts(),
  };
}

/** A worker died: frees the keyed tables' claim locks if it held one (the cache has its own). */
export function releaseClaimsOf(shm: SharedSegments, threadId: number): void {
  if (shm.targets !== null) releaseClaimOf(new Int32Array(shm.targets.buffer), TARGET_LOCK, threadId);
  if (shm.rollouts !== null) releaseClaimOf(new Int32Array(shm.rollouts.buffer), ROLLOUT_LOCK, threadId);
}
