// The effective configuration after parsing, defaults and validation: the one shape
// every other module reads. Durations are milliseconds, sizes are bytes.
import type { ProtectionConfig, ProtectionLimits, RouteProtectionConfig } from './protection-types.js';

export interface ListenAddress {
  /** IPv4/IPv6 literal or 'localhost'; '0.0.0.0' when the config says ':8080'. */
  readonly host: string;
  readonly port: number;
}

/** A certificate and its key, as PEM file paths (absolute after loading). */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** Strict-Transport-Security (RFC 6797) sent on a TLS listener's answers. */
export interface HstsSettings {
  /** Seconds. */
  readonly max_age: number;
  readonly include_subdomains: boolean;
  readonly preload: boolean;
}

/** TLS on a listener (src/tls/, docs/tls.md). */
export interface ListenerTls {
  /** Served by SNI name (the names in each certificate); the first is the default. */
  readonly certificates: readonly CertificateFiles[];
  /** Certificates from the ACME CA (tls/acme.ts) for route hosts and acme.names. */
  readonly acme: boolean;
  /** Certificates from the local CA (tls/internal-ca.ts) for localhost, the listener IP and route hosts. */
  readonly internal: boolean;
  /** false: no Strict-Transport-Security header. */
  readonly hsts: HstsSettings | false;
}

/**
 * One `listen` entry. A plain address ("host:port") has only host and port; the fields
 * below are present on entries written as objects.
 */
export interface Listener extends ListenAddress {
  /** HTTPS on this address; absent: plain HTTP. */
  readonly tls?: ListenerTls;
  /** Plain listeners only: 308 to https:// for hosts with a certificate (tls/redirect.ts). */
  readonly redirect_https?: true;
  /** TLS listeners: HTTP versions offered by ALPN; absent: ['h1'] (uWS). With h2: Node's http2 (h2/). */
  readonly protocols?: readonly ('h1' | 'h2')[];
}

export interface Limits extends ProtectionLimits {
  /** Largest request head (request line + headers) in bytes; over it → 431. */
  readonly max_header_bytes: number;
  /** Largest number of request header lines; over it → 431. */
  readonly max_header_count: number;
  /** Largest request body in bytes; over it → 413. */
  readonly max_body_bytes: number;
  /** Request-body bytes a worker holds for slower upstreams (all exchanges together); past it → 503. */
  readonly upload_buffer: number;
  /** Largest upstream response head in bytes; over it → 502. */
  readonly max_response_header_bytes: number;
}

export interface Timeouts {
  /** Client must deliver the whole request head within this. */
  readonly header: number;
  /** TCP connect to an upstream. Failure → 502. */
  readonly connect: number;
  /** From request sent to upstream response head received. Over it → 504. */
  readonly response_header: number;
  /** Idle keep-alive connection (both sides) and no-progress on a body. */
  readonly idle: number;
  /** On SIGTERM/SIGINT, how long in-flight requests may take before the worker closes. */
  readonly drain: number;
}

export interface PoolOptions {
  /** Most open connections per upstream target per worker (a target may set its own). */
  readonly max_connections: number;
  /** Close an idle pooled connection after this (capped by the upstream's Keep-Alive timeout). */
  readonly idle_timeout: number;
  /** Most requests waiting for a connection per target per worker once every connection is busy; beyond it → 503. */
  readonly queue: number;
}

export interface UpstreamTarget {
  /** The URL as written, e.g. 'http://127.0.0.1:3000'. */
  readonly url: string;
  /** IP literal (IPv6 without brackets) or a DNS name, re-resolved by TTL (config `dns`). */
  readonly host: string;
  readonly port: number;
  /** Relative share of the group's traffic (1 unless written as `{ url, weight }`). */
  readonly weight: number;
  /** In-flight requests per worker before the target counts as full (default: pool.max_connections). */
  readonly max_connections: number;
  /** An https:// target: TLS to it (upstream/tls.ts), with the group's `tls` settings. */
  readonly https?: true;
}

/** The selection policies of upstream/balancer/ (`balance`). */
export type BalancePolicy = 'round_robin' | 'least_requests' | 'random' | 'first' | 'hash';

/** What `balance: hash` hashes: the client IP (identity phase), a request header or a cookie. */
export type HashKey =
  | { readonly kind: 'client_ip' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

export interface BalanceConfig {
  readonly policy: BalancePolicy;
  /** Only for policy 'hash'. */
  readonly key?: HashKey;
}

/** Sticky sessions: a cookie names the target that served the client first. */
export interface StickyConfig {
  readonly cookie: string;
  /** Max-Age of the cookie in ms; undefined: a session cookie. */
  readonly ttl: number | undefined;
}

/** Active health checks, run once per proxy by the primary process. */
export interface HealthCheckConfig {
  /** Path (and query) requested with GET. */
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  /** Consecutive failed checks before a healthy target is marked unhealthy. */
  readonly unhealthy_after: number;
  /** Consecutive passed checks before an unhealthy target is healthy again. */
  readonly healthy_after: number;
  /** Statuses that pass, as inclusive [low, high] ranges. */
  readonly expect: readonly (readonly [number, number])[];
}

/** Passive health (outlier detection) from real traffic. */
export interface PassiveHealthConfig {
  /** Failures (connect errors, resets, timeouts, 5xx) without a success in between, within `window`, that eject. */
  readonly failures: number;
  readonly window: number;
  /** First ejection's length in ms; the n-th in a row lasts n times as long (at most 10×). */
  readonly eject: number;
  /** Largest share (0–1) of the group that may be ejected at once; at least one target. */
  readonly max_ejected: number;
}

/** How https:// targets of a group are reached (upstream/tls.ts). */
export interface UpstreamTlsSettings {
  /** PEM file of the CA certificates to trust instead of the default roots (absolute path). */
  readonly ca?: string;
  /** SNI and the name the certificate must match; default: the target's host (IP targets: its IP, no SNI). */
  readonly server_name?: string;
  /** Client certificate (mTLS): PEM chain and its key (absolute paths), both or neither. */
  readonly cert?: string;
  readonly key?: string;
  /** false: accept any certificate (logged as a warning at start). */
  readonly verify: boolean;
}

export interface UpstreamGroup {
  readonly name: string;
  readonly targets: readonly UpstreamTarget[];
  readonly pool: PoolOptions;
  readonly balance: BalanceConfig;
  readonly sticky: StickyConfig | undefined;
  readonly health: HealthCheckConfig | undefined;
  /** false: no outlier detection. */
  readonly passive: PassiveHealthConfig | false;
  /** ms over which a target back from unhealthy or ejected ramps up to its full weight; 0: at once. */
  readonly slow_start: number;
  /** For its https:// targets; absent: the defaults (verify with the default roots, SNI = target host). */
  readonly tls?: UpstreamTlsSettings;
}

/** Re-resolution of DNS names in targets (done once per proxy, by the primary). */
export interface DnsConfig {
  /** Name servers ('ip' or 'ip:port'); empty: the system's (/etc/resolv.conf, then /etc/hosts). */
  readonly servers: readonly string[];
  /** Floor and ceiling on how long an answer is used (its TTL, clamped). */
  readonly min_ttl: number;
  readonly max_ttl: number;
}

/** The timeouts a route applies to its upstream exchanges (its own over the global ones; runtime.ts). */
export interface RouteTimeouts {
  readonly connect: number;
  readonly response_header: number;
  readonly idle: number;
}

/** What a route's `timeouts` sets; the rest come from the global `timeouts`. */
export interface RouteTimeoutOverrides {
  readonly connect?: number | undefined;
  readonly response_header?: number | undefined;
  readonly idle?: number | undefined;
}

/** Why a try may be retried (`retries.on`). */
export type RetryCondition = 'connect' | 'reset' | 'timeout';

export interface RetryConfig {
  /** Retries after the first try (0: none). */
  readonly attempts: number;
  /** Share (0–1) of the route's requests that may be retried over 10 s, per worker. */
  readonly budget: number;
  readonly on: readonly (RetryCondition | number)[];
}

export interface SplitEntry {
  readonly upstream: string;
  readonly weight: number;
}

export interface RollbackConfig {
  /** Share (0–1) of failed canary requests over `window` that rolls back; undefined: not checked. */
  readonly error_rate: number | undefined;
  /** ms: a p99 time to the response head above this over `window` rolls back; undefined: not checked. */
  readonly p99: number | undefined;
  readonly window: number;
  /** Fewer canary requests than this in the window decide nothing. */
  readonly min_requests: number;
}

export interface CanaryConfig {
  /** The canary group: one of the split's upstreams, or one reached only through header/cookie. */
  readonly upstream: string;
  /** A request header whose value `always` / `never` forces / refuses the canary. */
  readonly header: string | undefined;
  /** A cookie whose value `always` / `never` forces / refuses the canary. */
  readonly cookie: string | undefined;
  readonly rollback: RollbackConfig | undefined;
}

/** Routing fields, and the protection fields (auth, ip, rate_limit, …: protection-types.ts). */
export interface RouteConfig extends RouteProtectionConfig {
  /** Exact host, '*.example.com' wildcard, or undefined for any host. Lowercase, no port. */
  readonly host: string | undefined;
  /**
   * Path pattern: '/exact', '/prefix/' (trailing slash: that directory and below),
   * '/users/:id', '/files/*' (trailing star). Most specific match wins.
   */
  readonly path: string;
  /** The upstream; on a split route, the split's first entry. */
  readonly upstream: string;
  /** Weighted split between upstream groups; undefined: everything goes to `upstream`. */
  readonly split?: readonly SplitEntry[] | undefined;
  readonly canary?: CanaryConfig | undefined;
  /** The route's own timeouts toward its upstream, each over the global one of the same name; undefined: none. */
  readonly timeouts?: RouteTimeoutOverrides | undefined;
  readonly retries: RetryConfig;
  /** Remove the matched static prefix before forwarding ('/v1/users' → '/users'). */
  readonly strip_prefix: boolean;
  /** undefined: pass the client's Host; a string: send this Host upstream instead. */
  readonly host_header: string | undefined;
  /** Index in the config file's routes list, for logs and errors. */
  readonly index: number;
  /** WebSocket tunnel settings; undefined: the defaults (WEBSOCKET_DEFAULTS in config/defaults.ts). */
  readonly websocket?: WebSocketSettings | undefined;
  /** Responses on this route go through the shared cache (route `cache`, else cache.enabled). */
  readonly cache: boolean;
  /** The route's cache options (route `cache` as an object); undefined: the defaults. */
  readonly cache_options?: RouteCacheOptions | undefined;
}

/** A route's cache options (docs/cache.md). */
export interface RouteCacheOptions {
  /** Honour the client's Cache-Control request directives (default true). */
  readonly client_cache_control: boolean;
  /** Answers to requests with Authorization are stored when marked public/s-maxage ('public'), or also must-revalidate. */
  readonly authorization: 'public' | 'must-revalidate';
}

export interface WebSocketSettings {
  /** Largest message in bytes, either direction (fragments reassembled); over it → close 1009. */
  readonly max_message_size: number;
  /** High-water mark in bytes toward one side: pauses the upstream, or (toward it) closes with 1013 past buffer + max_message_size. */
  readonly buffer: number;
  /** ms without a frame (see docs/websocket.md for which side) before the tunnel is closed. */
  readonly idle_timeout: number;
  /** ms between proxy pings to both sides, or false for none. Shorter than idle_timeout. */
  readonly ping_interval: number | false;
  /** Negotiate permessage-deflate on each hop when the client offers it. */
  readonly compression: boolean;
}

/** Response compression (filters/compress.ts); opt-in, like nginx `gzip` and Caddy `encode`. */
export interface CompressionConfig {
  readonly enabled: boolean;
  /** Codings offered, in server preference order (breaks client q-value ties). zstd needs the native addon. */
  readonly encodings: readonly ('zstd' | 'br' | 'gzip')[];
  /** Bodies declared smaller than this (Content-Length) are sent as they are. */
  readonly min_bytes: number;
  /** Compressible media types: 'text/*' style wildcards or exact types, lowercase. */
  readonly types: readonly string[];
  readonly gzip_level: number;
  /** 0–9: 10 and 11 are far too slow for on-the-fly compression. */
  readonly brotli_quality: number;
  readonly zstd_level: number;
  /** Known-length bodies up to this are compressed in one shot on the worker thread; larger or unknown-length ones stream. */
  readonly sync_max_bytes: number;
}

/** The shared HTTP cache (src/cache/); routes opt in. */
export interface CacheConfig {
  /** The default for routes that do not set `cache`. */
  readonly enabled: boolean;
  /** Bytes of shared memory for entries (all workers together). */
  readonly size: number;
  /** Largest entry (meta + body) stored; at most size / 4. */
  readonly max_entry_bytes: number;
  /** Heuristic freshness (RFC 9111 §4.2.2): fraction of (Date − Last-Modified), capped at `max` seconds; fraction 0: off. */
  readonly heuristic: { readonly fraction: number; readonly max: number };
  /** Seconds past freshness an entry may stand in for an upstream failure without a stale-if-error directive; -1: off. */
  readonly stale_if_error: number;
  /** ms concurrent misses for one key wait for the first fill (request collapsing); 0: off. */
  readonly collapse_timeout: number;
  /** Most Vary variants kept per URL. */
  readonly max_variants: number;
  /** CIDRs allowed to send PURGE; undefined: trusted_proxies. */
  readonly purge_allow?: readonly string[] | undefined;
}

export type AccessLogFormat = 'json' | 'combined' | 'common';

export interface AccessLogConfig {
  readonly enabled: boolean;
  /** json (every field), or the Apache/nginx combined and common formats. */
  readonly format: AccessLogFormat;
  /** 'stdout', 'stderr' or a file path (reopened on SIGUSR1). */
  readonly output: string;
}

/** The admin API (primary/admin.ts): JSON status, reload, metrics, dashboard. */
export interface AdminConfig {
  readonly listen: ListenAddress;
  /** Bearer token every request must carry; undefined: none (allowed on loopback only). */
  readonly token: string | undefined;
}

/** A path into the effective Config: keys and list indexes. */
export type ConfigPath = readonly (string | number)[];

/**
 * Where a loaded config took values from the environment (`${NAME}`), so that nothing which
 * leaves the process shows them (config/shown.ts): the admin API and plans show the text written
 * in the file instead.
 */
export interface EnvTrace {
  /** Effective-config paths whose value was read, wholly or partly, from the environment, with the text written there. */
  readonly fields: readonly { readonly path: ConfigPath; readonly written: string }[];
  /** The values substituted, by variable name (never shown: replies are scrubbed of them). */
  readonly values: Readonly<Record<string, string>>;
}

export interface Config extends ProtectionConfig {
  /** Where the config came from (file path or '<quick>' / '<default>'), for messages. */
  readonly source: string;
  /** Present when some value came from the environment: where, and what was written there. */
  readonly from_env?: EnvTrace;
  readonly listen: readonly Listener[];
  /** Worker thread count; 0 = available parallelism. PORTCULLIS_WORKERS overrides. */
  readonly workers: number;
  /** CIDRs whose X-Forwarded-* / Forwarded / PROXY protocol we believe. */
  readonly trusted_proxies: readonly string[];
  readonly limits: Limits;
  readonly timeouts: Timeouts;
  readonly upstreams: Readonly<Record<string, UpstreamGroup>>;
  readonly routes: readonly RouteConfig[];
  readonly dns: DnsConfig;
  readonly access_log: AccessLogConfig;
  /** 'fatal' | 'error' | 'warn' | 'info' | 'debug'. PORTCULLIS_LOG_LEVEL overrides. */
  readonly log_level: string;
  /** Value of the Via header token we add, e.g. '1.1 portcullis'. */
  readonly via: string;
  readonly compression: CompressionConfig;
  readonly cache: CacheConfig;
  /** null when `admin: false`. */
  readonly admin: AdminConfig | null;
  /**
   * Directory for state Portcullis creates (the local CA, ACME account and certificates);
   * absolute. '' only between validation and the environment defaults (env.ts).
   */
  readonly state_dir: string;
  readonly acme: AcmeConfig;
}

/** The ACME CA for listeners with tls.acme (tls/acme.ts). */
export interface AcmeConfig {
  readonly email?: string | undefined;
  /** Directory URL (https). */
  readonly directory: string;
  /** PEM file trusted for the directory's HTTPS (absolute path); absent: the default roots. */
  readonly directory_ca?: string | undefined;
  /** Extra names (exact) besides the routes' exact hosts. */
  readonly names: readonly string[];
  /** Issuance at first handshake, only for approved names; absent: never. */
  readonly on_demand?: { readonly allow: readonly string[]; readonly ask?: string | undefined } | undefined;
}
