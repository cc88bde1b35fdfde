// Network literals in the config: listen addresses, trusted-proxy CIDRs, upstream target
// URLs, route host patterns and route paths. Each parser returns the normalised value or a
// message, never throws, so the schema can attach the message to the right line.

import { isIP, isIPv4 } from 'node:net';
import type { ListenAddress, UpstreamTarget } from './types.js';

export type Parsed<T> = T | { error: string };

export function isError<T>(v: Parsed<T>): v is { error: string } {
  return typeof v === 'object' && v !== null && 'error' in v;
}

const PORT_RANGE = 'ports are 1–65535';

function parsePort(text: string): Parsed<number> {
  if (!/^\d+$/.test(text)) return { error: `invalid port "${text}"` };
  const port = Number(text);
  if (port < 1 || port > 65535) return { error: `port ${text} is out of range (${PORT_RANGE})` };
  return port;
}

/**
 * `0.0.0.0:8080`, `[::1]:8080`, `localhost:8080`, and the all-interfaces shorthands `:8080`,
 * `8080` (string or number) which bind 0.0.0.0. A host must be an IP literal or localhost:
 * binding to a DNS name would depend on resolution at start.
 */
export function parseListen(value: string | number): Parsed<ListenAddress> {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return { error: `invalid port ${value}` };
    const port = parsePort(String(value));
    return isError(port) ? port : { host: '0.0.0.0', port };
  }
  const text = value.trim();
  const split = splitListen(text);
  if (isError(split)) return split;
  const { host, portText, bracketed } = split;
  if (bracketed) {
    if (isIP(host) !== 6) return { error: `"${host}" is not an IPv6 address` };
  } else if (host !== 'localhost' && !isIPv4(host)) {
    return { error: `listen host "${host}" must be an IP address or localhost` };
  }
  const port = parsePort(portText);
  return isError(port) ? port : { host, port };
}

const EXAMPLE = '(e.g. "127.0.0.1:8080", ":8080" or "[::1]:8080")';

/**
 * A listen string into host (IPv6 without brackets) and port text, with a message naming
 * what is wrong with its shape: a missing port, an unclosed bracket, or colons that make
 * it neither `host:port` nor `[v6]:port`.
 */
function splitListen(text: string): Parsed<{ host: string; portText: string; bracketed: boolean }> {
  if (/^\d+$/.test(text)) return { host: '0.0.0.0', portText: text, bracketed: false };
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { error: `unclosed "[" in "${text}" (write IPv6 addresses as "[::1]:8080")` };
    const host = text.slice(1, close).toLowerCase();
    const after = text.slice(close + 1);
    if (after === '') return { error: `missing port in "${text}" (e.g. "${text}:8080")` };
    if (!after.startsWith(':')) return { error: `expected ":port" after "]" in "${text}"` };
    if (after === ':') return { error: `missing port after ":" in "${text}"` };
    return { host, portText: after.slice(1), bracketed: true };
  }
  if (text.includes(']')) return { error: `"]" without "[" in "${text}" ${EXAMPLE}` };
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { error: `missing port in "${text}" (e.g. "127.0.0.1:8080" or ":8080")` };
  const host = text.slice(0, colon).toLowerCase() || '0.0.0.0';
  const portText = text.slice(colon + 1);
  if (host.includes(':')) {
    // Only brackets tell an IPv6 address from its port: "::1" alone is an address with no
    // port, "::1:8080" an address followed by one; "127.0.0.1:80:80" is neither.
    if (isIP(host) === 6) return { error: `IPv6 addresses need brackets: "[${host}]:${portText}"` };
    if (isIP(text) === 6) return { error: `missing port: an IPv6 address needs brackets and a port, as in "[${text}]:8080"` };
    return { error: `"${text}" is not an address: too many ":" ${EXAMPLE}` };
  }
  if (portText === '') return { error: `missing port after ":" in "${text}"` };
  return { host, portText, bracketed: false };
}

/**
 * A CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address, normalised to `address/prefix`
 * so readers parse one form. Host bits set under the mask are refused: `10.0.0.1/8` is
 * almost always a typo for `10.0.0.0/8` or `10.0.0.1/32`.
 */
export function parseCidr(value: string): Parsed<string> {
  const text = value.trim().toLowerCase();
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address) as 0 | 4 | 6;
  if (family === 0) return { error: `"${value}" is not an IP address or CIDR` };
  const bits = family === 4 ? 32 : 128;
  if (slash < 0) return `${address}/${bits}`;
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d+$/.test(prefixText) || prefix > bits) {
    return { error: `invalid prefix length "/${prefixText}" in "${value}" (0–${bits} for IPv${family})` };
  }
  const network = maskAddress(address, family, prefix);
  if (network !== canonical(address, family)) {
    return { error: `"${value}" has bits set outside the /${prefix} mask; did you mean "${network}/${prefix}"?` };
  }
  return `${address}/${prefix}`;
}

function toBigInt(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  // Expand '::' and a trailing dotted quad into eight 16-bit groups.
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = toBigInt(dotted[1]!, 4);
    text = text.slice(0, -dotted[1]!.length) + `${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function fromBigInt(n: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952 §4.2).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function canonical(address: string, family: 4 | 6): string {
  return fromBigInt(toBigInt(address, family), family);
}

function maskAddress(address: string, family: 4 | 6, prefix: number): string {
  const bits = family === 4 ? 32n : 128n;
  const all = (1n << bits) - 1n;
  const mask = all ^ ((1n << (bits - BigInt(prefix))) - 1n);
  return fromBigInt(toBigInt(address, family) & mask, family);
}

/**
 * `http://host[:port]` or `https://host[:port]` with no path, query or credentials; the port
 * defaults to 80 or 443. The host is kept without IPv6 brackets, ready for net.connect.
 */
export function parseTarget(value: string): Parsed<Pick<UpstreamTarget, 'url' | 'host' | 'port' | 'https'>> {
  const text = value.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    return { error: `"${value}" is not a URL; did you mean "http://${text}"?` };
  }
  if (scheme !== 'http' && scheme !== 'https') return { error: `unsupported scheme "${scheme}://" (use http:// or https://)` };
  const authority = /^[^:]+:\/\/([^/?#]*)(.*)$/.exec(text)!;
  const rest = authority[2]!;
  if (rest !== '' && rest !== '/') {
    return { error: `upstream URL must not have a path, query or fragment ("${rest}"); use the route's strip_prefix to rewrite paths` };
  }
  const hostPort = authority[1]!;
  if (hostPort.includes('@')) return { error: 'upstream URL must not contain credentials' };
  const split = splitAuthority(hostPort, value);
  if (isError(split)) return split;
  const { host, portText, bracketed } = split;
  if (host === '') return { error: `missing host in "${value}"` };
  const port = portText === undefined ? (scheme === 'https' ? 443 : 80) : parsePort(portText);
  if (isError(port)) return port;
  if (bracketed) {
    if (isIP(host) !== 6) return { error: `"${host}" is not an IPv6 address` };
  } else if (!isIPv4(host) && !isHostname(host)) {
    return { error: `invalid host "${host}"` };
  }
  return scheme === 'https' ? { url: text, host, port, https: true } : { url: text, host, port };
}

/** A URL's `host[:port]` into host (IPv6 without brackets) and port text, or what is wrong with its shape. */
function splitAuthority(hostPort: string, url: string): Parsed<{ host: string; portText: string | undefined; bracketed: boolean }> {
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) return { error: `unclosed "[" in "${url}" (write IPv6 hosts as "http://[::1]:3000")` };
    const after = hostPort.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return { error: `expected ":port" after "]" in "${url}"` };
    if (after === ':') return { error: `missing port after ":" in "${url}"` };
    return { host: hostPort.slice(1, close).toLowerCase(), portText: after === '' ? undefined : after.slice(1), bracketed: true };
  }
  const first = hostPort.indexOf(':');
  if (first < 0) return { host: hostPort.toLowerCase(), portText: undefined, bracketed: false };
  if (hostPort.indexOf(':', first + 1) >= 0) {
    const hint = isIP(hostPort) === 6 ? ` (write IPv6 hosts in brackets: "http://[${hostPort}]:80")` : '';
    return { error: `too many ":" in "${hostPort}"${hint}` };
  }
  const portText = hostPort.slice(first + 1);
  if (portText === '') return { error: `missing port after ":" in "${url}"` };
  return { host: hostPort.slice(0, first).toLowerCase(), portText, bracketed: false };
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

function isHostname(name: string): boolean {
  return name.length <= 253 && name.split('.').every((label) => LABEL.test(label));
}

/** Route host: an exact name or `*.suffix`, lowercased, without a port or trailing dot. */
export function parseHostPattern(value: string): Parsed<string> {
  const host = value.trim().toLowerCase().replace(/\.$/, '');
  if (host === '*') return { error: 'omit host to match any host' };
  if (/:\d+$/.test(host)) return { error: `host must not include a port ("${value}")` };
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name.includes('*')) return { error: `"${value}": a wildcard is only allowed as the first label ("*.example.com")` };
  if (!isHostname(name)) return { error: `invalid host name "${value}"` };
  return host;
}

/**
 * Route path pattern: starts with '/'; `:name` parameters take a whole segment; `*` only as
 * the last segment. The router (router/trie.ts) relies on these rules holding.
 */
export function checkRoutePath(value: string): Parsed<string> {
  if (!value.startsWith('/')) return { error: `path must start with "/" (got "${value}")` };
  if (/[\s?#]/.test(value)) return { error: `path must not contain whitespace, "?" or "#" (got "${value}")` };
  const segments = value.split('/').slice(1);
  const params = new Set<string>();
  for (const [i, seg] of segments.entries()) {
    if (seg.includes('*') && (seg !== '*' || i !== segments.length - 1)) {
      return { error: `"*" is only allowed as the whole last segment, as in "/files/*" (got "${value}")` };
    }
    if (seg.includes(':')) {
      if (!/^:[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) {
        return { error: `a parameter takes a whole segment, as in "/users/:id" (got "${value}")` };
      }
      if (params.has(seg)) return { error: `parameter "${seg}" appears twice in "${value}"` };
      params.add(seg);
    }
  }
  return value;
}

/** A header value we send (Host, Via): printable, no whitespace that could split a header. */
export function checkHeaderToken(value: string): Parsed<string> {
  if (value === '') return { error: 'must not be empty' };
  if (/[\x00-\x1f\x7f]/.test(value)) return { error: 'must not contain control characters' };
  return value;
}

/** A DNS server: `ip`, `ip:port` or `[v6]:port` (port 53 by default), as node:dns setServers takes it. */
export function parseDnsServer(value: string): Parsed<string> {
  const text = value.trim();
  if (isIP(text) !== 0) return text;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const plain = /^([^:]+):(\d+)$/.exec(text);
  const host = bracket?.[1] ?? plain?.[1];
  const portText = bracket ? bracket[2] : plain?.[2];
  if (host === undefined || isIP(host) === 0 || (bracket !== null && isIP(host) !== 6)) {
    return { error: `"${value}" is not a name server address (an IP, "ip:port" or "[v6]:port")` };
  }
  if (portText !== undefined) {
    const port = parsePort(portText);
    if (isError(port)) return port;
  }
  return text;
}

/** A header or cookie name (an RFC 9110 token), lowercased for headers by the caller. */
export function checkToken(value: string): Parsed<string> {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) return { error: `"${value}" is not a valid name (letters, digits and !#$%&'*+.^_\`|~-)` };
  return value;
}

/** `balance: { hash: { key } }`: `client_ip`, `header:NAME` or `cookie:NAME`. */
export function parseHashKey(value: string): Parsed<{ kind: 'client_ip' } | { kind: 'header' | 'cookie'; name: string }> {
  const text = value.trim();
  if (text === 'client_ip') return { kind: 'client_ip' };
  const m = /^(header|cookie):(.*)$/.exec(text);
  if (m === null) return { error: `invalid hash key "${value}" (use client_ip, header:NAME or cookie:NAME)` };
  const name = checkToken(m[2]!.trim());
  if (isError(name)) return name;
  return { kind: m[1] as 'header' | 'cookie', name: m[1] === 'header' ? name.toLowerCase() : name };
}
