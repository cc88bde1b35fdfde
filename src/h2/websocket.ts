// WebSocket upgrades (HTTP/1.1, RFC 6455) that arrive on a Node-served TLS port (h2/listener.ts
// with h1): the same phases and tunnels as uWS's (downstream/websocket.ts), with `ws` as the
// client side. Browsers open WebSockets over HTTP/1.1 connections even to an h2 origin when the
// server does not offer RFC 8441 (extended CONNECT), which this one does not.
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { WEBSOCKET_DEFAULTS } from '../config/defaults.js';
import type { Downstream, ListenerContext } from '../downstream/contract.js';
import type { Runtime } from '../runtime.js';
import { chooseUpstream } from '../upstream/route-groups.js';
import { statusLine } from '../downstream/status-line.js';
import { ProxyError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import { parseConnectionTokens } from '../filters/hop-by-hop.js';
import { identify, parse, protect, route, startExchange, upstreamHead } from '../pipeline.js';
import { HstsDownstream } from '../tls/hsts.js';
import { respondError } from '../upstream/forward.js';
import { relayRefusal, SendResult, Tunnel, type TunnelClient } from '../upstream/tunnel.js';
import { TunnelSet } from '../upstream/tunnel-set.js';
import { nodeSnapshot } from './snapshot.js';

/** A Downstream that writes one whole HTTP/1.1 answer on a socket and closes it (refusals). */
class SocketAnswer implements Downstream {
  done = false;
  /** Nothing is written before the answer is whole. */
  readonly committed = false;
  readonly #socket: net.Socket;
  #head = '';
  readonly #body: Buffer[] = [];

  constructor(socket: net.Socket) { this.#socket = socket; }

  writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    let head = `HTTP/1.1 ${statusLine(status, reason)}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    if (!noBody && bodyLength >= 0) head += `content-length: ${bodyLength}\r\n`;
    this.#head = `${head}connection: close\r\n\r\n`;
  }

  writeBody(chunk: Buffer): boolean { this.#body.push(Buffer.from(chunk)); return true; }
  onWritable(): void {}

  end(): void {
    if (this.done) return;
    this.done = true;
    this.#socket.end(Buffer.concat([Buffer.from(this.#head, 'latin1'), ...this.#body]));
  }

  respond(status: number, reason: string, headers: readonly string[], body: string, _close: boolean, headOnly: boolean): void {
    this.writeHead(status, reason, [...headers, 'content-length', String(Buffer.byteLength(body))], -1, true);
    if (!headOnly) this.#body.push(Buffer.from(body));
    this.end();
  }

  close(): void { this.done = true; this.#socket.destroy(); }
  onBody(): void {}
  pauseBody(): void {}
  resumeBody(): void {}
  onAbort(): void {}
}

/** A `ws` server-side socket behind the TunnelClient contract. */
class WsTunnelClient implements TunnelClient {
  closed = false;
  readonly #ws: WebSocket;
  constructor(ws: WebSocket) { this.#ws = ws; }

  send(data: Buffer, isBinary: boolean, compress: boolean): SendResult {
    if (this.closed) return SendResult.Sent;
    this.#ws.send(data, { binary: isBinary, compress });
    return this.#ws.bufferedAmount > 0 ? SendResult.Buffered : SendResult.Sent;
  }

  bufferedAmount(): number { return this.closed ? 0 : this.#ws.bufferedAmount; }
  ping(): void { if (!this.closed) this.#ws.ping(); }
  end(code: number, reason: string): void { if (!this.closed) { if (code === 0) this.#ws.close(); else this.#ws.close(code, reason); } }
  terminate(): void { if (!this.closed) this.#ws.terminate(); }
}

function protocolList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

/** What the tunnels need of the listener: the runtime new upgrades use, and where finished ones are logged. */
export interface TunnelHost {
  runtime(): Runtime;
  finished(ex: Exchange): void;
}

export class NodeWebSockets {
  readonly #host: TunnelHost;
  readonly #context: ListenerContext;
  readonly #tunnels = new TunnelSet();

  constructor(host: TunnelHost, context: ListenerContext) {
    this.#host = host;
    this.#context = context;
  }

  /** Every tunnel from its upgrade request until both sides are closed. */
  get tunnels(): ReadonlySet<Tunnel> { return this.#tunnels.all; }

  upgrade(req: IncomingMessage, socket: net.Socket, head: Buffer, hsts: string | null): void {
    socket.on('error', () => {});
    const rt = this.#host.runtime();
    const log = (ex: Exchange): void => this.#host.finished(ex);
    const ex = startExchange(nodeSnapshot(req, this.#context), rt);
    const answer = new SocketAnswer(socket);
    const ds: Downstream = hsts === null ? answer : new HstsDownstream(answer, hsts);
    const reject = (err: ProxyError, extra: readonly string[] = []): void => { respondError(ds, ex, err, true, extra); log(ex); };

    const framing = parse(ex, rt);
    if (framing instanceof ProxyError) return reject(framing);
    if (framing.contentLength > 0 || framing.chunked) return reject(new ProxyError('PC_ERR_BAD_REQUEST', 'upgrade request with a body'));
    const connection = ex.headerList('connection');
    if (connection === undefined || !parseConnectionTokens(connection).includes('upgrade') || ex.header('upgrade')?.toLowerCase() !== 'websocket') {
      return reject(new ProxyError('PC_ERR_BAD_REQUEST', 'unsupported upgrade'));
    }
    if (ex.header('sec-websocket-version') !== '13') return reject(new ProxyError('PC_ERR_WEBSOCKET_VERSION'), ['sec-websocket-version', '13']);
    const notFound = route(ex, rt);
    if (notFound !== null) return reject(notFound);
    identify(ex, rt);
    // The policy phase, as for HTTP and uWS's upgrades (auth, IP rules, limits); an in-flight
    // slot (max_requests_per_ip) is held for the tunnel's whole life.
    const finish = (e: Exchange): void => {
      const release = e.release;
      if (release !== null) { e.release = null; release(); }
      log(e);
    };
    const pass = protect(ex, ds, rt, finish);
    if (pass === null) return;
    if (pass instanceof Promise) {
      void pass.then((pd) => { if (pd !== null) this.#open(ex, pd, req, socket, head, finish); });
      return;
    }
    this.#open(ex, pass, req, socket, head, finish);
  }

  /** Connects the tunnel upstream; the client is upgraded on the upstream's 101. `ds`: answers go through the policies' header edits. */
  #open(ex: Exchange, ds: Downstream, req: IncomingMessage, socket: net.Socket, head: Buffer, finish: (ex: Exchange) => void): void {
    const rt = this.#host.runtime();
    const requestHead = upstreamHead(ex, rt, -1, false);
    const compiled = ex.route!;
    const settings = compiled.config.websocket ?? WEBSOCKET_DEFAULTS;
    // As on uWS listeners (downstream/websocket.ts): the balancer's pick first, then the others.
    const targets = chooseUpstream(compiled, ex).tunnelOrder(ex, ex.startedAt).map((t) => t.pool);
    if (targets.length === 0) { respondError(ds, ex, new ProxyError('PC_ERR_UPSTREAM_UNAVAILABLE', 'no target has an address yet'), true); finish(ex); return; }
    const extensions = ex.headerList('sec-websocket-extensions') ?? '';
    let closed = false;
    socket.once('close', () => { closed = true; });
    const tunnel: Tunnel = new Tunnel({
      ex,
      targets,
      requestHead,
      protocols: protocolList(ex.headerList('sec-websocket-protocol')),
      clientOffersDeflate: /permessage-deflate/i.test(extensions),
      settings,
      connectTimeoutMs: compiled.timeouts.connect,
      responseTimeoutMs: compiled.timeouts.response_header,
      via: rt.config.via,
      handshake: {
        accept: (protocol, compress) => {
          if (closed) { tunnel.abort(); return; }
          const wss = new WebSocketServer({
            noServer: true,
            maxPayload: settings.max_message_size,
            perMessageDeflate: compress ? { serverNoContextTakeover: true, clientNoContextTakeover: true } : false,
            handleProtocols: () => (protocol === '' ? false : protocol),
          });
          wss.handleUpgrade(req, socket, head, (ws) => {
            const client = new WsTunnelClient(ws);
            ws.on('message', (data: Buffer, isBinary: boolean) => tunnel.fromClient(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer, isBinary));
            ws.on('ping', () => tunnel.clientHeard());
            ws.on('pong', () => tunnel.clientHeard());
            ws.on('close', (code: number, reason: Buffer) => { client.closed = true; tunnel.clientClosed(code, reason.toString()); });
            // A message over max_message_size (ws closes with 1009), a bad frame, a reset:
            // ws emits 'error' and then 'close', which ends the tunnel. Unheard, the 'error'
            // would end the worker.
            ws.on('error', () => {});
            socket.on('drain', () => tunnel.clientDrained());
            tunnel.attach(client);
          });
        },
        refuse: (status, reason, headers, body) => relayRefusal(ds, status, reason, headers, body),
        fail: (err) => respondError(ds, ex, err, true),
      },
      done: (t) => {
        this.#tunnels.delete(t);
        finish(t.ex);
      },
    });
    socket.once('close', () => { if (!tunnel.open) tunnel.abort(); });
    this.#tunnels.add(tunnel);
    tunnel.connect();
  }

  /** Draining: every open tunnel is closed with 1001 (going away). */
  goAway(): void {
    this.#tunnels.goAway();
  }

  /** A reload: see TunnelSet.goAwayWhere. */
  goAwayWhere(changed: (t: Tunnel) => boolean, reason: string): number {
    return this.#tunnels.goAwayWhere(changed, reason);
  }
}
