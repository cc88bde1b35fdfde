// A TLS listener that offers HTTP/2 (`protocols: [h1, h2]`): Node's http2 server, ALPN `h2`
// and, with h1, `http/1.1` on the same port (allowHTTP1: node:http serves those). Requests go
// through the same pipeline as uWS's (h2/downstream.ts implements Downstream), WebSocket
// upgrades over HTTP/1.1 through the same tunnels (h2/websocket.ts). Costlier per request
// than uWS (docs/tls.md), so only listeners that ask for h2 use it.
//
//   handshake ── SNICallback(name) ── exact / *.one-label ──▶ that SecureContext
//                                 └─ none ─▶ default context, or failure when there is none
//   ALPN h2 ──▶ stream ──▶ compat request ─┐
//   ALPN http/1.1 ──▶ node:http request ───┴─▶ NodeDownstream ─▶ handleRequest (the pipeline)
//   http/1.1 Upgrade: websocket ──▶ h2/websocket.ts
import { readFileSync } from 'node:fs';
import http2, { type Http2SecureServer, type Http2Session } from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import type { Listener } from '../config/types.js';
import type { ListenerContext } from '../downstream/contract.js';
import type { Generation } from '../downstream/generations.js';
import type { Exchange } from '../exchange.js';
import { handleRequest } from '../pipeline.js';
import type { Tunnel } from '../upstream/tunnel.js';
import { coversHost, type CertFiles, type TlsCertSet } from '../tls/cert-set.js';
import { HstsDownstream } from '../tls/hsts.js';
import { TLS12_CIPHERS } from '../tls/uws-listener.js';
import { counter } from '../observe/metrics.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Downstream, RequestHead } from '../downstream/contract.js';
import { H2StreamDownstream, NodeDownstream } from './downstream.js';
import { nodeSnapshot, streamSnapshot } from './snapshot.js';
import { listenShared } from './reuse-port.js';
import { NodeWebSockets } from './websocket.js';
import { ResetBudget } from './reset-budget.js';
import { admitConnection, limitsConnections } from '../downstream/connection-filter.js';
import { normalizeAddress } from '../net/address.js';

const requests = counter('portcullis_node_front_requests_total', 'Requests served by the Node front end of HTTP/2 listeners, by protocol.', ['protocol']);
const h2Requests = requests.with('h2');
const h1Requests = requests.with('http/1.1');
const resetFloods = counter('portcullis_h2_reset_floods_total', 'HTTP/2 connections closed for giving up streams faster than h2/reset-budget.ts allows (rapid reset).').with();

/** How often Node looks for HTTP/1.1 heads older than timeouts.header on this port. */
const HEAD_CHECK_MS = 1000;

/** Why a connection that gave up too many streams is closed (h2/reset-budget.ts). */
const RESET_FLOOD = new Error('HTTP/2 client gave up streams faster than allowed (rapid reset)');

/** Header fields (pseudo-headers included) nghttp2 takes in one head before resetting the stream. */
const MAX_HEADER_PAIRS = 1024;

/** RFC 9113 §6.5.2: streams one connection may have open at once (nginx's default too). */
const MAX_CONCURRENT_STREAMS = 128;

function contextOptions(files: CertFiles): tls.SecureContextOptions {
  return { cert: readFileSync(files.cert), key: readFileSync(files.key), minVersion: 'TLSv1.2', ciphers: TLS12_CIPHERS, honorCipherOrder: true };
}

export class Http2Listener {
  readonly spec: Listener;
  readonly #server: Http2SecureServer;
  #gen: Generation;
  #inflight = 0;
  #idleWaiters: (() => void)[] = [];
  /** The current generation's done callback (a request keeps the one it started with). */
  #onDone!: (ex: Exchange) => void;
  #draining = false;
  readonly #context: ListenerContext;
  readonly #hsts: string | null;
  readonly #workerId: number;
  readonly #ws: NodeWebSockets;
  #set: TlsCertSet;
  #contexts = new Map<string, tls.SecureContext>();
  #hasDefault: boolean;
  /** Each open HTTP/2 connection, and the streams it may still give up (h2/reset-budget.ts). */
  readonly #sessions = new Map<Http2Session, ResetBudget>();
  readonly #sockets = new Set<net.Socket>();
  #listening = false;

  constructor(spec: Listener, certs: TlsCertSet, gen: Generation, hsts: string | null, workerId: number, onMissingName: ((name: string) => void) | null) {
    this.spec = spec;
    this.#gen = gen;
    this.setGeneration(gen);
    this.#context = { scheme: 'https', redirect: null, challenges: null };
    this.#hsts = hsts;
    this.#workerId = workerId;
    this.#set = certs;
    this.#hasDefault = certs.default !== null;
    this.#contexts = this.#compile(certs);
    const protocols = spec.protocols ?? ['h1'];
    const timeouts = gen.runtime.config.timeouts;
    this.#server = http2.createSecureServer({
      ...(certs.default === null ? {} : contextOptions(certs.default)),
      minVersion: 'TLSv1.2',
      ciphers: TLS12_CIPHERS,
      honorCipherOrder: true,
      allowHTTP1: protocols.includes('h1'),
      // A handshake must be done as soon as a request head must (Node's default is 120 s).
      handshakeTimeout: timeouts.header,
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
      // nghttp2 resets a stream of 128 fields or more (RST_STREAM, no status) before we see it;
      // above limits.max_header_count (at most 98) the parse phase answers 431 as over HTTP/1.1.
      // The decoded head stays bounded by the header list size (SETTINGS_MAX_HEADER_LIST_SIZE).
      maxHeaderListPairs: MAX_HEADER_PAIRS,
      SNICallback: (name, cb) => {
        const ctx = this.#lookup(name.toLowerCase());
        if (ctx !== null) { cb(null, ctx); return; }
        if (onMissingName !== null) onMissingName(name.toLowerCase());
        if (this.#hasDefault) cb(null, undefined);
        else cb(new Error(`no certificate for ${name}`));
      },
    });
    // HTTP/1.1 on this port (allowHTTP1) is node:http: its head and keep-alive timeouts.
    const server = this.#server as Http2SecureServer & { headersTimeout: number; keepAliveTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
    server.headersTimeout = timeouts.header;
    // Node checks headersTimeout every connectionsCheckingInterval (30 s by default), so a head
    // sent a byte a second got its 408 some 30 s late (measured: 29–30 s with header: 5s).
    // Read when the server starts listening.
    server.connectionsCheckingInterval = HEAD_CHECK_MS;
    server.keepAliveTimeout = timeouts.idle;
    server.requestTimeout = 0;
    // An HTTP/2 connection without a stream for this long is closed (GOAWAY).
    this.#server.setTimeout(timeouts.idle);
    this.#ws = new NodeWebSockets({ runtime: () => this.#gen.runtime, finished: (ex) => this.#gen.finished(ex) }, this.#context);
    // HTTP/1.1 (allowHTTP1) arrives as node:http requests. Listening for them makes Node also
    // wrap every HTTP/2 stream in compatibility objects: that listener goes, and streams are
    // taken as they are (the core API: no objects of our own per request but the Downstream).
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      h1Requests.inc();
      this.#dispatch(new NodeDownstream(req, res), nodeSnapshot(req, this.#context));
    });
    this.#server.removeAllListeners('stream');
    this.#server.on('stream', (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
      h2Requests.inc();
      const session = stream.session;
      // Made now: it hears the stream's 'error' and 'close' from the start (an unheard 'error' ends the worker).
      const ds = new H2StreamDownstream(stream, session === undefined ? null : () => this.#streamGivenUp(session));
      const head = streamSnapshot(stream, raw, this.#context);
      // Forwarded from the next turn: a stream reset in the same read as its HEADERS (rapid
      // reset writes them together) has closed by then and never reaches an upstream.
      setImmediate(() => { if (!ds.done) this.#dispatch(ds, head); });
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => this.#ws.upgrade(req, socket, head, this.#hsts));
    this.#server.on('session', (s: Http2Session) => { this.#sessions.set(s, new ResetBudget(Date.now())); s.once('close', () => this.#sessions.delete(s)); });
    // limits.max_connections_per_ip and connection_rate_per_ip, as uWS's hook applies them on
    // its listeners: checked as the TCP connection arrives, before the TLS handshake.
    this.#server.on('connection', (socket: net.Socket) => {
      const rt = this.#gen.runtime;
      if (!limitsConnections(rt)) return;
      const verdict = admitConnection(rt, normalizeAddress(socket.remoteAddress ?? ''), true);
      if (verdict === false) socket.destroy();
      else if (verdict !== null) socket.once('close', () => verdict.counters.release(verdict.slot));
    });
    this.#server.on('secureConnection', (s: net.Socket) => { this.#sockets.add(s); s.once('close', () => this.#sockets.delete(s)); });
    this.#server.on('tlsClientError', () => { /* a failed handshake: nothing to answer */ });
  }

  get certificates(): TlsCertSet { return this.#set; }

  get inflight(): number { return this.#inflight; }
  get draining(): boolean { return this.#draining; }
  get tunnels(): ReadonlySet<Tunnel> { return this.#ws.tunnels; }

  /** New requests get `gen`; in-flight ones keep theirs. */
  setGeneration(gen: Generation): void {
    this.#gen = gen;
    this.#onDone = (ex: Exchange): void => {
      this.#inflight--;
      gen.done(ex);
      if (this.#inflight === 0 && this.#idleWaiters.length > 0) for (const w of this.#idleWaiters.splice(0)) w();
    };
  }

  goAwayWhere(changed: (t: Tunnel) => boolean, reason: string): number {
    return this.#ws.goAwayWhere(changed, reason);
  }

  /** Resolves when no request is in flight, or after deadlineMs. */
  idle(deadlineMs: number): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, deadlineMs);
      this.#idleWaiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  /**
   * A client gave a stream up before its answer. Past the budget the connection is closed
   * (GOAWAY ENHANCE_YOUR_CALM, then the socket), from the next turn: this runs inside nghttp2's
   * read of the very frames that spent it.
   */
  #streamGivenUp(session: Http2Session): void {
    const budget = this.#sessions.get(session);
    if (budget === undefined || budget.take(Date.now())) return;
    this.#sessions.delete(session);
    resetFloods.inc();
    // With an error: destroy(undefined, code) takes the first argument's default (NO_ERROR) as
    // the code, and the GOAWAY said 0 (a black-box helper saw it). The error goes to the
    // server's 'sessionError', which nothing needs to hear.
    setImmediate(() => { if (!session.destroyed) session.destroy(RESET_FLOOD, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM); });
  }

  #compile(set: TlsCertSet): Map<string, tls.SecureContext> {
    const byId = new Map<string, tls.SecureContext>();
    const out = new Map<string, tls.SecureContext>();
    for (const [name, files] of Object.entries(set.names)) {
      let ctx = byId.get(files.id);
      if (ctx === undefined) { ctx = tls.createSecureContext(contextOptions(files)); byId.set(files.id, ctx); }
      out.set(name, ctx);
    }
    return out;
  }

  #lookup(name: string): tls.SecureContext | null {
    const exact = this.#contexts.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    return dot > 0 ? this.#contexts.get(`*${name.slice(dot)}`) ?? null : null;
  }

  #dispatch(ds: Downstream, head: RequestHead): void {
    const gen = this.#gen;
    this.#inflight++;
    gen.inflight++;
    handleRequest(this.#hsts === null ? ds : new HstsDownstream(ds, this.#hsts), head, gen.runtime, this.#onDone);
  }

  /** Resolves when listening (or when another worker serves the port alone: no SO_REUSEPORT). */
  async listen(_addresses?: readonly unknown[]): Promise<void> {
    this.#listening = await listenShared(this.#server, this.spec.host, this.spec.port, this.#workerId);
  }

  /** New handshakes use `next`: a new context map, and the default replaced in place. */
  async setCertificates(next: TlsCertSet): Promise<void> {
    const defaultChanged = (this.#set.default?.id ?? null) !== (next.default?.id ?? null);
    this.#set = next;
    this.#contexts = this.#compile(next);
    if (defaultChanged && next.default !== null) this.#server.setSecureContext(contextOptions(next.default));
    this.#hasDefault = next.default !== null;
  }

  /** True when `host` has a certificate here (for redirect_https). */
  covers(host: string): boolean { return coversHost(this.#set, host); }

  /** Stops accepting; HTTP/2 connections get GOAWAY and finish their streams. */
  stopAccepting(): void {
    this.#draining = true;
    if (this.#listening) this.#server.close();
    this.#listening = false;
    for (const s of this.#sessions.keys()) s.close();
    this.#ws.goAway();
  }

  close(): void {
    this.stopAccepting();
    for (const s of this.#sessions.keys()) s.destroy();
    for (const s of this.#sockets) s.destroy();
  }
}
