// WebSocket tunnels end to end (issue 3): real `ws` clients, a real `ws` origin, the
// compiled proxy in between. Messages, sizes, fragments, subprotocols, refusals, close
// codes both ways, dead upstreams, many tunnels, backpressure, idle and pings.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { rssOf, startProxy, type RunningProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/ports.js';

const MiB = 1024 * 1024;

interface OriginLog {
  url: string;
  headers: http.IncomingHttpHeaders;
  closes: { code: number; reason: string }[];
  messages: { data: Buffer; isBinary: boolean }[];
}

let server: http.Server;
let originPort = 0;
const seen: OriginLog[] = [];
let proxy: RunningProxy;
/** Every origin socket: upgraded ones are not closed by server.close(). */
const sockets = new Set<net.Socket>();

/** The origin: refuses some paths with plain HTTP, behaves per path on the others. */
async function startWsOrigin(): Promise<void> {
  server = http.createServer((_req, res) => { res.writeHead(200); res.end('plain http\n'); });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: true,
    maxPayload: 64 * MiB,
    // Picks the last offered protocol, so the test sees the origin's choice, not the client's first.
    handleProtocols: (protocols) => (protocols.has('none') ? false : [...protocols].at(-1) ?? false),
  });
  server.on('upgrade', (req, socket, head) => {
    const url = req.url ?? '';
    if (url.startsWith('/deny')) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nx-origin: yes\r\n\r\nnope\n');
      return;
    }
    if (url.startsWith('/auth')) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    if (url.startsWith('/silent')) return; // never answers the handshake
    wss.handleUpgrade(req, socket, head, (ws) => {
      const log: OriginLog = { url, headers: req.headers, closes: [], messages: [] };
      seen.push(log);
      ws.on('close', (code, reason) => log.closes.push({ code, reason: reason.toString() }));
      behave(ws, url, log);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  originPort = (server.address() as AddressInfo).port;
}

function behave(ws: WebSocket, url: string, log: OriginLog): void {
  const path = url.split('?')[0]!;
  const q = new URLSearchParams(url.split('?')[1] ?? '');
  if (path === '/headers') {
    ws.send(JSON.stringify({ url, headers: log.headers }));
    return;
  }
  if (path === '/fragments') {
    ws.send('hel', { fin: false });
    ws.send('lo, ', { fin: false });
    ws.send('world', { fin: true });
    return;
  }
  if (path === '/flood') {
    const n = Number(q.get('n'));
    const size = Number(q.get('size'));
    let i = 0;
    const pump = (): void => {
      // The origin respects its own socket's backpressure; the proxy must too.
      while (i < n && ws.bufferedAmount < 4 * MiB) {
        const msg = Buffer.alloc(size, i % 251);
        msg.writeUInt32BE(i, 0);
        ws.send(msg, { binary: true });
        i++;
      }
      if (i < n) setTimeout(pump, 1);
    };
    ws.once('message', pump);
    return;
  }
  if (path === '/noread') {
    // An upstream that stops reading: the proxy must not queue client data without bound.
    (ws as unknown as { _socket: net.Socket })._socket.pause();
    return;
  }
  ws.on('message', (data: Buffer, isBinary) => {
    log.messages.push({ data, isBinary });
    if (path === '/close-4002') { ws.close(4002, 'later'); return; }
    if (path === '/kill') { (ws as unknown as { _socket: net.Socket })._socket.destroy(); return; }
    ws.send(data, { binary: isBinary });
  });
}

beforeAll(async () => {
  await startWsOrigin();
  const deadPort = await freePort();
  proxy = await startProxy({
    timeouts: { response_header: '1s' },
    upstreams: {
      app: { targets: [`http://127.0.0.1:${originPort}`] },
      dead: { targets: [`http://127.0.0.1:${deadPort}`] },
    },
    routes: [
      { path: '/', upstream: 'app' },
      { path: '/strip/', upstream: 'app', strip_prefix: true },
      { path: '/nowhere/', upstream: 'dead' },
      { path: '/small/', upstream: 'app', strip_prefix: true, websocket: { max_message_size: '64KiB' } },
      { path: '/ping/', upstream: 'app', strip_prefix: true, websocket: { idle_timeout: '1500ms', ping_interval: '300ms' } },
      { path: '/quiet/', upstream: 'app', strip_prefix: true, websocket: { idle_timeout: '1s', ping_interval: false } },
      { path: '/tight/', upstream: 'app', strip_prefix: true, websocket: { buffer: '256KiB', max_message_size: '256KiB' } },
    ],
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

function url(path: string): string {
  return `ws://127.0.0.1:${proxy.port}${path}`;
}

/** Opens a client and resolves once the tunnel is up. */
function connect(path: string, protocols: string[] = [], opts: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(path), protocols, { perMessageDeflate: false, maxPayload: 64 * MiB, ...opts });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
  });
}

/** Rejects with `what` (evaluated at the deadline) when `p` takes longer than `ms`. */
function within<T>(ms: number, what: string | (() => string), p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`stalled after ${ms} ms: ${typeof what === 'string' ? what : what()}`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, isBinary) => resolve({ data, isBinary })));
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) { resolve({ code: -1, reason: '', at: Date.now() }); return; }
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() }));
  });
}

/** The answer an upgrade gets when it is not accepted: status, headers, body. */
function refused(path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(path));
    ws.on('open', () => reject(new Error('upgrade was accepted')));
    ws.on('error', () => { /* reported by unexpected-response */ });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => { req.destroy(); resolve({ status: res.statusCode ?? 0, headers: res.headers, body }); });
    });
  });
}

/** TCP ports the process listens on: its socket inodes matched against /proc/net/tcp{,6}. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch { /* closed meanwhile */ }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/** A hand-written upgrade (Connection: keep-alive, Upgrade by default); resolves with the response head. */
function rawUpgrade(path: string, extra: string, connection = 'keep-alive, Upgrade'): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(proxy.port, '127.0.0.1', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: a.test\r\nConnection: ${connection}\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`);
    });
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); if (got.includes('\r\n\r\n')) { s.destroy(); resolve(got.slice(0, got.indexOf('\r\n\r\n'))); } });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('messages', () => {
  test('echoes 1,000 messages in order', async () => {
    const ws = await connect('/echo');
    const got: string[] = [];
    const all = new Promise<void>((resolve) => ws.on('message', (d: Buffer) => { got.push(d.toString()); if (got.length === 1000) resolve(); }));
    for (let i = 0; i < 1000; i++) ws.send(`message ${i}`);
    await all;
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => `message ${i}`));
    ws.close();
  });

  test('a 4 MiB binary message crosses intact both ways', async () => {
    const ws = await connect('/echo');
    const big = Buffer.alloc(4 * MiB);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
    const reply = nextMessage(ws);
    ws.send(big);
    const { data, isBinary } = await reply;
    expect(isBinary).toBe(true);
    expect(data.length).toBe(big.length);
    expect(data.equals(big)).toBe(true);
    ws.close();
  });

  test('text stays text and binary stays binary', async () => {
    const ws = await connect('/echo');
    let reply = nextMessage(ws);
    ws.send('héllo ✓');
    const text = await reply;
    expect(text.isBinary).toBe(false);
    expect(text.data.toString()).toBe('héllo ✓');
    reply = nextMessage(ws);
    ws.send(Buffer.from([0, 255, 1, 254]));
    const bin = await reply;
    expect(bin.isBinary).toBe(true);
    expect([...bin.data]).toEqual([0, 255, 1, 254]);
    ws.close();
  });

  test('fragmented messages arrive whole, both directions', async () => {
    const ws = new WebSocket(url('/fragments'));
    const fromOrigin = await nextMessage(ws);
    expect(fromOrigin.data.toString()).toBe('hello, world');
    ws.close();

    const echo = await connect('/echo');
    const reply = nextMessage(echo);
    echo.send(Buffer.from('abc'), { fin: false, binary: true });
    echo.send(Buffer.from('def'), { fin: false, binary: true });
    echo.send(Buffer.from('ghi'), { fin: true, binary: true });
    const back = await reply;
    expect(back.isBinary).toBe(true);
    expect(back.data.toString()).toBe('abcdefghi');
    expect(seen.at(-1)!.messages.at(-1)!.data.toString()).toBe('abcdefghi');
    echo.close();
  });

  test('a message over the route max_message_size closes the tunnel with 1009', async () => {
    const ws = await connect('/small/echo');
    const done = closed(ws);
    ws.send(Buffer.alloc(100 * 1024));
    expect((await done).code).toBe(1009);
  });

  test('a message over the largest max_message_size is dropped by uWS at the socket, without a close frame (1006, docs/websocket.md)', async () => {
    const ws = await connect('/echo');
    const done = closed(ws);
    ws.send(Buffer.alloc(16 * 1024 * 1024 + 1));
    expect((await done).code).toBe(1006);
  });
});

describe('handshake', () => {
  test.each([
    [['alpha', 'beta'], 'beta'],
    [['solo'], 'solo'],
    [[], ''],
  ])('subprotocols %j: the origin picks %j and the client sees it', async (offered, chosen) => {
    const ws = await connect('/echo', offered);
    expect(ws.protocol).toBe(chosen);
    expect(seen.at(-1)!.headers['sec-websocket-protocol']).toBe(offered.length ? offered.join(',') : undefined);
    ws.close();
  });

  test('the origin choosing no subprotocol: the 101 names none (the ws client itself would refuse that)', async () => {
    const answer = await rawUpgrade('/echo', 'Sec-WebSocket-Protocol: none, x\r\n');
    expect(answer.startsWith('HTTP/1.1 101')).toBe(true);
    expect(answer.toLowerCase()).not.toContain('sec-websocket-protocol');
    expect(seen.at(-1)!.headers['sec-websocket-protocol']).toBe('none,x');
  });

  test('permessage-deflate is negotiated on the client hop when the client offers it', async () => {
    const ws = await connect('/echo', [], { perMessageDeflate: true });
    expect(ws.extensions).toContain('permessage-deflate');
    const text = 'compress me '.repeat(10_000);
    const reply = nextMessage(ws);
    ws.send(text);
    expect((await reply).data.toString()).toBe(text);
    ws.close();
  });

  test('an upstream 403 reaches the client with its headers and body', async () => {
    const r = await refused('/deny');
    expect(r.status).toBe(403);
    expect(r.body).toBe('nope\n');
    expect(r.headers['x-origin']).toBe('yes');
    expect(r.headers.via).toBe('1.1 portcullis');
  });

  test('an upstream 401 reaches the client with its challenge', async () => {
    const r = await refused('/auth');
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer');
  });

  test('upstream not listening: 502 with the proxy error code', async () => {
    const r = await refused('/nowhere/x');
    expect(r.status).toBe(502);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_CONNECT');
  });

  test('upstream never answers the handshake: 504 after response_header', async () => {
    const t0 = Date.now();
    const r = await refused('/silent');
    expect(r.status).toBe(504);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  test('routing, strip_prefix, X-Forwarded-*, Via and request id apply to upgrades', async () => {
    // The origin speaks first: listen before the tunnel is even open.
    const ws = new WebSocket(url('/strip/headers?a=1'), { headers: { cookie: 'sid=42', 'x-request-id': 'req-ws-1', origin: 'http://site.test' } });
    const { data } = await nextMessage(ws);
    const info = JSON.parse(data.toString()) as { url: string; headers: Record<string, string> };
    expect(info.url).toBe('/headers?a=1');
    expect(info.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(info.headers['x-forwarded-proto']).toBe('http');
    expect(info.headers.via).toBe('1.1 portcullis');
    // The client is not a trusted hop: its X-Request-Id is replaced by one of the proxy's.
    expect(info.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
    expect(info.headers['x-request-id']).not.toBe('req-ws-1');
    expect(info.headers.cookie).toBe('sid=42');
    expect(info.headers.origin).toBe('http://site.test');
    expect(info.headers.upgrade).toBe('websocket');
    ws.close();
  });

  test('Connection: keep-alive, Upgrade is detected as an upgrade', async () => {
    const answer = await rawUpgrade('/echo', '');
    expect(answer.startsWith('HTTP/1.1 101')).toBe(true);
    expect(answer).toMatch(/sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
  });

  test('an upgrade whose Connection lacks the upgrade token is refused with 400, not a 101 closed at once', async () => {
    // uWS closes a response to `Connection: close` as soon as it is written; a 101 would leave
    // the client with a tunnel that dies on arrival (RFC 6455 §4.2.1 requires the token anyway).
    const before = seen.length;
    const answer = await rawUpgrade('/echo', '', 'close');
    expect(answer.startsWith('HTTP/1.1 400')).toBe(true);
    expect(seen.length).toBe(before); // the upstream was never asked
  });

  test('an unsupported Sec-WebSocket-Version gets 426 naming 13, and the upstream is never asked', async () => {
    const before = seen.length;
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => {
        s.write('GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      });
      let got = '';
      s.on('data', (d: Buffer) => { got += d.toString('latin1'); if (got.includes('\r\n\r\n')) { s.destroy(); resolve(got); } });
      s.on('close', () => resolve(got));
    });
    expect(answer.startsWith('HTTP/1.1 426')).toBe(true);
    expect(answer).toMatch(/sec-websocket-version: 13/i);
    expect(seen.length).toBe(before);
  });

  test('upgrades go out corked (cork holder): no uWS warning, every tunnel echoes', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connect('/echo')));
    for (const ws of sockets) {
      const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
      ws.send('hi');
      expect(await echoed).toBe('hi');
    }
    for (const ws of sockets) ws.close();
    await new Promise((r) => setTimeout(r, 100)); // stderr arrives asynchronously
    expect(proxy.output()).not.toMatch(/corked callback/);
  });

  test('the cork holder\'s private port serves nothing: other requests there are closed unanswered', async () => {
    const ports = listeningPorts(proxy.child.pid!).filter((p) => p !== proxy.port);
    expect(ports.length).toBeGreaterThan(0); // one per worker
    for (const port of ports) {
      const answer = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.write('GET /echo HTTP/1.1\r\nHost: a.test\r\n\r\n'));
        let got = '';
        s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
        setTimeout(() => { s.destroy(); resolve(`still open: ${got}`); }, 2000);
      });
      expect(answer).toBe('');
    }
  });

  test('a plain GET still goes to the HTTP path', async () => {
    const body = await new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: '/anything', agent: false }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => { b += c.toString(); });
        res.on('end', () => resolve(b));
      });
    });
    expect(body).toBe('plain http\n');
  });
});

describe('closing', () => {
  test('a client close code and reason reach the upstream', async () => {
    const ws = await connect('/echo');
    const reply = nextMessage(ws);
    ws.send('hi');
    await reply;
    const log = seen.at(-1)!;
    ws.close(4001, 'bye now');
    await closed(ws);
    await sleep(100);
    expect(log.closes).toEqual([{ code: 4001, reason: 'bye now' }]);
  });

  test('an upstream close code and reason reach the client', async () => {
    const ws = await connect('/close-4002');
    const done = closed(ws);
    ws.send('go');
    const c = await done;
    expect(c.code).toBe(4002);
    expect(c.reason).toBe('later');
  });

  test('upstream killed mid-tunnel: the client is closed with 1011 at once', async () => {
    const ws = await connect('/kill');
    const done = closed(ws);
    const t0 = Date.now();
    ws.send('die');
    const c = await done;
    expect([1011, 1006]).toContain(c.code);
    expect(c.at - t0).toBeLessThan(500);
  });

  test('a client that drops its TCP connection gets the upstream closed', async () => {
    const ws = await connect('/echo');
    const reply = nextMessage(ws);
    ws.send('x');
    await reply;
    const log = seen.at(-1)!;
    ws.terminate();
    for (let i = 0; i < 40 && log.closes.length === 0; i++) await sleep(25);
    expect(log.closes).toHaveLength(1);
    expect(log.closes[0]!.code).toBe(1001);
  });
});

describe('idle and pings', () => {
  test('proxy pings keep a quiet tunnel open past the idle timeout', async () => {
    const ws = await connect('/ping/echo');
    let pings = 0;
    ws.on('ping', () => { pings++; });
    await sleep(3000); // twice the 1.5 s idle timeout, no messages
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(pings).toBeGreaterThanOrEqual(3);
    const reply = nextMessage(ws);
    ws.send('still here');
    expect((await reply).data.toString()).toBe('still here');
    ws.close();
  });

  test('without pings a quiet tunnel is closed with 1001 after idle_timeout', async () => {
    const ws = await connect('/quiet/echo');
    const t0 = Date.now();
    const c = await closed(ws);
    expect(c.code).toBe(1001);
    expect(c.at - t0).toBeGreaterThanOrEqual(900);
    expect(c.at - t0).toBeLessThan(2500);
  });

  test('a client that stops answering pings is dropped after idle_timeout', async () => {
    // autoPong off: this client never answers, like a peer that vanished without a FIN.
    const ws = await connect('/ping/echo', [], { autoPong: false });
    const t0 = Date.now();
    const c = await closed(ws);
    expect(c.at - t0).toBeGreaterThanOrEqual(1400);
    expect(c.at - t0).toBeLessThan(3500);
  });
});

describe('backpressure and memory', () => {
  test('slow client, fast upstream flood: nothing dropped, proxy memory bounded', async () => {
    const n = 2000;
    const size = 64 * 1024; // 125 MiB in total
    const ws = await connect(`/flood?n=${n}&size=${size}`);
    const pid = proxy.child.pid!;
    const base = await rssOf(pid);
    let peak = base;
    let count = 0;
    let ok = true;
    const all = new Promise<void>((resolve) => {
      ws.on('message', (d: Buffer) => {
        if (d.length !== size || d.readUInt32BE(0) !== count) ok = false;
        count++;
        if (count === n) resolve();
      });
    });
    ws.send('start');
    // Stop reading for 2 s: the upstream must be paused, not buffered in the proxy.
    ws.pause();
    for (let i = 0; i < 20; i++) { await sleep(100); peak = Math.max(peak, await rssOf(pid)); }
    const readWhilePaused = count;
    // Then read slowly-ish (paused half the time) until everything arrived.
    const slow = setInterval(() => { if (ws.isPaused) ws.resume(); else ws.pause(); }, 50);
    const sampler = setInterval(() => { void rssOf(pid).then((r) => { peak = Math.max(peak, r); }); }, 50);
    ws.resume();
    await all;
    clearInterval(slow);
    clearInterval(sampler);
    expect(ok).toBe(true);
    expect(count).toBe(n);
    expect(readWhilePaused).toBeLessThan(n);
    expect(peak - base).toBeLessThan(48 * MiB);
    ws.close();
  }, 60_000);

  test('an upstream that stops reading: the tunnel closes with 1013 instead of buffering', async () => {
    const ws = await connect('/tight/noread');
    const done = closed(ws);
    const chunk = Buffer.alloc(128 * 1024);
    const pump = setInterval(() => { if (ws.readyState === WebSocket.OPEN) for (let i = 0; i < 16; i++) ws.send(chunk); }, 5);
    const c = await done;
    clearInterval(pump);
    expect(c.code).toBe(1013);
  }, 30_000);

  // Once a run in a few, one of these tunnels was closed right after its 101 (uWS closing a
  // WebSocket upgraded inside res.cork(), see upgradeOutsideOwnCork in downstream/websocket.ts) and
  // its echo never came: "stalled … echo (999 of 1000 answered)".
  test('1,000 concurrent tunnels with bounded proxy memory', { timeout: 60_000 }, async () => {
    const pid = proxy.child.pid!;
    const base = await rssOf(pid);
    const sockets: WebSocket[] = [];
    // Each phase has its own deadline so a failure says which one stalled, and how far it got.
    for (let i = 0; i < 1000; i += 100) {
      sockets.push(...(await within(20_000, `connecting (${sockets.length} open)`, Promise.all(Array.from({ length: 100 }, () => connect('/echo'))))));
    }
    let answered = 0;
    const replies = await within(15_000, () => `echo (${answered} of 1000 answered)`, Promise.all(sockets.map((ws, i) => {
      const r = nextMessage(ws).then((m) => { answered++; return m; });
      ws.send(`hello ${i}`);
      return r;
    })));
    expect(replies.map((r) => r.data.toString())).toEqual(sockets.map((_, i) => `hello ${i}`));
    const grown = (await rssOf(pid)) - base;
    // 1,000 tunnels are 2,000 sockets in the proxy: well under 100 KiB each.
    expect(grown).toBeLessThan(100 * MiB);
    let closedCount = 0;
    const done = sockets.map((ws) => closed(ws).then((c) => { closedCount++; return c; }));
    for (const ws of sockets) ws.close(1000);
    const codes = await within(15_000, () => `closing (${closedCount} of 1000 closed)`, Promise.all(done));
    expect(codes.every((c) => c.code === 1000)).toBe(true);
  });
});
