// Loopback helpers: free ports, readiness (TCP connect + one GET returning 200).
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';

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

/** One GET's answer: `bytes` as sent; `decodedBytes` after undoing a gzip Content-Encoding (else = bytes). */
export interface GetResult {
  readonly status: number;
  readonly bytes: number;
  readonly decodedBytes: number;
  readonly headers: http.IncomingHttpHeaders;
}

/** One GET on a fresh connection; resolves with status, body length and headers, or rejects. */
export function get(port: number, path: string, timeoutMs = 2000, headers: Readonly<Record<string, string>> = {}): Promise<GetResult> {
  assertLoopback(HOST);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path, agent: false, timeout: timeoutMs, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        const body = Buffer.concat(chunks);
        let decodedBytes = body.length;
        try {
          if (res.headers['content-encoding'] === 'gzip') decodedBytes = zlib.gunzipSync(body).length;
        } catch {
          decodedBytes = -1; // not valid gzip
        }
        resolve({ status: res.statusCode ?? 0, bytes: body.length, decodedBytes, headers: res.headers });
      });
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

/** Requests the origin (bench/origin.ts) has served so far, or NaN when it does not count (ORIGIN=nginx). */
export async function originRequests(port: number, path: string): Promise<number> {
  try {
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: HOST, port, path, agent: false, timeout: 2000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.once('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
      });
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', reject);
    });
    const n = Number(text);
    return Number.isInteger(n) ? n : NaN;
  } catch {
    return NaN;
  }
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
