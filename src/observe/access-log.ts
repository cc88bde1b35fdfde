// One structured line per exchange (pino), written by each worker straight to its file
// descriptor in batches (no round trip through the main thread).
import pino from 'pino';
import type { AccessLogConfig } from '../config/types.js';
import type { Exchange } from '../exchange.js';

export type AccessLog = ((ex: Exchange) => void) & { flush(): void };

export function createAccessLog(cfg: AccessLogConfig): AccessLog | null {
  if (!cfg.enabled) return null;
  const dest = cfg.output === 'stdout' ? 1 : cfg.output === 'stderr' ? 2 : cfg.output;
  // minLength batches lines into ~4 KiB writes; flush() runs on a timer and at exit.
  const stream = pino.destination({ dest, sync: false, minLength: 4096, mkdir: true });
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
      error: ex.error?.code ?? null,
    });
  }) as AccessLog;
  log.flush = () => { try { stream.flushSync(); } catch { /* not ready yet or closed */ } };
  return log;
}
