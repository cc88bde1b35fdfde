// Load-generator child: runs autocannon once and prints one JSON LoadResult line. Started (pinned) by load.ts.
// autocannon's own latency histogram has 1 ms resolution; responses are timed here in µs instead.
import autocannon from 'autocannon';

import type { LoadResult } from './load.js';

interface Args {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  rate?: number;
  headers?: Record<string, string>;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;

let latencies = new Float64Array(1 << 16);
let n = 0;
function record(ms: number): void {
  if (n === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[n++] = ms;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const instance = autocannon(
  {
    url: args.url,
    connections: args.connections,
    pipelining: args.pipelining,
    duration: args.duration,
    timeout: 10,
    ...(args.rate ? { overallRate: args.rate } : {}),
    ...(args.headers ? { headers: args.headers } : {}),
  },
  (err, r) => {
    if (err) {
      console.error(String(err));
      process.exit(1);
    }
    const sorted = latencies.subarray(0, n).sort();
    const out: LoadResult = {
      ok: r['2xx'],
      errors: r.errors + r.timeouts + r.mismatches,
      non2xx: r.non2xx,
      seconds: r.duration,
      rps: r['2xx'] / r.duration,
      p50ms: percentile(sorted, 50),
      p99ms: percentile(sorted, 99),
      bytesPerSec: r.throughput.average,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  },
);
instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
  if (status >= 200 && status < 300) record(ms);
});
