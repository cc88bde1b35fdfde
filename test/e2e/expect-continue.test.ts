// `Expect: 100-continue` uploads answered early: the origin sends its final response before
// reading the request body. Raw bytes on loopback against the real proxy and a real origin.
//
// What must hold (RFC 9110 §10.1.1, and what nginx does): the proxy's front end (uWS) sends
// `100 Continue` itself before the proxy sees the request, the proxy never forwards Expect
// (nginx's proxy module blanks it too), and after an early final answer on a keep-alive
// connection the rest of the upload is read and dropped (bounded by max_body_bytes for a
// declared length), so the client's upload completes and the connection serves its next
// request. Never a hang.
//
// These were once thought to stall in the proxy (the soak excluded them). They did not: the
// stall was in the soak's own Node client, which stops forwarding its socket's 'drain' to the
// request once the final response is complete (see uploadDrain in soak.test.ts).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let origin: Origin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    const url = new URL(req.url ?? '/', 'http://o');
    if (url.pathname === '/early') {
      // The final answer before reading a single body byte (an upstream's early 200/413).
      const wait = Number(url.searchParams.get('wait') ?? 0);
      const answer = (): void => {
        const status = Number(url.searchParams.get('status') ?? 200);
        const body = 'x'.repeat(Number(url.searchParams.get('n') ?? 5));
        res.writeHead(status, { 'content-length': String(body.length), 'x-saw-expect': req.headers.expect ?? '-' });
        res.end(body);
      };
      if (wait > 0) setTimeout(answer, wait); else answer();
      return;
    }
    // Reads the whole body, then answers with its length and the Expect it saw.
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => {
      const text = `read ${n} expect=${req.headers.expect ?? '-'}`;
      res.writeHead(200, { 'content-length': String(text.length) });
      res.end(text);
    });
  }, { streamBody: true });
  proxy = await startProxy({
    limits: { max_body_bytes: '16MiB' },
    upstreams: {
      app: { targets: [origin.url] },
      // One connection: the next request waits for it (no idle connection when the body comes).
      one: { targets: [origin.url], pool: { max_connections: 1 } },
    },
    routes: [{ path: '/one/', upstream: 'one', strip_prefix: true }, { path: '/', upstream: 'app' }],
  }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

/** One raw client connection: byte-exact writes, and waits on everything received so far. */
class Conn {
  readonly socket: net.Socket;
  data = '';
  closed = false;
  #waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => { this.data += d.toString('latin1'); this.#wake(); });
    this.socket.on('error', () => {});
    this.socket.on('close', () => { this.closed = true; this.#wake(); });
  }

  #wake(): void { for (const w of this.#waiters.splice(0)) w(); }

  /** Writes honouring backpressure (a big body waits for the proxy to read it). */
  async write(bytes: string | Buffer): Promise<void> {
    if (this.closed) throw new Error(`closed before writing; got ${JSON.stringify(this.data.slice(-300))}`);
    if (!this.socket.write(bytes)) {
      await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close')]);
    }
  }

  /** Writes `body` in `pieces` writes (as chunks when `chunked`, then the last chunk when
   *  `last`), a tick apart. */
  async writeBody(body: Buffer, pieces: number, chunked: boolean, last = true): Promise<void> {
    const size = Math.ceil(body.length / pieces);
    for (let off = 0; off < body.length; off += size) {
      const piece = body.subarray(off, off + size);
      if (chunked) await this.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
      else await this.write(piece);
      await sleep(0);
    }
    if (chunked && last) await this.write('0\r\n\r\n');
  }

  /** Resolves when the proxy has closed the connection; rejects on timeout. */
  async waitClosed(timeoutMs = 4000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`still open after ${timeoutMs} ms; got ${JSON.stringify(this.data.slice(-300))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Resolves when the received bytes (from `from`) match; rejects on close or timeout. */
  async waitFor(re: RegExp, from = 0, timeoutMs = 4000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.data.slice(from));
      if (m) return m;
      if (this.closed) throw new Error(`connection closed waiting for ${String(re)}; got ${JSON.stringify(this.data.slice(-300))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${String(re)}; got ${JSON.stringify(this.data.slice(-300))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  destroy(): void { this.socket.destroy(); }
}

function head(path: string, length: number | 'chunked', expectContinue = true): string {
  return `PUT ${path} HTTP/1.1\r\nhost: expect.test\r\n${expectContinue ? 'expect: 100-continue\r\n' : ''}` +
    `${length === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${length}`}\r\n\r\n`;
}

/** A complete final answer with a Content-Length body (after any 100 Continue). */
const answer = (status: number, body: string): RegExp => new RegExp(`HTTP/1\\.1 ${status} [^\\r]*\\r\\n(?:[^\\r]+\\r\\n)*?content-length: ${body.length}\\r\\n(?:[^\\r]+\\r\\n)*\\r\\n${body}`, 'i');
const CONTINUE = /^HTTP\/1\.1 100 Continue\r\n\r\n/;
const NEXT = answer(200, 'read 0 expect=-');

describe('Expect: 100-continue with an early final answer (raw sockets)', () => {
  test.each([
    ['Content-Length, 64 KiB', 64 * KiB, false],
    ['Content-Length, 8 MiB (more than the socket buffers hold)', 8 * MiB, false],
    ['chunked, 64 KiB', 64 * KiB, true],
    ['chunked, 8 MiB', 8 * MiB, true],
  ] as const)('%s: 100 first, the answer, then the whole upload is taken and the connection serves its next request (closed after a chunked one)', async (_name, size, chunked) => {
    const c = new Conn(proxy.port);
    try {
      const body = Buffer.alloc(size, 'b');
      await c.write(head('/early?n=5', chunked ? 'chunked' : size));
      await c.waitFor(CONTINUE);
      // A chunked request goes upstream with its first chunk (the proxy sends nothing before
      // uWS has validated one), so that one is sent first.
      const first = chunked ? 1000 : 0;
      if (chunked) await c.writeBody(body.subarray(0, first), 1, true, false);
      const got = await c.waitFor(answer(200, 'xxxxx'));
      // The origin saw no Expect: the 100 was the front end's, the proxy strips the header.
      expect(got[0]).toMatch(/x-saw-expect: -\r\n/);
      // The client uploads (the rest) only now, after the complete answer (what a client that
      // ignores early answers, like Node's http client, does).
      await c.writeBody(body.subarray(first), 8, chunked);
      if (chunked) {
        // A connection that carried a chunked request body serves no further request
        // (docs/limits.md "Request bodies"): the answer said so, and the whole upload was taken
        // (every write above went through) before the close.
        expect(got[0]).toMatch(/\r\nconnection: close\r\n/i);
        await c.waitClosed();
        return;
      }
      expect(got[0]).not.toMatch(/\r\nconnection: close\r\n/i);
      const mark = c.data.length;
      await c.write('GET /plain HTTP/1.1\r\nhost: expect.test\r\n\r\n');
      await c.waitFor(NEXT, mark);
      expect(c.closed).toBe(false);
    } finally {
      c.destroy();
    }
  });

  test('the answer arrives mid-upload (half the body sent before it, half after)', async () => {
    for (const chunked of [false, true]) {
      const c = new Conn(proxy.port);
      try {
        const body = Buffer.alloc(1 * MiB, 'h');
        await c.write(head('/early?n=3&wait=40', chunked ? 'chunked' : body.length));
        await c.waitFor(CONTINUE);
        await c.writeBody(body.subarray(0, body.length / 2), 4, chunked, false);
        await c.waitFor(answer(200, 'xxx'));
        await c.writeBody(body.subarray(body.length / 2), 4, chunked);
        if (chunked) { await c.waitClosed(); continue; } // no further request after a chunked body
        const mark = c.data.length;
        await c.write('GET /plain HTTP/1.1\r\nhost: expect.test\r\n\r\n');
        await c.waitFor(NEXT, mark);
      } finally {
        c.destroy();
      }
    }
  });

  test('an early 413 from the origin, then the upload, then the next request', async () => {
    const c = new Conn(proxy.port);
    try {
      await c.write(head('/early?status=413&n=4', 256 * KiB));
      await c.waitFor(CONTINUE);
      await c.waitFor(answer(413, 'xxxx'));
      await c.writeBody(Buffer.alloc(256 * KiB, 'q'), 5, false);
      const mark = c.data.length;
      await c.write('GET /plain HTTP/1.1\r\nhost: expect.test\r\n\r\n');
      await c.waitFor(NEXT, mark);
    } finally {
      c.destroy();
    }
  });

  test('no idle upstream connection when the head comes (the body waits for one), early answer', async () => {
    for (let trial = 0; trial < 4; trial++) {
      // Holds the pool's only connection for a while: the Expect request queues behind it.
      const slow = new Conn(proxy.port);
      const c = new Conn(proxy.port);
      try {
        await slow.write(head('/one/read', 3, false));
        await sleep(5);
        await c.write(head('/one/early?n=2', 300 * KiB));
        await c.waitFor(CONTINUE);
        const body = c.writeBody(Buffer.alloc(300 * KiB, 'w'), 6, false);
        await sleep(30);
        await slow.write('abc');
        await slow.waitFor(answer(200, 'read 3 expect=-'));
        await c.waitFor(answer(200, 'xx'));
        await body;
        const mark = c.data.length;
        await c.write('GET /one/plain HTTP/1.1\r\nhost: expect.test\r\n\r\n');
        await c.waitFor(NEXT, mark);
      } finally {
        slow.destroy();
        c.destroy();
      }
    }
  });

  test('48 connections at once, three early-answered Expect uploads each, then a request each', async () => {
    const one = async (k: number): Promise<string> => {
      const c = new Conn(proxy.port);
      try {
        for (let j = 0; j < 3; j++) {
          const size = [1, 20_000, 64 * KiB, 700 * KiB][(k + j) % 4]!;
          const chunked = (k + j) % 3 === 0;
          const mark = c.data.length;
          await c.write(head(`/early?n=${j + 1}&wait=${(k * 7 + j) % 3 === 0 ? 5 : 0}`, chunked ? 'chunked' : size));
          await c.waitFor(CONTINUE, mark);
          const body = Buffer.alloc(size, 'c');
          const first = chunked ? 1 : 0; // chunked: the request goes upstream with its first chunk
          if (chunked) await c.writeBody(body.subarray(0, first), 1, true, false);
          await c.waitFor(answer(200, 'x'.repeat(j + 1)), mark);
          await c.writeBody(body.subarray(first), 1 + ((k + j) % 8), chunked);
          // A connection that carried a chunked request body serves no further request.
          if (chunked) { await c.waitClosed(8000); return 'ok'; }
        }
        const mark = c.data.length;
        await c.write('GET /plain HTTP/1.1\r\nhost: expect.test\r\n\r\n');
        await c.waitFor(NEXT, mark, 8000);
        return 'ok';
      } catch (err) {
        return `connection ${k}: ${(err as Error).message}`;
      } finally {
        c.destroy();
      }
    };
    const results = await Promise.all(Array.from({ length: 48 }, (_, k) => one(k)));
    expect(results.filter((r) => r !== 'ok')).toEqual([]);
  });

  test('a body that is read in full reaches the origin without Expect', async () => {
    const c = new Conn(proxy.port);
    try {
      await c.write(head('/read', 100_000));
      await c.waitFor(CONTINUE);
      await c.writeBody(Buffer.alloc(100_000, 'r'), 3, false);
      await c.waitFor(answer(200, 'read 100000 expect=-'));
    } finally {
      c.destroy();
    }
  });

  test('the proxy logged nothing wrong', () => {
    expect(proxy.output()).not.toMatch(/portcullis: (error|warn):|uncaught|exited with code|Warning|Error:/i);
  });
});
