// WebSocket echo round trips per second through the proxy vs the origin direct, same run.
// Standalone (run.ts only knows HTTP load and idle cases):
//   npx tsc -p tsconfig.json && node dist/bench/cases/websocket.js
// Settings from env, printed at start: CONNECTIONS (50), DURATION (5 s), WARMUP (1 s),
// MESSAGE_BYTES (64), WORKERS (1), LOAD_CPUS ('0'), PROXY_CPUS ('1').
// `node dist/bench/cases/websocket.js origin PORT` is the echo origin it starts (uWS, one thread).
import { fileURLToPath } from 'node:url';
import { uWS } from '../../src/uws/load.js';
import WebSocket from 'ws';
import { HOST, freePort } from '../lib/net.js';
import { installCleanup, pin, sleep, start, stopAll, type Started } from '../lib/proc.js';
import { cpuSeconds, rssBytes } from '../lib/procfs.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

function int(name: string, dflt: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${raw}: want a whole number`);
  return n;
}

function origin(port: number): void {
  const app = uWS.App().ws('/*', {
    maxPayloadLength: 16 * 1024 * 1024,
    idleTimeout: 0,
    message: (ws, msg, isBinary) => { ws.send(msg, isBinary); },
  });
  app.listen(HOST, port, (ls) => {
    if (!ls) { console.error(`ws origin: cannot listen on ${port}`); process.exit(1); }
    console.log(`ws origin: listening on ${HOST}:${port}`);
  });
  const stop = (): void => { (app as unknown as { close(): void }).close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Opens `connections` clients that each send, await the echo, send again, for `seconds`. */
async function roundTrips(port: number, connections: number, seconds: number, bytes: number): Promise<{ perSecond: number; total: number }> {
  const payload = Buffer.alloc(bytes, 'w');
  const sockets = await Promise.all(Array.from({ length: connections }, () => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws://${HOST}:${port}/echo`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
  let total = 0;
  let running = true;
  for (const ws of sockets) {
    ws.on('message', () => {
      if (!running) return;
      total++;
      ws.send(payload);
    });
  }
  const t0 = process.hrtime.bigint();
  for (const ws of sockets) ws.send(payload);
  await sleep(seconds * 1000);
  running = false;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const ws of sockets) ws.terminate();
  await sleep(200);
  return { perSecond: total / elapsed, total };
}

async function waitListening(proc: Started, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (pattern.test(proc.output())) return;
    await sleep(100);
  }
  throw new Error(`${proc.name} did not start:\n${proc.output()}`);
}

async function main(): Promise<void> {
  const connections = int('CONNECTIONS', 50);
  const duration = int('DURATION', 5);
  const warmup = int('WARMUP', 1);
  const bytes = int('MESSAGE_BYTES', 64);
  const workers = int('WORKERS', 1);
  const loadCpus = process.env['LOAD_CPUS'] || '0';
  const proxyCpus = process.env['PROXY_CPUS'] || '1';
  installCleanup(120_000);
  pin(process.pid, loadCpus);
  console.log('Portcullis bench: websocket echo round trips');
  console.log(`CONNECTIONS=${connections} DURATION=${duration}s WARMUP=${warmup}s MESSAGE_BYTES=${bytes} WORKERS=${workers} LOAD_CPUS=${loadCpus} PROXY_CPUS=${proxyCpus}`);

  const originPort = await freePort();
  const o = start({ name: 'ws-origin', argv: [process.execPath, SELF, 'origin', String(originPort)], cpus: loadCpus, raiseFdLimit: true, cwd: ROOT });
  await waitListening(o, /listening/);
  const proxyPort = await freePort();
  const p = start({
    name: 'portcullis',
    argv: [process.execPath, 'dist/src/main.js', 'proxy', '--from', `${HOST}:${proxyPort}`, '--to', `http://${HOST}:${originPort}`],
    cpus: proxyCpus,
    raiseFdLimit: true,
    cwd: ROOT,
    env: { ...process.env, PORTCULLIS_WORKERS: String(workers), PORTCULLIS_ACCESS_LOG: 'off' },
  });
  await waitListening(p, /listening on/);
  // BEFORE_CMD (as in run.ts: {host}, {port}, {origin_port}): a second build in the same run.
  const before = process.env['BEFORE_CMD'];
  const measured: [string, number, number][] = [['direct', originPort, o.pid], ['portcullis', proxyPort, p.pid]];
  if (before) {
    const beforePort = await freePort();
    const cmd = before.replaceAll('{host}', HOST).replaceAll('{port}', String(beforePort)).replaceAll('{origin_port}', String(originPort));
    const b = start({ name: 'before', argv: ['sh', '-c', `exec env ${cmd}`], cpus: proxyCpus, raiseFdLimit: true, cwd: ROOT, env: { ...process.env, PORTCULLIS_WORKERS: String(workers), PORTCULLIS_ACCESS_LOG: 'off' } });
    await waitListening(b, /listening on/);
    measured.push(['before', beforePort, b.pid]);
    console.log(`before: ${cmd}`);
  }

  const rows: { target: string; perSecond: number; cpuUs: number; rssMiB: number }[] = [];
  try {
    for (const [target, port, pid] of measured) {
      if (warmup > 0) await roundTrips(port, connections, warmup, bytes);
      const cpu0 = cpuSeconds(pid);
      const r = await roundTrips(port, connections, duration, bytes);
      const cpu = cpuSeconds(pid) - cpu0;
      rows.push({ target, perSecond: r.perSecond, cpuUs: r.total > 0 ? (cpu * 1e6) / r.total : NaN, rssMiB: rssBytes(pid) / 1024 / 1024 });
    }
  } finally {
    await stopAll();
  }
  const direct = rows[0]!;
  console.log('\ntarget      round trips/s   CPU µs/round trip   RSS MiB   vs direct');
  for (const r of rows) {
    console.log(`${r.target.padEnd(11)} ${Math.round(r.perSecond).toLocaleString('en-US').padStart(13)}   ${r.cpuUs.toFixed(1).padStart(17)}   ${r.rssMiB.toFixed(1).padStart(7)}   ${(r.perSecond / direct.perSecond).toFixed(2)}`);
  }
  console.log('\nCPU µs/round trip: the target process tree\'s CPU over the run ÷ round trips (direct: the origin\'s own).');
}

if (process.argv[2] === 'origin') origin(Number(process.argv[3]));
else {
  main().then(
    () => process.exit(0),
    async (err: unknown) => { console.error(err instanceof Error ? err.message : err); await stopAll(); process.exit(1); },
  );
}
