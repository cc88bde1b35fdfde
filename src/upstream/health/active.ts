// Active health: what one check result does to a target's state. Pure; the primary's checker
// (health/checker.ts) runs the checks and writes the result into the shared target table.
import { STATE_HEALTHY, STATE_PENDING, STATE_UNHEALTHY } from '../../shm/target-table.js';

export interface CheckState {
  /** STATE_PENDING, STATE_HEALTHY or STATE_UNHEALTHY. */
  readonly state: number;
  /** Consecutive passed and failed checks. */
  readonly ok: number;
  readonly fail: number;
}

export interface Thresholds {
  readonly healthy_after: number;
  readonly unhealthy_after: number;
}

/**
 * The state after one more check. A pending target (no verdict yet, as at start) takes the
 * first result at once; after that it takes unhealthy_after failures in a row to go down and
 * healthy_after passes in a row to come back.
 */
export function afterCheck(c: CheckState, passed: boolean, t: Thresholds): CheckState {
  const ok = passed ? c.ok + 1 : 0;
  const fail = passed ? 0 : c.fail + 1;
  if (c.state === STATE_PENDING) return { state: passed ? STATE_HEALTHY : STATE_UNHEALTHY, ok, fail };
  if (c.state === STATE_HEALTHY && fail >= t.unhealthy_after) return { state: STATE_UNHEALTHY, ok, fail };
  if (c.state === STATE_UNHEALTHY && ok >= t.healthy_after) return { state: STATE_HEALTHY, ok, fail };
  return { state: c.state, ok, fail };
}

/** Whether a status passes `expect` (inclusive ranges). */
export function statusPasses(status: number, expect: readonly (readonly [number, number])[]): boolean {
  for (const [lo, hi] of expect) if (status >= lo && status <= hi) return true;
  return false;
}

export function stateName(state: number): 'pending' | 'healthy' | 'unhealthy' {
  return state === STATE_HEALTHY ? 'healthy' : state === STATE_UNHEALTHY ? 'unhealthy' : 'pending';
}
