// The primary's purger (the admin API's POST /cache/purge): a LocalCachePurge over the shared
// memory the primary allocated, with the routes of the config generation it is given (a URL is
// resolved to its key as a request would be). One per config generation; null when no route
// caches. Building a Runtime opens no connection.
import type { Config } from '../config/types.js';
import { buildRuntime } from '../runtime.js';
import type { SharedSegments } from '../shm/segments.js';
import type { CachePurger } from './purge.js';

const byConfig = new WeakMap<Config, CachePurger | null>();

export function purgerFor(config: Config, segments: SharedSegments): CachePurger | null {
  let purger = byConfig.get(config);
  if (purger === undefined) {
    purger = segments.cache === null || !config.routes.some((r) => r.cache) ? null : buildRuntime(config, segments).purge;
    byConfig.set(config, purger);
  }
  return purger;
}
