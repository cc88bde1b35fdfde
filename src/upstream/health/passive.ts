// Passive health (outlier detection): failures seen on real traffic, shared by every worker
// through the target table, eject a target for a cool-down that grows when it fails again soon
// after; never more than passive.max_ejected of its group at once.
import type { PassiveHealthConfig } from '../../config/types.js';
import type { TargetCell } from './table.js';

/** The n-th ejection in a row lasts n × eject, up to this many times. */
export const MAX_EJECTION_FACTOR = 10;

/** How long the n-th ejection in a row lasts. */
export function ejectionLength(eject: number, n: number): number {
  return eject * Math.min(Math.max(n, 1), MAX_EJECTION_FACTOR);
}

/** How many of a group's targets may be ejected at once: the share, rounded down, but at least one. */
export function ejectionLimit(targets: number, share: number): number {
  return Math.max(1, Math.floor(targets * share + 1e-9));
}

/**
 * Which ejection in a row this is: the count goes on when the previous ejection ended less
 * than MAX_EJECTION_FACTOR × eject ago, else it starts over at 1.
 */
export function ejectionCount(previous: number, previousEnd: number, now: number, eject: number): number {
  if (previous === 0 || previousEnd === 0 || now - previousEnd > eject * MAX_EJECTION_FACTOR) return 1;
  return previous + 1;
}

export interface Ejection {
  readonly until: number;
  /** The ejection's number in a row (1 for the first). */
  readonly count: number;
}

/** A success: the target's failure run ends. */
export function recordSuccess(cell: TargetCell): void {
  cell.clearFails();
}

/**
 * A failure (connect error, reset, timeout, 5xx). Returns the ejection when this failure
 * caused one, null otherwise (not enough failures yet, already ejected, too many of the group
 * ejected, or another worker ejected it first).
 */
export function recordFailure(cell: TargetCell, group: readonly TargetCell[], cfg: PassiveHealthConfig, now: number): Ejection | null {
  if (cell.addFail(now, cfg.window) < cfg.failures) return null;
  const seen = cell.ejectedUntil;
  if (seen > now) return null;
  let ejected = 0;
  for (const peer of group) if (peer !== cell && peer.ejectedUntil > now) ejected++;
  if (ejected + 1 > ejectionLimit(group.length, cfg.max_ejected)) return null;
  const count = ejectionCount(cell.ejections, seen, now, cfg.eject);
  const until = now + ejectionLength(cfg.eject, count);
  return cell.eject(seen, until, count) ? { until, count } : null;
}
