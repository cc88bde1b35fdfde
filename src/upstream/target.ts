// One upstream target as a worker sees it: its keep-alive pool, its requests in flight here
// (least_requests and `full` read them), its shared health cell, and where to connect (the
// literal address, or the addresses the primary resolved for its name).
import { lookup as systemLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { resolvedLookup } from '../net/lookup.js';
import type { PoolOptions, UpstreamTarget } from '../config/types.js';
import { ADDR_BY_NAME, ADDR_RESOLVED } from '../shm/target-table.js';
import { slotKey } from '../shm/key.js';
import type { TargetCell } from './health/table.js';
import { targetKey } from './health/table.js';
import { UpstreamPool, type Dial } from './pool.js';
import type { UpstreamTls } from './tls.js';

export class Target implements Dial {
  readonly upstream: string;
  readonly config: UpstreamTarget;
  readonly url: string;
  /** Position in the group's targets (policies keep per-target state by it). */
  readonly index: number;
  readonly cell: TargetCell;
  readonly pool: UpstreamPool;
  /** The sticky cookie's value for this target: a hash of its identity, never its address. */
  readonly stickyId: string;
  /** Per-target seed of rendezvous hashing (balancer/hash.ts), from its URL. */
  readonly seed: number;
  readonly maxConnections: number;
  /** Most requests waiting for this target's connections (pool.queue). */
  readonly queue: number;
  /** Requests of this worker on this target: waiting for a connection or being answered. */
  inflight = 0;
  readonly lookup: LookupFunction | undefined;
  readonly #literal: boolean;
  #addrGen = -1;
  #addresses: string[] = [];
  #next = 0;

  /** `tls`: how an https target is reached (upstream/tls.ts); null for http. */
  constructor(upstream: string, config: UpstreamTarget, index: number, pool: PoolOptions, cell: TargetCell, connectTimeoutMs: number, maxHeadBytes: number, tls: UpstreamTls | null = null) {
    this.upstream = upstream;
    this.config = config;
    this.url = config.url;
    this.index = index;
    this.cell = cell;
    this.maxConnections = config.max_connections;
    this.queue = pool.queue;
    this.#literal = isIP(config.host) !== 0;
    const [hi, lo] = slotKey(targetKey(upstream, config.url));
    this.stickyId = (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
    // By URL alone: a key maps to the same target whatever the group is called.
    this.seed = slotKey(config.url)[1] >>> 0;
    // A name the primary resolves is dialled through its shared addresses; one nobody resolves
    // for us (no supervisor) goes to getaddrinfo as written.
    this.lookup = this.#literal ? undefined : resolvedLookupOr(this);
    this.pool = new UpstreamPool(config, { ...pool, max_connections: config.max_connections }, connectTimeoutMs, maxHeadBytes, tls, this);
  }

  /** Whether a connection can be opened: a literal address, or a name that resolved (or that nobody resolves for us). */
  get dialable(): boolean {
    if (this.#literal) return true;
    const s = this.cell.addrState;
    return s === ADDR_BY_NAME || s === ADDR_RESOLVED;
  }

  // Dial ------------------------------------------------------------------------------------------
  /** The addresses for the next connection: the resolved ones, each connection starting one further (spreads A records). */
  addresses(): readonly string[] {
    const cell = this.cell;
    if (cell.addrState !== ADDR_RESOLVED) return [];
    const gen = cell.addrGen;
    if (gen !== this.#addrGen) {
      this.#addrGen = gen;
      this.#addresses = cell.addresses();
    }
    const list = this.#addresses;
    if (list.length < 2) return list;
    const start = this.#next++ % list.length;
    return [...list.slice(start), ...list.slice(0, start)];
  }

  /** Changes when the resolved addresses change (pools then drop idle connections to the old ones). */
  generation(): number {
    return this.#literal ? 0 : this.cell.addrGen;
  }
}

/** The target's shared addresses once resolved; getaddrinfo while its name is not managed by a resolver. */
function resolvedLookupOr(target: Target): LookupFunction {
  const shared = resolvedLookup(() => target.addresses());
  return ((hostname, options, callback) => {
    if (target.cell.addrState === ADDR_BY_NAME) systemLookup(hostname, options, callback as never);
    else shared(hostname, options, callback);
  }) as LookupFunction;
}
