// The error log: one line on stderr for each exchange the proxy or an upstream failed (not
// the client's own mistakes, which the access log already shows), carrying the request id
// that the access log line and the client's X-Request-Id header also carry:
//
//   portcullis: warn: request 1f3a…-42: upstream connection failed: connect ECONNREFUSED
//     127.0.0.1:3000 (PC_ERR_UPSTREAM_CONNECT) GET example.com/api/x route=/api/ upstream=http://…
//
// Written from the worker thread in batches (observe/log-writer.ts), like the access log.
import type { Exchange } from '../exchange.js';
import { LogWriter } from './log-writer.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug'];

/** The line for a failed exchange, or null when there is nothing to report at this level. */
export function errorLine(ex: Exchange, logLevel: string): string | null {
  const err = ex.error;
  if (err === null || err.side === 'client') return null;
  const level = err.side === 'internal' ? 'error' : 'warn';
  if (LEVELS.indexOf(level) > LEVELS.indexOf(logLevel)) return null;
  const h = ex.head;
  const where = `${h.method} ${ex.host || '-'}${h.rawPath}`;
  const route = ex.route !== null ? ` route=${ex.route.name}` : '';
  const upstream = ex.upstreamAddress ? ` upstream=${ex.upstreamAddress}` : '';
  // The message may carry upstream-controlled text: keep it on one line.
  const message = err.message.replace(/[\r\n]+/g, ' ');
  return `portcullis: ${level}: request ${ex.requestId}: ${message} (${err.code}) ${where}${route}${upstream} client=${ex.clientIp} status=${ex.status}\n`;
}

export class ErrorLog {
  readonly #out = new LogWriter(2, () => {});
  #level: string;

  constructor(level: string) { this.#level = level; }

  set level(level: string) { this.#level = level; }

  record(ex: Exchange): void {
    if (ex.error === null) return;
    const line = errorLine(ex, this.#level);
    if (line !== null) this.#out.write(line);
  }

  flush(): void { this.#out.flush(); }
  flushSync(): void { this.#out.flushSync(); }
}
