// Origins for the upstream tests: node:http servers on a chosen loopback address whose answer
// (a status, a hang, a delay, a reset) and health endpoint the test flips while they run, and
// which count what reached them: proxied requests and health checks apart.
import http from 'node:http';
import type net from 'node:net';

export type Mode =
  | { readonly kind: 'ok' }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'hang' }
  | { readonly kind: 'delay'; readonly ms: number }
  /** Reads the request (body included), then drops the connection without answering. */
  | { readonly kind: 'reset' };

export interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; bodyBytes: number; at: number }

export interface Backend {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** What /healthz answers (200 or 500). */
  healthy: boolean;
  mode: Mode;
  /** Proxied requests (health checks excluded), in arrival order. */
  readonly seen: Seen[];
  /** Times of the health checks received. */
  readonly checks: number[];
  connections(): number;
  /** Closes every connection (in-flight requests are cut) and stops listening. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

export const HEALTH_PATH = '/healthz';

export async function startBackend(name: string, opts: { host?: string; port?: number; mode?: Mode } = {}): Promise<Backend> {
  const host = opts.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let closed = false;
  const server = http.createServer((req, res) => {
    if (req.url === HEALTH_PATH && req.headers['user-agent'] === 'portcullis-health-check') {
      backend.checks.push(Date.now());
      res.writeHead(backend.healthy ? 200 : 500, { 'content-type': 'text/plain' }).end(backend.healthy ? 'ok' : 'down');
      return;
    }
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0, at: Date.now() };
    backend.seen.push(entry);
    const mode = backend.mode;
    req.on('data', (c: Buffer) => { entry.bodyBytes += c.length; });
    req.on('end', () => {
      switch (mode.kind) {
        case 'ok': res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name }).end(name); return;
        case 'status': res.writeHead(mode.status, { 'content-type': 'text/plain', 'x-backend': name }).end(`${name} ${mode.status}`); return;
        case 'hang': return;
        case 'delay': setTimeout(() => { if (!res.destroyed) res.writeHead(200, { 'x-backend': name }).end(name); }, mode.ms); return;
        case 'reset': req.socket.destroy(); return;
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: net.Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const stop = (): Promise<void> => {
    if (closed) return Promise.resolve();
    closed = true;
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(() => r()));
  };
  const backend: Backend = {
    name,
    host,
    port,
    url: `http://${host}:${port}`,
    healthy: true,
    mode: opts.mode ?? { kind: 'ok' },
    seen: [],
    checks: [],
    connections: () => connections,
    kill: stop,
    close: stop,
  };
  return backend;
}

/** The access-log lines a proxy printed so far (JSON lines on its stdout). */
export function accessLines(output: string): Record<string, unknown>[] {
  return output.split('\n').filter((l) => l.startsWith('{"')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls `check` every 25 ms until it returns true, or fails after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
