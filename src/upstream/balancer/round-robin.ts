// Smooth weighted round robin (nginx's): every pick adds each available candidate's weight to
// its counter, takes the highest and subtracts the total from it. Weights 5:1:1 give
// a a b a c a a, not a a a a a b c; equal weights give plain rotation.
import type { Policy } from './policy.js';
import { available, type Candidate } from './snapshot.js';

export function roundRobin(size: number): Policy {
  const current = new Float64Array(size);
  return {
    select(snap, _ex, tried) {
      let total = 0;
      let best: Candidate | null = null;
      let bestValue = -Infinity;
      for (const c of snap.candidates) {
        if (!available(c, tried)) continue;
        const i = c.target.index;
        const v = current[i]! + c.weight;
        current[i] = v;
        total += c.weight;
        if (v > bestValue) { bestValue = v; best = c; }
      }
      if (best !== null) current[best.target.index] = bestValue - total;
      return best;
    },
  };
}
