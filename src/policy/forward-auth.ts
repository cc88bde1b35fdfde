// Forward auth (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth): before a request
// goes upstream, the auth service is asked with a GET carrying the original method and URI in
// X-Forwarded-Method / X-Forwarded-Uri, the client identity in X-Forwarded-For/Proto/Host, and
// the client's own headers (cookies, Authorization). A 2xx lets the request through and copies
// `copy_headers` from the answer onto the upstream request; any other answer (401, a 302 to a
// login page, 403) goes back to the client as it is. Positive answers may be remembered.
import http from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';
import { ProxyError } from '../errors.js';
import type { ForwardAuthConfig } from '../config/protection-types.js';
import type { Exchange } from '../exchange.js';
import { isHopByHop } from '../filters/hop-by-hop.js';
import { BoundedCache } from './bounded-cache.js';
import { editUpstreamHeaders } from './request-edits.js';
import { refuse, type Answer, type Check, type Verdict } from './verdict.js';

/** Largest auth answer body relayed to the client; a longer one is cut to this. */
const MAX_BODY = 64 * 1024;

/** Headers of the client request not sent to the auth service (framing, and the ones we set). */
function isNotForwarded(name: string): boolean {
  switch (name) {
    case 'host': case 'content-length': case 'transfer-encoding': case 'expect':
    case 'x-forwarded-for': case 'x-forwarded-proto': case 'x-forwarded-host':
    case 'x-forwarded-method': case 'x-forwarded-uri': case 'forwarded':
      return true;
    default:
      return isHopByHop(name);
  }
}

/** Headers of the auth answer not relayed to the client (uWS writes its own framing and Date). */
function isNotRelayed(name: string): boolean {
  return name === 'content-length' || name === 'date' || name === 'transfer-encoding' || isHopByHop(name);
}

interface AuthReply {
  status: number;
  headers: string[];
  body: Buffer;
}

export function forwardAuthCheck(config: ForwardAuthConfig): Check {
  const url = new URL(config.url);
  const client = url.protocol === 'https:' ? https : http;
  const agent = new client.Agent({ keepAlive: true, maxSockets: 64 });
  const copy = new Set(config.copy_headers);
  const remembered = config.cache === false ? null : new BoundedCache<string[]>(10_000);
  const unavailable = (detail: string): Verdict => refuse(new ProxyError('PC_ERR_AUTH_UNAVAILABLE', detail));

  const ask = (ex: Exchange): Promise<AuthReply> => {
    const id = ex.identity!;
    const headers: Record<string, string[]> = {};
    const h = ex.head.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (isNotForwarded(name)) continue;
      (headers[name] ??= []).push(h[i + 1]!);
    }
    headers['x-forwarded-method'] = [ex.head.method];
    headers['x-forwarded-uri'] = [ex.head.query === '' ? ex.normalizedPath : `${ex.normalizedPath}?${ex.head.query}`];
    headers['x-forwarded-proto'] = [id.proto];
    if (id.host !== '') headers['x-forwarded-host'] = [id.host];
    headers['x-forwarded-for'] = [id.clientIp];
    return new Promise((resolve, reject) => {
      const req = client.request(url, { method: 'GET', headers, agent, timeout: config.timeout }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c.subarray(0, MAX_BODY - size));
          size += c.length;
        });
        res.on('end', () => {
          const raw = res.rawHeaders;
          const list: string[] = [];
          for (let i = 0; i < raw.length; i += 2) list.push(raw[i]!.toLowerCase(), raw[i + 1]!);
          resolve({ status: res.statusCode ?? 502, headers: list, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  };

  /** The copied headers of a 2xx answer: [name, value, …] in copy_headers order. */
  const copied = (reply: AuthReply): string[] => {
    const out: string[] = [];
    for (let i = 0; i < reply.headers.length; i += 2) {
      if (copy.has(reply.headers[i]!)) out.push(reply.headers[i]!, reply.headers[i + 1]!);
    }
    return out;
  };

  const admit = (ex: Exchange, headers: readonly string[]): null => {
    // The client's own values of the copied names never reach the upstream, also when the auth
    // service did not set them: they would be read as the service's word.
    if (copy.size > 0) editUpstreamHeaders(ex, copy, headers);
    return null;
  };

  return (ex) => {
    let key = '';
    if (remembered !== null) {
      const id = ex.identity!;
      key = createHash('sha256')
        .update(`${ex.head.method}\u0000${id.host}\u0000${ex.normalizedPath}?${ex.head.query}\u0000${ex.headerList('authorization') ?? ''}\u0000${ex.headerList('cookie') ?? ''}\u0000${id.clientIp}`)
        .digest('base64');
      const hit = remembered.get(key, Date.now());
      if (hit !== undefined) return admit(ex, hit);
    }
    return ask(ex).then(
      (reply): Verdict | null => {
        if (reply.status >= 200 && reply.status < 300) {
          const headers = copied(reply);
          if (remembered !== null) remembered.set(key, headers, Date.now() + (config.cache as number));
          return admit(ex, headers);
        }
        const relayed: string[] = [];
        for (let i = 0; i < reply.headers.length; i += 2) {
          if (!isNotRelayed(reply.headers[i]!)) relayed.push(reply.headers[i]!, reply.headers[i + 1]!);
        }
        const answer: Answer = { kind: 'answer', status: reply.status, reason: '', headers: relayed, body: reply.body, metric: 'auth_answer' };
        return answer;
      },
      (err: Error) => unavailable(err.message),
    );
  };
}
