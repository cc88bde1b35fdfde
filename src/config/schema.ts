// The config file's shape, defaults and field docs, declared once in zod: validation, the
// effective values and the editor JSON Schema (schema/portcullis.schema.json) all come
// from here. Leaf transforms turn literals ('32KiB', '10s', ':8080') into effective values.

import * as z from 'zod';
import {
  checkHeaderToken,
  checkRoutePath,
  checkToken,
  isError,
  parseCidr,
  parseDnsServer,
  parseHashKey,
  parseHostPattern,
  parseListen,
  parseTarget,
} from './address.js';
import { MAX_DURATION_MS, parseDuration, parsePercent, parseSize, parseStatusRanges } from './units.js';
import { HeaderRules, IpRules, parsedBy, ProtectionLimits, Redirect, RouteProtection } from './protection-schema.js';


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

function percent(what: string) {
  return z
    .string({ error: 'expected a percentage like "20%"' })
    .transform(parsedBy(parsePercent))
    .describe(`${what} A percentage: "20%".`);
}

/** An HTTP header name (matched case-insensitively: lowercased). */
function headerName(what: string) {
  return z
    .string({ error: 'expected a header name like "x-canary"' })
    .transform(parsedBy(checkToken))
    .transform((v) => v.toLowerCase())
    .describe(what);
}

function cookieName(what: string) {
  return z.string({ error: 'expected a cookie name' }).transform(parsedBy(checkToken)).describe(what);
}

const ListenAddress = z
  .union([z.string(), z.number().int()], { error: 'expected an address like "127.0.0.1:8080", ":8080" or "[::1]:8080"' })
  .transform(parsedBy(parseListen))
  .describe('"host:port" with an IP literal or localhost; ":8080" or 8080 mean all IPv4 interfaces (0.0.0.0); IPv6 as "[::1]:8080".');

const CertificateFiles = z
  .strictObject({
    cert: z.string({ error: 'expected the path of a PEM certificate file' }).min(1, 'must not be empty').describe('PEM file with the certificate, then its intermediates (leaf first). A relative path is relative to the config file.'),
    key: z.string({ error: 'expected the path of a PEM private key file' }).min(1, 'must not be empty').describe('PEM file with the unencrypted private key of `cert`. A relative path is relative to the config file.'),
  })
  .describe('A certificate and its key. The host names it serves are the DNS names of its subjectAltName (exact or "*.example.com").');

const LONG_DURATION_PATTERN = '^\\s*(\\d+(s|m|h|d))+\\s*$';
const LONG_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Whole seconds from "365d", "12h", "1d12h" (HSTS max-age can be years: longer than a timer's duration). */
function seconds(what: string) {
  return z
    .string({ error: (iss) => (typeof iss.input === 'number' ? `durations need a unit, e.g. "${iss.input}s" or "${iss.input}d"` : 'expected a duration like "365d"') })
    .regex(new RegExp(LONG_DURATION_PATTERN), { error: (iss) => `invalid duration ${JSON.stringify(iss.input)} (use whole numbers with a unit: 300s, 12h, 365d, 1d12h)` })
    .transform((v) => [...v.matchAll(/(\d+)([smhd])/g)].reduce((sum, m) => sum + Number(m[1]) * LONG_UNITS[m[2]!]!, 0))
    .describe(`${what} Whole numbers with a unit: s, m, h, d (e.g. "365d", "1d12h").`);
}

const Hsts = z
  .union([
    z.strictObject({
      max_age: seconds('How long browsers remember to use HTTPS only (the max-age directive, RFC 6797 §6.1.1).').prefault('365d'),
      include_subdomains: z.boolean().default(false).describe('Add includeSubDomains: every subdomain must then serve HTTPS too.'),
      preload: z.boolean().default(false).describe('Add preload (for browsers\' preload lists; needs include_subdomains and max_age of a year or more there).'),
    }),
    // Second: a union reports the first branch the value was meant for, and a literal's
    // mismatch would otherwise hide the object's field errors.
    z.literal(false),
  ], { error: 'expected false, or { max_age, include_subdomains, preload }' })
  .describe('Strict-Transport-Security on every answer of this listener (unless the upstream sent its own). false turns it off. Default: on with max-age 365 days, off on a listener that only has internal certificates (HSTS on localhost would force https on every local port for a year).');

/** What a TLS listener with certificates sends when its config does not say. */
export const DEFAULT_HSTS = Object.freeze({ max_age: 365 * 86_400, include_subdomains: false, preload: false });

const TlsObject = z
  .strictObject({
    certificates: z
      .array(CertificateFiles)
      .default([])
      .describe('Certificates served by SNI host name. The first one is also the default: clients that send no name, or a name no certificate covers, get it. Replaced files are picked up within seconds.'),
    acme: z
      .boolean({ error: 'expected true or false' })
      .default(false)
      .describe('Get certificates from an ACME CA (Let\'s Encrypt by default; see the acme section) for every exact route host and acme.names, by HTTP-01 on a plain listener; renewed at two thirds of their lifetime. Needs a plain listener that the CA reaches on port 80.'),
    internal: z
      .boolean({ error: 'expected true or false' })
      .default(false)
      .describe('Also serve certificates from the local CA Portcullis creates in state_dir (for localhost, the listener\'s IP and every route host): HTTPS for development and internal networks. Its root certificate\'s path is printed at start.'),
    hsts: Hsts.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.certificates.length === 0 && !v.internal && !v.acme) {
      ctx.addIssue({ code: 'custom', path: ['certificates'], message: 'a TLS listener needs certificates, acme: true or internal: true' });
    }
  });

const TlsSettings = z
  .union([
    TlsObject,
    z.literal('internal', { error: 'expected "internal" or { certificates, acme, internal, hsts }' }).transform(() => TlsObject.parse({ internal: true })),
  ], { error: 'expected "internal" or { certificates, acme, internal, hsts }' })
  .describe('TLS on this listener (HTTPS): { certificates, acme, internal, hsts }, or "internal" (certificates from the local CA). TLS 1.2 and 1.3 only, modern ciphers, session resumption. See docs/tls.md.');

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

const OnDemand = z
  .strictObject({
    allow: z
      .array(z.string().transform(parsedBy(parseHostPattern)))
      .default([])
      .describe('Host patterns ("shop.example.com", "*.customers.example.com") a certificate may be issued for at the first handshake that names them.'),
    ask: z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, 'expected an http:// or https:// URL')
      .optional()
      .describe('URL asked before issuing for a name: GET URL?domain=NAME; a 2xx answer within 5 s allows it (Caddy\'s on_demand ask).'),
  })
  .superRefine((v, ctx) => {
    if (v.allow.length === 0 && v.ask === undefined) ctx.addIssue({ code: 'custom', path: ['allow'], message: 'on_demand needs allow patterns or an ask URL (issuing for any name a client sends is never allowed)' });
  })
  .describe('Certificates for names not in the config, issued when a client first asks for one (that handshake fails; later ones get the certificate). Only for names the allow patterns or the ask URL approve; at most 10 issuances a minute.');

const Acme = z
  .strictObject({
    email: z.string().regex(/^[^\s@]+@[^\s@]+$/, 'expected an email address').optional().describe('Contact address given to the CA for expiry and policy notices.'),
    directory: z
      .string()
      .regex(/^https:\/\/[^\s]+$/, 'expected an https:// URL')
      .default('https://acme-v02.api.letsencrypt.org/directory')
      .describe('ACME directory URL. Default: Let\'s Encrypt production (staging: https://acme-staging-v02.api.letsencrypt.org/directory). Using it agrees to the CA\'s terms of service.'),
    directory_ca: z.string().min(1, 'must not be empty').optional().describe('PEM file of the CA that signs the directory\'s own HTTPS certificate, for private ACME servers (step-ca, Pebble). Relative to the config file.'),
    names: z
      .array(z.string().transform((v) => v.trim().toLowerCase()).refine((v) => HOST_NAME.test(v), 'expected a host name like "www.example.com" (no wildcards: HTTP-01 cannot prove them)'))
      .default([])
      .describe('Host names to get certificates for besides the routes\' exact hosts.'),
    on_demand: OnDemand.optional(),
  })
  .prefault({})
  .describe('The ACME CA that listeners with tls.acme get certificates from (RFC 8555, HTTP-01), done once by the primary process.');

const ListenEntry = z
  .union([
    ListenAddress,
    z.strictObject({
      address: ListenAddress,
      tls: TlsSettings.optional(),
      protocols: z
        .array(z.enum(['h1', 'h2'], { error: 'expected h1 or h2' }))
        .min(1, 'offer at least one protocol')
        .optional()
        .describe('HTTP versions offered on a TLS listener, by ALPN: [h1] (the default: HTTP/1.1 on uWS, the fastest), [h1, h2] (HTTP/2 too, through Node\'s http2: browsers prefer it; it costs more CPU per request, docs/tls.md), or [h2].'),
      redirect_https: z
        .boolean({ error: 'expected true or false' })
        .default(false)
        .describe('On a plain listener: answer 308 with the https:// URL for hosts that have a certificate on a TLS listener (ACME challenges and requests a trusted proxy marks as https are served instead).'),
    }).superRefine((v, ctx) => {
      if (v.redirect_https && v.tls !== undefined) ctx.addIssue({ code: 'custom', path: ['redirect_https'], message: 'redirect_https is for plain listeners (this one has tls)' });
      if (v.protocols?.includes('h2') && v.tls === undefined) ctx.addIssue({ code: 'custom', path: ['protocols'], message: 'h2 needs tls (HTTP/2 without TLS, h2c, is not offered)' });
    }),
  ], { error: 'expected an address like ":8080", or { address, tls, protocols, redirect_https }' })
  .transform((v): { host: string; port: number; tls?: z.output<typeof TlsSettings>; redirect_https?: true; protocols?: ('h1' | 'h2')[] } => {
    if (!('address' in v)) return v;
    const protocols = v.protocols === undefined ? {} : { protocols: [...new Set(v.protocols)] };
    return { ...v.address, ...(v.tls === undefined ? {} : { tls: v.tls }), ...(v.redirect_https ? { redirect_https: true as const } : {}), ...protocols };
  })
  .describe('An address ("host:port", as a string), or { address, tls, protocols, redirect_https }.');

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
    max_connections: count('Most open connections per upstream target per worker; a target with that many requests in flight is full and skipped by the balancer.').default(256),
    idle_timeout: duration("Close an idle pooled connection after this (capped by the upstream's Keep-Alive timeout).").prefault('30s'),
    queue: z
      .number({ error: 'expected a whole number' })
      .int('expected a whole number')
      .min(0, 'must be 0 or more')
      .max(1_000_000, 'must be at most 1000000')
      .default(1024)
      .describe('When every target is full: most requests waiting per target per worker (each up to timeouts.connect); beyond it the answer is 503 with Retry-After. 0: no waiting.'),
  })
  .prefault({})
  .describe('Keep-alive connection pool for this upstream.');

const TargetUrl = z
  .string({ error: 'expected a URL like "http://127.0.0.1:3000"' })
  .transform(parsedBy(parseTarget))
  .describe('"http://host:port" (port defaults to 80) or "https://host:port" (443, TLS to the target: see the upstream\'s tls); no path, query or credentials. A DNS name is re-resolved by its TTL (see dns).');

const Target = z
  .union([
    TargetUrl.transform((t) => ({ ...t, weight: 1, max_connections: undefined as number | undefined })),
    z
      .strictObject({
        url: TargetUrl,
        weight: z
          .number({ error: 'expected a whole number' })
          .int('expected a whole number')
          .min(1, 'must be at least 1')
          .max(1000, 'must be at most 1000')
          .default(1)
          .describe('Relative share of the traffic: weight 3 gets three times what weight 1 gets.'),
        max_connections: count('In-flight requests per worker before this target is full (default: pool.max_connections).').optional(),
      })
      .transform((t) => ({ ...t.url, weight: t.weight, max_connections: t.max_connections })),
  ], { error: 'expected a URL like "http://127.0.0.1:3000" or { url, weight, max_connections }' })
  .describe('A URL, or { url, weight, max_connections }.');

export const UPSTREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
export const UPSTREAM_NAME_RULE = 'upstream names start with a letter or digit, then letters, digits, "_" and "-"';

export const BALANCE_POLICIES = ['round_robin', 'least_requests', 'random', 'first', 'hash'] as const;

const Balance = z
  // The map first: an enum's error would otherwise stand for a map with a bad key inside.
  .union([
    z.strictObject({
      hash: z
        .strictObject({
          key: z
            .string({ error: 'expected client_ip, header:NAME or cookie:NAME' })
            .transform(parsedBy(parseHashKey))
            .prefault('client_ip')
            .describe('What is hashed: client_ip (the client identity), header:NAME or cookie:NAME. A request without it is balanced at random.'),
        })
        .prefault({})
        .describe('Consistent hashing: the same key goes to the same target while it is available.'),
    }),
    z.enum(BALANCE_POLICIES, { error: `expected one of: ${BALANCE_POLICIES.join(', ')}, or { hash: { key } }` }),
  ], { error: `expected one of: ${BALANCE_POLICIES.join(', ')}, or { hash: { key } }` })
  .transform((v) => (typeof v === 'string'
    ? v === 'hash' ? { policy: v, key: { kind: 'client_ip' as const } } : { policy: v }
    : { policy: 'hash' as const, key: v.hash.key }))
  .prefault('round_robin')
  .describe('How a request picks a target: round_robin (smooth, weighted), least_requests (fewest in flight of two random picks), random, first (the first available, in order: failover), hash (consistent hashing on client_ip; { hash: { key: "header:NAME" | "cookie:NAME" } } for another key).');

const Sticky = z
  .strictObject({
    cookie: cookieName('Cookie that names the target.').default('pc_sticky'),
    ttl: duration('Max-Age of the cookie; without it the cookie lasts the browser session.').optional(),
  })
  .describe('Sticky sessions: the first answer sets a cookie naming its target, and later requests carrying it go to that target while it is available.');

const Health = z
  .strictObject({
    path: z
      .string({ error: 'expected a path like "/healthz"' })
      .regex(/^\/[^\s#]*$/, 'must start with "/" and contain no spaces or "#"')
      .default('/')
      .describe('Path (and query) requested with GET.'),
    interval: duration('Time between checks of each target.').prefault('5s'),
    timeout: duration('A check without a complete answer within this fails. At most interval.').prefault('2s'),
    unhealthy_after: count('Consecutive failed checks that mark a healthy target unhealthy.').default(3),
    healthy_after: count('Consecutive passed checks that mark an unhealthy target healthy again.').default(2),
    expect: z
      .string({ error: 'expected statuses like "200-399" or "200,204"' })
      .transform(parsedBy(parseStatusRanges))
      .prefault('200-399')
      .describe('Statuses that pass: codes and ranges, "200-399", "200,204".'),
  })
  .superRefine((v, ctx) => {
    if (v.timeout > v.interval) ctx.addIssue({ code: 'custom', path: ['timeout'], message: `must be at most interval (${v.interval} ms)` });
  })
  .describe('Active health checks: each target is asked once per interval by the proxy (not once per worker); every worker sees the result.');

const Passive = z
  .union([
    z.strictObject({
      failures: count('Failures (connect errors, resets, timeouts, 5xx) without a success in between, within window, that eject a target.').default(5),
      window: duration('Failures older than this are forgotten.').prefault('10s'),
      eject: duration('How long an ejected target gets no traffic; the n-th ejection in a row lasts n times as long (at most 10×).').prefault('30s'),
      max_ejected: percent('Largest share of the group ejected at once (at least one target).').prefault('50%'),
    }),
    z.literal(false),
  ], { error: 'expected { failures, window, eject, max_ejected } or false' })
  .prefault({})
  .describe('Passive health (outlier detection) from real traffic, shared by all workers; false turns it off.');

const UpstreamTls = z
  .strictObject({
    ca: z.string().min(1, 'must not be empty').optional().describe('PEM file with the CA certificates that sign the targets\' certificates, trusted instead of the default roots (Node\'s Mozilla list and NODE_EXTRA_CA_CERTS). Relative to the config file.'),
    server_name: z
      .string()
      .regex(/^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/, 'must be a host name')
      .optional()
      .describe('Host name sent as SNI and that the certificate must name. Default: the target\'s host (an IP target is checked against its IP and gets no SNI).'),
    cert: z.string().min(1, 'must not be empty').optional().describe('Client certificate (PEM, leaf first) presented to the targets that ask for one (mutual TLS). Needs key.'),
    key: z.string().min(1, 'must not be empty').optional().describe('Unencrypted private key of cert.'),
    verify: z.boolean({ error: 'expected true or false' }).default(true).describe('Verify the targets\' certificates (chain and name). false accepts any certificate: only for testing; a warning is logged at start.'),
  })
  .superRefine((v, ctx) => {
    if ((v.cert === undefined) !== (v.key === undefined)) ctx.addIssue({ code: 'custom', path: [v.cert === undefined ? 'cert' : 'key'], message: 'cert and key go together (a client certificate needs both)' });
  })
  .describe('TLS to this upstream\'s https:// targets: which CA to trust, the name to check, a client certificate.');

const Upstream = z
  .strictObject({
    targets: z
      .array(Target)
      .min(1, 'an upstream needs at least one target')
      .superRefine((targets, ctx) => {
        const seen = new Map<string, number>();
        targets.forEach((t, i) => {
          const key = `${t.host}:${t.port}`;
          const first = seen.get(key);
          if (first === undefined) seen.set(key, i);
          else ctx.addIssue({ code: 'custom', path: [i], message: `duplicate target (same as targets[${first}]); use weight to give it more traffic` });
        });
      })
      .describe('Origin servers; requests are spread across them.'),
    pool: Pool,
    balance: Balance,
    sticky: Sticky.optional(),
    health: Health.optional(),
    passive: Passive,
    slow_start: duration('A target back from unhealthy or ejected ramps from 10% to its full weight over this.').optional(),
    tls: UpstreamTls.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.tls !== undefined && !v.targets.some((t) => t.https)) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls settings apply to https:// targets, and this upstream has none' });
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

const RouteTimeouts = z
  .strictObject({
    connect: duration('TCP connect to a target of this route (default: timeouts.connect).').optional(),
    response_header: duration('From request sent to response head (default: timeouts.response_header).').optional(),
    idle: duration('A response body that makes no progress for this long is cut (default: timeouts.idle): long for event streams.').optional(),
  })
  .describe('Timeouts toward the upstream for this route, over the global ones.');

export const RETRY_CONDITIONS = ['connect', 'reset', 'timeout'] as const;

const Retries = z
  .strictObject({
    attempts: z.number({ error: 'expected a whole number' }).int('expected a whole number').min(0, 'must be 0–10').max(10, 'must be 0–10').default(2)
      .describe('Retries after the first try, each on another target when one is available; 0 turns retries off.'),
    budget: percent('Most retries as a share of the route\'s requests over the last 10 s, per worker (at least 3). Retries of tries that never reached an upstream (connect errors) are not counted.').prefault('20%'),
    on: z
      .array(z.union([
        z.enum(RETRY_CONDITIONS, { error: 'expected connect, reset, timeout or a status 500–599' }),
        z.number().int('expected a status code').min(500, 'statuses 500–599').max(599, 'statuses 500–599'),
      ], { error: 'expected connect, reset, timeout or a status 500–599' }))
      .default(['connect', 'reset'])
      .describe('What is retried: connect (no connection; any method), reset (closed before an answer), timeout (no response head in time), a 5xx status. reset, timeout and statuses only for idempotent requests whose body was not sent.'),
  })
  .describe('Retries and failover. A request whose body has been sent upstream is never retried, nor a POST once it reached an upstream.');

const Canary = z
  .strictObject({
    upstream: z.string({ error: 'expected the name of an upstream' }).min(1, 'expected the name of an upstream').optional()
      .describe('The canary group: one of split\'s upstreams (default: the one with the smallest weight), or, on a route with upstream, a group reached only through header or cookie.'),
    header: headerName('A request header: "always" sends the request to the canary, "never" keeps it off.').optional(),
    cookie: cookieName('A cookie: "always" sends the request to the canary, "never" keeps it off.').optional(),
    rollback: z
      .strictObject({
        error_rate: percent('Roll back when this share of canary requests failed (5xx or no answer) over window.').optional(),
        p99: duration('Roll back when the 99th percentile time to the response head over window is above this.').optional(),
        window: duration('The sliding window both are measured over, shared by all workers.').prefault('60s'),
        min_requests: count('Fewer canary requests than this in the window decide nothing.').default(20),
      })
      .superRefine((v, ctx) => {
        if (v.error_rate === undefined && v.p99 === undefined) ctx.addIssue({ code: 'custom', message: 'give error_rate, p99 or both' });
      })
      .optional()
      .describe('Automatic rollback: when a threshold is crossed the canary gets no more traffic, and stays so until its config changes.'),
  })
  .describe('Canary routing: header/cookie overrides and automatic rollback.');

const RouteCache = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Cache responses on this route.'),
    client_cache_control: z.boolean().default(true).describe("Honour the client's Cache-Control request directives (max-age, max-stale, min-fresh, no-cache, no-store, only-if-cached; RFC 9111 §5.2.1). false: ignore them, so no client can force requests through to the upstream."),
    authorization: z
      .enum(['public', 'must-revalidate'], { error: 'expected "public" or "must-revalidate"' })
      .default('public')
      .describe('Which answers to requests carrying Authorization are stored: "public" (only those marked public or s-maxage) or "must-revalidate" (also those marked only must-revalidate, as RFC 9111 §3.5 allows; many APIs send must-revalidate on private data).'),
  })
  .describe("This route's cache options.");

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
    upstream: z.string({ error: 'expected the name of an upstream' }).min(1, 'expected the name of an upstream').optional().describe('Name of the upstream (a key under upstreams) that serves this route. Give either upstream or split.'),
    split: z
      .array(z.strictObject({
        upstream: z.string({ error: 'expected the name of an upstream' }).min(1, 'expected the name of an upstream').describe('Name of an upstream.'),
        weight: z.number({ error: 'expected a whole number' }).int('expected a whole number').min(0, 'must be 0 or more').max(10_000, 'must be at most 10000').describe('Relative share of the route\'s requests.'),
      }))
      .min(1, 'a split needs at least one upstream')
      .optional()
      .describe('Weighted split of the route between upstream groups (gradual rollouts), instead of upstream.'),
    canary: Canary.optional(),
    timeouts: RouteTimeouts.optional(),
    retries: Retries.optional(),
    strip_prefix: z.boolean().default(false).describe('Remove the matched static prefix before forwarding ("/v1/users" → "/users").'),
    host_header: z
      .string()
      .regex(/^[^\s\x00-\x1f\x7f]+$/, 'must be a host name, optionally with a port, without spaces')
      .optional()
      .describe("Host header sent upstream instead of the client's."),
    websocket: WebSocketSettings.optional(),
    cache: z
      .union([z.boolean(), RouteCache], { error: 'expected true, false or { enabled, client_cache_control, authorization }' })
      .optional()
      .describe('Cache responses on this route (overrides cache.enabled): true/false, or an object with this route\'s cache options. Only what the upstream marks cacheable is stored.'),
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
    heuristic: z
      .strictObject({
        fraction: z.number({ error: 'expected a number from 0 to 1' }).min(0, 'must be 0–1').max(1, 'must be 0–1').default(0.1)
          .describe('Fraction of the time since Last-Modified a response without explicit freshness stays fresh (RFC 9111 §4.2.2); 0 turns heuristic freshness off.'),
        max: duration('Longest heuristic lifetime.').prefault('24h'),
      })
      .prefault({})
      .describe('Heuristic freshness for heuristically cacheable statuses (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501, or any marked public) that have Last-Modified and no explicit freshness.'),
    stale_if_error: z
      .union([duration('Serve an entry up to this long past its freshness when the upstream fails (connect error, timeout, 500, 502, 503, 504), as if every response said stale-if-error. false: only when the response or request says stale-if-error.'), z.literal(false, { error: 'expected a duration like "1m", or false' })], {
        error: 'expected a duration like "1m", or false',
      })
      .default(false)
      .describe('Serve an entry up to this long past its freshness when the upstream fails (connect error, timeout, 500, 502, 503, 504), as if every response said stale-if-error; must-revalidate, proxy-revalidate, s-maxage and no-cache still forbid it. false (default): only when the response or request says stale-if-error.'),
    collapse_timeout: z
      .union([duration('How long concurrent misses for one key wait for the first one to fill the cache before each goes upstream.'), z.literal(false, { error: 'expected a duration like "5s", or false' })], {
        error: 'expected a duration like "5s", or false',
      })
      .prefault('5s')
      .describe('Request collapsing: concurrent misses for one key, in every worker, wait up to this long for the first one to fill the cache, then each goes upstream. false turns collapsing off.'),
    max_variants: count('Most Vary variants kept per URL; storing one more drops the oldest.').max(1024, 'must be at most 1024').default(32),
    purge_allow: z
      .array(z.string({ error: 'expected a CIDR like "10.0.0.0/8" or an IP address' }).transform(parsedBy(parseCidr)))
      .optional()
      .describe('Client addresses (CIDRs or IPs) allowed to send PURGE on caching routes. Default: trusted_proxies (none unless configured).'),
  })
  .superRefine((v, ctx) => {
    // Only against a valid size: a size error alone says what to fix.
    if (v.max_entry_bytes !== undefined && v.size >= 1024 * 1024 && v.size <= 4 * 1024 ** 3 && v.max_entry_bytes > v.size / 4) {
      ctx.addIssue({ code: 'custom', path: ['max_entry_bytes'], message: `must be at most size / 4 (${Math.floor(v.size / 4)} bytes)` });
    }
  })
  .transform((v) => ({
    ...v,
    max_entry_bytes: v.max_entry_bytes ?? Math.min(8 * 1024 * 1024, Math.floor(v.size / 4)),
    heuristic: { fraction: v.heuristic.fraction, max: Math.floor(v.heuristic.max / 1000) },
    stale_if_error: v.stale_if_error === false ? -1 : Math.floor(v.stale_if_error / 1000),
    collapse_timeout: v.collapse_timeout === false ? 0 : v.collapse_timeout,
  }))
  .prefault({})
  .describe('Shared HTTP cache (RFC 9111) for all workers. Stores only responses the upstream marks cacheable and never private ones.');

const Dns = z
  .strictObject({
    servers: z
      .array(z.string({ error: 'expected an address like "10.0.0.2" or "10.0.0.2:53"' }).transform(parsedBy(parseDnsServer)))
      .default([])
      .describe('Name servers for target names ("ip", "ip:port", "[v6]:port"). Default: the system\'s (/etc/resolv.conf), then /etc/hosts.'),
    min_ttl: duration('An answer is used at least this long (its TTL, raised to this).').prefault('5s'),
    max_ttl: duration('An answer is used at most this long (its TTL, lowered to this); also the period for names from /etc/hosts.').prefault('5m'),
  })
  .superRefine((v, ctx) => {
    if (v.min_ttl > v.max_ttl) ctx.addIssue({ code: 'custom', path: ['min_ttl'], message: `must be at most max_ttl (${v.max_ttl} ms)` });
  })
  .prefault({})
  .describe('How DNS names in upstream targets are resolved: once per proxy, again when their TTL runs out. A name that does not resolve leaves its target pending (no traffic), never stops the proxy.');

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
      .union([ListenEntry, z.array(ListenEntry).min(1, 'listen on at least one address')], {
        error: 'expected an address or a list of addresses',
      })
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .prefault(['127.0.0.1:8080'])
      .describe('Addresses to accept connections on: "host:port" strings, or { address, tls } entries for HTTPS. Default: loopback only.'),
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
    dns: Dns,
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
    acme: Acme,
    state_dir: z
      .string({ error: 'expected a directory path' })
      .min(1, 'must not be empty')
      .optional()
      .describe('Directory for what Portcullis creates and keeps: the local CA of tls: internal, the ACME account and issued certificates (private files 0600, directories 0700). Relative to the config file. Default: PORTCULLIS_STATE_DIR, else $XDG_DATA_HOME/portcullis, else ~/.local/share/portcullis.'),
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
