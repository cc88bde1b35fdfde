// Configured redirects (top-level `redirects`) and route rewrites, from templates with
// placeholders. A redirect whose target is the request's own URL would send the client round
// in circles: it is answered 508 (PC_ERR_REDIRECT_LOOP) with the reason instead.
import { ProxyError } from '../errors.js';
import type { RedirectConfig } from '../config/protection-types.js';
import type { Exchange } from '../exchange.js';
import { normalizePath } from '../router/normalize.js';
import { compileTemplate, fillTemplate, type RedirectFrom, type Template } from './template.js';
import { refuse, type Answer, type Verdict } from './verdict.js';

interface CompiledRedirect {
  readonly from: RedirectFrom;
  readonly to: Template;
  readonly status: number;
  /** The target names the query itself ({uri}, {query} or a literal '?'); else the query is appended. */
  readonly ownQuery: boolean;
}

const REASONS: Record<number, string> = { 301: 'Moved Permanently', 302: 'Found', 307: 'Temporary Redirect', 308: 'Permanent Redirect' };

export class Redirects {
  readonly #rules: readonly CompiledRedirect[];

  constructor(rules: readonly RedirectConfig[]) {
    this.#rules = rules.map((r) => {
      const to = compileTemplate(r.to);
      return { from: r.from, to, status: r.status, ownQuery: r.to.includes('?') || to.names.includes('uri') || to.names.includes('query') };
    });
  }

  get size(): number { return this.#rules.length; }

  /** The redirect answer for this request, or null. Needs ex.host, ex.normalizedPath and ex.identity. */
  match(ex: Exchange): Verdict | null {
    const path = ex.normalizedPath;
    const proto = ex.identity!.proto;
    for (const r of this.#rules) {
      const f = r.from;
      if (f.scheme !== null && f.scheme !== proto) continue;
      if (f.host !== null && f.host !== ex.host) continue;
      let rest: string;
      if (!f.wildcard) {
        if (path !== f.path) continue;
        rest = '';
      } else if (path.startsWith(f.path)) {
        rest = path.slice(f.path.length);
      } else if (f.path.length > 1 && f.path.endsWith('/') && path.length === f.path.length - 1 && f.path.startsWith(path)) {
        rest = ''; // "/old/*" also takes "/old"
      } else {
        continue;
      }
      return this.#answer(ex, r, rest);
    }
    return null;
  }

  #answer(ex: Exchange, r: CompiledRedirect, rest: string): Verdict {
    const query = ex.head.query;
    const proto = ex.identity!.proto;
    const hostHeader = ex.identity!.host || ex.host;
    let location = fillTemplate(r.to, (name) => {
      switch (name) {
        case 'path': return rest;
        case 'uri': return query === '' ? ex.normalizedPath : `${ex.normalizedPath}?${query}`;
        case 'query': return query;
        case 'host': return hostHeader;
        case 'scheme': return proto;
        default: return '';
      }
    });
    if (!r.ownQuery && query !== '') location += `?${query}`;
    // The request's own URL, as the client would resolve the Location against it.
    const own = `${proto}://${hostHeader}${ex.head.rawPath}${query === '' ? '' : `?${query}`}`;
    try {
      const base = new URL(own);
      if (new URL(location, base).href === base.href) {
        return refuse(new ProxyError('PC_ERR_REDIRECT_LOOP', `${location} redirects to itself`));
      }
    } catch {
      // An unparsable own URL (no Host) cannot be compared: send the redirect as configured.
    }
    const answer: Answer = { kind: 'answer', status: r.status, reason: REASONS[r.status] ?? '', headers: ['location', location, 'content-type', 'text/plain; charset=utf-8', 'cache-control', r.status === 301 || r.status === 308 ? 'max-age=3600' : 'no-store'], body: `${r.status} redirect to ${location}\n`, metric: 'redirect' };
    return answer;
  }
}

/** A route's rewrite: {path} is what follows the route's static prefix; {name} route params. */
export class Rewrite {
  readonly #to: Template;

  constructor(text: string) {
    this.#to = compileTemplate(text);
  }

  /** The new upstream path, or null when the result is not a valid path (400). */
  apply(ex: Exchange, prefix: string, params: Readonly<Record<string, string>> | null): string | null {
    const full = ex.normalizedPath;
    let rest = full.slice(prefix.length);
    if (rest.charCodeAt(0) === 47) rest = rest.slice(1);
    const out = fillTemplate(this.#to, (name) => {
      if (name === 'path') return rest;
      return params?.[name] ?? '';
    });
    return normalizePath(out);
  }
}
