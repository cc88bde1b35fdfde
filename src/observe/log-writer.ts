// Where access-log lines go: batched in memory, written with fs.write on libuv's pool, never
// on (or blocking) the worker thread. Replaces pino's sonic-boom destination, whose flushSync
// retries a failed write forever with a 100 ms Atomics.wait in between: one EPIPE (log reader
// gone) or ENOSPC (disk full) froze the worker for good, SIGTERM included.
//
//   write(line) ─▶ pending lines ─(≥ 4 KiB, or flush() each second)─▶ fs.write ─▶ fd
//                  bounded (4 MiB): past it lines are dropped (said once)
//   EAGAIN (pipe full): retried 20 ms later   any other error: that batch is lost, said once;
//   said again, with the count, when a batch is written whole again
//
// A line is written whole or is followed by a new line. A full disk (ENOSPC) takes part of a
// batch, cut anywhere, and refuses the rest: the file then ends in half a line, and the next
// line written once space is freed would be glued to it (one broken JSON line for two). So
// after a failed write, before the next batch, the file's last byte is read: when it is not a
// newline the batch starts with one. Other workers append to the same file, and a line one of
// them cut would swallow their next line just the same: a failure is told to them
// (BroadcastChannel, keyed by the file's device and inode), and they check too. Nothing is
// read while writes succeed. On a pipe, where nothing can be read back, a writer that cut its
// own line starts the next batch with a newline.
import { fstat, fstatSync, close as fsClose, open as fsOpen, read as fsRead, write as fsWrite, writeSync } from 'node:fs';
import { BroadcastChannel } from 'node:worker_threads';

const BATCH_BYTES = 4096;
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
const RETRY_MS = 20;
const NEWLINE = Buffer.from('\n');
const CHANNEL = 'portcullis:log-write-failed';

/** The file's identity when `fd` is a regular file (what the workers appending to it share), else null. */
function fileIdentity(fd: number): string | null {
  try {
    const st = fstatSync(fd);
    return st.isFile() ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}

export class LogWriter {
  #fd: number;
  /** A descriptor replaced by reopen(), closed once the batch being written to it is out. */
  #retiredFd = -1;
  readonly #warn: (message: string) => void;
  #lines: string[] = [];
  #bytes = 0;
  #writing = false;
  #warned = false;
  /** Lines lost since the last batch written whole. */
  #lost = 0;
  /** flush() came while a batch was being written: write the rest right after it. */
  #flushAsked = false;
  /** `dev:ino` of a regular file; null for a pipe or a terminal. */
  #file: string | null;
  /** This writer's last write ended inside a line. */
  #cut = false;
  /** A write to this file failed (here or in another worker): check its end before the next batch. */
  #suspect = false;
  #channel: BroadcastChannel | null = null;

  /** `warn` is told at the first loss, and when writing works again. */
  constructor(fd: number, warn: (message: string) => void) {
    this.#fd = fd;
    this.#warn = warn;
    this.#file = fileIdentity(fd);
    this.#listen();
  }

  /** Hears of failed writes to the same file from the other workers. */
  #listen(): void {
    if (this.#file === null || this.#channel !== null) return;
    const channel = new BroadcastChannel(CHANNEL);
    channel.onmessage = (e) => { if ((e as { data: unknown }).data === this.#file) this.#suspect = true; };
    // Never what keeps a worker alive.
    channel.unref();
    this.#channel = channel;
  }

  /** pino's destination contract. */
  write(line: string): void {
    if (this.#bytes > MAX_PENDING_BYTES) {
      this.#lose('writes are not keeping up', 1);
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
    // A new file starts clean; a line cut in the old one stays there.
    this.#cut = false;
    this.#suspect = false;
    this.#file = fileIdentity(fd);
    this.#listen();
    if (old <= 2) return;
    if (this.#writing) this.#retiredFd = old;
    else fsClose(old, () => {});
  }

  /** Flushes what is pending and closes the descriptor (a generation's log that is not used any more). */
  close(): void {
    this.flushSync();
    this.#channel?.close();
    this.#channel = null;
    const fd = this.#fd;
    if (fd > 2 && !this.#writing) fsClose(fd, () => {});
    else if (fd > 2) this.#retiredFd = fd;
  }

  #start(): void {
    this.#writing = true;
    const data = this.#take();
    const fd = this.#fd;
    if (!this.#cut && !this.#suspect) {
      this.#writeFrom(fd, data, 0);
      return;
    }
    this.#endsInsideLine(fd, (inside) => this.#writeFrom(fd, inside ? Buffer.concat([NEWLINE, data]) : data, 0, inside ? 1 : 0));
  }

  /** Whether the destination ends inside a line: its last byte (a file), or this writer's own cut (a pipe). */
  #endsInsideLine(fd: number, done: (inside: boolean) => void): void {
    if (this.#file === null) { done(this.#cut); return; }
    fstat(fd, (err, st) => {
      if (err !== null || st.size === 0) { done(err !== null && this.#cut); return; }
      lastByte(fd, st.size, (byte) => done(byte === null ? this.#cut : byte !== 0x0a));
    });
  }

  /** `lead`: bytes before the first line (the newline that ends someone's cut line). */
  #writeFrom(fd: number, data: Buffer, offset: number, lead = 0): void {
    fsWrite(fd, data, offset, data.length - offset, null, (err, written) => {
      if (err !== null) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.#writeFrom(fd, data, offset, lead), RETRY_MS).unref();
          return;
        }
        // Part of the batch may be out, ending inside a line: the next batch starts on a new one.
        if (offset > 0 && data[offset - 1] !== 0x0a) this.#cut = true;
        this.#suspect = true;
        if (this.#file !== null) this.#channel?.postMessage(this.#file);
        this.#lose(err.code ?? err.message, linesFrom(data, Math.max(offset, lead)));
        this.#batchDone(false);
        return;
      }
      if (offset + written < data.length) {
        this.#writeFrom(fd, data, offset + written, lead);
        return;
      }
      this.#batchDone(true);
    });
  }

  #batchDone(whole: boolean): void {
    this.#writing = false;
    if (whole) {
      this.#cut = false;
      this.#suspect = false;
      if (this.#lost > 0) {
        this.#warn(`access log: writing again; ${this.#lost} line${this.#lost === 1 ? '' : 's'} lost`);
        this.#lost = 0;
        this.#warned = false;
      }
    }
    if (this.#retiredFd >= 0) {
      fsClose(this.#retiredFd, () => {});
      this.#retiredFd = -1;
    }
    if (this.#bytes >= BATCH_BYTES || (this.#bytes > 0 && this.#flushAsked)) this.#start();
  }

  #lose(why: string, lines: number): void {
    this.#lost += lines;
    if (this.#warned) return;
    this.#warned = true;
    this.#warn(`access log: ${why}; lines are being lost`);
  }
}

/**
 * The byte at `size - 1` of the file open as `fd`, or null. A log file is open for appending
 * only (`a`, or a shell's `>`): it is then read through /proc/self/fd, which opens the same file.
 */
function lastByte(fd: number, size: number, done: (byte: number | null) => void): void {
  const buf = Buffer.alloc(1);
  fsRead(fd, buf, 0, 1, size - 1, (err, n) => {
    if (err === null) { done(n === 1 ? buf[0]! : null); return; }
    fsOpen(`/proc/self/fd/${fd}`, 'r', (e, rfd) => {
      if (e !== null) { done(null); return; }
      fsRead(rfd, buf, 0, 1, size - 1, (e2, n2) => {
        fsClose(rfd, () => {});
        done(e2 === null && n2 === 1 ? buf[0]! : null);
      });
    });
  });
}

/** Lines of `data` not written whole when the write stopped at `offset`. */
function linesFrom(data: Buffer, offset: number): number {
  let n = 0;
  for (let i = data.indexOf(0x0a, offset); i >= 0; i = data.indexOf(0x0a, i + 1)) n++;
  return n;
}
