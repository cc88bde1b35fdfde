// What the primary runs for upstreams, once per proxy: DNS re-resolution of target names and
// active health checks, both writing into the shared target table the workers balance over.
// apply() again with a new config (a reload) keeps every target's state: it is keyed by
// upstream name + target URL, not by position.
import type { Config } from '../../config/types.js';
import type { TargetTableMemory } from '../../shm/target-table.js';
import { HealthChecker } from './checker.js';
import { TargetResolver, type Log } from './resolver.js';
import { TargetTable } from './table.js';

export class UpstreamMonitor {
  readonly #resolver: TargetResolver;
  readonly #checker: HealthChecker;

  constructor(memory: TargetTableMemory, log: Log) {
    const table = new TargetTable(memory);
    this.#resolver = new TargetResolver(table, log);
    this.#checker = new HealthChecker(table, log);
  }

  apply(config: Config): void {
    this.#resolver.apply(config);
    this.#checker.apply(config);
  }

  stop(): void {
    this.#resolver.stop();
    this.#checker.stop();
  }
}
