// Bench settings from env, validated once and printed at start.
import type { NginxHeaders } from '../nginx.js';
import type { Tool } from './load.js';

export type OriginKind = 'uws' | 'nginx';

export interface Settings {
  /** Client connections for the load cases that do not set their own. */
  readonly connections: number;
  /** Seconds measured per case and target. */
  readonly duration: number;
  readonly pipelining: number;
  /** Seconds of unmeasured load before each measured run. */
  readonly warmup: number;
  /** Rounds over all targets; the table shows medians. */
  readonly repeat: number;
  /** Case names to run (all when empty). */
  readonly cases: readonly string[];
  /** Targets to run (all when empty): direct, portcullis, nginx. */
  readonly targets: readonly string[];
  readonly tool: Tool;
  readonly wrkThreads: number;
  readonly origin: OriginKind;
  /** What the nginx baseline does per request (bench/nginx.ts NginxHeaders). */
  readonly nginxHeaders: NginxHeaders;
  /** Shell command for the proxy under test, with {port} {origin_port}; 'nginx' = an nginx stand-in. */
  readonly proxyCmd: string | undefined;
  /** A second build to measure in the same run (the 'before' row), same placeholders as PROXY_CMD. */
  readonly beforeCmd: string | undefined;
  /** PORTCULLIS_WORKERS for the proxy under test. */
  readonly workers: number;
  readonly idleConnections: number;
  /** CPU lists for taskset: the load generator + origin + this process, and the proxy under test. */
  readonly loadCpus: string;
  readonly proxyCpus: string;
  /** Hard bound on the whole run, seconds. */
  readonly timeout: number;
}

function int(name: string, dflt: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw}: want an integer ≥ ${min}`);
  return n;
}

function list(name: string): string[] {
  return (process.env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function oneOf<T extends string>(name: string, allowed: readonly T[], dflt: T): T {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`${name}=${raw}: want one of ${allowed.join(', ')}`);
  return raw as T;
}

export function readSettings(): Settings {
  return {
    connections: int('CONNECTIONS', 50, 1),
    duration: int('DURATION', 5, 1),
    pipelining: int('PIPELINING', 1, 1),
    warmup: int('WARMUP', 1, 0),
    repeat: int('REPEAT', 1, 1),
    cases: list('CASES'),
    targets: list('TARGETS'),
    tool: oneOf('BENCH_TOOL', ['autocannon', 'wrk'] as const, 'autocannon'),
    wrkThreads: int('WRK_THREADS', 1, 1),
    origin: oneOf('ORIGIN', ['uws', 'nginx'] as const, 'uws'),
    nginxHeaders: oneOf('NGINX_HEADERS', ['users', 'same', 'bare'] as const, 'users'),
    proxyCmd: process.env['PROXY_CMD'] || undefined,
    beforeCmd: process.env['BEFORE_CMD'] || undefined,
    workers: int('WORKERS', 1, 1),
    idleConnections: int('IDLE_CONNECTIONS', 10_000, 1),
    loadCpus: process.env['LOAD_CPUS'] || '0',
    proxyCpus: process.env['PROXY_CPUS'] || '1',
    timeout: int('BENCH_TIMEOUT', 600, 10),
  };
}

export function describeSettings(s: Settings): string {
  return [
    `CONNECTIONS=${s.connections} DURATION=${s.duration}s PIPELINING=${s.pipelining} WARMUP=${s.warmup}s REPEAT=${s.repeat}`,
    `BENCH_TOOL=${s.tool}${s.tool === 'wrk' ? ` WRK_THREADS=${s.wrkThreads}` : ''} ORIGIN=${s.origin} NGINX_HEADERS=${s.nginxHeaders} WORKERS=${s.workers} IDLE_CONNECTIONS=${s.idleConnections}`,
    `CASES=${s.cases.join(',') || '(all)'} TARGETS=${s.targets.join(',') || '(all)'} LOAD_CPUS=${s.loadCpus} PROXY_CPUS=${s.proxyCpus} BENCH_TIMEOUT=${s.timeout}s`,
    `PROXY_CMD=${s.proxyCmd ?? '(default: node dist/src/main.js proxy --from 127.0.0.1:{port} --to http://127.0.0.1:{origin_port})'}`,
    `BEFORE_CMD=${s.beforeCmd ?? '(none: no before row)'}`,
  ].join('\n');
}
