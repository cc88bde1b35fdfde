// TLS and HTTP/2, same run, one worker/process each on the proxy core, h2load (Debian
// nghttp2-client) or wrk on the load core:
//   bare front ends (13 B hello world): nginx, uWS SSLApp, Node http2 (allowHTTP1) —
//     HTTP/1.1 over TLS, HTTP/2 with 10 streams per connection, HTTP/2 with 1;
//   through the proxy (13 B from the bench origin), Portcullis against nginx —
//     plain HTTP/1.1 keep-alive (the plain ratio), HTTP/1.1 over TLS keep-alive,
//     TLS handshakes per second (a new connection per request), HTTP/2 (10 streams).
// Standalone (run.ts starts it for CASES=tls or all cases):
//   npm run build:ts && node dist/bench/cases/tls.js
// Settings from env, printed at start: CONNECTIONS (50), DURATION (5 s), WARMUP (1 s), REPEAT (1:
// interleaved rounds, the tables show medians), WORKERS (1), LOAD_CPUS ('0'), PROXY_CPUS ('1'),
// NGINX_HEADERS ('same').
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCa, issueLeaf } from '../../src/tls/x509.js';
import { nginxInfo, SAME_WORK } from '../nginx.js';
import { HOST, freePort, waitReady } from '../lib/net.js';
import { installCleanup, pin, run, sleep, start, stopAll, type Started } from '../lib/proc.js';
import { cpuSeconds } from '../lib/procfs.js';
import { SMALL_BODY } from '../lib/bodies.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function int(name: string, dflt: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${raw}: want a whole number`);
  return n;
}

const CONNECTIONS = int('CONNECTIONS', 50);
const DURATION = int('DURATION', 5);
const WARMUP = int('WARMUP', 1);
const REPEAT = Math.max(1, int('REPEAT', 1));
const WORKERS = int('WORKERS', 1);
const LOAD_CPUS = process.env['LOAD_CPUS'] || '0';
const PROXY_CPUS = process.env['PROXY_CPUS'] || '1';
const SAME = (process.env['NGINX_HEADERS'] ?? 'same') !== 'bare';

interface Measure { readonly ok: number; readonly rps: number; readonly cpuUs: number; readonly cpuPct: number; readonly failed: number }

/** h2load's summary: succeeded requests, failed ones, req/s. */
function parseH2load(out: string): { ok: number; failed: number; rps: number; seconds: number } {
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const fin = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(out);
  if (req === null || fin === null) throw new Error(`cannot read h2load's output:\n${out.slice(-1500)}`);
  const seconds = Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1);
  return { ok: Number(req[4]), failed: Number(req[5]) + Number(req[6]) + Number(req[7]), rps: Number(fin[3]), seconds };
}

function parseWrk(out: string): { ok: number; failed: number; rps: number; seconds: number } {
  const total = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (total === null || rps === null) throw new Error(`cannot read wrk's output:\n${out.slice(-1500)}`);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const failed = (errs ? Number(errs[1]) + Number(errs[3]) + Number(errs[4]) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { ok: Number(total[1]) - (non2xx ? Number(non2xx[1]) : 0), failed, rps: Number(rps[1]), seconds: Number(total[2]) / (total[3] === 'ms' ? 1000 : 1) };
}

type Load = { readonly kind: 'h2load'; readonly url: string; readonly h1: boolean; readonly streams: number } | { readonly kind: 'handshakes'; readonly url: string };

function argv(l: Load, seconds: number): string[] {
  if (l.kind === 'handshakes') {
    // A new TLS connection (full handshake, no resumption) for every request.
    return ['wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '-H', 'Connection: close', l.url];
  }
  return ['h2load', '-D', String(seconds), '-c', String(CONNECTIONS), '-t', '1', '-m', String(l.streams), ...(l.h1 ? ['--h1'] : []), l.url];
}

async function measure(target: Started, load: Load): Promise<Measure> {
  const parse = load.kind === 'handshakes' ? parseWrk : parseH2load;
  if (WARMUP > 0) await run({ name: load.kind, argv: argv(load, WARMUP), cpus: LOAD_CPUS, timeoutMs: WARMUP * 1000 + 30_000 });
  const cpu0 = cpuSeconds(target.pid);
  const r = await run({ name: load.kind, argv: argv(load, DURATION), cpus: LOAD_CPUS, timeoutMs: DURATION * 1000 + 30_000 });
  const cpu = cpuSeconds(target.pid) - cpu0;
  const p = parse(r.stdout);
  if (!(p.ok > 0)) throw new Error(`${target.name}: no successful requests (exit ${r.code}):\n${r.stdout.slice(-800)}${r.stderr.slice(-800)}`);
  return { ok: p.ok, rps: p.rps, cpuUs: (cpu * 1e6) / p.ok, cpuPct: (cpu / p.seconds) * 100, failed: p.failed };
}

function nginxConf(dir: string, p: Record<string, number>, originPort: number, cert: string, key: string): string {
  const ssl = `ssl_certificate ${cert}; ssl_certificate_key ${key}; ssl_protocols TLSv1.2 TLSv1.3;`;
  const hello = `location / { default_type text/plain; return 200 "${SMALL_BODY}"; }`;
  const proxy = `location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";${SAME ? SAME_WORK : ''} }`;
  return `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  http2_max_requests 1000000;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((m) => `${m}_temp_path ${join(dir, `${m}_temp`)};`).join('\n  ')}
  upstream origin { server ${HOST}:${originPort}; keepalive 64; keepalive_requests 1000000; }
  server { listen ${HOST}:${p['nginxBareH1']} ssl backlog=4096; ${ssl} ${hello} }
  server { listen ${HOST}:${p['nginxBareH2']} ssl http2 backlog=4096; ${ssl} ${hello} }
  server { listen ${HOST}:${p['nginxPlain']} backlog=4096; ${proxy} }
  server { listen ${HOST}:${p['nginxTls']} ssl backlog=4096; ${ssl} ${proxy} }
  server { listen ${HOST}:${p['nginxH2']} ssl http2 backlog=4096; ${ssl} ${proxy} }
}
`;
}

async function waitListening(proc: Started, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (pattern.test(proc.output())) return;
    if (proc.child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`${proc.name} did not start:\n${proc.output()}`);
}

function fmt(n: number, digits = 1): string { return Number.isFinite(n) ? n.toFixed(digits) : '—'; }
function krps(n: number): string { return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—'; }

async function main(): Promise<number> {
  installCleanup(600_000);
  pin(process.pid, LOAD_CPUS);
  console.log('Portcullis bench: TLS and HTTP/2');
  console.log(`CONNECTIONS=${CONNECTIONS} DURATION=${DURATION}s WARMUP=${WARMUP}s REPEAT=${REPEAT} WORKERS=${WORKERS} LOAD_CPUS=${LOAD_CPUS} PROXY_CPUS=${PROXY_CPUS} NGINX_HEADERS=${SAME ? 'same' : 'bare'}`);
  const nginx = nginxInfo();
  if (!nginx) { console.log('nginx: not installed; the TLS case needs it as its baseline'); return 1; }
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-tls-'));
  try {
    const now = Date.now();
    const ca = await createCa('bench CA', new Date(now - 3_600_000), new Date(now + 86_400_000));
    const leaf = await issueLeaf(ca, { names: ['bench.test', HOST], notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 86_400_000) });
    const cert = join(dir, 'bench.crt');
    const key = join(dir, 'bench.key');
    writeFileSync(cert, leaf.certPem);
    writeFileSync(key, leaf.keyPem, { mode: 0o600 });
    const p: Record<string, number> = {};
    for (const k of ['origin', 'nginxBareH1', 'nginxBareH2', 'nginxPlain', 'nginxTls', 'nginxH2', 'uwsBare', 'nodeBare', 'pcPlain', 'pcTls', 'pcH2']) p[k] = await freePort();

    const origin = start({ name: 'origin', argv: [process.execPath, join(ROOT, 'dist/bench/origin.js'), String(p['origin'])], cpus: LOAD_CPUS, raiseFdLimit: true, cwd: ROOT });
    await waitReady(p['origin']!, '/small', SMALL_BODY.length, 15_000, origin.exited);
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConf(dir, p, p['origin']!, cert, key));
    const ng = start({ name: 'nginx', argv: ['nginx', '-e', join(dir, 'error.log'), '-p', dir, '-c', conf], cpus: PROXY_CPUS, raiseFdLimit: true });
    await waitReady(p['nginxPlain']!, '/small', SMALL_BODY.length, 15_000, ng.exited);
    const uwsBare = start({ name: 'uws-bare', argv: [process.execPath, join(ROOT, 'dist/bench/tls-bare.js'), 'uws', String(p['uwsBare']), cert, key], cpus: PROXY_CPUS, raiseFdLimit: true, cwd: ROOT });
    await waitListening(uwsBare, /listening/);
    const nodeBare = start({ name: 'node-bare', argv: [process.execPath, join(ROOT, 'dist/bench/tls-bare.js'), 'node', String(p['nodeBare']), cert, key], cpus: PROXY_CPUS, raiseFdLimit: true, cwd: ROOT });
    await waitListening(nodeBare, /listening/);
    const pcConfig = join(dir, 'portcullis.json');
    writeFileSync(pcConfig, JSON.stringify({
      listen: [
        `${HOST}:${p['pcPlain']}`,
        { address: `${HOST}:${p['pcTls']}`, tls: { certificates: [{ cert, key }] } },
        { address: `${HOST}:${p['pcH2']}`, tls: { certificates: [{ cert, key }] }, protocols: ['h1', 'h2'] },
      ],
      access_log: false,
      upstreams: { origin: { targets: [`http://${HOST}:${p['origin']}`] } },
    }));
    const pc = start({
      name: 'portcullis',
      argv: [process.execPath, join(ROOT, 'dist/src/main.js'), 'run', '-c', pcConfig],
      cpus: PROXY_CPUS,
      raiseFdLimit: true,
      cwd: ROOT,
      env: { ...process.env, PORTCULLIS_WORKERS: String(WORKERS), PORTCULLIS_ACCESS_LOG: 'off' },
    });
    await waitListening(pc, /listening on/);
    console.log(`nginx ${nginx.version}, pid ${ng.pid}; portcullis pid ${pc.pid} (${WORKERS} worker); uWS bare pid ${uwsBare.pid}; Node http2 bare pid ${nodeBare.pid}; origin pid ${origin.pid}\n`);

    const url = (port: number, tls = true): string => `${tls ? 'https' : 'http'}://${HOST}:${port}/small`;
    const runs: [string, Started, Load][] = [
      ['bare h1/TLS nginx', ng, { kind: 'h2load', url: url(p['nginxBareH1']!), h1: true, streams: 1 }],
      ['bare h1/TLS uWS SSLApp', uwsBare, { kind: 'h2load', url: url(p['uwsBare']!), h1: true, streams: 1 }],
      ['bare h1/TLS Node http2', nodeBare, { kind: 'h2load', url: url(p['nodeBare']!), h1: true, streams: 1 }],
      ['bare h2 m=10 nginx', ng, { kind: 'h2load', url: url(p['nginxBareH2']!), h1: false, streams: 10 }],
      ['bare h2 m=10 Node http2', nodeBare, { kind: 'h2load', url: url(p['nodeBare']!), h1: false, streams: 10 }],
      ['bare h2 m=1 nginx', ng, { kind: 'h2load', url: url(p['nginxBareH2']!), h1: false, streams: 1 }],
      ['bare h2 m=1 Node http2', nodeBare, { kind: 'h2load', url: url(p['nodeBare']!), h1: false, streams: 1 }],
      ['proxy plain portcullis', pc, { kind: 'h2load', url: url(p['pcPlain']!, false), h1: true, streams: 1 }],
      ['proxy plain nginx', ng, { kind: 'h2load', url: url(p['nginxPlain']!, false), h1: true, streams: 1 }],
      ['proxy h1/TLS portcullis', pc, { kind: 'h2load', url: url(p['pcTls']!), h1: true, streams: 1 }],
      ['proxy h1/TLS nginx', ng, { kind: 'h2load', url: url(p['nginxTls']!), h1: true, streams: 1 }],
      ['handshakes portcullis', pc, { kind: 'handshakes', url: url(p['pcTls']!) }],
      ['handshakes nginx', ng, { kind: 'handshakes', url: url(p['nginxTls']!) }],
      ['proxy h2 m=10 portcullis', pc, { kind: 'h2load', url: url(p['pcH2']!), h1: false, streams: 10 }],
      ['proxy h2 m=10 nginx', ng, { kind: 'h2load', url: url(p['nginxH2']!), h1: false, streams: 10 }],
      ['proxy h2 m=1 portcullis', pc, { kind: 'h2load', url: url(p['pcH2']!), h1: false, streams: 1 }],
      ['proxy h2 m=1 nginx', ng, { kind: 'h2load', url: url(p['nginxH2']!), h1: false, streams: 1 }],
    ];
    const rounds = new Map<string, Measure[]>();
    for (let round = 1; round <= REPEAT; round++) {
      // Interleaved: every target sees the same noise as its baselines.
      for (const [name, target, load] of runs) {
        try {
          const r = await measure(target, load);
          (rounds.get(name) ?? rounds.set(name, []).get(name)!).push(r);
          console.log(`  ${name.padEnd(26)} #${round} ${krps(r.rps).padStart(7)} req/s  ${fmt(r.cpuUs).padStart(6)} µs/req  CPU ${fmt(r.cpuPct, 0)}%${r.failed > 0 ? `  (${r.failed} failed)` : ''}`);
        } catch (err) {
          console.log(`  ${name} #${round}: failed, ${(err as Error).message}`);
        }
      }
    }
    const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
    const us = (k: string): number => median((rounds.get(k) ?? []).map((r) => r.cpuUs));
    const rps = (k: string): number => median((rounds.get(k) ?? []).map((r) => r.rps));

    console.log('\nBare front ends, 13 B hello world, CPU µs per request of the server (h2load, 50 connections):');
    console.log('server         HTTP/1.1 over TLS   HTTP/2, 10 streams   HTTP/2, 1 stream');
    console.log(`nginx          ${fmt(us('bare h1/TLS nginx')).padStart(17)}   ${fmt(us('bare h2 m=10 nginx')).padStart(18)}   ${fmt(us('bare h2 m=1 nginx')).padStart(16)}`);
    console.log(`uWS SSLApp     ${fmt(us('bare h1/TLS uWS SSLApp')).padStart(17)}   ${'—'.padStart(18)}   ${'—'.padStart(16)}`);
    console.log(`Node http2     ${fmt(us('bare h1/TLS Node http2')).padStart(17)}   ${fmt(us('bare h2 m=10 Node http2')).padStart(18)}   ${fmt(us('bare h2 m=1 Node http2')).padStart(16)}`);
    console.log(`Node ÷ nginx   ${fmt(us('bare h1/TLS Node http2') / us('bare h1/TLS nginx'), 2).padStart(17)}   ${fmt(us('bare h2 m=10 Node http2') / us('bare h2 m=10 nginx'), 2).padStart(18)}   ${fmt(us('bare h2 m=1 Node http2') / us('bare h2 m=1 nginx'), 2).padStart(16)}`);

    const plainRatio = us('proxy plain portcullis') / us('proxy plain nginx');
    const tlsRatio = us('proxy h1/TLS portcullis') / us('proxy h1/TLS nginx');
    const hsRatio = rps('handshakes portcullis') / rps('handshakes nginx');
    const h2Budget = us('bare h2 m=10 Node http2') + us('proxy plain portcullis');
    console.log('\nThrough the proxy, 13 B from the origin, CPU µs per request (handshakes: per new connection):');
    console.log('case                         portcullis     nginx   portcullis ÷ nginx   target');
    const line = (label: string, a: number, b: number, target: string): void =>
      console.log(`${label.padEnd(28)} ${fmt(a).padStart(10)} ${fmt(b).padStart(9)}   ${fmt(a / b, 2).padStart(18)}   ${target}`);
    line('plain HTTP/1.1 keep-alive', us('proxy plain portcullis'), us('proxy plain nginx'), '(the plain ratio)');
    line('HTTP/1.1 over TLS keep-alive', us('proxy h1/TLS portcullis'), us('proxy h1/TLS nginx'), `≤ plain ratio + 0.1 = ${fmt(plainRatio + 0.1, 2)}: ${tlsRatio <= plainRatio + 0.1 ? 'met' : 'NOT met'}`);
    line('TLS handshake (new conn.)', us('handshakes portcullis'), us('handshakes nginx'), '');
    console.log(`${'TLS handshakes per second'.padEnd(28)} ${krps(rps('handshakes portcullis')).padStart(10)} ${krps(rps('handshakes nginx')).padStart(9)}   ${fmt(hsRatio, 2).padStart(18)}   ≥ 0.80: ${hsRatio >= 0.8 ? 'met' : 'NOT met'}`);
    line('HTTP/2, 10 streams', us('proxy h2 m=10 portcullis'), us('proxy h2 m=10 nginx'), `≤ Node http2 bare + plain pipeline = ${fmt(h2Budget)}: ${us('proxy h2 m=10 portcullis') <= h2Budget ? 'met' : 'NOT met'}`);
    line('HTTP/2, 1 stream', us('proxy h2 m=1 portcullis'), us('proxy h2 m=1 nginx'), '');
    console.log(`\nCPU µs/req: utime+stime of the server process tree over the measured run ÷ successful responses${REPEAT > 1 ? `; medians of ${REPEAT} interleaved rounds` : ''}.`);
    console.log('CPU % well below 100 means the load generator, not the server, was the limit: µs/req still compares, req/s does not.');
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => { console.error(err instanceof Error ? err.message : err); await stopAll(); process.exit(1); },
);
