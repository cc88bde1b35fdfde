// Resolution of DNS names in upstream targets, once per proxy (in the primary): every name is
// resolved at start and again when its answer's TTL (clamped to dns.min_ttl … dns.max_ttl) runs
// out; the addresses go into the shared target table, where every worker's pools read them. A
// name that does not resolve leaves its targets pending (no traffic) and is tried again after
// min_ttl; one that stops resolving keeps its last addresses.
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { Config, DnsConfig } from '../../config/types.js';
import { counter } from '../../observe/metrics.js';
import { ADDR_RESOLVED, ADDR_RESOLVING, ADDR_UNRESOLVED } from '../../shm/target-table.js';
import type { TargetCell, TargetTable } from './table.js';

export type Log = (level: 'info' | 'warn' | 'error', message: string) => void;

const failures = counter('portcullis_upstream_dns_failures_total', 'Failed resolutions of target names', ['host']);

/** How long an answer is used: its TTL (seconds) clamped to [min, max] ms; no TTL (/etc/hosts): max. */
export function answerLifetime(ttlSeconds: number | undefined, min: number, max: number): number {
  if (ttlSeconds === undefined) return max;
  return Math.min(max, Math.max(min, ttlSeconds * 1000));
}

export interface Answer {
  readonly addresses: string[];
  /** Seconds; undefined when the answer came without one (getaddrinfo). */
  readonly ttl: number | undefined;
}

/**
 * A and AAAA from the configured servers (or the system's); without configured servers, a name
 * they do not know goes through getaddrinfo too (/etc/hosts, localhost, nsswitch).
 */
export async function resolveName(host: string, cfg: DnsConfig): Promise<Answer> {
  const resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
  if (cfg.servers.length > 0) resolver.setServers([...cfg.servers]);
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host, { ttl: true }), resolver.resolve6(host, { ttl: true })]);
  const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (records.length > 0) return { addresses: records.map((r) => r.address), ttl: Math.min(...records.map((r) => r.ttl)) };
  if (cfg.servers.length === 0) {
    const found = await dns.lookup(host, { all: true });
    if (found.length > 0) return { addresses: found.map((a) => a.address), ttl: undefined };
  }
  const reason = v4.status === 'rejected' ? (v4.reason as NodeJS.ErrnoException).code ?? String(v4.reason) : 'no addresses';
  throw new Error(reason);
}

interface Name {
  readonly host: string;
  readonly cells: { readonly cell: TargetCell; readonly label: string }[];
  timer: NodeJS.Timeout | null;
  /** The last outcome logged ('' before any), so a name failing every retry is said once. */
  said: string;
  stopped: boolean;
}

export class TargetResolver {
  readonly #table: TargetTable;
  readonly #log: Log;
  #names = new Map<string, Name>();
  #cfg: DnsConfig | null = null;

  constructor(table: TargetTable, log: Log) {
    this.#table = table;
    this.#log = log;
  }

  /** Resolves every name in the config's targets from now on (names no longer used are dropped). */
  apply(config: Config): void {
    this.stop();
    this.#cfg = config.dns;
    const names = new Map<string, Name>();
    for (const group of Object.values(config.upstreams)) {
      for (const t of group.targets) {
        if (isIP(t.host) !== 0) continue;
        const cell = this.#table.cell(group.name, t.url);
        if (cell.addrState !== ADDR_RESOLVED) cell.setAddrState(ADDR_RESOLVING);
        let name = names.get(t.host);
        if (name === undefined) names.set(t.host, (name = { host: t.host, cells: [], timer: null, said: '', stopped: false }));
        name.cells.push({ cell, label: `upstream ${group.name}: ${t.url}` });
      }
    }
    this.#names = names;
    for (const name of names.values()) void this.#resolve(name);
  }

  async #resolve(name: Name): Promise<void> {
    const cfg = this.#cfg!;
    let next: number;
    try {
      const answer = await resolveName(name.host, cfg);
      if (name.stopped) return;
      let changed = false;
      for (const { cell } of name.cells) changed = cell.setAddresses(answer.addresses) || changed;
      next = answerLifetime(answer.ttl, cfg.min_ttl, cfg.max_ttl);
      const said = answer.addresses.join(', ');
      if (changed || name.said !== said) this.#log('info', `${name.host} resolved to ${said} (next in ${Math.round(next / 1000)} s)`);
      name.said = said;
    } catch (err) {
      if (name.stopped) return;
      failures.with(name.host).inc();
      const reason = (err as Error).message;
      next = cfg.min_ttl;
      let pending = false;
      for (const { cell } of name.cells) {
        if (cell.addrState === ADDR_RESOLVED) continue;
        cell.setAddrState(ADDR_UNRESOLVED);
        pending = true;
      }
      const said = `!${reason}`;
      if (name.said !== said) {
        this.#log('warn', pending
          ? `cannot resolve ${name.host} (${reason}): ${name.cells.map((c) => c.label).join(', ')} pending; trying again every ${Math.round(next / 1000)} s`
          : `cannot resolve ${name.host} (${reason}): keeping its last addresses; trying again every ${Math.round(next / 1000)} s`);
      }
      name.said = said;
    }
    name.timer = setTimeout(() => void this.#resolve(name), next);
    name.timer.unref();
  }

  stop(): void {
    for (const name of this.#names.values()) {
      name.stopped = true;
      if (name.timer !== null) clearTimeout(name.timer);
    }
    this.#names.clear();
  }
}
