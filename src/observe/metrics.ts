// Metrics every capability reports into: counters, gauges and histograms, declared once
// (at module load or when a Runtime is built) and then updated through cheap handles on the
// hot path (a number added to a slot, no lookup, no allocation).
//
// Storage is per worker thread for now. The operations issue moves the slots into shared
// memory (src/shm/) so the primary can read every worker's values without messages, and adds
// the Prometheus exposition; callers keep using these same functions.
//
//   const upstreamRetries = counter('portcullis_upstream_retries_total', 'Retries sent upstream', ['upstream']);
//   const retries = upstreamRetries.with('app');   // once, when the Runtime is built
//   retries.inc();                                  // per event
//
// Names follow Prometheus conventions: `portcullis_` prefix, `_total` for counters, base
// units (seconds, bytes). Label values must stay a small set (route names, status classes,
// reason codes), never client input.

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface CounterHandle { inc(n?: number): void }
export interface GaugeHandle { set(v: number): void; inc(n?: number): void; dec(n?: number): void }
export interface HistogramHandle { observe(v: number): void }

export interface Family<H> {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labelNames: readonly string[];
  /** The handle for one set of label values (in labelNames order); the same object on every call. */
  with(...values: string[]): H;
}

/** One labelled series as read by collect(). */
export interface Series {
  readonly labels: readonly string[];
  /** Counter/gauge value; for histograms the sum of observations. */
  readonly value: number;
  /** Histograms: cumulative counts per upper bound (buckets order), then the total count. */
  readonly buckets?: readonly number[];
}

export interface FamilySnapshot {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labelNames: readonly string[];
  readonly bucketBounds?: readonly number[];
  readonly series: readonly Series[];
}

interface Cell { value: number; counts: Float64Array | null }

class FamilyImpl<H> implements Family<H> {
  readonly #cells = new Map<string, { labels: string[]; cell: Cell; handle: H }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: MetricKind,
    readonly labelNames: readonly string[],
    readonly bounds: readonly number[] | undefined,
    readonly make: (cell: Cell) => H,
  ) {}

  with(...values: string[]): H {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: expected ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`);
    }
    const key = values.join('\u0000');
    let entry = this.#cells.get(key);
    if (entry === undefined) {
      const cell: Cell = { value: 0, counts: this.bounds ? new Float64Array(this.bounds.length + 1) : null };
      entry = { labels: values, cell, handle: this.make(cell) };
      this.#cells.set(key, entry);
    }
    return entry.handle;
  }

  snapshot(): FamilySnapshot {
    const series: Series[] = [];
    for (const { labels, cell } of this.#cells.values()) {
      if (cell.counts === null) series.push({ labels, value: cell.value });
      else {
        const cumulative: number[] = [];
        let sum = 0;
        for (const c of cell.counts) { sum += c; cumulative.push(sum); }
        series.push({ labels, value: cell.value, buckets: cumulative });
      }
    }
    return { name: this.name, help: this.help, kind: this.kind, labelNames: this.labelNames, ...(this.bounds ? { bucketBounds: this.bounds } : {}), series };
  }
}

const families = new Map<string, FamilyImpl<unknown>>();

function declare<H>(name: string, help: string, kind: MetricKind, labelNames: readonly string[], bounds: readonly number[] | undefined, make: (cell: Cell) => H): Family<H> {
  const existing = families.get(name);
  if (existing !== undefined) {
    if (existing.kind !== kind || existing.labelNames.join() !== labelNames.join()) throw new Error(`metric ${name} declared twice with different shapes`);
    return existing as unknown as Family<H>;
  }
  const family = new FamilyImpl<H>(name, help, kind, labelNames, bounds, make);
  families.set(name, family as FamilyImpl<unknown>);
  return family;
}

export function counter(name: string, help: string, labelNames: readonly string[] = []): Family<CounterHandle> {
  return declare(name, help, 'counter', labelNames, undefined, (cell) => ({ inc(n = 1) { cell.value += n; } }));
}

export function gauge(name: string, help: string, labelNames: readonly string[] = []): Family<GaugeHandle> {
  return declare(name, help, 'gauge', labelNames, undefined, (cell) => ({
    set(v: number) { cell.value = v; },
    inc(n = 1) { cell.value += n; },
    dec(n = 1) { cell.value -= n; },
  }));
}

/** Latency buckets in seconds, nginx-to-slow-upstream range. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function histogram(name: string, help: string, labelNames: readonly string[] = [], bounds: readonly number[] = LATENCY_BUCKETS): Family<HistogramHandle> {
  return declare(name, help, 'histogram', labelNames, bounds, (cell) => ({
    observe(v: number) {
      cell.value += v;
      const counts = cell.counts!;
      let i = 0;
      while (i < bounds.length && v > bounds[i]!) i++;
      counts[i] = counts[i]! + 1;
    },
  }));
}

/** Every family declared in this thread, with its current values. */
export function collect(): FamilySnapshot[] {
  return [...families.values()].map((f) => f.snapshot());
}
