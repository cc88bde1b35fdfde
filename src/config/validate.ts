// From plain data to the effective Config: runs the zod schema, adds the checks that span
// fields (route → upstream references, duplicate routes and listeners, the default route),
// and reports every problem as a path + message for the caller to locate.

import type * as z from 'zod';
import { RouteConflictError, Router } from '../router/router.js';
import { checkRoutePath, isError, parseHostPattern, parseListen } from './address.js';
import type { FieldPath } from './document.js';
import { ADMIN_DEFAULT_LISTEN, ADMIN_TOKEN_MIN, ConfigFileSchema, DEFAULT_HSTS, EXTENSION_PREFIX, knownKeysAt, UPSTREAM_NAME, UPSTREAM_NAME_RULE, type ConfigFile } from './schema.js';
import { hint } from './suggest.js';
import type { CanaryConfig, Config, Listener, RetryConfig, RouteConfig, UpstreamGroup, UpstreamTlsSettings } from './types.js';
import type { RouteProtectionConfig } from './protection-types.js';
import { protectionProblems } from './protection-checks.js';
import { isLoopbackHost } from '../net/address.js';
import { dirname, resolve } from 'node:path';
import { caFileProblem, isPairError, readPair } from '../tls/certificate.js';

export interface Problem {
  readonly path: FieldPath;
  readonly message: string;
  /** 'key' when the problem is the key itself (unknown key, bad upstream name). */
  readonly at: 'key' | 'value';
}

export type Validation = { readonly config: Config } | { readonly problems: readonly Problem[] };

/** Validates data read from a file (or built from flags) into the effective config. */
export function validateConfig(raw: unknown, source: string): Validation {
  if (raw === null || raw === undefined) {
    return { problems: [{ path: [], at: 'value', message: 'the config is empty; it needs at least an upstreams section' }] };
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return { problems: [{ path: [], at: 'value', message: `expected a map of settings, got ${describe(raw)}` }] };
  }
  const settings = withoutExtensions(raw as Record<string, unknown>);
  const parsed = ConfigFileSchema.safeParse(settings);
  const problems = [...(parsed.success ? [] : problemsOf(parsed.error.issues, [], settings)), ...crossFieldProblems(settings)];
  if (problems.length > 0 || !parsed.success) return { problems: dedupe(problems) };
  const config = build(parsed.data, source);
  const files = [...listenerProblems(config), ...certificateProblems(config)];
  return files.length > 0 ? { problems: files } : { config };
}

/** Listener rules that span entries. */
function listenerProblems(config: Config): Problem[] {
  const hasTls = config.listen.some((l) => l.tls !== undefined);
  const hasPlain = config.listen.some((l) => l.tls === undefined);
  const problems = config.listen.flatMap((l, i): Problem[] => {
    if (l.redirect_https && !hasTls) return [{ path: ['listen', i, 'redirect_https'], at: 'value', message: 'no listener has tls: there is no https:// to redirect to' }];
    if (l.tls?.acme && !hasPlain) return [{ path: ['listen', i, 'tls', 'acme'], at: 'value', message: 'ACME HTTP-01 challenges are answered on a plain listener (the CA connects to port 80): add one, e.g. { address: ":80", redirect_https: true }' }];
    return [];
  });
  if (config.acme.directory_ca !== undefined) {
    const problem = caFileProblem(config.acme.directory_ca);
    if (problem !== null) problems.push({ path: ['acme', 'directory_ca'], at: 'value', message: problem });
  }
  return problems;
}

/**
 * Reads every certificate and key file the config names and checks each pair as the
 * listener will use it (src/tls/certificate.ts), so `check` and start-up refuse a missing
 * file, a key that does not match, or an expired certificate with the field that names it.
 */
function certificateProblems(config: Config): Problem[] {
  const problems: Problem[] = [];
  config.listen.forEach((l, i) => {
    l.tls?.certificates.forEach((c, j) => {
      const pair = readPair(c.cert, c.key);
      const at: FieldPath = ['listen', i, 'tls', 'certificates', j];
      if (isPairError(pair)) problems.push({ path: [...at, pair.field], at: 'value', message: pair.error });
      else if (pair.notAfter <= Date.now()) problems.push({ path: [...at, 'cert'], at: 'value', message: `${c.cert} expired on ${new Date(pair.notAfter).toISOString()}` });
    });
  });
  for (const [name, u] of Object.entries(config.upstreams)) {
    const t = u.tls;
    if (t === undefined) continue;
    const at: FieldPath = ['upstreams', name, 'tls'];
    if (t.ca !== undefined) {
      const problem = caFileProblem(t.ca);
      if (problem !== null) problems.push({ path: [...at, 'ca'], at: 'value', message: problem });
    }
    if (t.cert !== undefined && t.key !== undefined) {
      const pair = readPair(t.cert, t.key, false);
      if (isPairError(pair)) problems.push({ path: [...at, pair.field], at: 'value', message: pair.error });
    }
  }
  return problems;
}

/** A path from the config, relative to the config file's directory (quick mode: the working directory). */
function fromConfigDir(source: string, path: string): string {
  return resolve(source.startsWith('<') ? '.' : dirname(source), path);
}

/**
 * The top level without `x-*` keys: extension fields, ignored (the docker-compose
 * convention), where a file keeps its YAML anchors (`x-pool: &pool {...}`) or notes for
 * other tools. Only at the top level: deeper, an unknown key is still a typo.
 */
function withoutExtensions(raw: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(raw).filter(([key]) => !key.startsWith(EXTENSION_PREFIX)));
}

/** Flattens zod issues; a failed union reports the branch the value was evidently meant for. */
function problemsOf(issues: readonly z.core.$ZodIssue[], base: FieldPath, raw: unknown): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const path = [...base, ...(issue.path as (string | number)[])];
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeysAt(path);
        return issue.keys.map((key) => ({ path: [...path, key], at: 'key', message: `unknown key "${key}"${hint(key, known)}` }));
      }
      case 'invalid_key':
        return [{ path, at: 'key', message: `invalid name "${String(path.at(-1))}": ${issue.issues[0]?.message ?? issue.message}` }];
      case 'invalid_union': {
        const typeMismatch = (i: z.core.$ZodIssue) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_union');
        const meant = issue.errors.filter((branch) => !branch.some(typeMismatch));
        if (meant.length > 0) return problemsOf(meant[0]!, path, raw);
        return [{ path, at: 'value', message: valueAt(raw, path) === undefined ? 'required' : issue.message }];
      }
      case 'invalid_type': {
        const value = valueAt(raw, path);
        if (value === undefined) return [{ path, at: 'value', message: 'required' }];
        const expected = issue.message.startsWith('Invalid input:') ? `expected ${article(issue.expected)}` : issue.message;
        const message = `${expected}, got ${describe(value)}`;
        return [{ path, at: 'value', message }];
      }
      default:
        return [{ path, at: 'value', message: issue.message.replace(/^Invalid input: /, '') }];
    }
  });
}

function crossFieldProblems(raw: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const upstreams = isRecord(raw['upstreams']) ? Object.keys(raw['upstreams']) : undefined;
  if (upstreams?.length === 0) problems.push({ path: ['upstreams'], at: 'value', message: 'define at least one upstream' });
  // zod's record silently skips a `__proto__` key that YAML keeps as an own property.
  for (const name of upstreams ?? []) {
    if (!UPSTREAM_NAME.test(name)) problems.push({ path: ['upstreams', name], at: 'key', message: `invalid name "${name}": ${UPSTREAM_NAME_RULE}` });
  }

  const routes = raw['routes'];
  if (routes === undefined && upstreams && upstreams.length > 1) {
    problems.push({
      path: ['routes'],
      at: 'value',
      message: `required when there is more than one upstream (${upstreams.join(', ')}); only a single upstream gets a default "/" route`,
    });
  }
  if (Array.isArray(routes)) {
    routes.forEach((route: unknown, i) => {
      if (isRecord(route)) problems.push(...routeUpstreamProblems(route, i, upstreams));
    });
    problems.push(...routeTableProblems(routes));
    problems.push(...protectionProblems(routes));
  }

  const listen = raw['listen'];
  if (Array.isArray(listen)) {
    const seen = new Map<string, number>();
    listen.forEach((entry: unknown, i) => {
      const item = isRecord(entry) ? entry['address'] : entry;
      if (typeof item !== 'string' && typeof item !== 'number') return;
      const address = parseListen(item);
      if (isError(address)) return;
      const key = `${address.host}:${address.port}`;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, i);
      else problems.push({ path: ['listen', i], at: 'value', message: `duplicate listen address (same as listen[${first}])` });
    });
  }
  problems.push(...adminProblems(raw));
  return problems;
}

/**
 * A route's upstream references: exactly one of upstream and split, names that exist, and a
 * canary group that the route can reach.
 */
function routeUpstreamProblems(route: Record<string, unknown>, i: number, upstreams: readonly string[] | undefined): Problem[] {
  const problems: Problem[] = [];
  const known = (name: unknown, path: FieldPath): void => {
    if (typeof name !== 'string' || name === '' || !upstreams || upstreams.includes(name)) return;
    const defined = upstreams.length > 0 ? `; defined: ${upstreams.join(', ')}` : '';
    problems.push({ path, at: 'value', message: `no upstream named "${name}"${hint(name, upstreams)}${defined}` });
  };
  const upstream = route['upstream'];
  const split = route['split'];
  known(upstream, ['routes', i, 'upstream']);
  const splitNames: string[] = [];
  if (Array.isArray(split)) {
    split.forEach((entry: unknown, j) => {
      if (!isRecord(entry)) return;
      known(entry['upstream'], ['routes', i, 'split', j, 'upstream']);
      if (typeof entry['upstream'] === 'string') {
        if (splitNames.includes(entry['upstream'])) problems.push({ path: ['routes', i, 'split', j, 'upstream'], at: 'value', message: `"${entry['upstream']}" is already in this split` });
        splitNames.push(entry['upstream']);
      }
    });
    if (split.every((e: unknown) => isRecord(e) && e['weight'] === 0) && split.length > 0) {
      problems.push({ path: ['routes', i, 'split'], at: 'value', message: 'at least one weight must be above 0' });
    }
  }
  if (upstream !== undefined && split !== undefined) {
    problems.push({ path: ['routes', i, 'split'], at: 'key', message: 'give either upstream or split, not both' });
  } else if (upstream === undefined && split === undefined) {
    problems.push({ path: ['routes', i, 'upstream'], at: 'value', message: 'required: the name of an upstream (or give a split)' });
  }
  const canary = route['canary'];
  if (isRecord(canary)) {
    const name = canary['upstream'];
    known(name, ['routes', i, 'canary', 'upstream']);
    if (Array.isArray(split)) {
      if (split.length < 2) problems.push({ path: ['routes', i, 'canary'], at: 'key', message: 'a canary needs a split with at least two upstreams (or upstream plus canary.upstream)' });
      else if (typeof name === 'string' && !splitNames.includes(name)) problems.push({ path: ['routes', i, 'canary', 'upstream'], at: 'value', message: `"${name}" is not in this route's split (${splitNames.join(', ')})` });
    } else if (upstream !== undefined) {
      if (name === undefined) problems.push({ path: ['routes', i, 'canary'], at: 'key', message: 'on a route with upstream, canary.upstream names the canary group' });
      else if (name === upstream) problems.push({ path: ['routes', i, 'canary', 'upstream'], at: 'value', message: 'the canary must be another upstream than the route\'s' });
    }
  }
  return problems;
}

/**
 * The admin API off loopback must demand a strong token, and must not take a proxy address.
 * Checked on the raw values: the schema reports malformed ones.
 */
function adminProblems(raw: Record<string, unknown>): Problem[] {
  const admin = raw['admin'];
  if (admin === false) return [];
  const section = isRecord(admin) ? admin : {};
  const listenRaw = section['listen'] ?? ADMIN_DEFAULT_LISTEN;
  if (typeof listenRaw !== 'string' && typeof listenRaw !== 'number') return [];
  const address = parseListen(listenRaw);
  if (isError(address)) return [];
  const problems: Problem[] = [];
  const token = section['token'];
  const at: FieldPath = isRecord(admin) ? ['admin', 'listen'] : ['admin'];
  if (!isLoopbackHost(address.host)) {
    if (typeof token !== 'string' || token === '') {
      problems.push({ path: isRecord(admin) && 'token' in admin ? ['admin', 'token'] : at, at: 'value', message: `a token is required when admin.listen is not a loopback address (${address.host}); set admin.token, e.g. "\${PORTCULLIS_ADMIN_TOKEN}"` });
    } else if (token.length < ADMIN_TOKEN_MIN) {
      problems.push({ path: ['admin', 'token'], at: 'value', message: `must be at least ${ADMIN_TOKEN_MIN} characters when admin.listen is not a loopback address` });
    }
  }
  const listen = raw['listen'];
  const proxyAddresses = (Array.isArray(listen) ? listen : listen === undefined ? ['127.0.0.1:8080'] : [listen])
    .flatMap((item: unknown) => {
      if (typeof item !== 'string' && typeof item !== 'number') return [];
      const a = parseListen(item);
      return isError(a) ? [] : [a];
    });
  const clash = proxyAddresses.find((a) => a.port === address.port && (a.host === address.host || isWildcardHost(a.host) || isWildcardHost(address.host)));
  if (clash !== undefined) {
    problems.push({ path: at, at: 'value', message: isRecord(admin) && 'listen' in admin
      ? `port ${address.port} is also a proxy listen address (${clash.host}:${clash.port}); give the admin API its own port`
      : `the admin API's default address ${ADMIN_DEFAULT_LISTEN} clashes with the proxy listen address ${clash.host}:${clash.port}; set admin.listen to another port, or admin: false` });
  }
  return problems;
}

function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/**
 * Builds the real router from the routes, as each worker will, so that `check` refuses
 * exactly the tables the workers cannot build: not only the same host and path written
 * twice, but any two patterns the router cannot rank (`/u/:id` and `/u/:name`, `/f/*` and
 * `/f/`), and patterns it refuses (`/a//b`).
 */
function routeTableProblems(routes: readonly unknown[]): Problem[] {
  const problems: Problem[] = [];
  const router = new Router<number>();
  routes.forEach((route: unknown, i) => {
    if (!isRecord(route)) return;
    const host = route['host'] === undefined ? '' : typeof route['host'] === 'string' ? parseHostPattern(route['host']) : undefined;
    const path = route['path'] ?? '/';
    // Values the schema refuses are reported there; the router never sees them.
    if (typeof host !== 'string' || typeof path !== 'string' || isError(checkRoutePath(path))) return;
    const at: FieldPath = route['path'] === undefined ? ['routes', i] : ['routes', i, 'path'];
    try {
      router.add(host === '' ? undefined : host, path, i);
    } catch (err) {
      if (!(err instanceof RouteConflictError)) throw err;
      problems.push({ path: at, at: 'value', message: conflictMessage(err, host, path) });
    }
  });
  return problems;
}

function conflictMessage(err: RouteConflictError, host: string, path: string): string {
  if (err.existing === undefined) return err.reason;
  const first = err.existing.value as number;
  if (err.existing.pattern === path) {
    return `duplicate route: routes[${first}] already has host ${host ? `"${host}"` : '(any)'} and path "${path}"`;
  }
  const other = `${host ? `host "${host}", ` : ''}path "${err.existing.pattern}"`;
  return `conflicts with routes[${first}] (${other}): both match the same requests, so the router cannot choose between them`;
}

type FileRoute = NonNullable<ConfigFile['routes']>[number];
type FileUpstream = ConfigFile['upstreams'][string];

function buildUpstream(name: string, u: FileUpstream, source: string): UpstreamGroup {
  let tls: UpstreamTlsSettings | undefined;
  if (u.tls !== undefined) {
    const t: { -readonly [K in keyof UpstreamTlsSettings]: UpstreamTlsSettings[K] } = { verify: u.tls.verify };
    if (u.tls.ca !== undefined) t.ca = fromConfigDir(source, u.tls.ca);
    if (u.tls.server_name !== undefined) t.server_name = u.tls.server_name.toLowerCase();
    if (u.tls.cert !== undefined) t.cert = fromConfigDir(source, u.tls.cert);
    if (u.tls.key !== undefined) t.key = fromConfigDir(source, u.tls.key);
    tls = t;
  }
  return {
    name,
    targets: u.targets.map((t) => ({ url: t.url, host: t.host, port: t.port, ...(t.https ? { https: true as const } : {}), weight: t.weight, max_connections: t.max_connections ?? u.pool.max_connections })),
    pool: u.pool,
    balance: u.balance,
    sticky: u.sticky === undefined ? undefined : { cookie: u.sticky.cookie, ttl: u.sticky.ttl },
    health: u.health,
    passive: u.passive,
    slow_start: u.slow_start ?? 0,
    // Absent stays absent, so configs without it compare equal.
    ...(tls === undefined ? {} : { tls }),
  };
}

/** The retries a route without its own gets: connect failures and resets, twice, within 20%. */
export const DEFAULT_RETRIES: RetryConfig = Object.freeze({ attempts: 2, budget: 0.2, on: Object.freeze(['connect', 'reset'] as const) });

function buildCanary(r: FileRoute): CanaryConfig | undefined {
  const c = r.canary;
  if (c === undefined) return undefined;
  // Without a name: the split's smallest share (the last of equals) is the new version.
  let upstream = c.upstream;
  if (upstream === undefined && r.split !== undefined) {
    let min = Infinity;
    for (const e of r.split) if (e.weight <= min) { min = e.weight; upstream = e.upstream; }
  }
  return {
    upstream: upstream!,
    header: c.header,
    cookie: c.cookie,
    rollback: c.rollback === undefined ? undefined : { error_rate: c.rollback.error_rate, p99: c.rollback.p99, window: c.rollback.window, min_requests: c.rollback.min_requests },
  };
}

function buildRoute(r: FileRoute, index: number, file: ConfigFile): RouteConfig {
  const t = r.timeouts;
  return {
    host: r.host,
    path: r.path,
    upstream: r.upstream ?? r.split![0]!.upstream,
    // Absent stays absent (undefined = none), so configs without them compare equal.
    ...(r.split === undefined ? {} : { split: r.split }),
    ...(r.canary === undefined ? {} : { canary: buildCanary(r) }),
    // Only what the route sets: a changed global timeout is one change, not one per route.
    ...(t === undefined ? {} : { timeouts: t }),
    retries: r.retries ?? DEFAULT_RETRIES,
    strip_prefix: r.strip_prefix,
    host_header: r.host_header,
    index,
    ...(r.websocket === undefined ? {} : { websocket: r.websocket }),
    cache: typeof r.cache === 'object' ? r.cache.enabled : r.cache ?? file.cache.enabled,
    ...(typeof r.cache === 'object' ? { cache_options: { client_cache_control: r.cache.client_cache_control, authorization: r.cache.authorization } } : {}),
    ...routeProtection(r),
  };
}

function build(file: ConfigFile, source: string): Config {
  const upstreams: Record<string, UpstreamGroup> = {};
  for (const [name, u] of Object.entries(file.upstreams)) upstreams[name] = buildUpstream(name, u, source);
  const routes: RouteConfig[] = file.routes
    ? file.routes.map((r, index) => buildRoute(r, index, file))
    : Object.keys(upstreams).map((upstream) => ({
        host: undefined, path: '/', upstream, retries: DEFAULT_RETRIES, strip_prefix: false, host_header: undefined, index: 0, cache: file.cache.enabled,
        allow_dotfiles: false, allow_method_override: false,
      }));
  const listen = file.listen.map((l): Listener => {
    if (l.tls === undefined) return l.redirect_https ? { host: l.host, port: l.port, redirect_https: true } : { host: l.host, port: l.port };
    const certificates = l.tls.certificates.map((c) => ({ cert: fromConfigDir(source, c.cert), key: fromConfigDir(source, c.key) }));
    // HSTS for localhost would force https on every local port for a year: off by default
    // where only the local CA issues certificates.
    const internalOnly = certificates.length === 0 && !l.tls.acme;
    const hsts = l.tls.hsts ?? (internalOnly ? false : DEFAULT_HSTS);
    const tls = { certificates, acme: l.tls.acme, internal: l.tls.internal, hsts };
    return l.protocols === undefined ? { host: l.host, port: l.port, tls } : { host: l.host, port: l.port, tls, protocols: l.protocols };
  });
  return {
    source,
    listen,
    workers: file.workers,
    trusted_proxies: file.trusted_proxies,
    limits: file.limits,
    timeouts: file.timeouts,
    upstreams,
    routes,
    dns: file.dns,
    access_log: file.access_log,
    log_level: file.log_level,
    via: file.via,
    compression: file.compression,
    cache: file.cache,
    admin: file.admin,
    state_dir: file.state_dir === undefined ? '' : fromConfigDir(source, file.state_dir),
    acme: file.acme.directory_ca === undefined ? file.acme : { ...file.acme, directory_ca: fromConfigDir(source, file.acme.directory_ca) },
    ...(file.ip === undefined ? {} : { ip: file.ip }),
    ...(file.headers === undefined ? {} : { headers: file.headers }),
    redirects: file.redirects,
  };
}

type RouteFile = NonNullable<ConfigFile['routes']>[number];

/** A route's protection fields; absent ones stay absent so configs without them compare equal. */
function routeProtection(r: RouteFile): RouteProtectionConfig {
  return {
    allow_dotfiles: r.allow_dotfiles,
    allow_method_override: r.allow_method_override,
    ...(r.auth === undefined ? {} : { auth: r.auth }),
    ...(r.ip === undefined ? {} : { ip: r.ip }),
    ...(r.rate_limit === undefined ? {} : { rate_limit: r.rate_limit }),
    ...(r.methods === undefined ? {} : { methods: r.methods }),
    ...(r.headers === undefined ? {} : { headers: r.headers }),
    ...(r.deny === undefined ? {} : { deny: r.deny }),
    ...(r.rewrite === undefined ? {} : { rewrite: r.rewrite }),
  };
}

// One problem per field: the schema's finding comes first and a cross-field check of the
// same broken value (say, a duplicate-route check on an invalid path) would only add noise.
function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.at} ${JSON.stringify(p.path)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function valueAt(raw: unknown, path: FieldPath): unknown {
  let v = raw;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function article(type: string): string {
  return { array: 'a list', object: 'a map', record: 'a map', number: 'a number', int: 'a whole number', string: 'a string', boolean: 'true or false' }[type] ?? type;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}
