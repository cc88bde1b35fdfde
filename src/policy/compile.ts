// Compiles the protection of a config once per Runtime: each route's ordered list of checks
// (filters, IP rules, limits, auth gates, its own and those of gated routes above it), its
// header edits and rewrite, plus what the phase needs across routes (redirects, the folded
// scope of gates, the shared limiter and counters).
//
//   order of a route's checks:
//   url length → methods → dotfiles → deny rules → global ip → gate ip rules (outermost first)
//   → in-flight per IP → rate limit → gate auth (outermost first)
//
// Rate limits come before auth, as nginx's preaccess phase does: a flood of bad passwords
// is throttled before it reaches scrypt or the auth service.
import type { Config, RouteConfig } from '../config/types.js';
import type { SharedSegments } from '../shm/segments.js';
import { allocateRateTable } from '../shm/rate-table.js';
import { allocateCounterTable } from '../shm/counter-table.js';
import { basicAuthCheck } from './basic-auth.js';
import { concurrencyCheck } from './concurrency.js';
import { forwardAuthCheck } from './forward-auth.js';
import { GateScope, samplePath, type GatedRoute } from './gate-scope.js';
import { ipCheck } from './ip-rules.js';
import { jwtCheck } from './jwt-auth.js';
import type { Limiter } from './limiter.js';
import { rateLimitCheck } from './rate-limit.js';
import { Redirects, Rewrite } from './redirect.js';
import { denyCheck, dotfileCheck, methodCheck, urlLengthCheck } from './request-filter.js';
import { compileRequestEdits, compileResponseEdits, type RequestEdits, type ResponseEdits } from './response-edits.js';
import { SharedCounters } from './shared-counters.js';
import { SharedLimiter } from './shared-limiter.js';
import type { Check, Filter } from './verdict.js';
import { ConnectionRate, ConnectionsPerIp } from './connection-rate.js';

/** The checks a gated route adds wherever it reaches: its IP rule and its auth. */
interface Gate {
  readonly index: number;
  readonly ip: Filter | null;
  readonly auth: Check | null;
}

export interface RoutePolicies {
  readonly checks: readonly Check[];
  /** Indexes of the gated routes whose gates `checks` already holds. */
  readonly gates: ReadonlySet<number>;
  readonly requestEdits: RequestEdits | null;
  readonly responseEdits: ResponseEdits | null;
  readonly rewrite: Rewrite | null;
  /** X-HTTP-Method-Override and kin pass from untrusted clients. */
  readonly allowMethodOverride: boolean;
  /**
   * `checks` when every one of them is a Filter (reads the request only), else null: the cache's
   * hit path (cache/hit-path.ts) may run them and still hand the request to the policy phase.
   */
  readonly filters: readonly Filter[] | null;
}

export interface Protection {
  /** Redirects answered before routing; null when none are configured. */
  readonly redirects: Redirects | null;
  /** Gated routes on folded paths; null when no route has auth or ip. */
  readonly scope: GateScope | null;
  /** Per gated route index: the gate checks a request under it must pass (outermost first). */
  readonly gateChains: ReadonlyMap<number, readonly Gate[]>;
  /** Per route index. */
  readonly routes: readonly RoutePolicies[];
  readonly limiter: SharedLimiter | null;
  readonly counters: SharedCounters | null;
  /** limits.connection_rate_per_ip, asked by the front end's connection hook; null when unset. */
  readonly connectionRate: ConnectionRate | null;
  /** limits.max_connections_per_ip, asked by the same hook; null when unset. */
  readonly connectionsPerIp: ConnectionsPerIp | null;
}

function isGated(r: RouteConfig): boolean {
  return r.auth !== undefined || r.ip !== undefined;
}

function routeName(r: RouteConfig): string {
  return r.host ? `${r.host}${r.path}` : r.path;
}

/** A sample host a route's host pattern matches ('' for any host). */
function sampleHost(host: string | undefined): string {
  return host === undefined ? '' : host.startsWith('*.') ? `x.${host.slice(2)}` : host;
}

function authCheck(r: RouteConfig): Check | null {
  const a = r.auth;
  if (a === undefined) return null;
  if (a.basic) return basicAuthCheck(a.basic);
  if (a.forward) return forwardAuthCheck(a.forward);
  if (a.jwt) return jwtCheck(a.jwt, routeName(r));
  return null;
}

export function compileProtection(config: Config, shm: SharedSegments): Protection {
  const routes = config.routes;
  // Without the primary's shared table (a runtime built by a tool or a test, or a reload that
  // added the first limit) each worker counts alone: still a limit, not across workers.
  const needsLimiter = routes.some((r) => r.rate_limit !== undefined) || config.limits.connection_rate_per_ip !== undefined;
  const limiter = needsLimiter ? new SharedLimiter(shm.rateLimit ?? allocateRateTable(config.limits.rate_limit_keys)) : null;
  const maxInFlight = config.limits.max_requests_per_ip;
  const maxOpen = config.limits.max_connections_per_ip;
  const counters = maxInFlight !== undefined || maxOpen !== undefined ? new SharedCounters(shm.concurrency ?? allocateCounterTable()) : null;

  const gates = new Map<number, Gate>();
  const gated: GatedRoute[] = [];
  routes.forEach((r, index) => {
    if (!isGated(r)) return;
    gates.set(index, { index, ip: r.ip === undefined ? null : ipCheck(r.ip, routeName(r)), auth: authCheck(r) });
    gated.push({ index, host: r.host, path: r.path });
  });
  const scope = gated.length > 0 ? new GateScope(gated) : null;

  // The gate chain of a gated route: the chain of the nearest gated route above it, then its own.
  // "Above": the gated route covering its path with the last segment cut, and so on up to "/".
  const chains = new Map<number, Gate[]>();
  const parentOf = (index: number): number => {
    const r = routes[index]!;
    let path = samplePath(r.path);
    while (path !== '/' && scope !== null) {
      path = path.slice(0, path.lastIndexOf('/', path.length - 2) + 1);
      const above = scope.find(sampleHost(r.host), path);
      if (above >= 0 && above !== index) return above;
    }
    return -1;
  };
  const chainOf = (index: number, depth = 0): Gate[] => {
    const known = chains.get(index);
    if (known !== undefined) return known;
    const above = depth < routes.length ? parentOf(index) : -1;
    const chain = [...(above >= 0 ? chainOf(above, depth + 1) : []), gates.get(index)!];
    chains.set(index, chain);
    return chain;
  };
  for (const g of gated) chainOf(g.index);

  const global = {
    urlLength: urlLengthCheck(config.limits.max_url_bytes),
    dotfiles: dotfileCheck(),
    ip: config.ip === undefined ? null : ipCheck(config.ip, 'global'),
    concurrency: maxInFlight !== undefined ? concurrencyCheck(maxInFlight, counters!) : null,
  };

  const compiled = routes.map((r, index): RoutePolicies => {
    let chain: readonly Gate[] = [];
    if (isGated(r)) chain = chains.get(index)!;
    else if (scope !== null) {
      const above = scope.find(sampleHost(r.host), samplePath(r.path));
      if (above >= 0) chain = chains.get(above)!;
    }
    const filters: Filter[] = [global.urlLength];
    if (r.methods !== undefined) filters.push(methodCheck(r.methods));
    if (!r.allow_dotfiles) filters.push(global.dotfiles);
    if (r.deny !== undefined && r.deny.length > 0) filters.push(denyCheck(r.deny));
    if (global.ip !== null) filters.push(global.ip);
    for (const g of chain) if (g.ip !== null) filters.push(g.ip);
    const checks: Check[] = [...filters];
    if (global.concurrency !== null) checks.push(global.concurrency);
    if (r.rate_limit !== undefined) checks.push(rateLimitCheck(r.rate_limit, routeName(r), limiter as Limiter));
    for (const g of chain) if (g.auth !== null) checks.push(g.auth);
    return {
      checks,
      gates: new Set(chain.map((g) => g.index)),
      requestEdits: compileRequestEdits(config.headers, r.headers),
      responseEdits: compileResponseEdits(config.headers, r.headers),
      rewrite: r.rewrite === undefined ? null : new Rewrite(r.rewrite),
      allowMethodOverride: r.allow_method_override,
      filters: checks.length === filters.length ? filters : null,
    };
  });

  return {
    redirects: config.redirects.length > 0 ? new Redirects(config.redirects) : null,
    scope,
    gateChains: chains,
    routes: compiled,
    limiter,
    counters,
    connectionRate: config.limits.connection_rate_per_ip === undefined ? null : new ConnectionRate(config.limits.connection_rate_per_ip, limiter!),
    connectionsPerIp: maxOpen === undefined ? null : new ConnectionsPerIp(maxOpen, counters!),
  };
}

/** The checks of gates reached through a folded path that the route's own list lacks. */
export function extraGateChecks(p: Protection, gateIndex: number, route: RoutePolicies): Check[] {
  const out: Check[] = [];
  const chain = p.gateChains.get(gateIndex) ?? [];
  for (const g of chain) if (!route.gates.has(g.index) && g.ip !== null) out.push(g.ip);
  for (const g of chain) if (!route.gates.has(g.index) && g.auth !== null) out.push(g.auth);
  return out;
}
