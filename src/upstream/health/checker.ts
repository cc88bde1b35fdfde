// Active health checks, run once per proxy (in the primary), never once per worker: every
// `health.interval` each target of a group with `health` gets one GET; the results move its
// state in the shared target table (health/active.ts), where every worker's balancer reads it
// at its next request.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { isIP, type LookupFunction } from 'node:net';
import { resolvedLookup } from '../../net/lookup.js';
import type { Config, HealthCheckConfig, UpstreamTarget } from '../../config/types.js';
import { counter } from '../../observe/metrics.js';
import { ADDR_RESOLVED, STATE_HEALTHY, STATE_UNHEALTHY } from '../../shm/target-table.js';
import { afterCheck, stateName, statusPasses } from './active.js';
import type { Log } from './resolver.js';
import type { TargetCell, TargetTable } from './table.js';
import { compileContext, upstreamTls, type UpstreamTls } from '../tls.js';

const transitions = counter('portcullis_upstream_health_transitions_total', 'Active health state changes of targets', ['upstream', 'target', 'state']);

const USER_AGENT = 'portcullis-health-check';

/** One target's checks: one GET per interval, whose result every group listing it with the same settings takes. */
interface Probe {
  readonly target: UpstreamTarget;
  readonly cfg: HealthCheckConfig;
  readonly cells: { readonly upstream: string; readonly cell: TargetCell }[];
  /** An https:// target is checked over TLS with its group's settings (CA, name, client certificate). */
  readonly tls: UpstreamTls | null;
  running: boolean;
}

/** One GET; resolves with the status, or a reason when there was no complete answer in time. `lookup`: a name's resolved addresses. */
export function probe(target: UpstreamTarget, cfg: HealthCheckConfig, lookup: LookupFunction | undefined, t: UpstreamTls | null = null): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: { status: number } | { error: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const host = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
    // TLS as the workers' connections do it (upstream/tls.ts): a check that passed over plain
    // HTTP would say nothing about the port requests go to.
    const secure = t === null ? {} : {
      ...(t.servername === undefined ? {} : { servername: t.servername }),
      secureContext: t.context,
      rejectUnauthorized: t.verify,
      checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(t.checkName, cert),
    };
    const req = (t === null ? http : https).request({
      host: target.host,
      port: target.port,
      ...(lookup === undefined ? {} : { lookup }),
      ...secure,
      method: 'GET',
      path: cfg.path,
      agent: false,
      setHost: false,
      headers: { host: target.port === (t === null ? 80 : 443) ? host : `${host}:${target.port}`, 'user-agent': USER_AGENT, accept: '*/*', connection: 'close' },
    }, (res) => {
      const status = res.statusCode ?? 0;
      res.on('data', () => {});
      res.on('end', () => done({ status }));
      res.on('error', (err) => done({ error: err.message }));
    });
    const timer = setTimeout(() => done({ error: `no answer within ${cfg.timeout} ms` }), cfg.timeout);
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
    req.end();
  });
}

export class HealthChecker {
  readonly #table: TargetTable;
  readonly #log: Log;
  readonly #timers: NodeJS.Timeout[] = [];
  /** Bumped by every apply() and stop(): a check sent under an older one reports to no one. */
  #round = 0;

  constructor(table: TargetTable, log: Log) {
    this.#table = table;
    this.#log = log;
  }

  /**
   * Checks the config's groups from now on; the first round starts at once. A target listed by
   * several groups with the same health settings is asked once per interval, not once per group.
   */
  apply(config: Config): void {
    this.stop();
    const probes = new Map<string, Probe>();
    for (const group of Object.values(config.upstreams)) {
      const cfg = group.health;
      if (cfg === undefined) continue;
      let context: tls.SecureContext | null = null;
      for (const target of group.targets) {
        const key = `${target.url}\n${JSON.stringify(cfg)}\n${JSON.stringify(group.tls ?? null)}`;
        let p = probes.get(key);
        if (p === undefined) {
          const t = target.https === true ? upstreamTls(target, group.tls, (context ??= compileContext(group.tls))) : null;
          probes.set(key, (p = { target, cfg, cells: [], tls: t, running: false }));
        }
        p.cells.push({ upstream: group.name, cell: this.#table.cell(group.name, target.url) });
      }
    }
    const byInterval = new Map<number, Probe[]>();
    for (const p of probes.values()) {
      const list = byInterval.get(p.cfg.interval) ?? [];
      list.push(p);
      byInterval.set(p.cfg.interval, list);
    }
    for (const [interval, list] of byInterval) {
      const round = (): void => { for (const p of list) if (!p.running) void this.#check(p); };
      round();
      const timer = setInterval(round, interval);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  async #check(p: Probe): Promise<void> {
    const cfg = p.cfg;
    let lookup: LookupFunction | undefined;
    if (isIP(p.target.host) === 0) {
      // A name is checked at its resolved addresses; until it resolves there is nothing to ask.
      const cell = p.cells[0]!.cell;
      if (cell.addrState !== ADDR_RESOLVED) return;
      lookup = resolvedLookup(() => cell.addresses());
    }
    p.running = true;
    const round = this.#round;
    const result = await probe(p.target, cfg, lookup, p.tls);
    p.running = false;
    // Sent before a reload (or stop): a stale answer must not overrule the newer checks.
    if (round !== this.#round) return;
    const passed = 'status' in result && statusPasses(result.status, cfg.expect);
    const why = 'status' in result ? `status ${result.status}` : result.error;
    for (const { upstream, cell } of p.cells) this.#apply(upstream, p.target, cell, cfg, passed, why);
  }

  #apply(upstream: string, target: UpstreamTarget, cell: TargetCell, cfg: HealthCheckConfig, passed: boolean, why: string): void {
    const before = { state: cell.state, ok: cell.checkOk, fail: cell.checkFail };
    const after = afterCheck(before, passed, cfg);
    cell.setChecks(after.ok, after.fail);
    if (after.state === before.state) return;
    // Back from unhealthy: slow start ramps from now.
    cell.setState(after.state, before.state === STATE_UNHEALTHY && after.state === STATE_HEALTHY ? Date.now() : null);
    transitions.with(upstream, target.url, stateName(after.state)).inc();
    const down = after.state === STATE_UNHEALTHY;
    const n = down ? after.fail : after.ok;
    this.#log(down ? 'warn' : 'info', `upstream ${upstream}: ${target.url} ${stateName(after.state)} (${n} ${down ? 'failed' : 'passed'} check${n === 1 ? '' : 's'}, last: ${why})`);
  }

  stop(): void {
    this.#round++;
    for (const t of this.#timers.splice(0)) clearInterval(t);
  }
}
