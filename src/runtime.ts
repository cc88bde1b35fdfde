// Runtime: a validated Config compiled once into what the request path reads: the routing
// trie, upstream groups (targets, pools, balancers over the shared health table), each route's
// split, retry budget and timeouts, the trusted-proxy matcher. Immutable after build (the
// balancers' cursors and budgets are per generation); a reload builds a new one and swaps the
// reference, and shared state keyed by name (health, canary windows) carries over.
import type { Config, RouteConfig, RouteTimeouts } from './config/types.js';
import { Router } from './router/router.js';
import { compileCidrs, type CidrMatcher } from './net/cidr.js';
import type { UpstreamPool } from './upstream/pool.js';
import { SharedCache } from './cache/shared-cache.js';
import { LocalCachePurge, type CachePurger } from './cache/purge.js';
import { NO_SHARED_SEGMENTS, type SharedSegments } from './shm/segments.js';
import { CompiledUpstream, SILENT, type RuntimeEvents } from './upstream/group.js';
import { TargetTable } from './upstream/health/table.js';
import { RetryBudget } from './upstream/retry.js';
import { RouteSplit } from './upstream/split.js';
import { compileProtection, type Protection, type RoutePolicies } from './policy/compile.js';

export { CompiledUpstream, type RuntimeEvents } from './upstream/group.js';

export interface CompiledRoute {
  readonly config: RouteConfig;
  /** Human name for logs: 'host path' or just the path. */
  readonly name: string;
  /** The group requests go to (the split's first on a split route). */
  readonly upstream: CompiledUpstream;
  /** Weighted split and canary; null when everything goes to `upstream`. */
  readonly split: RouteSplit | null;
  /** Retries over the last 10 s stay within retries.budget of the route's requests (per worker). */
  readonly budget: RetryBudget;
  /** Toward the upstream: the route's own timeouts over the global ones. */
  readonly timeouts: RouteTimeouts;
  /** The route's checks, header edits and rewrite (policy/compile.ts). */
  readonly policies: RoutePolicies;
}

export interface Runtime {
  readonly config: Config;
  readonly router: Router<CompiledRoute>;
  readonly upstreams: ReadonlyMap<string, CompiledUpstream>;
  readonly trusted: CidrMatcher;
  /** Every pool, for the worker clock and shutdown. */
  readonly pools: readonly UpstreamPool[];
  /** The shared cache; null when no route caches. */
  readonly cache: SharedCache | null;
  /** Routes with a split, for the clock's canary checks. */
  readonly splits: readonly RouteSplit[];
  /** Edge protection across routes: redirects, gate scope, shared limiter (policy/compile.ts). */
  readonly protection: Protection;
  /** Purge by URL or prefix (cache/purge.ts; the admin API calls it); null when no route caches. */
  readonly purge: CachePurger | null;
}

export function buildRuntime(config: Config, shm: SharedSegments = NO_SHARED_SEGMENTS, events: RuntimeEvents = SILENT): Runtime {
  let targetCount = 0;
  for (const g of Object.values(config.upstreams)) targetCount += g.targets.length;
  const table = shm.targets !== null ? new TargetTable(shm.targets) : TargetTable.private(targetCount);
  const upstreams = new Map<string, CompiledUpstream>();
  for (const [name, group] of Object.entries(config.upstreams)) {
    upstreams.set(name, new CompiledUpstream(group, table, config.timeouts.connect, config.limits.max_response_header_bytes, events));
  }
  if (table.overflowed > 0) events.log('warn', `${table.overflowed} upstream targets found no room in the shared health table: their health is tracked per worker`);
  const router = new Router<CompiledRoute>();
  const splits: RouteSplit[] = [];
  const protection = compileProtection(config, shm);
  config.routes.forEach((route, i) => {
    const upstream = upstreams.get(route.upstream);
    if (!upstream) throw new Error(`route ${route.index}: unknown upstream ${route.upstream}`);
    const name = route.host ? `${route.host}${route.path}` : route.path;
    const split = route.split !== undefined || route.canary !== undefined ? new RouteSplit(route, name, upstreams, shm.rollouts, events) : null;
    if (split !== null) splits.push(split);
    const own = route.timeouts;
    const timeouts: RouteTimeouts = {
      connect: own?.connect ?? config.timeouts.connect,
      response_header: own?.response_header ?? config.timeouts.response_header,
      idle: own?.idle ?? config.timeouts.idle,
    };
    router.add(route.host, route.path, { config: route, name, upstream, split, budget: new RetryBudget(route.retries.budget), timeouts, policies: protection.routes[i]! });
  });
  const pools = [...upstreams.values()].flatMap((u) => u.pools);
  const cache = shm.cache !== null
    ? new SharedCache(shm.cache, config.cache, compileCidrs(config.cache.purge_allow ?? config.trusted_proxies))
    : null;
  const purge = cache !== null ? new LocalCachePurge(cache, router) : null;
  return { config, router, upstreams, trusted: compileCidrs(config.trusted_proxies), pools, cache, purge, splits, protection };
}

/** The worker clock (every 100 ms): pool deadlines, canary windows. */
export function tick(rt: Runtime, now: number): void {
  for (const pool of rt.pools) pool.sweep(now);
  for (const split of rt.splits) split.tick(now);
}
