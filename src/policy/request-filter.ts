// Request filtering: the longest URL, allowed methods (405 with Allow), hidden paths (dotfiles:
// /.git/, /.env, /.htaccess → 404 unless a route allows them; /.well-known/ always passes,
// RFC 8615) and configured deny rules on path, query and headers.
import { ProxyError } from '../errors.js';
import type { DenyRuleConfig } from '../config/protection-types.js';
import { refuse, type Filter, type Refusal } from './verdict.js';

export function urlLengthCheck(max: number): Filter {
  const refusal = refuse(new ProxyError('PC_ERR_URL_TOO_LONG', `over ${max} bytes`));
  return (ex) => {
    const h = ex.head;
    // rawPath + '?' + query, without building it.
    const length = h.rawPath.length + (h.query === '' ? 0 : h.query.length + 1);
    return length > max ? refusal : null;
  };
}

export function methodCheck(methods: readonly string[]): Filter {
  const allowed = new Set(methods);
  // RFC 9110 §9.3.2: HEAD is GET without the body; whoever allows GET allows HEAD.
  if (allowed.has('GET')) allowed.add('HEAD');
  const refusal = refuse(new ProxyError('PC_ERR_METHOD_NOT_ALLOWED'), ['allow', [...allowed].join(', ')]);
  return (ex) => (allowed.has(ex.head.method) ? null : refusal);
}

/**
 * True when a segment of the normalised path starts with '.', except a first segment
 * '.well-known'. normalizePath already removed '.' and '..' segments and decoded %2E.
 */
export function isHiddenPath(path: string): boolean {
  let i = path.indexOf('/.');
  while (i >= 0) {
    if (!(i === 0 && path.startsWith('/.well-known') && (path.length === 12 || path.charCodeAt(12) === 47))) return true;
    i = path.indexOf('/.', i + 2);
  }
  return false;
}

export function dotfileCheck(): Filter {
  const refusal = refuse(new ProxyError('PC_ERR_HIDDEN_PATH'));
  // The path before strip_prefix/rewrite: what the client asked for. Checked on the raw path
  // too: a ';' parameter or a case change must not hide a dot (/.git;x/).
  return (ex) => (isHiddenPath(ex.normalizedPath) ? refusal : null);
}

interface CompiledDeny {
  readonly path: RegExp | null;
  readonly query: RegExp | null;
  readonly header: string | null;
  readonly headerPattern: RegExp | null;
  readonly refusal: Refusal;
}

export function denyCheck(rules: readonly DenyRuleConfig[]): Filter {
  const compiled: CompiledDeny[] = rules.map((r, i) => ({
    path: r.path === undefined ? null : new RegExp(r.path),
    query: r.query === undefined ? null : new RegExp(r.query),
    header: r.header?.name ?? null,
    headerPattern: r.header === undefined || r.header.pattern === '' ? null : new RegExp(r.header.pattern),
    refusal: refuse(new ProxyError(r.status === 404 ? 'PC_ERR_HIDDEN_PATH' : 'PC_ERR_DENIED', `deny rule ${i}`)),
  }));
  return (ex) => {
    for (const r of compiled) {
      if (r.path !== null && !r.path.test(ex.normalizedPath)) continue;
      if (r.query !== null && !r.query.test(ex.head.query)) continue;
      if (r.header !== null) {
        const v = ex.headerList(r.header);
        if (v === undefined || (r.headerPattern !== null && !r.headerPattern.test(v))) continue;
      }
      return r.refusal;
    }
    return null;
  };
}
