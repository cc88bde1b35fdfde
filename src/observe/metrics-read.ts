// The primary's side of the metrics segment: every series the workers declared, summed over
// the worker columns (or one column at a time), read straight from shared memory.
import { readSeries, type FamilySnapshot, type Series } from './metrics.js';
import { header, H_CELLS, H_COLS, readRecords, valuesOf, type MetricsMemory, type SeriesRecord } from '../shm/metrics.js';

export class MetricsReader {
  readonly #mem: MetricsMemory;
  readonly #values: Float64Array;
  readonly #cells: number;
  readonly #columns: number;
  #read = 0;
  /** Records by family name, in declaration order. */
  readonly #families = new Map<string, SeriesRecord[]>();

  constructor(mem: MetricsMemory) {
    this.#mem = mem;
    this.#values = valuesOf(mem);
    const h = header(mem);
    this.#cells = h[H_CELLS]!;
    this.#columns = h[H_COLS]!;
  }

  get columns(): number { return this.#columns; }

  #sync(): void {
    const { records, next } = readRecords(this.#mem, this.#read);
    this.#read = next;
    for (const r of records) {
      let list = this.#families.get(r.name);
      if (list === undefined) this.#families.set(r.name, (list = []));
      list.push(r);
    }
  }

  /**
   * Every family, each series summed over `columns` (default: all workers). Gauges sum too:
   * open connections of two workers are the proxy's open connections.
   */
  read(columns?: readonly number[]): FamilySnapshot[] {
    this.#sync();
    const cols = columns ?? Array.from({ length: this.#columns }, (_, i) => i);
    const out: FamilySnapshot[] = [];
    const scratch = new Float64Array(64);
    for (const [name, records] of this.#families) {
      const first = records[0]!;
      const series: Series[] = [];
      for (const r of records) {
        const n = r.kind === 'histogram' ? r.bounds!.length + 2 : 1;
        const sum = n <= scratch.length ? scratch.fill(0, 0, n) : new Float64Array(n);
        for (const c of cols) {
          const base = c * this.#cells + r.cell;
          for (let i = 0; i < n; i++) sum[i]! += this.#values[base + i]!;
        }
        series.push(readSeries(r.kind, r.bounds, r.labels, sum, 0));
      }
      out.push({ name, help: first.help, kind: first.kind, labelNames: first.labelNames, ...(first.bounds ? { bucketBounds: first.bounds } : {}), series });
    }
    return out;
  }

  /** A dead worker's gauges describe connections that died with it: zero them before its replacement counts. */
  zeroGauges(column: number): void {
    this.#sync();
    for (const records of this.#families.values()) {
      for (const r of records) if (r.kind === 'gauge') this.#values[column * this.#cells + r.cell] = 0;
    }
  }
}
