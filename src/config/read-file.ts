// Reading a config file's text, bounded: only a regular file, at most MAX_CONFIG_BYTES. A
// device (`-c /dev/zero`), a FIFO or a directory is refused before it is read, so a slip of the
// path can never make `check`, `run` or a reload read forever or wait for a writer; a file over
// the cap is refused with its size instead of being parsed for seconds in the loader.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { ConfigError, ConfigErrors } from './error.js';

/** The largest config file (and posted plan text) accepted: 16 MiB, far above any real config. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

const CHUNK = 64 * 1024;

function fileError(path: string, message: string): ConfigErrors {
  return new ConfigErrors([new ConfigError({ file: path, line: 0, column: 0, field: '(file)', message })]);
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** "17.0 MiB": a size as an operator reads it. */
export function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The refusal of a text over the cap, naming the file (shared with posted plan text). */
export function tooLarge(path: string, bytes: number | null): ConfigErrors {
  return fileError(path, `cannot read config: ${bytes === null ? 'more than 16 MiB' : `it is ${mib(bytes)}`}; a config file may be at most 16 MiB`);
}

/**
 * The text of the config file at `path`. Throws ConfigErrors (field `(file)`) when it does not
 * exist, cannot be read, is not a regular file, or is over MAX_CONFIG_BYTES.
 */
export function readConfigText(path: string): string {
  const refuse = (st: Stats): void => {
    if (!st.isFile()) throw fileError(path, `cannot read config: ${kindOf(st)}, not a regular file`);
    if (st.size > MAX_CONFIG_BYTES) throw tooLarge(path, st.size);
  };
  let fd: number;
  try {
    // stat first: opening some devices does something (a FIFO waits for a writer; a tape rewinds).
    refuse(statSync(path));
    // O_NONBLOCK: should the path become a FIFO between stat and open, open still returns.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    if (err instanceof ConfigErrors) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw fileError(path, `cannot read config: ${code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
  try {
    refuse(fstatSync(fd));
    // Read at most the cap + 1 byte whatever the size said: a file that grows while it is read,
    // or a /proc file whose size reads 0, is bounded too.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      chunks.push(n === CHUNK ? chunk : chunk.subarray(0, n));
      total += n;
      if (total > MAX_CONFIG_BYTES) throw tooLarge(path, null);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    if (err instanceof ConfigErrors) throw err;
    throw fileError(path, `cannot read config: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
