// Random, in proportion to the weights.
import { drawWeighted } from './least-requests.js';
import type { Policy } from './policy.js';

export function randomPolicy(): Policy {
  return { select: (snap, _ex, tried) => drawWeighted(snap.candidates, tried, null) };
}
