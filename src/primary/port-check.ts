// Refuses to start on an address another program already listens on. uWS listens with
// SO_REUSEPORT (so our workers can share the port), which would also let a second proxy,
// or a stale one, bind the same port and silently take a share of its connections
// (shared notes §2). A plain bind without SO_REUSEPORT fails if anyone holds the port.
import net from 'node:net';
import type { ListenAddress } from '../config/types.js';

export function assertAddressFree(a: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
      reject(new Error(err.code === 'EADDRINUSE'
        ? `cannot listen on ${where}: address already in use (is another proxy running?)`
        : `cannot listen on ${where}: ${err.code ?? err.message}`));
    });
    probe.listen({ host: a.host, port: a.port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
