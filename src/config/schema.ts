// The config file's shape, defaults and field docs, declared once in zod: validation, the
// effective values and the editor JSON Schema (schema/portcullis.schema.json) all come
// from here. Leaf transforms turn literals ('32KiB', '10s', ':8080') into effective values.

import * as z from 'zod';
import {
  checkHeaderToken,
  checkRoutePath,
  isError,
  parseCidr,
  parseHostPattern,
  parseListen,
  parseTarget,
  type Parsed,
} from './address.js';
import { MAX_DURATION_MS, parseDuration, parseSize } from './units.js';
import { HeaderRules, IpRules, ProtectionLimits, Redirect, RouteProtection } from './protection-schema.js';

/** Adds a parser's message as a zod issue at the field being parsed. */
function parsedBy<I, O>(parse: (v: I) => Parsed<O>) {
  return (value: I, ctx: z.RefinementCtx): O => {
    const r = parse(value);
    if (isError(r)) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r;
  };
}

const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([bB]|[kKmMgG][iI]?[bB])?\\s*$';

function size(what: string) {
  return z
    .union([
      z.number().int('expected a whole number of bytes').min(1, 'must be greater than 0'),
      z.string().regex(new RegExp(SIZE_PATTERN), {
        error: (iss) => `invalid size ${JSON.stringify(iss.input)} (use bytes or a unit: 512, 10KB, 32KiB, 64MiB, 1GiB)`,
      }),
    ], {
      error: 'expected a size: whole bytes (65536) or a number with a unit ("64KiB", "10MB")',
    })
    .transform(
      parsedBy((v: number | string) => {
        const bytes = parseSize(v);
        return typeof bytes === 'number' && bytes < 1 ? { error: 'must be greater than 0' } : bytes;
      }),
    )
    .describe(`${what} Bytes, or a number with a unit: B, KB/MB/GB (×1000), KiB/MiB/GiB (×1024).`);
}

const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?(ms|s|m|h))+\\s*$';

function duration(what: string) {
  return z
    .string({
      error: (iss) =>
        typeof iss.input === 'number'
          ? `durations need a unit, e.g. "${iss.input}s" or "${iss.input}ms"`
          : `expected a duration string like "10s" or "500ms"`,
    })
    .regex(new RegExp(DURATION_PATTERN), {
      error: (iss) => `invalid duration ${JSON.stringify(iss.input)} (use a number with a unit: 500ms, 10s, 1m, 1h, 1m30s)`,
    })
    .transform(
      parsedBy((v: string) => {
        const ms = parseDuration(v);
        return ms === 0 ? { error: 'must be greater than 0' } : ms;
      }),
    )
    .describe(`${what} A string with a unit: ms, s, m, h (e.g. "500ms", "10s", "1m30s"); at most ${MAX_DURATION_MS} ms.`);
}

function count(what: string) {
  return z
    .number({ error: 'expected a whole number' })
    .int('expected a whole number')
    .min(1, 'must be at least 1')
    .describe(what);
}

const ListenAddress = z
  .union([z.string(), z.number().int()], { error: 'expected an address like "127.0.0.1:8080", ":8080" or "[::1]:8080"' })
  .transform(parsedBy(parseListen))
  .describe('"host:port" with an IP literal or localhost; ":8080" or 8080 mean all IPv4 interfaces (0.0.0.0); IPv6 as "[::1]:8080".');

const Limits = z
  .strictObject({
    max_header_bytes: size('Largest request head (request line, header lines and the blank line that ends them); over it the client gets 431. At most 1MiB (uWS holds a partial head in memory per connection). Raising it takes a restart (uWS reads its limit once per process).')
      .refine((n) => n <= 1024 * 1024, 'must be at most 1MiB (uWS holds a partial head in memory per connection)')
      .prefault('32KiB'),
    max_header_count: count('Most request header lines; over it the client gets 431. At most 98: uWS refuses a 99th line itself.')
      .max(98, 'must be at most 98 (uWS refuses a 99th header line itself)')
      .default(98),
    max_body_bytes: size('Largest request body; over it the client gets 413.').prefault('64MiB'),
    upload_buffer: size('Request-body bytes one worker may hold, all exchanges together, for upstreams that take bodies more slowly than clients send them. Past it, the exchange whose write finds it full ends with 503 PC_ERR_UPLOAD_BACKLOG (uWS keeps reading a paused client, docs/limits.md "Request bodies").').prefault('64MiB'),
    max_response_header_bytes: size('Largest upstream response head; over it the client gets 502.').prefault('64KiB'),
    ...ProtectionLimits,
  })
  .prefault({})
  .describe('Size limits on requests and upstream responses.');

const Timeouts = z
  .strictObject({
    header: duration('The client must send the whole request head within this; uWS closes the connection, checking on a 4-second tick: never before this, at most 8 s after (4 s for multiples of 4 s). At least 5s. uWS also times request bodies against it (16 KiB/s on average over each period).')
      .refine((ms) => ms >= 5000, 'must be at least 5s (uWS checks on a 4-second tick)')
      .prefault('10s'),
    connect: duration('TCP connect to an upstream target; failure gives 502.').prefault('3s'),
    response_header: duration('From request sent to upstream response head received; over it gives 504.').prefault('60s'),
    idle: duration('Idle keep-alive connections (both sides) and bodies that stop making progress. On the client side uWS applies it on a 4-second tick: never before this, at most 8 s after.').prefault('60s'),
    drain: duration('On SIGTERM/SIGINT, how long in-flight requests may take before workers close.').prefault('30s'),
  })
  .prefault({})
  .describe('Timeouts.');

const Pool = z
  .strictObject({
    max_connections: count('Most open connections per upstream target per worker.').default(256),
    idle_timeout: duration("Close an idle pooled connection after this (capped by the upstream's Keep-Alive timeout).").prefault('30s'),
  })
  .prefault({})
  .describe('Keep-alive connection pool for this upstream.');

const Target = z
  .string({ error: 'expected a URL like "http://127.0.0.1:3000"' })
  .transform(parsedBy(parseTarget))
  .describe('"http://host:port" (port defaults to 80); no path, query or credentials. https is not supported yet.');

export const UPSTREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
export const UPSTREAM_NAME_RULE = 'upstream names start with a letter or digit, then letters, digits, "_" and "-"';

const Upstream = z
  .strictObject({
    targets: z.array(Target).min(1, 'an upstream needs at least one target').describe('Origin servers; requests are spread across them.'),
    pool: Pool,
  })
  .describe('A named group of origin servers.');

// WebSocket tunnels (upstream/tunnel.ts). The proxy terminates both hops, so these bound
// what it holds per tunnel: about buffer + max_message_size in each direction.
const WebSocketSettings = z
  .strictObject({
    max_message_size: size('Largest WebSocket message (after reassembly of fragments), either direction; a bigger one closes the tunnel with 1009. At most 1GiB.')
      .refine((n) => n <= 1024 ** 3, 'must be at most 1GiB')
      .prefault('16MiB'),
    buffer: size('High-water mark of bytes queued toward one side. Toward the client: above it the upstream is paused until the client catches up. Toward the upstream (clients cannot be paused): over buffer + max_message_size the tunnel is closed with 1013. At most 1GiB.')
      .refine((n) => n <= 1024 ** 3, 'must be at most 1GiB')
      .prefault('1MiB'),
    idle_timeout: duration('Close a tunnel after this long without a frame: from either side when ping_interval is off; from one side (its pongs count) when pings are on, which detects dead peers. At least 500ms.')
      .refine((ms) => ms >= 500, 'must be at least 500ms')
      .prefault('2m'),
    ping_interval: z
      .union([duration('Send a ping to both sides this often; false turns pings off. At least 100ms, and shorter than idle_timeout.').refine((ms) => ms >= 100, 'must be at least 100ms (or false)'), z.literal(false, { error: 'expected a duration like "30s" (with a unit), or false' })], {
        error: 'expected a duration like "30s", or false',
      })
      .prefault('30s')
      .describe('Send a ping to both sides this often so quiet tunnels stay open and dead peers are found; false turns it off. Must be shorter than idle_timeout.'),
    compression: z.boolean().default(true).describe('Negotiate permessage-deflate on each hop when the client offers it.'),
  })
  .superRefine((v, ctx) => {
    if (v.ping_interval !== false && v.ping_interval >= v.idle_timeout) {
      ctx.addIssue({ code: 'custom', path: ['ping_interval'], message: `must be shorter than idle_timeout (${v.idle_timeout} ms)` });
    }
  })
  .describe('WebSocket tunnels on this route (upgrade requests are detected automatically).');

/** The websocket settings a route gets when it has no websocket section. */
export function defaultWebSocketSettings(): z.output<typeof WebSocketSettings> {
  return WebSocketSettings.parse({});
}

const Route = z
  .strictObject({
    host: z
      .string({ error: 'expected a host name like "api.example.com" or "*.example.com"' })
      .transform(parsedBy(parseHostPattern))
      .optional()
      .describe('Exact host ("api.example.com") or wildcard ("*.example.com"), case-insensitive, no port. Omit to match any host.'),
    path: z
      .string({ error: 'expected a path like "/" or "/api/"' })
      .transform(parsedBy(checkRoutePath))
      .default('/')
      .describe('"/exact", "/prefix/" (that directory and below), "/users/:id" (parameter), "/files/*" (trailing wildcard). Most specific match wins.'),
    upstream: z.string({ error: 'expected the name of an upstream' }).min(1, 'expected the name of an upstream').describe('Name of the upstream (a key under upstreams) that serves this route.'),
    strip_prefix: z.boolean().default(false).describe('Remove the matched static prefix before forwarding ("/v1/users" → "/users").'),
    host_header: z
      .string()
      .regex(/^[^\s\x00-\x1f\x7f]+$/, 'must be a host name, optionally with a port, without spaces')
      .optional()
      .describe("Host header sent upstream instead of the client's."),
    websocket: WebSocketSettings.optional(),
    cache: z
      .boolean({ error: 'expected true or false' })
      .optional()
      .describe('Cache responses on this route (overrides cache.enabled). Only what the upstream marks cacheable is stored.'),
    // Edge protection (src/policy/, docs/protection.md).
    ...RouteProtection,
  })
  .describe('Sends requests matching host and path to an upstream.');

const COMPRESSIBLE_TYPES = [
  'text/*', 'application/json', 'application/*+json', 'application/javascript', 'application/xml',
  'application/*+xml', 'application/wasm', 'application/manifest+json', 'application/x-javascript',
  'image/svg+xml', 'image/x-icon', 'font/ttf', 'font/otf',
];

const Compression = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Compress responses for clients that accept it. Off by default, like nginx gzip and Caddy encode.'),
    encodings: z
      .array(z.enum(['zstd', 'br', 'gzip'], { error: 'expected zstd, br or gzip' }))
      .min(1, 'offer at least one encoding')
      .default(['zstd', 'br', 'gzip'])
      .describe('Codings offered, in server preference order (it breaks ties between equal client q-values). zstd is used only when the native addon was built with libzstd.'),
    min_bytes: size('Responses whose Content-Length is below this are not compressed (unknown lengths are).').prefault('1KiB'),
    types: z
      .array(z.string().regex(/^[a-z0-9!#$&^_.+-]+\/(\*|[a-z0-9!#$&^_.+-]+|\*\+[a-z0-9!#$&^_.-]+)$/, 'expected a media type like "text/*", "application/json" or "application/*+json"'))
      .default(COMPRESSIBLE_TYPES)
      .describe('Compressible media types (lowercase). "text/*" matches a whole top-level type, "application/*+json" a structured-syntax suffix.'),
    gzip_level: count('gzip level 1–9.').max(9, 'must be 1–9').default(5),
    brotli_quality: z.number().int('expected a whole number').min(0, 'must be 0–9').max(9, 'must be 0–9 (10 and 11 are far too slow on the fly)').default(4).describe('Brotli quality 0–9.'),
    zstd_level: count('zstd level 1–19.').max(19, 'must be 1–19').default(3),
    sync_max_bytes: size('Bodies with a known length up to this are compressed in one shot on the worker thread and sent with a Content-Length; bigger or unknown-length bodies stream, compressed off the worker thread.').prefault('64KiB'),
  })
  .prefault({})
  .describe('Response compression (gzip, brotli, zstd) negotiated with Accept-Encoding.');

const Cache = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Cache on every route that does not say otherwise. Off by default, like nginx proxy_cache; a route opts in with `cache: true`.'),
    size: size('Shared memory for cached responses, used by all workers together; the oldest entries make room for new ones. At most 4GiB.')
      .refine((n) => n >= 1024 * 1024 && n <= 4 * 1024 ** 3, 'must be 1MiB–4GiB')
      .prefault('64MiB'),
    max_entry_bytes: size('Largest response (head and body) stored; bigger ones pass through uncached. At most size / 4. Default: 8MiB, or size / 4 when that is smaller.').optional(),
  })
  .superRefine((v, ctx) => {
    // Only against a valid size: a size error alone says what to fix.
    if (v.max_entry_bytes !== undefined && v.size >= 1024 * 1024 && v.size <= 4 * 1024 ** 3 && v.max_entry_bytes > v.size / 4) {
      ctx.addIssue({ code: 'custom', path: ['max_entry_bytes'], message: `must be at most size / 4 (${Math.floor(v.size / 4)} bytes)` });
    }
  })
  .transform((v) => ({ ...v, max_entry_bytes: v.max_entry_bytes ?? Math.min(8 * 1024 * 1024, Math.floor(v.size / 4)) }))
  .prefault({})
  .describe('Shared HTTP cache (RFC 9111) for all workers. Stores only responses the upstream marks cacheable and never private ones.');

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug'] as const;

export const ACCESS_LOG_FORMATS = ['json', 'combined', 'common'] as const;

const AccessLog = z
  .union([
    z.boolean(),
    z.strictObject({
      enabled: z.boolean().default(true).describe('Write one line per request.'),
      format: z
        .enum(ACCESS_LOG_FORMATS, { error: `expected one of: ${ACCESS_LOG_FORMATS.join(', ')}` })
        .default('json')
        .describe('json: one JSON object per line with every field (request id, route, upstream, timings, cache); combined/common: the Apache/nginx formats log tools read.'),
      output: z.string().min(1, 'must not be empty').default('stdout').describe('"stdout", "stderr" or a file path (relative to the working directory). A file is reopened on SIGUSR1 (logrotate).'),
    }),
  ], { error: 'expected true, false or { enabled, format, output }' })
  .transform((v) => (typeof v === 'boolean' ? { enabled: v, format: 'json' as const, output: 'stdout' } : v))
  .prefault(true)
  .describe('Access log: true/false, or { enabled, format, output }. PORTCULLIS_ACCESS_LOG=on|off overrides enabled.');

/** Where the admin API listens when the config does not say. */
export const ADMIN_DEFAULT_LISTEN = '127.0.0.1:9901';
/** Shortest admin token accepted: a guessable token is no protection off loopback. */
export const ADMIN_TOKEN_MIN = 16;

const Admin = z
  .union([
    z.boolean(),
    z.strictObject({
      listen: ListenAddress.prefault(ADMIN_DEFAULT_LISTEN).describe(`Address of the admin API (status, config, reload, metrics, dashboard). Default ${ADMIN_DEFAULT_LISTEN}: loopback only.`),
      token: z
        .string({ error: 'expected a string' })
        .regex(/^[\x21-\x7e]*$/, 'must be printable ASCII without spaces')
        .optional()
        .describe(`Bearer token every admin request must carry (Authorization: Bearer TOKEN). Required, at least ${ADMIN_TOKEN_MIN} characters, when listen is not a loopback address. Write it as "\${PORTCULLIS_ADMIN_TOKEN}" to keep it out of the file.`),
    }),
  ], { error: 'expected true, false or { listen, token }' })
  .transform((v) => (v === false ? null : v === true ? { listen: defaultAdminListen(), token: undefined } : { listen: v.listen, token: v.token === '' ? undefined : v.token }))
  .prefault(true)
  .describe('Admin API: status, effective config, reload, upstreams, cache purge, workers, connections, drain, Prometheus /metrics and the dashboard. On by default on loopback; false turns it off.');

function defaultAdminListen() {
  const parsed = parseListen(ADMIN_DEFAULT_LISTEN);
  if (isError(parsed)) throw new Error(parsed.error);
  return parsed;
}

/** The file's top level. Unknown keys are errors everywhere (strict objects) so typos surface. */
export const ConfigFileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('JSON Schema for editors; ignored by Portcullis.'),
    listen: z
      .union([ListenAddress, z.array(ListenAddress).min(1, 'listen on at least one address')], {
        error: 'expected an address or a list of addresses',
      })
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .prefault(['127.0.0.1:8080'])
      .describe('Addresses to accept connections on. Default: loopback only.'),
    workers: z
      .number({ error: 'expected a whole number' })
      .int('expected a whole number')
      .min(0, 'must be 0–256 (0 = one per CPU)')
      .max(256, 'must be 0–256 (0 = one per CPU)')
      .default(0)
      .describe('Worker threads; 0 = available parallelism. PORTCULLIS_WORKERS overrides.'),
    trusted_proxies: z
      .array(z.string({ error: 'expected a CIDR like "10.0.0.0/8" or an IP address' }).transform(parsedBy(parseCidr)))
      .default([])
      .describe('CIDRs or single IPs (v4/v6) whose X-Forwarded-For / Forwarded headers are believed. Default: none.'),
    limits: Limits,
    timeouts: Timeouts,
    upstreams: z
      .record(
        z.string().regex(UPSTREAM_NAME, UPSTREAM_NAME_RULE),
        Upstream,
      )
      .describe('Named groups of origin servers, referenced by routes.'),
    routes: z
      .array(Route)
      .min(1, 'define at least one route, or leave routes out when there is a single upstream')
      .optional()
      .describe('Routes, matched by host then most specific path. May be omitted when there is exactly one upstream (a "/" route to it).'),
    access_log: AccessLog,
    log_level: z
      .enum(LOG_LEVELS, { error: `expected one of: ${LOG_LEVELS.join(', ')}` })
      .default('info')
      .describe('Log verbosity. PORTCULLIS_LOG_LEVEL overrides.'),
    via: z
      .string()
      .transform(parsedBy(checkHeaderToken))
      .default('1.1 portcullis')
      .describe('Via header value added to proxied messages (RFC 9110 §7.6.3).'),
    compression: Compression,
    cache: Cache,
    admin: Admin,
    // Edge protection for every route (src/policy/, docs/protection.md).
    ip: IpRules.optional().describe('IP allow/deny for every route (checked before the route\'s own rules).'),
    headers: HeaderRules.optional().describe('Header edits and security preset for every route; a route\'s own headers apply after these.'),
    redirects: z.array(Redirect).default([]).describe('Redirects answered before routing (they also apply to hosts and paths no route matches).'),
  })
  .meta({ title: 'Portcullis configuration' })
  .describe('Portcullis edge reverse proxy configuration.');

export type ConfigFile = z.output<typeof ConfigFileSchema>;
export { LOG_LEVELS };

/** Top-level keys starting with this are extension fields: allowed and ignored. */
export const EXTENSION_PREFIX = 'x-';

/** The editor schema: what a user may write (zod input side), draft-07 for yaml-language-server. */
export function configJsonSchema(): object {
  const schema = z.toJSONSchema(ConfigFileSchema, { io: 'input', target: 'draft-7' });
  // The file's top level also takes `x-*` extension keys (validate.ts drops them before
  // zod sees the file), so editors must not flag them either.
  return {
    ...schema,
    patternProperties: { [`^${EXTENSION_PREFIX}`]: { description: 'Extension field, ignored by Portcullis (for YAML anchors or other tools).' } },
  };
}

// Minimal view of zod's internal definitions, enough to walk from a path to an object schema.
interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  element?: { _zod: { def: Def } };
  valueType?: { _zod: { def: Def } };
  innerType?: { _zod: { def: Def } };
  in?: { _zod: { def: Def } };
  options?: readonly { _zod: { def: Def } }[];
}

/** Keys the schema allows at a path (for "did you mean" hints on unknown keys). */
export function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let defs: Def[] = [ConfigFileSchema._zod.def as unknown as Def];
  const unwrap = (d: Def): Def[] => {
    const next = d.innerType ?? d.in;
    if (next) return unwrap(next._zod.def);
    if (d.options) return d.options.flatMap((o) => unwrap(o._zod.def));
    return [d];
  };
  for (const seg of path) {
    defs = defs.flatMap(unwrap).flatMap((d): Def[] => {
      if (d.type === 'object' && typeof seg === 'string' && d.shape?.[seg]) return [d.shape[seg]._zod.def];
      if (d.type === 'array' && typeof seg === 'number' && d.element) return [d.element._zod.def];
      if (d.type === 'record' && d.valueType) return [d.valueType._zod.def];
      return [];
    });
  }
  return defs.flatMap(unwrap).flatMap((d) => (d.type === 'object' && d.shape ? Object.keys(d.shape) : []));
}
