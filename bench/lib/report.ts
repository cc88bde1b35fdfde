// Results as data, the printed tables and target lines, and the JSON file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { DEFAULT_RATIOS, type LoadCase } from '../cases/types.js';
import type { TargetName } from './targets.js';

export interface Measure {
  readonly rps: number;
  readonly p50ms: number;
  readonly p99ms: number;
  /** Proxy (or, for direct, origin) CPU µs per 2xx response. */
  readonly cpuUs: number;
  /** Of one core, over the measured run. */
  readonly cpuPct: number;
  readonly ok: number;
  readonly errors: number;
  readonly non2xx: number;
  /** Kernel-wide listen-queue overflows during the run (SYNs dropped, retried 1 s later). */
  readonly listenDrops: number;
  /** Busy % of the proxy's core(s) over the run, all processes: well above cpuPct means others used that core. */
  readonly proxyCoreBusyPct: number;
  /** Requests that reached the origin during the measured run (NaN: the origin does not count, ORIGIN=nginx). */
  readonly originRequests: number;
}

export interface LoadRow extends Measure {
  readonly case: string;
  readonly title: string;
  readonly target: TargetName;
  readonly connections: number;
  /** The row the "vs nginx" columns divide by: the nginx doing the same job (LoadCase.peers). */
  readonly peer: TargetName;
  /** LoadCase.section: which table the row is printed in. */
  readonly section: 'proxy' | 'cache';
  /** The target answers from a cache: no measured request should reach the origin. */
  readonly hitsExpected: boolean;
  readonly rounds: readonly Measure[];
}

export interface IdleRow {
  readonly case: string;
  readonly target: TargetName;
  readonly requested: number;
  readonly answered: number;
  readonly failed: number;
  /** Client sockets still open when RSS was read. */
  readonly openAtRead: number;
  /** Sockets held by the measured process tree when RSS was read (includes listen and upstream sockets). */
  readonly serverSockets: number;
  /** Right after start-up. */
  readonly rssStartMiB: number;
  /** After the load cases, just before the idle connections are opened. */
  readonly rssBeforeMiB: number;
  /** VmHWM: the highest RSS since start, load cases included. */
  readonly rssPeakMiB: number;
  readonly rssMiB: number;
  readonly rssPerWorkerMiB: number;
  readonly kibPerConn: number;
}

export interface TargetLine {
  readonly label: string;
  readonly value: number | undefined;
  readonly unit: string;
  /** undefined: informational, no verdict. */
  readonly pass: boolean | undefined;
  readonly goal: string;
  /** Why the figure may mislead. */
  readonly note?: string;
}

export function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarize(rounds: readonly Measure[]): Measure {
  return {
    rps: median(rounds.map((r) => r.rps)),
    p50ms: median(rounds.map((r) => r.p50ms)),
    p99ms: median(rounds.map((r) => r.p99ms)),
    cpuUs: median(rounds.map((r) => r.cpuUs)),
    cpuPct: median(rounds.map((r) => r.cpuPct)),
    ok: rounds.reduce((a, r) => a + r.ok, 0),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    non2xx: rounds.reduce((a, r) => a + r.non2xx, 0),
    listenDrops: rounds.reduce((a, r) => a + r.listenDrops, 0),
    proxyCoreBusyPct: median(rounds.map((r) => r.proxyCoreBusyPct)),
    originRequests: rounds.reduce((a, r) => a + r.originRequests, 0),
  };
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : undefined;
}

function fmt(n: number | undefined, digits: number): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const x = (n: number | undefined): string => (n === undefined ? '—' : `${fmt(n, 2)}x`);

function table(head: readonly string[], rows: readonly (readonly string[])[], rightFrom: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= rightFrom ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

function find(rows: readonly LoadRow[], c: string, t: TargetName): LoadRow | undefined {
  return rows.find((r) => r.case === c && r.target === t);
}

/** `originColumn`: add the requests that reached the origin (the cache table). */
export function loadTable(rows: readonly LoadRow[], originColumn = false): string {
  const head = ['case', 'target', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'CPU %', 'core %'];
  if (originColumn) head.push('origin req');
  head.push('req/s vs nginx', 'CPU vs nginx', 'vs direct');
  const body = rows.map((r) => {
    const nginx = find(rows, r.case, r.peer);
    const direct = find(rows, r.case, 'direct');
    return [
      r.title,
      r.target,
      String(r.connections),
      fmt(r.rps, 0),
      fmt(r.p50ms, 2),
      fmt(r.p99ms, 2),
      fmt(r.cpuUs, 1),
      fmt(r.cpuPct, 0),
      fmt(r.proxyCoreBusyPct, 0),
      ...(originColumn ? [fmt(r.originRequests, 0)] : []),
      x(ratio(r.rps, nginx?.rps)),
      x(ratio(r.cpuUs, nginx?.cpuUs)),
      x(ratio(r.rps, direct?.rps)),
    ];
  });
  return table(head, body, 2);
}

/** One LoadCase.ratios pair: CPU/req and req/s of one row divided by another's, same case and run. */
export interface PairRatio {
  readonly case: string;
  readonly title: string;
  readonly row: TargetName;
  readonly baseline: TargetName;
  readonly cpu: number | undefined;
  readonly rps: number | undefined;
  /**
   * CPU/req of the row ÷ the baseline's within each round (rounds interleave the targets): the
   * machine's speed can move between rounds, and a ratio inside one round is immune to that.
   */
  readonly cpuByRound: readonly (number | undefined)[];
}

export function pairRatios(rows: readonly LoadRow[], cases: readonly LoadCase[]): PairRatio[] {
  const out: PairRatio[] = [];
  for (const c of cases) {
    for (const [row, baseline] of c.ratios ?? (c.targets === undefined ? DEFAULT_RATIOS : [])) {
      const a = find(rows, c.name, row);
      const b = find(rows, c.name, baseline);
      if (a === undefined || b === undefined) continue;
      const cpuByRound = a.rounds.length === b.rounds.length ? a.rounds.map((m, i) => ratio(m.cpuUs, b.rounds[i]!.cpuUs)) : [];
      out.push({ case: c.name, title: c.title, row, baseline, cpu: ratio(a.cpuUs, b.cpuUs), rps: ratio(a.rps, b.rps), cpuByRound });
    }
  }
  return out;
}

export function pairText(pairs: readonly PairRatio[]): string {
  const label = (p: PairRatio): string => `${p.title}: ${p.row} ÷ ${p.baseline}`;
  const w = Math.max(0, ...pairs.map((p) => label(p).length));
  const rounds = (p: PairRatio): string => (p.cpuByRound.length > 1 ? `   CPU/req by round ${p.cpuByRound.map((v) => x(v)).join(' ')}` : '');
  return pairs.map((p) => `  ${label(p).padEnd(w)}  CPU/req ${x(p.cpu).padStart(6)}   req/s ${x(p.rps).padStart(6)}${rounds(p)}`).join('\n');
}

/** Rows whose figures are suspect: failed requests or dropped connection attempts. */
export function loadWarnings(rows: readonly LoadRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (r.errors + r.non2xx + r.listenDrops > 0) {
      out.push(
        `warning: ${r.title} ${r.target}: ${r.errors} errors, ${r.non2xx} non-2xx, ` +
          `${r.listenDrops} listen-queue overflows over ${r.rounds.length} round(s)`,
      );
    }
  }
  for (const r of rows) {
    if (r.hitsExpected && r.originRequests > 0) {
      out.push(`warning: ${r.title} ${r.target}: ${r.originRequests} requests reached the origin during the measured run(s): not all hits`);
    }
  }
  // the direct row leaves the proxy core idle: only proxy rows are distorted by others using it
  const crowded = rows
    .filter((r) => r.target !== 'direct' && r.proxyCoreBusyPct - r.cpuPct > 15)
    .map((r) => `${r.title} ${r.target} ~${(r.proxyCoreBusyPct - r.cpuPct).toFixed(0)}%`);
  if (crowded.length > 0) out.push(`warning: other processes used the proxy core during: ${crowded.join(', ')}`);
  return out;
}

export function idleTable(rows: readonly IdleRow[]): string {
  const head = ['target', 'asked', 'answered', 'open at read', 'server sockets', 'RSS start MiB', 'RSS before MiB', 'RSS MiB', 'RSS/worker MiB', 'KiB/conn', 'peak MiB'];
  const body = rows.map((r) => [
    r.target,
    String(r.requested),
    String(r.answered),
    String(r.openAtRead),
    String(r.serverSockets),
    fmt(r.rssStartMiB, 1),
    fmt(r.rssBeforeMiB, 1),
    fmt(r.rssMiB, 1),
    fmt(r.rssPerWorkerMiB, 1),
    fmt(r.kibPerConn, 2),
    fmt(r.rssPeakMiB, 1),
  ]);
  return table(head, body, 1);
}

/** The figures the issue asks for, as ratios of the proxy under test against nginx from the same run. */
export function targetLines(rows: readonly LoadRow[], idle: readonly IdleRow[], tool: string): TargetLine[] {
  const p = (c: string): LoadRow | undefined => find(rows, c, 'portcullis');
  const n = (c: string): LoadRow | undefined => find(rows, c, 'nginx');
  const verdict = (v: number | undefined, ok: (v: number) => boolean): boolean | undefined => (v === undefined ? undefined : ok(v));
  const smallCpu = ratio(p('small')?.cpuUs, n('small')?.cpuUs);
  const bigRps = ratio(p('1m')?.rps, n('1m')?.rps);
  // a req/s ratio only means something when a proxy, not the load generator, was the limit
  const rpsNote = (c: string): { note?: string } => {
    const busiest = Math.max(p(c)?.cpuPct ?? 0, n(c)?.cpuPct ?? 0);
    return p(c) && n(c) && busiest < 85
      ? {
          note:
            `neither proxy CPU-bound (max ${busiest.toFixed(0)}% of a core): the load generator, origin or other processes ` +
            `were the limit; compare CPU/req${tool === 'autocannon' ? ', or use BENCH_TOOL=wrk' : ''}`,
        }
      : {};
  };
  const idleP = idle.find((r) => r.target === 'portcullis');
  const idleRss = idleP?.rssPerWorkerMiB;
  return [
    { label: '13 B: CPU/req vs nginx', value: smallCpu, unit: 'x', pass: verdict(smallCpu, (v) => v <= 1), goal: '≤ 1.0' },
    { label: '13 B: p99 vs nginx', value: ratio(p('small')?.p99ms, n('small')?.p99ms), unit: 'x', pass: undefined, goal: 'lower is better' },
    {
      label: '13 B, same fixed rate: p99 vs nginx',
      value: ratio(p('small-rate')?.p99ms, n('small-rate')?.p99ms),
      unit: 'x',
      pass: verdict(ratio(p('small-rate')?.p99ms, n('small-rate')?.p99ms), (v) => v <= 1),
      goal: '≤ 1.0',
    },
    { label: '13 B: req/s vs nginx', value: ratio(p('small')?.rps, n('small')?.rps), unit: 'x', pass: undefined, goal: 'higher is better', ...rpsNote('small') },
    { label: '16 KiB: CPU/req vs nginx', value: ratio(p('16k')?.cpuUs, n('16k')?.cpuUs), unit: 'x', pass: undefined, goal: 'lower is better' },
    { label: '1 MiB: req/s vs nginx', value: bigRps, unit: 'x', pass: verdict(bigRps, (v) => v >= 2), goal: '≥ 2.0 (HAProxy\'s)', ...rpsNote('1m') },
    { label: '1 MiB: CPU/req vs nginx', value: ratio(p('1m')?.cpuUs, n('1m')?.cpuUs), unit: 'x', pass: undefined, goal: 'lower is better' },
    {
      label: '1000 conns: req/s vs nginx',
      value: ratio(p('conns1000')?.rps, n('conns1000')?.rps),
      unit: 'x',
      pass: undefined,
      goal: 'higher is better',
      ...rpsNote('conns1000'),
    },
    { label: '1000 conns: CPU/req vs nginx', value: ratio(p('conns1000')?.cpuUs, n('conns1000')?.cpuUs), unit: 'x', pass: undefined, goal: 'lower is better' },
    {
      label: `${idleP ? `${idleP.requested} idle conns` : 'idle conns'}: RSS per worker`,
      value: idleRss,
      unit: ' MiB',
      // a run where the connections were not all held proves nothing
      pass: idleP && idleP.openAtRead === idleP.requested ? verdict(idleRss, (v) => v < 100) : idleP ? false : undefined,
      goal: `< 100 MiB${idleP && idleP.openAtRead !== idleP.requested ? ` (only ${idleP.openAtRead} of ${idleP.requested} open: FAIL)` : ''}`,
    },
  ];
}

export function targetText(lines: readonly TargetLine[]): string {
  const w = Math.max(...lines.map((l) => l.label.length));
  return lines
    .map((l) => {
      const v = l.value === undefined ? 'n/a' : l.unit === 'x' ? x(l.value) : `${fmt(l.value, 1)}${l.unit}`;
      const verdict = l.pass === undefined ? '' : l.pass ? '  PASS' : '  MISS';
      const note = l.note && l.value !== undefined ? `\n  ${' '.repeat(w)}             (${l.note})` : '';
      return `  ${l.label.padEnd(w)}  ${v.padStart(9)}   target ${l.goal}${verdict}${note}`;
    })
    .join('\n');
}

export function writeJson(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
}
