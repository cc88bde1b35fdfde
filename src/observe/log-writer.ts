// Where access-log lines go: batched in memory, written with fs.write on libuv's pool, never
// on (or blocking) the worker thread. Replaces pino's sonic-boom destination, whose flushSync
// retries a failed write forever with a 100 ms Atomics.wait in between: one EPIPE (log reader
// gone) or ENOSPC (disk full) froze the worker for good, SIGTERM included.
//
//   write(line) ─▶ pending lines ─(≥ 4 KiB, or flush() each second)─▶ fs.write ─▶ fd
//                  bounded (4 MiB): past it lines are dropped (said once)
//   EAGAIN (pipe full): retried 20 ms later   any other error: that batch is lost, said once
import { close as fsClose, write as fsWrite, writeSync } from 'node:fs';

const BATCH_BYTES = 4096;
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
const RETRY_MS = 20;

export class LogWriter {
  #fd: number;
  /** A descriptor replaced by reopen(), closed once the batch being written to it is out. */
  #retiredFd = -1;
  readonly #warn: (message: string) => void;
  #lines: string[] = [];
  #bytes = 0;
  #writing = false;
  #warned = false;
  /** flush() came while a batch was being written: write the rest right after it. */
  #flushAsked = false;

  /** `warn` is told once, at the first loss. */
  constructor(fd: number, warn: (message: string) => void) {
    this.#fd = fd;
    this.#warn = warn;
  }

  /** pino's destination contract. */
  write(line: string): void {
    if (this.#bytes > MAX_PENDING_BYTES) {
      this.#lose('writes are not keeping up');
      return;
    }
    this.#lines.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= BATCH_BYTES && !this.#writing) this.#start();
  }

  /** Starts writing whatever is pending (the worker's 1 s timer). */
  flush(): void {
    this.#flushAsked = this.#writing;
    if (this.#bytes > 0 && !this.#writing) this.#start();
  }

  /** At exit: what is pending, in one synchronous write, best effort (never retried). */
  flushSync(): void {
    if (this.#bytes === 0) return;
    const data = this.#take();
    try { writeSync(this.#fd, data); } catch { /* exiting: the lines are lost */ }
  }

  #take(): Buffer {
    const data = Buffer.from(this.#lines.join(''));
    this.#lines = [];
    this.#bytes = 0;
    return data;
  }

  /**
   * Writes to `fd` from now on (logrotate moved the file and we reopened its path): the batch
   * already being written finishes on the old descriptor, which is closed after it; lines still
   * pending go to the new one. Nothing is lost or split between the two.
   */
  reopen(fd: number): void {
    const old = this.#fd;
    this.#fd = fd;
    if (old <= 2) return;
    if (this.#writing) this.#retiredFd = old;
    else fsClose(old, () => {});
  }

  /** Flushes what is pending and closes the descriptor (a generation's log that is not used any more). */
  close(): void {
    this.flushSync();
    const fd = this.#fd;
    if (fd > 2 && !this.#writing) fsClose(fd, () => {});
    else if (fd > 2) this.#retiredFd = fd;
  }

  #start(): void {
    this.#writing = true;
    const data = this.#take();
    this.#writeFrom(this.#fd, data, 0);
  }

  #writeFrom(fd: number, data: Buffer, offset: number): void {
    fsWrite(fd, data, offset, data.length - offset, null, (err, written) => {
      if (err !== null) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.#writeFrom(fd, data, offset), RETRY_MS).unref();
          return;
        }
        this.#lose(err.code ?? err.message);
        this.#batchDone();
        return;
      }
      if (offset + written < data.length) {
        this.#writeFrom(fd, data, offset + written);
        return;
      }
      this.#batchDone();
    });
  }

  #batchDone(): void {
    this.#writing = false;
    if (this.#retiredFd >= 0) {
      fsClose(this.#retiredFd, () => {});
      this.#retiredFd = -1;
    }
    if (this.#bytes >= BATCH_BYTES || (this.#bytes > 0 && this.#flushAsked)) this.#start();
  }

  #lose(why: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#warn(`access log: ${why}; lines are being lost`);
  }
}
