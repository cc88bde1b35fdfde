// One load run: autocannon (default) or wrk, in a child process pinned to the load core, time-bounded.
import { fileURLToPath } from 'node:url';

import { assertLoopback } from './net.js';
import { run } from './proc.js';

export type Tool = 'autocannon' | 'wrk';

export interface LoadSpec {
  readonly tool: Tool;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly connections: number;
  readonly pipelining: number;
  readonly seconds: number;
  readonly cpus: string;
  readonly wrkThreads: number;
  /** Fixed total req/s (autocannon `overallRate`); undefined: as fast as possible. */
  readonly rate?: number | undefined;
  /** Request headers sent with every request (e.g. Accept-Encoding). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

export interface LoadResult {
  /** 2xx responses. */
  readonly ok: number;
  /** Socket errors, timeouts, body mismatches. */
  readonly errors: number;
  readonly non2xx: number;
  readonly seconds: number;
  /** 2xx responses per second. */
  readonly rps: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly bytesPerSec: number;
}

const CHILD = fileURLToPath(new URL('./autocannon-child.js', import.meta.url));

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  assertLoopback(spec.host);
  const url = `http://${spec.host}:${spec.port}${spec.path}`;
  // generous bound: tool start-up, 1000-connection ramp, the 10 s request timeout
  const timeoutMs = spec.seconds * 1000 + 30_000;
  if (spec.tool === 'wrk' && spec.rate === undefined) {
    if (spec.pipelining !== 1) throw new Error('BENCH_TOOL=wrk supports PIPELINING=1 only');
    const threads = Math.min(spec.wrkThreads, spec.connections);
    const r = await run({
      name: 'wrk',
      argv: [
        'wrk', `-t${threads}`, `-c${spec.connections}`, `-d${spec.seconds}s`, '--latency',
        ...Object.entries(spec.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
        url,
      ],
      cpus: spec.cpus,
      timeoutMs,
    });
    if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return parseWrk(r.stdout);
  }
  const args = JSON.stringify({ url, connections: spec.connections, pipelining: spec.pipelining, duration: spec.seconds, rate: spec.rate, headers: spec.headers });
  const r = await run({ name: 'autocannon', argv: [process.execPath, CHILD, args], cpus: spec.cpus, timeoutMs });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`autocannon exited ${r.code}: ${r.stderr.trim()}`);
  // JSON turns NaN (no 2xx, no latency) into null
  const raw = JSON.parse(line) as Record<keyof LoadResult, number | null>;
  const num = (v: number | null): number => (typeof v === 'number' ? v : NaN);
  return {
    ok: num(raw.ok),
    errors: num(raw.errors),
    non2xx: num(raw.non2xx),
    seconds: num(raw.seconds),
    rps: num(raw.rps),
    p50ms: num(raw.p50ms),
    p99ms: num(raw.p99ms),
    bytesPerSec: num(raw.bytesPerSec),
  };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const UNIT_BYTES: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

function ms(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
}

/** Parses `wrk --latency` text output. */
export function parseWrk(out: string): LoadResult {
  const total = Number(/(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out)?.[1] ?? NaN);
  const span = /\d+ requests in ([\d.]+(?:us|ms|s|m)),/.exec(out)?.[1];
  const seconds = ms(span) / 1000;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(out);
  const ok = total - non2xx;
  if (!Number.isFinite(total) || !Number.isFinite(seconds)) throw new Error(`cannot parse wrk output:\n${out}`);
  return {
    ok,
    errors,
    non2xx,
    seconds,
    rps: ok / seconds,
    p50ms: ms(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99ms: ms(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    bytesPerSec: transfer ? Number(transfer[1]) * UNIT_BYTES[transfer[2]!]! : NaN,
  };
}
