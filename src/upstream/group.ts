// One upstream group as a worker runs it: its targets, its selection policy over an immutable
// snapshot (rebuilt when the shared target table changes), what happens when no target is
// available (wait in a bounded queue, 503), and the passive-health outcomes of its tries.
import type { UpstreamGroup } from '../config/types.js';
import type { Exchange } from '../exchange.js';
import { ProxyError } from '../errors.js';
import { counter, type CounterHandle } from '../observe/metrics.js';
import { makePolicy, type Policy } from './balancer/policy.js';
import { buildSnapshot, type GroupSnapshot } from './balancer/snapshot.js';
import { stickyCookie, stickyPolicy } from './balancer/sticky.js';
import { recordFailure, recordSuccess } from './health/passive.js';
import type { TargetCell, TargetTable } from './health/table.js';
import { Target } from './target.js';
import { compileContext, upstreamTls } from './tls.js';

/** Where a worker's operational lines go (the primary prints them). */
export interface RuntimeEvents {
  log(level: 'info' | 'warn' | 'error', message: string): void;
}

export const SILENT: RuntimeEvents = { log: () => {} };

const ejections = counter('portcullis_upstream_ejections_total', 'Targets ejected by passive health (outlier detection)', ['upstream', 'target']);
const fullAnswers = counter('portcullis_upstream_full_total', 'Requests refused with 503 because every target was full and its queue too', ['upstream']);
const panics = counter('portcullis_upstream_panic_requests_total', 'Requests sent while no target was healthy (panic: every target tried)', ['upstream']);

export class CompiledUpstream {
  readonly name: string;
  readonly config: UpstreamGroup;
  readonly targets: readonly Target[];
  readonly #policy: Policy;
  readonly #table: TargetTable;
  readonly #cells: readonly TargetCell[];
  readonly #events: RuntimeEvents;
  readonly #full: CounterHandle;
  readonly #panic: CounterHandle;
  #snap: GroupSnapshot;

  constructor(config: UpstreamGroup, table: TargetTable, connectTimeoutMs: number, maxHeadBytes: number, events: RuntimeEvents) {
    this.name = config.name;
    this.config = config;
    this.#table = table;
    this.#events = events;
    // One SecureContext per group (CA bundle and client certificate read once per runtime).
    const context = config.targets.some((t) => t.https) ? compileContext(config.tls) : null;
    this.targets = config.targets.map((t, i) => new Target(config.name, t, i, config.pool, table.cell(config.name, t.url), connectTimeoutMs, maxHeadBytes,
      context === null ? null : upstreamTls(t, config.tls, context)));
    this.#cells = this.targets.map((t) => t.cell);
    const policy = makePolicy(config.balance, this.targets.length);
    this.#policy = config.sticky === undefined ? policy : stickyPolicy(policy, config.sticky.cookie);
    this.#full = fullAnswers.with(config.name);
    this.#panic = panics.with(config.name);
    this.#snap = buildSnapshot(this.targets, table.generation(), Date.now(), config.slow_start);
  }

  /** The current snapshot: one shared-memory load per call; rebuilt only when something changed. */
  snapshot(now: number): GroupSnapshot {
    const snap = this.#snap;
    const gen = this.#table.generation();
    if (gen === snap.gen && now < snap.validUntil) return snap;
    return (this.#snap = buildSnapshot(this.targets, gen, now, this.config.slow_start));
  }

  /**
   * The target for the next try: one the policy finds available, never one in `tried` (a retry
   * goes to another target, as nginx's proxy_next_upstream does); when every candidate is full,
   * the one with the shortest wait queue, unless that queue is full too (503
   * PC_ERR_UPSTREAM_FULL). null: a retry has no other target left.
   */
  pick(ex: Exchange, tried: readonly Target[] | null, now: number): Target | ProxyError | null {
    const snap = this.snapshot(now);
    const cs = snap.candidates;
    if (cs.length === 0) return tried !== null ? null : new ProxyError('PC_ERR_UPSTREAM_UNAVAILABLE', `upstream ${this.name}: no target has an address yet`);
    const c = this.#policy.select(snap, ex, tried);
    if (c !== null) {
      if (snap.panic) this.#panic.inc();
      return c.target;
    }
    let best: Target | null = null;
    for (const x of cs) {
      const t = x.target;
      if (tried !== null && tried.includes(t)) continue;
      if (best === null || t.pool.waitingCount < best.pool.waitingCount) best = t;
    }
    if (best === null) return null;
    if (best.pool.waitingCount >= best.queue) {
      this.#full.inc();
      return new ProxyError('PC_ERR_UPSTREAM_FULL', `upstream ${this.name}: every target has max_connections requests in flight and ${best.queue} waiting`);
    }
    return best;
  }

  /** Whether a retry would find a candidate outside `tried` and `current`. */
  hasOther(tried: readonly Target[] | null, current: Target | null, now: number): boolean {
    for (const c of this.snapshot(now).candidates) {
      const t = c.target;
      if (t !== current && (tried === null || !tried.includes(t))) return true;
    }
    return false;
  }

  /** Targets in the order a WebSocket handshake tries them (tunnel.ts fails over in this order). */
  tunnelOrder(ex: Exchange, now: number): Target[] {
    const first = this.pick(ex, null, now);
    const rest = this.snapshot(now).candidates.map((c) => c.target);
    if (first === null || first instanceof ProxyError) return rest;
    return [first, ...rest.filter((t) => t !== first)];
  }

  /** A try got an answer below 500. */
  succeeded(t: Target): void {
    if (this.config.passive !== false) recordSuccess(t.cell);
  }

  /** A try failed on the upstream's side: connect error, reset, timeout, invalid answer or 5xx. */
  failed(t: Target, now: number, why: string): void {
    const passive = this.config.passive;
    if (passive === false) return;
    const ejection = recordFailure(t.cell, this.#cells, passive, now);
    if (ejection === null) return;
    ejections.with(this.name, t.url).inc();
    const n = ejection.count > 1 ? ` (${ejection.count} in a row)` : '';
    this.#events.log('warn', `upstream ${this.name}: ${t.url} ejected for ${Math.round((ejection.until - now) / 1000)} s after ${passive.failures} failures${n}; last: ${why}`);
  }

  /** The Set-Cookie value for a sticky group when the answer came from another target than the cookie named. */
  stickyCookie(ex: Exchange, t: Target): string | null {
    const sticky = this.config.sticky;
    return sticky === undefined ? null : stickyCookie(ex, t, sticky);
  }

  get pools(): Target['pool'][] {
    return this.targets.map((t) => t.pool);
  }
}
