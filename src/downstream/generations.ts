// Config generations in one worker: the current Runtime that new requests get, and the older
// ones kept alive only until the requests that started on them have finished. A reload swaps
// the current generation; nothing in flight is moved or cut.
//
//   reload ─▶ swap(next) ─▶ old generation retired: its pools keep busy connections, close idle ones
//                            │ in-flight requests finish on it (their done() counts them down)
//                            ├─ after timeouts.drain: streams on routes the reload changed are closed
//                            └─ in-flight 0 ─▶ released: pools closed, its access log closed if no
//                                             other generation writes to it
//   more than MAX_GENERATIONS alive ─▶ the oldest retired one is released at once (its requests cut)
//
// WebSocket tunnels do not pin a generation (they hold no pooled connection): the front end
// closes the ones on changed routes with 1001 at the swap and keeps the others open.
import type { HttpResponse } from 'uWebSockets.js';
import { Exchange } from '../exchange.js';
import { ProxyError } from '../errors.js';
import { parse, route } from '../pipeline.js';
import type { CompiledRoute, Runtime } from '../runtime.js';
import type { AccessLog } from '../observe/access-log.js';
import type { RequestHead } from './contract.js';
import { UwsDownstream } from './uws-downstream.js';
import type { Connection, ConnectionTable } from './connections.js';

/** The current generation and at most this many older ones stay alive. */
export const MAX_GENERATIONS = 4;

/** What a finished exchange is reported to besides its generation's access log (metrics, error log). */
export type ExchangeSink = (ex: Exchange) => void;

export class Generation {
  readonly id: number;
  readonly runtime: Runtime;
  readonly log: AccessLog | null;
  /** Requests started on this generation and not finished. */
  inflight = 0;
  retired = false;
  released = false;
  /** After retirement: does this route (of this generation) have another definition now? */
  changed: ((r: CompiledRoute) => boolean) | null = null;
  /** Responses streamed without a length on this generation (pruned as they end). */
  readonly streams = new Set<TrackedDownstream>();
  readonly #sink: ExchangeSink;
  #onIdle: (() => void) | null = null;

  constructor(id: number, runtime: Runtime, log: AccessLog | null, sink: ExchangeSink) {
    this.id = id;
    this.runtime = runtime;
    this.log = log;
    this.#sink = sink;
  }

  /** One exchange of this generation is over (HTTP request, or a tunnel). */
  finished(ex: Exchange): void {
    if (this.log !== null) this.log(ex);
    this.#sink(ex);
  }

  /** An HTTP request of this generation finished (finished() plus the in-flight count). */
  done(ex: Exchange): void {
    this.inflight--;
    this.finished(ex);
    if (this.inflight === 0 && this.#onIdle !== null) this.#onIdle();
  }

  trackStream(ds: TrackedDownstream): void {
    if (this.streams.size >= 64) for (const s of this.streams) if (s.done) this.streams.delete(s);
    this.streams.add(ds);
  }

  /** Open streams whose route the reload changed are closed (the drain deadline passed). */
  closeChangedStreams(): number {
    let closed = 0;
    const changed = this.changed;
    for (const ds of [...this.streams]) {
      this.streams.delete(ds);
      if (ds.done || changed === null || ds.head === null) continue;
      const r = routeOf(ds.head, this.runtime);
      if (r === null || changed(r)) { ds.close(); closed++; }
      else this.streams.add(ds);
    }
    return closed;
  }

  /** Called once, when the last request finishes after retirement (or at once when none is left). */
  whenIdle(cb: () => void): void {
    this.#onIdle = cb;
    if (this.inflight === 0) cb();
  }
}

/** The route a request head was given by a runtime (null when it was refused before routing). */
export function routeOf(head: RequestHead, rt: Runtime): CompiledRoute | null {
  const ex = new Exchange(head, 0);
  if (parse(ex, rt) instanceof ProxyError) return null;
  if (route(ex, rt) !== null) return null;
  return ex.route;
}

/**
 * The uWS downstream that registers itself with its generation when its response streams
 * (a drain deadline may close it), and keeps its request head for finding its route again.
 */
export class TrackedDownstream extends UwsDownstream {
  /** The request, for finding its route again at a drain deadline. */
  head: RequestHead | null = null;
  readonly #gen: Generation;

  constructor(res: HttpResponse, gen: Generation, table: ConnectionTable, conn?: Connection | null) {
    super(res, table, conn);
    this.#gen = gen;
  }

  override writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    super.writeHead(status, reason, headers, bodyLength, noBody);
    if (bodyLength < 0 && !noBody && !this.done) this.#gen.trackStream(this);
  }
}

/** A worker's generations: the current one and the retired ones still finishing requests. */
export class Generations {
  #current: Generation;
  readonly #retired: Generation[] = [];
  readonly #onRelease: (g: Generation) => void;
  readonly #warn: (msg: string) => void;

  constructor(first: Generation, onRelease: (g: Generation) => void, warn: (msg: string) => void) {
    this.#current = first;
    this.#onRelease = onRelease;
    this.#warn = warn;
  }

  get current(): Generation { return this.#current; }

  /** Every live generation, current first. */
  all(): Generation[] { return [this.#current, ...this.#retired]; }

  /**
   * Makes `next` current. The old one finishes what it has; after `drainMs` its streams on
   * changed routes are closed.
   */
  swap(next: Generation, changed: (r: CompiledRoute) => boolean, drainMs: number): Generation {
    const old = this.#current;
    this.#current = next;
    old.retired = true;
    old.changed = changed;
    for (const pool of old.runtime.pools) pool.retire();
    this.#retired.push(old);
    const deadline = setTimeout(() => {
      if (old.released) return;
      const n = old.closeChangedStreams();
      if (n > 0) this.#warn(`generation ${old.id}: closed ${n} stream${n === 1 ? '' : 's'} on changed routes at the drain deadline`);
    }, drainMs);
    deadline.unref();
    old.whenIdle(() => { clearTimeout(deadline); this.#release(old); });
    while (this.#retired.length > MAX_GENERATIONS - 1) {
      const oldest = this.#retired[0]!;
      this.#warn(`generation ${oldest.id} still had ${oldest.inflight} request${oldest.inflight === 1 ? '' : 's'} in flight after ${MAX_GENERATIONS - 1} more reloads: closing them`);
      this.#release(oldest);
    }
    return old;
  }

  #release(g: Generation): void {
    if (g.released) return;
    g.released = true;
    const i = this.#retired.indexOf(g);
    if (i >= 0) this.#retired.splice(i, 1);
    for (const ds of g.streams) ds.close();
    g.streams.clear();
    for (const pool of g.runtime.pools) pool.close();
    this.#onRelease(g);
  }

  /** Worker exit: every pool of every generation. */
  closeAll(): void {
    for (const g of this.all()) for (const pool of g.runtime.pools) pool.close();
  }
}
