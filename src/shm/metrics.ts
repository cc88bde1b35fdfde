// The metrics segment: every worker's counters, gauges and histograms in one SharedArrayBuffer,
// so the primary reads all of them for /metrics without a message per request or per scrape.
// observe/metrics.ts is the only writer of values; this file owns the layout and the directory.
//
//   byte 0                                                       64
//   ┌───────┬──────┬───────┬───────┬──────────┬────────┬─────────┐
//   │ MAGIC │ LOCK │ CELLS │ COLS  │ DIR_USED │ NEXT   │ (0) …   │  header, Int32 fields
//   └───────┴──────┴───────┴───────┴──────────┴────────┴─────────┘
//   then the directory, DIR_BYTES: series records appended under LOCK, never changed after
//   ┌─────────┬──────────────────────────────────────────────────────────┐
//   │ LEN u32 │ JSON {n: name, k: kind, h: help, l: label names,         │ …
//   │         │       v: label values, b: bucket bounds, c: first cell}  │
//   └─────────┴──────────────────────────────────────────────────────────┘ (padded to 4)
//   then the values, Float64 [COLS][CELLS]: column w belongs to worker slot w
//   ┌──────────── column 0 ────────────┬──────────── column 1 ───────────┬ …
//   │ cell 0 │ cell 1 │ … │ CELLS - 1  │ cell 0 │ …                      │
//   └──────────────────────────────────┴────────────────────────────────┴
//
//   LOCK      0 free, else threadId + 1 of the thread appending a record (registration is
//             rare: a Runtime build, a first status class): held for microseconds, spun on,
//             never waited on (no Atomics.wait in a uWS worker); the primary frees a dead
//             worker's lock
//   DIR_USED  bytes of directory published; stored after the record's bytes (readers load it
//             first, then read records below it)
//   NEXT      first free cell; a series of k cells takes cells NEXT … NEXT + k - 1 in every column
//   A counter or gauge is one cell; a histogram is one cell per bucket (its bounds, then +Inf:
//   counts, not cumulative) and one for the sum. A cell has one writer: its column's worker,
//   so a plain `+=` never loses an update. A replaced worker gets its slot's column back and
//   keeps counting from where its predecessor stopped (counters stay monotonic); the primary
//   zeroes a dead worker's gauges first (observe/metrics-read.ts).

export const METRICS_MAGIC = 0x50434d31; // "PCM1"

export const HEADER_BYTES = 64;
export const H_MAGIC = 0;
export const H_LOCK = 1;
export const H_CELLS = 2;
export const H_COLS = 3;
export const H_DIR_USED = 4;
export const H_NEXT = 5;

/** Directory bytes: about 150 bytes a series, so some 14,000 series. */
export const DIR_BYTES = 2 * 1024 * 1024;
/** Cells per worker column (8 bytes each): 256 KiB a worker. */
export const DEFAULT_CELLS = 32 * 1024;

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** One series as the directory records it. */
export interface SeriesRecord {
  readonly name: string;
  readonly kind: MetricKind;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly labels: readonly string[];
  /** Histogram bucket upper bounds (without +Inf); undefined for counters and gauges. */
  readonly bounds: readonly number[] | undefined;
  /** First cell of the series (same index in every column). */
  readonly cell: number;
}

export interface MetricsMemory {
  readonly buffer: SharedArrayBuffer;
}

/** Cells a series of `kind` takes. */
export function cellsOf(kind: MetricKind, bounds: readonly number[] | undefined): number {
  return kind === 'histogram' ? bounds!.length + 2 : 1;
}

/** Allocated once by the primary: `columns` worker slots of `cells` cells each. */
export function allocateMetricsMemory(columns: number, cells = DEFAULT_CELLS): MetricsMemory {
  const buffer = new SharedArrayBuffer(HEADER_BYTES + DIR_BYTES + columns * cells * 8);
  const h = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  h[H_MAGIC] = METRICS_MAGIC;
  h[H_CELLS] = cells;
  h[H_COLS] = columns;
  return { buffer };
}

/** The whole value area as one Float64Array: column w, cell c is at w * cells + c. */
export function valuesOf(mem: MetricsMemory): Float64Array {
  const h = header(mem);
  return new Float64Array(mem.buffer, HEADER_BYTES + DIR_BYTES, h[H_COLS]! * h[H_CELLS]!);
}

export function header(mem: MetricsMemory): Int32Array {
  return new Int32Array(mem.buffer, 0, HEADER_BYTES / 4);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Reads the records published after byte `from` of the directory; returns them and the offset
 * to resume from. Safe without the lock: records below DIR_USED never change.
 */
export function readRecords(mem: MetricsMemory, from: number): { records: SeriesRecord[]; next: number } {
  const used = Atomics.load(header(mem), H_DIR_USED);
  const bytes = new Uint8Array(mem.buffer, HEADER_BYTES, DIR_BYTES);
  const view = new DataView(mem.buffer, HEADER_BYTES, DIR_BYTES);
  const records: SeriesRecord[] = [];
  let at = from;
  while (at < used) {
    const len = view.getUint32(at, true);
    // TextDecoder copies out of shared memory; JSON keeps the record format readable in a dump.
    const r = JSON.parse(decoder.decode(bytes.slice(at + 4, at + 4 + len))) as { n: string; k: MetricKind; h: string; l: string[]; v: string[]; b: number[] | null; c: number };
    records.push({ name: r.n, kind: r.k, help: r.h, labelNames: r.l, labels: r.v, bounds: r.b ?? undefined, cell: r.c });
    at += 4 + ((len + 3) & ~3);
  }
  return { records, next: at };
}

/** Spins for the lock (owner = threadId + 1). False after `maxSpins` (a holder that never lets go). */
export function lock(mem: MetricsMemory, owner: number, maxSpins = 10_000_000): boolean {
  const h = header(mem);
  for (let i = 0; i < maxSpins; i++) {
    if (Atomics.compareExchange(h, H_LOCK, 0, owner) === 0) return true;
  }
  return false;
}

export function unlock(mem: MetricsMemory, owner: number): void {
  Atomics.compareExchange(header(mem), H_LOCK, owner, 0);
}

/** The primary, when a worker exits: a lock it held dies with it. */
export function releaseMetricsLockOf(mem: MetricsMemory, threadId: number): void {
  unlock(mem, threadId + 1);
}

/**
 * Appends a series record and reserves its cells. Call with the lock held, after reading
 * every record already there (the caller must know the series is new). Returns the first
 * cell, or -1 when the cells or the directory are full.
 */
export function appendRecord(mem: MetricsMemory, r: Omit<SeriesRecord, 'cell'>): number {
  const h = header(mem);
  const cells = cellsOf(r.kind, r.bounds);
  const cell = h[H_NEXT]!;
  if (cell + cells > h[H_CELLS]!) return -1;
  const json = encoder.encode(JSON.stringify({ n: r.name, k: r.kind, h: r.help, l: r.labelNames, v: r.labels, b: r.bounds ?? null, c: cell }));
  const used = h[H_DIR_USED]!;
  const size = 4 + ((json.length + 3) & ~3);
  if (used + size > DIR_BYTES) return -1;
  new DataView(mem.buffer, HEADER_BYTES, DIR_BYTES).setUint32(used, json.length, true);
  new Uint8Array(mem.buffer, HEADER_BYTES + used + 4, json.length).set(json);
  h[H_NEXT] = cell + cells;
  // Published last: a reader that sees the new DIR_USED sees the record's bytes (seq-cst).
  Atomics.store(h, H_DIR_USED, used + size);
  return cell;
}
