// The request pipeline: the phases in the order a request meets them, one function
// each. Front-end independent: it sees a RequestHead and a Downstream, never uWS.
//
//   parse → (acme challenge) → route → identity → (https redirect) → policies → cache → forward → respond → log
import type { Downstream, RequestHead } from './downstream/contract.js';
import { resolveIdentity, forwardedHeaders, type IdentityInput } from './identity/identity.js';
import { ProxyError } from './errors.js';
import { Exchange } from './exchange.js';
import { parseConnectionTokens } from './filters/hop-by-hop.js';
import { checkRequestHead, type RequestFraming } from './http/request-rules.js';
import { normalizeHost } from './router/host.js';
import { normalizePath } from './router/normalize.js';
import type { Runtime } from './runtime.js';
import { chooseUpstream } from './upstream/route-groups.js';
import { Forwarder, respondError, type ExchangeDone } from './upstream/forward.js';
import type { SharedCache } from './cache/shared-cache.js';
import { runCachePhase } from './cache/phase.js';
import { serializeRequestHead } from './upstream/request-head.js';
import { redirectTarget } from './tls/redirect.js';
import { runPolicies, type PhaseResult } from './policy/phase.js';
import { answerVerdict } from './policy/answer.js';

/** How the request's body is framed (http/request-rules.ts checkRequestHead). */
export type Framing = RequestFraming;

/** Phase 1, parse: strict framing and size rules (smuggling → 400, size → 431/413). */
export function parse(ex: Exchange, rt: Runtime): Framing | ProxyError {
  const h = ex.head;
  // TRACE echoes the request, cookies and credentials included, into a readable body (cross-site
  // tracing); nginx answers it 405 too.
  if (h.method === 'TRACE') return new ProxyError('PC_ERR_METHOD', 'TRACE is not forwarded');
  // The whole target (path and query) counts toward the limits and must be valid.
  const framing = checkRequestHead(h.method, h.query === '' ? h.rawPath : `${h.rawPath}?${h.query}`, h.headers, rt.config.limits);
  if (framing instanceof ProxyError) return framing;
  const path = normalizePath(h.rawPath);
  if (path === null) return new ProxyError('PC_ERR_BAD_PATH', h.rawPath.slice(0, 200));
  ex.path = path;
  ex.normalizedPath = path;
  const host = normalizeHost(ex.header('host') ?? '');
  if (host === null) return new ProxyError('PC_ERR_BAD_REQUEST', 'invalid Host');
  ex.host = host;
  return framing;
}

/**
 * Phase 1b, plain listeners while ACME is in use: a pending HTTP-01 challenge is answered
 * here, before routing and before any redirect (RFC 8555 §8.3). True when answered.
 */
export function answerChallenge(ex: Exchange, ds: Downstream): boolean {
  const challenges = ex.head.listener?.challenges ?? null;
  if (challenges === null) return false;
  const method = ex.head.method;
  if (method !== 'GET' && method !== 'HEAD') return false;
  const body = challenges.answer(ex.head.rawPath);
  if (body === null) return false;
  ex.status = 200;
  ex.responseBytes = method === 'HEAD' ? 0 : body.length;
  ds.respond(200, '', ['content-type', 'text/plain', 'cache-control', 'no-store'], body, false, method === 'HEAD');
  return true;
}

/** Phase 2, route: most specific host + path match, or 404. */
export function route(ex: Exchange, rt: Runtime): ProxyError | null {
  const match = rt.router.find(ex.host, ex.path);
  if (match === null) return new ProxyError('PC_ERR_NO_ROUTE');
  ex.route = match.value;
  ex.routePrefix = match.prefix;
  ex.routeParams = match.params;
  if (match.value.config.strip_prefix && match.prefix.length > 0) {
    const rest = ex.path.slice(match.prefix.length);
    ex.path = rest === '' ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
  }
  return null;
}

/** What identity resolution reads of a request. */
function identityInput(ex: Exchange): IdentityInput {
  const head = ex.head;
  return {
    peerIp: head.peerIp,
    proxiedIp: head.proxiedIp,
    scheme: head.scheme,
    host: ex.header('host') ?? '',
    xForwardedFor: ex.headerList('x-forwarded-for'),
    xForwardedProto: ex.header('x-forwarded-proto'),
    xForwardedHost: ex.header('x-forwarded-host'),
    forwarded: ex.headerList('forwarded'),
  };
}

/**
 * Phase 3, identity: who the client is (IP, scheme, host), resolved once from the socket and the
 * hops in trusted_proxies; logs, the cache key, the head sent upstream (and the policies, rate
 * limits and hashing to come) all read this one answer.
 */
export function identify(ex: Exchange, rt: Runtime): void {
  const input = identityInput(ex);
  ex.identityInput = input;
  const identity = resolveIdentity(input, rt.trusted);
  ex.identity = identity;
  ex.clientIp = identity.clientIp;
}

/**
 * Phase 3b, plain listeners with redirect_https: the https:// URL to send the client to, or
 * null to serve the request here (tls/redirect.ts).
 */
export function httpsRedirect(ex: Exchange): string | null {
  const redirect = ex.head.listener?.redirect ?? null;
  if (redirect === null) return null;
  return redirectTarget(redirect, ex.identity!.proto, ex.host, ex.head.rawPath, ex.head.query);
}

/** Answers 308 to `location`; a request body is not read, so the connection closes after it. */
export function respondRedirect(ex: Exchange, ds: Downstream, location: string): void {
  const headOnly = ex.head.method === 'HEAD';
  const body = `Redirecting to ${location}\n`;
  ex.status = 308;
  ex.responseBytes = headOnly ? 0 : Buffer.byteLength(body);
  const length = ex.header('content-length');
  const hasBody = (length !== undefined && length !== '0') || ex.header('transfer-encoding') !== undefined;
  ds.respond(308, '', ['location', location, 'content-type', 'text/plain; charset=utf-8', ...(ex.requestId ? ['x-request-id', ex.requestId] : [])], body, hasBody, headOnly);
}

/**
 * Phase 4, policies: the route's compiled checks (filters, IP rules, limits, auth gates; see
 * policy/compile.ts) in one call. A pass gives the Downstream every later phase writes to (it
 * adds the route's response headers); null: answered there (a refusal, a redirect; done was
 * called); a promise: a check is asking someone (auth service, JWKS, scrypt), the body is held.
 */
export function protect(ex: Exchange, ds: Downstream, rt: Runtime, done: ExchangeDone): PhaseResult {
  return runPolicies(ex, ds, rt, done);
}

/** An exchange's `done` that first gives back what a policy holds for it (an in-flight slot). */
function releasing(done: ExchangeDone): ExchangeDone {
  return (ex) => {
    const release = ex.release;
    if (release !== null) { ex.release = null; release(); }
    done(ex);
  };
}

/**
 * The head sent upstream: end-to-end headers plus X-Forwarded-*, Via, request id (after
 * identify). `extraLines`: header lines of our own (the cache's validators).
 */
export function upstreamHead(ex: Exchange, rt: Runtime, contentLength: number, chunked: boolean, extraLines = ''): string {
  const head = ex.head;
  const input = ex.identityInput!;
  const identity = ex.identity!;
  const route = ex.route!.config;
  const connection = ex.headerList('connection');
  return serializeRequestHead({
    method: head.method,
    target: head.query === '' ? ex.path : `${ex.path}?${head.query}`,
    host: route.host_header ?? input.host,
    forwarded: forwardedHeaders(input, identity, rt.trusted),
    requestId: ex.requestId,
    via: rt.config.via,
    contentLength,
    chunked,
    connectionTokens: connection === undefined ? null : parseConnectionTokens(connection),
    extraLines,
    allowMethodOverride: ex.route!.policies.allowMethodOverride,
  }, ex.upstreamHeaders ?? head.headers);
}

/**
 * A new exchange for a request head. Its X-Request-Id (made when first read, Exchange.requestId)
 * is the client's when well-formed and sent by a trusted hop (trusted_proxies), so a trace spans
 * a balancer in front; otherwise a new one. An untrusted client's id is never taken: it would
 * name its request after another one in the logs.
 */
export function startExchange(head: RequestHead, rt: Runtime): Exchange {
  const ex = new Exchange(head, Date.now());
  ex.trustedPeer = rt.trusted;
  ex.clientIp = head.peerIp;
  return ex;
}

/**
 * A request the cache's hit path (cache/hit-path.ts) parsed, routed and identified but did not
 * answer: handleRequest goes on from there instead of doing it all again.
 */
export interface Prepared {
  readonly ex: Exchange;
  readonly framing: Framing;
}

/**
 * Handles one request end to end. Everything up to the upstream write is synchronous.
 * `prepared`: the first phases are done already (the hit path's hand-over).
 */
export function handleRequest(ds: Downstream, head: RequestHead, rt: Runtime, done: ExchangeDone, prepared: Prepared | null = null): void {
  if (prepared !== null) { routed(ds, prepared.ex, rt, prepared.framing, done); return; }
  const ex = startExchange(head, rt);
  const framing = parse(ex, rt);
  if (framing instanceof ProxyError) return reject(ex, ds, framing, done);
  // One request per connection after a chunked body (downstream/connections.ts closeAfter).
  if (framing.chunked) ds.closeConnectionAfter?.();
  if (answerChallenge(ex, ds)) { done(ex); return; }
  const notFound = route(ex, rt);
  if (notFound !== null) return unrouted(ex, ds, rt, notFound, done);
  identify(ex, rt);
  routed(ds, ex, rt, framing, done);
}

/** After parse, route and identify: the https redirect, the policies, then the cache or the upstream. */
function routed(ds: Downstream, ex: Exchange, rt: Runtime, framing: Framing, done: ExchangeDone): void {
  const location = httpsRedirect(ex);
  if (location !== null) {
    respondRedirect(ex, ds, location);
    done(ex);
    return;
  }

  if (rt.protection.counters !== null) done = releasing(done);
  const pass = protect(ex, ds, rt, done);
  if (pass === null) return;
  if (pass instanceof Promise) {
    void pass.then((pd) => { if (pd !== null) proceed(pd, ex, rt, framing, done); });
    return;
  }
  proceed(pass, ex, rt, framing, done);
}


/** After the policies: the cache, or straight upstream. */
function proceed(ds: Downstream, ex: Exchange, rt: Runtime, framing: Framing, done: ExchangeDone): void {
  const cache = rt.cache;
  if (cache !== null && ex.route!.config.cache) {
    handleCached(ds, ex, rt, cache, framing, done);
    return;
  }
  forward(ds, ex, rt, framing, upstreamHead(ex, rt, framing.contentLength, framing.chunked), done);
}

/** Phase 5, forward: the upstream answers. */
function forward(ds: Downstream, ex: Exchange, rt: Runtime, framing: Framing, requestHead: string, done: ExchangeDone): void {
  new Forwarder(ex, ds, rt, chooseUpstream(ex.route!, ex), requestHead, framing.chunked, framing.contentLength, done).start();
}

/** A request without a body (the cache's background refreshes). */
const NO_BODY: Framing = { contentLength: 0, chunked: false };

/**
 * Phase 4, cache (cache/phase.ts): a stored answer may end the exchange here; otherwise it is
 * forwarded with what the cache adds (validators of a stale entry), maybe after waiting for
 * another request filling the same key.
 */
function handleCached(ds: Downstream, ex: Exchange, rt: Runtime, cache: SharedCache, framing: Framing, done: ExchangeDone): void {
  const identity = ex.identity!;
  // The hit path may have begun it already (its hand-over: the policies let the request through as it is).
  ex.cache ??= cache.begin(ex, identity.proto, identity.host);
  runCachePhase(ds, ex, rt, cache, done, (ds2, ex2, lines, end) => {
    const f = ex2 === ex ? framing : NO_BODY;
    forward(ds2, ex2, rt, f, upstreamHead(ex2, rt, f.contentLength, f.chunked, lines), end);
  });
}

/** No route: a configured redirect may still answer (redirects need no route), else 404. */
function unrouted(ex: Exchange, ds: Downstream, rt: Runtime, notFound: ProxyError, done: ExchangeDone): void {
  const redirects = rt.protection.redirects;
  if (redirects !== null) {
    identify(ex, rt);
    const v = redirects.match(ex);
    if (v !== null) { answerVerdict(ex, ds, v, done); return; }
  }
  reject(ex, ds, notFound, done);
}

/** Answers a request the proxy refuses before any upstream is involved. */
function reject(ex: Exchange, ds: Downstream, err: ProxyError, done: ExchangeDone): void {
  // A refused body is not read: close so its bytes are never parsed as a next request.
  const length = ex.header('content-length');
  const hasBody = (length !== undefined && length !== '0') || ex.header('transfer-encoding') !== undefined;
  respondError(ds, ex, err, hasBody || err.status === 400);
  done(ex);
}
