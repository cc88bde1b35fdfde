// Invalidation (RFC 9111 §4.4): a successful unsafe request (any method but GET, HEAD,
// OPTIONS and TRACE, unknown ones like M-SEARCH included) forgets the stored entries of its
// target URI and of the URIs in its Location and Content-Location, when those are on the same
// host (§4.4: never another origin's entries, so a response cannot evict what it does not own).
import type { Exchange } from '../exchange.js';
import type { ResponseHead } from '../http/response-parser.js';
import { firstField } from '../http/field-list.js';
import { normalizePath } from '../router/normalize.js';
import type { CompiledRoute, Runtime } from '../runtime.js';
import type { Router } from '../router/router.js';
import { cacheKey, type CacheRequest, type SharedCache } from './shared-cache.js';
import { routeGroups } from '../upstream/route-groups.js';

/** The route a path maps to on `host`, and the path the upstream is sent (after strip_prefix). */
export function routeFor(router: Router<CompiledRoute>, host: string, path: string): { route: CompiledRoute; path: string } | null {
  const match = router.find(host, path);
  if (match === null) return null;
  const route = match.value;
  if (route.config.strip_prefix && match.prefix.length > 0) {
    const rest = path.slice(match.prefix.length);
    return { route, path: rest === '' ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}` };
  }
  return { route, path };
}

/**
 * The keys a same-host URI reference in a response (Location, Content-Location) names, resolved
 * against the request's URI (one per upstream group its route may send it to), or none: another
 * host, a non-HTTP scheme, a path that does not normalise, or a route that does not cache.
 */
export function keysForReference(rt: Runtime, ex: Exchange, reference: string): string[] {
  const identity = ex.identity!;
  const sentHost = ex.header('host') ?? '';
  let url: URL;
  let origin: string;
  try {
    const base = new URL(`${identity.proto}://${sentHost}${ex.head.rawPath}`);
    origin = base.host;
    url = new URL(reference, base);
  } catch {
    return [];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return [];
  // Same origin only: the host as the client sent it (port included; URL lowercases it).
  if (url.host !== origin) return [];
  const path = normalizePath(url.pathname);
  if (path === null) return [];
  const found = routeFor(rt.router, ex.host, path);
  if (found === null || !found.route.config.cache) return [];
  const route = found.route;
  return keysOfUrl(route, identity.proto, route.config.host_header ?? sentHost, identity.host, found.path, url.search.slice(1));
}

/** A URL's key under each upstream group its route may send it to (cacheKey: the group is part of it). */
export function keysOfUrl(route: CompiledRoute, proto: string, sentHost: string, forwardedHost: string, path: string, query: string): string[] {
  return routeGroups(route).map((group) => cacheKey(route.name, group.name, proto, sentHost, forwardedHost, path, query));
}

/** The exchange's URL's keys (SharedCache.begin's parts) under every upstream group of its route. */
export function requestKeys(ex: Exchange): string[] {
  const route = ex.route!;
  const identity = ex.identity!;
  return keysOfUrl(route, identity.proto, route.config.host_header ?? ex.header('host') ?? '', identity.host, ex.path, ex.head.query);
}

/**
 * Forgets the request's own URL and the URLs its Location and Content-Location name, under every
 * upstream group of their routes (a write through the canary changes what the stable group serves too).
 */
export function invalidateAfterUnsafe(rt: Runtime, cache: SharedCache, req: CacheRequest, ex: Exchange, head: ResponseHead): void {
  const removed = new Set<string>([req.key]);
  cache.remove(req.key);
  const own = requestKeys(ex);
  for (const name of ['location', 'content-location']) {
    const value = firstField(head.headers, name);
    if (value !== undefined) own.push(...keysForReference(rt, ex, value));
  }
  for (const key of own) {
    if (removed.has(key)) continue;
    removed.add(key);
    cache.remove(key);
  }
}
