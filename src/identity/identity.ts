// Who the client is (IP, scheme, host) and what X-Forwarded-*/Forwarded we send
// upstream; forwarding headers are believed only when a configured proxy sent them.
//
// Model (nginx real_ip_recursive, Caddy trusted_proxies): the hops are, right to
// left, the TCP peer, then (if the peer is trusted) its PROXY v2 address, then the
// X-Forwarded-For (or RFC 7239 Forwarded `for=`) entries. Walk them while each hop is
// trusted; the first untrusted hop is the client. A hop that is not trusted may have
// written anything to its left, so nothing to its left is believed or forwarded.

import { formatIPv6, isMappedIPv4, parseIPv4, parseIPv6, normalizeAddress, formatIPv4 } from '../net/address.js';
import type { CidrMatcher } from '../net/cidr.js';

export interface ClientIdentity {
  /** Canonical IP of the client (or the peer's text as given when it is not an IP). */
  clientIp: string;
  /** Scheme the client used towards the outermost trusted hop. */
  proto: 'http' | 'https';
  /** Host the client asked for ('' if none): X-Forwarded-Host/Forwarded host from a trusted hop, else Host. */
  host: string;
}

export interface IdentityInput {
  /** Normalised address of the TCP peer (net/address normalizeAddress). */
  peerIp: string;
  /** Address from a PROXY protocol v2 header ('' if none); believed only if the peer is trusted (notes §8). */
  proxiedIp: string;
  /** Scheme of our listener. */
  scheme: 'http' | 'https';
  /** Client's Host header as received ('' if none). */
  host: string;
  /** Repeated header lines must be joined with ", " in order (uWS getHeader returns only the first). */
  xForwardedFor: string | undefined;
  xForwardedProto: string | undefined;
  xForwardedHost: string | undefined;
  /** Repeated header lines must be joined with ", " in order. */
  forwarded: string | undefined;
}

/** The values to SEND upstream (the incoming ones are always removed by the caller first). '' means omit the header. */
export interface ForwardedHeaders {
  xForwardedFor: string;
  xForwardedProto: string;
  xForwardedHost: string;
  forwarded: string;
  /** The resolved client IP, sent as X-Real-IP (what nginx setups pass with `$remote_addr`). */
  xRealIp: string;
  /** The hop the request came from is trusted: its other client claims (X-Forwarded-Port, CF-Connecting-IP…) pass. */
  hopTrusted: boolean;
}

const CH_TAB = 9;
const CH_SPACE = 32;
const CH_QUOTE = 34;
const CH_COMMA = 44;
const CH_COLON = 58;
const CH_SEMI = 59;
const CH_EQ = 61;
const CH_LBRACKET = 91;
const CH_BACKSLASH = 92;
const CH_UNDERSCORE = 95;

/** RFC 9110 §5.6.2 tchar, indexed by char code. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** RFC 3986 unreserved, the only reg-name chars we accept in a host (no pct-encoding, no sub-delims). */
const HOSTCHAR = new Uint8Array(128);
for (const c of '-._~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ') HOSTCHAR[c.charCodeAt(0)] = 1;

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

function isOws(c: number): boolean {
  return c === CH_SPACE || c === CH_TAB;
}

const g = new Uint16Array(8);

/** Port: 1–5 digits ≤ 65535, or (RFC 7239 §6.3 obfport) "_" 1*(ALPHA / DIGIT / "." / "_" / "-"). */
function isPort(text: string, s: number, e: number): boolean {
  if (s >= e) return false;
  if (text.charCodeAt(s) === CH_UNDERSCORE) return isObfuscated(text, s, e);
  if (e - s > 5) return false;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    v = v * 10 + (c - 48);
  }
  return v <= 65535;
}

function isObfuscated(text: string, s: number, e: number): boolean {
  if (e - s < 2) return false;
  for (let i = s + 1; i < e; i++) {
    const c = text.charCodeAt(i);
    if (!(c < 128 && HOSTCHAR[c] === 1) || c === 126 /* ~ */) return false;
  }
  return true;
}

/** Canonical IPv6 from the groups in `g`, with IPv4-mapped shown as IPv4. */
function v6Text(): string {
  return isMappedIPv4(g) ? formatIPv4(g[6]! * 65536 + g[7]!) : formatIPv6(g);
}

/**
 * One hop address in text[s, e): IPv4, IPv4:port, [IPv6], [IPv6]:port and (X-Forwarded-For
 * only) bare IPv6. Returns the canonical IP, or null for anything else, including RFC 7239
 * "unknown" and obfuscated "_x" identifiers: they name no address a policy could use.
 */
function parseNode(text: string, s: number, e: number, bareV6: boolean): string | null {
  if (s >= e) return null;
  if (text.charCodeAt(s) === CH_LBRACKET) {
    const close = text.indexOf(']', s);
    if (close < 0 || close >= e) return null;
    if (close + 1 !== e && !(text.charCodeAt(close + 1) === CH_COLON && isPort(text, close + 2, e))) return null;
    return parseIPv6(text, s + 1, close, g) ? v6Text() : null;
  }
  const colon = text.indexOf(':', s);
  if (colon < 0 || colon >= e) {
    if (parseIPv4(text, s, e) < 0) return null;
    return s === 0 && e === text.length ? text : text.slice(s, e);
  }
  const second = text.indexOf(':', colon + 1);
  if (second < 0 || second >= e) {
    // IPv4:port (a bare IPv6 always has at least two colons).
    if (parseIPv4(text, s, colon) < 0 || !isPort(text, colon + 1, e)) return null;
    return text.slice(s, colon);
  }
  if (!bareV6) return null;
  return parseIPv6(text, s, e, g) ? v6Text() : null;
}

/** 'http' | 'https' (any case) in text[s, e), else null. */
function parseProto(text: string, s: number, e: number): 'http' | 'https' | null {
  const n = e - s;
  if (n !== 4 && n !== 5) return null;
  if ((text.charCodeAt(s) | 0x20) !== 104 || (text.charCodeAt(s + 1) | 0x20) !== 116 ||
      (text.charCodeAt(s + 2) | 0x20) !== 116 || (text.charCodeAt(s + 3) | 0x20) !== 112) return null;
  if (n === 4) return 'http';
  return (text.charCodeAt(s + 4) | 0x20) === 115 ? 'https' : null;
}

/**
 * host[:port] in text[s, e) (RFC 9110 §7.2 uri-host): a reg-name of unreserved chars
 * or an [IPv6] literal, then an optional port. Stricter than RFC 3986 on purpose:
 * no pct-encoding or sub-delims, which no real host needs and which would need
 * quoting or escaping downstream.
 */
function isValidHost(text: string, s: number, e: number): boolean {
  if (s >= e || e - s > 261) return false;
  let nameEnd: number;
  if (text.charCodeAt(s) === CH_LBRACKET) {
    const close = text.indexOf(']', s);
    if (close < 0 || close >= e || !parseIPv6(text, s + 1, close, g)) return false;
    nameEnd = close + 1;
  } else {
    nameEnd = s;
    while (nameEnd < e) {
      const c = text.charCodeAt(nameEnd);
      if (!(c < 128 && HOSTCHAR[c] === 1)) break;
      nameEnd++;
    }
    if (nameEnd === s || nameEnd - s > 255) return false;
  }
  if (nameEnd === e) return true;
  if (text.charCodeAt(nameEnd) !== CH_COLON) return false;
  // Only a decimal port here: obfport belongs to Forwarded nodes, not hosts.
  return text.charCodeAt(nameEnd + 1) !== CH_UNDERSCORE && isPort(text, nameEnd + 1, e);
}

/** Bounds of text without leading/trailing OWS, packed into two module slots. */
let trimS = 0;
let trimE = 0;
function trim(text: string, s: number, e: number): void {
  while (s < e && isOws(text.charCodeAt(s))) s++;
  while (e > s && isOws(text.charCodeAt(e - 1))) e--;
  trimS = s;
  trimE = e;
}

// ─── The walk ────────────────────────────────────────────────────────────────
// One synchronous result per thread, reused: the walk is on every request.

interface Walk {
  /** The hop our HTTP request came from: the peer, or its PROXY v2 address if the peer is trusted. */
  hop: string;
  /** Headers from `hop` are believed (hop is trusted). */
  believed: boolean;
  client: string;
  proto: 'http' | 'https';
  host: string;
  /** Believed incoming hops, client first, joined X-Forwarded-For style ('' if none). */
  xffChain: string;
  /** Believed incoming Forwarded elements, client first ('' if none). */
  forwardedChain: string;
}

const walk: Walk = { hop: '', believed: false, client: '', proto: 'http', host: '', xffChain: '', forwardedChain: '' };

/** Forwarded `for=` value for an address: IPv6 quoted and bracketed (RFC 7239 §6). */
function forNode(ip: string): string {
  if (parseIPv4(ip) >= 0) return ip;
  if (ip.indexOf(':') >= 0 && parseIPv6(ip, 0, ip.length, g)) return `"[${ip}]"`;
  return 'unknown';
}

function runWalk(input: IdentityInput, trusted: CidrMatcher, wantHeaders: boolean): Walk {
  const w = walk;
  w.hop = input.peerIp;
  w.believed = false;
  w.proto = input.scheme;
  w.host = input.host;
  w.xffChain = '';
  w.forwardedChain = '';
  if (trusted(input.peerIp)) {
    w.believed = true;
    const proxied = input.proxiedIp;
    if (proxied !== '') {
      // The PROXY v2 sender is an L4 balancer: the address it reports is the next hop,
      // and the HTTP headers came from that hop, not from the balancer.
      const p = normalizeAddress(proxied);
      if (parseIPv4(p) >= 0 || parseIPv6(p, 0, p.length, g)) {
        w.hop = p;
        w.believed = trusted(p);
      }
    }
  }
  w.client = w.hop;
  if (!w.believed) return w;

  const xff = input.xForwardedFor;
  let fromForwarded = false;
  if (xff !== undefined && xff !== '') walkXff(w, xff, trusted, wantHeaders);
  else if (input.forwarded !== undefined && input.forwarded !== '') fromForwarded = walkForwarded(w, input.forwarded, trusted, wantHeaders);

  const xfp = input.xForwardedProto;
  let proto: 'http' | 'https' | null = null;
  if (xfp !== undefined) {
    trim(xfp, 0, xfp.length);
    proto = parseProto(xfp, trimS, trimE);
  }
  if (proto === null && fromForwarded && fwdProtoS >= 0) proto = parseProto(input.forwarded!, fwdProtoS, fwdProtoE);
  if (proto !== null) w.proto = proto;

  const xfh = input.xForwardedHost;
  let hostSet = false;
  if (xfh !== undefined) {
    trim(xfh, 0, xfh.length);
    if (isValidHost(xfh, trimS, trimE)) {
      w.host = trimS === 0 && trimE === xfh.length ? xfh : xfh.slice(trimS, trimE);
      hostSet = true;
    }
  }
  if (!hostSet && fromForwarded && fwdHostS >= 0 && isValidHost(input.forwarded!, fwdHostS, fwdHostE)) {
    w.host = input.forwarded!.slice(fwdHostS, fwdHostE);
  }
  return w;
}

/** X-Forwarded-For, right to left (RFC 7239 §5.2 semantics; the list is comma-separated, empty items skipped). */
function walkXff(w: Walk, xff: string, trusted: CidrMatcher, wantHeaders: boolean): void {
  let end = xff.length;
  while (end > 0) {
    const comma = xff.lastIndexOf(',', end - 1);
    trim(xff, comma + 1, end);
    end = comma < 0 ? 0 : comma;
    if (trimS === trimE) continue;
    const ip = parseNode(xff, trimS, trimE, true);
    if (ip === null) return; // garbage: the client is the last valid hop seen
    w.client = ip;
    if (wantHeaders) {
      w.xffChain = w.xffChain === '' ? ip : `${ip}, ${w.xffChain}`;
      const node = forNode(ip);
      w.forwardedChain = w.forwardedChain === '' ? `for=${node}` : `for=${node}, ${w.forwardedChain}`;
    }
    if (!trusted(ip)) return;
  }
}

// Forwarded parse results: element starts and `for=` value bounds (inner text of a
// quoted-string), reused arrays; proto/host bounds of the last element.
const elemStart: number[] = [];
const forS: number[] = [];
const forE: number[] = [];
let fwdProtoS = -1;
let fwdProtoE = -1;
let fwdHostS = -1;
let fwdHostE = -1;

/**
 * Parses a Forwarded value (RFC 7239 §4) into the arrays above. Returns the element
 * count, or -1 on a syntax error: the header is then ignored as a whole, because
 * without the elements nearest to us nothing to their left can be attributed.
 */
function parseForwarded(text: string): number {
  elemStart.length = 0;
  forS.length = 0;
  forE.length = 0;
  const len = text.length;
  let i = 0;
  let n = 0;
  while (i < len) {
    let c = text.charCodeAt(i);
    if (isOws(c) || c === CH_COMMA) { i++; continue; } // empty list items are allowed (RFC 9110 §5.6.1)
    elemStart[n] = i;
    forS[n] = -1;
    forE[n] = -1;
    let pS = -1, pE = -1, hS = -1, hE = -1;
    let seen = 0; // bit per known parameter, to reject duplicates (§4: at most once per element)
    while (i < len) {
      c = text.charCodeAt(i);
      if (c === CH_COMMA) break;
      if (c === CH_SEMI) {
        i++;
        while (i < len && isOws(text.charCodeAt(i))) i++;
        continue;
      }
      const nameS = i;
      while (i < len && isTchar(text.charCodeAt(i))) i++;
      const nameE = i;
      if (nameE === nameS || i >= len || text.charCodeAt(i) !== CH_EQ) return -1;
      i++;
      let vS: number, vE: number;
      let escaped = false;
      if (i < len && text.charCodeAt(i) === CH_QUOTE) {
        vS = ++i;
        for (;;) {
          if (i >= len) return -1;
          c = text.charCodeAt(i);
          if (c === CH_QUOTE) break;
          if (c === CH_BACKSLASH) { escaped = true; i++; }
          else if ((c < 0x20 && c !== CH_TAB) || c === 0x7f) return -1;
          i++;
        }
        vE = i++;
      } else {
        vS = i;
        while (i < len && isTchar(text.charCodeAt(i))) i++;
        vE = i;
        if (vE === vS) return -1;
      }
      while (i < len && isOws(text.charCodeAt(i))) i++;
      if (i < len) {
        c = text.charCodeAt(i);
        if (c !== CH_SEMI && c !== CH_COMMA) return -1;
      }
      const bit = paramBit(text, nameS, nameE);
      if (bit !== 0) {
        if ((seen & bit) !== 0) return -1;
        seen |= bit;
        // A value with quoted-pairs is never a valid node, proto or host: leave it unset.
        if (!escaped) {
          if (bit === 1) { forS[n] = vS; forE[n] = vE; }
          else if (bit === 2) { pS = vS; pE = vE; }
          else { hS = vS; hE = vE; }
        }
      }
    }
    fwdProtoS = pS; fwdProtoE = pE; fwdHostS = hS; fwdHostE = hE;
    n++;
  }
  return n;
}

/** 1 for "for", 2 for "proto", 4 for "host" (case-insensitive), 0 for other parameters. */
function paramBit(text: string, s: number, e: number): number {
  const n = e - s;
  const c0 = text.charCodeAt(s) | 0x20;
  if (n === 3 && c0 === 102 && (text.charCodeAt(s + 1) | 0x20) === 111 && (text.charCodeAt(s + 2) | 0x20) === 114) return 1;
  if (n === 5 && c0 === 112 && equalsLower(text, s, 'proto')) return 2;
  if (n === 4 && c0 === 104 && equalsLower(text, s, 'host')) return 4;
  return 0;
}

/** text[s, s + lower.length) equals `lower` ignoring ASCII case (letters only in `lower`). */
function equalsLower(text: string, s: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((text.charCodeAt(s + k) | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

/** Walks Forwarded `for=` right to left; returns whether the header was usable. */
function walkForwarded(w: Walk, fwd: string, trusted: CidrMatcher, wantHeaders: boolean): boolean {
  fwdProtoS = fwdProtoE = fwdHostS = fwdHostE = -1;
  const n = parseForwarded(fwd);
  if (n <= 0) {
    fwdProtoS = fwdHostS = -1;
    return false;
  }
  let keepFrom = -1;
  for (let k = n - 1; k >= 0; k--) {
    const s = forS[k]!;
    const ip = s < 0 ? null : parseNode(fwd, s, forE[k]!, false);
    if (ip === null) break;
    w.client = ip;
    keepFrom = k;
    if (wantHeaders) w.xffChain = w.xffChain === '' ? ip : `${ip}, ${w.xffChain}`;
    if (!trusted(ip)) break;
  }
  if (wantHeaders && keepFrom >= 0) {
    // Trailing empty list items would otherwise reach upstream as ",,".
    let end = fwd.length;
    for (let c = fwd.charCodeAt(end - 1); c === CH_COMMA || isOws(c); c = fwd.charCodeAt(end - 1)) end--;
    w.forwardedChain = fwd.slice(elemStart[keepFrom]!, end);
  }
  return true;
}

// ─── Public API ──────────────────────────────────────────────────────────────

/** Resolves the client's IP, scheme and host. Hot path. */
export function resolveIdentity(input: IdentityInput, trusted: CidrMatcher): ClientIdentity {
  const w = runWalk(input, trusted, false);
  return { clientIp: w.client, proto: w.proto, host: w.host };
}

/**
 * The forwarding headers to send upstream. X-Forwarded-For and Forwarded carry the
 * believed hops (client first) plus the hop we received the request from; hops left
 * of the client were written by the client itself and are dropped, so upstreams may
 * take the leftmost entry as the client. Our Forwarded element carries the resolved
 * host and proto (what the client used), not those of the last hop alone.
 */
export function forwardedHeaders(input: IdentityInput, id: ClientIdentity, trusted: CidrMatcher): ForwardedHeaders {
  const w = runWalk(input, trusted, true);
  const hop = w.hop;
  let own = `for=${forNode(hop)}`;
  if (id.host !== '' && isValidHost(id.host, 0, id.host.length)) {
    // RFC 7239 §4: a value that is not a token (':' '[' ']') must be a quoted-string.
    own += id.host.indexOf(':') >= 0 ? `;host="${id.host}"` : `;host=${id.host}`;
  }
  own += `;proto=${id.proto}`;
  return {
    xForwardedFor: w.xffChain === '' ? hop : `${w.xffChain}, ${hop}`,
    xForwardedProto: id.proto,
    xForwardedHost: id.host,
    forwarded: w.forwardedChain === '' ? own : `${w.forwardedChain}, ${own}`,
    xRealIp: id.clientIp,
    hopTrusted: w.believed,
  };
}
