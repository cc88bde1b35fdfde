// Real origins for tests: a node:http server with a per-test handler, and a raw TCP
// server for upstreams that misbehave on purpose. Both on loopback, port 0.
import http from 'node:http';
import net from 'node:net';

export interface Origin {
  readonly port: number;
  readonly url: string;
  /** Requests the origin has seen (method, url, headers, body length). */
  readonly seen: { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; bodyBytes: number }[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** An origin that reads the whole request body, then calls the handler (default: echo JSON). */
export async function startOrigin(handler?: Handler, opts: { streamBody?: boolean; keepAliveTimeout?: number; maxHeaderSize?: number } = {}): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const server = http.createServer({ maxHeaderSize: opts.maxHeaderSize ?? 16 * 1024 }, (req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0 };
    seen.push(entry);
    if (opts.streamBody) { handler!(req, res, Buffer.alloc(0)); return; }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => { entry.bodyBytes += c.length; chunks.push(c); });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (handler) { handler(req, res, body); return; }
      const json = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString() });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(json);
    });
  });
  let connections = 0;
  server.on('connection', () => { connections++; });
  if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    connections: () => connections,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export interface RawOrigin {
  readonly port: number;
  readonly url: string;
  /** Number of connections accepted. */
  connections(): number;
  close(): Promise<void>;
}

/** A TCP origin whose behaviour on each connection is the test's own code. */
export async function startRawOrigin(onConnection: (socket: net.Socket) => void): Promise<RawOrigin> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((s) => {
    count++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
