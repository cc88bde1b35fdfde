// The immutable view of a group that the policies select from: which targets may take traffic
// (healthy or not yet checked, not ejected, with an address) and at what weight (slow start
// applied). Rebuilt by the group when the shared table changes or a time-based change is due
// (an ejection ends, a slow start ramps), never per request.
import { STATE_UNHEALTHY } from '../../shm/target-table.js';
import type { Target } from '../target.js';

export interface Candidate {
  readonly target: Target;
  /** Effective weight: the configured one, ramped during slow start. */
  readonly weight: number;
}

export interface GroupSnapshot {
  /** In config order. In panic, every target with an address (health ignored). */
  readonly candidates: readonly Candidate[];
  /** No target was usable: traffic goes to all of them rather than to none. */
  readonly panic: boolean;
  /** The shared table's generation this was built at. */
  readonly gen: number;
  /** Rebuild at or after this time (ms), for an ejection's end or a slow-start step. */
  readonly validUntil: number;
}

/** Slow start: the weight ramps from 10% to all of it over `slowStart` ms after `since`. */
export const SLOW_START_FLOOR = 0.1;
/** While a ramp runs, the snapshot is rebuilt this often. */
export const SLOW_START_STEP_MS = 100;

export function rampFactor(now: number, since: number, slowStart: number): number {
  if (slowStart <= 0 || since <= 0 || now - since >= slowStart) return 1;
  return Math.max(SLOW_START_FLOOR, (now - since) / slowStart);
}

/**
 * The one question every policy asks of a candidate: may it take this request now? Usable
 * (built in) and not full (this worker's requests in flight below its max_connections), and
 * not already tried by this request.
 */
export function available(c: Candidate, tried: readonly Target[] | null): boolean {
  const t = c.target;
  return t.inflight < t.maxConnections && (tried === null || !tried.includes(t));
}

export function buildSnapshot(targets: readonly Target[], gen: number, now: number, slowStart: number): GroupSnapshot {
  const candidates: Candidate[] = [];
  let validUntil = Infinity;
  for (const t of targets) {
    if (!t.dialable) continue;
    const cell = t.cell;
    const ejectedUntil = cell.ejectedUntil;
    if (ejectedUntil > now) {
      validUntil = Math.min(validUntil, ejectedUntil);
      continue;
    }
    if (cell.state === STATE_UNHEALTHY) continue;
    const since = Math.max(cell.recoveredAt, ejectedUntil);
    const factor = rampFactor(now, since, slowStart);
    if (factor < 1) validUntil = Math.min(validUntil, now + SLOW_START_STEP_MS);
    candidates.push({ target: t, weight: t.config.weight * factor });
  }
  if (candidates.length > 0) return { candidates, panic: false, gen, validUntil };
  // Panic: every target is down or ejected. Keep trying them all (the checks may be wrong, or
  // a target may be back before its next check) rather than answer 503 until one recovers.
  const all: Candidate[] = [];
  for (const t of targets) if (t.dialable) all.push({ target: t, weight: t.config.weight });
  return { candidates: all, panic: true, gen, validUntil };
}
