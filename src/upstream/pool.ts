// Keep-alive connections to one upstream target, per worker: a LIFO idle stack (the
// warmest socket first), a cap on open connections, and a FIFO of exchanges waiting for one.
import type { PoolOptions, UpstreamTarget } from '../config/types.js';
import { ProxyError } from '../errors.js';
import { ConnState, UpstreamConnection, type ConnectionOwner } from './connection.js';

/** An exchange waiting for a connection. */
export interface PoolWaiter {
  /** `now`: Date.now() when the pool already read it (an idle connection handed over at once). */
  onConnection(conn: UpstreamConnection, now?: number): void;
  onConnectionError(err: ProxyError): void;
}

/** A queued exchange and when it stops waiting. */
interface Waiting {
  readonly waiter: PoolWaiter;
  readonly until: number;
}

/** Idle connections are closed this long before the upstream's own Keep-Alive timeout, so
 *  we never send on a socket the upstream is about to close (the idle race → 502). */
const KEEP_ALIVE_MARGIN_MS = 1000;

export class UpstreamPool implements ConnectionOwner {
  readonly target: UpstreamTarget;
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
  /** Its runtime generation was replaced by a reload: no connection is kept idle any more. */
  #retired = false;

  constructor(target: UpstreamTarget, options: PoolOptions, connectTimeoutMs: number, maxHeadBytes: number) {
    this.target = target;
    this.#options = options;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#maxHeadBytes = maxHeadBytes;
  }

  get size(): number { return this.#all.size; }
  get idleCount(): number { return this.#idle.length; }
  get waitingCount(): number { return this.#waiting.length; }

  /** Hands the waiter a connection: synchronously when one is idle (the hot path). */
  acquire(waiter: PoolWaiter): void {
    const now = Date.now();
    while (this.#idle.length > 0) {
      const conn = this.#idle.pop()!;
      if (conn.state === ConnState.Idle && conn.deadline > now && !conn.socket.destroyed && !conn.socket.readableEnded) {
        waiter.onConnection(conn, now);
        return;
      }
      conn.destroy();
    }
    if (this.#all.size < this.#options.max_connections) {
      this.#open(waiter);
      return;
    }
    this.#queue(waiter);
  }

  #queue(waiter: PoolWaiter): void {
    this.#waiting.push({ waiter, until: Date.now() + this.#connectTimeoutMs });
  }

  /** A fresh connection for a retry, bypassing the idle stack (the failed one was idle). */
  acquireFresh(waiter: PoolWaiter): void {
    if (this.#all.size < this.#options.max_connections) this.#open(waiter);
    else this.#queue(waiter);
  }

  /** Removes a waiter that gave up (client went away). */
  cancel(waiter: PoolWaiter): void {
    const i = this.#waiting.findIndex((w) => w.waiter === waiter);
    if (i >= 0) this.#waiting.splice(i, 1);
    for (const [conn, w] of this.#connecting) if (w === waiter) this.#connecting.set(conn, null);
  }

  #open(waiter: PoolWaiter | null): void {
    const { host, port } = this.target;
    const conn = new UpstreamConnection(host, port, this.#connectTimeoutMs, this.#maxHeadBytes, this);
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

  onConnectFailed(conn: UpstreamConnection, err: ProxyError): void {
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
      this.#open(this.#waiting.shift()!.waiter);
    }
  }

  /** Worker clock tick: expire connect/response/idle deadlines. */
  sweep(now: number): void {
    for (const conn of this.#all) if (conn.deadline <= now && conn.deadline !== 0) conn.expire();
    // FIFO with one timeout for all: the expired ones are at the front.
    while (this.#waiting.length > 0 && this.#waiting[0]!.until <= now) {
      const { waiter } = this.#waiting.shift()!;
      waiter.onConnectionError(new ProxyError('PC_ERR_UPSTREAM_UNAVAILABLE', `no free connection to ${this.target.url} within timeouts.connect (pool.max_connections ${this.#options.max_connections} busy)`));
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
