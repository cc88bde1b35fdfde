// Ordered failover: the first available target in config order takes everything; the next one
// only while it is down, ejected or full.
import type { Policy } from './policy.js';
import { available } from './snapshot.js';

export function firstAvailable(): Policy {
  return {
    select(snap, _ex, tried) {
      for (const c of snap.candidates) if (available(c, tried)) return c;
      return null;
    },
  };
}
