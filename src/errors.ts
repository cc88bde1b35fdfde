// Errors as data: every failure the proxy can answer is a ProxyError with a stable
// PC_ERR_* code, the status it maps to, the side that caused it and whether a retry
// on another connection may help. Only this file knows statuses.

export type ErrorSide = 'client' | 'upstream' | 'internal';

export interface ErrorSpec {
  readonly status: number;
  readonly side: ErrorSide;
  readonly retryable: boolean;
  /** Short, human reason sent in the error body and logged. */
  readonly reason: string;
}

/** The registry. docs/errors.md lists the same codes; test/errors.test.ts keeps them in sync. */
export const ERRORS = {
  PC_ERR_BAD_REQUEST: { status: 400, side: 'client', retryable: false, reason: 'malformed request' },
  PC_ERR_SMUGGLING: { status: 400, side: 'client', retryable: false, reason: 'ambiguous message framing' },
  PC_ERR_BAD_HEADER: { status: 400, side: 'client', retryable: false, reason: 'invalid header' },
  PC_ERR_BAD_PATH: { status: 400, side: 'client', retryable: false, reason: 'invalid request target' },
  PC_ERR_BAD_CHUNK: { status: 400, side: 'client', retryable: false, reason: 'invalid chunked body' },
  PC_ERR_NO_ROUTE: { status: 404, side: 'client', retryable: false, reason: 'no route matches this host and path' },
  PC_ERR_METHOD: { status: 405, side: 'client', retryable: false, reason: 'method not supported' },
  PC_ERR_WEBSOCKET_VERSION: { status: 426, side: 'client', retryable: false, reason: 'WebSocket version not supported (13 is)' },
  PC_ERR_BODY_TOO_LARGE: { status: 413, side: 'client', retryable: false, reason: 'request body exceeds the limit' },
  PC_ERR_HEADERS_TOO_LARGE: { status: 431, side: 'client', retryable: false, reason: 'request header fields too large' },
  PC_ERR_METHOD_NOT_ALLOWED: { status: 405, side: 'client', retryable: false, reason: 'method not allowed on this route' },
  PC_ERR_URL_TOO_LONG: { status: 414, side: 'client', retryable: false, reason: 'request target too long' },
  PC_ERR_HIDDEN_PATH: { status: 404, side: 'client', retryable: false, reason: 'not found' },
  PC_ERR_DENIED: { status: 403, side: 'client', retryable: false, reason: 'request refused by a deny rule' },
  PC_ERR_IP_DENIED: { status: 403, side: 'client', retryable: false, reason: 'client address not allowed' },
  PC_ERR_AUTH_MISSING: { status: 401, side: 'client', retryable: false, reason: 'authentication required' },
  PC_ERR_AUTH_INVALID: { status: 401, side: 'client', retryable: false, reason: 'invalid credentials' },
  PC_ERR_AUTH_EXPIRED: { status: 401, side: 'client', retryable: false, reason: 'credentials expired' },
  PC_ERR_RATE_LIMITED: { status: 429, side: 'client', retryable: false, reason: 'rate limit exceeded' },
  PC_ERR_CONCURRENCY: { status: 429, side: 'client', retryable: false, reason: 'too many requests in flight from this address' },
  PC_ERR_REDIRECT_LOOP: { status: 508, side: 'internal', retryable: false, reason: 'redirect loop: the target is this same URL' },
  PC_ERR_AUTH_UNAVAILABLE: { status: 502, side: 'upstream', retryable: false, reason: 'auth service unavailable' },
  PC_ERR_AUTH_BUSY: { status: 503, side: 'internal', retryable: false, reason: 'too many password checks in progress' },
  PC_ERR_CLIENT_ABORTED: { status: 499, side: 'client', retryable: false, reason: 'client closed the connection' },
  PC_ERR_CLIENT_TIMEOUT: { status: 408, side: 'client', retryable: false, reason: 'client too slow' },
  PC_ERR_UPSTREAM_CONNECT: { status: 502, side: 'upstream', retryable: true, reason: 'upstream connection failed' },
  PC_ERR_UPSTREAM_RESET: { status: 502, side: 'upstream', retryable: true, reason: 'upstream closed the connection' },
  PC_ERR_UPSTREAM_PROTOCOL: { status: 502, side: 'upstream', retryable: false, reason: 'invalid response from upstream' },
  PC_ERR_UPSTREAM_HEADERS_TOO_LARGE: { status: 502, side: 'upstream', retryable: false, reason: 'upstream response head too large' },
  PC_ERR_UPSTREAM_UNAVAILABLE: { status: 503, side: 'upstream', retryable: false, reason: 'no upstream available' },
  PC_ERR_UPLOAD_BACKLOG: { status: 503, side: 'upstream', retryable: false, reason: 'upstream takes the request body too slowly' },
  PC_ERR_UPSTREAM_TIMEOUT: { status: 504, side: 'upstream', retryable: false, reason: 'upstream timed out' },
  PC_ERR_SHUTTING_DOWN: { status: 503, side: 'internal', retryable: false, reason: 'proxy is shutting down' },
  PC_ERR_INTERNAL: { status: 500, side: 'internal', retryable: false, reason: 'internal proxy error' },
  // The admin API (primary/admin.ts) answers with these, as JSON.
  PC_ERR_ADMIN_UNAUTHORIZED: { status: 401, side: 'client', retryable: false, reason: 'admin token missing or wrong' },
  PC_ERR_ADMIN_FORBIDDEN: { status: 403, side: 'client', retryable: false, reason: 'admin request refused: unexpected Host or cross-site origin' },
  PC_ERR_ADMIN_NOT_FOUND: { status: 404, side: 'client', retryable: false, reason: 'no such admin endpoint' },
  PC_ERR_ADMIN_METHOD: { status: 405, side: 'client', retryable: false, reason: 'method not allowed on this admin endpoint' },
  PC_ERR_ADMIN_BAD_REQUEST: { status: 400, side: 'client', retryable: false, reason: 'invalid admin request' },
  PC_ERR_ADMIN_BODY_TOO_LARGE: { status: 413, side: 'client', retryable: false, reason: 'admin request body too large' },
  PC_ERR_RELOAD_INVALID: { status: 422, side: 'client', retryable: false, reason: 'the new config is invalid; the running config is kept' },
  PC_ERR_RELOAD_RESTART: { status: 409, side: 'client', retryable: false, reason: 'the new config changes what only a restart can; the running config is kept' },
  PC_ERR_RELOAD_UNSUPPORTED: { status: 409, side: 'client', retryable: false, reason: 'started without a config file: nothing to reload' },
  PC_ERR_RELOAD_FAILED: { status: 500, side: 'internal', retryable: false, reason: 'the workers could not apply the new config; the running config is kept' },
  PC_ERR_PURGE_UNAVAILABLE: { status: 501, side: 'internal', retryable: false, reason: 'cache purge is not available' },
  PC_ERR_DRAINING: { status: 503, side: 'internal', retryable: false, reason: 'the proxy is draining' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly side: ErrorSide;
  readonly retryable: boolean;
  /** Optional detail for logs (never sent to the client beyond the short reason). */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, retryable?: boolean) {
    const spec: ErrorSpec = ERRORS[code];
    super(detail ? `${spec.reason}: ${detail}` : spec.reason);
    this.name = 'ProxyError';
    this.code = code;
    this.status = spec.status;
    this.side = spec.side;
    this.retryable = retryable ?? spec.retryable;
    this.detail = detail;
  }
}

/** Maps anything thrown to a ProxyError; unknown errors are internal (500). */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  return new ProxyError('PC_ERR_INTERNAL', err instanceof Error ? err.message : String(err));
}

/** The short body every error answer carries: status, reason and the code. */
export function errorBody(err: ProxyError): string {
  return `${err.status} ${ERRORS[err.code].reason} (${err.code})\n`;
}
