// Which upstream group serves a request on a route with a split or a canary (upstream/split.ts),
// decided once per exchange: the cache's key names that group, and the forward goes to it.
import type { Exchange } from '../exchange.js';
import type { CompiledRoute } from '../runtime.js';
import type { CompiledUpstream } from './group.js';

/**
 * The group a request of this route goes to (the route's split decides, when it has one), chosen
 * once per exchange and kept on it: the cache keys the request by this group (a canary's answer is
 * never stored for, or served to, a request the split sent to another group), and the forward that
 * follows goes where the key says.
 */
export function chooseUpstream(route: CompiledRoute, ex: Exchange): CompiledUpstream {
  let group = ex.upstreamGroup;
  if (group === null) {
    group = route.split === null ? route.upstream : route.split.choose(ex);
    ex.upstreamGroup = group;
  }
  return group;
}

/** Every group a route's requests may go to (its split's and canary's), each once. */
export function routeGroups(route: CompiledRoute): readonly CompiledUpstream[] {
  return route.split === null ? [route.upstream] : route.split.groups;
}
