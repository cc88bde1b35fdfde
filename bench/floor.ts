// The floor of the architecture: what a uWS.js front end plus a keep-alive net.Socket upstream costs per
// request when the proxy does no work at all. No routing, no header handling, no identity, no limits: a
// fixed upstream request per path, the response framed by Content-Length only, its body answered with a
// bare 200. Not a proxy anyone should run; a measuring stick for the real one.
//
//   PROXY_CMD='node dist/bench/floor.js {host} {port} {origin_port}' CASES=small,16k BENCH_TOOL=wrk npm run bench
//
// Portcullis' CPU per request minus this one's is what the pipeline costs; this one's against nginx's is
// how close any pipeline can get. Small and 16 KiB bodies only (it gathers each body; no streaming).
import net from 'node:net';
import { uWS } from '../src/uws/load.js';
import type { HttpResponse } from 'uWebSockets.js';

const [host = '127.0.0.1', portText = '8080', originText = '3000'] = process.argv.slice(2);
const ORIGIN_PORT = Number(originText);
const CONNECTIONS = 64;
const readBuffer = Buffer.allocUnsafe(1024 * 1024);

interface Pending { res: HttpResponse; aborted: boolean; path: string }

class Upstream {
  readonly socket: net.Socket;
  current: Pending | null = null;
  #need = -1;
  #parts: Buffer[] = [];
  #have = 0;

  constructor(private readonly pool: Upstream[], private readonly waiting: Pending[]) {
    this.socket = net.connect({
      host, port: ORIGIN_PORT, noDelay: true,
      onread: { buffer: readBuffer, callback: (n: number) => { this.#onRead(n); return true; } },
    });
    this.socket.on('connect', () => this.#next());
    this.socket.on('error', (err) => { console.error(`floor: upstream ${err.message}`); process.exit(1); });
  }

  send(p: Pending): void {
    this.current = p;
    this.socket.write(`GET ${p.path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'latin1');
  }

  #onRead(n: number): void {
    // The read buffer is shared: a body that spans reads is copied out.
    this.#parts.push(Buffer.from(readBuffer.subarray(0, n)));
    this.#have += n;
    if (this.#need < 0) {
      const all = Buffer.concat(this.#parts);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length: *(\d+)/i.exec(all.toString('latin1', 0, end));
      if (m === null) { console.error('floor: the origin must send Content-Length'); process.exit(1); }
      this.#need = end + 4 + Number(m[1]);
      this.#parts = [all.subarray(end + 4)];
      this.#have -= end + 4;
      this.#need -= end + 4;
    }
    if (this.#have < this.#need) return;
    const body = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
    this.#parts = [];
    this.#have = 0;
    this.#need = -1;
    const p = this.current;
    this.current = null;
    if (p !== null && !p.aborted) p.res.cork(() => { p.res.writeStatus('200 OK').end(body); });
    this.#next();
  }

  #next(): void {
    const p = this.waiting.shift();
    if (p !== undefined) this.send(p);
    else this.pool.push(this);
  }
}

const idle: Upstream[] = [];
const waiting: Pending[] = [];
for (let i = 0; i < CONNECTIONS; i++) new Upstream(idle, waiting);

uWS.App().any('/*', (res, req) => {
  const p: Pending = { res, aborted: false, path: req.getUrl() };
  res.onAborted(() => { p.aborted = true; });
  const conn = idle.pop();
  if (conn === undefined) waiting.push(p);
  else conn.send(p);
}).listen(host, Number(portText), (token) => {
  if (!token) { console.error(`floor: cannot listen on ${host}:${portText}`); process.exit(1); }
});
