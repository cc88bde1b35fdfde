// A thread that counts into the shared metrics segment like a proxy worker does (test helper
// for metrics-shm.test.ts; runs the compiled dist/ module, as the workers do).
import { parentPort, workerData } from 'node:worker_threads';

const { attachMetrics, counter, gauge, histogram } = await import(new URL('../../dist/src/observe/metrics.js', import.meta.url).href);
const { mem, column, before, after, series, gaugeValue } = workerData;

const requests = counter('t_requests_total', 'requests', ['route']);
const open = gauge('t_open', 'open');
const latency = histogram('t_seconds', 'latency', [], [0.1, 1]);
// Counted before the segment is attached: moved over with the handles.
for (let i = 0; i < before; i++) requests.with('/a').inc();
attachMetrics(mem, column);
const a = requests.with('/a');
for (let i = 0; i < after; i++) { a.inc(); latency.with().observe(i % 2 === 0 ? 0.05 : 5); }
open.with().set(gaugeValue);
// Many distinct series at once from several threads: the directory lock keeps them unique.
for (let i = 0; i < series; i++) requests.with(`/s${i}`).inc();
requests.with(`/only-${column}`).inc(column + 1);
parentPort.postMessage('done');
