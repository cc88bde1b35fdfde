// The set of shared buffers a proxy process runs with: which exist for a config, allocated
// once by the primary, handed to every worker in workerData (messages.ts WorkerBoot) and kept
// across worker restarts and config reloads. Each segment's layout, with its diagram, lives in
// its own file here in src/shm/ (layout.ts: the cache; metrics.ts: the metrics; rate-table.ts
// and counter-table.ts: rate limits and per-client counts; target-table.ts: upstream health,
// ejections and addresses; rollout.ts: canary windows); this file only says which are allocated.
//
// What a reload may change about them (primary/reload.ts refuses the rest, naming a restart):
//   cache     allocated at the first config (or the first reload) with a caching route, at
//             cache.size; a later cache.size takes a restart (the entries live in it)
//   metrics   one column per worker slot, sized by the worker count at start: `workers`
//             takes a restart
//   rateLimit, concurrency   allocated at the first config (or the first reload) that limits;
//             limits.rate_limit_keys is fixed by the first allocation (a later change takes a
//             restart); buckets and counts carry over a reload (keys name routes, not indexes)
//   targets   keyed by upstream name + target URL, at least 1024 slots (4 × the targets at
//             start): a reload finds its targets' state again and adds new ones; past the
//   rollouts  room, a target's (or canary's) state is kept per worker, with a warning
import type { Config } from '../config/types.js';
import { allocateCacheMemory, type CacheMemory } from './layout.js';
import { allocateRateTable, type RateTableMemory } from './rate-table.js';
import { allocateCounterTable, type CounterTableMemory } from './counter-table.js';
import { allocateMetricsMemory, type MetricsMemory } from './metrics.js';
import { allocateRollouts, H_LOCK as ROLLOUT_LOCK, type RolloutMemory } from './rollout.js';
import { releaseClaimOf } from './slots.js';
import { allocateTargetTable, H_LOCK as TARGET_LOCK, type TargetTableMemory } from './target-table.js';

export interface SharedSegments {
  /** The shared HTTP cache (index + arena), or null when no route caches. */
  readonly cache: CacheMemory | null;
  /** Token buckets of rate_limit and limits.connection_rate_per_ip (rate-table.ts), or null when none is set. */
  readonly rateLimit: RateTableMemory | null;
  /** In-flight requests per client IP and open connections per peer (limits.max_requests_per_ip, max_connections_per_ip: counter-table.ts), or null. */
  readonly concurrency: CounterTableMemory | null;
  /** Every worker's metrics (a column each), or null outside the supervisor. */
  readonly metrics: MetricsMemory | null;
  /** Health, ejection and addresses of every upstream target; null: private to each runtime. */
  readonly targets: TargetTableMemory | null;
  /** Canary windows and rollback flags; null: private to each runtime. */
  readonly rollouts: RolloutMemory | null;
}

/** No shared memory: a runtime built outside the supervisor (tools, unit tests). */
export const NO_SHARED_SEGMENTS: SharedSegments = Object.freeze({ cache: null, rateLimit: null, concurrency: null, metrics: null, targets: null, rollouts: null });

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
  let targets = 0;
  for (const group of Object.values(config.upstreams)) targets += group.targets.length;
  return {
    // Only when some route caches: otherwise no memory is set aside.
    cache: wantsCache(config) ? allocateCacheMemory(config.cache.size) : null,
    rateLimit: wantsRateTable(config) ? allocateRateTable(config.limits.rate_limit_keys) : null,
    concurrency: wantsCounterTable(config) ? allocateCounterTable() : null,
    metrics: allocateMetricsMemory(workers),
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
