// Request collapsing: CLIENTS concurrent clients (each on its own connection) ask for one object
// no cache holds yet; the origin takes ORIGIN_DELAY_MS to answer each request. Per target and
// round: how many requests reached the origin (goal: 1), how long until every client had its
// answer, and the target's CPU for the whole burst. Same run, same origin:
//   portcullis+cache      this tree, cache on (collapse_timeout 5s, the default), WORKERS workers
//   nginx+cache           proxy_cache as in the cache-hit case (nginx's default: no lock)
//   nginx+cache+lock      the same with proxy_cache_lock on, proxy_cache_lock_timeout 5s
// Standalone (run.ts runs it after the HTTP cases when CASES names it):
//   npm run build:ts && node dist/bench/cases/collapse.js
// Env: CLIENTS (200), ORIGIN_DELAY_MS (100), BODY_BYTES (16384), REPEAT (5), WORKERS (2),
//      LOAD_CPUS ('0'), PROXY_CPUS ('1'). `collapse.js origin PORT DELAY BYTES` is its origin.
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpResponse } from 'uWebSockets.js';
import { uWS } from '../../src/uws/load.js';
import { nginxInfo, startNginx } from '../nginx.js';
import { HOST, freePort } from '../lib/net.js';
import { installCleanup, pin, sleep, start, stopAll, type Started } from '../lib/proc.js';
import { cpuSeconds } from '../lib/procfs.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

function int(name: string, dflt: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${raw}: want a whole number`);
  return n;
}

/** The slow origin: every /new/* answer after `delay` ms, cacheable for an hour; /__requests counts them. */
function origin(port: number, delay: number, bytes: number): void {
  let served = 0;
  const body = Buffer.alloc(bytes, 'c');
  const app = uWS.App();
  app.get('/new/*', (res: HttpResponse) => {
    served++;
    let gone = false;
    res.onAborted(() => { gone = true; });
    setTimeout(() => {
      if (gone) return;
      res.cork(() => { res.writeHeader('cache-control', 'max-age=3600').writeHeader('content-type', 'text/plain').end(body); });
    }, delay);
  });
  app.get('/__requests', (res: HttpResponse) => { res.cork(() => { res.end(String(served)); }); });
  app.get('/ready', (res: HttpResponse) => { res.cork(() => { res.end('ok'); }); });
  app.listen(HOST, port, (ls) => {
    if (!ls) { console.error(`collapse origin: cannot listen on ${port}`); process.exit(1); }
    console.log(`collapse origin: listening on ${HOST}:${port}`);
  });
  const stop = (): void => { (app as unknown as { close(): void }).close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function fetchText(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
  });
}

async function waitUp(proc: Started, port: number, path: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetchText(port, path)).status === 200) return;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`${proc.name} did not start:\n${proc.output()}`);
}

interface Burst { originRequests: number; allServedMs: number; p50Ms: number; errors: number; cpuMs: number }

/** CLIENTS requests at once, each on its own connection, for one new path. */
async function burst(port: number, originPort: number, pid: number, path: string, clients: number, bytes: number): Promise<Burst> {
  const before = Number((await fetchText(originPort, '/__requests')).text);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const times = await Promise.all(Array.from({ length: clients }, () => new Promise<number>((resolve) => {
    const req = http.get({ host: HOST, port, path, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => resolve(res.statusCode === 200 && n === bytes ? performance.now() - t0 : -1));
    });
    req.on('error', () => resolve(-1));
  })));
  const cpuMs = (cpuSeconds(pid) - cpu0) * 1000;
  const after = Number((await fetchText(originPort, '/__requests')).text);
  const ok = times.filter((t) => t >= 0).sort((a, b) => a - b);
  return {
    originRequests: after - before,
    allServedMs: ok.length > 0 ? ok[ok.length - 1]! : NaN,
    p50Ms: ok.length > 0 ? ok[Math.floor(ok.length / 2)]! : NaN,
    errors: clients - ok.length,
    cpuMs,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

async function main(): Promise<void> {
  const clients = int('CLIENTS', 200);
  const delay = int('ORIGIN_DELAY_MS', 100);
  const bytes = int('BODY_BYTES', 16 * 1024);
  const rounds = int('REPEAT', 5);
  const workers = int('WORKERS', 2);
  const loadCpus = process.env['LOAD_CPUS'] || '0';
  const proxyCpus = process.env['PROXY_CPUS'] || '1';
  installCleanup(300_000);
  pin(process.pid, loadCpus);
  console.log('Portcullis bench: request collapsing');
  console.log(`CLIENTS=${clients} ORIGIN_DELAY_MS=${delay} BODY_BYTES=${bytes} REPEAT=${rounds} WORKERS=${workers} LOAD_CPUS=${loadCpus} PROXY_CPUS=${proxyCpus}`);

  const originPort = await freePort();
  const o = start({ name: 'collapse-origin', argv: [process.execPath, SELF, 'origin', String(originPort), String(delay), String(bytes)], cpus: loadCpus, raiseFdLimit: true, cwd: ROOT });
  await waitUp(o, originPort, '/ready');

  const targets: { name: string; port: number; pid: number }[] = [];
  const pPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-collapse-'));
  const conf = join(dir, 'portcullis.yaml');
  writeFileSync(conf, [`listen: ["${HOST}:${pPort}"]`, `upstreams: { origin: { targets: ["http://${HOST}:${originPort}"] } }`, "cache: { enabled: true, size: '64MiB' }", ''].join('\n'));
  const p = start({
    name: 'portcullis+cache',
    argv: [process.execPath, 'dist/src/main.js', 'run', '-c', conf],
    cpus: proxyCpus,
    raiseFdLimit: true,
    cwd: ROOT,
    env: { ...process.env, PORTCULLIS_WORKERS: String(workers), PORTCULLIS_ACCESS_LOG: 'off' },
  });
  void p.exited.then(() => rmSync(dir, { recursive: true, force: true }));
  await waitUp(p, pPort, '/__requests');
  targets.push({ name: 'portcullis+cache', port: pPort, pid: p.pid });
  const info = nginxInfo();
  if (info === undefined) console.log('nginx: not installed');
  else {
    for (const lock of [false, true]) {
      const port = await freePort();
      const name = lock ? 'nginx+cache+lock' : 'nginx+cache';
      const n = startNginx({ port, role: { kind: 'proxy', originPort, headers: 'same', cache: true, cacheLock: lock }, cpus: proxyCpus }, info, name);
      await waitUp(n.proc, port, '/__requests');
      targets.push({ name, port, pid: n.proc.pid });
    }
  }

  const results = new Map<string, Burst[]>(targets.map((t) => [t.name, []]));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const t of targets) {
        const b = await burst(t.port, originPort, t.pid, `/new/${round}-${t.name}-${Date.now()}`, clients, bytes);
        results.get(t.name)!.push(b);
        console.log(`  ${t.name.padEnd(17)} #${round}: origin requests ${b.originRequests}, all served in ${b.allServedMs.toFixed(0)} ms (p50 ${b.p50Ms.toFixed(0)} ms), CPU ${b.cpuMs.toFixed(0)} ms, ${b.errors} errors`);
        await sleep(200);
      }
    }
  } finally {
    await stopAll();
  }
  console.log(`\n${clients} concurrent clients, one new object, origin answers after ${delay} ms (medians of ${rounds} rounds):`);
  console.log('target             origin req   all served ms   p50 ms   CPU µs/client   errors');
  for (const t of targets) {
    const bs = results.get(t.name)!;
    // CPU over all rounds: /proc counts in 10 ms ticks, too coarse for one burst.
    const cpuUs = (bs.reduce((n, b) => n + b.cpuMs, 0) * 1000) / (clients * bs.length);
    console.log(`${t.name.padEnd(17)}  ${String(median(bs.map((b) => b.originRequests))).padStart(10)}   ${median(bs.map((b) => b.allServedMs)).toFixed(0).padStart(13)}   ${median(bs.map((b) => b.p50Ms)).toFixed(0).padStart(6)}   ${cpuUs.toFixed(0).padStart(13)}   ${bs.reduce((n, b) => n + b.errors, 0)}`);
  }
  console.log('\norigin req: requests that reached the origin for the burst (goal 1). all served: from the first send to the last');
  console.log('complete answer, including the origin\'s delay. CPU: the target process tree over all bursts ÷ clients (connect, request, answer).');
}

if (process.argv[2] === 'origin') origin(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else {
  main().then(
    () => process.exit(0),
    async (err: unknown) => { console.error(err instanceof Error ? err.message : err); await stopAll(); process.exit(1); },
  );
}
