// `npm run bench`: each case against the origin direct and nginx in the same run; prints ratios, writes bench/results/latest.json.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

import { selectCases, wantsWebSocket } from './cases/index.js';
import { spawnSync } from 'node:child_process';
import type { IdleCase, LoadCase } from './cases/types.js';
import { openIdle } from './lib/idle.js';
import { runLoad } from './lib/load.js';
import { HOST, get } from './lib/net.js';
import { installCleanup, pin, sleep, stopAll, TASKSET } from './lib/proc.js';
import {
  CLK_TCK,
  coreTicks,
  cpuSeconds,
  listenOverflows,
  parseCpuList,
  peakRssBytes,
  rssBytes,
  socketCount,
} from './lib/procfs.js';
import {
  idleTable,
  loadTable,
  loadWarnings,
  summarize,
  targetLines,
  targetText,
  writeJson,
  type IdleRow,
  type LoadRow,
  type Measure,
} from './lib/report.js';
import { describeSettings, readSettings, type Settings } from './lib/settings.js';
import { nginxInfo, ROOT, startNginxProxy, startOrigin, startPortcullis, type Target, type TargetName } from './lib/targets.js';

const MiB = 1024 * 1024;

function toolVersion(s: Settings): string {
  try {
    if (s.tool === 'wrk') return execFileSync('sh', ['-c', 'wrk -v 2>&1 | head -1'], { encoding: 'utf8' }).trim();
    return `autocannon ${execFileSync(process.execPath, ['-p', "require('autocannon/package.json').version"], { encoding: 'utf8', cwd: ROOT }).trim()}`;
  } catch {
    return `${s.tool} (version unknown)`;
  }
}

async function measure(s: Settings, c: LoadCase, t: Target): Promise<Measure> {
  const connections = c.connections ?? s.connections;
  const spec = {
    tool: s.tool,
    host: HOST,
    port: t.port,
    path: c.path,
    connections,
    pipelining: s.pipelining,
    cpus: s.loadCpus,
    wrkThreads: s.wrkThreads,
    rate: c.rate,
  };
  if (s.warmup > 0) await runLoad({ ...spec, seconds: s.warmup });
  const proxyCores = parseCpuList(s.proxyCpus);
  const core0 = coreTicks(proxyCores);
  const drops0 = listenOverflows();
  const cpu0 = cpuSeconds(t.pid);
  const t0 = process.hrtime.bigint();
  const r = await runLoad({ ...spec, seconds: s.duration });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(t.pid) - cpu0;
  const listenDrops = listenOverflows() - drops0;
  const core1 = coreTicks(proxyCores);
  const span = Math.min(wall, r.seconds || wall);
  return {
    rps: r.rps,
    p50ms: r.p50ms,
    p99ms: r.p99ms,
    // the CPU window includes the tool's start-up, when the target is idle; requests are all inside it
    cpuUs: r.ok > 0 ? (cpu * 1e6) / r.ok : NaN,
    // CPU % over the tool's own measured span (not its start-up)
    cpuPct: (cpu / span) * 100,
    ok: r.ok,
    errors: r.errors,
    non2xx: r.non2xx,
    listenDrops,
    // % of one core over the same span as cpuPct, so the two subtract; the direct row leaves this core idle
    proxyCoreBusyPct: core1.total > core0.total ? ((core1.busy - core0.busy) / CLK_TCK / span) * 100 : NaN,
  };
}

async function checkBody(c: LoadCase | IdleCase, t: Target): Promise<string | undefined> {
  try {
    const r = await get(t.port, c.path, 5000);
    return r.status === 200 && r.bytes === c.bodyBytes ? undefined : `GET ${c.path} → ${r.status}, ${r.bytes} B (want 200, ${c.bodyBytes} B)`;
  } catch (err) {
    return `GET ${c.path}: ${(err as Error).message}`;
  }
}

const reportedDead = new Set<Target>();

/** False once the target has exited; the first time, says so with its last output. */
function alive(t: Target, where: string, problems: string[]): boolean {
  const status = t.exitStatus();
  if (status === undefined) return true;
  if (!reportedDead.has(t)) {
    reportedDead.add(t);
    const out = t.output().trim().slice(-2000);
    const msg = `${t.name} (pid ${t.pid}) died during ${where}: exit ${status}${out ? `\n--- its last output ---\n${out}` : ''}`;
    console.log(`  ${msg}`);
    problems.push(msg);
  }
  return false;
}

async function runLoadCase(s: Settings, c: LoadCase, targets: readonly Target[], rows: LoadRow[], problems: string[]): Promise<void> {
  const usable: Target[] = [];
  for (const t of targets) {
    if (!alive(t, `start of ${c.name}`, problems)) continue;
    const bad = await checkBody(c, t);
    if (bad) console.log(`  ${c.name} ${t.name}: skipped, ${bad}`);
    else usable.push(t);
  }
  const rounds = new Map<TargetName, Measure[]>(usable.map((t) => [t.name, []]));
  for (let round = 1; round <= s.repeat; round++) {
    // interleaved: every target sees the same noise as its baseline
    for (const t of usable) {
      if (!alive(t, `${c.name} #${round}`, problems)) continue;
      try {
        const m = await measure(s, c, t);
        if (!alive(t, `${c.name} #${round}`, problems)) continue;
        if (!(m.ok > 0)) throw new Error(`no 2xx responses (${m.errors} errors, ${m.non2xx} non-2xx)`);
        rounds.get(t.name)!.push(m);
        const warn =
          m.errors + m.non2xx + m.listenDrops > 0
            ? `  (${m.errors} errors, ${m.non2xx} non-2xx, ${m.listenDrops} listen-queue overflows)`
            : '';
        console.log(
          `  ${c.name.padEnd(9)} ${t.name.padEnd(10)} #${round}: ${Math.round(m.rps).toLocaleString('en-US').padStart(7)} req/s, ` +
            `p99 ${m.p99ms.toFixed(2)} ms, ${m.cpuUs.toFixed(1)} µs/req, CPU ${m.cpuPct.toFixed(0)}%, ` +
            `proxy core busy ${m.proxyCoreBusyPct.toFixed(0)}%${warn}`,
        );
      } catch (err) {
        console.log(`  ${c.name} ${t.name} #${round}: failed, ${(err as Error).message}`);
      }
    }
  }
  for (const t of usable) {
    const ms = rounds.get(t.name)!;
    if (ms.length === 0) continue;
    rows.push({ case: c.name, title: c.title, target: t.name, connections: c.connections ?? s.connections, rounds: ms, ...summarize(ms) });
  }
}

async function runIdleCase(s: Settings, c: IdleCase, targets: readonly Target[], rows: IdleRow[], problems: string[]): Promise<void> {
  for (const t of targets) {
    if (!alive(t, `start of ${c.name}`, problems)) continue;
    const bad = await checkBody(c, t);
    if (bad) {
      console.log(`  ${c.name} ${t.name}: skipped, ${bad}`);
      continue;
    }
    const before = rssBytes(t.pid);
    // 30 s bound; uWS closes idle HTTP connections after 10 s, so they must all be open well before that
    const conns = await openIdle(t.port, c.path, s.idleConnections, 250, 30_000);
    try {
      // the highest of three reads over ~1 s: a GC in between must not decide the < 100 MiB verdict
      let rss = 0;
      for (let i = 0; i < 3; i++) {
        await sleep(300);
        rss = Math.max(rss, rssBytes(t.pid));
      }
      if (!alive(t, c.name, problems)) continue;
      const openAtRead = conns.open();
      const serverSockets = socketCount(t.pid);
      const row: IdleRow = {
        case: c.name,
        target: t.name,
        requested: s.idleConnections,
        answered: conns.answered,
        failed: conns.failed,
        openAtRead,
        serverSockets,
        rssStartMiB: t.rssStartMiB,
        rssBeforeMiB: before / MiB,
        rssMiB: rss / MiB,
        rssPeakMiB: peakRssBytes(t.pid) / MiB,
        rssPerWorkerMiB: rss / MiB / t.workers,
        kibPerConn: openAtRead > 0 ? (rss - before) / 1024 / openAtRead : NaN,
      };
      rows.push(row);
      console.log(
        `  ${c.name.padEnd(9)} ${t.name.padEnd(10)}: ${openAtRead}/${s.idleConnections} open (${conns.failed} failed), ` +
          `RSS ${row.rssBeforeMiB.toFixed(1)} → ${row.rssMiB.toFixed(1)} MiB, ${row.kibPerConn.toFixed(2)} KiB/conn`,
      );
    } finally {
      conns.close();
    }
    await sleep(1000); // closes reach the server before the next target is measured
  }
}

async function startTargets(s: Settings, nginx: ReturnType<typeof nginxInfo>): Promise<{ targets: Target[]; problems: string[] }> {
  const want = (t: TargetName): boolean => s.targets.length === 0 || s.targets.includes(t);
  const problems: string[] = [];
  const origin = await startOrigin(s, nginx);
  console.log(`origin:     ${origin.label} on ${HOST}:${origin.port}, pid ${origin.pid}, CPUs ${s.loadCpus}`);
  const targets: Target[] = [];
  if (want('direct')) targets.push(origin);
  if (want('portcullis')) {
    try {
      const p = await startPortcullis(s, origin, nginx);
      console.log(`portcullis: ${p.label}, pid ${p.pid}, CPUs ${s.proxyCpus}`);
      targets.push(p);
    } catch (err) {
      const msg = `portcullis: failed to start: ${(err as Error).message}`;
      console.log(msg);
      problems.push(msg);
    }
  }
  if (want('nginx')) {
    if (!nginx) console.log('nginx: not installed');
    else {
      const n = await startNginxProxy(s, origin, nginx);
      console.log(`nginx:      ${n.label}, pid ${n.pid}, CPUs ${s.proxyCpus}`);
      targets.push(n);
    }
  }
  return { targets, problems };
}

async function main(): Promise<number> {
  const s = readSettings();
  installCleanup(s.timeout * 1000);
  const cases = selectCases(s.cases);
  const nginx = nginxInfo();
  // this process opens the idle connections and polls readiness: keep it off the proxy's core
  const pinned = pin(process.pid, s.loadCpus);
  const env = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadavg: loadavg().map((l) => Number(l.toFixed(2))),
    tool: toolVersion(s),
    nginx: nginx?.version ?? null,
    taskset: TASKSET,
    clkTck: CLK_TCK,
  };
  console.log('Portcullis bench');
  console.log(describeSettings(s));
  console.log(
    `machine: ${env.cores} cores (${env.cpu}), load ${env.loadavg.join(' ')}; ${env.node}; ${env.tool}; ` +
      `nginx ${env.nginx ?? 'not installed'}; CLK_TCK ${CLK_TCK}`,
  );
  console.log(
    `pinning: ${TASKSET ? `load generator + origin + bench on CPU ${s.loadCpus}${pinned ? '' : ' (bench itself not pinned)'}, proxies on CPU ${s.proxyCpus}` : 'taskset missing, nothing pinned'}`,
  );
  if (env.cores < 2) console.log('warning: fewer than 2 cores; the proxy and the load generator share a core');
  console.log('');

  const { targets, problems } = await startTargets(s, nginx);
  const loadRows: LoadRow[] = [];
  const idleRows: IdleRow[] = [];
  try {
    console.log('');
    for (const c of cases) {
      if (c.kind === 'load') await runLoadCase(s, c, targets, loadRows, problems);
      else await runIdleCase(s, c, targets, idleRows, problems);
    }
  } finally {
    await stopAll();
  }

  const lines = targetLines(loadRows, idleRows, s.tool);
  console.log('\nCPU µs/req: CPU time (user+sys, all threads) of the target over the run ÷ 2xx responses; for "direct" it is the origin\'s own.');
  console.log('CPU %: the target\'s CPU, % of one core. Near 100% it is CPU-bound; below that something else was the limit and req/s says little.');
  console.log(`core %: how busy the proxy core (${s.proxyCpus}) was over the run, all processes; well above CPU %: others used it.\n`);
  if (loadRows.length > 0) console.log(loadTable(loadRows));
  for (const w of loadWarnings(loadRows)) console.log(w);
  if (idleRows.length > 0) console.log(`\n${idleRows[0]!.requested} idle client connections (one GET each), RSS of the whole process tree:\n${idleTable(idleRows)}`);
  console.log('\nTargets (portcullis ÷ nginx, same run):');
  console.log(targetText(lines));
  for (const p of problems) console.log(`\n${p}`);

  if (wantsWebSocket(s.cases)) {
    // Its own origin, proxy and clients; it prints its own table (same-run ratio vs direct).
    console.log('\nWebSocket echo round trips (bench/cases/websocket.ts):');
    const ws = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'cases', 'websocket.js')], { stdio: 'inherit', env: process.env });
    if (ws.status !== 0) problems.push(`websocket case exited with ${ws.status ?? ws.signal}`);
  }

  const out = join(ROOT, 'bench', 'results', 'latest.json');
  writeJson(out, {
    env,
    settings: s,
    targets: targets.map((t) => ({ name: t.name, label: t.label, workers: t.workers, rssStartMiB: t.rssStartMiB })),
    load: loadRows,
    idle: idleRows,
    goals: lines,
    problems,
  });
  console.log(`\nwrote ${out}`);
  return problems.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    await stopAll();
    process.exit(1);
  },
);
