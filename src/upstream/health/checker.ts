// Active health checks, run once per proxy (in the primary), never once per worker: every
// `health.interval` each target of a group with `health` gets one GET; the results move its
// state in the shared target table (health/active.ts), where every worker's balancer reads it
// at its next request.
import http from 'node:http';
import { isIP } from 'node:net';
import type { Config, HealthCheckConfig, UpstreamTarget } from '../../config/types.js';
import { counter } from '../../observe/metrics.js';
import { ADDR_RESOLVED, STATE_HEALTHY, STATE_UNHEALTHY } from '../../shm/target-table.js';
import { afterCheck, stateName, statusPasses } from './active.js';
import type { Log } from './resolver.js';
import type { TargetCell, TargetTable } from './table.js';

const transitions = counter('portcullis_upstream_health_transitions_total', 'Active health state changes of targets', ['upstream', 'target', 'state']);

const USER_AGENT = 'portcullis-health-check';

interface Probe {
  readonly upstream: string;
  readonly target: UpstreamTarget;
  readonly cell: TargetCell;
  running: boolean;
}

/** One GET; resolves with the status, or a reason when there was no complete answer in time. */
export function probe(address: string, target: UpstreamTarget, cfg: HealthCheckConfig): Promise<{ status: number } | { error: string }> {
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
    const req = http.request({
      host: address,
      port: target.port,
      method: 'GET',
      path: cfg.path,
      agent: false,
      setHost: false,
      headers: { host: target.port === 80 ? host : `${host}:${target.port}`, 'user-agent': USER_AGENT, accept: '*/*', connection: 'close' },
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
  #stopped = false;

  constructor(table: TargetTable, log: Log) {
    this.#table = table;
    this.#log = log;
  }

  /** Checks the config's groups from now on; the first round starts at once. */
  apply(config: Config): void {
    this.stop();
    this.#stopped = false;
    for (const group of Object.values(config.upstreams)) {
      const cfg = group.health;
      if (cfg === undefined) continue;
      const probes: Probe[] = group.targets.map((target) => ({ upstream: group.name, target, cell: this.#table.cell(group.name, target.url), running: false }));
      const round = (): void => { for (const p of probes) if (!p.running) void this.#check(p, cfg); };
      round();
      const timer = setInterval(round, cfg.interval);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  async #check(p: Probe, cfg: HealthCheckConfig): Promise<void> {
    let address = p.target.host;
    if (isIP(address) === 0) {
      // A name is checked at its resolved address; until it resolves there is nothing to ask.
      if (p.cell.addrState !== ADDR_RESOLVED) return;
      address = p.cell.addresses()[0] ?? address;
    }
    p.running = true;
    const result = await probe(address, p.target, cfg);
    p.running = false;
    if (this.#stopped) return;
    const passed = 'status' in result && statusPasses(result.status, cfg.expect);
    const cell = p.cell;
    const before = { state: cell.state, ok: cell.checkOk, fail: cell.checkFail };
    const after = afterCheck(before, passed, cfg);
    cell.setChecks(after.ok, after.fail);
    if (after.state === before.state) return;
    // Back from unhealthy: slow start ramps from now.
    cell.setState(after.state, before.state === STATE_UNHEALTHY && after.state === STATE_HEALTHY ? Date.now() : null);
    transitions.with(p.upstream, p.target.url, stateName(after.state)).inc();
    const why = 'status' in result ? `status ${result.status}` : result.error;
    this.#log(after.state === STATE_UNHEALTHY ? 'warn' : 'info',
      `upstream ${p.upstream}: ${p.target.url} ${stateName(after.state)} (${after.state === STATE_UNHEALTHY ? `${after.fail} failed` : `${after.ok} passed`} check${(after.state === STATE_UNHEALTHY ? after.fail : after.ok) === 1 ? '' : 's'}, last: ${why})`);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.splice(0)) clearInterval(t);
  }
}
