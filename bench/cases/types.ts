// What a bench case is: a load run on one path, or a count of idle connections.

export interface LoadCase {
  readonly kind: 'load';
  readonly name: string;
  readonly title: string;
  readonly path: string;
  /** Expected body length, checked once per target before measuring. */
  readonly bodyBytes: number;
  /** Overrides CONNECTIONS. */
  readonly connections?: number;
  /** Fixed total request rate (req/s) instead of as fast as possible; autocannon only. */
  readonly rate?: number;
}

export interface IdleCase {
  readonly kind: 'idle';
  readonly name: string;
  readonly title: string;
  readonly path: string;
  readonly bodyBytes: number;
}

export type Case = LoadCase | IdleCase;
