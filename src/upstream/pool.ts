// Keep-alive connections to one upstream target, per worker: a LIFO idle stack (the
// warmest socket first), a cap on open connections, and a FIFO of exchanges waiting for one.
import type { LookupFunction } from 'node:net';
import type { PoolOptions, UpstreamTarget } from '../config/types.js';
import { ProxyError } from '../errors.js';
import { ConnState, UpstreamConnection, type ConnectionOwner } from './connection.js';
import type { UpstreamEndpoint, UpstreamTls } from './tls.js';

/** An exchange waiting for a connection. */
export interface PoolWaiter {
  /** `now`: Date.now() when the pool already read it (an idle connection handed over at once). */
  onConnection(conn: UpstreamConnection, now?: number): void;
  onConnectionError(err: ProxyError): void;
}

/** A queued exchange, how long its connect may take, and when it stops waiting. */
interface Waiting {
  readonly waiter: PoolWaiter;
  readonly connectMs: number;
  readonly until: number;
}

/** Where a target's name points: addresses resolved elsewhere, and a number that changes with them. */
export interface Dial {
  /** undefined: the host is connected to as written (an IP literal, or getaddrinfo). */
  readonly lookup: LookupFunction | undefined;
  generation(): number;
}

/** Idle connections are closed this long before the upstream's own Keep-Alive timeout, so
 *  we never send on a socket the upstream is about to close (the idle race → 502). */
const KEEP_ALIVE_MARGIN_MS = 1000;

export class UpstreamPool implements ConnectionOwner, UpstreamEndpoint {
  readonly target: UpstreamTarget;
  /** How an https target is reached (upstream/tls.ts); null for http. */
  readonly tls: UpstreamTls | null;
  /** The last TLS session the target gave: new connections resume it (a cheaper handshake). */
  #session: Buffer | undefined = undefined;
  readonly #options: PoolOptions;
  readonly #connectTimeoutMs: number;
  readonly #maxHeadBytes: number;
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();
  /** FIFO of exchanges waiting for a connection, each until `timeouts.connect` has passed: a
   *  connection that is busy is no nearer than one that does not answer the connect. */
  readonly #waiting: Waiting[] = [];
  /** Connections being opened, each destined for the waiter that asked (or the queue). */
  readonly #connecting = new Map<UpstreamConnection, PoolWaiter | null>();
  #closed = false;
  readonly #dial: Dial | null;
  #dialGen = 0;
  /** Its runtime generation was replaced by a reload: no connection is kept idle any more. */
  #retired = false;

  /** `connectTimeoutMs`: the default; a route may ask for its own in acquire(). `tls`: how an
   *  https target is reached; `dial`: where a target's name points (upstream/target.ts). */
  constructor(target: UpstreamTarget, options: PoolOptions, connectTimeoutMs: number, maxHeadBytes: number, tls: UpstreamTls | null = null, dial: Dial | null = null) {
    this.target = target;
    this.tls = tls;
    this.#options = options;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#maxHeadBytes = maxHeadBytes;
    this.#dial = dial;
    if (dial !== null) this.#dialGen = dial.generation();
  }

  get size(): number { return this.#all.size; }
  get idleCount(): number { return this.#idle.length; }
  get waitingCount(): number { return this.#waiting.length; }

  /** Hands the waiter a connection: synchronously when one is idle (the hot path). */
  acquire(waiter: PoolWaiter, connectMs = this.#connectTimeoutMs): void {
    const now = Date.now();
    // The target's name now resolves elsewhere: no request goes to the old address again.
    if (this.#dial !== null && this.#dial.generation() !== this.#dialGen) {
      this.#dialGen = this.#dial.generation();
      for (const conn of this.#idle.splice(0)) conn.destroy();
    }
    while (this.#idle.length > 0) {
      const conn = this.#idle.pop()!;
      if (conn.state === ConnState.Idle && conn.deadline > now && !conn.socket.destroyed && !conn.socket.readableEnded) {
        waiter.onConnection(conn, now);
        return;
      }
      conn.destroy();
    }
    if (this.#all.size < this.#options.max_connections) {
      this.#open(waiter, connectMs);
      return;
    }
    this.#queue(waiter, connectMs);
  }

  #queue(waiter: PoolWaiter, connectMs: number): void {
    this.#waiting.push({ waiter, connectMs, until: Date.now() + connectMs });
  }

  /** A fresh connection for a retry, bypassing the idle stack (the failed one was idle). */
  acquireFresh(waiter: PoolWaiter, connectMs = this.#connectTimeoutMs): void {
    if (this.#all.size < this.#options.max_connections) this.#open(waiter, connectMs);
    else this.#queue(waiter, connectMs);
  }

  /** Removes a waiter that gave up (client went away). */
  cancel(waiter: PoolWaiter): void {
    const i = this.#waiting.findIndex((w) => w.waiter === waiter);
    if (i >= 0) this.#waiting.splice(i, 1);
    for (const [conn, w] of this.#connecting) if (w === waiter) this.#connecting.set(conn, null);
  }

  /** UpstreamEndpoint: the resolver's addresses for a target's name (tunnels dial through it too). */
  get lookup(): LookupFunction | undefined { return this.#dial?.lookup; }

  #open(waiter: PoolWaiter | null, connectMs: number): void {
    const conn = new UpstreamConnection(this, connectMs, this.#maxHeadBytes, this, this.#session);
    this.#all.add(conn);
    this.#connecting.set(conn, waiter);
  }

  // ConnectionOwner ----------------------------------------------------------------------
  onConnected(conn: UpstreamConnection): void {
    const waiter = this.#connecting.get(conn) ?? null;
    this.#connecting.delete(conn);
    if (waiter !== null) waiter.onConnection(conn);
    else this.onReusable(conn);
  }

  onSession(session: Buffer): void {
    this.#session = session;
  }

  onConnectFailed(conn: UpstreamConnection, err: ProxyError): void {
    // A session the target no longer accepts must not fail every later handshake.
    if (err.code === 'PC_ERR_UPSTREAM_TLS') this.#session = undefined;
    const waiter = this.#connecting.get(conn) ?? null;
    this.#connecting.delete(conn);
    this.#all.delete(conn);
    if (waiter !== null) waiter.onConnectionError(err);
    // Queued exchanges would wait for a slot that a dead upstream never frees: fail them too.
    if (this.#all.size === 0) {
      const waiting = this.#waiting.splice(0);
      for (const w of waiting) w.waiter.onConnectionError(err);
    }
  }

  onReusable(conn: UpstreamConnection, now = Date.now()): void {
    if (this.#closed) { conn.destroy(); return; }
    const next = this.#waiting.shift();
    if (next !== undefined) { next.waiter.onConnection(conn); return; }
    if (this.#retired) { conn.destroy(); return; }
    let idleMs = this.#options.idle_timeout;
    // timeout=0 (RFC-wise "I close at once") leaves a negative budget: never reused.
    if (conn.keepAliveMs >= 0) idleMs = Math.min(idleMs, conn.keepAliveMs - KEEP_ALIVE_MARGIN_MS);
    if (idleMs <= 0) { conn.destroy(); return; }
    conn.deadline = now + idleMs;
    this.#idle.push(conn);
  }

  onClosed(conn: UpstreamConnection): void {
    this.#all.delete(conn);
    this.#connecting.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    // A slot freed up: open a connection for the first queued exchange.
    if (!this.#closed && this.#waiting.length > 0 && this.#all.size < this.#options.max_connections) {
      const next = this.#waiting.shift()!;
      this.#open(next.waiter, next.connectMs);
    }
  }

  /** Worker clock tick: expire connect/response/idle deadlines. */
  sweep(now: number): void {
    for (const conn of this.#all) if (conn.deadline <= now && conn.deadline !== 0) conn.expire();
    // Routes wait with their own connect timeouts: any waiter may have expired.
    if (this.#waiting.length === 0) return;
    const expired: Waiting[] = [];
    for (let i = 0; i < this.#waiting.length; ) {
      if (this.#waiting[i]!.until <= now) expired.push(...this.#waiting.splice(i, 1));
      else i++;
    }
    for (const { waiter } of expired) {
      waiter.onConnectionError(new ProxyError('PC_ERR_UPSTREAM_UNAVAILABLE', `no free connection to ${this.target.url} within timeouts.connect (max_connections ${this.#options.max_connections} busy)`));
    }
  }

  /**
   * A reload replaced this pool's generation (downstream/generations.ts): idle connections close
   * now, busy ones when their exchange ends; exchanges already queued here are still served.
   */
  retire(): void {
    this.#retired = true;
    for (const conn of this.#idle.splice(0)) conn.destroy();
  }

  close(): void {
    this.#closed = true;
    for (const conn of [...this.#all]) conn.destroy();
  }
}
