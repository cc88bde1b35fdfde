// Listening on one port from several worker threads with node:net servers, as uWS does with
// its own sockets (SO_REUSEPORT: the kernel spreads connections). Node gained `reusePort` in
// 22.12 / 23.1; on Node 20 the addon opens the socket (native/addon.cc listenReusePort) and
// the server adopts it. Without either, only worker 0 listens (one core serves the port).
import { constants } from 'node:os';
import type net from 'node:net';
import { openAddon } from '../native/addon.js';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
/** net.Server#listen({ reusePort }) exists (Node ≥ 22.12). */
const NATIVE_REUSE_PORT = major > 22 || (major === 22 && minor >= 12);

type ListenReusePort = (host: string, port: number, backlog: number) => number;

function addonListen(): ListenReusePort | null {
  try {
    const fn = openAddon()['listenReusePort'];
    return typeof fn === 'function' ? (fn as ListenReusePort) : null;
  } catch {
    return null;
  }
}

/** How this build shares a port among workers: 'node', 'addon', or 'none' (worker 0 only). */
export function reusePortSupport(): 'node' | 'addon' | 'none' {
  if (NATIVE_REUSE_PORT) return 'node';
  return addonListen() !== null ? 'addon' : 'none';
}

const BACKLOG = 511;

function errnoName(code: number): string {
  return Object.entries(constants.errno).find(([, v]) => v === code)?.[0] ?? `errno ${code}`;
}

/**
 * Starts `server` listening on host:port shared with the other workers. Resolves false when it
 * cannot be shared and this worker is not the one that serves it alone.
 */
export function listenShared(server: net.Server, host: string, port: number, workerId: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const done = (): void => { server.off('error', reject); resolve(true); };
    server.once('error', reject);
    if (NATIVE_REUSE_PORT) {
      server.listen({ host, port, backlog: BACKLOG, reusePort: true } as net.ListenOptions, done);
      return;
    }
    const listen = addonListen();
    if (listen === null) {
      if (workerId !== 0) { server.off('error', reject); resolve(false); return; }
      server.listen({ host, port, backlog: BACKLOG }, done);
      return;
    }
    const fd = listen(host, port, BACKLOG);
    if (fd < 0) {
      server.off('error', reject);
      reject(new Error(`cannot listen on ${host}:${port}: ${errnoName(-fd) === 'EADDRINUSE' ? 'address in use' : errnoName(-fd)}`));
      return;
    }
    server.listen({ fd }, done);
  });
}
