// What the primary runs for upstreams, once per proxy: DNS re-resolution of target names and
// active health checks, both writing into the shared target table the workers balance over.
// apply() again with a new config (a reload) keeps every target's state: it is keyed by
// upstream name + target URL, not by position.
import type { Config } from '../../config/types.js';
import { ADDR_RESOLVED, ADDR_RESOLVING, ADDR_UNRESOLVED, type TargetTableMemory } from '../../shm/target-table.js';
import { stateName } from './active.js';
import { HealthChecker } from './checker.js';
import { TargetResolver, type Log } from './resolver.js';
import { TargetTable } from './table.js';

/** What the admin API shows of a target's shared state. */
export interface TargetHealth {
  /** Active checks: pending until the first, or without checks. */
  readonly state: 'pending' | 'healthy' | 'unhealthy';
  /** Passive health: until when it gets no traffic (ms since the epoch), or null. */
  readonly ejected_until: number | null;
  /** For a DNS name: its addresses, 'resolving' or 'unresolved'; null for an IP literal or an unmanaged name. */
  readonly addresses: readonly string[] | 'resolving' | 'unresolved' | null;
}

export class UpstreamMonitor {
  readonly #resolver: TargetResolver;
  readonly #checker: HealthChecker;
  readonly #table: TargetTable;

  constructor(memory: TargetTableMemory, log: Log) {
    const table = new TargetTable(memory);
    this.#table = table;
    this.#resolver = new TargetResolver(table, log);
    this.#checker = new HealthChecker(table, log);
  }

  apply(config: Config): void {
    this.#resolver.apply(config);
    this.#checker.apply(config);
  }

  /** A target's shared state as every worker sees it. */
  health(upstream: string, url: string): TargetHealth {
    const cell = this.#table.cell(upstream, url);
    const until = cell.ejectedUntil;
    const a = cell.addrState;
    return {
      state: stateName(cell.state),
      ejected_until: until > Date.now() ? until : null,
      addresses: a === ADDR_RESOLVED ? cell.addresses() : a === ADDR_RESOLVING ? 'resolving' : a === ADDR_UNRESOLVED ? 'unresolved' : null,
    };
  }

  stop(): void {
    this.#resolver.stop();
    this.#checker.stop();
  }
}
