// Loopback origin for the bench: fixed bodies on uWS, one thread, keep-alive. Usage: node dist/bench/origin.js PORT
// /cache/* bodies carry Cache-Control (the cache cases); GET /__requests answers how many requests it has served,
// so the bench can tell that a cache answered every request of a run without asking the origin.
import { uWS } from '../src/uws/load.js';
import type { us_listen_socket } from 'uWebSockets.js';

import { BODIES, CACHE_CONTROL, CACHED, STATS_PATH } from './lib/bodies.js';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node dist/bench/origin.js PORT');
  process.exit(2);
}

let served = 0;
const app = uWS.App();
for (const [path, body] of Object.entries(BODIES)) {
  app.get(path, (res) => {
    served++;
    // 1 MiB does not fit in one write: end() keeps the rest in uWS's own buffer and drains it on writable.
    res.cork(() => {
      res.writeHeader('content-type', 'application/octet-stream').end(body);
    });
  });
}
for (const [path, { body, type }] of Object.entries(CACHED)) {
  app.get(path, (res) => {
    served++;
    res.cork(() => {
      res.writeHeader('content-type', type).writeHeader('cache-control', CACHE_CONTROL).end(body);
    });
  });
}
app.get(STATS_PATH, (res) => {
  res.cork(() => {
    res.writeHeader('content-type', 'text/plain').end(String(served));
  });
});
app.any('/*', (res) => {
  served++;
  res.cork(() => {
    res.writeStatus('404 Not Found').end('not found\n');
  });
});

let listenSocket: us_listen_socket | false = false;
app.listen('127.0.0.1', port, (ls) => {
  if (!ls) {
    console.error(`origin: cannot listen on 127.0.0.1:${port}`);
    process.exit(1);
  }
  listenSocket = ls;
  console.log(`origin: listening on 127.0.0.1:${port}`);
});

function shutdown(): void {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  // close() exists at run time in v20.30 but is missing from its typings
  (app as unknown as { close(): void }).close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
