// PathTrie: the routes of one host as a radix tree over normalised paths, matched
// iteratively with a backtrack stack (find-my-way style): static > param > prefix.
//
//   '/users/:id/posts/' is stored as
//
//   root ─'/'─┬─ 'users/' ──param──▶ ParamNode ─next─▶ '' ─'/posts/' (prefix leaf)
//             └─ 'admin'  (exact leaf)
//
// A StaticNode's label is matched char by char; its first char was already matched by
// the parent's child index. Param children hang only off nodes whose label ends in '/'.

import { EXACT, PARAM, WILDCARD, parsePattern, type PatternKind } from './pattern.js';
import { RouteConflictError } from './route-conflict-error.js';

export interface RouteMatch<T> {
  readonly value: T;
  /** Parameter values (still percent-encoded, as in the normalised path); null when the route has none. */
  readonly params: Record<string, string> | null;
  /**
   * The normalised-path prefix the pattern consumed, for strip_prefix: for '/v1/'
   * matching '/v1/users' it is '/v1' (strip gives '/users'); for an exact match it is
   * the whole path (strip gives '/'); for '/' it is ''.
   */
  readonly prefix: string;
}

class Leaf<T> {
  /** The whole answer when it does not depend on the path: returned without allocating. */
  readonly fixed: RouteMatch<T> | null;

  constructor(
    readonly pattern: string,
    readonly value: T,
    readonly names: readonly string[],
    readonly kind: PatternKind,
  ) {
    if (names.length > 0 || kind === WILDCARD) this.fixed = null;
    // Matched char for char, so an exact path equals its pattern and a prefix route
    // always consumes the same static text.
    else if (kind === EXACT) this.fixed = Object.freeze({ value, params: null, prefix: pattern });
    else this.fixed = Object.freeze({ value, params: null, prefix: pattern.slice(0, -1) });
  }
}

class StaticNode<T> {
  label: string;
  /** Indexed by the child label's first char code (normalised paths are ASCII). */
  children: (StaticNode<T> | undefined)[] | null = null;
  param: ParamNode<T> | null = null;
  /** Route matching when the path ends right after this label. */
  exact: Leaf<T> | null = null;
  /** PREFIX or WILDCARD route ending with this label (which then ends in '/'). */
  prefix: Leaf<T> | null = null;

  constructor(label: string) {
    this.label = label;
  }
}

class ParamNode<T> {
  /** Route matching when the parameter is the last segment. */
  exact: Leaf<T> | null = null;
  /** What follows the parameter: a root whose children start with '/'. */
  next: StaticNode<T> | null = null;
}

export class PathTrie<T> {
  readonly #host: string;
  readonly #root = new StaticNode<T>('');
  // Scratch for match(), sized by add() so a lookup never grows or allocates it. Safe
  // to share because match() is synchronous and a trie lives in one thread.
  // Backtrack stack: #stackNodes[k], with #stackInts[2k] = pos and [2k+1] = nParams.
  // Its entries sit at distinct '/' depths of one trie branch, so the deepest pattern
  // bounds it. #bounds holds param value bounds: [start0, end0, start1, end1, ...].
  readonly #stackNodes: (ParamNode<T> | null)[] = [];
  readonly #stackInts: number[] = [];
  readonly #bounds: number[] = [];

  /** `host` is only used to name this trie in error messages. */
  constructor(host: string) {
    this.#host = host;
  }

  /** Adds a route; throws RouteConflictError for an invalid pattern or a duplicate. */
  add(pattern: string, value: T): void {
    const parsed = parsePattern(pattern);
    if (typeof parsed === 'string') throw new RouteConflictError(this.#host, pattern, parsed);
    const { parts, names, kind } = parsed;
    const leaf = new Leaf(pattern, value, names, kind);
    const depth = pattern.split('/').length + 1;
    while (this.#stackNodes.length < depth) this.#stackNodes.push(null);
    while (this.#stackInts.length < 2 * depth) this.#stackInts.push(0);
    while (this.#bounds.length < 2 * (names.length + 1)) this.#bounds.push(0);
    let node = this.#root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part !== PARAM) {
        node = insertStatic(node, part);
        continue;
      }
      const param = (node.param ??= new ParamNode());
      if (i === parts.length - 1) {
        if (param.exact !== null) this.#conflict(pattern, param.exact);
        param.exact = leaf;
        return;
      }
      node = param.next ??= new StaticNode('');
    }
    if (kind === EXACT) {
      if (node.exact !== null) this.#conflict(pattern, node.exact);
      node.exact = leaf;
    } else {
      if (node.prefix !== null) this.#conflict(pattern, node.prefix);
      node.prefix = leaf;
    }
  }

  #conflict(pattern: string, existing: Leaf<T>): never {
    throw new RouteConflictError(this.#host, pattern, `conflicts with ${this.#host} ${existing.pattern}`, {
      pattern: existing.pattern,
      value: existing.value,
    });
  }

  /**
   * Hot path. `path` must be normalised (normalizePath). Depth first: at each node the
   * static child is tried, then the param child, then the node's prefix route. A prefix
   * route always matches, so instead of stacking it we remember the deepest one seen and
   * drop the param alternatives stacked before it (they rank below it). Nothing is
   * allocated unless the result depends on the path (params, star): a route without
   * params answers with its precomputed frozen result.
   */
  match(path: string): RouteMatch<T> | null {
    const len = path.length;
    let node = this.#root;
    let pos = 0;
    let fallback: Leaf<T> | null = null;
    let fallbackPos = 0;
    const bounds = this.#bounds;
    let nParams = 0; // live pairs in bounds
    const stackNodes = this.#stackNodes;
    const stackInts = this.#stackInts;
    let top = 0;

    for (;;) {
      const label = node.label;
      const n = label.length;
      let ok = pos + n <= len;
      for (let i = 1; ok && i < n; i++) ok = path.charCodeAt(pos + i) === label.charCodeAt(i);
      if (ok) {
        pos += n;
        if (pos === len) {
          const leaf = node.exact ?? node.prefix;
          if (leaf !== null) return result(leaf, path, pos, bounds);
        } else {
          if (node.prefix !== null) {
            fallback = node.prefix;
            fallbackPos = pos;
            top = 0;
          }
          if (node.param !== null) {
            stackNodes[top] = node.param;
            stackInts[2 * top] = pos;
            stackInts[2 * top + 1] = nParams;
            top++;
          }
          const children = node.children;
          if (children !== null) {
            const child = children[path.charCodeAt(pos)];
            if (child !== undefined) {
              node = child;
              continue;
            }
          }
        }
      }

      // Backtrack: the most recent param alternative, else the deepest prefix route.
      let resumed = false;
      while (top > 0) {
        top--;
        const param = stackNodes[top]!;
        const start = stackInts[2 * top]!;
        nParams = stackInts[2 * top + 1]!;
        let end = path.indexOf('/', start);
        if (end === -1) end = len;
        if (end === start) continue; // empty segment: only in a non-normalised path
        bounds[2 * nParams] = start;
        bounds[2 * nParams + 1] = end;
        nParams++;
        if (end === len) {
          if (param.exact !== null) return result(param.exact, path, end, bounds);
        } else if (param.next !== null) {
          node = param.next;
          pos = end;
          resumed = true;
          break;
        }
      }
      if (resumed) continue;
      if (fallback === null) return null;
      // The fallback's own params are intact in `bounds`: everything explored after it
      // was recorded wrote only above them.
      return result(fallback, path, fallbackPos, bounds);
    }
  }
}

// `pos` is where the leaf's pattern ended in `path` (after the trailing '/' for prefix
// routes). The leaf's names pair with the first names.length entries of `bounds`.
function result<T>(leaf: Leaf<T>, path: string, pos: number, bounds: readonly number[]): RouteMatch<T> {
  if (leaf.fixed !== null) return leaf.fixed;
  const params = new Params() as Record<string, string>;
  const names = leaf.names;
  for (let i = 0; i < names.length; i++) params[names[i]!] = path.slice(bounds[2 * i], bounds[2 * i + 1]);
  if (leaf.kind === WILDCARD) params['*'] = path.slice(pos);
  return { value: leaf.value, params, prefix: leaf.kind === EXACT ? path : path.slice(0, pos - 1) };
}

// Params objects inherit nothing (no toString, no __proto__ setter), so a param named
// like an Object.prototype member is plain data; unlike Object.create(null), which V8
// keeps in slow dictionary mode, instances of this class stay in fast property mode.
class Params {}
Object.setPrototypeOf(Params.prototype, null);
delete (Params.prototype as { constructor?: unknown }).constructor;

function newChildren<T>(): (StaticNode<T> | undefined)[] {
  // Filled by push so V8 keeps the array packed (no holes on the hot lookup).
  const a: (StaticNode<T> | undefined)[] = [];
  for (let i = 0; i < 128; i++) a.push(undefined);
  return a;
}

/** Walks/extends the radix tree under `parent` by `text`, splitting labels as needed. */
function insertStatic<T>(parent: StaticNode<T>, text: string): StaticNode<T> {
  let node = parent;
  let rest = text;
  while (rest.length > 0) {
    const children = (node.children ??= newChildren());
    const c = rest.charCodeAt(0);
    let child = children[c];
    if (child === undefined) {
      child = new StaticNode<T>(rest);
      children[c] = child;
      return child;
    }
    const label = child.label;
    let common = 1;
    while (common < label.length && common < rest.length && label.charCodeAt(common) === rest.charCodeAt(common)) {
      common++;
    }
    if (common < label.length) {
      // Split: the new middle node takes the shared head; the old node keeps its routes.
      const mid = new StaticNode<T>(label.slice(0, common));
      child.label = label.slice(common);
      (mid.children = newChildren())[child.label.charCodeAt(0)] = child;
      children[c] = mid;
      child = mid;
    }
    node = child;
    rest = rest.slice(common);
  }
  return node;
}
