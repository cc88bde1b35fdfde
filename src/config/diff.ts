// What changes between two effective configs: routes, upstreams, listeners and every other
// section, which changes a reload cannot apply (a restart can), and which routes keep their
// definition (their WebSockets and streams survive a reload). Pure: `portcullis plan`, the
// primary's reload and each worker's generation swap all read the same answer.
import { createHash } from 'node:crypto';
import { WEBSOCKET_DEFAULTS } from './defaults.js';
import type { Config, ListenAddress, RouteConfig } from './types.js';

/** A route's identity across configs: its host and path (what the router keys it by). */
export function routeKey(r: Pick<RouteConfig, 'host' | 'path'>): string {
  return `${r.host ?? '*'} ${r.path}`;
}

/** How a route is shown to people: 'host/path' or the path alone. */
export function routeLabel(r: Pick<RouteConfig, 'host' | 'path'>): string {
  return r.host ? `${r.host}${r.path}` : r.path;
}

export function listenKey(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** JSON with keys sorted at every level, so two equal values always print the same. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
  });
}

/**
 * Everything that decides how a route's requests are handled once routed: its own settings
 * (defaults resolved, so writing a default out does not count as a change) and its upstream
 * group. Not its index: moving a route in the list changes nothing.
 */
export function routeDefinition(r: RouteConfig, config: Config): string {
  const group = config.upstreams[r.upstream];
  return stableJson({
    host: r.host ?? null,
    path: r.path,
    upstream: r.upstream,
    strip_prefix: r.strip_prefix,
    host_header: r.host_header ?? null,
    websocket: r.websocket ?? WEBSOCKET_DEFAULTS,
    cache: r.cache,
    targets: group?.targets.map((t) => t.url) ?? null,
    pool: group?.pool ?? null,
  });
}

/** Route keys of `old` whose definition is different (or gone) in `next`. */
export function changedRouteKeys(old: Config, next: Config): Set<string> {
  const nextDefs = new Map(next.routes.map((r) => [routeKey(r), routeDefinition(r, next)]));
  const changed = new Set<string>();
  for (const r of old.routes) if (nextDefs.get(routeKey(r)) !== routeDefinition(r, old)) changed.add(routeKey(r));
  return changed;
}

export interface FieldChange {
  /** Dotted field, e.g. `timeouts.idle` or `routes[api.example.com /v1/].strip_prefix`. */
  readonly field: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface RestartNeeded extends FieldChange {
  readonly why: string;
}

export interface ConfigDiff {
  readonly routes: { readonly added: string[]; readonly removed: string[]; readonly changed: { readonly route: string; readonly changes: FieldChange[] }[] };
  readonly upstreams: { readonly added: string[]; readonly removed: string[]; readonly changed: { readonly upstream: string; readonly changes: FieldChange[] }[] };
  readonly listeners: { readonly added: string[]; readonly removed: string[]; readonly kept: string[] };
  /** Every other setting that differs (limits, timeouts, cache, access_log, admin, …). */
  readonly settings: FieldChange[];
  /** Changes a reload refuses: they take a restart. */
  readonly restart: RestartNeeded[];
  /** Nothing differs at all. */
  readonly empty: boolean;
}

/** Field-by-field differences between two plain values (objects recursed, arrays compared whole). */
export function fieldChanges(prefix: string, a: unknown, b: unknown, out: FieldChange[] = []): FieldChange[] {
  if (stableJson(a) === stableJson(b)) return out;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) fieldChanges(prefix ? `${prefix}.${k}` : k, a[k], b[k], out);
    return out;
  }
  out.push({ field: prefix, from: a ?? null, to: b ?? null });
  return out;
}

/** The largest WebSocket message any route allows: uWS takes one limit per App, at its creation. */
export function largestMessage(config: Config): number {
  let max = WEBSOCKET_DEFAULTS.max_message_size;
  for (const r of config.routes) if (r.websocket && r.websocket.max_message_size > max) max = r.websocket.max_message_size;
  return max;
}

/** Top-level sections compared as settings (routes, upstreams and listen have their own lists). */
const SETTINGS = ['workers', 'trusted_proxies', 'limits', 'timeouts', 'dns', 'access_log', 'log_level', 'via', 'compression', 'cache', 'admin', 'ip', 'headers', 'redirects'] as const;

/**
 * `old` → `next`. `started` is the config the processes started with: what was fixed then
 * (uWS's head limit, the App's WebSocket message limit, the cache's shared memory, the worker
 * count) stays fixed until a restart, however many reloads came between.
 */
export function diffConfigs(old: Config, next: Config, started: Config = old): ConfigDiff {
  const oldRoutes = new Map(old.routes.map((r) => [routeKey(r), r]));
  const nextRoutes = new Map(next.routes.map((r) => [routeKey(r), r]));
  const routeView = (r: RouteConfig) => ({
    upstream: r.upstream, strip_prefix: r.strip_prefix, host_header: r.host_header ?? null, websocket: r.websocket ?? WEBSOCKET_DEFAULTS, cache: r.cache,
    split: r.split ?? null, canary: r.canary ?? null, timeouts: r.timeouts ?? null, retries: r.retries,
    // Protection (src/policy/): a changed password shows as a changed hash, never the hash itself.
    auth: r.auth === undefined ? null : redactAuth(r.auth), ip: r.ip ?? null, rate_limit: r.rate_limit ?? null, methods: r.methods ?? null,
    headers: r.headers ?? null, deny: r.deny ?? null, allow_dotfiles: r.allow_dotfiles, allow_method_override: r.allow_method_override, rewrite: r.rewrite ?? null,
  });
  const routes: ConfigDiff['routes'] = { added: [], removed: [], changed: [] };
  for (const [key, r] of nextRoutes) if (!oldRoutes.has(key)) routes.added.push(routeLabel(r));
  for (const [key, r] of oldRoutes) {
    const n = nextRoutes.get(key);
    if (n === undefined) { routes.removed.push(routeLabel(r)); continue; }
    const changes = fieldChanges('', routeView(r), routeView(n));
    const upstreamChanged = n.upstream === r.upstream && stableJson(old.upstreams[r.upstream]) !== stableJson(next.upstreams[n.upstream]);
    if (upstreamChanged) changes.push({ field: `upstreams.${r.upstream}`, from: 'previous definition', to: 'changed (see upstreams)' });
    if (changes.length > 0) routes.changed.push({ route: routeLabel(r), changes });
  }

  const upstreams: ConfigDiff['upstreams'] = { added: [], removed: [], changed: [] };
  const view = (g: Config['upstreams'][string]) => ({
    targets: g.targets.map((t) => t.url), weights: g.targets.map((t) => t.weight), max_connections: g.targets.map((t) => t.max_connections),
    pool: g.pool, balance: g.balance, sticky: g.sticky ?? null, health: g.health ?? null, passive: g.passive, slow_start: g.slow_start, tls: g.tls ?? null,
  });
  for (const name of Object.keys(next.upstreams)) if (!(name in old.upstreams)) upstreams.added.push(name);
  for (const [name, g] of Object.entries(old.upstreams)) {
    const n = next.upstreams[name];
    if (n === undefined) { upstreams.removed.push(name); continue; }
    const changes = fieldChanges('', view(g), view(n));
    if (changes.length > 0) upstreams.changed.push({ upstream: name, changes });
  }

  const oldListen = old.listen.map(listenKey);
  const nextListen = next.listen.map(listenKey);
  const listeners = {
    added: nextListen.filter((k) => !oldListen.includes(k)),
    removed: oldListen.filter((k) => !nextListen.includes(k)),
    kept: nextListen.filter((k) => oldListen.includes(k)),
  };

  const settings: FieldChange[] = [];
  for (const key of SETTINGS) fieldChanges(key, redact(key, old[key]), redact(key, next[key]), settings);
  if (old.admin?.token !== undefined && next.admin?.token !== undefined && old.admin.token !== next.admin.token) {
    settings.push({ field: 'admin.token', from: '(hidden)', to: '(hidden, changed)' });
  }

  const restart: RestartNeeded[] = [];
  if (next.workers !== started.workers) {
    restart.push({ field: 'workers', from: started.workers, to: next.workers, why: 'the worker count and the shared metrics are sized at start' });
  }
  if (next.limits.max_header_bytes > started.limits.max_header_bytes) {
    restart.push({ field: 'limits.max_header_bytes', from: started.limits.max_header_bytes, to: next.limits.max_header_bytes, why: 'uWS reads its request-head limit once per process (lowering it works at once)' });
  }
  if (largestMessage(next) > largestMessage(started)) {
    restart.push({ field: 'routes[].websocket.max_message_size', from: largestMessage(started), to: largestMessage(next), why: 'uWS fixes the largest WebSocket message when a listener opens (lowering it works at once)' });
  }
  // TLS state lives in the primary (tls/primary.ts: certificates, local CA, ACME), built from the
  // config it started with; certificate files themselves are reloaded as they change on disk.
  const startedListen = new Map(started.listen.map((l) => [listenKey(l), l]));
  for (const l of next.listen) {
    const key = listenKey(l);
    const before = startedListen.get(key);
    if (before === undefined ? l.tls !== undefined : stableJson(before) !== stableJson(l)) {
      restart.push({ field: `listen[${key}]`, from: before === undefined ? null : stableJson(before), to: stableJson(l), why: 'TLS listeners, and the settings of a listener that stays, are set up at start (replaced certificate files are picked up without one)' });
    }
  }
  if (stableJson(next.acme) !== stableJson(started.acme) || next.state_dir !== started.state_dir) {
    restart.push({ field: 'acme', from: stableJson({ acme: started.acme, state_dir: started.state_dir }), to: stableJson({ acme: next.acme, state_dir: next.state_dir }), why: 'ACME and the state directory are set up at start' });
  }
  const startedCaches = started.routes.some((r) => r.cache);
  const cacheWanted = next.routes.some((r) => r.cache);
  if (startedCaches && cacheWanted && next.cache.size !== started.cache.size) {
    restart.push({ field: 'cache.size', from: started.cache.size, to: next.cache.size, why: 'the cache lives in shared memory allocated at start; its entries would be lost' });
  }

  if (started.limits.rate_limit_keys !== next.limits.rate_limit_keys && started.routes.some((r) => r.rate_limit !== undefined)) {
    restart.push({ field: 'limits.rate_limit_keys', from: started.limits.rate_limit_keys, to: next.limits.rate_limit_keys, why: 'the rate-limit table lives in shared memory sized at start; its buckets would be lost' });
  }

  const empty = routes.added.length + routes.removed.length + routes.changed.length + upstreams.added.length +
    upstreams.removed.length + upstreams.changed.length + listeners.added.length + listeners.removed.length +
    settings.length === 0 && stableJson(old.routes.map(routeKey)) === stableJson(next.routes.map(routeKey));
  return { routes, upstreams, listeners, settings, restart, empty };
}

/** The private members of a JWK (RFC 7518 §6.2.2, §6.3.2, §6.4.1): what verifies a token's signature only in secret. */
const JWK_PRIVATE = new Set(['k', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'oth']);

const digest = (v: unknown): string => createHash('sha256').update(typeof v === 'string' ? v : JSON.stringify(v)).digest('hex').slice(0, 8);

/**
 * Credentials as a digest of each: basic-auth hashes and the private members of JWT keys, so a
 * diff (and the admin API's config) says which one changed without printing it.
 */
export function redactAuth(auth: NonNullable<RouteConfig['auth']>): NonNullable<RouteConfig['auth']> {
  let out = auth;
  if (auth.basic !== undefined) {
    const users = Object.fromEntries(Object.entries(auth.basic.users).map(([u, h]) => [u, `hash #${digest(h)}`]));
    out = { ...out, basic: { ...auth.basic, users } };
  }
  if (auth.jwt?.keys !== undefined) {
    const keys = auth.jwt.keys.map((k) => Object.fromEntries(Object.entries(k).map(([n, v]) => [n, JWK_PRIVATE.has(n) ? `secret #${digest(v)}` : v])));
    out = { ...out, jwt: { ...auth.jwt, keys } };
  }
  return out;
}

/** The admin token never appears in a diff, a plan or a log: only whether one is set. */
function redact(key: string, value: unknown): unknown {
  if (key !== 'admin' || value === null || typeof value !== 'object') return value;
  const v = value as { listen: ListenAddress; token: string | undefined };
  return { listen: listenKey(v.listen), token: v.token === undefined ? 'none' : 'set' };
}
