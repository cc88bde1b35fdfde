// A selection policy (Caddy's reverseproxy Selector): one small function over a group snapshot.
// Each one asks of a candidate only `available()` (snapshot.ts); the group handles what happens
// when none is (queueing, 503). Built once per group per runtime; state (a cursor) lives inside.
import type { BalanceConfig } from '../../config/types.js';
import type { Exchange } from '../../exchange.js';
import type { Target } from '../target.js';
import type { Candidate, GroupSnapshot } from './snapshot.js';
import { firstAvailable } from './first.js';
import { hashPolicy } from './hash.js';
import { leastRequests } from './least-requests.js';
import { randomPolicy } from './random.js';
import { roundRobin } from './round-robin.js';

export interface Policy {
  /** A candidate for this request, or null when none is available. `tried`: targets this request already failed on. */
  select(snap: GroupSnapshot, ex: Exchange, tried: readonly Target[] | null): Candidate | null;
}

/** The policy `balance` names, for a group of `size` targets. */
export function makePolicy(balance: BalanceConfig, size: number): Policy {
  switch (balance.policy) {
    case 'round_robin': return roundRobin(size);
    case 'least_requests': return leastRequests();
    case 'random': return randomPolicy();
    case 'first': return firstAvailable();
    case 'hash': return hashPolicy(balance.key ?? { kind: 'client_ip' }, randomPolicy());
  }
}
