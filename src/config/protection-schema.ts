// The config fields of edge protection (src/policy/): IP rules, rate limits, auth gates,
// request filtering, header edits, redirects and rewrites. Declared here, with their docs and
// defaults, and plugged into the route and the top level of config/schema.ts.

import * as z from 'zod';
import { isError, parseCidr, type Parsed } from './address.js';
import { parseDuration } from './units.js';
import { parsePasswordHash } from '../policy/password-hash.js';
import { parseRedirectFrom, parseTemplate } from '../policy/template.js';

/** Placeholders a redirect target may use (policy/redirect.ts fills them). */
const REDIRECT_PLACEHOLDERS = ['path', 'uri', 'query', 'host', 'scheme'];

/** Adds a parser's message as a zod issue at the field being parsed (schema.ts uses it too). */
export function parsedBy<I, O>(parse: (v: I) => Parsed<O>) {
  return (value: I, ctx: z.RefinementCtx): O => {
    const r = parse(value);
    if (isError(r)) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r;
  };
}

function duration(what: string, allowZero = false) {
  return z
    .string({ error: (iss) => (typeof iss.input === 'number' ? `durations need a unit, e.g. "${iss.input}s"` : 'expected a duration like "1s" or "10m"') })
    .transform(parsedBy((v: string) => {
      const ms = parseDuration(v);
      return typeof ms === 'number' && ms === 0 && !allowZero ? { error: 'must be greater than 0' } : ms;
    }))
    .describe(`${what} A string with a unit: ms, s, m, h ("500ms", "1s", "1m", "1h").`);
}

/** RFC 9110 §5.1 field-name (token), lowercased. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const HeaderName = z
  .string({ error: 'expected a header name' })
  .regex(HEADER_NAME, 'must be a header name (letters, digits and !#$%&\'*+.^_`|~-)')
  .transform((v) => v.toLowerCase());

/** A header value we write: no CR, LF or other control bytes (they would split the head). */
const HeaderValue = z
  .string({ error: 'expected a header value (a string)' })
  .regex(/^[^\x00-\x08\x0a-\x1f\x7f]*$/, 'must not contain control characters (CR, LF, NUL…)');

const Cidr = z
  .string({ error: 'expected a CIDR like "10.0.0.0/8" or an IP address' })
  .transform(parsedBy(parseCidr));

export const IpRules = z
  .strictObject({
    allow: z.array(Cidr).optional().describe('Only clients in these CIDRs (IPv4/IPv6) get through; absent: everyone not denied.'),
    deny: z.array(Cidr).default([]).describe('Clients in these CIDRs get 403 (PC_ERR_IP_DENIED), also when an allow entry covers them.'),
  })
  .describe('IP allow/deny by client address (the resolved client identity: X-Forwarded-For and PROXY protocol count only from trusted_proxies). Deny wins over allow.');

export const RATE_LIMIT_KEY = /^(client_ip|route|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|client_ip\+header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/;

export const RateLimit = z
  .strictObject({
    rate: z.number({ error: 'expected a number of requests' }).positive('must be greater than 0').describe('Requests allowed per `per`, sustained.'),
    per: duration('The period `rate` is counted over.').prefault('1s'),
    burst: z.number({ error: 'expected a whole number' }).int('expected a whole number').min(1, 'must be at least 1').optional()
      .describe('Requests allowed at once after a quiet period (the bucket size). Default: rate, rounded up.'),
    key: z
      .string({ error: 'expected client_ip, route, header:NAME or client_ip+header:NAME' })
      .regex(RATE_LIMIT_KEY, 'expected client_ip, route, header:NAME or client_ip+header:NAME')
      .default('client_ip')
      .describe('What gets its own bucket: client_ip, route (one bucket for everyone), header:NAME (a request without the header is keyed by its client IP), client_ip+header:NAME.'),
  })
  .superRefine((v, ctx) => {
    const intervalUs = (v.per * 1000) / v.rate;
    if (!(intervalUs >= 1)) ctx.addIssue({ code: 'custom', path: ['rate'], message: 'at most 1,000,000 requests per second' });
    const burst = v.burst ?? Math.ceil(v.rate);
    if (burst * intervalUs > 30 * 24 * 3600 * 1e6) ctx.addIssue({ code: 'custom', path: ['burst'], message: 'burst × per / rate must be at most 30 days' });
  })
  .transform((v) => ({ ...v, burst: v.burst ?? Math.ceil(v.rate) }))
  .describe('Token bucket per key, exact across all workers (shared memory). Over it: 429 with Retry-After and RateLimit/RateLimit-Policy headers.');

const BasicAuth = z
  .strictObject({
    realm: z.string().regex(/^[^"\\\x00-\x1f\x7f]*$/, 'must not contain quotes, backslashes or control characters').default('restricted').describe('Realm named in WWW-Authenticate.'),
    users: z
      .record(
        z.string().regex(/^[^:\x00-\x1f\x7f]+$/, 'user names must not contain ":" or control characters'),
        z.string({ error: 'expected a password hash from `portcullis hash-password`' }).transform(parsedBy(parsePasswordHash)),
      )
      .refine((u) => Object.keys(u).length > 0, 'define at least one user')
      .describe('User name → scrypt hash made by `portcullis hash-password` ("$scrypt$ln=…"). Plain-text passwords are refused.'),
  })
  .describe('HTTP Basic authentication (RFC 7617); 401 with WWW-Authenticate otherwise.');

const ForwardAuth = z
  .strictObject({
    url: z
      .string({ error: 'expected the auth service URL, like "http://127.0.0.1:9000/verify"' })
      .refine((v) => { try { const u = new URL(v); return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.hash === ''; } catch { return false; } }, 'expected an http:// or https:// URL without credentials or fragment')
      .describe('Auth service asked (GET) before each request, with X-Forwarded-Method, X-Forwarded-Uri, X-Forwarded-Proto/Host/For and the client headers. A 2xx lets the request through; any other answer goes back to the client as it is.'),
    copy_headers: z.array(HeaderName).default([]).describe('Headers of a 2xx auth answer copied onto the upstream request (e.g. Remote-User). The client\'s own values of these names are always removed.'),
    cache: z.union([duration('Keep positive answers this long.'), z.literal(false)]).default(false)
      .describe('Keep positive answers (per worker) this long, keyed by method, host, URI, Authorization, Cookie and client IP; false: ask every time.'),
    timeout: duration('Give up on the auth service after this (502 PC_ERR_AUTH_UNAVAILABLE).').prefault('5s'),
  })
  .describe('Forward auth: ask an auth service about each request (nginx auth_request, Caddy forward_auth).');

const Jwk = z.looseObject({ kty: z.string({ error: 'a JWK needs "kty"' }).describe('Key type (RFC 7517 §4.1): RSA, EC, OKP or oct.') }).describe('A public key as a JWK (RFC 7517).');

const JwtAuth = z
  .strictObject({
    issuer: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional().describe('Required `iss` (one or a list).'),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional().describe('Required `aud`: the token must name one of these.'),
    jwks_url: z
      .string()
      .refine((v) => { try { const u = new URL(v); return u.protocol === 'http:' || u.protocol === 'https:'; } catch { return false; } }, 'expected an http:// or https:// URL')
      .optional()
      .describe('JWKS endpoint: fetched on first use, cached for jwks_cache, fetched again at once (at most every 30 s) when a token names an unknown key (rotation).'),
    keys: z.array(Jwk).min(1, 'give at least one key').optional().describe('Inline JWKs instead of jwks_url.'),
    jwks_cache: duration('How long fetched keys are used before they are fetched again.').prefault('10m'),
    jwks_cooldown: duration('Least time between two fetches caused by tokens naming an unknown key (rotation), so bad tokens cannot hammer the JWKS endpoint.').prefault('30s'),
    clock_skew: duration('Tolerance for exp, nbf and iat against our clock ("0s" for none).', true).prefault('30s'),
    algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'])).min(1).optional()
      .describe('Accepted `alg` values. Default: the asymmetric ones (RS*, PS*, ES*, EdDSA); HS* only when listed.'),
  })
  .superRefine((v, ctx) => {
    if ((v.jwks_url === undefined) === (v.keys === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of jwks_url or keys' });
  })
  .describe('JWT bearer tokens (RFC 7519, RFC 6750), verified with `jose`.');

export const Auth = z
  .strictObject({
    basic: BasicAuth.optional(),
    forward: ForwardAuth.optional(),
    jwt: JwtAuth.optional(),
  })
  .superRefine((v, ctx) => {
    const n = (v.basic ? 1 : 0) + (v.forward ? 1 : 0) + (v.jwt ? 1 : 0);
    if (n !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of basic, forward or jwt' });
  })
  .describe('Auth gate: protects everything under the route\'s path after normalisation (case, encoded slashes and ;parameters included).');

/** Request headers the proxy writes itself: an edit of them would be silently lost. */
const OWNED_REQUEST_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'proxy-connection', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via', 'x-request-id', 'x-real-ip']);
/** Response headers the front end writes itself. */
const OWNED_RESPONSE_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'date', 'keep-alive', 'upgrade', 'trailer']);

function headerEdits(owned: ReadonlySet<string>, instead: string) {
  const name = HeaderName.refine((n) => !owned.has(n), { error: (iss) => `${String(iss.input)} is written by the proxy itself${instead}` });
  return z
    .strictObject({
      set: z.record(name, HeaderValue).default({}).describe('Headers set (replacing any of the same name).'),
      remove: z.array(name).default([]).describe('Headers removed.'),
    })
    .prefault({});
}

const REQUEST_EDITS = headerEdits(OWNED_REQUEST_HEADERS, ' (use host_header for Host)');
const RESPONSE_EDITS = headerEdits(OWNED_RESPONSE_HEADERS, '');

export const HEADER_PRESETS = ['strict', 'none'] as const;

export const HeaderRules = z
  .strictObject({
    request: REQUEST_EDITS.describe('Edits to the request sent upstream (after the built-in ones).'),
    response: RESPONSE_EDITS.describe('Edits to every answer sent to the client (upstream, cache hits and error answers).'),
    preset: z.enum(HEADER_PRESETS, { error: 'expected strict or none' }).optional()
      .describe('strict: X-Content-Type-Options nosniff, X-Frame-Options DENY + CSP frame-ancestors \'none\', Referrer-Policy strict-origin-when-cross-origin, a closed Permissions-Policy, and HSTS (max-age=31536000; includeSubDomains) on HTTPS requests only. Set values win over the preset.'),
  })
  .describe('Header edits and security presets. Server and X-Powered-By from upstreams are always removed.');

const Pattern = z
  .string({ error: 'expected a regular expression' })
  .refine((v) => { try { new RegExp(v); return true; } catch { return false; } }, { error: (iss) => `invalid regular expression ${JSON.stringify(iss.input)}` });

export const DenyRule = z
  .strictObject({
    path: Pattern.optional().describe('Regular expression on the normalised path.'),
    query: Pattern.optional().describe('Regular expression on the raw query string (without "?").'),
    header: z.strictObject({ name: HeaderName.describe('Header name.'), pattern: Pattern.default('').describe('Regular expression on the value (all lines joined with ", "); "": the header is present.') }).optional().describe('Header present (pattern "") or whose value matches the regular expression.'),
    status: z.number({ error: 'expected 403 or 404' }).refine((v) => v === 403 || v === 404, 'expected 403 or 404').transform((v) => v as 403 | 404).default(403).describe('403 (PC_ERR_DENIED) or 404 (PC_ERR_HIDDEN_PATH).'),
  })
  .refine((v) => v.path !== undefined || v.query !== undefined || v.header !== undefined, 'give at least one of path, query or header')
  .describe('A request matching every part given is refused.');

const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const RouteProtection = {
  auth: Auth.optional(),
  ip: IpRules.optional(),
  rate_limit: RateLimit.optional(),
  methods: z
    .array(z.string().regex(METHOD, 'expected a method name like GET').transform((m) => m.toUpperCase()))
    .min(1, 'allow at least one method')
    .optional()
    .describe('Methods allowed on this route; others get 405 with Allow. HEAD is allowed with GET. Absent: any.'),
  headers: HeaderRules.optional(),
  deny: z.array(DenyRule).optional().describe('Requests refused before any upstream sees them.'),
  allow_dotfiles: z.boolean().default(false).describe('Serve paths with a segment starting with "." (/.git/, /.env). Default: 404 (PC_ERR_HIDDEN_PATH), except /.well-known/.'),
  allow_method_override: z.boolean().default(false).describe('Pass X-HTTP-Method-Override, X-HTTP-Method and X-Method-Override from untrusted clients. Default: removed.'),
  rewrite: z
    .string({ error: 'expected a path template like "/v2/{path}"' })
    .transform(parsedBy((v: string) => parseTemplate(v, 'rewrite')))
    .optional()
    .describe('Path sent upstream, from placeholders: {path} (the part after the route\'s static prefix), {name} route parameters, {query}. The query is kept.'),
};

export const Redirect = z
  .strictObject({
    from: z
      .string({ error: 'expected a URL pattern like "http://old.example.com/*" or "/old/*"' })
      .transform(parsedBy(parseRedirectFrom))
      .describe('"[scheme://host]/path", a trailing "*" matches the rest of the path. Without a host: any host.'),
    to: z
      .string({ error: 'expected a target like "https://example.com/{path}"' })
      .transform(parsedBy((v: string) => {
        const unknown = [...v.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!).find((n) => !REDIRECT_PLACEHOLDERS.includes(n));
        if (unknown !== undefined) return { error: `unknown placeholder {${unknown}} (use ${REDIRECT_PLACEHOLDERS.map((n) => `{${n}}`).join(', ')})` };
        return parseTemplate(v, 'redirect');
      }))
      .describe('Location, with placeholders {path} (what "*" matched), {uri} (path and query), {query}, {host}, {scheme}. The query is appended when the target has none of its own.'),
    status: z.number({ error: 'expected 301, 302, 307 or 308' })
      .refine((v) => v === 301 || v === 302 || v === 307 || v === 308, 'expected 301, 302, 307 or 308')
      .transform((v) => v as 301 | 302 | 307 | 308)
      .default(308)
      .describe('301/308 permanent (308 keeps the method and body), 302/307 temporary (307 keeps them).'),
  })
  .describe('Answer matching requests with a redirect; a target equal to the request\'s own URL answers 508 (PC_ERR_REDIRECT_LOOP).');

export const ProtectionLimits = {
  max_url_bytes: z
    .number({ error: 'expected a whole number of bytes' }).int('expected a whole number').min(64, 'must be at least 64')
    .default(8192)
    .describe('Longest request target (path and query); over it the client gets 414 (PC_ERR_URL_TOO_LONG).'),
  max_requests_per_ip: z
    .number({ error: 'expected a whole number' }).int('expected a whole number').min(1, 'must be at least 1')
    .optional()
    .describe('Most requests (and WebSocket tunnels) one client IP may have in flight at once, across all workers; more get 429 (PC_ERR_CONCURRENCY). Absent: no limit.'),
  max_connections_per_ip: z
    .number({ error: 'expected a whole number' }).int('expected a whole number').min(1, 'must be at least 1')
    .optional()
    .describe('Most TCP connections one peer address may hold open at once, across all workers (uWS connection hook; HTTP/2 listeners as the TCP connection arrives); one more is closed at once. Peers in trusted_proxies are exempt. Needs the native addon. Absent: no limit.'),
  connection_rate_per_ip: z
    .strictObject({
      rate: z.number().positive('must be greater than 0').describe('New connections per `per`.'),
      per: duration('Period.').prefault('1s'),
      burst: z.number().int().min(1).optional().describe('New connections at once. Default: rate, rounded up.'),
    })
    .transform((v) => ({ ...v, burst: v.burst ?? Math.ceil(v.rate) }))
    .optional()
    .describe('New TCP connections per TCP peer address, across all workers (uWS connection hook; HTTP/2 listeners as the TCP connection arrives); over it the connection is closed at once. Peers in trusted_proxies are exempt.'),
  rate_limit_keys: z
    .number({ error: 'expected a whole number' }).int().min(1024, 'must be at least 1024').max(1 << 24, 'must be at most 16777216')
    .default(65536)
    .describe('Slots in the shared rate-limit table (16 bytes each); rounded up to a power of two. Keys at rest cost nothing; see docs/protection.md for when eviction starts to matter.'),
};
