// The floor of a cache hit on this front end: what a uWS.js handler costs per request when it answers
// from memory and does nothing else. It reads the fields a cache key needs (method, host, path, query),
// finds the entry in a Map, and writes the stored status line and headers (one writeStatus, prebuilt
// bytes), an Age and the body. The first request for a key fetches it from the origin once; every later
// one is a "hit", whatever the origin said about freshness. No routing, policies, identity, Vary,
// freshness, metrics or logs, and one JS callback per request: a measuring stick, not a cache.
//
//   CASES=cache-hit-small npm run bench      (the `hit-floor` column and its ratios)
//
// Portcullis's hit minus this one is what our cache and pipeline cost a hit; this one against nginx's
// proxy_cache is how low any hit served from JavaScript can go here.
import http from 'node:http';
import { isHopByHop } from '../src/filters/hop-by-hop.js';
import { uWS } from '../src/uws/load.js';
import type { HttpResponse } from 'uWebSockets.js';

const [host = '127.0.0.1', portText = '8080', originText = '3000'] = process.argv.slice(2);
const ORIGIN_PORT = Number(originText);

interface Stored {
  /** "200 OK\r\n<name>: <value>..." without the last CRLF: uWS adds Date and Content-Length. */
  readonly head: Buffer;
  readonly body: Buffer;
  readonly storedAt: number;
}

const stored = new Map<string, Stored>();
const agent = new http.Agent({ keepAlive: true });

function fill(key: string, path: string, hostHeader: string, res: HttpResponse, aborted: { yes: boolean }): void {
  http.get({ host, port: ORIGIN_PORT, path, agent, headers: { host: hostHeader } }, (up) => {
    const parts: Buffer[] = [];
    up.on('data', (b: Buffer) => parts.push(b));
    up.on('end', () => {
      let head = `${up.statusCode} ${up.statusMessage}`;
      for (let i = 0; i < up.rawHeaders.length; i += 2) {
        const name = up.rawHeaders[i]!.toLowerCase();
        // uWS writes its own Date and Content-Length.
        if (isHopByHop(name) || name === 'date' || name === 'content-length') continue;
        head += `\r\n${name}: ${up.rawHeaders[i + 1]!}`;
      }
      head += '\r\ncache-status: hit-floor; hit';
      const entry: Stored = { head: Buffer.from(head, 'latin1'), body: Buffer.concat(parts), storedAt: Date.now() };
      stored.set(key, entry);
      if (!aborted.yes) res.cork(() => answer(res, entry));
    });
  }).on('error', (err) => { console.error(`hit-floor: origin ${err.message}`); process.exit(1); });
}

function answer(res: HttpResponse, entry: Stored): void {
  res.writeStatus(entry.head);
  res.writeHeader('age', String(((Date.now() - entry.storedAt) / 1000) | 0));
  res.end(entry.body);
}

const app = uWS.App();
uWS._cfg('silent');
app.any('/*', (res, req) => {
  const method = req.getCaseSensitiveMethod();
  const url = req.getUrl();
  const query = req.getQuery();
  const hostHeader = req.getHeader('host');
  const path = query === undefined || query === '' ? url : `${url}?${query}`;
  const key = `${method} ${hostHeader}${path}`;
  const entry = stored.get(key);
  if (entry !== undefined) { res.cork(() => answer(res, entry)); return; }
  const aborted = { yes: false };
  res.onAborted(() => { aborted.yes = true; });
  fill(key, path, hostHeader, res, aborted);
}).listen(host, Number(portText), (token) => {
  if (!token) { console.error(`hit-floor: cannot listen on ${host}:${portText}`); process.exit(1); }
});
