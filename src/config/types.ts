// The effective configuration after parsing, defaults and validation: the one shape
// every other module reads. Durations are milliseconds, sizes are bytes.
import type { ProtectionConfig, ProtectionLimits, RouteProtectionConfig } from './protection-types.js';

export interface ListenAddress {
  /** IPv4/IPv6 literal or 'localhost'; '0.0.0.0' when the config says ':8080'. */
  readonly host: string;
  readonly port: number;
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
  /** Most open connections per upstream target per worker. */
  readonly max_connections: number;
  /** Close an idle pooled connection after this (capped by the upstream's Keep-Alive timeout). */
  readonly idle_timeout: number;
}

export interface UpstreamTarget {
  /** The URL as written, e.g. 'http://127.0.0.1:3000'. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

export interface UpstreamGroup {
  readonly name: string;
  readonly targets: readonly UpstreamTarget[];
  readonly pool: PoolOptions;
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
  readonly upstream: string;
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
  readonly listen: readonly ListenAddress[];
  /** Worker thread count; 0 = available parallelism. PORTCULLIS_WORKERS overrides. */
  readonly workers: number;
  /** CIDRs whose X-Forwarded-* / Forwarded / PROXY protocol we believe. */
  readonly trusted_proxies: readonly string[];
  readonly limits: Limits;
  readonly timeouts: Timeouts;
  readonly upstreams: Readonly<Record<string, UpstreamGroup>>;
  readonly routes: readonly RouteConfig[];
  readonly access_log: AccessLogConfig;
  /** 'fatal' | 'error' | 'warn' | 'info' | 'debug'. PORTCULLIS_LOG_LEVEL overrides. */
  readonly log_level: string;
  /** Value of the Via header token we add, e.g. '1.1 portcullis'. */
  readonly via: string;
  readonly compression: CompressionConfig;
  readonly cache: CacheConfig;
  /** null when `admin: false`. */
  readonly admin: AdminConfig | null;
}
