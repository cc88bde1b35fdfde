// `npm run bench`: each case against the origin direct and nginx in the same run; prints ratios, writes bench/results/latest.json.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

import { selectCases, wantsBalance, wantsCollapse, wantsTls, wantsWebSocket } from './cases/index.js';
import { spawnSync } from 'node:child_process';
import { caseTargets, type Case, type IdleCase, type LoadCase } from './cases/types.js';
import { STATS_PATH } from './lib/bodies.js';
import { openIdle } from './lib/idle.js';
import { runLoad } from './lib/load.js';
import { HOST, get, originRequests } from './lib/net.js';
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
  pairRatios,
  pairText,
  summarize,
  targetLines,
  targetText,
  writeJson,
  type IdleRow,
  type LoadRow,
  type Measure,
} from './lib/report.js';
import { describeSettings, readSettings, type Settings } from './lib/settings.js';
import {
  CONFIGURED,
  HIT,
  nginxInfo,
  ROOT,
  startNginxProxy,
  startOrigin,
  startPortcullis,
  startPortcullisConfigured,
  TARGET_NAMES,
  type Target,
  type TargetName,
} from './lib/targets.js';

const MiB = 1024 * 1024;

function toolVersion(s: Settings): string {
  try {
    if (s.tool === 'wrk') return execFileSync('sh', ['-c', 'wrk -v 2>&1 | head -1'], { encoding: 'utf8' }).trim();
    return `autocannon ${execFileSync(process.execPath, ['-p', "require('autocannon/package.json').version"], { encoding: 'utf8', cwd: ROOT }).trim()}`;
  } catch {
    return `${s.tool} (version unknown)`;
  }
}

/** Widths of the case and target columns in the progress lines. */
let caseWidth = 9;
let nameWidth = 10;

async function measure(s: Settings, c: LoadCase, t: Target, origin: Target): Promise<Measure> {
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
    headers: c.headers,
  };
  if (s.warmup > 0) await runLoad({ ...spec, seconds: s.warmup });
  // outside the CPU window: for the direct row these are requests to the target itself
  const origin0 = await originRequests(origin.port, STATS_PATH);
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
  const origin1 = await originRequests(origin.port, STATS_PATH);
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
    originRequests: origin1 - origin0,
  };
}

/**
 * One GET that must answer 200 with the case's body (and Content-Encoding); for a caching target a second GET
 * that must be a hit (this also fills the cache before WARMUP).
 */
async function checkBody(c: Case, t: Target): Promise<string | undefined> {
  const encoding = c.encoding ?? '';
  const want = `200, ${c.bodyBytes} B${encoding ? ` as ${encoding}` : ''}`;
  try {
    const hitWanted = t.caches && c.kind === 'load' && c.uncacheable !== true;
    for (let i = 0; i < (t.caches ? 2 : 1); i++) {
      const r = await get(t.port, c.path, 5000, c.headers);
      const got = r.headers['content-encoding'] ?? '';
      if (r.status !== 200 || r.decodedBytes !== c.bodyBytes || got !== encoding) {
        return `GET ${c.path} → ${r.status}, ${r.decodedBytes} B${got ? ` as ${got}` : ''} (want ${want})`;
      }
      const status = String(r.headers['cache-status'] ?? '');
      if (i === 1 && hitWanted && !HIT.test(status)) return `second GET ${c.path} not a cache hit (Cache-Status: ${status || 'none'})`;
      if (i === 1 && !hitWanted && HIT.test(status)) return `second GET ${c.path} is a cache hit, the case wants misses (Cache-Status: ${status})`;
    }
    return undefined;
  } catch (err) {
    return `GET ${c.path}: ${(err as Error).message}`;
  }
}

/** The started targets this case measures, in the case's order. */
function targetsOf(c: Case, targets: readonly Target[]): Target[] {
  return caseTargets(c).flatMap((name) => targets.filter((t) => t.name === name));
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

async function runLoadCase(s: Settings, c: LoadCase, origin: Target, all: readonly Target[], rows: LoadRow[], problems: string[]): Promise<void> {
  const usable: Target[] = [];
  for (const t of targetsOf(c, all)) {
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
        const m = await measure(s, c, t, origin);
        if (!alive(t, `${c.name} #${round}`, problems)) continue;
        if (!(m.ok > 0)) throw new Error(`no 2xx responses (${m.errors} errors, ${m.non2xx} non-2xx)`);
        rounds.get(t.name)!.push(m);
        const warn =
          m.errors + m.non2xx + m.listenDrops > 0
            ? `  (${m.errors} errors, ${m.non2xx} non-2xx, ${m.listenDrops} listen-queue overflows)`
            : '';
        console.log(
          `  ${c.name.padEnd(caseWidth)} ${t.name.padEnd(nameWidth)} #${round}: ${Math.round(m.rps).toLocaleString('en-US').padStart(7)} req/s, ` +
            `p99 ${m.p99ms.toFixed(2)} ms, ${m.cpuUs.toFixed(1)} µs/req, CPU ${m.cpuPct.toFixed(0)}%, ` +
            `proxy core busy ${m.proxyCoreBusyPct.toFixed(0)}%${t.caches ? `, origin req ${Number.isFinite(m.originRequests) ? m.originRequests : '—'}` : ''}${warn}`,
        );
      } catch (err) {
        console.log(`  ${c.name} ${t.name} #${round}: failed, ${(err as Error).message}`);
      }
    }
  }
  for (const t of usable) {
    const ms = rounds.get(t.name)!;
    if (ms.length === 0) continue;
    rows.push({
      case: c.name,
      title: c.title,
      target: t.name,
      connections: c.connections ?? s.connections,
      peer: c.peers?.[t.name] ?? 'nginx',
      section: c.section ?? 'proxy',
      hitsExpected: t.caches && c.uncacheable !== true,
      rounds: ms,
      ...summarize(ms),
    });
  }
}

async function runIdleCase(s: Settings, c: IdleCase, all: readonly Target[], rows: IdleRow[], problems: string[]): Promise<void> {
  for (const t of targetsOf(c, all)) {
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
        `  ${c.name.padEnd(caseWidth)} ${t.name.padEnd(nameWidth)}: ${openAtRead}/${s.idleConnections} open (${conns.failed} failed), ` +
          `RSS ${row.rssBeforeMiB.toFixed(1)} → ${row.rssMiB.toFixed(1)} MiB, ${row.kibPerConn.toFixed(2)} KiB/conn`,
      );
    } finally {
      conns.close();
    }
    await sleep(1000); // closes reach the server before the next target is measured
  }
}

/** Starts the origin and every target a selected case measures (and TARGETS allows), in TARGET_NAMES order. */
async function startTargets(
  s: Settings,
  nginx: ReturnType<typeof nginxInfo>,
  cases: readonly Case[],
): Promise<{ origin: Target; targets: Target[]; problems: string[] }> {
  const needed = new Set(cases.flatMap((c) => caseTargets(c)));
  const want = (t: TargetName): boolean => needed.has(t) && (s.targets.length === 0 || s.targets.includes(t));
  const problems: string[] = [];
  const origin = await startOrigin(s, nginx);
  console.log(`origin:     ${origin.label} on ${HOST}:${origin.port}, pid ${origin.pid}, CPUs ${s.loadCpus}`);
  const targets: Target[] = [];
  if (want('direct')) targets.push(origin);
  for (const name of TARGET_NAMES) {
    if (name === 'direct' || !want(name)) continue;
    if (name === 'before' && s.beforeCmd === undefined) continue;
    const proxy = name === 'portcullis' || name === 'before' || name === 'floor' || name === 'hit-floor' ? 'portcullis' : name === 'nginx' || name === 'nginx-same' ? 'nginx' : CONFIGURED[name].proxy;
    if (proxy === 'nginx' && !nginx) {
      console.log(`${name}: not installed`);
      continue;
    }
    try {
      const t =
        name === 'portcullis' || name === 'before' || name === 'floor' || name === 'hit-floor'
          ? await startPortcullis(s, origin, nginx, name)
          : name === 'nginx' || name === 'nginx-same' || proxy === 'nginx'
            ? await startNginxProxy(s, origin, nginx!, name)
            : await startPortcullisConfigured(s, origin, name);
      console.log(`${`${name}:`.padEnd(11)} ${t.label}, pid ${t.pid}, CPUs ${s.proxyCpus}`);
      targets.push(t);
    } catch (err) {
      const msg = `${name}: failed to start: ${(err as Error).message}`;
      console.log(msg);
      problems.push(msg);
    }
  }
  nameWidth = Math.max(10, ...targets.map((t) => t.name.length));
  return { origin, targets, problems };
}

async function main(): Promise<number> {
  const s = readSettings();
  installCleanup(s.timeout * 1000);
  const cases = selectCases(s.cases);
  caseWidth = Math.max(9, ...cases.map((c) => c.name.length));
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

  const { origin, targets, problems } = await startTargets(s, nginx, cases);
  const loadRows: LoadRow[] = [];
  const idleRows: IdleRow[] = [];
  try {
    console.log('');
    for (const c of cases) {
      if (c.kind === 'load') await runLoadCase(s, c, origin, targets, loadRows, problems);
      else await runIdleCase(s, c, targets, idleRows, problems);
    }
  } finally {
    await stopAll();
  }

  const lines = targetLines(loadRows, idleRows, s.tool);
  console.log('\nCPU µs/req: CPU time (user+sys, all threads) of the target over the run ÷ 2xx responses; for "direct" it is the origin\'s own.');
  console.log('CPU %: the target\'s CPU, % of one core. Near 100% it is CPU-bound; below that something else was the limit and req/s says little.');
  console.log(`core %: how busy the proxy core (${s.proxyCpus}) was over the run, all processes; well above CPU %: others used it.\n`);
  const proxyRows = loadRows.filter((r) => r.section === 'proxy');
  const cacheRows = loadRows.filter((r) => r.section === 'cache');
  if (proxyRows.length > 0) console.log(loadTable(proxyRows));
  const pairs = pairRatios(loadRows, cases.filter((c): c is LoadCase => c.kind === 'load'));
  if (cacheRows.length > 0) {
    console.log('\nCache cases ("vs nginx": the nginx row doing the same job, e.g. nginx+cache for portcullis+cache;');
    console.log('"origin req": requests that reached the origin during the measured runs, 0 when every one was a hit):');
    console.log(loadTable(cacheRows, true));
  }
  if (pairs.length > 0) console.log(`\nSame-run ratios:\n${pairText(pairs)}`);
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

  if (wantsBalance(s.cases)) {
    // 3 origins of its own behind one proxy; prints its own table (same-run ratio vs a single target).
    console.log('\nLoad balancing (bench/cases/balance.ts):');
    const b = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'cases', 'balance.js')], { stdio: 'inherit', env: process.env });
    if (b.status !== 0) problems.push(`balance case exited with ${b.status ?? b.signal}`);
  }

  if (wantsTls(s.cases)) {
    // Its own targets (nginx with TLS, bare TLS servers, Portcullis with TLS listeners) and load tools (h2load, wrk).
    console.log('\nTLS and HTTP/2 (bench/cases/tls.ts):');
    const tls = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'cases', 'tls.js')], { stdio: 'inherit', env: process.env });
    if (tls.status !== 0) problems.push(`tls case exited with ${tls.status ?? tls.signal}`);
  }

  if (wantsCollapse(s.cases)) {
    // Its own slow origin, Portcullis and nginx targets; it prints its own table.
    console.log('\nRequest collapsing (bench/cases/collapse.ts):');
    const collapse = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'cases', 'collapse.js')], { stdio: 'inherit', env: process.env });
    if (collapse.status !== 0) problems.push(`collapse case exited with ${collapse.status ?? collapse.signal}`);
  }

  const out = join(ROOT, 'bench', 'results', 'latest.json');
  writeJson(out, {
    env,
    settings: s,
    targets: targets.map((t) => ({ name: t.name, label: t.label, workers: t.workers, rssStartMiB: t.rssStartMiB })),
    load: loadRows,
    cacheRatios: pairs,
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
