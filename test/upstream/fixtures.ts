// Upstream groups for unit tests: real Target objects (pools that never connect unless asked)
// over a private target table, and exchanges with a chosen client identity and headers.
import type { UpstreamGroup, UpstreamTarget } from '../../src/config/types.js';
import { Exchange } from '../../src/exchange.js';
import { TargetTable } from '../../src/upstream/health/table.js';
import { Target } from '../../src/upstream/target.js';
import { CompiledUpstream } from '../../src/upstream/group.js';

export function targetConfig(port: number, weight = 1, maxConnections = 256): UpstreamTarget {
  return { url: `http://127.0.0.1:${port}`, host: '127.0.0.1', port, weight, max_connections: maxConnections };
}

export function makeTargets(weights: readonly number[], table = TargetTable.private(weights.length), name = 'g'): Target[] {
  const pool = { max_connections: 256, idle_timeout: 30_000, queue: 8 };
  return weights.map((w, i) => {
    const cfg = targetConfig(9000 + i, w);
    return new Target(name, cfg, i, pool, table.cell(name, cfg.url), 1000, 65536);
  });
}

export function groupConfig(weights: readonly number[], extra: Partial<UpstreamGroup> = {}): UpstreamGroup {
  return {
    name: 'g',
    targets: weights.map((w, i) => targetConfig(9000 + i, w)),
    pool: { max_connections: 256, idle_timeout: 30_000, queue: 8 },
    balance: { policy: 'round_robin' },
    sticky: undefined,
    health: undefined,
    passive: { failures: 3, window: 10_000, eject: 1000, max_ejected: 0.5 },
    slow_start: 0,
    ...extra,
  };
}

export function makeGroup(weights: readonly number[], extra: Partial<UpstreamGroup> = {}, table = TargetTable.private(weights.length)): CompiledUpstream {
  return new CompiledUpstream(groupConfig(weights, extra), table, 1000, 65536, { log: () => {} });
}

export function exchange(opts: { clientIp?: string; headers?: string[] } = {}): Exchange {
  const ex = new Exchange({ method: 'GET', rawPath: '/', query: '', headers: opts.headers ?? [], peerIp: opts.clientIp ?? '10.0.0.1', proxiedIp: '', scheme: 'http' }, Date.now());
  ex.identity = { clientIp: opts.clientIp ?? '10.0.0.1', proto: 'http', host: '' };
  ex.clientIp = ex.identity.clientIp;
  return ex;
}

/** How many of `n` picks each target got, by index. */
export function tally(n: number, pick: (i: number) => Target | null, size: number): number[] {
  const counts = new Array<number>(size).fill(0);
  for (let i = 0; i < n; i++) {
    const t = pick(i);
    if (t !== null) counts[t.index]!++;
  }
  return counts;
}
