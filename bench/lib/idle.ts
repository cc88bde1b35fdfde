// Many idle keep-alive client connections: open them in batches, one GET on each, then hold them open.
import net from 'node:net';

import { HOST, assertLoopback } from './net.js';

export interface IdleConnections {
  /** Connections that got a complete response head. */
  readonly answered: number;
  /** Connections that failed to connect or errored. */
  readonly failed: number;
  /** Still open right now (the server may close idle ones: uWS after 10 s). */
  open(): number;
  close(): void;
}

/**
 * Opens `count` connections, `batch` at a time (the loopback accept backlog is finite),
 * sends `GET path` on each and waits for the response head; bounded by `timeoutMs` overall.
 */
export async function openIdle(
  port: number,
  path: string,
  count: number,
  batch: number,
  timeoutMs: number,
): Promise<IdleConnections> {
  assertLoopback(HOST);
  const sockets = new Set<net.Socket>();
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\n\r\n`);
  let answered = 0;
  let failed = 0;
  const deadline = Date.now() + timeoutMs;

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const sock = net.connect({ host: HOST, port });
      sockets.add(sock);
      let head = '';
      let settled = false;
      const settle = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (ok) answered++;
        else failed++;
        resolve();
      };
      const timer = setTimeout(() => settle(false), Math.max(1000, deadline - Date.now()));
      sock.once('connect', () => sock.write(request));
      sock.on('data', (chunk: Buffer) => {
        if (settled) return;
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) settle(head.startsWith('HTTP/1.1 200'));
      });
      sock.once('error', () => settle(false));
      sock.once('close', () => {
        sockets.delete(sock);
        settle(false);
      });
    });

  for (let i = 0; i < count && Date.now() < deadline; i += batch) {
    const n = Math.min(batch, count - i);
    await Promise.all(Array.from({ length: n }, one));
  }
  return {
    answered,
    failed,
    open: () => sockets.size,
    close() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
