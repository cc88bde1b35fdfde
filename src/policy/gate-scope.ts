// Where an auth gate or IP rule reaches: everything under its route's path, whatever spelling
// a request uses. The router matches normalised paths exactly (case-sensitive, ';' and %2F
// kept as data), but an origin may fold case (IIS, macOS), cut ';parameters' (Servlet
// containers, Spring) or decode %2F into a separator; and a prefix route "/admin/" does not
// match "/admin". So gated routes are also matched on a folded path: lowercase, ';…' cut from
// each segment, %2F and %5C as '/', renormalised, and "/admin" counts as under "/admin/".
// A request whose folded path falls under a gate passes that gate too, whichever route serves it.
import { Router, RouteConflictError } from '../router/router.js';
import { normalizePath } from '../router/normalize.js';

/** The folded form of a normalised path (see above); the same string when nothing folds. */
export function foldPath(path: string): string {
  let needs = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c === 59 /* ; */ || c === 37 /* % */) { needs = true; break; }
  }
  if (!needs) return path;
  // An origin that decodes twice reads "%2561" as "a": unwrap escaped '%' (twice at most).
  let p = path;
  for (let i = 0; i < 2 && p.includes('%25'); i++) p = normalizePath(p.replace(/%25/g, '%')) ?? p.replace(/%25/g, '%');
  const folded = p
    .toLowerCase()
    .replace(/%2f|%5c/g, '/')
    .split('/')
    .map((seg) => { const semi = seg.indexOf(';'); return semi < 0 ? seg : seg.slice(0, semi); })
    .join('/');
  // Folding can only make separators and empty segments; normalising merges them (and writes
  // escapes in uppercase again). A folded path that normalisation refuses (a hidden
  // dot-segment) still names its plain form.
  return normalizePath(folded) ?? upperEscapes(folded.replace(/\/+/g, '/'));
}

/** Lowercase text with its %xx escapes in uppercase: how folded paths and patterns compare. */
function upperEscapes(text: string): string {
  return text.replace(/%[0-9a-f]{2}/g, (m) => m.toUpperCase());
}

function foldPattern(pattern: string): string {
  return upperEscapes(pattern.toLowerCase());
}

/** A route's pattern as a sample path it matches: params as 'x', a trailing '*' dropped. */
export function samplePath(pattern: string): string {
  return foldPattern(pattern.split('/').map((seg) => (seg.startsWith(':') ? 'x' : seg === '*' ? '' : seg)).join('/'));
}

export interface GatedRoute {
  readonly index: number;
  readonly host: string | undefined;
  readonly path: string;
}

/** The gated routes, matched on folded paths; values are route indexes. */
export class GateScope {
  readonly #router = new Router<number>();

  constructor(gated: readonly GatedRoute[]) {
    for (const g of gated) {
      const pattern = foldPattern(g.path);
      this.#add(g.host, pattern, g.index);
      // "/admin/" also covers "/admin" itself.
      if (pattern.length > 1 && pattern.endsWith('/')) this.#add(g.host, pattern.slice(0, -1), g.index);
    }
  }

  #add(host: string | undefined, pattern: string, index: number): void {
    try {
      this.#router.add(host, pattern, index);
    } catch (err) {
      // Two gated routes that differ only in case: the first keeps the folded spelling (the
      // second still gates its own exact matches).
      if (!(err instanceof RouteConflictError)) throw err;
    }
  }

  /** The most specific gated route covering `foldedPath` on `host`, or -1. Hot path. */
  find(host: string, foldedPath: string): number {
    const m = this.#router.find(host, foldedPath);
    return m === null ? -1 : m.value;
  }
}
