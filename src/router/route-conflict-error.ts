// RouteConflictError: a route table that cannot be built, naming the host and pattern at
// fault (two routes for the same host and path, or a pattern or host we cannot parse).

export class RouteConflictError extends Error {
  /** The route's host as written ('*' for any host). */
  readonly host: string;
  /** The route's path pattern as written. */
  readonly pattern: string;

  constructor(host: string, pattern: string, reason: string) {
    super(`route ${host} ${pattern}: ${reason}`);
    this.name = 'RouteConflictError';
    this.host = host;
    this.pattern = pattern;
  }
}
