// Loopback helpers: free ports, readiness (TCP connect + one GET returning 200).
import http from 'node:http';
import net from 'node:net';

import { sleep } from './proc.js';

/** The only address the bench sends traffic to. */
export const HOST = '127.0.0.1';

export function assertLoopback(host: string): void {
  if (host !== HOST) throw new Error(`bench: refusing to send traffic to ${host}; loopback only`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function tcpConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** One GET on a fresh connection; resolves with status and body length, or rejects. */
export function get(port: number, path: string, timeoutMs = 2000): Promise<{ status: number; bytes: number }> {
  assertLoopback(HOST);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

/**
 * Polls until the port accepts a connection and GET path answers 200 with the expected body length.
 * Fails early when `exited` settles first (the process died).
 */
export async function waitReady(
  port: number,
  path: string,
  expectBytes: number,
  timeoutMs: number,
  exited: Promise<unknown>,
): Promise<void> {
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + timeoutMs;
  let last = 'no connection';
  while (Date.now() < deadline) {
    if (dead) throw new Error('process exited before it was ready');
    if (await tcpConnect(port, 500)) {
      try {
        const r = await get(port, path);
        if (r.status === 200 && r.bytes === expectBytes) return;
        last = `GET ${path} → ${r.status}, ${r.bytes} B (want 200, ${expectBytes} B)`;
      } catch (err) {
        last = `GET ${path}: ${(err as Error).message}`;
      }
    }
    await sleep(100);
  }
  throw new Error(`not ready after ${timeoutMs} ms (${last})`);
}
