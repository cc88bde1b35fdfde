// The worker's open client connections, from uWS's connection hook (App.filter: +1 on open,
// -1 on close): how many are open, which ones are between requests (closed at once when the
// worker drains), and how many closed without ever delivering a request: uWS's own refusals
// (400/431/505 before any handler runs), header timeouts and clients that connected and left
// all end that way, and uWS tells JavaScript nothing else about them.
//
// A connection is named by the uSockets socket behind its uWS.js objects (the addon's
// socketId: every wrapper of one connection, the hook's and each request's, holds the same
// pointer). Without the addon the table only counts: socketId is 0 and requests cannot be
// matched to connections.
import type { HttpResponse } from 'uWebSockets.js';
import { openAddon } from '../native/addon.js';
import { counter, gauge } from '../observe/metrics.js';

type SocketId = (res: HttpResponse) => number;

const NO_ID: SocketId = () => 0;

function loadSocketId(): SocketId {
  try {
    const fn = openAddon()['socketId'];
    if (typeof fn === 'function') return fn as SocketId;
  } catch { /* no addon: counts only */ }
  return NO_ID;
}

const socketId: SocketId = loadSocketId();

const opened = counter('portcullis_connections_opened_total', 'Client connections accepted.').with();
const closed = counter('portcullis_connections_closed_total', 'Client connections closed, by whether a request was ever read from them (no_request: uWS refused the head, it timed out, or the client left).', ['outcome']);
const closedServed = closed.with('served');
const closedNoRequest = closed.with('no_request');
const openGauge = gauge('portcullis_connections_open', 'Client connections open now.').with();

export interface Connection {
  /** Its socketId (the key in the table). */
  readonly id: number;
  /** The hook's wrapper: still valid for close() while the connection is open. */
  readonly res: HttpResponse;
  requests: number;
  inflight: number;
  /** The hook saw it close: `res` must not be touched. */
  closed: boolean;
  /**
   * The peer's address in canonical text, read at its first request ('' before): uWS asks the
   * kernel (getpeername) and formats it on every getRemoteAddressAsText call, and a connection's
   * peer never changes.
   */
  peerIp: string;
  /**
   * Serves no further request: a chunked request body came on it (see closeAfter). Its answer
   * says `Connection: close`, it is closed once idle, and a request that still arrives on it is
   * not served.
   */
  closing: boolean;
}

export class ConnectionTable {
  readonly #open = new Map<number, Connection>();
  #count = 0;
  #draining = false;
  /** True when requests can be matched to connections (the addon is loaded). */
  readonly identified: boolean;

  readonly #identify: SocketId;

  constructor(identify: SocketId = socketId) {
    this.#identify = identify;
    this.identified = identify !== NO_ID;
  }

  /** uWS's filter hook. */
  readonly hook = (res: HttpResponse, change: number | Number): void => {
    if ((change as number) > 0) {
      this.#count++;
      opened.inc();
      // inc/dec, not set(count): a worker has one table per listener (downstream/listeners.ts).
      openGauge.inc();
      const id = this.#identify(res);
      if (id !== 0) this.#open.set(id, { id, res, requests: 0, inflight: 0, closed: false, closing: false, peerIp: '' });
      return;
    }
    this.#count--;
    openGauge.dec();
    const id = this.#identify(res);
    const conn = id !== 0 ? this.#open.get(id) : undefined;
    if (conn !== undefined) { this.#open.delete(id); conn.closed = true; }
    // Without identity every close counts as served: only a matched connection is known to be empty.
    if (conn !== undefined && conn.requests === 0) closedNoRequest.inc();
    else closedServed.inc();
  };

  /** A request arrived on `res`'s connection; pair with done(). Null when it cannot be matched. */
  begin(res: HttpResponse): Connection | null {
    if (!this.identified) return null;
    const conn = this.#open.get(this.#identify(res));
    if (conn === undefined) return null;
    conn.requests++;
    conn.inflight++;
    return conn;
  }

  /** The request's exchange finished. During a drain its connection is closed once it is idle. */
  done(conn: Connection | null): void {
    if (conn === null) return;
    conn.inflight--;
    if ((this.#draining || conn.closing) && conn.inflight === 0) this.#closeLater(conn);
  }

  /**
   * No further request is served on this connection. For a chunked request body: uWS 20.57
   * decodes chunked framing laxly (docs/limits.md), so where its idea of the body's end differs
   * from a strict parser's (a trailer, a bare LF, an extension), the bytes after it must never
   * be read as the connection's next request. One request per such connection closes that door.
   */
  closeAfter(conn: Connection | null): void {
    if (conn !== null) conn.closing = true;
  }

  /**
   * The connection became a WebSocket: uWS moves it out of the HTTP context and the hook never
   * sees it close, so it leaves the table now (tunnels are counted by observe/counters.ts).
   */
  upgraded(conn: Connection | null): void {
    if (conn === null || conn.closed) return;
    conn.closed = true;
    conn.inflight--;
    this.#open.delete(conn.id);
    this.#count--;
    openGauge.dec();
    closedServed.inc();
  }

  get open(): number { return this.#count; }
  get draining(): boolean { return this.#draining; }

  /**
   * Drain: connections between requests are closed now; busy ones when their exchange ends
   * (their answers say `Connection: close` too, so clients do not send another request).
   */
  drain(): void {
    this.#draining = true;
    for (const conn of this.#open.values()) if (conn.inflight === 0 && !conn.closed) conn.res.close();
  }

  /**
   * After the response's last bytes went to uWS: closing in the same turn could cut bytes uWS
   * still holds for a slow client, and the client closes by itself on `Connection: close`.
   */
  #closeLater(conn: Connection): void {
    setTimeout(() => {
      if (conn.inflight === 0 && !conn.closed) conn.res.close();
    }, 1000).unref();
  }
}
