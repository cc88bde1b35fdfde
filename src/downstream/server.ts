// The uWebSockets.js front end: one App per listener with a single any('/*') handler that
// snapshots the request (HttpRequest dies at the first await) and calls the pipeline. A TLS
// listener's Apps (an SSLApp and its SNI domains, and the App that replaces it when the
// default certificate changes) come from tls/uws-listener.ts and get the same handlers.
import { uWS } from '../uws/load.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { ListenAddress, Timeouts } from '../config/types.js';
import { normalizeAddress } from '../net/address.js';
import { handleRequest, type Prepared } from '../pipeline.js';
import { hitPathEnabled } from '../config/env.js';
import type { Exchange } from '../exchange.js';
import type { ListenerContext, RequestHead } from './contract.js';
import { HstsDownstream } from '../tls/hsts.js';
import { CorkHolder } from './cork-holder.js';
import { TrackedDownstream, type Generation } from './generations.js';
import { ConnectionTable, type Connection } from './connections.js';
import { WebSocketFrontEnd } from './websocket.js';
import type { Tunnel } from '../upstream/tunnel.js';
import { attachConnectionFilter } from './connection-filter.js';
import { hitPath } from '../cache/hit-path.js';
import { cacheEvents } from '../cache/metrics.js';
import { headLines, PIECE_BYTES } from './uws-downstream.js';
import { finishHit, writeHit } from './hit-writer.js';
import { statusLine } from './status-line.js';

const decoder = new TextDecoder();

/** PORTCULLIS_CACHE_HIT_PATH (config/env.ts): off sends every request through handleRequest. */
const hitPathOn = hitPathEnabled(process.env);

/** Set per worker from the config: the PROXY v2 address is read only when someone is trusted. */
let readProxiedAddress = false;

/** The peer's address, read once per connection when the request can be matched to one. */
function peerIpOf(res: HttpResponse, conn: Connection | null): string {
  if (conn !== null && conn.peerIp !== '') return conn.peerIp;
  const ip = normalizeAddress(decoder.decode(res.getRemoteAddressAsText()));
  if (conn !== null) conn.peerIp = ip;
  return ip;
}

/** The list collectField fills: forEach calls back synchronously, so one function serves every request (no closure each). */
const NONE: string[] = [];
let collecting: string[] = NONE;
function collectField(name: string, value: string): void {
  collecting.push(name, value);
}

function snapshot(res: HttpResponse, req: HttpRequest, listener?: ListenerContext, conn: Connection | null = null): RequestHead {
  const headers: string[] = [];
  collecting = headers;
  req.forEach(collectField);
  collecting = NONE;
  return {
    method: req.getCaseSensitiveMethod(),
    rawPath: req.getUrl(),
    query: req.getQuery() ?? '',
    headers,
    peerIp: peerIpOf(res, conn),
    // uWS accepts PROXY v2 from anyone (§8); identity.ts believes it only from trusted peers.
    proxiedIp: readProxiedAddress ? decoder.decode(res.getProxiedRemoteAddressAsText()) : '',
    scheme: listener?.scheme ?? 'http',
    // Always present (undefined on a plain listener): one object shape, and no spread per request.
    listener,
  };
}

/** A head as UwsDownstream writes it on a connection that stays open (the hit path's heads). */
function formatHead(status: number, reason: string, headers: readonly string[]): string {
  return headLines(statusLine(status, reason), headers, false);
}

/** The App timeouts uWS 20.57 can be told about (uWS counts in seconds, ticking every 4 s). */
type TimedApp = TemplatedApp & { setIdleTimeout(s: number): TemplatedApp; setResponseTimeout(s: number): TemplatedApp };

/** uWS times sockets on a 4-second tick. */
const UWS_TICK_S = 4;

/**
 * The seconds to give uWS so that a timeout of `ms` never fires early. Measured on 20.57: a
 * socket given S seconds is closed at the k-th tick after it was armed, k = ⌈S/4⌉, somewhere
 * in (4(k−1), 4k] seconds depending on where in the tick it was armed (so 10 s closed between
 * 8.2 and 12 s). Giving k = ⌈T/4⌉ + 1 ticks closes it between ⌈T/4⌉·4 ≥ T and that + 4 s:
 * never before the configured time, at most 8 s after it (4 s when T is a multiple of 4).
 */
export function uwsTimeoutSeconds(ms: number): number {
  return (Math.ceil(ms / 1000 / UWS_TICK_S) + 1) * UWS_TICK_S;
}

/**
 * Client-side timeouts, measured on uWS 20.57 (docs/limits.md "Timeouts"):
 *   idle timeout      a connection without a complete request head (so slowloris, one byte a
 *                     second, is closed too), and a request body, which must bring 16 KiB/s on
 *                     average over each such period → timeouts.header
 *   response timeout  the keep-alive wait after a response, and a response the client stopped
 *                     reading → timeouts.idle
 */
function applyTimeouts(app: TemplatedApp, t: Timeouts): void {
  (app as TimedApp).setIdleTimeout(uwsTimeoutSeconds(t.header));
  (app as TimedApp).setResponseTimeout(uwsTimeoutSeconds(t.idle));
}

/** The request handlers of one listener, registered on every App (or SNI domain) it serves with. */
export interface Mount {
  /** Registers the WebSocket and HTTP handlers on an App or on one SNI domain of it. */
  on(app: TemplatedApp): TemplatedApp;
  /** Gives a new App the configured header and keep-alive timeouts, and counts its connections. */
  configure(app: TemplatedApp): void;
}

/** A TLS listener's Apps (tls/uws-listener.ts), driven by the front end that mounts its handlers. */
export interface TlsApps {
  listen(): Promise<void>;
  stopAccepting(): void;
  close(): void;
  /** Every App alive (the current one and retired ones still serving their connections). */
  forEachApp(fn: (app: TemplatedApp) => void): void;
}

export interface FrontEndOptions {
  /** What requests on this listener carry (TLS, redirect_https, ACME challenges); absent: a plain listener. */
  readonly listener?: ListenerContext;
  /** Strict-Transport-Security for every answer (tls/hsts.ts), or null. */
  readonly hsts?: string | null;
  /** A TLS listener: its Apps are made here, with the handlers `mount` registers. */
  readonly tls?: (mount: Mount) => TlsApps;
}

/**
 * One uWS App: the listener(s) it was opened on, every connection they accepted, and the
 * generation new requests get (downstream/listeners.ts keeps one per listen address, so a
 * reload opens and closes addresses without touching the others).
 */
export class UwsFrontEnd {
  /** Plain listeners: the App; null for a TLS listener (its Apps are #tls's). */
  readonly #app: TemplatedApp | null;
  readonly #tls: TlsApps | null;
  readonly #sockets: us_listen_socket[] = [];
  #gen: Generation;
  #inflight = 0;
  #idleWaiters: (() => void)[] = [];
  /** The current generation's done callback (a request keeps the one it started with). */
  #onDone!: (ex: Exchange) => void;
  /** Upgrade requests and WebSocket tunnels (downstream/websocket.ts). */
  readonly #ws: WebSocketFrontEnd;
  /** The response corked around every upgrade (downstream/cork-holder.ts). */
  readonly #corkHolder = new CorkHolder();
  /** Open client connections, from uWS's connection hook (downstream/connections.ts). */
  readonly connections = new ConnectionTable();

  /** `maxMessage`: uWS's one WebSocket message limit for this App (config/diff.ts largestMessage). */
  constructor(gen: Generation, maxMessage: number, options: FrontEndOptions = {}) {
    this.#gen = gen;
    this.#app = null;
    this.#tls = null;
    this.setGeneration(gen);
    const listener = options.listener;
    const hsts = options.hsts ?? null;
    const snap = (res: HttpResponse, req: HttpRequest, conn: Connection | null = null): RequestHead => snapshot(res, req, listener, conn);
    this.#ws = new WebSocketFrontEnd({
      runtime: () => this.#gen.runtime,
      snapshot: snap,
      log: (ex) => this.#gen.finished(ex),
      corkHolder: this.#corkHolder,
      connections: this.connections,
    });
    const behavior = this.#ws.behavior(maxMessage);
    const any = (res: HttpResponse, req: HttpRequest): void => {
      const gen = this.#gen;
      const table = this.connections;
      const conn = table.begin(res);
      const head = snap(res, req, conn);
      // A plain fresh hit is answered here, at once (cache/hit-path.ts); not while draining or on
      // a connection that serves no more, whose answers say `Connection: close` (the general path).
      let prepared: Prepared | null = null;
      if (hitPathOn && gen.runtime.cache !== null && !table.draining && (conn === null || !conn.closing)) {
        const hit = hitPath(head, gen.runtime, hsts, PIECE_BYTES, formatHead);
        if (hit !== null && 'body' in hit) {
          cacheEvents.hitPath.inc();
          const ex = hit.ex;
          // At most PIECE_BYTES in uWS's cork. A socket backed up keeps the answer pending.
          if (writeHit(res, hit.head, hit.body)) {
            table.done(conn);
            gen.finished(ex);
            return;
          }
          this.#inflight++;
          gen.inflight++;
          const onDone = this.#onDone;
          finishHit(res, hit.body, (aborted) => {
            if (aborted) { ex.clientAborted = true; ex.status = 499; }
            table.done(conn);
            onDone(ex);
          });
          return;
        }
        prepared = hit;
      }
      const ds = new TrackedDownstream(res, gen, table, conn);
      // A request on a connection that was to serve no more (after a chunked body): not served.
      if (ds.unwanted) { ds.close(); return; }
      ds.head = head;
      this.#inflight++;
      gen.inflight++;
      ds.inHandler = true;
      handleRequest(hsts === null ? ds : new HstsDownstream(ds, hsts), head, gen.runtime, this.#onDone, prepared);
      ds.inHandler = false;
    };
    // Upgrade requests reach ws('/*'); every other request falls through to any('/*') (§9).
    const mount: Mount = {
      on: (app) => app.ws('/*', behavior).any('/*', any),
      configure: (app) => {
        applyTimeouts(app, this.#gen.runtime.config.timeouts);
        app.filter(this.connections.hook);
        attachConnectionFilter(app, () => this.#gen.runtime);
      },
    };
    if (options.tls !== undefined) {
      this.#tls = options.tls(mount);
    } else {
      const app = uWS.App();
      mount.on(app);
      mount.configure(app);
      this.#app = app;
    }
  }

  get inflight(): number { return this.#inflight; }

  /** Stopped accepting (a drain, or its listener removed by a reload). */
  get draining(): boolean { return this.connections.draining; }

  /** Open WebSocket tunnels (and upgrades being handshaken) on this App. */
  get tunnels(): ReadonlySet<Tunnel> { return this.#ws.tunnels; }

  /** New requests get `gen`; in-flight ones keep theirs. */
  setGeneration(gen: Generation): void {
    this.#gen = gen;
    readProxiedAddress = gen.runtime.config.trusted_proxies.length > 0;
    this.#onDone = (ex: Exchange): void => {
      this.#inflight--;
      gen.done(ex);
      if (this.#inflight === 0 && this.#idleWaiters.length > 0) for (const w of this.#idleWaiters.splice(0)) w();
    };
    const timeouts = gen.runtime.config.timeouts;
    if (this.#app) applyTimeouts(this.#app, timeouts);
    this.#tls?.forEachApp((app) => applyTimeouts(app, timeouts));
  }

  /** A reload changed or removed some routes: their tunnels go away (1001) now. */
  goAwayWhere(changed: (t: Tunnel) => boolean, reason: string): number {
    return this.#ws.goAwayWhere(changed, reason);
  }

  listen(addresses: readonly ListenAddress[]): Promise<void> {
    const holder = this.#corkHolder.start();
    const tls = this.#tls;
    if (tls !== null) return Promise.all([holder, tls.listen()]).then(() => undefined);
    const app = this.#app!;
    return Promise.all([holder, ...addresses.map((a) => new Promise<void>((resolve, reject) => {
      app.listen(a.host, a.port, (socket) => {
        if (socket) { this.#sockets.push(socket); resolve(); }
        else reject(new Error(`cannot listen on ${a.host}:${a.port} (address in use or not available)`));
      });
    }))]).then(() => undefined);
  }

  /**
   * Stops accepting new connections. Keep-alive connections between requests are closed now;
   * the others answer with `Connection: close` and close when their exchange ends.
   */
  stopAccepting(): void {
    for (const s of this.#sockets.splice(0)) uWS.us_listen_socket_close(s);
    this.#tls?.stopAccepting();
    this.connections.drain();
    // Tunnels never finish by themselves: close them (1001) so clients reconnect elsewhere.
    this.#ws.goAway();
  }

  /** Resolves when no request is in flight, or after deadlineMs. */
  idle(deadlineMs: number): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, deadlineMs);
      this.#idleWaiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  /** Closes every connection. After this the worker may exit safely (shared notes §3). */
  close(): void {
    this.stopAccepting();
    this.#corkHolder.close();
    this.#app?.close();
    this.#tls?.close();
  }
}
