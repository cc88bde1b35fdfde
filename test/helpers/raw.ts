// Raw-byte HTTP client for malformed input: writes exactly the given bytes and returns
// everything the proxy sent back until it closed (or the timeout passed).
import net from 'node:net';

export interface RawResult {
  /** Everything received, latin1. */
  readonly data: string;
  /** True when the proxy closed the connection before the timeout. */
  readonly closed: boolean;
  /** ms until close (or timeout). */
  readonly ms: number;
  /** Status code of the first response, or 0. */
  readonly status: number;
}

export function rawRequest(port: number, bytes: string | Buffer, timeoutMs = 3000, host = '127.0.0.1'): Promise<RawResult> {
  return new Promise((resolve) => {
    const start = Date.now();
    const socket = net.connect(port, host);
    let data = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve({ data, closed, ms: Date.now() - start, status: m ? Number(m[1]) : 0 });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d: Buffer) => { data += d.toString('latin1'); });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(bytes);
  });
}
