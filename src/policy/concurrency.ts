// limits.max_requests_per_ip: requests (and WebSocket tunnels) one client IP may have in flight,
// counted across workers in shared memory and released when the exchange ends.
import { ProxyError } from '../errors.js';
import { KeyHash, prefixHash } from './key-hash.js';
import { OVER_LIMIT, type SharedCounters } from './shared-counters.js';
import { refuse, type Check } from './verdict.js';

const scratch = new KeyHash();
const SEED = prefixHash('conc');

export function concurrencyCheck(limit: number, counters: SharedCounters): Check {
  const refusal = refuse(new ProxyError('PC_ERR_CONCURRENCY', `over ${limit} in flight`), ['retry-after', '1']);
  return (ex) => {
    const k = scratch.reset(SEED.h, SEED.t).add(ex.identity!.clientIp);
    const slot = counters.acquire(k.h, k.tag, limit);
    if (slot === OVER_LIMIT) return refusal;
    // Released when the exchange ends, however it ends (pipeline.ts releasing()).
    if (slot >= 0) ex.release = () => counters.release(slot);
    return null;
  };
}
