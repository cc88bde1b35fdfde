// A route's choice between upstream groups (gradual rollouts): a weighted split (smooth
// weighted round robin, so 95/5 is 95/5 from the first requests on), a canary that a header or
// cookie may force or refuse, and the canary's automatic rollback: once its shared window
// crosses a threshold its weight is 0 in every worker until its config changes.
import type { CanaryConfig, RouteConfig } from '../config/types.js';
import type { Exchange } from '../exchange.js';
import { cookieValue } from '../http/cookie.js';
import { counter } from '../observe/metrics.js';
import type { RolloutMemory } from '../shm/rollout.js';
import type { CompiledUpstream, RuntimeEvents } from './group.js';
import { CanaryWindow, rollbackReason } from './rollout.js';

const rollbacks = counter('portcullis_canary_rollbacks_total', 'Canaries rolled back automatically', ['route', 'upstream']);

/**
 * What a header or cookie says about the canary: 1 always, −1 never, 0 nothing. The header's
 * lines are read as one list (RFC 9110 §5.3), so `always` and `never` on two lines say what
 * `always, never` on one says: neither, the weights decide (a black-box helper found the two
 * forms disagreeing: the first line alone was read).
 */
function forced(ex: Exchange, canary: CanaryConfig): number {
  const v = canary.header !== undefined ? ex.headerList(canary.header) : undefined;
  const c = v === undefined && canary.cookie !== undefined ? cookieValue(ex.head.headers, canary.cookie) : v;
  if (c === undefined) return 0;
  const word = c.trim().toLowerCase();
  return word === 'always' ? 1 : word === 'never' ? -1 : 0;
}

export class RouteSplit {
  readonly #route: string;
  readonly #groups: readonly CompiledUpstream[];
  readonly #weights: readonly number[];
  readonly #current: Float64Array;
  readonly #canary: CanaryConfig | undefined;
  /** The canary's group, or null without a canary. */
  readonly canaryGroup: CompiledUpstream | null;
  /** Every group this split may choose (the canary's included), each once. */
  readonly groups: readonly CompiledUpstream[];
  readonly #window: CanaryWindow | null;
  readonly #events: RuntimeEvents;

  constructor(route: RouteConfig, name: string, groups: ReadonlyMap<string, CompiledUpstream>, rollouts: RolloutMemory | null, events: RuntimeEvents) {
    this.#route = name;
    this.#events = events;
    const entries = route.split ?? [{ upstream: route.upstream, weight: 1 }];
    this.#groups = entries.map((e) => groups.get(e.upstream)!);
    this.#weights = entries.map((e) => e.weight);
    this.#current = new Float64Array(entries.length);
    const canary = route.canary;
    this.#canary = canary;
    this.canaryGroup = canary === undefined ? null : groups.get(canary.upstream)!;
    this.groups = [...new Set(this.canaryGroup === null ? this.#groups : [...this.#groups, this.canaryGroup])];
    // The window's key is the canary as configured: a reload that changes it (or the canary
    // group's targets) starts a fresh window, one that changes nothing keeps a rollback.
    this.#window = canary?.rollback === undefined ? null : new CanaryWindow(
      rollouts,
      JSON.stringify([name, canary, groups.get(canary.upstream)!.config.targets]),
      canary.rollback.window,
    );
  }

  get rolledBack(): boolean {
    return this.#window !== null && this.#window.rolledBack;
  }

  /** The group for this request. */
  choose(ex: Exchange): CompiledUpstream {
    const canaryGroup = this.canaryGroup;
    let skipCanary = false;
    if (canaryGroup !== null) {
      if (this.rolledBack) skipCanary = true;
      else {
        const f = forced(ex, this.#canary!);
        if (f === 1) return canaryGroup;
        skipCanary = f === -1;
      }
    }
    const groups = this.#groups;
    const current = this.#current;
    let total = 0;
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < groups.length; i++) {
      if (skipCanary && groups[i] === canaryGroup) continue;
      const w = this.#weights[i]!;
      if (w <= 0) continue;
      const v = current[i]! + w;
      current[i] = v;
      total += w;
      if (v > bestValue) { bestValue = v; best = i; }
    }
    if (best < 0) {
      // Only the canary had weight, and it is skipped: the first other group takes it.
      for (const g of groups) if (g !== canaryGroup) return g;
      return groups[0]!;
    }
    current[best] = bestValue - total;
    return groups[best]!;
  }

  /** A finished exchange on `group`; counted when that is the canary (a client that left decides nothing). */
  record(ex: Exchange, group: CompiledUpstream, now: number): void {
    if (this.#window === null || group !== this.canaryGroup || ex.clientAborted) return;
    const failed = ex.status >= 500 || (ex.error !== null && ex.error.side === 'upstream');
    this.#window.record(failed, ex.upstreamHeaderMs >= 0 ? ex.upstreamHeaderMs : now - ex.startedAt, now);
  }

  /** Worker clock: rolls the canary back when its window crosses a threshold. */
  tick(now: number): void {
    const window = this.#window;
    if (window === null || window.rolledBack) return;
    const reason = rollbackReason(window.stats(now), this.#canary!.rollback!);
    if (reason === null || !window.markRolledBack()) return;
    rollbacks.with(this.#route, this.#canary!.upstream).inc();
    this.#events.log('warn', `route ${this.#route}: canary ${this.#canary!.upstream} rolled back: ${reason}; it gets no traffic until its config changes`);
  }
}
