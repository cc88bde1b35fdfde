// One line per exchange, written by each worker straight to its file descriptor in batches
// (no round trip through the main thread; observe/log-writer.ts), in one of three formats:
//   json      one pino JSON object with every field (request id, route, upstream, timings, cache)
//   combined  $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//             "$http_referer" "$http_user_agent"   (nginx's and Apache's default, read by log tools)
//   common    the same without referer and user agent
// A file output is reopened on SIGUSR1 (logrotate's postrotate): reopen().
import { openSync } from 'node:fs';
import pino from 'pino';
import type { AccessLogConfig } from '../config/types.js';
import type { Exchange } from '../exchange.js';
import { LogWriter } from './log-writer.js';

/** flush(): start writing what is pending (a timer); flushSync(): at exit, best effort. */
export type AccessLog = ((ex: Exchange) => void) & {
  flush(): void;
  flushSync(): void;
  /** Opens the file path again (after logrotate moved it); stdout/stderr: nothing to do. */
  reopen(): void;
  /** Flushes and closes the file (the config no longer names it). */
  close(): void;
};

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

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** nginx's $time_local: `10/Oct/2000:13:55:36 -0700`, in the process's time zone. */
export function timeLocal(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad((abs / 60) | 0)}${pad(abs % 60)}`;
}

/**
 * A value between double quotes as nginx escapes it: `"`, `\` and bytes outside printable
 * ASCII become \xHH, so a client cannot forge a field or a line. '-' for an absent value.
 */
export function escapeField(value: string | undefined): string {
  if (value === undefined || value === '') return '-';
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte === 0x22 || byte === 0x5c || byte < 0x20 || byte > 0x7e ? `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/** The common log format line of an exchange (no trailing newline). */
export function commonLine(ex: Exchange, endedAt: number): string {
  const h = ex.head;
  const target = h.query === '' ? h.rawPath : `${h.rawPath}?${h.query}`;
  return `${ex.clientIp || '-'} - - [${timeLocal(endedAt)}] "${escapeField(`${h.method} ${target} HTTP/1.1`)}" ${ex.status} ${ex.responseBytes}`;
}

/** The combined log format line: common plus referer and user agent. */
export function combinedLine(ex: Exchange, endedAt: number): string {
  return `${commonLine(ex, endedAt)} "${escapeField(ex.header('referer'))}" "${escapeField(ex.header('user-agent'))}"`;
}

function jsonLogger(stream: LogWriter): (ex: Exchange) => void {
  const logger = pino({ base: null, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime }, stream);
  return (ex: Exchange) => {
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
      cache: ex.cache?.outcome ?? null,
      cache_variant: ex.cache?.variant ?? null,
    });
  };
}

export function createAccessLog(cfg: AccessLogConfig): AccessLog | null {
  if (!cfg.enabled) return null;
  const toFile = cfg.output !== 'stdout' && cfg.output !== 'stderr';
  const dest = cfg.output === 'stdout' ? 1 : cfg.output === 'stderr' ? 2 : openLogFile(cfg.output);
  // A write failure (disk full, log reader gone) loses log lines, never the proxy.
  const stream = new LogWriter(dest, (message) => { process.stderr.write(`portcullis: ${message}\n`); });
  let write: (ex: Exchange) => void;
  if (cfg.format === 'json') write = jsonLogger(stream);
  else {
    const line = cfg.format === 'combined' ? combinedLine : commonLine;
    write = (ex) => stream.write(`${line(ex, Date.now())}\n`);
  }
  const log = ((ex: Exchange) => write(ex)) as AccessLog;
  log.flush = () => stream.flush();
  log.flushSync = () => stream.flushSync();
  log.reopen = () => {
    if (!toFile) return;
    let fd: number;
    try { fd = openSync(cfg.output, 'a'); } catch (err) {
      // Keep writing to the old file rather than nowhere; say why once per attempt.
      process.stderr.write(`portcullis: warn: access_log: cannot reopen ${cfg.output} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); still writing to the old file\n`);
      return;
    }
    stream.reopen(fd);
  };
  log.close = () => stream.close();
  return log;
}
