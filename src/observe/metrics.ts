// Metrics every capability reports into: counters, gauges and histograms, declared once
// (at module load or when a Runtime is built) and then updated through cheap handles on the
// hot path (a number added to a slot, no lookup, no allocation).
//
//   const upstreamRetries = counter('portcullis_upstream_retries_total', 'Retries sent upstream', ['upstream']);
//   const retries = upstreamRetries.with('app');   // once, when the Runtime is built
//   retries.inc();                                  // per event
//
// Storage: in a worker the slots live in the shared metrics segment (shm/metrics.ts), in this
// worker's column, so the primary reads every worker for /metrics (observe/metrics-read.ts)
// without messages. Until the worker attaches the segment (and in tools and unit tests, which
// never do) the slots are thread-local; attaching moves them over, values included, and the
// handles follow. A replaced worker's counters continue from its predecessor's values.
//
// Names follow Prometheus conventions: `portcullis_` prefix, `_total` for counters, base
// units (seconds, bytes). Label values must stay a small set (route names, status classes,
// reason codes), never client input: every new set of values takes shared memory for good.
//
// PORTCULLIS_METRICS=off (read once, at load) hands out handles that do nothing: the benchmark's
// "metrics off" row, and a way to rule metrics out when chasing a cost.
import { threadId } from 'node:worker_threads';
import {
  appendRecord,
  cellsOf,
  header,
  H_CELLS,
  lock,
  readRecords,
  unlock,
  valuesOf,
  type MetricKind,
  type MetricsMemory,
} from '../shm/metrics.js';

export type { MetricKind };

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

/** False when PORTCULLIS_METRICS=off: every handle is a no-op. */
export const metricsEnabled = !/^(off|0|false)$/i.test(process.env['PORTCULLIS_METRICS'] ?? '');

// ── storage ──────────────────────────────────────────────────────────────────────────────

/** Where the slots are: a thread-local array, or this worker's column of the shared segment. */
let slots = new Float64Array(1024);
let localNext = 0;
let shared: { mem: MetricsMemory; column: Float64Array; cells: Map<string, number>; read: number } | null = null;
/** Series that found no room in shared memory count here, unread (said once). */
const overflow = new Float64Array(64);
let overflowWarned = false;

abstract class Handle {
  /** The array and first slot of the series: both change when the worker attaches the segment. */
  a: Float64Array = slots;
  b = 0;
}
class CounterImpl extends Handle implements CounterHandle {
  inc(n = 1): void { this.a[this.b] += n; }
}
class GaugeImpl extends Handle implements GaugeHandle {
  set(v: number): void { this.a[this.b] = v; }
  inc(n = 1): void { this.a[this.b] += n; }
  dec(n = 1): void { this.a[this.b] -= n; }
}
class HistogramImpl extends Handle implements HistogramHandle {
  constructor(readonly bounds: readonly number[]) { super(); }
  observe(v: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    const a = this.a;
    const b = this.b;
    a[b + i] += 1;
    a[b + bounds.length + 1] += v;
  }
}

const NOOP = {
  inc(): void {},
  set(): void {},
  dec(): void {},
  observe(): void {},
};

interface Entry {
  readonly family: FamilyImpl<unknown>;
  readonly labels: readonly string[];
  readonly key: string;
  readonly handle: Handle;
}

/** Every series of this thread, in registration order (attach moves them in this order). */
const entries: Entry[] = [];

function keyOf(name: string, labels: readonly string[]): string {
  return labels.length === 0 ? name : `${name}\u0000${labels.join('\u0000')}`;
}

/** Reserves the slots of a new series and points its handle at them. */
function place(e: Entry): void {
  const f = e.family;
  const n = cellsOf(f.kind, f.bounds);
  if (shared === null) {
    if (localNext + n > slots.length) {
      const bigger = new Float64Array(Math.max(slots.length * 2, localNext + n));
      bigger.set(slots);
      slots = bigger;
      for (const other of entries) if (other.handle.a !== overflow) other.handle.a = slots;
    }
    e.handle.a = slots;
    e.handle.b = localNext;
    localNext += n;
    return;
  }
  const cell = sharedCell(e);
  if (cell < 0) {
    e.handle.a = overflow;
    e.handle.b = 0;
    if (!overflowWarned) {
      overflowWarned = true;
      process.stderr.write(`portcullis: warn: metrics: shared memory for series is full; ${f.name} and later new series are not reported\n`);
    }
    return;
  }
  e.handle.a = shared.column;
  e.handle.b = cell;
}

/** The series' cell in the segment: found in the directory, or appended to it. -1: full. */
function sharedCell(e: Entry): number {
  const s = shared!;
  syncDirectory();
  const known = s.cells.get(e.key);
  if (known !== undefined) return known;
  const owner = threadId + 1;
  if (!lock(s.mem, owner)) return -1;
  try {
    syncDirectory(); // another worker may have added it while we waited
    const again = s.cells.get(e.key);
    if (again !== undefined) return again;
    const f = e.family;
    const cell = appendRecord(s.mem, { name: f.name, kind: f.kind, help: f.help, labelNames: f.labelNames, labels: e.labels, bounds: f.bounds });
    if (cell >= 0) s.cells.set(e.key, cell);
    return cell;
  } finally {
    unlock(s.mem, owner);
  }
}

function syncDirectory(): void {
  const s = shared!;
  const { records, next } = readRecords(s.mem, s.read);
  s.read = next;
  for (const r of records) s.cells.set(keyOf(r.name, r.labels), r.cell);
}

/**
 * Moves this thread's series into column `column` of the shared segment (a worker, at start).
 * Values counted so far are added to what the column holds (a predecessor's counts).
 */
export function attachMetrics(mem: MetricsMemory, column: number): void {
  if (shared !== null) throw new Error('metrics: already attached');
  const cells = header(mem)[H_CELLS]!;
  const all = valuesOf(mem);
  shared = { mem, column: all.subarray(column * cells, (column + 1) * cells), cells: new Map(), read: 0 };
  for (const e of entries) {
    const { a: oldArray, b: oldBase } = e.handle;
    place(e);
    if (e.handle.a === overflow) continue;
    const n = cellsOf(e.family.kind, e.family.bounds);
    for (let i = 0; i < n; i++) e.handle.a[e.handle.b + i]! += oldArray[oldBase + i]!;
  }
  slots = new Float64Array(0);
  localNext = 0;
}

// ── families ─────────────────────────────────────────────────────────────────────────────

class FamilyImpl<H> implements Family<H> {
  readonly #series = new Map<string, Entry>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: MetricKind,
    readonly labelNames: readonly string[],
    readonly bounds: readonly number[] | undefined,
    readonly make: () => Handle,
  ) {}

  with(...values: string[]): H {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: expected ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`);
    }
    if (!metricsEnabled) return NOOP as H;
    const key = keyOf(this.name, values);
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { family: this as FamilyImpl<unknown>, labels: [...values], key, handle: this.make() };
      place(entry);
      this.#series.set(key, entry);
      entries.push(entry);
    }
    return entry.handle as H;
  }

  snapshot(): FamilySnapshot {
    const series: Series[] = [];
    for (const { labels, handle } of this.#series.values()) series.push(readSeries(this.kind, this.bounds, labels, handle.a, handle.b));
    return { name: this.name, help: this.help, kind: this.kind, labelNames: this.labelNames, ...(this.bounds ? { bucketBounds: this.bounds } : {}), series };
  }
}

/** One series' value (and cumulative buckets) from its slots. */
export function readSeries(kind: MetricKind, bounds: readonly number[] | undefined, labels: readonly string[], a: Float64Array, b: number): Series {
  if (kind !== 'histogram') return { labels, value: a[b]! };
  const buckets: number[] = [];
  let sum = 0;
  for (let i = 0; i <= bounds!.length; i++) { sum += a[b + i]!; buckets.push(sum); }
  return { labels, value: a[b + bounds!.length + 1]!, buckets };
}

const families = new Map<string, FamilyImpl<unknown>>();

function declare<H>(name: string, help: string, kind: MetricKind, labelNames: readonly string[], bounds: readonly number[] | undefined, make: () => Handle): Family<H> {
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
  return declare(name, help, 'counter', labelNames, undefined, () => new CounterImpl());
}

export function gauge(name: string, help: string, labelNames: readonly string[] = []): Family<GaugeHandle> {
  return declare(name, help, 'gauge', labelNames, undefined, () => new GaugeImpl());
}

/** Latency buckets in seconds, nginx-to-slow-upstream range. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function histogram(name: string, help: string, labelNames: readonly string[] = [], bounds: readonly number[] = LATENCY_BUCKETS): Family<HistogramHandle> {
  return declare(name, help, 'histogram', labelNames, bounds, () => new HistogramImpl(bounds));
}

/** Every family declared in this thread, with this thread's values. */
export function collect(): FamilySnapshot[] {
  return [...families.values()].map((f) => f.snapshot());
}

