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
 * The key a same-host URI reference in a response (Location, Content-Location) names, resolved
 * against the request's URI, or null: another host, a non-HTTP scheme, a path that does not
 * normalise, or a route that does not cache.
 */
export function keyForReference(rt: Runtime, ex: Exchange, reference: string): string | null {
  const identity = ex.identity!;
  const sentHost = ex.header('host') ?? '';
  let url: URL;
  let origin: string;
  try {
    const base = new URL(`${identity.proto}://${sentHost}${ex.head.rawPath}`);
    origin = base.host;
    url = new URL(reference, base);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  // Same origin only: the host as the client sent it (port included; URL lowercases it).
  if (url.host !== origin) return null;
  const path = normalizePath(url.pathname);
  if (path === null) return null;
  const found = routeFor(rt.router, ex.host, path);
  if (found === null || !found.route.config.cache) return null;
  const route = found.route;
  return cacheKey(route.name, route.config.upstream, identity.proto, route.config.host_header ?? sentHost, identity.host, found.path, url.search.slice(1));
}

/** Forgets the request's own key and the keys its Location and Content-Location name. */
export function invalidateAfterUnsafe(rt: Runtime, cache: SharedCache, req: CacheRequest, ex: Exchange, head: ResponseHead): void {
  cache.remove(req.key);
  for (const name of ['location', 'content-location']) {
    const value = firstField(head.headers, name);
    if (value === undefined) continue;
    const key = keyForReference(rt, ex, value);
    if (key !== null && key !== req.key) cache.remove(key);
  }
}
