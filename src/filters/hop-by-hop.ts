// Hop-by-hop header removal (RFC 9110 §7.6.1), in both directions: fields that
// describe one connection must not cross the proxy.
//
// Stripped always:
//   connection, proxy-connection, keep-alive, te, transfer-encoding, upgrade
//                       the §7.6.1 list (proxy-connection is the pre-standard alias)
//   trailer             not hop-by-hop by RFC 9110, but we re-frame bodies and never
//                       relay trailers (uWS cannot send them), so announcing them lies
//   proxy-authorization credentials for a proxy the client chose (§11.7.2); we are a
//                       gateway, so they are not ours to relay to an origin
//   proxy-authenticate  the challenge for that (§11.7.1): applies to the next client only
//   http2-settings      connection-specific by RFC 9113 §3.2.1 (h2c upgrade)
// Upgrade/Connection for WebSocket tunnels are re-added by upstream/tunnel.ts after
// stripping, as are the X-Forwarded-* the proxy itself sends.

/** True for a lowercase field name that is always hop-by-hop. Hot path: no allocation. */
export function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2: return name === 'te';
    case 7: return name === 'upgrade' || name === 'trailer';
    case 10: return name === 'connection' || name === 'keep-alive';
    case 14: return name === 'http2-settings';
    case 16: return name === 'proxy-connection';
    case 17: return name === 'transfer-encoding';
    case 18: return name === 'proxy-authenticate';
    case 19: return name === 'proxy-authorization';
    default: return false;
  }
}

/**
 * Names a Connection header may not remove: framing and routing are the proxy's,
 * and a client must not be able to make us drop them (cf. CVE-2022-31813).
 */
function isProtected(name: string): boolean {
  return name === 'host' || name === 'content-length';
}

/** RFC 9110 §5.6.2 tchar, indexed by char code. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/**
 * The connection options of a Connection value (RFC 9110 §7.6.1: a comma list of
 * tokens): trimmed, lowercased; empty items and items that are not tokens dropped.
 */
export function parseConnectionTokens(value: string): string[] {
  const out: string[] = [];
  const len = value.length;
  let i = 0;
  while (i < len) {
    let comma = value.indexOf(',', i);
    if (comma < 0) comma = len;
    let s = i;
    let e = comma;
    while (s < e && (value.charCodeAt(s) === 32 || value.charCodeAt(s) === 9)) s++;
    while (e > s && (value.charCodeAt(e - 1) === 32 || value.charCodeAt(e - 1) === 9)) e--;
    let ok = s < e;
    let upper = false;
    for (let k = s; ok && k < e; k++) {
      const c = value.charCodeAt(k);
      if (c >= 128 || TCHAR[c] !== 1) ok = false;
      else if (c >= 65 && c <= 90) upper = true;
    }
    if (ok) {
      const token = value.slice(s, e);
      out.push(upper ? token.toLowerCase() : token);
    }
    i = comma + 1;
  }
  return out;
}

function listed(name: string, list: readonly string[] | null): boolean {
  if (list === null) return false;
  for (let k = 0; k < list.length; k++) if (list[k] === name) return true;
  return false;
}

/**
 * A new flat [name, value, ...] array (lowercase names) without hop-by-hop fields,
 * without fields named in any Connection header, and without `extraTokens`
 * (lowercase names, e.g. configured removals; null for none).
 * Hot path: one scan, and the Connection value is parsed only when present.
 */
export function stripHopByHop(headers: string[], extraTokens: readonly string[] | null): string[] {
  let named: string[] | null = null;
  for (let k = 0; k < headers.length; k += 2) {
    if (headers[k] === 'connection') {
      const tokens = parseConnectionTokens(headers[k + 1]!);
      if (named === null) named = tokens;
      else for (const t of tokens) named.push(t);
    }
  }
  const out: string[] = [];
  for (let k = 0; k < headers.length; k += 2) {
    const name = headers[k]!;
    if (isHopByHop(name) || listed(name, extraTokens)) continue;
    if (named !== null && listed(name, named) && !isProtected(name)) continue;
    out.push(name, headers[k + 1]!);
  }
  return out;
}
