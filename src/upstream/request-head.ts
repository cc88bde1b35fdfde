// Serialises the request head sent upstream (RFC 9112 §3): origin-form target, the
// client's end-to-end headers, and the headers this proxy owns (Host, framing,
// X-Forwarded-*, Forwarded, Via, X-Request-Id). Hot path: one string, one write.
import type { ForwardedHeaders } from '../identity/identity.js';
import { isHopByHop } from '../filters/hop-by-hop.js';

/** Request headers never copied from the client: hop-by-hop, or set by us below. */
function isOwnedByProxy(name: string): boolean {
  switch (name) {
    case 'host':
    case 'content-length':
    case 'x-forwarded-for':
    case 'x-forwarded-proto':
    case 'x-forwarded-host':
    case 'forwarded':
    case 'x-request-id':
    case 'x-real-ip':
    // httpoxy (CVE-2016-5385 and kin): CGI-style apps read a `Proxy` header as HTTP_PROXY and
    // send their own outgoing requests through it. No legitimate client sends one.
    case 'proxy':
    // uWS has already answered 100-continue itself (shared notes §4); an upstream must
    // not wait for a second go-ahead that never comes.
    case 'expect':
      return true;
    default:
      return isHopByHop(name);
  }
}

/**
 * Client-identity claims apps and libraries read besides X-Forwarded-For (request-ip, Rails,
 * Express, Django middleware): believed only from a trusted hop, like X-Forwarded-For, so an
 * untrusted client cannot choose the IP, port or scheme an upstream sees. Every other
 * `x-forwarded-*` name counts too.
 */
function isIdentityClaim(name: string): boolean {
  switch (name) {
    case 'x-client-ip':
    case 'true-client-ip':
    case 'cf-connecting-ip':
    case 'fastly-client-ip':
    case 'x-cluster-client-ip':
    case 'forwarded-for':
    case 'x-original-forwarded-for':
    case 'front-end-https':
    case 'x-url-scheme':
      return true;
    default:
      return name.startsWith('x-forwarded-');
  }
}

/**
 * Request fields frameworks read as the URL, the host or the client address (IIS/Symfony
 * X-Original-URL and X-Rewrite-URL, X-Host, X-Original-Host, X-Forwarded-Server, and the
 * client-IP guesses of PHP and Java stacks). From an untrusted client they are a way to reach
 * another resource than the one routed and authorised, or to poison a cache: believed only
 * from a trusted hop, like X-Forwarded-For. (x-forwarded-* are identity claims already.)
 */
function isOverrideClaim(name: string): boolean {
  switch (name) {
    case 'x-original-url':
    case 'x-rewrite-url':
    case 'x-host':
    case 'x-original-host':
    case 'client-ip':
    case 'x-originating-ip':
    case 'x-remote-addr':
    case 'x-remote-ip':
    case 'x-proxyuser-ip':
      return true;
    default:
      return false;
  }
}

/** Method overrides (Rails, Express method-override, Symfony, ASP.NET): a route may allow them. */
function isMethodOverride(name: string): boolean {
  return name === 'x-http-method-override' || name === 'x-http-method' || name === 'x-method-override';
}

/** The dash spelling of a header name written with underscores (`x_real_ip` → `x-real-ip`). */
function underscoreAlias(name: string): string {
  return name.replaceAll('_', '-');
}

export interface UpstreamRequestHead {
  readonly method: string;
  /** Path (after strip_prefix) plus '?query' when present. */
  readonly target: string;
  readonly host: string;
  readonly forwarded: ForwardedHeaders;
  readonly requestId: string;
  readonly via: string;
  /** -1: no body; otherwise the declared length. Ignored when chunked. */
  readonly contentLength: number;
  readonly chunked: boolean;
  /** Lowercase names the client's Connection header listed (also hop-by-hop), or null. */
  readonly connectionTokens: readonly string[] | null;
  /** Header lines of our own, each ending in CRLF (the cache's validators), or ''. */
  readonly extraLines?: string;
  /** The route passes method-override headers from untrusted clients (allow_method_override). */
  readonly allowMethodOverride?: boolean;
}

export function serializeRequestHead(h: UpstreamRequestHead, clientHeaders: readonly string[]): string {
  let out = `${h.method} ${h.target} HTTP/1.1\r\nhost: ${h.host}\r\n`;
  const tokens = h.connectionTokens;
  let via = '';
  const f = h.forwarded;
  for (let i = 0; i < clientHeaders.length; i += 2) {
    const name = clientHeaders[i]!;
    if (name === 'via') { via = via === '' ? clientHeaders[i + 1]! : `${via}, ${clientHeaders[i + 1]!}`; continue; }
    // CGI-style servers (gunicorn, CGI, some Rack and PHP setups) read `X_Forwarded_For` and
    // `X-Forwarded-For` as the same HTTP_X_FORWARDED_FOR, and may put the client's first: a name
    // with '_' is judged as the name it aliases, so it cannot smuggle a header we own or refuse.
    const key = name.indexOf('_') === -1 ? name : underscoreAlias(name);
    if (key !== name && key === 'via') continue;
    if (isOwnedByProxy(key)) continue;
    if (!f.hopTrusted && (isIdentityClaim(key) || isOverrideClaim(key) || (isMethodOverride(key) && h.allowMethodOverride !== true))) continue;
    if (tokens !== null && (tokens.includes(name) || tokens.includes(key))) continue;
    out += `${name}: ${clientHeaders[i + 1]!}\r\n`;
  }
  out += `x-forwarded-for: ${f.xForwardedFor}\r\nx-forwarded-proto: ${f.xForwardedProto}\r\n`;
  if (f.xForwardedHost !== '') out += `x-forwarded-host: ${f.xForwardedHost}\r\n`;
  out += `forwarded: ${f.forwarded}\r\nx-real-ip: ${f.xRealIp}\r\nvia: ${via === '' ? h.via : `${via}, ${h.via}`}\r\nx-request-id: ${h.requestId}\r\n`;
  if (h.chunked) out += 'transfer-encoding: chunked\r\n';
  else if (h.contentLength >= 0) out += `content-length: ${h.contentLength}\r\n`;
  if (h.extraLines) out += h.extraLines;
  return out + '\r\n';
}
