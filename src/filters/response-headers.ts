// Which upstream response headers reach the client: end-to-end ones only (RFC 9110
// §7.6.1), minus those the front end writes itself (Date, framing) and those that only tell
// attackers what runs behind us (Server, X-Powered-By: nginx hides Server too), plus our Via.
import type { ResponseHead } from '../http/response-parser.js';
import { isHopByHop } from './hop-by-hop.js';

function isDroppedFromResponse(name: string): boolean {
  switch (name) {
    // uWS always writes Date and the framing headers itself (shared notes §5); passing
    // the upstream's would duplicate them.
    case 'date':
    case 'content-length':
      return true;
    // Versions of the origin's software; a route sets its own with headers.response.set.
    case 'server':
    case 'x-powered-by':
      return true;
    default:
      return isHopByHop(name);
  }
}

export function responseHeaders(head: ResponseHead, via: string): string[] {
  const h = head.headers;
  const tokens = head.connectionTokens;
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (isDroppedFromResponse(name)) continue;
    if (tokens !== null && tokens.includes(name)) continue;
    out.push(name, h[i + 1]!);
  }
  out.push('via', via);
  return out;
}
