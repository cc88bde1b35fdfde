// What a bench case is: a load run on one path, or a count of idle connections.
import type { TargetName } from '../lib/targets.js';

/** The targets a case measures unless it lists its own. */
export const DEFAULT_TARGETS: readonly TargetName[] = ['direct', 'portcullis', 'before', 'floor', 'nginx', 'nginx-same'];

/** The same-run ratios printed under the table for the cases that measure DEFAULT_TARGETS (issue #10). */
export const DEFAULT_RATIOS: readonly (readonly [TargetName, TargetName])[] = [
  ['portcullis', 'nginx'],
  ['portcullis', 'nginx-same'],
  ['portcullis', 'floor'],
  ['floor', 'nginx'],
  ['portcullis', 'before'],
];

export interface LoadCase {
  readonly kind: 'load';
  readonly name: string;
  /** CASES=<group> selects every case of the group (e.g. cache-hit: 13 B and 16 KiB). */
  readonly group?: string;
  readonly title: string;
  readonly path: string;
  /** Expected body length (after undoing `encoding`), checked once per target before measuring. */
  readonly bodyBytes: number;
  /** Overrides CONNECTIONS. */
  readonly connections?: number;
  /** Fixed total request rate (req/s) instead of as fast as possible; autocannon only. */
  readonly rate?: number;
  /** Request headers on every request, the body check included. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The Content-Encoding every target must answer with ('' or absent: none). */
  readonly encoding?: string;
  /** The targets measured, in this order (default DEFAULT_TARGETS). */
  readonly targets?: readonly TargetName[];
  /** The row each target's "vs nginx" columns divide by (default 'nginx'): the nginx doing the same job. */
  readonly peers?: Partial<Record<TargetName, TargetName>>;
  /** Further same-run ratios printed under the table: [row, baseline]. */
  readonly ratios?: readonly (readonly [TargetName, TargetName])[];
  /** Printed in its own table, with the requests that reached the origin (the cache cases). */
  readonly section?: 'cache';
  /**
   * The path's answers are never stored (no freshness): a caching target's second GET must not be a
   * hit, and every measured request reaches the origin. For the cost of the cache being on.
   */
  readonly uncacheable?: true;
}

export interface IdleCase {
  readonly kind: 'idle';
  readonly name: string;
  readonly group?: string;
  readonly title: string;
  readonly path: string;
  readonly bodyBytes: number;
  readonly headers?: undefined;
  readonly encoding?: undefined;
  readonly targets?: undefined;
}

export type Case = LoadCase | IdleCase;

export function caseTargets(c: Case): readonly TargetName[] {
  return c.targets ?? DEFAULT_TARGETS;
}
