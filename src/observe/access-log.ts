// One structured line per exchange (pino), written by each worker straight to its file
// descriptor in batches (no round trip through the main thread; observe/log-writer.ts).
import { openSync } from 'node:fs';
import pino from 'pino';
import type { AccessLogConfig } from '../config/types.js';
import type { Exchange } from '../exchange.js';
import { LogWriter } from './log-writer.js';

/** flush(): start writing what is pending (a timer); flushSync(): at exit, best effort. */
export type AccessLog = ((ex: Exchange) => void) & { flush(): void; flushSync(): void };

/**
 * The log file's descriptor, opened here and now: a path that cannot be written is a start-up
 * error naming the path (like nginx), never a worker that starts and then spins. The directory
 * must exist, as for nginx: Node's recursive mkdir never returns for a path under /proc (it
 * loops on ENOENT), which is what pino's `mkdir: true` ran into.
 */
function openLogFile(path: string): number {
  try {
    return openSync(path, 'a');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`access_log.output: cannot open ${path} for writing (${code})`);
  }
}

export function createAccessLog(cfg: AccessLogConfig): AccessLog | null {
  if (!cfg.enabled) return null;
  const dest = cfg.output === 'stdout' ? 1 : cfg.output === 'stderr' ? 2 : openLogFile(cfg.output);
  // A write failure (disk full, log reader gone) loses log lines, never the proxy.
  const stream = new LogWriter(dest, (message) => { process.stderr.write(`portcullis: ${message}\n`); });
  const logger = pino({ base: null, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime }, stream);
  const log = ((ex: Exchange) => {
    const h = ex.head;
    logger.info({
      id: ex.requestId,
      client: ex.clientIp,
      method: h.method,
      host: ex.host,
      path: h.rawPath,
      route: ex.route?.name ?? null,
      upstream: ex.upstreamAddress || null,
      status: ex.status,
      req_bytes: ex.requestBytes,
      res_bytes: ex.responseBytes,
      ms: Date.now() - ex.startedAt,
      upstream_ms: ex.upstreamHeaderMs,
      attempts: ex.attempts,
      // The failed tries before the last one (retries, failovers); the line's upstream, status
      // and error are the last try's.
      tries: ex.tries,
      error: ex.error?.code ?? null,
      cache: ex.cache?.outcome ?? null,
      cache_variant: ex.cache?.variant ?? null,
    });
  }) as AccessLog;
  log.flush = () => stream.flush();
  log.flushSync = () => stream.flushSync();
  return log;
}
