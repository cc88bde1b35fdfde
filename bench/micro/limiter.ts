// Micro-benchmark: the rate limiter's shared-memory operation (one GCRA compareExchange in the
// shared table, policy/shared-limiter.ts) and the rest of a rate-limit + IP-rule check, against
// a per-thread Map of token buckets (what a limiter that is not shared would cost) in the same run.
// Run: npm run build:ts && node dist/bench/micro/limiter.js
// Env: ITERATIONS (calls per round), ROUNDS (the table shows medians), KEYS (distinct keys cycled).
import { allocateRateTable } from '../../src/shm/rate-table.js';
import { SharedLimiter } from '../../src/policy/shared-limiter.js';
import { KeyHash, prefixHash } from '../../src/policy/key-hash.js';
import { compileIpRules } from '../../src/policy/ip-rules.js';
import { envInt, measure } from './harness.js';

const ITERATIONS = envInt('ITERATIONS', 1_000_000);
const ROUNDS = envInt('ROUNDS', 7);
const KEYS = envInt('KEYS', 50_000);

const rule = { intervalNs: 1000, burst: 1_000_000 }; // 1M/s: every call is granted and written
const ips = Array.from({ length: KEYS }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
const seed = prefixHash('rl\u0000/\u0000client_ip');
const hashes = ips.map((ip) => { const k = new KeyHash().reset(seed.h, seed.t).add(ip); return [k.h, k.tag] as const; });

/** The baseline: a token bucket per key in a Map, per thread (no sharing, no bound on keys). */
class MapBuckets {
  readonly #m = new Map<string, { tokens: number; at: number }>();
  take(key: string, nowNs: number): boolean {
    let b = this.#m.get(key);
    if (b === undefined) { b = { tokens: rule.burst, at: nowNs }; this.#m.set(key, b); }
    b.tokens = Math.min(rule.burst, b.tokens + (nowNs - b.at) / rule.intervalNs);
    b.at = nowNs;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

function main(): void {
  console.log(`limiter micro-bench: node ${process.version}, ITERATIONS=${ITERATIONS}, ROUNDS=${ROUNDS}, KEYS=${KEYS}; CPU ns per call (lower is better)`);
  const limiter = new SharedLimiter(allocateRateTable(65536));
  const map = new MapBuckets();
  const ip = compileIpRules({ allow: ['127.0.0.0/8', '10.0.0.0/8'], deny: ['127.0.0.2/32'] });
  const scratch = new KeyHash();
  let sink = 0;
  const rows: [string, number][] = [];

  rows.push(['shared table take, 1 key (clock read included)', measure(ITERATIONS, ROUNDS, (n) => {
    const [h, t] = hashes[0]!;
    for (let i = 0; i < n; i++) if (limiter.take(h, t, rule).allowed) sink++;
  })]);
  rows.push([`shared table takeAt, ${KEYS} keys cycled`, measure(ITERATIONS, ROUNDS, (n) => {
    const now = limiter.now();
    for (let i = 0; i < n; i++) { const [h, t] = hashes[i % KEYS]!; if (limiter.takeAt(h, t, rule, now + i).allowed) sink++; }
  })]);
  rows.push([`Map buckets (per thread), ${KEYS} keys cycled`, measure(ITERATIONS, ROUNDS, (n) => {
    const now = limiter.now();
    for (let i = 0; i < n; i++) if (map.take(ips[i % KEYS]!, now + i)) sink++;
  })]);
  rows.push(['key hash of a client IP', measure(ITERATIONS, ROUNDS, (n) => {
    for (let i = 0; i < n; i++) sink += scratch.reset(seed.h, seed.t).add(ips[i % KEYS]!).h & 1;
  })]);
  rows.push(['IP rule (allow 2 CIDRs, deny 1)', measure(ITERATIONS, ROUNDS, (n) => {
    for (let i = 0; i < n; i++) if (ip(ips[i % KEYS]!)) sink++;
  })]);
  rows.push(['rate limit + IP rule as the phase runs them', measure(ITERATIONS, ROUNDS, (n) => {
    for (let i = 0; i < n; i++) {
      const addr = ips[i % KEYS]!;
      if (!ip(addr)) continue;
      const k = scratch.reset(seed.h, seed.t).add(addr);
      if (limiter.take(k.h, k.tag, rule).allowed) sink++;
    }
  })]);
  const width = Math.max(...rows.map(([n]) => n.length));
  for (const [name, ns] of rows) console.log(`  ${name.padEnd(width)}  ${ns.toFixed(0).padStart(6)} ns`);
  console.log(`  (evictions while measuring: ${limiter.evictions}; sink ${sink > 0 ? 'ok' : 'empty'})`);
}

main();
