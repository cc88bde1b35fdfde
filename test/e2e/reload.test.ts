// Hot reload (issue 14): SIGHUP and the admin API's POST /reload swap every worker to the new
// config while requests, keep-alive connections, WebSockets and streams on unchanged routes
// carry on; an invalid file (or one that takes a restart) leaves the running config in place.
import http from 'node:http';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import autocannon from 'autocannon';
import WebSocket, { WebSocketServer } from 'ws';
import { startProxy, MAIN, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';
import { admin, until } from '../helpers/admin.js';

/** An origin: echoes the path it got (after ~5 ms, so reloads always meet requests in flight), WebSockets echo, /sse streams. */
interface TestOrigin {
  url: string;
  port: number;
  streams: Set<http.ServerResponse>;
  /** Answers every request whose path has "hold" in it, held until now. */
  release(): void;
  /** Requests held so far. */
  held(): number;
  close(): Promise<void>;
}

async function startTestOrigin(name: string): Promise<TestOrigin> {
  const streams = new Set<http.ServerResponse>();
  const holding: (() => void)[] = [];
  let heldCount = 0;
  const server = http.createServer((req, res) => {
    if (req.url!.endsWith('/sse')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      streams.add(res);
      const timer = setInterval(() => res.write(`data: ${name}\n\n`), 100);
      res.on('close', () => { clearInterval(timer); streams.delete(res); });
      return;
    }
    const answer = (): void => {
      const body = `${name} ${req.url}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.url!.includes('hold')) { heldCount++; holding.push(answer); return; }
    setTimeout(answer, 5);
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `${name} ${req.url} ${data.toString()}`));
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    streams,
    release: () => { for (const answer of holding.splice(0)) answer(); },
    held: () => heldCount,
    close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); server.closeAllConnections(); server.close(() => r()); }),
  };
}

let a: TestOrigin;
let b: TestOrigin;

beforeAll(async () => {
  a = await startTestOrigin('A');
  b = await startTestOrigin('B');
});

afterAll(async () => {
  await a?.close();
  await b?.close();
});

/** Two configs that differ in one route: /api/ strips its prefix or not; / stays the same. */
function configWith(stripApi: boolean, adminPort: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    admin: { listen: `127.0.0.1:${adminPort}` },
    upstreams: { a: { targets: [a.url] }, b: { targets: [b.url] } },
    routes: [
      { path: '/', upstream: 'a' },
      { path: '/api/', upstream: 'b', strip_prefix: stripApi },
    ],
    ...extra,
  };
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr });
    });
  });
}

/** One raw keep-alive connection: ask() sends a GET and resolves with the whole answer. */
function rawClient(port: number): { socket: net.Socket; ask(path: string): Promise<string>; closed: Promise<void>; reset(): boolean } {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  let wasReset = false;
  socket.on('data', (d: Buffer) => { data += d.toString('latin1'); });
  socket.on('error', () => { wasReset = true; });
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  return {
    socket,
    closed,
    reset: () => wasReset,
    async ask(path: string): Promise<string> {
      const from = data.length;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      await until(() => {
        const got = data.slice(from);
        const end = got.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)\r\n/i.exec(got);
        return end >= 0 && length !== null && got.length - end - 4 >= Number(length[1]);
      }, 5000, `the answer to ${path}`);
      return data.slice(from);
    },
  };
}

const reloads = (p: RunningProxy): number => (p.output().match(/reload \([^)]*\): config generation/g) ?? []).length;

describe('reload under continuous load', () => {
  test('a reload every second while autocannon runs: zero failed requests, every reload applied', async () => {
    const adminPort = await freePort();
    const proxy = await startProxy(configWith(true, adminPort), { workers: 2 });
    try {
      let strip = true;
      let asked = 0;
      const replies: Promise<number>[] = [];
      const reloader = setInterval(() => {
        strip = !strip;
        proxy.rewrite(configWith(strip, adminPort));
        asked++;
        // Both ways in: the signal and the admin API.
        if (asked % 2 === 0) proxy.child.kill('SIGHUP');
        else replies.push(admin(adminPort, 'POST', '/reload').then((r) => r.status, (e: Error) => { throw new Error(`admin reload: ${e.message}`); }));
      }, 1000);
      const result = await new Promise<autocannon.Result>((resolve, reject) => {
        autocannon({ url: `${proxy.url}/api/x`, connections: 16, duration: 7, timeout: 5 }, (err, r) => (err ? reject(err) : resolve(r)));
      });
      clearInterval(reloader);
      expect(await Promise.all(replies)).toEqual(replies.map(() => 200));
      // Reloads queue one behind the other; on a loaded machine each takes a while.
      await until(() => reloads(proxy) >= asked, 60_000, () => `every reload to finish (asked ${asked}):\n${proxy.output().slice(-3000)}`);
      expect(result['2xx']).toBeGreaterThan(500);
      expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, resets: result.resets }).toEqual({ errors: 0, timeouts: 0, non2xx: 0, resets: 0 });
      expect(asked).toBeGreaterThanOrEqual(6);
      expect(reloads(proxy)).toBe(asked);
      expect(proxy.output()).not.toMatch(/refused|exited/);
      // The last config is the one served.
      const last = await request(proxy.port, { path: '/api/x' });
      expect(last.text).toBe(strip ? 'B /x' : 'B /api/x');
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  }, 120_000);
});

describe('invalid reloads', () => {
  test('a broken file: the old config keeps serving, the log and the admin reply name file:line:field', async () => {
    const adminPort = await freePort();
    const proxy = await startProxy(configWith(true, adminPort), { workers: 1 });
    try {
      // JSON is YAML: line 8 names an upstream that does not exist.
      const broken = JSON.stringify({ ...configWith(false, adminPort), listen: [`127.0.0.1:${proxy.port}`], access_log: false }, null, 2).replace('"upstream": "b"', '"upstream": "nope"');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(proxy.configFile, broken);
      const line = broken.split('\n').findIndex((l) => l.includes('"nope"')) + 1;
      const r = await admin(adminPort, 'POST', '/reload');
      expect(r.status).toBe(422);
      expect(r.json.error.code).toBe('PC_ERR_RELOAD_INVALID');
      expect(r.json.error.generation).toBe(1);
      expect(r.json.error.errors).toEqual([expect.objectContaining({ file: proxy.configFile, line, field: 'routes[1].upstream', message: expect.stringContaining('no upstream named "nope"') })]);
      proxy.child.kill('SIGHUP');
      await until(() => /reload \(SIGHUP\) refused/.test(proxy.output()), 10_000, 'the SIGHUP refusal');
      expect(proxy.output()).toContain(`${proxy.configFile}:${line}:`);
      expect(proxy.output()).toContain('routes[1].upstream: no upstream named "nope"');
      // Still generation 1, still stripping.
      expect((await request(proxy.port, { path: '/api/x' })).text).toBe('B /x');
      expect((await admin(adminPort, 'GET', '/status')).json.config.generation).toBe(1);
      // The CLI says the same and exits 1.
      const cli = await runCli(['reload', '--admin', `127.0.0.1:${adminPort}`]);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toContain('refused (PC_ERR_RELOAD_INVALID); the proxy still serves config generation 1');
      expect(cli.stderr).toContain(`${proxy.configFile}:${line}:`);
      // Fixed: the next reload applies.
      proxy.rewrite(configWith(false, adminPort));
      const ok = await runCli(['reload', '--admin', `127.0.0.1:${adminPort}`]);
      expect(ok.stdout).toMatch(/^reloaded: config generation 2 \(1 route change/);
      expect(ok.code).toBe(0);
      expect((await request(proxy.port, { path: '/api/x' })).text).toBe('B /api/x');
    } finally {
      await proxy.stop();
    }
  });

  test.each([
    ['a larger WebSocket message limit', { routes: [{ path: '/', upstream: 'a', websocket: { max_message_size: '32MiB' } }] }, 'routes[].websocket.max_message_size: 16777216 → 33554432 takes a restart'],
    ['cache.size', { cache: { enabled: true, size: '8MiB' } }, 'cache.size: 4194304 → 8388608 takes a restart'],
    ['a larger uWS head limit', { limits: { max_header_bytes: '64KiB' } }, 'limits.max_header_bytes: 32768 → 65536 takes a restart'],
  ])('%s: refused with 409 (takes a restart), nothing applied', async (_name, change, message) => {
    const adminPort = await freePort();
    const base = { ...configWith(true, adminPort), cache: { enabled: true, size: '4MiB' } };
    const proxy = await startProxy(base, { workers: 1 });
    try {
      proxy.rewrite({ ...configWith(false, adminPort), cache: { enabled: true, size: '4MiB' }, ...change });
      const r = await admin(adminPort, 'POST', '/reload');
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe('PC_ERR_RELOAD_RESTART');
      expect(r.json.error.message).toContain(message);
      // The route change in the same file was not applied either.
      expect((await request(proxy.port, { path: '/api/x' })).text).toBe('B /x');
      // Lowering the head limit is fine.
      proxy.rewrite({ ...configWith(false, adminPort), cache: { enabled: true, size: '4MiB' }, limits: { max_header_bytes: '16KiB' } });
      expect((await admin(adminPort, 'POST', '/reload')).status).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});

function openWs(url: string): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (d) => messages.push(d.toString()));
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('error', reject);
  });
}

async function echo(c: { ws: WebSocket; messages: string[] }, text: string): Promise<string> {
  const n = c.messages.length;
  c.ws.send(text);
  await until(() => c.messages.length > n, 5000, `an echo of ${text}`);
  return c.messages[n]!;
}

describe('WebSockets and streams across a reload', () => {
  test('a WebSocket on an unchanged route stays open; one on a changed route gets 1001 and reconnects to the new definition', async () => {
    const adminPort = await freePort();
    const cfg = (wsUpstream: string): Record<string, unknown> => ({
      admin: { listen: `127.0.0.1:${adminPort}` },
      upstreams: { a: { targets: [a.url] }, b: { targets: [b.url] } },
      routes: [{ path: '/stay/', upstream: 'a' }, { path: '/move/', upstream: wsUpstream }],
    });
    const proxy = await startProxy(cfg('a'), { workers: 2 });
    try {
      const stay = await openWs(`ws://127.0.0.1:${proxy.port}/stay/x`);
      const move = await openWs(`ws://127.0.0.1:${proxy.port}/move/x`);
      expect(await echo(stay, 'one')).toBe('A /stay/x one');
      expect(await echo(move, 'one')).toBe('A /move/x one');
      let moveClosed = false;
      void move.closed.then(() => { moveClosed = true; });
      proxy.rewrite(cfg('b'));
      const r = await admin(adminPort, 'POST', '/reload');
      expect(r.status).toBe(200);
      expect(r.json.websockets_closed).toBe(1);
      expect(await move.closed).toEqual({ code: 1001, reason: 'route changed by a reload' });
      // The other tunnel never noticed.
      expect(await echo(stay, 'two')).toBe('A /stay/x two');
      expect(stay.ws.readyState).toBe(WebSocket.OPEN);
      expect(moveClosed).toBe(true);
      const again = await openWs(`ws://127.0.0.1:${proxy.port}/move/x`);
      expect(await echo(again, 'three')).toBe('B /move/x three');
      // A reload that changes nothing closes nothing.
      const nothing = await admin(adminPort, 'POST', '/reload');
      expect(nothing.json.websockets_closed).toBe(0);
      expect(await echo(again, 'four')).toBe('B /move/x four');
      expect(await echo(stay, 'four')).toBe('A /stay/x four');
      stay.ws.close();
      again.ws.close();
    } finally {
      await proxy.stop();
    }
  });

  test('a stream on an unchanged route survives; one on a removed route is closed at the drain deadline', async () => {
    const adminPort = await freePort();
    const cfg = (withOld: boolean): Record<string, unknown> => ({
      admin: { listen: `127.0.0.1:${adminPort}` },
      timeouts: { drain: '1s' },
      upstreams: { a: { targets: [a.url] } },
      routes: [{ path: '/keep/', upstream: 'a' }, ...(withOld ? [{ path: '/old/', upstream: 'a' }] : [])],
    });
    const proxy = await startProxy(cfg(true), { workers: 1 });
    const events = (path: string): { chunks: string[]; ended: Promise<string> } => {
      const chunks: string[] = [];
      const ended = new Promise<string>((resolve) => {
        http.get({ host: '127.0.0.1', port: proxy.port, path, agent: false }, (res) => {
          res.on('data', (d: Buffer) => chunks.push(d.toString()));
          res.on('end', () => resolve('end'));
          res.on('error', () => resolve('cut'));
          res.on('aborted', () => resolve('cut'));
        }).on('error', () => resolve('cut'));
      });
      return { chunks, ended };
    };
    try {
      const keep = events('/keep/sse');
      const old = events('/old/sse');
      await until(() => keep.chunks.join('').includes('data: A') && old.chunks.join('').includes('data: A'), 5000, 'both streams to start');
      const c = await admin(adminPort, 'GET', '/connections');
      expect(c.json.streams_by_route).toEqual({ '/keep/': 1, '/old/': 1 });
      proxy.rewrite(cfg(false));
      const reloadedAt = Date.now();
      expect((await admin(adminPort, 'POST', '/reload')).status).toBe(200);
      expect(await old.ended).toBe('cut');
      // Not at once: the old route's stream had the drain deadline (1 s) to finish by itself.
      expect(Date.now() - reloadedAt).toBeGreaterThanOrEqual(900);
      const before = keep.chunks.length;
      await until(() => keep.chunks.length > before + 3, 5000, 'the kept stream to go on');
      expect((await admin(adminPort, 'GET', '/connections')).json.streams_by_route).toEqual({ '/keep/': 1 });
      expect((await request(proxy.port, { path: '/old/x' })).status).toBe(404);
    } finally {
      for (const s of a.streams) s.destroy();
      await proxy.stop();
    }
  });
});

describe('listeners', () => {
  test('a reload opens an added listener and drains a removed one without touching the others', async () => {
    const adminPort = await freePort();
    const [p2, p3] = [await freePort(), await freePort()];
    const proxy = await startProxy({ ...configWith(true, adminPort) }, { workers: 2 });
    const cfg = (ports: number[]): Record<string, unknown> => ({ ...configWith(true, adminPort), listen: ports.map((p) => `127.0.0.1:${p}`) });
    try {
      proxy.rewrite(cfg([proxy.port, p2]));
      const added = await admin(adminPort, 'POST', '/reload');
      expect(added.json.changes.listeners).toEqual({ added: [`127.0.0.1:${p2}`], removed: [], kept: [`127.0.0.1:${proxy.port}`] });
      expect((await request(p2, { path: '/api/y' })).text).toBe('B /y');
      // A keep-alive connection on each listener, idle between requests.
      const onOld = rawClient(proxy.port);
      const onP2 = rawClient(p2);
      expect(await onOld.ask('/api/1')).toMatch(/B \/1$/);
      expect(await onP2.ask('/api/2')).toMatch(/B \/2$/);
      // A slow request in flight on p2 while it is removed.
      const busy = rawClient(p2);
      const slowAnswer = busy.ask('/api/hold-p2');
      const heldBefore = b.held();
      await until(() => b.held() > heldBefore, 5000, 'the request to reach the origin');
      // Remove p2, add p3.
      proxy.rewrite(cfg([proxy.port, p3]));
      const swapped = await admin(adminPort, 'POST', '/reload');
      // p2 refuses new connections at once, while its busy connection is still being served.
      await expect(request(p2, { path: '/' })).rejects.toThrow();
      b.release();
      const answer = await slowAnswer;
      expect(answer).toMatch(/B \/hold-p2$/);
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
      await busy.closed;
      expect(busy.reset()).toBe(false);
      expect(swapped.json.changes.listeners).toEqual({ added: [`127.0.0.1:${p3}`], removed: [`127.0.0.1:${p2}`], kept: [`127.0.0.1:${proxy.port}`] });
      expect((await request(p3, { path: '/api/z' })).text).toBe('B /z');
      // The removed listener's idle connection is closed (a FIN, not a reset); new ones are refused.
      await onP2.closed;
      expect(onP2.reset()).toBe(false);
      await expect(request(p2, { path: '/' })).rejects.toThrow();
      // The kept listener's keep-alive connection is the same socket, still serving, not told to close.
      const again = await onOld.ask('/api/3');
      expect(again).toMatch(/B \/3$/);
      expect(again).not.toMatch(/connection: close/i);
      onOld.socket.destroy();
    } finally {
      await proxy.stop();
    }
  });

  test('an added listener that cannot open fails the reload on every worker; the old config stays', async () => {
    const adminPort = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    const proxy = await startProxy(configWith(true, adminPort), { workers: 2 });
    try {
      proxy.rewrite({ ...configWith(false, adminPort), listen: [`127.0.0.1:${proxy.port}`, `127.0.0.1:${taken}`] });
      const r = await admin(adminPort, 'POST', '/reload');
      expect(r.status).toBe(500);
      expect(r.json.error.code).toBe('PC_ERR_RELOAD_FAILED');
      expect(r.json.error.message).toContain(`127.0.0.1:${taken}: address already in use`);
      expect((await request(proxy.port, { path: '/api/x' })).text).toBe('B /x');
    } finally {
      blocker.close();
      await proxy.stop();
    }
  });
});

describe('a reload the workers cannot apply', () => {
  test('an access log path no worker can open: refused on every worker (500), the old config and its log stay', async () => {
    const adminPort = await freePort();
    const proxy = await startProxy(configWith(true, adminPort), { workers: 2 });
    try {
      // Valid as a config; only opening it fails, in each worker.
      proxy.rewrite({ ...configWith(false, adminPort), access_log: { output: '/proc/portcullis-nope/access.log' } });
      const r = await admin(adminPort, 'POST', '/reload');
      expect(r.status).toBe(500);
      expect(r.json.error).toMatchObject({ code: 'PC_ERR_RELOAD_FAILED', generation: 1 });
      expect(r.json.error.message).toContain('access_log.output: cannot open /proc/portcullis-nope/access.log');
      expect((await admin(adminPort, 'GET', '/status')).json.config.generation).toBe(1);
      for (let i = 0; i < 6; i++) expect((await request(proxy.port, { path: '/api/x' })).text).toBe('B /x');
      // The next good reload is generation 2: nothing of the failed one lingers.
      proxy.rewrite(configWith(false, adminPort));
      expect((await admin(adminPort, 'POST', '/reload')).json.generation).toBe(2);
      for (let i = 0; i < 6; i++) expect((await request(proxy.port, { path: '/api/x' })).text).toBe('B /api/x');
    } finally {
      await proxy.stop();
    }
  });
});

describe('draining keep-alive connections', () => {
  test('POST /drain: a keep-alive client mid-loop gets every answer, told to close, and the connection ends with a FIN', async () => {
    const adminPort = await freePort();
    const proxy = await startProxy(configWith(true, adminPort), { workers: 1 });
    const socket = net.connect(proxy.port, '127.0.0.1');
    let data = '';
    socket.on('data', (d: Buffer) => { data += d.toString('latin1'); });
    let ended = false;
    let reset = false;
    socket.on('end', () => { ended = true; });
    socket.on('error', () => { reset = true; });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    try {
      await new Promise<void>((r) => socket.once('connect', () => r()));
      // Two answers on one connection, then the drain while the third is in flight.
      for (const n of [1, 2]) {
        socket.write(`GET /api/${n} HTTP/1.1\r\nHost: a\r\n\r\n`);
        await until(() => data.includes(`B /${n}`), 5000, `answer ${n}`);
      }
      // Held by the origin: the drain starts while it is in flight.
      const heldBefore = b.held();
      socket.write('GET /api/hold3 HTTP/1.1\r\nHost: a\r\n\r\n');
      await until(() => b.held() > heldBefore, 5000, 'the request to reach the origin');
      const d = await admin(adminPort, 'POST', '/drain');
      expect(d.status).toBe(202);
      await until(() => /admin API drain: draining/.test(proxy.output()), 5000, 'the drain to start');
      b.release();
      await closed;
      const answers = data.split(/(?=HTTP\/1\.1 )/);
      expect(answers).toHaveLength(3);
      expect(answers.map((x) => /^HTTP\/1\.1 (\d+)/.exec(x)![1])).toEqual(['200', '200', '200']);
      expect(answers[0]).not.toMatch(/connection: close/i);
      expect(answers[2]).toMatch(/\r\nconnection: close\r\n/i);
      expect(answers[2], data).toMatch(/B \/hold3$/);
      expect(ended).toBe(true);
      expect(reset).toBe(false);
      expect(await proxy.stop()).toBe(0);
      expect(proxy.output()).toContain('admin API drain: draining');
    } finally {
      socket.destroy();
      await proxy.stop();
    }
  });
});

describe('worker replaced after a reload', () => {
  test('a worker that crashes after a reload comes back on the new config', async () => {
    const adminPort = await freePort();
    const proxy = await startProxy(configWith(true, adminPort), { workers: 1, env: { PORTCULLIS_TEST_HOOKS: '1' } });
    try {
      proxy.rewrite(configWith(false, adminPort));
      expect((await admin(adminPort, 'POST', '/reload')).status).toBe(200);
      proxy.child.kill('SIGUSR2');
      await until(() => /worker 0 restarted/.test(proxy.output()), 10_000, 'the restart');
      expect((await request(proxy.port, { path: '/api/x' })).text).toBe('B /api/x');
      const w = await admin(adminPort, 'GET', '/workers');
      expect(w.json.workers[0]).toMatchObject({ restarts: 1, generation: 2, state: 'running' });
    } finally {
      await proxy.stop();
    }
  });
});
