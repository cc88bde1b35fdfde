// The uWS WebSocket front end: the app.ws('/*') behaviour. upgrade() snapshots the request,
// runs the same pipeline phases as HTTP (parse, route, upstream head: normalisation,
// X-Forwarded-*, Via, request id) and hands the upstream handshake to upstream/tunnel.ts;
// the client is upgraded only once the upstream accepted. Also owns the per-worker sweep
// that drives idle timeouts and pings of every open tunnel.
import { uWS } from '../uws/load.js';
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import type { CorkHolder } from './cork-holder.js';
import { parseConnectionTokens } from '../filters/hop-by-hop.js';
import { WEBSOCKET_DEFAULTS } from '../config/defaults.js';
import type { WebSocketSettings } from '../config/types.js';
import { ProxyError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import { httpsRedirect, identify, parse, protect, respondRedirect, route, startExchange, upstreamHead } from '../pipeline.js';
import type { Downstream } from './contract.js';
import type { Runtime } from '../runtime.js';
import { chooseUpstream } from '../upstream/route-groups.js';
import { respondError } from '../upstream/forward.js';
import { relayRefusal, SendResult, Tunnel, type TunnelClient } from '../upstream/tunnel.js';
import { TunnelSet } from '../upstream/tunnel-set.js';
import type { RequestHead } from './contract.js';
import { UwsDownstream } from './uws-downstream.js';
import type { ConnectionTable } from './connections.js';
import { connectionUpgraded } from './connection-filter.js';

const DEFAULTS: WebSocketSettings = WEBSOCKET_DEFAULTS;

/**
 * uWS drops a send (status 2) past maxBackpressure. Tunnels pause the upstream at their own
 * `buffer` mark instead, so this only has to sit above buffer + one message + one read.
 */
const MAX_BACKPRESSURE = 2 ** 31 - 1;

interface UserData {
  readonly tunnel: Tunnel;
  client: UwsTunnelClient | null;
}

/** The uWS socket behind the TunnelClient contract; every call after its close is a no-op. */
class UwsTunnelClient implements TunnelClient {
  closed = false;
  readonly #ws: WebSocket<UserData>;

  constructor(ws: WebSocket<UserData>) { this.#ws = ws; }

  send(data: Buffer, isBinary: boolean, compress: boolean): SendResult {
    if (this.closed) return SendResult.Sent;
    return this.#ws.send(data, isBinary, compress) as SendResult;
  }

  bufferedAmount(): number { return this.closed ? 0 : this.#ws.getBufferedAmount(); }

  ping(): void { if (!this.closed) this.#ws.ping(); }

  // uWS runs the close handler inside end() and close(): `closed` is set there.
  end(code: number, reason: string): void {
    if (this.closed) return;
    if (code === 0) this.#ws.end();
    else this.#ws.end(code, reason);
  }

  terminate(): void { if (!this.closed) this.#ws.close(); }
}

/** The largest max_message_size of any route: uWS takes one maxPayloadLength per App. */
export function maxMessageSize(rt: Runtime): number {
  let max = DEFAULTS.max_message_size;
  for (const r of rt.config.routes) if (r.websocket && r.websocket.max_message_size > max) max = r.websocket.max_message_size;
  return max;
}

/**
 * Upgrades inside the cork of another, always-live response (downstream/cork-holder.ts), never
 * inside res.cork() of the response being upgraded: in uWS 20.30 and 20.57 that cork() reads the
 * response's state after its callback from memory the upgrade just gave to the WebSocket, and
 * about once per thousand upgrades shuts the fresh WebSocket down (101, then FIN: 1006;
 * uNetworking/uWebSockets#1929). Without a holder (it reconnects after a drop) the upgrade goes
 * out uncorked: correct, and uWS.js prints a "corked callback" warning for it.
 */
function upgradeOutsideOwnCork(holder: CorkHolder, res: HttpResponse, data: UserData, key: string, protocol: string, extensions: string, context: us_socket_context_t): void {
  const upgrade = (): void => { res.upgrade<UserData>(data, key, protocol, extensions, context); };
  if (!holder.cork(upgrade)) upgrade();
}

/**
 * RFC 6455 §4.2.1: a handshake's Connection header includes the `upgrade` token. Checked
 * because uWS closes a response to a 5-byte Connection value (`close`) once it is written,
 * and an uncorked upgrade would then open a WebSocket on a closed socket (no close event).
 */
function asksForUpgrade(connection: string | undefined): boolean {
  return connection !== undefined && parseConnectionTokens(connection).includes('upgrade');
}

/** A comma list header (RFC 9110 §5.6.1) that names `token`, case-insensitively. */
function listsToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.split(',').some((t) => t.trim().toLowerCase() === token);
}

/** Exactly one Sec-WebSocket-Key, 16 bytes in base64 (RFC 6455 §4.1 item 7). */
function isWebSocketKey(headers: readonly string[]): boolean {
  let key: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'sec-websocket-key') continue;
    if (key !== undefined) return false;
    key = headers[i + 1]!;
  }
  return key !== undefined && /^[A-Za-z0-9+/]{21}[AQgw]==$/.test(key);
}

/** RFC 6455 §4.1: the Sec-WebSocket-Protocol values are a comma list of tokens. */
function protocolList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

export interface WebSocketFrontEndOptions {
  /** The runtime new upgrades use (swapped on reload; open tunnels keep theirs). */
  runtime(): Runtime;
  snapshot(res: HttpResponse, req: HttpRequest): RequestHead;
  log: ((ex: Exchange) => void) | null;
  corkHolder: CorkHolder;
  connections: ConnectionTable;
}

export class WebSocketFrontEnd {
  readonly #o: WebSocketFrontEndOptions;
  readonly #tunnels = new TunnelSet();

  constructor(o: WebSocketFrontEndOptions) { this.#o = o; }

  get size(): number { return this.#tunnels.all.size; }

  /** Every tunnel from its upgrade request until both sides are closed. */
  get tunnels(): ReadonlySet<Tunnel> { return this.#tunnels.all; }

  behavior(maxPayloadLength: number): WebSocketBehavior<UserData> {
    return {
      // Both hops reassemble; per-route limits below this are enforced by the tunnel (1009).
      maxPayloadLength,
      maxBackpressure: MAX_BACKPRESSURE,
      // Idle and pings are per route (the sweep below); uWS's are per App and its idleTimeout
      // aborts the process outside 0 or 8..960 s (shared notes §9).
      idleTimeout: 0,
      sendPingsAutomatically: false,
      // One shared deflate and inflate for all sockets (no context takeover): memory stays flat.
      compression: uWS.SHARED_COMPRESSOR | uWS.SHARED_DECOMPRESSOR,
      upgrade: (res, req, context) => this.#upgrade(res, req, context),
      open: (ws) => {
        const data = ws.getUserData();
        const client = new UwsTunnelClient(ws);
        data.client = client;
        data.tunnel.attach(client);
      },
      message: (ws, message, isBinary) => { ws.getUserData().tunnel.fromClient(message, isBinary); },
      drain: (ws) => { ws.getUserData().tunnel.clientDrained(); },
      ping: (ws) => { ws.getUserData().tunnel.clientHeard(); },
      pong: (ws) => { ws.getUserData().tunnel.clientHeard(); },
      close: (ws, code, message) => {
        const data = ws.getUserData();
        if (data.client !== null) data.client.closed = true;
        // The ArrayBuffer dies with this callback: decode now.
        data.tunnel.clientClosed(code, Buffer.from(message).toString());
      },
    };
  }

  #upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const ds = new UwsDownstream(res, this.#o.connections); // onAborted first (shared notes §4)
    const head = this.#o.snapshot(res, req);
    const rt = this.#o.runtime();
    const ex = startExchange(head, rt);

    const framing = parse(ex, rt);
    if (framing instanceof ProxyError) return this.#reject(ex, ds, framing);
    if (framing.contentLength > 0 || framing.chunked) return this.#reject(ex, ds, new ProxyError('PC_ERR_BAD_REQUEST', 'upgrade request with a body'));
    if (!asksForUpgrade(ex.headerList('connection'))) return this.#reject(ex, ds, new ProxyError('PC_ERR_BAD_REQUEST', 'upgrade request without Connection: upgrade'));
    // RFC 6455 §4.2.1: an Upgrade listing `websocket`, and one Sec-WebSocket-Key of 16 bytes in
    // base64. uWS sends this route anything with an Upgrade header.
    if (!listsToken(ex.headerList('upgrade'), 'websocket')) return this.#reject(ex, ds, new ProxyError('PC_ERR_BAD_REQUEST', 'Upgrade other than websocket'));
    if (!isWebSocketKey(ex.head.headers)) return this.#reject(ex, ds, new ProxyError('PC_ERR_BAD_REQUEST', 'missing, repeated or invalid Sec-WebSocket-Key'));
    if (ex.header('sec-websocket-version') !== '13') {
      // RFC 6455 §4.2.2: refuse with the version we speak. (Our upstream hop always speaks 13,
      // which would otherwise hide the mismatch from the client.)
      return this.#reject(ex, ds, new ProxyError('PC_ERR_WEBSOCKET_VERSION'), ['sec-websocket-version', '13']);
    }
    const notFound = route(ex, rt);
    if (notFound !== null) return this.#reject(ex, ds, notFound);
    identify(ex, rt);
    const location = httpsRedirect(ex);
    if (location !== null) { respondRedirect(ex, ds, location); this.#o.log?.(ex); return; }
    // The policy phase, as for HTTP: an upgrade is a request like any other (auth, IP rules,
    // limits); an in-flight slot (max_requests_per_ip) is held for the tunnel's whole life.
    const finish = (e: Exchange): void => {
      const release = e.release;
      if (release !== null) { e.release = null; release(); }
      this.#o.log?.(e);
    };
    const pass = protect(ex, ds, rt, finish);
    if (pass === null) return;
    if (pass instanceof Promise) {
      void pass.then((pd) => { if (pd !== null) this.#open(ex, ds, pd, rt, res, context, finish); });
      return;
    }
    this.#open(ex, ds, pass, rt, res, context, finish);
  }

  /** Connects the tunnel upstream; the client is upgraded on the upstream's 101. `pd`: answers go through the policies' header edits. */
  #open(ex: Exchange, ds: UwsDownstream, pd: Downstream, rt: Runtime, res: HttpResponse, context: us_socket_context_t, finish: (ex: Exchange) => void): void {
    const requestHead = upstreamHead(ex, rt, -1, false);

    const compiled = ex.route!;
    // The balancer's pick first, then the group's other available targets (tunnel.ts fails
    // over in order); each pool is the endpoint: TLS for https targets, the resolver's addresses.
    const targets = chooseUpstream(compiled, ex).tunnelOrder(ex, ex.startedAt).map((t) => t.pool);
    if (targets.length === 0) return this.#reject(ex, ds, new ProxyError('PC_ERR_UPSTREAM_UNAVAILABLE', 'no target has an address yet'));
    const key = ex.header('sec-websocket-key') ?? '';
    const extensions = ex.headerList('sec-websocket-extensions') ?? '';
    const tunnel: Tunnel = new Tunnel({
      ex,
      targets,
      requestHead,
      protocols: protocolList(ex.headerList('sec-websocket-protocol')),
      clientOffersDeflate: /permessage-deflate/i.test(extensions),
      settings: compiled.config.websocket ?? DEFAULTS,
      connectTimeoutMs: compiled.timeouts.connect,
      responseTimeoutMs: compiled.timeouts.response_header,
      via: rt.config.via,
      handshake: {
        accept: (protocol, compress) => {
          if (ds.done) { tunnel.abort(); return; }
          connectionUpgraded(res); // leaves the per-address connection count (its tunnel is a request in flight)
          ds.handOver(); // the HttpResponse belongs to the WebSocket from here on
          // Offering the client's extensions only when the upstream hop compresses too.
          upgradeOutsideOwnCork(this.#o.corkHolder, res, { tunnel, client: null }, key, protocol, compress ? extensions : '', context);
        },
        refuse: (status, reason, headers, body) => relayRefusal(pd, status, reason, headers, body),
        fail: (err) => respondError(pd, ex, err, false),
      },
      done: (t) => {
        this.#tunnels.delete(t);
        finish(t.ex);
      },
    });
    ds.onAbort(() => tunnel.abort());
    this.#tunnels.add(tunnel);
    tunnel.connect();
  }

  #reject(ex: Exchange, ds: UwsDownstream, err: ProxyError, extraHeaders: readonly string[] = []): void {
    // Always inside the upgrade callback: a closing answer is deferred (uws-downstream respond).
    ds.inHandler = true;
    respondError(ds, ex, err, err.status === 400, extraHeaders);
    ds.inHandler = false;
    this.#o.log?.(ex);
  }

  /** Draining: every open tunnel is closed with 1001 (going away) on both sides. */
  goAway(): void {
    this.#tunnels.goAway();
  }

  /** A reload: see TunnelSet.goAwayWhere. */
  goAwayWhere(changed: (t: Tunnel) => boolean, reason: string): number {
    return this.#tunnels.goAwayWhere(changed, reason);
  }
}
