// The metrics segment (shm/metrics.ts): worker threads count into their own columns of one
// SharedArrayBuffer, declaring series in a shared directory under a lock; the primary's reader
// sums every column. Real threads, the compiled modules the proxy runs.
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { allocateMetricsMemory, readRecords, type MetricsMemory } from '../../src/shm/metrics.js';
import { MetricsReader } from '../../src/observe/metrics-read.js';

const WORKER = new URL('./metrics-worker.mjs', import.meta.url);

function run(mem: MetricsMemory, column: number, opts: { before?: number; after?: number; series?: number; gaugeValue?: number } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: { mem, column, before: 0, after: 0, series: 0, gaugeValue: 0, ...opts } });
    w.once('message', () => { void w.terminate().then(() => resolve()); });
    w.once('error', reject);
  });
}

const value = (r: MetricsReader, name: string, labels: string[] = [], columns?: number[]): number | undefined =>
  r.read(columns).find((f) => f.name === name)?.series.find((s) => s.labels.join() === labels.join())?.value;

describe('metrics in shared memory', () => {
  test('two threads count into their columns; the reader sums them, or reads one', async () => {
    const mem = allocateMetricsMemory(2);
    await Promise.all([run(mem, 0, { before: 3, after: 100, gaugeValue: 4 }), run(mem, 1, { before: 0, after: 50, gaugeValue: 6 })]);
    const r = new MetricsReader(mem);
    expect(value(r, 't_requests_total', ['/a'])).toBe(153);
    expect(value(r, 't_requests_total', ['/a'], [0])).toBe(103);
    expect(value(r, 't_requests_total', ['/a'], [1])).toBe(50);
    expect(value(r, 't_open')).toBe(10);
    expect(value(r, 't_requests_total', ['/only-0'])).toBe(1);
    expect(value(r, 't_requests_total', ['/only-1'])).toBe(2);
    const h = r.read().find((f) => f.name === 't_seconds')!;
    expect(h.bucketBounds).toEqual([0.1, 1]);
    // 150 observations: 75 at 0.05 s, 75 at 5 s (in the +Inf bucket); buckets are cumulative.
    expect(h.series[0]!.buckets).toEqual([75, 75, 150]);
    expect(h.series[0]!.value).toBeCloseTo(75 * 0.05 + 75 * 5);
  });

  test('a replacement thread on the same column keeps counting from its predecessor\'s values; gauges are zeroed for it', async () => {
    const mem = allocateMetricsMemory(1);
    await run(mem, 0, { after: 10, gaugeValue: 7 });
    const r = new MetricsReader(mem);
    expect(value(r, 't_open')).toBe(7);
    r.zeroGauges(0);
    expect(value(r, 't_open')).toBe(0);
    expect(value(r, 't_requests_total', ['/a'])).toBe(10);
    await run(mem, 0, { before: 2, after: 5, gaugeValue: 1 });
    expect(value(r, 't_requests_total', ['/a'])).toBe(17);
    expect(value(r, 't_open')).toBe(1);
  });

  test('threads declaring 300 series each at once: every series once in the directory, no count lost', async () => {
    const mem = allocateMetricsMemory(4);
    await Promise.all([0, 1, 2, 3].map((c) => run(mem, c, { series: 300 })));
    const { records } = readRecords(mem, 0);
    const keys = records.map((x) => `${x.name} ${x.labels.join()}`);
    expect(new Set(keys).size).toBe(keys.length);
    const cells = records.map((x) => x.cell);
    expect(new Set(cells).size).toBe(cells.length);
    const r = new MetricsReader(mem);
    for (const i of [0, 150, 299]) expect(value(r, 't_requests_total', [`/s${i}`])).toBe(4);
  });

  test('when the cells run out, later series are dropped (said once), counting goes on', async () => {
    // 1 (t_requests_total /a) + 4 (histogram) + 1 (gauge) + 2 = 8 cells: /s0 and /s1 fit, the rest do not.
    const mem = allocateMetricsMemory(1, 8);
    await run(mem, 0, { after: 3, series: 5 });
    const r = new MetricsReader(mem);
    expect(value(r, 't_requests_total', ['/a'])).toBe(3);
    const names = r.read().flatMap((f) => f.series.map((s) => s.labels.join()));
    expect(names).toContain('/s1');
    expect(names).not.toContain('/s4');
  });
});
