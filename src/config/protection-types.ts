// The effective config of edge protection (config/protection-schema.ts → src/policy/).
// Durations are milliseconds. Plain data: it travels to workers in workerData.
import type { RedirectFrom } from '../policy/template.js';

export interface IpRulesConfig {
  /** CIDRs ("10.0.0.0/8"); absent: everyone not denied. */
  readonly allow?: readonly string[] | undefined;
  readonly deny: readonly string[];
}

export interface RateLimitConfig {
  /** Requests per `per`, sustained. */
  readonly rate: number;
  readonly per: number;
  /** Bucket size: requests at once after a quiet period. */
  readonly burst: number;
  /** 'client_ip' | 'route' | 'header:NAME' | 'client_ip+header:NAME'. */
  readonly key: string;
}

export interface BasicAuthConfig {
  readonly realm: string;
  /** User → "$scrypt$…" hash. */
  readonly users: Readonly<Record<string, string>>;
}

export interface ForwardAuthConfig {
  readonly url: string;
  /** Lowercase header names copied from a 2xx auth answer onto the upstream request. */
  readonly copy_headers: readonly string[];
  /** ms positive answers are kept, or false. */
  readonly cache: number | false;
  readonly timeout: number;
}

export interface JwtAuthConfig {
  readonly issuer?: string | readonly string[] | undefined;
  readonly audience?: string | readonly string[] | undefined;
  readonly jwks_url?: string | undefined;
  readonly keys?: readonly Readonly<Record<string, unknown>>[] | undefined;
  readonly jwks_cache: number;
  readonly jwks_cooldown: number;
  readonly clock_skew: number;
  readonly algorithms?: readonly string[] | undefined;
}

/** Exactly one of the three. */
export interface AuthConfig {
  readonly basic?: BasicAuthConfig | undefined;
  readonly forward?: ForwardAuthConfig | undefined;
  readonly jwt?: JwtAuthConfig | undefined;
}

export interface HeaderEditsConfig {
  /** Lowercase name → value. */
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

export interface HeaderRulesConfig {
  readonly request: HeaderEditsConfig;
  readonly response: HeaderEditsConfig;
  readonly preset?: 'strict' | 'none' | undefined;
}

export interface DenyRuleConfig {
  readonly path?: string | undefined;
  readonly query?: string | undefined;
  readonly header?: { readonly name: string; readonly pattern: string } | undefined;
  readonly status: 403 | 404;
}

export interface RedirectConfig {
  readonly from: RedirectFrom;
  /** Template text ("https://example.com/{path}"). */
  readonly to: string;
  readonly status: 301 | 302 | 307 | 308;
}

/** The protection fields of a route. */
export interface RouteProtectionConfig {
  readonly auth?: AuthConfig | undefined;
  readonly ip?: IpRulesConfig | undefined;
  readonly rate_limit?: RateLimitConfig | undefined;
  /** Uppercase method names; absent: any. */
  readonly methods?: readonly string[] | undefined;
  readonly headers?: HeaderRulesConfig | undefined;
  readonly deny?: readonly DenyRuleConfig[] | undefined;
  readonly allow_dotfiles: boolean;
  readonly allow_method_override: boolean;
  /** Path template ("/v2/{path}"). */
  readonly rewrite?: string | undefined;
}

export interface ConnectionRateConfig {
  readonly rate: number;
  readonly per: number;
  readonly burst: number;
}

/** Protection fields under `limits`. */
export interface ProtectionLimits {
  readonly max_url_bytes: number;
  readonly max_requests_per_ip?: number | undefined;
  readonly max_connections_per_ip?: number | undefined;
  readonly connection_rate_per_ip?: ConnectionRateConfig | undefined;
  readonly rate_limit_keys: number;
}

/** Protection fields at the top level. */
export interface ProtectionConfig {
  readonly ip?: IpRulesConfig | undefined;
  readonly headers?: HeaderRulesConfig | undefined;
  readonly redirects: readonly RedirectConfig[];
}
