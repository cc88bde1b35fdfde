// The Prometheus text the admin API serves at /metrics, made by prom-client in the primary:
// its own metrics (build info, reloads, worker restarts, process CPU/memory/fds), the cache's
// fill read from shared memory, and every family the workers declared in the metrics segment
// (observe/metrics.ts), summed over workers at scrape time. Nothing is asked of the workers.
import client from 'prom-client';
import { collect, type FamilySnapshot } from '../observe/metrics.js';
import type { MetricsReader } from '../observe/metrics-read.js';
import type { CacheMemory } from '../shm/layout.js';
import { cacheFill } from './cache-stats.js';

interface PromValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * A family from shared memory, in the shape prom-client's Registry formats (name, help, type,
 * get()). Its values are the ones of the last read, refreshed before every scrape.
 */
class SharedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator = 'sum';
  snapshot: FamilySnapshot;

  constructor(snapshot: FamilySnapshot) {
    this.name = snapshot.name;
    this.help = snapshot.help;
    this.type = snapshot.kind;
    this.snapshot = snapshot;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: PromValue[] } {
    const f = this.snapshot;
    const values: PromValue[] = [];
    for (const s of f.series) {
      const labels: Record<string, string> = {};
      f.labelNames.forEach((n, i) => { labels[n] = s.labels[i]!; });
      if (f.kind !== 'histogram') { values.push({ labels, value: s.value }); continue; }
      const bounds = f.bucketBounds!;
      const buckets = s.buckets!;
      bounds.forEach((le, i) => values.push({ labels: { ...labels, le }, value: buckets[i]!, metricName: `${f.name}_bucket` }));
      const count = buckets[bounds.length]!;
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${f.name}_bucket` });
      values.push({ labels, value: s.value, metricName: `${f.name}_sum` });
      values.push({ labels, value: count, metricName: `${f.name}_count` });
    }
    return { name: f.name, help: f.help, type: f.kind, aggregator: this.aggregator, values };
  }

  reset(): void {}
}

export interface BuildInfo {
  readonly version: string;
  readonly node: string;
  readonly uws: string;
}

/** Resolution of `nodejs_eventloop_lag_*` (perf_hooks.monitorEventLoopDelay) in the primary. */
const EVENT_LOOP_SAMPLE_MS = 100;

export class Exposition {
  readonly registry = new client.Registry();
  readonly #reader: MetricsReader;
  readonly #shared = new Map<string, SharedFamily>();
  readonly reloads: client.Counter<'result'>;
  readonly restarts: client.Counter<'worker'>;
  readonly generation: client.Gauge;
  readonly lastReload: client.Gauge;
  /** 1 while open descriptors are at 90% of the limit or more (primary/fd-watch.ts). */
  readonly fdNearLimit: client.Gauge;
  #cache: () => CacheMemory | null;

  constructor(reader: MetricsReader, build: BuildInfo, cache: () => CacheMemory | null, workers: () => { state: string }[]) {
    this.#reader = reader;
    this.#cache = cache;
    const registers = [this.registry];
    // The event-loop-lag histogram samples on a timer: prom-client's default 10 ms woke an idle
    // primary 100 times a second. At 100 ms it wakes 10 times, and a stall of 100 ms or more
    // (the kind worth an alert in a process that serves no traffic) is still always seen.
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    new client.Gauge({ name: 'portcullis_build_info', help: 'Portcullis version and what it runs on (always 1)', labelNames: ['version', 'node', 'uws'], registers })
      .set({ version: build.version, node: build.node, uws: build.uws }, 1);
    this.reloads = new client.Counter({ name: 'portcullis_reloads_total', help: 'Config reloads, by result (ok, invalid, restart_required, failed)', labelNames: ['result'], registers });
    for (const result of ['ok', 'invalid', 'restart_required', 'failed']) this.reloads.inc({ result }, 0);
    this.restarts = new client.Counter({ name: 'portcullis_worker_restarts_total', help: 'Workers replaced after they exited, by worker slot', labelNames: ['worker'], registers });
    this.generation = new client.Gauge({ name: 'portcullis_config_generation', help: 'Config generation being served (1 at start, +1 per applied reload)', registers });
    this.generation.set(1);
    this.lastReload = new client.Gauge({ name: 'portcullis_config_last_reload_success_timestamp_seconds', help: 'When the running config was applied (start or last successful reload)', registers });
    this.lastReload.set(Date.now() / 1000);
    this.fdNearLimit = new client.Gauge({ name: 'portcullis_file_descriptors_near_limit', help: 'Whether open file descriptors are at 90% of the soft limit or more (checked every 5 s; back to 0 below 80%): new connections are not accepted at the limit', registers });
    this.fdNearLimit.set(0);
    new client.Gauge({
      name: 'portcullis_workers', help: 'Worker threads, by state (running, starting, restarting)', labelNames: ['state'], registers,
      collect() {
        this.reset();
        const counts: Record<string, number> = { running: 0, starting: 0, restarting: 0 };
        for (const w of workers()) counts[w.state] = (counts[w.state] ?? 0) + 1;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    const fill = (): ReturnType<typeof cacheFill> | null => { const c = this.#cache(); return c === null ? null : cacheFill(c); };
    new client.Gauge({ name: 'portcullis_cache_entries', help: 'Entries in the shared cache', registers, collect() { const f = fill(); this.set(f?.entries ?? 0); } });
    new client.Gauge({ name: 'portcullis_cache_size_bytes', help: 'Shared memory set aside for cached responses', registers, collect() { const f = fill(); this.set(f?.sizeBytes ?? 0); } });
    new client.Gauge({ name: 'portcullis_cache_stored_bytes', help: 'Bytes of live cache entries (heads and bodies)', registers, collect() { const f = fill(); this.set(f?.storedBytes ?? 0); } });
  }

  /**
   * Every worker family as of now (also what the dashboard and the admin API read), and the
   * families the primary itself counts into (health checks, DNS: upstream/health/), which live
   * in its own thread, not in the segment.
   */
  families(): FamilySnapshot[] {
    const shared = this.#reader.read();
    const names = new Set(shared.map((f) => f.name));
    return [...shared, ...collect().filter((f) => !names.has(f.name) && f.series.length > 0)];
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    for (const f of this.families()) {
      const known = this.#shared.get(f.name);
      if (known !== undefined) { known.snapshot = f; continue; }
      const family = new SharedFamily(f);
      this.#shared.set(f.name, family);
      // prom-client's Registry formats any object with name, help, type and get().
      this.registry.registerMetric(family as unknown as client.Metric);
    }
    return this.registry.metrics();
  }

  get contentType(): string { return this.registry.contentType; }
}
