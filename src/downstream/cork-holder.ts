// A live HttpResponse to cork while upgrading ANOTHER response to a WebSocket.
//
// uWS offers two bad ways to upgrade after an await (downstream/websocket.ts), in 20.30 and
// still in 20.57 (measured: with the response's own cork, 3 of 10 runs of the 1,000-tunnel test
// lost 1-4 fresh WebSockets; with this holder, none of 10):
//   - inside res.cork() of the response being upgraded: cork() reads that response's state
//     after its callback, from memory the upgrade just handed to the WebSocket, and about once
//     per thousand upgrades that garbage reads as "connection: close" and the fresh WebSocket is
//     shut (uNetworking/uWebSockets#1929);
//   - uncorked: correct, but uWS.js prints "writes must be made from within a corked callback"
//     on stderr for every upgrade. Its check asks whether any HttpResponse.cork() callback is
//     running, and a WebSocket's cork() does not count.
// Corking a third response satisfies the check, and its after-callback read is of its own,
// intact socket. That response is this: one request each worker makes to itself on a private
// loopback listener of a second, tiny uWS App (same thread, same loop) and never answers.
//
//   worker ── net.Socket ──▶ 127.0.0.1:<ephemeral> (holder App) ── GET <secret path> ── held open
//
// The holder App listens on loopback only and serves nothing else: any other request on its
// port is closed, so the port is not a second way into the proxy. The path carries 128 random
// bits; if the connection drops, it is made again a second later, and upgrades meanwhile go
// out uncorked.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { uWS } from '../uws/load.js';
import type { HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

const RECONNECT_MS = 1000;

export class CorkHolder {
  readonly #path = `/.portcullis/cork-holder/${randomBytes(16).toString('hex')}`;
  #res: HttpResponse | null = null;
  #socket: net.Socket | null = null;
  #listenSocket: us_listen_socket | null = null;
  #port = 0;
  #closed = false;
  #app: TemplatedApp | null = null;

  /** Listens on a private loopback port and makes the holding request. */
  start(): Promise<void> {
    const app = (this.#app = uWS.App().any('/*', (res, req) => {
      if (req.getUrl() !== this.#path || !this.#adopt(res)) res.close();
    }));
    return new Promise((resolve) => {
      app.listen('127.0.0.1', 0, (token) => {
        if (!token) { resolve(); return; } // no loopback: upgrades go out uncorked
        this.#listenSocket = token;
        this.#port = uWS.us_socket_local_port(token);
        this.#connect();
        resolve();
      });
    });
  }

  /** True when `res` became the holder. */
  #adopt(res: HttpResponse): boolean {
    if (this.#res !== null || this.#closed) return false;
    res.onAborted(() => { if (this.#res === res) this.#res = null; });
    this.#res = res;
    return true;
  }

  /** Runs `fn` inside the holder's cork; false (fn not run) when there is no holder right now. */
  cork(fn: () => void): boolean {
    const res = this.#res;
    if (res === null) return false;
    res.cork(fn);
    return true;
  }

  close(): void {
    this.#closed = true;
    this.#res = null;
    this.#socket?.destroy();
    this.#socket = null;
    if (this.#listenSocket !== null) uWS.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = null;
    // A uWS App left open when the thread ends aborts the process (shared notes §3).
    this.#app?.close();
    this.#app = null;
  }

  #connect(): void {
    if (this.#closed) return;
    const socket = net.connect(this.#port, '127.0.0.1');
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(`GET ${this.#path} HTTP/1.1\r\nhost: localhost\r\n\r\n`));
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => {
      if (this.#socket !== socket || this.#closed) return;
      this.#socket = null;
      setTimeout(() => this.#connect(), RECONNECT_MS).unref();
    });
  }
}
