// Router: the immutable (host, path) → value table built from a config's flat route list.
// Host precedence: exact host, then *.suffix wildcards (longest suffix first), then
// host-less routes; a path that matches nothing under one host falls through to the next.

import { HostTable, formatHostPattern, parseHostPattern } from './host.js';
import { RouteConflictError } from './route-conflict-error.js';
import { PathTrie, type RouteMatch } from './trie.js';

export type { RouteMatch } from './trie.js';
export { RouteConflictError } from './route-conflict-error.js';

export class Router<T> {
  readonly #hosts = new HostTable<PathTrie<T>>();

  /**
   * Adds a route. `host`: exact host, '*.example.com', or undefined / '*' for any host.
   * Throws RouteConflictError on an invalid host or pattern, or a duplicate (host, path).
   * Call only while building: once published, a Router is shared read-only.
   */
  add(host: string | undefined, pattern: string, value: T): void {
    const hp = parseHostPattern(host);
    if (hp === null) throw new RouteConflictError(host ?? '*', pattern, `invalid host '${host}'`);
    let trie = this.#hosts.get(hp);
    if (trie === undefined) {
      trie = new PathTrie<T>(formatHostPattern(hp));
      this.#hosts.set(hp, trie);
    }
    trie.add(pattern, value);
  }

  /** Hot path. `host` from normalizeHost, `path` from normalizePath. */
  find(host: string, path: string): RouteMatch<T> | null {
    return this.#hosts.resolve(host, matchTrie<T>, path);
  }
}

// Module-level so resolve() gets the same function every call (no closure per request).
function matchTrie<T>(trie: PathTrie<T>, path: string): RouteMatch<T> | null {
  return trie.match(path);
}
