// One WebSocket tunnel: the upstream handshake (the `ws` client, connected before the
// client is upgraded), then messages both ways with backpressure, close-code mapping,
// idle and ping handling. Front-end independent: the client side is a TunnelClient.
//
//   client ──message──▶ copy ──upstream.send──▶ upstream     bufferedAmount > buffer + max_message → close 1013
//   client ◀──send───── fromUpstream ◀──message── upstream    client buffered > buffer → upstream.pause(); drain → resume
//
// Both hops reassemble fragmented messages (uWS and ws do), so a message crosses whole:
// content and type are kept, fragment boundaries are not. Pings are answered per hop.
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type { WebSocketSettings } from '../config/types.js';
import { ProxyError } from '../errors.js';
import { connectEndpoint, handshakeError, type UpstreamEndpoint } from './tls.js';
import type { Exchange } from '../exchange.js';
import { isHopByHop, stripHopByHop } from '../filters/hop-by-hop.js';
import { tunnelClosed, tunnelConnectDone, tunnelConnecting, tunnelOpened } from '../observe/counters.js';
import type { Downstream } from '../downstream/contract.js';

/** What the front end reports for a send: 1 sent, 0 queued (backpressure), 2 dropped (uWS's codes). */
export const enum SendResult { Buffered = 0, Sent = 1, Dropped = 2 }

/** The upgraded client connection, as the tunnel sees it. Calls after the close are no-ops. */
export interface TunnelClient {
  send(data: Buffer, isBinary: boolean, compress: boolean): SendResult;
  /** Bytes queued toward the client, not yet written to the socket. */
  bufferedAmount(): number;
  ping(): void;
  /** Sends a close frame (code 0: none) and closes once it is out. */
  end(code: number, reason: string): void;
  /** Drops the connection at once (the client sees 1006). */
  terminate(): void;
}

/** How the handshake ends; the front end turns each outcome into its own answer. */
export interface TunnelHandshake {
  /** The upstream accepted: upgrade the client now with this subprotocol ('' for none). */
  accept(protocol: string, compress: boolean): void;
  /** The upstream answered without upgrading: pass its answer on. Headers already filtered. */
  refuse(status: number, reason: string, headers: string[], body: Buffer): void;
  /** No usable answer: connect failure, timeout, invalid handshake. */
  fail(err: ProxyError): void;
}

export interface TunnelOptions {
  readonly ex: Exchange;
  /** Targets to try in order (the next one only when connecting failed). */
  readonly targets: readonly UpstreamEndpoint[];
  /** The head upstreamHead() built (request line + end-to-end headers + ours). */
  readonly requestHead: string;
  readonly protocols: readonly string[];
  /** The client offered permessage-deflate. */
  readonly clientOffersDeflate: boolean;
  readonly settings: WebSocketSettings;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly via: string;
  readonly handshake: TunnelHandshake;
  /** Called once when the tunnel is over (handshake refused or failed, or both sides closed). */
  readonly done: (t: Tunnel) => void;
}

/** Refusal bodies larger than this are not relayed (the status and headers still are). */
const MAX_REFUSAL_BODY = 64 * 1024;

/** RFC 6455 §7.4: codes that may appear in a close frame (1004-1006 and 1015 may not). */
function isSendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** A close reason is at most 123 bytes (RFC 6455 §5.5: 125 minus the code). */
function shortReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

/**
 * The ws client sends header values through node:http, which writes each character as one
 * byte (latin1) and refuses characters above U+00FF. Plain requests go upstream as UTF-8
 * (upstream/request-head.ts), so a value is handed over as the latin1 spelling of its UTF-8
 * bytes: both paths put the same bytes on the wire, and no character is refused on one only.
 */
function latin1OfUtf8(value: string): string {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'utf8').toString('latin1');
  }
  return value;
}

/** Turns the serialised upstream head back into the header map the ws client sends. */
function handshakeHeaders(requestHead: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const lines = requestHead.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') break;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    // The ws client writes its own handshake fields (RFC 6455 §4.1) and framing.
    if (name.startsWith('sec-websocket-') || name === 'content-length' || isHopByHop(name)) continue;
    const value = latin1OfUtf8(line.slice(colon + 2));
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

/** Upstream answer headers relayed on a refusal: end-to-end only, minus what uWS writes, plus Via. */
function refusalHeaders(res: IncomingMessage, via: string): string[] {
  const raw = res.rawHeaders;
  const flat: string[] = [];
  for (let i = 0; i < raw.length; i += 2) flat.push(raw[i]!.toLowerCase(), raw[i + 1]!);
  const out: string[] = [];
  const kept = stripHopByHop(flat, null);
  for (let i = 0; i < kept.length; i += 2) {
    const name = kept[i]!;
    if (name === 'date' || name === 'content-length') continue;
    out.push(name, kept[i + 1]!);
  }
  out.push('via', via);
  return out;
}

const enum Phase { Connecting, Open, Closing, Done }

export class Tunnel {
  readonly ex: Exchange;
  readonly settings: WebSocketSettings;
  readonly #o: TunnelOptions;
  #phase = Phase.Connecting;
  #upstream: WebSocket | null = null;
  #client: TunnelClient | null = null;
  #timer: NodeJS.Timeout | null = null;
  #compress = false;
  /** Upstream messages that arrived before the client was upgraded (the upstream is paused meanwhile). */
  #early: [Buffer, boolean][] | null = [];
  #upstreamPaused = false;
  #clientClosed = false;
  #upstreamClosed = false;
  /** Close code/reason for the client once the upstream is gone (set by errors first). */
  #upstreamError: { code: number; reason: string } | null = null;
  #lastClient = 0;
  #lastUpstream = 0;
  #lastClientPing = 0;
  #lastUpstreamPing = 0;
  /** goAway() came while handshaking: the reason to close with once open. */
  #goAwayOnOpen: string | null = null;

  constructor(o: TunnelOptions) {
    this.#o = o;
    this.ex = o.ex;
    this.settings = o.settings;
  }

  get open(): boolean { return this.#phase === Phase.Open; }

  // Handshake --------------------------------------------------------------------------------
  connect(): void {
    tunnelConnecting();
    this.#connectTo(0);
  }

  #connectTo(index: number): void {
    const o = this.#o;
    const endpoint = o.targets[index]!;
    const target = endpoint.target;
    const ex = this.ex;
    ex.attempts = index + 1;
    ex.upstreamAddress = target.url;
    const host = net.isIPv6(target.host) ? `[${target.host}]` : target.host;
    const firstLine = o.requestHead.slice(0, o.requestHead.indexOf('\r\n'));
    const path = firstLine.slice(firstLine.indexOf(' ') + 1, firstLine.lastIndexOf(' '));
    const offerDeflate = o.settings.compression && o.clientOffersDeflate;
    let connected = false;
    let upstream: WebSocket;
    try {
      upstream = new WebSocket(`${endpoint.tls === null ? 'ws' : 'wss'}://${host}:${target.port}${path}`, [...o.protocols], {
        headers: handshakeHeaders(o.requestHead),
        // No context takeover either way: the zlib windows are not kept per tunnel between messages.
        perMessageDeflate: offerDeflate ? { clientNoContextTakeover: true, serverNoContextTakeover: true } : false,
        maxPayload: o.settings.max_message_size,
        followRedirects: false,
        // Our own socket, so connect and response-head timeouts can be told apart.
        createConnection: () => {
          const socket = connectEndpoint(endpoint);
          socket.on('error', (err: NodeJS.ErrnoException) => {
            // A certificate or handshake failure: reported as such (ws would say "connect").
            const tlsError = !connected && endpoint.tls !== null ? handshakeError(err) : null;
            if (tlsError !== null && this.#upstream === upstream) this.#handshakeFailed(tlsError, index, true);
          });
          socket.once(endpoint.tls === null ? 'connect' : 'secureConnect', () => {
            connected = true;
            this.#arm(o.responseTimeoutMs, () => this.#handshakeFailed(new ProxyError('PC_ERR_UPSTREAM_TIMEOUT', 'no websocket handshake answer'), index, false));
          });
          return socket;
        },
      });
    } catch (err) {
      // ws refuses invalid subprotocol lists synchronously.
      this.#handshakeFailed(new ProxyError('PC_ERR_BAD_HEADER', (err as Error).message), index, false);
      return;
    }
    this.#upstream = upstream;
    this.#arm(o.connectTimeoutMs, () => this.#handshakeFailed(new ProxyError('PC_ERR_UPSTREAM_CONNECT', 'connect timed out'), index, true));

    upstream.on('unexpected-response', (req, res) => {
      if (this.#upstream !== upstream || this.#phase !== Phase.Connecting) { req.destroy(); return; }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_REFUSAL_BODY) chunks.push(c);
      });
      res.on('end', () => {
        if (this.#upstream !== upstream || this.#phase !== Phase.Connecting) { req.destroy(); return; }
        this.#upstream = null;
        req.destroy();
        this.ex.status = res.statusCode ?? 502;
        this.#endHandshake();
        const body = size <= MAX_REFUSAL_BODY ? Buffer.concat(chunks) : Buffer.alloc(0);
        o.handshake.refuse(res.statusCode ?? 502, res.statusMessage ?? '', refusalHeaders(res, o.via), body);
        this.#finish();
      });
      res.on('error', () => { /* the 'error' on the request reports it */ });
    });
    upstream.on('error', (err: Error & { code?: string }) => {
      if (this.#upstream !== upstream) return;
      if (this.#phase === Phase.Connecting) {
        const e = !connected
          ? new ProxyError('PC_ERR_UPSTREAM_CONNECT', err.message)
          : /hang up|ECONNRESET|closed before/.test(err.message)
            ? new ProxyError('PC_ERR_UPSTREAM_RESET', err.message)
            : new ProxyError('PC_ERR_UPSTREAM_PROTOCOL', err.message);
        this.#handshakeFailed(e, index, !connected);
        return;
      }
      // After the upgrade: the client learns why when the upstream's 'close' follows.
      const tooBig = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
      this.#upstreamError ??= { code: tooBig ? 1009 : 1011, reason: tooBig ? 'message too big' : 'upstream error' };
      this.ex.error ??= new ProxyError(tooBig ? 'PC_ERR_UPSTREAM_PROTOCOL' : 'PC_ERR_UPSTREAM_RESET', err.message);
    });
    upstream.on('open', () => {
      if (this.#upstream !== upstream || this.#phase !== Phase.Connecting) return;
      this.#endHandshake();
      this.#phase = Phase.Open;
      this.ex.status = 101;
      this.ex.upstreamHeaderMs = Date.now() - this.ex.startedAt;
      // Hold upstream data until the client is upgraded: at most what one read already delivered.
      upstream.pause();
      this.#upstreamPaused = true;
      this.#compress = offerDeflate && upstream.extensions.includes('permessage-deflate');
      o.handshake.accept(chosenProtocol, this.#compress);
    });
    let chosenProtocol = '';
    upstream.on('upgrade', (res: IncomingMessage) => {
      const p = res.headers['sec-websocket-protocol'];
      chosenProtocol = p ?? '';
      // RFC 6455 §4.1 lets a server pick no subprotocol; ws 8 fails such a handshake when
      // some were offered. It reads the header after this event: give it one it accepts.
      if (p === undefined && o.protocols.length > 0) res.headers['sec-websocket-protocol'] = o.protocols[0]!;
    });
    upstream.on('message', (data: Buffer, isBinary: boolean) => this.#fromUpstream(data, isBinary));
    upstream.on('ping', () => { this.#lastUpstream = Date.now(); });
    upstream.on('pong', () => { this.#lastUpstream = Date.now(); });
    upstream.on('close', (code: number, reason: Buffer) => {
      if (this.#upstream !== upstream || this.#phase === Phase.Connecting) return;
      this.#onUpstreamClose(code, reason.toString());
    });
  }

  #arm(ms: number, fn: () => void): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(fn, ms);
  }

  #endHandshake(): void {
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
    tunnelConnectDone();
  }

  #handshakeFailed(err: ProxyError, index: number, connectFailure: boolean): void {
    if (this.#phase !== Phase.Connecting) return;
    const upstream = this.#upstream;
    this.#upstream = null;
    if (upstream !== null) upstream.terminate();
    // Nothing reached the upstream when connecting failed: the next target may serve it.
    if (connectFailure && index + 1 < this.#o.targets.length) { this.#connectTo(index + 1); return; }
    this.#endHandshake();
    this.ex.error = err;
    this.ex.status = err.status;
    this.#o.handshake.fail(err);
    this.#finish();
  }

  /** The client went away before its upgrade was accepted. */
  abort(): void {
    if (this.#phase === Phase.Connecting) {
      this.#endHandshake();
      this.ex.clientAborted = true;
      this.ex.error = new ProxyError('PC_ERR_CLIENT_ABORTED');
      this.ex.status = 499;
      const upstream = this.#upstream;
      this.#upstream = null;
      if (upstream !== null) upstream.terminate();
      this.#finish();
    } else if (this.#phase === Phase.Open && this.#client === null) {
      // Accepted upstream, but the client left before uWS upgraded it.
      this.ex.clientAborted = true;
      this.#clientClosed = true;
      this.#phase = Phase.Closing;
      this.#upstream?.terminate();
    }
  }

  // Open tunnel ------------------------------------------------------------------------------
  /** The client is upgraded: start piping. */
  attach(client: TunnelClient): void {
    this.#client = client;
    tunnelOpened();
    const now = Date.now();
    this.#lastClient = this.#lastUpstream = this.#lastClientPing = this.#lastUpstreamPing = now;
    if (this.#upstreamClosed) { this.#closeClientAfterUpstream(); return; }
    const early = this.#early!;
    this.#early = null;
    for (const [data, isBinary] of early) this.#fromUpstream(data, isBinary);
    if (this.#upstreamPaused && client.bufferedAmount() <= this.settings.buffer) {
      this.#upstreamPaused = false;
      this.#upstream?.resume();
    }
    if (this.#goAwayOnOpen !== null) this.goAway(this.#goAwayOnOpen);
  }

  /** A client message; `data` is only valid during the call. */
  fromClient(data: ArrayBuffer, isBinary: boolean): void {
    this.#lastClient = Date.now();
    const upstream = this.#upstream;
    if (this.#phase !== Phase.Open || upstream === null) return;
    const s = this.settings;
    this.ex.requestBytes += data.byteLength;
    if (data.byteLength > s.max_message_size) {
      this.#closeBoth(1009, 'message too big', 1001, 'client sent a message too big');
      return;
    }
    // Copy: uWS detaches the ArrayBuffer after the callback, and ws may keep it queued.
    upstream.send(Buffer.copyBytesFrom(new Uint8Array(data)), { binary: isBinary, compress: this.#compress });
    // uWS cannot stop reading a client (shared notes §9): past the bound, end the tunnel
    // rather than queue without limit toward an upstream that does not read.
    if (upstream.bufferedAmount > s.buffer + s.max_message_size) {
      this.ex.error = new ProxyError('PC_ERR_UPSTREAM_TIMEOUT', 'upstream not reading (websocket buffer full)');
      this.#phase = Phase.Closing;
      this.#upstreamError = { code: 1013, reason: 'upstream is not keeping up' };
      this.#client?.end(1013, 'upstream is not keeping up');
      upstream.terminate();
    }
  }

  #fromUpstream(data: Buffer, isBinary: boolean): void {
    this.#lastUpstream = Date.now();
    const client = this.#client;
    if (client === null) {
      if (this.#early !== null) this.#early.push([data, isBinary]);
      return;
    }
    if (this.#phase !== Phase.Open) return;
    this.ex.responseBytes += data.length;
    const r = client.send(data, isBinary, this.#compress);
    if (r === SendResult.Dropped) {
      // Never silently: maxBackpressure is set far above what pausing lets through.
      this.ex.error = new ProxyError('PC_ERR_INTERNAL', 'client buffer overflow');
      this.#closeBoth(1011, 'proxy buffer overflow', 1011, 'proxy buffer overflow');
      return;
    }
    if (r === SendResult.Buffered && !this.#upstreamPaused && client.bufferedAmount() > this.settings.buffer) {
      this.#upstreamPaused = true;
      this.#upstream?.pause();
    }
  }

  /** The client took some of its buffer. */
  clientDrained(): void {
    const client = this.#client;
    if (!this.#upstreamPaused || client === null || this.#phase !== Phase.Open) return;
    if (client.bufferedAmount() <= this.settings.buffer / 2) {
      this.#upstreamPaused = false;
      this.#upstream?.resume();
    }
  }

  /** A ping or pong from the client (uWS answers pings itself). */
  clientHeard(): void { this.#lastClient = Date.now(); }

  /** The client connection is closed (its close frame, or the socket dropped: 1006). */
  clientClosed(code: number, reason: string): void {
    if (this.#clientClosed) return;
    this.#clientClosed = true;
    const upstream = this.#upstream;
    if (this.#phase === Phase.Open) {
      this.#phase = Phase.Closing;
      if (upstream !== null) {
        // A paused upstream could not read the answer to our close frame.
        if (this.#upstreamPaused) { this.#upstreamPaused = false; upstream.resume(); }
        if (code === 1005) upstream.close();
        else if (isSendableCode(code)) upstream.close(code, shortReason(reason));
        else upstream.close(1001, 'client went away');
      }
    }
    this.#maybeDone();
  }

  #onUpstreamClose(code: number, reason: string): void {
    this.#upstreamClosed = true;
    if (this.#phase === Phase.Open) this.#phase = Phase.Closing;
    if (this.#client !== null) this.#closeClientAfterUpstream(code, reason);
    this.#maybeDone();
  }

  #closeClientAfterUpstream(code = 1006, reason = ''): void {
    const client = this.#client!;
    if (this.#clientClosed) return;
    const err = this.#upstreamError;
    if (err !== null) client.end(err.code, err.reason);
    else if (code === 1005) client.end(0, '');
    // The upstream connection died without a close frame: tell the client promptly.
    else if (!isSendableCode(code)) client.end(1011, 'upstream connection lost');
    else client.end(code, reason);
  }

  /** Proxy-originated close: `clientCode` to the client, `upstreamCode` to the upstream. */
  #closeBoth(clientCode: number, clientReason: string, upstreamCode: number, upstreamReason: string): void {
    if (this.#phase === Phase.Done) return;
    this.#phase = Phase.Closing;
    this.#upstreamError ??= { code: clientCode, reason: clientReason };
    this.#client?.end(clientCode, clientReason);
    const upstream = this.#upstream;
    if (upstream !== null && !this.#upstreamClosed) {
      if (this.#upstreamPaused) { this.#upstreamPaused = false; upstream.resume(); }
      upstream.close(upstreamCode, upstreamReason);
    }
  }

  /** Idle and ping bookkeeping; called by the front end's sweep every few hundred ms. */
  tick(now: number): void {
    if (this.#phase !== Phase.Open || this.#client === null) return;
    const s = this.settings;
    const idle = s.idle_timeout;
    const ping = s.ping_interval;
    if (ping === false) {
      if (now - Math.max(this.#lastClient, this.#lastUpstream) > idle) this.#closeIdle(false, false);
      return;
    }
    // With pings, a live peer always answers: a silent side is dead. A paused upstream is
    // one we chose not to read, so it counts as heard.
    if (this.#upstreamPaused) this.#lastUpstream = now;
    const clientDead = now - this.#lastClient > idle;
    const upstreamDead = now - this.#lastUpstream > idle;
    if (clientDead || upstreamDead) { this.#closeIdle(clientDead, upstreamDead); return; }
    if (now - this.#lastClient >= ping && now - this.#lastClientPing >= ping) {
      this.#lastClientPing = now;
      this.#client.ping();
    }
    if (now - this.#lastUpstream >= ping && now - this.#lastUpstreamPing >= ping) {
      this.#lastUpstreamPing = now;
      try { this.#upstream?.ping(); } catch { /* closing */ }
    }
  }

  #closeIdle(clientDead: boolean, upstreamDead: boolean): void {
    this.ex.error ??= new ProxyError(upstreamDead ? 'PC_ERR_UPSTREAM_TIMEOUT' : 'PC_ERR_CLIENT_TIMEOUT', 'websocket idle');
    this.#phase = Phase.Closing;
    this.#upstreamError = { code: 1001, reason: 'idle timeout' };
    // A dead peer will not answer a close frame: drop it; close the live one cleanly.
    if (clientDead) this.#client?.terminate();
    else this.#client?.end(1001, 'idle timeout');
    const upstream = this.#upstream;
    if (upstream !== null && !this.#upstreamClosed) {
      if (upstreamDead) upstream.terminate();
      else upstream.close(1001, 'idle timeout');
    }
  }

  /**
   * Both sides get 1001 (going away): the worker is draining, or a reload changed this tunnel's
   * route. A tunnel still handshaking goes away as soon as it opens.
   */
  goAway(reason = 'proxy shutting down'): void {
    if (this.#phase === Phase.Open) this.#closeBoth(1001, reason, 1001, reason);
    else if (this.#phase === Phase.Connecting) this.#goAwayOnOpen = reason;
  }

  #maybeDone(): void {
    // Closing one side can synchronously close the other (uWS calls its close handler inside end()).
    if (this.#phase === Phase.Done) return;
    if (!this.#clientClosed || !this.#upstreamClosed) {
      // The client is gone: do not wait on an upstream that ignores our close frame.
      if (this.#clientClosed && this.#client === null) this.#upstream?.terminate();
      return;
    }
    if (this.#client !== null) tunnelClosed();
    this.#finish();
  }

  #finish(): void {
    if (this.#phase === Phase.Done) return;
    this.#phase = Phase.Done;
    this.#early = null;
    this.#o.done(this);
  }
}

/** Relays the upstream's refusal of a handshake (its status, headers and body) to the client: the `refuse` of every front end. */
export function relayRefusal(ds: Downstream, status: number, reason: string, headers: string[], body: Buffer): void {
  const noBody = status === 204 || status === 304 || status < 200;
  // No outer cork on uWS: the head waits for the body and both go out in one session.
  ds.writeHead(status, reason, headers, noBody ? -1 : body.length, noBody);
  if (!noBody && body.length > 0) ds.writeBody(body);
  ds.end();
}
