// RouteConflictError: a route table that cannot be built, naming the host and pattern at
// fault (two routes for the same host and path, or a pattern or host we cannot parse).

export class RouteConflictError extends Error {
  /** The route's host as written ('*' for any host). */
  readonly host: string;
  /** The route's path pattern as written. */
  readonly pattern: string;
  /** The bare reason, without the route named in front (for callers that name it their way). */
  readonly reason: string;
  /**
   * For a conflict, the route already in the table: its pattern and the value it was added
   * with (config validation adds route indexes, to name the earlier route). Absent when the
   * route itself is invalid.
   */
  readonly existing?: { readonly pattern: string; readonly value: unknown };

  constructor(host: string, pattern: string, reason: string, existing?: { pattern: string; value: unknown }) {
    super(`route ${host} ${pattern}: ${reason}`);
    this.name = 'RouteConflictError';
    this.host = host;
    this.pattern = pattern;
    this.reason = reason;
    if (existing !== undefined) this.existing = existing;
  }
}
