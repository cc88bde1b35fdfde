// The processes under measurement: the origin (the "direct" target), the proxy under test, nginx, and for the
// cache cases Portcullis and nginx configured with a cache and/or gzip (one process each, started only when a
// selected case measures it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { nginxInfo, startNginx, type NginxInfo } from '../nginx.js';
import { SMALL_BODY } from './bodies.js';
import { HOST, freePort, waitReady } from './net.js';
import { start, type Started } from './proc.js';
import { rssBytes } from './procfs.js';
import type { Settings } from './settings.js';

/** The cache cases' targets: what each one has switched on. */
export const CONFIGURED = {
  'portcullis+cache': { proxy: 'portcullis', cache: true, gzip: false, metrics: true, protect: false },
  // The cache-miss case: portcullis+cache's config file without the cache section.
  'portcullis-cache': { proxy: 'portcullis', cache: false, gzip: false, metrics: true, protect: false },
  'nginx+cache': { proxy: 'nginx', cache: true, gzip: false, metrics: true, protect: false },
  'portcullis+gzip': { proxy: 'portcullis', cache: false, gzip: true, metrics: true, protect: false },
  'nginx+gzip': { proxy: 'nginx', cache: false, gzip: true, metrics: true, protect: false },
  'portcullis+cache+gzip': { proxy: 'portcullis', cache: true, gzip: true, metrics: true, protect: false },
  'nginx+cache+gzip': { proxy: 'nginx', cache: true, gzip: true, metrics: true, protect: false },
  // The metrics case: the same config, workers counting into shared memory or not (PORTCULLIS_METRICS=off).
  'portcullis+metrics': { proxy: 'portcullis', cache: false, gzip: false, metrics: true, protect: false },
  'portcullis-metrics': { proxy: 'portcullis', cache: false, gzip: false, metrics: false, protect: false },
  // The protection case: the same config file and route, without and with a rate limit and an IP rule.
  'portcullis+route': { proxy: 'portcullis', cache: false, gzip: false, metrics: true, protect: false },
  'portcullis+protect': { proxy: 'portcullis', cache: false, gzip: false, metrics: true, protect: true },
} as const;
export type ConfiguredName = keyof typeof CONFIGURED;

/**
 * `floor`: bench/floor.ts, the cheapest proxy this front end allows (a measuring stick, not a proxy).
 * `hit-floor`: bench/hit-floor.ts, the cheapest cache hit this front end allows (a Map and one handler).
 * `nginx`: nginx with NGINX_HEADERS (default `users`: as its users run it); `nginx-same`: nginx doing the
 * per-request header work Portcullis does by default (NGINX_HEADERS=same), the "same work" column.
 */
export type TargetName = 'direct' | 'portcullis' | 'before' | 'floor' | 'hit-floor' | 'nginx' | 'nginx-same' | ConfiguredName;

/** Every target, in start (and measuring) order. */
export const TARGET_NAMES: readonly TargetName[] = ['direct', 'portcullis', 'before', 'floor', 'hit-floor', 'nginx', 'nginx-same', ...(Object.keys(CONFIGURED) as ConfiguredName[])];

/** How a target says a response came from its cache (the response header Cache-Status). */
export const HIT = /\bhit\b/i;

export interface Target {
  readonly name: TargetName;
  /** What actually runs, for the printout. */
  readonly label: string;
  readonly port: number;
  /** Root of the process tree whose CPU and RSS are measured. */
  readonly pid: number;
  /** Worker threads/processes, for RSS per worker. */
  readonly workers: number;
  /** RSS of the tree right after it answered its first request. */
  readonly rssStartMiB: number;
  /** Answers repeated GETs from a cache: its second GET must carry a Cache-Status matching HIT. */
  readonly caches: boolean;
  /** undefined while running; the exit code or signal once it has died. */
  exitStatus(): number | string | undefined;
  /** Its last output, for the report when it dies. */
  output(): string;
  stop(): Promise<void>;
}

/** Liveness and output of a started process, in Target's shape. */
function watch(proc: Started): Pick<Target, 'exitStatus' | 'output'> {
  let status: number | string | undefined;
  void proc.exited.then((s) => (status = s));
  return { exitStatus: () => status, output: () => proc.output() };
}

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const READY_MS = 15_000;

/** Waits for the first 200 and returns the RSS (MiB) at that point. */
async function ready(proc: Started, port: number, what: string): Promise<number> {
  try {
    await waitReady(port, '/small', SMALL_BODY.length, READY_MS, proc.exited);
    return rssBytes(proc.pid) / (1024 * 1024);
  } catch (err) {
    await proc.stop();
    const out = proc.output().trim();
    throw new Error(`${what}: ${(err as Error).message}${out ? `\n--- its output ---\n${out}` : ''}`);
  }
}

export async function startOrigin(s: Settings, nginx: NginxInfo | undefined): Promise<Target> {
  const port = await freePort();
  if (s.origin === 'nginx') {
    if (!nginx) throw new Error('ORIGIN=nginx but nginx is not installed');
    const n = startNginx({ port, role: { kind: 'origin' }, cpus: s.loadCpus }, nginx, 'origin (nginx)');
    const rssStartMiB = await ready(n.proc, port, 'origin (nginx)');
    const label = `nginx ${nginx.version} serving files`;
    return { name: 'direct', label, port, pid: n.proc.pid, workers: 1, rssStartMiB, caches: false, ...watch(n.proc), stop: () => n.stop() };
  }
  const proc = start({
    name: 'origin',
    argv: [process.execPath, fileURLToPath(new URL('../origin.js', import.meta.url)), String(port)],
    cpus: s.loadCpus,
    raiseFdLimit: true,
    cwd: ROOT,
  });
  const rssStartMiB = await ready(proc, port, 'origin');
  const label = 'uWS origin (bench/origin.ts)';
  return { name: 'direct', label, port, pid: proc.pid, workers: 1, rssStartMiB, caches: false, ...watch(proc), stop: () => proc.stop() };
}

/**
 * The proxy under test (PROXY_CMD, default this tree's quick mode), or with name 'before' a
 * second build measured in the same run (BEFORE_CMD: e.g. the previous commit's checkout).
 */
export async function startPortcullis(s: Settings, origin: Target, nginx: NginxInfo | undefined, name: 'portcullis' | 'before' | 'floor' | 'hit-floor' = 'portcullis'): Promise<Target> {
  const port = await freePort();
  if (name === 'portcullis' && s.proxyCmd === 'nginx') {
    // harness development before the proxy command exists: nginx stands in for the proxy
    if (!nginx) throw new Error('PROXY_CMD=nginx but nginx is not installed');
    const role = { kind: 'proxy', originPort: origin.port, headers: s.nginxHeaders } as const;
    const n = startNginx({ port, role, cpus: s.proxyCpus }, nginx, 'portcullis (nginx stand-in)');
    const rssStartMiB = await ready(n.proc, port, 'portcullis (nginx stand-in)');
    const label = `nginx ${nginx.version} STAND-IN (PROXY_CMD=nginx)`;
    return { name: 'portcullis', label, port, pid: n.proc.pid, workers: 1, rssStartMiB, caches: false, ...watch(n.proc), stop: () => n.stop() };
  }
  const cmd = (
    name === 'floor' || name === 'hit-floor'
      ? `node dist/bench/${name}.js {host} {port} {origin_port}`
      : ((name === 'before' ? s.beforeCmd : s.proxyCmd) ?? 'node dist/src/main.js proxy --from {host}:{port} --to http://{host}:{origin_port}')
  )
    .replaceAll('{host}', HOST)
    .replaceAll('{port}', String(port))
    .replaceAll('{origin_port}', String(origin.port));
  const proc = start({
    name,
    // exec env: the command may start with VAR=value, and keeps the PID whose CPU and RSS are read
    argv: ['sh', '-c', `exec env ${cmd}`],
    cpus: s.proxyCpus,
    raiseFdLimit: true,
    cwd: ROOT,
    env: { ...process.env, PORTCULLIS_WORKERS: String(s.workers), PORTCULLIS_ACCESS_LOG: 'off' },
  });
  const rssStartMiB = await ready(proc, port, `${name} (${cmd})`);
  // The hit floor runs one thread, whatever WORKERS says.
  const workers = name === 'hit-floor' ? 1 : s.workers;
  return { name, label: cmd, port, pid: proc.pid, workers, rssStartMiB, caches: name === 'hit-floor', ...watch(proc), stop: () => proc.stop() };
}

export async function startNginxProxy(s: Settings, origin: Target, info: NginxInfo, name: 'nginx' | 'nginx-same' | ConfiguredName = 'nginx'): Promise<Target> {
  const port = await freePort();
  const { cache, gzip } = name === 'nginx' || name === 'nginx-same' ? { cache: false, gzip: false } : CONFIGURED[name];
  const headers = name === 'nginx-same' ? 'same' : s.nginxHeaders;
  const role = { kind: 'proxy', originPort: origin.port, headers, cache, gzip } as const;
  const n = startNginx({ port, role, cpus: s.proxyCpus }, info, name);
  const rssStartMiB = await ready(n.proc, port, name);
  const extra = `${cache ? ', proxy_cache (key $scheme://$host$request_uri)' : ''}${gzip ? ', gzip on, gzip_comp_level 5' : ''}`;
  const label = `nginx ${info.version}, 1 worker, upstream keepalive 64, NGINX_HEADERS=${headers}${extra}`;
  return { name, label, port, pid: n.proc.pid, workers: 1, rssStartMiB, caches: cache, ...watch(n.proc), stop: () => n.stop() };
}

/**
 * The config file of a configured Portcullis target: quick mode's (one upstream, every other setting at its
 * default) plus the cache and/or compression sections. The cache is the documented default size.
 */
export function portcullisConf(port: number, originPort: number, cache: boolean, gzip: boolean, protect = false): string {
  return [
    '# generated by bench/lib/targets.ts',
    `listen: ["${HOST}:${port}"]`,
    `upstreams: { origin: { targets: ["http://${HOST}:${originPort}"] } }`,
    // Several configured targets run at once: none takes the admin API's default port.
    'admin: false',
    ...(cache ? ["cache: { enabled: true, size: '64MiB', max_entry_bytes: '8MiB' }"] : []),
    ...(gzip ? ['compression: { enabled: true }'] : []),
    // A limit far above what the load generator reaches (every request takes a token, none is
    // refused) and an IP rule every request passes: the cost of checking, not of refusing.
    ...(protect ? [PROTECTED_ROUTE] : []),
    '',
  ].join('\n');
}

export const PROTECTED_ROUTE =
  'routes: [{ path: /, upstream: origin, rate_limit: { rate: 1000000, per: 1s, burst: 1000000 }, ip: { allow: ["127.0.0.0/8", "10.0.0.0/8"], deny: ["127.0.0.2/32"] } }]';

/** Portcullis from this tree (never PROXY_CMD) with a generated config: a cache and/or compression on. */
export async function startPortcullisConfigured(s: Settings, origin: Target, name: ConfiguredName): Promise<Target> {
  const port = await freePort();
  const { cache, gzip, metrics, protect } = CONFIGURED[name];
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-conf-'));
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, portcullisConf(port, origin.port, cache, gzip, protect));
  const proc = start({
    name,
    argv: [process.execPath, 'dist/src/main.js', 'run', '-c', file],
    cpus: s.proxyCpus,
    raiseFdLimit: true,
    cwd: ROOT,
    env: { ...process.env, PORTCULLIS_WORKERS: String(s.workers), PORTCULLIS_ACCESS_LOG: 'off', PORTCULLIS_METRICS: metrics ? 'on' : 'off' },
  });
  void proc.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  const rssStartMiB = await ready(proc, port, `${name} (run -c ${file})`);
  const what = [cache ? "cache { size 64MiB, max_entry_bytes 8MiB }" : '', gzip ? 'compression { enabled }' : '', metrics ? '' : 'PORTCULLIS_METRICS=off', protect ? 'a route with rate_limit + ip' : '', name === 'portcullis+route' ? 'one route' : ''].filter(Boolean).join(', ') || 'defaults';
  const label = `node dist/src/main.js run -c <${what}, upstream 127.0.0.1:${origin.port}>`;
  return { name, label, port, pid: proc.pid, workers: s.workers, rssStartMiB, caches: cache, ...watch(proc), stop: () => proc.stop() };
}

export { nginxInfo };
