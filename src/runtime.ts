// Runtime: a validated Config compiled once into what the request path reads: the
// routing trie, upstream groups with their per-worker pools, the trusted-proxy matcher.
// Immutable after build; a reload builds a new one and swaps the reference.
import type { Config, RouteConfig, UpstreamGroup } from './config/types.js';
import { Router } from './router/router.js';
import { compileCidrs, type CidrMatcher } from './net/cidr.js';
import { UpstreamPool } from './upstream/pool.js';
import { SharedCache } from './cache/shared-cache.js';
import { NO_SHARED_SEGMENTS, type SharedSegments } from './shm/segments.js';
import { compileProtection, type Protection, type RoutePolicies } from './policy/compile.js';

export interface CompiledUpstream {
  readonly name: string;
  readonly pools: readonly UpstreamPool[];
  /** Round-robin cursor (per worker; the balancer issue replaces this policy). */
  next: number;
}

export interface CompiledRoute {
  readonly config: RouteConfig;
  /** Human name for logs: 'host path' or just the path. */
  readonly name: string;
  readonly upstream: CompiledUpstream;
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
  /** Edge protection across routes: redirects, gate scope, shared limiter (policy/compile.ts). */
  readonly protection: Protection;
}

function compileUpstream(group: UpstreamGroup, config: Config): CompiledUpstream {
  const pools = group.targets.map(
    (t) => new UpstreamPool(t, group.pool, config.timeouts.connect, config.limits.max_response_header_bytes),
  );
  return { name: group.name, pools, next: 0 };
}

export function buildRuntime(config: Config, shm: SharedSegments = NO_SHARED_SEGMENTS): Runtime {
  const upstreams = new Map<string, CompiledUpstream>();
  for (const [name, group] of Object.entries(config.upstreams)) upstreams.set(name, compileUpstream(group, config));
  const router = new Router<CompiledRoute>();
  const protection = compileProtection(config, shm);
  config.routes.forEach((route, i) => {
    const upstream = upstreams.get(route.upstream);
    if (!upstream) throw new Error(`route ${route.index}: unknown upstream ${route.upstream}`);
    const name = route.host ? `${route.host}${route.path}` : route.path;
    router.add(route.host, route.path, { config: route, name, upstream, policies: protection.routes[i]! });
  });
  const pools = [...upstreams.values()].flatMap((u) => u.pools);
  const cache = shm.cache !== null ? new SharedCache(shm.cache, config.cache) : null;
  return { config, router, upstreams, trusted: compileCidrs(config.trusted_proxies), pools, cache, protection };
}

/** Round-robin over the group's targets. */
export function selectPool(upstream: CompiledUpstream): UpstreamPool {
  const pools = upstream.pools;
  if (pools.length === 1) return pools[0]!;
  const pool = pools[upstream.next % pools.length]!;
  upstream.next = (upstream.next + 1) % pools.length;
  return pool;
}
