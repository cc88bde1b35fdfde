// Open file descriptors against the process's limit (RLIMIT_NOFILE), watched from the primary.
// Every client connection and every upstream connection is a descriptor; at the limit uWS's
// accept() fails with EMFILE, which it neither reports nor backs off from: the listening socket
// stays readable, the worker keeps retrying (about a quarter of a core, measured on a shared
// 2-core machine) and new connections time out in the backlog, silently (nginx logs
// `accept4() failed (24)`). Nothing on our side can see a failed accept, so the primary watches the count:
//
//   at start   the soft limit against the workers: too low → a warning saying what to set
//   every 5 s  /proc/self/fd counted (all threads share the table) against the soft limit read
//              again (prlimit can change it): ≥ 90% → a warning (once a minute at most while it
//              lasts) and portcullis_file_descriptors_near_limit = 1; below 80% again → said,
//              and 0. Reading /proc/self/fd itself failing with EMFILE counts as full.
//
// prom-client's process_open_fds / process_max_fds give the same numbers to a scraper; this says
// it on stderr, where an operator without a dashboard looks. Node raises the soft limit to the
// hard one when it starts, so the soft limit read here is in practice the hard one.
//
// Pure decisions (parseNofile, assessLimit, FdAlarm) in a thin I/O shell (readFds, FdWatch).
import { readdir, readFile } from 'node:fs';

/** Descriptors a worker should be able to hold at least: 512 proxied connections (client + upstream each). */
export const PER_WORKER = 1024;
/** And the process at least, whatever the worker count. */
export const MIN_LIMIT = 4096;
/** What the warnings suggest: the shipped unit's LimitNOFILE is far above it. */
export const SUGGESTED = 65536;
const HIGH = 0.9;
const LOW = 0.8;
const REPEAT_MS = 60_000;
export const CHECK_MS = 5000;

/** `Max open files` from /proc/self/limits: soft and hard (null: unlimited). */
export function parseNofile(limits: string): { soft: number | null; hard: number | null } | null {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (m === null) return null;
  const num = (s: string): number | null => (s === 'unlimited' ? null : Number(s));
  return { soft: num(m[1]!), hard: num(m[2]!) };
}

/** The start-up warning when the soft limit is low for `workers`, or null. */
export function assessLimit(soft: number | null, hard: number | null, workers: number): string | null {
  const want = Math.max(MIN_LIMIT, workers * PER_WORKER);
  if (soft === null || soft >= want) return null;
  const connections = Math.max(0, Math.floor((soft - 64) / 2));
  const ceiling = hard !== null && hard <= soft ? ` (the hard limit is ${hard} too)` : '';
  return `open-file limit is ${soft}${ceiling}: about ${connections} proxied connections at once for ${workers} worker${workers === 1 ? '' : 's'} (each takes a client and an upstream descriptor); past it new connections are silently not accepted. At least ${want} is advised: LimitNOFILE=${SUGGESTED} in the systemd unit, \`ulimit -n ${SUGGESTED}\` in a shell, or --ulimit nofile=${SUGGESTED} for Docker`;
}

export interface FdReading {
  /** Open descriptors, or null when /proc/self/fd could not be read for lack of one (EMFILE). */
  readonly open: number | null;
  readonly limit: number | null;
}

export interface FdEvent { readonly level: 'warn' | 'info'; readonly message: string }

/** Decides, from successive readings, when to warn, when to say it is over, and the gauge. */
export class FdAlarm {
  #high = false;
  #lastWarn = -Infinity;

  get near(): boolean { return this.#high; }

  check(r: FdReading, now: number): FdEvent | null {
    if (r.limit === null) return null;
    const full = r.open === null;
    const ratio = full ? 1 : r.open! / r.limit;
    if (ratio >= HIGH) {
      const first = !this.#high;
      this.#high = true;
      if (!first && now - this.#lastWarn < REPEAT_MS) return null;
      this.#lastWarn = now;
      const count = full ? `all ${r.limit} (the primary cannot open /proc/self/fd: EMFILE)` : `${r.open} of ${r.limit} (${Math.floor(ratio * 100)}%)`;
      return { level: 'warn', message: `open file descriptors: ${count}: at the limit, new connections are not accepted (uWS says nothing of it); raise the limit (LimitNOFILE=${SUGGESTED}, ulimit -n ${SUGGESTED}) or lower the load` };
    }
    if (this.#high && ratio < LOW) {
      this.#high = false;
      return { level: 'info', message: `open file descriptors: ${r.open} of ${r.limit} (${Math.floor(ratio * 100)}%), below the limit again` };
    }
    return null;
  }
}

/**
 * One reading: the soft limit from /proc/self/limits (`known` when it cannot be read: out of
 * descriptors, that read fails too) and the entries of /proc/self/fd, less the one readdir opens.
 */
export function readFds(known: number | null, done: (r: FdReading) => void): void {
  readFile('/proc/self/limits', 'utf8', (err, text) => {
    const limit = (err === null ? parseNofile(text)?.soft : undefined) ?? known;
    readdir('/proc/self/fd', (e, names) => {
      if (e === null) { done({ open: names.length - 1, limit }); return; }
      // Out of descriptors, the reading itself says so; anything else is no reading.
      done({ open: null, limit: e.code === 'EMFILE' || e.code === 'ENFILE' ? limit : null });
    });
  });
}

/** The watch itself: a reading every CHECK_MS, never keeping the process alive. */
export class FdWatch {
  readonly #alarm = new FdAlarm();
  readonly #timer: NodeJS.Timeout;
  #busy = false;
  #limit: number | null;

  /**
   * `limit`: the soft limit read at start. It must be known before the first check: out of
   * descriptors, /proc/self/limits cannot be opened either, and a watch that had nothing to
   * compare against would stay silent exactly when it matters.
   */
  constructor(
    events: { log(level: 'warn' | 'info', message: string): void; near(near: boolean): void },
    limit: number | null, every = CHECK_MS, read: typeof readFds = readFds,
  ) {
    this.#limit = limit;
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      read(this.#limit, (r) => {
        this.#busy = false;
        this.#limit = r.limit ?? this.#limit;
        const was = this.#alarm.near;
        const e = this.#alarm.check(r, Date.now());
        if (e !== null) events.log(e.level, e.message);
        if (this.#alarm.near !== was) events.near(this.#alarm.near);
      });
    }, every);
    this.#timer.unref();
  }

  stop(): void { clearInterval(this.#timer); }
}
