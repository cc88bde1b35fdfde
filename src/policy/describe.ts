// What the policy phase would do with one request, in words: for `portcullis explain`
// (ops/explain.ts). Synchronous checks are judged (IP rules, methods, dotfiles, deny rules,
// URL length, redirects); limits and auth are described, since their answer depends on
// traffic and credentials.
import type { Config, RouteConfig } from '../config/types.js';
import type { Exchange } from '../exchange.js';
import type { Runtime } from '../runtime.js';
import { foldPath } from './gate-scope.js';
import { compileIpRules } from './ip-rules.js';
import { isHiddenPath } from './request-filter.js';

function authText(r: RouteConfig): string | null {
  const a = r.auth;
  if (a === undefined) return null;
  if (a.basic) return `basic auth (realm "${a.basic.realm}", ${Object.keys(a.basic.users).length} user(s)): 401 without valid credentials`;
  if (a.forward) return `forward auth: asks ${a.forward.url}; a 2xx lets it through${a.forward.copy_headers.length > 0 ? ` with ${a.forward.copy_headers.join(', ')}` : ''}, any other answer goes back to the client`;
  if (a.jwt) return `JWT bearer token (${a.jwt.jwks_url ?? `${a.jwt.keys?.length ?? 0} inline key(s)`}${a.jwt.issuer ? `, iss ${String(a.jwt.issuer)}` : ''}${a.jwt.audience ? `, aud ${String(a.jwt.audience)}` : ''}): 401 without a valid one`;
  return null;
}

/** Lines describing the policy phase for `ex` (after route and identify). */
export function describePolicies(config: Config, rt: Runtime, ex: Exchange): string[] {
  const out: string[] = [];
  const route = ex.route!;
  const r = route.config;
  const ip = ex.identity!.clientIp;
  const redirect = rt.protection.redirects?.match(ex) ?? null;
  if (redirect !== null) {
    out.push(redirect.kind === 'answer' ? `redirect: ${redirect.status} to ${redirect.headers[1]} (before any route)` : `redirect loop: ${redirect.error.status} ${redirect.error.code}`);
    return out;
  }
  const target = ex.head.rawPath.length + (ex.head.query === '' ? 0 : ex.head.query.length + 1);
  if (target > config.limits.max_url_bytes) out.push(`refused: the URL is ${target} bytes, over limits.max_url_bytes (414)`);
  if (r.methods !== undefined) {
    const allowed = r.methods.includes(ex.head.method) || (ex.head.method === 'HEAD' && r.methods.includes('GET'));
    out.push(`methods ${r.methods.join(', ')}: ${allowed ? `${ex.head.method} allowed` : `${ex.head.method} refused (405)`}`);
  }
  if (!r.allow_dotfiles && isHiddenPath(ex.normalizedPath)) out.push('refused: a path segment starts with "." (404; allow_dotfiles: true serves it)');
  if (r.deny !== undefined && r.deny.length > 0) out.push(`${r.deny.length} deny rule(s) on path, query or headers`);
  if (config.ip !== undefined) out.push(`global ip rule: client ${ip} ${compileIpRules(config.ip)(ip) ? 'allowed' : 'refused (403)'}`);
  // The gates this request must pass: the route's own and those of gated routes above it, plus
  // any gate its folded spelling reaches (policy/gate-scope.ts).
  const gates = new Set(route.policies.gates);
  const folded = rt.protection.scope?.find(ex.host, foldPath(ex.normalizedPath)) ?? -1;
  const reached = folded >= 0 && !gates.has(folded) ? folded : -1;
  for (const g of rt.protection.gateChains.get(reached) ?? []) gates.add(g.index);
  for (const index of [...gates].sort((a, b) => a - b)) {
    const g = config.routes[index]!;
    const whose = index === r.index ? 'this route' : index === reached ? `routes[${index}] (${g.path}: this path folds under it)` : `routes[${index}] (${g.path}, above this route)`;
    if (g.ip !== undefined) out.push(`ip rule of ${whose}: client ${ip} ${compileIpRules(g.ip)(ip) ? 'allowed' : 'refused (403)'}`);
    const auth = authText(g);
    if (auth !== null) out.push(`auth of ${whose}: ${auth}`);
  }
  if (config.limits.max_requests_per_ip !== undefined) out.push(`at most ${config.limits.max_requests_per_ip} requests in flight per client IP (429)`);
  if (r.rate_limit !== undefined) {
    const rl = r.rate_limit;
    out.push(`rate limit: ${rl.rate} per ${rl.per} ms, burst ${rl.burst}, key ${rl.key} (429 with Retry-After beyond)`);
  }
  if (r.rewrite !== undefined) out.push(`rewrite: the upstream path comes from "${r.rewrite}"`);
  if (out.length === 0) out.push('none: this route has no auth, IP rule or rate limit (nothing refuses the request before the upstream)');
  return out;
}
