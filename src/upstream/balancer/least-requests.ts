// Least outstanding requests by the power of two choices: two candidates drawn at random in
// proportion to their weight, the one with fewer requests in flight per unit of weight wins
// (the first drawn on a tie, so an idle group is spread by weight). O(1) and never herds onto
// the one target that looked least loaded a moment ago.
import type { Target } from '../target.js';
import type { Policy } from './policy.js';
import { available, type Candidate } from './snapshot.js';

/** A weighted random available candidate other than `not`, or null. */
export function drawWeighted(cs: readonly Candidate[], tried: readonly Target[] | null, not: Candidate | null): Candidate | null {
  let total = 0;
  for (const c of cs) if (c !== not && available(c, tried)) total += c.weight;
  if (total <= 0) return null;
  let r = Math.random() * total;
  let last: Candidate | null = null;
  for (const c of cs) {
    if (c === not || !available(c, tried)) continue;
    last = c;
    r -= c.weight;
    if (r < 0) return c;
  }
  return last;
}

export function leastRequests(): Policy {
  return {
    select(snap, _ex, tried) {
      const cs = snap.candidates;
      const a = drawWeighted(cs, tried, null);
      if (a === null) return null;
      const b = drawWeighted(cs, tried, a);
      if (b === null) return a;
      return b.target.inflight / b.weight < a.target.inflight / a.weight ? b : a;
    },
  };
}
