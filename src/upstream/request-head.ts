// Serialises the request head sent upstream (RFC 9112 §3): origin-form target, the
// client's end-to-end headers, and the headers this proxy owns (Host, framing,
// X-Forwarded-*, Forwarded, Via, X-Request-Id). Hot path: one string, one write.
import type { ForwardedHeaders } from '../downstream/identity.js';
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
    // uWS has already answered 100-continue itself (shared notes §4); an upstream must
    // not wait for a second go-ahead that never comes.
    case 'expect':
      return true;
    default:
      return isHopByHop(name);
  }
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
}

export function serializeRequestHead(h: UpstreamRequestHead, clientHeaders: readonly string[]): string {
  let out = `${h.method} ${h.target} HTTP/1.1\r\nhost: ${h.host}\r\n`;
  const tokens = h.connectionTokens;
  let via = '';
  for (let i = 0; i < clientHeaders.length; i += 2) {
    const name = clientHeaders[i]!;
    if (name === 'via') { via = via === '' ? clientHeaders[i + 1]! : `${via}, ${clientHeaders[i + 1]!}`; continue; }
    if (isOwnedByProxy(name)) continue;
    if (tokens !== null && tokens.includes(name)) continue;
    out += `${name}: ${clientHeaders[i + 1]!}\r\n`;
  }
  const f = h.forwarded;
  out += `x-forwarded-for: ${f.xForwardedFor}\r\nx-forwarded-proto: ${f.xForwardedProto}\r\n`;
  if (f.xForwardedHost !== '') out += `x-forwarded-host: ${f.xForwardedHost}\r\n`;
  out += `forwarded: ${f.forwarded}\r\nvia: ${via === '' ? h.via : `${via}, ${h.via}`}\r\nx-request-id: ${h.requestId}\r\n`;
  if (h.chunked) out += 'transfer-encoding: chunked\r\n';
  else if (h.contentLength >= 0) out += `content-length: ${h.contentLength}\r\n`;
  return out + '\r\n';
}
