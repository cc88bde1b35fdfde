// The admin API's HTTP side, in the primary (node:http: a few requests a second, never the
// proxy's traffic): who may ask (token, Host, origin), which endpoint answers, JSON in and out,
// errors as PC_ERR_* codes. What each endpoint does is primary/operations.ts.
//
//   token     admin.token set → every request but the dashboard page needs
//             `Authorization: Bearer TOKEN` (compared in constant time)
//   Host      on a loopback address, only one of its own names (ownNames: that address,
//             localhost, 127.0.0.1 or [::1], with the admin port): a web page cannot reach the
//             API through DNS rebinding
//   origin    a POST's Origin must be http:// and one of those same names (off loopback: the
//             Host it was sent to); without Origin, Sec-Fetch-Site must say same-origin or
//             none. One list for both checks, so what the Host check takes the origin check
//             takes too: a form on some site cannot make a local admin API reload or drain.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdminConfig } from '../config/types.js';
import { listenKey } from '../config/diff.js';
import { isLoopbackHost } from '../net/address.js';
import { ERRORS, type ErrorCode } from '../errors.js';

/** What an endpoint answers: a status and a JSON value, or raw text (metrics, the dashboard). */
export type AdminReply =
  | { readonly status?: number; readonly json: unknown; readonly headers?: Record<string, string> }
  | { readonly status?: number; readonly text: string; readonly type: string; readonly headers?: Record<string, string> };

export class AdminError extends Error {
  readonly code: ErrorCode;
  readonly extra: Record<string, unknown>;
  constructor(code: ErrorCode, message?: string, extra: Record<string, unknown> = {}) {
    super(message ?? ERRORS[code].reason);
    this.code = code;
    this.extra = extra;
  }
}

export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The parsed JSON body of a POST ({} when empty). */
  readonly body: Record<string, unknown>;
}

export interface Endpoint {
  readonly method: 'GET' | 'POST';
  /** Served without the token: a page with no data in it (it asks for the token itself). */
  readonly public?: boolean;
  /** The largest body taken (default 64 KiB; POST /plan takes a whole config). */
  readonly maxBody?: number | undefined;
  handle(req: AdminRequest): Promise<AdminReply> | AdminReply;
}

const MAX_BODY = 64 * 1024;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time token check: both sides hashed first so their lengths never leak. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null) return false;
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** `name:port` as a URL authority writes it (no port: 80), or null when it is not a bare authority. */
export function authority(value: string): { name: string; port: number } | null {
  let u: URL;
  try { u = new URL(`http://${value}`); } catch { return null; }
  if (u.username !== '' || u.password !== '' || u.pathname !== '/' || u.search !== '' || u.hash !== '' || /[/?#@\\]/.test(value)) return null;
  return { name: u.hostname.toLowerCase(), port: u.port === '' ? 80 : Number(u.port) };
}

/** The names a loopback admin API answers to (with its port): its own address, localhost, 127.0.0.1, [::1]. */
export function ownNames(listen: { host: string; port: number }): Set<string> {
  const own = authority(listenKey(listen));
  return new Set([own?.name ?? listen.host, 'localhost', '127.0.0.1', '[::1]']);
}

/** Whether a Host value names this admin API (loopback: one of its own names and its port). */
export function isOwnHost(host: string, listen: { host: string; port: number }): boolean {
  const a = authority(host);
  return a !== null && a.port === listen.port && ownNames(listen).has(a.name);
}

/**
 * Whether an Origin is this admin API's own: http://, and on loopback one of the names the Host
 * check takes; off loopback (a token guards it) the Host the request was sent to.
 */
export function isOwnOrigin(origin: string, host: string | undefined, listen: { host: string; port: number }): boolean {
  const m = /^http:\/\/([^/]+)\/?$/i.exec(origin);
  if (m === null) return false;
  if (isLoopbackHost(listen.host)) return isOwnHost(m[1]!, listen);
  const a = authority(m[1]!);
  const h = authority(host ?? '');
  return a !== null && h !== null && a.name === h.name && a.port === h.port;
}

export class AdminServer {
  readonly #server: http.Server;
  #config: AdminConfig;
  readonly #routes: ReadonlyMap<string, Endpoint>;

  constructor(config: AdminConfig, routes: ReadonlyMap<string, Endpoint>) {
    this.#config = config;
    this.#routes = routes;
    this.#server = http.createServer((req, res) => { void this.#handle(req, res); });
    // Admin clients are few; idle ones should not pin the primary.
    this.#server.keepAliveTimeout = 5000;
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
  }

  listen(): Promise<void> {
    const { host, port } = this.#config.listen;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new Error(`cannot listen on ${listenKey(this.#config.listen)} (admin.listen): ${err.code === 'EADDRINUSE' ? 'address already in use; set admin.listen to another address, or admin: false' : err.code ?? err.message}`));
      };
      this.#server.once('error', onError);
      this.#server.listen({ host, port, exclusive: true }, () => { this.#server.off('error', onError); resolve(); });
    });
  }

  get port(): number { return (this.#server.address() as AddressInfo).port; }

  /** Where it listens (admin.listen). */
  get address(): { host: string; port: number } { return this.#config.listen; }

  /** The same listen address, a new token: applied to the next request. */
  set config(c: AdminConfig) { this.#config = c; }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      // A reply in progress (a reload's) finishes; nothing else is waited for.
      setTimeout(() => this.#server.closeAllConnections(), 2000).unref();
    });
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let reply: AdminReply;
    try {
      reply = await this.#dispatch(req);
    } catch (err) {
      const e = err instanceof AdminError ? err : new AdminError('PC_ERR_INTERNAL', (err as Error).message);
      const status = ERRORS[e.code].status;
      const headers: Record<string, string> = {};
      if (e.code === 'PC_ERR_ADMIN_UNAUTHORIZED') headers['www-authenticate'] = 'Bearer realm="portcullis-admin"';
      if (typeof e.extra['allow'] === 'string') headers['allow'] = e.extra['allow'];
      const { allow: _allow, ...extra } = e.extra;
      reply = { status, json: { error: { code: e.code, message: e.message, ...extra } }, headers };
    }
    const status = reply.status ?? 200;
    const body = 'json' in reply ? `${JSON.stringify(reply.json, null, 2)}\n` : reply.text;
    res.writeHead(status, {
      'content-type': 'json' in reply ? 'application/json; charset=utf-8' : reply.type,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...reply.headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async #dispatch(req: http.IncomingMessage): Promise<AdminReply> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const listen = this.#config.listen;
    if (isLoopbackHost(listen.host) && !isOwnHost(req.headers.host ?? '', listen)) {
      throw new AdminError('PC_ERR_ADMIN_FORBIDDEN', `Host "${req.headers.host ?? ''}" is not this admin API's address (${listenKey(listen)})`);
    }
    const endpoint = this.#routes.get(url.pathname);
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    if (endpoint === undefined) {
      // Say nothing about which paths exist to someone without the token.
      this.#authorize(req);
      throw new AdminError('PC_ERR_ADMIN_NOT_FOUND', `no admin endpoint ${url.pathname}`);
    }
    if (!endpoint.public) this.#authorize(req);
    if (method !== endpoint.method) throw new AdminError('PC_ERR_ADMIN_METHOD', `${url.pathname} takes ${endpoint.method}`, { allow: endpoint.method === 'GET' ? 'GET, HEAD' : 'POST' });
    let body: Record<string, unknown> = {};
    if (method === 'POST') {
      this.#sameOrigin(req);
      body = await readJson(req, endpoint.maxBody ?? MAX_BODY);
    }
    return endpoint.handle({ method, path: url.pathname, query: url.searchParams, body });
  }

  #authorize(req: http.IncomingMessage): void {
    const token = this.#config.token;
    if (token === undefined) return;
    if (!tokenMatches(req.headers.authorization, token)) throw new AdminError('PC_ERR_ADMIN_UNAUTHORIZED');
  }

  /**
   * A browser says where a request comes from; only the admin API's own pages may POST. The
   * Origin names the page exactly, so it decides when present (a page on http://localhost:PORT
   * posting to 127.0.0.1:PORT is the API's own, though the browser calls that cross-site);
   * Sec-Fetch-Site only when there is no Origin.
   */
  #sameOrigin(req: http.IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!isOwnOrigin(origin, req.headers.host, this.#config.listen)) {
        throw new AdminError('PC_ERR_ADMIN_FORBIDDEN', `cross-origin request (Origin: ${origin}); only the admin API's own origin may POST`);
      }
      return;
    }
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new AdminError('PC_ERR_ADMIN_FORBIDDEN', `cross-site request (Sec-Fetch-Site: ${site})`);
    }
  }
}

function readJson(req: http.IncomingMessage, max: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) {
        // Read and drop the rest, so the 413 reaches the client instead of a reset.
        req.off('data', onData);
        req.resume();
        reject(new AdminError('PC_ERR_ADMIN_BODY_TOO_LARGE', `request body over ${max >= 1024 * 1024 ? `${max / (1024 * 1024)} MiB` : `${max / 1024} KiB`}`));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') { resolve({}); return; }
      try {
        const v: unknown = JSON.parse(text);
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
        resolve(v as Record<string, unknown>);
      } catch (err) {
        reject(new AdminError('PC_ERR_ADMIN_BAD_REQUEST', `body: ${(err as Error).message}`));
      }
    });
  });
}
