// Ports for tests. Every uWS listener sets SO_REUSEPORT, so two proxies of different test
// files that were handed the same "free" port would both bind it and silently split its
// connections. Each vitest worker therefore takes ports from its own block, below the
// kernel's ephemeral range (where port-0 origins live), and checks each one is free.
import net from 'node:net';

const BLOCK = 400;
// TEST_PORT_BASE lets two checkouts run their suites side by side without sharing ports.
const FIRST = Number(process.env['TEST_PORT_BASE'] ?? 20_000);
const BASE = FIRST + (Number(process.env['VITEST_POOL_ID'] ?? process.env['VITEST_WORKER_ID'] ?? 0) % 10) * BLOCK;
let next = 0;

function isFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    // A host without IPv6 loopback cannot be bound there by anyone: free for our purpose.
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRNOTAVAIL' && host === '::1'));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** A port free on `host`; 'localhost' checks both 127.0.0.1 and ::1 (it may resolve to either). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const hosts = host === 'localhost' ? ['127.0.0.1', '::1'] : [host];
  for (let tries = 0; tries < BLOCK; tries++) {
    const port = BASE + (next++ % BLOCK);
    let free = true;
    for (const h of hosts) free = free && (await isFree(port, h));
    if (free) return port;
  }
  throw new Error(`no free port in ${BASE}-${BASE + BLOCK - 1}`);
}
