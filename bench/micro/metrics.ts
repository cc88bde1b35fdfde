// Micro-benchmark: what metrics add to one request, in CPU ns: recordExchange (requests by
// route/status/method, the latency histogram, bytes) with the slots in the shared segment, as a
// worker counts them, against the same call with metrics off (a no-op: the floor).
// Run: npm run build:ts && taskset -c 1 node dist/bench/micro/metrics.js
// Env: ITERATIONS (calls per round), ROUNDS (the figure is the median).
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { envInt, measure } from './harness.js';

const ITERATIONS = envInt('ITERATIONS', 1_000_000);
const ROUNDS = envInt('ROUNDS', 7);

async function run(): Promise<number> {
  const { allocateMetricsMemory } = await import('../../src/shm/metrics.js');
  const { attachMetrics } = await import('../../src/observe/metrics.js');
  const { recordExchange } = await import('../../src/observe/request-metrics.js');
  const { Exchange } = await import('../../src/exchange.js');
  attachMetrics(allocateMetricsMemory(1), 0);
  // Four routes, mostly 2xx GETs, the occasional 404 and POST, as a proxy sees them.
  const routes = ['/', '/api/', '/static/', '/ws'].map((name) => ({ name }));
  const exchanges = Array.from({ length: 64 }, (_, i) => {
    const ex = new Exchange({ method: i % 16 === 0 ? 'POST' : 'GET', rawPath: '/x', query: '', headers: [], peerIp: '127.0.0.1', proxiedIp: '', scheme: 'http' }, Date.now() - (i % 7));
    ex.route = routes[i % 4] as never;
    ex.status = i % 32 === 0 ? 404 : 200;
    ex.responseBytes = 13;
    return ex;
  });
  return measure(ITERATIONS, ROUNDS, (n) => {
    for (let i = 0; i < n; i++) recordExchange(exchanges[i & 63]!);
  });
}

if (isMainThread) {
  // Each variant in its own thread: PORTCULLIS_METRICS is read once, when the registry loads.
  const variant = (metrics: 'on' | 'off'): Promise<number> => new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { metrics }, env: { ...process.env, PORTCULLIS_METRICS: metrics } });
    w.once('message', resolve);
    w.once('error', reject);
  });
  const on = await variant('on');
  const off = await variant('off');
  console.log(`recordExchange, CPU ns per call (median of ${ROUNDS} rounds of ${ITERATIONS.toLocaleString('en-US')}):`);
  console.log(`  metrics on (shared-memory slots)  ${on.toFixed(1)} ns`);
  console.log(`  metrics off (PORTCULLIS_METRICS)  ${off.toFixed(1)} ns`);
  console.log(`  added per request                 ${(on - off).toFixed(1)} ns`);
} else {
  void workerData;
  parentPort!.postMessage(await run());
}
