// The admin API (issue 14): who may use it (token, Host, origin), what each endpoint answers,
// and /metrics: Prometheus text whose values equal the requests actually made, summed over
// every worker from shared memory, and kept across a worker restart.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';
import { admin, until } from '../helpers/admin.js';

const TOKEN = 'k3y-for-the-admin-api-0123456789';

let origin: Origin;

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    const status = req.url!.startsWith('/status/') ? Number(req.url!.slice(8)) : 200;
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
  });
});

afterAll(async () => {
  await origin?.close();
});

/** Parses Prometheus text into `name{labels} → value` (labels in written order). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

describe('who may use the admin API', () => {
  let proxy: RunningProxy;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    proxy = await startProxy({ admin: { listen: `127.0.0.1:${port}`, token: TOKEN }, upstreams: { app: { targets: [origin.url] } } });
  });
  afterAll(async () => { await proxy?.stop(); });

  test.each([
    ['no token', {}],
    ['a wrong token', { token: 'k3y-for-the-admin-api-0123456780' }],
    ['a prefix of the token', { token: TOKEN.slice(0, -1) }],
    ['the token in another scheme', { headers: { authorization: `Basic ${TOKEN}` } }],
  ])('%s: 401 with WWW-Authenticate, nothing else said', async (_name, opts) => {
    for (const [method, path] of [['GET', '/status'], ['GET', '/metrics'], ['POST', '/reload'], ['POST', '/drain'], ['GET', '/nope']] as const) {
      const r = await admin(port, method, path, opts);
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="portcullis-admin"');
      expect(r.json).toEqual({ error: { code: 'PC_ERR_ADMIN_UNAUTHORIZED', message: 'admin token missing or wrong' } });
    }
    // Nothing happened: still serving.
    expect((await request(proxy.port)).status).toBe(200);
  });

  test('with the token: 200', async () => {
    const r = await admin(port, 'GET', '/status', { token: TOKEN });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'serving', workers: { running: 1, total: 1 }, config: { generation: 1 } });
  });

  test('the effective config never shows the token', async () => {
    const r = await admin(port, 'GET', '/config', { token: TOKEN });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain(TOKEN);
    expect(r.json.config.admin).toEqual({ listen: `127.0.0.1:${port}`, token: '(set)' });
    expect(r.json.config.upstreams.app.targets[0].url).toBe(origin.url);
  });

  test('the dashboard page is served without the token (it holds no data), its data is not', async () => {
    const page = await admin(port, 'GET', '/dashboard');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect((await admin(port, 'GET', '/stats')).status).toBe(401);
  });

  test('a Host that is not the admin address (DNS rebinding) is refused, token or not', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.1:1']) {
      const r = await admin(port, 'GET', '/status', { token: TOKEN, headers: { host } });
      expect(r.status, host).toBe(403);
      expect(r.json.error.code).toBe('PC_ERR_ADMIN_FORBIDDEN');
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) expect((await admin(port, 'GET', '/status', { token: TOKEN, headers: { host } })).status).toBe(200);
  });

  test('a POST from a web page of another origin is refused', async () => {
    const cases = [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'null' }];
    for (const headers of cases) {
      const r = await admin(port, 'POST', '/reload', { token: TOKEN, headers });
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.json.error.code).toBe('PC_ERR_ADMIN_FORBIDDEN');
    }
    expect(proxy.output()).not.toMatch(/reload \(/);
  });

  test('the Host check and the Origin check take the same names: the admin address, localhost, 127.0.0.1, [::1], with its port', async () => {
    const own = ['localhost', '127.0.0.1', '[::1]', 'LocalHost'];
    const foreign = ['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', 'localhost.', 'user@localhost'];
    for (const name of [...own, ...foreign]) {
      const hostOk = (await admin(port, 'GET', '/status', { token: TOKEN, headers: { host: `${name}:${port}` } })).status === 200;
      // Sent to 127.0.0.1: a page on http://localhost:PORT posting to http://127.0.0.1:PORT is the API's own.
      const post = await admin(port, 'POST', '/reload', { token: TOKEN, headers: { origin: `http://${name}:${port}`, 'sec-fetch-site': 'cross-site' } });
      expect([name, hostOk, post.status === 200], JSON.stringify(post.json)).toEqual([name, own.includes(name), own.includes(name)]);
    }
    // The right name on another port or scheme, or with a path, is another origin.
    for (const origin of [`http://localhost:${port + 1}`, `https://localhost:${port}`, `http://localhost:${port}/x`, 'http://localhost', 'null']) {
      const r = await admin(port, 'POST', '/reload', { token: TOKEN, headers: { origin } });
      expect([origin, r.status, r.json.error.code]).toEqual([origin, 403, 'PC_ERR_ADMIN_FORBIDDEN']);
    }
  });

  test('unknown paths 404, wrong methods 405 with Allow, bad bodies 400, big bodies 413', async () => {
    expect((await admin(port, 'GET', '/nope', { token: TOKEN })).json.error.code).toBe('PC_ERR_ADMIN_NOT_FOUND');
    const m = await admin(port, 'GET', '/reload', { token: TOKEN });
    expect([m.status, m.headers['allow'], m.json.error.code]).toEqual([405, 'POST', 'PC_ERR_ADMIN_METHOD']);
    const g = await admin(port, 'POST', '/status', { token: TOKEN });
    expect([g.status, g.headers['allow']]).toEqual([405, 'GET, HEAD']);
    const bad = await admin(port, 'POST', '/cache/purge', { token: TOKEN, body: '{"url": ' });
    expect([bad.status, bad.json.error.code]).toEqual([400, 'PC_ERR_ADMIN_BAD_REQUEST']);
    const notUrl = await admin(port, 'POST', '/cache/purge', { token: TOKEN, body: { url: '/relative' } });
    expect(notUrl.json.error.message).toContain('expected {"url": "http://host/path"');
    const big = await admin(port, 'POST', '/cache/purge', { token: TOKEN, body: `{"url": "${'x'.repeat(70_000)}"}` });
    expect([big.status, big.json.error.code]).toEqual([413, 'PC_ERR_ADMIN_BODY_TOO_LARGE']);
  });

  test('cache purge goes through the purger interface: 501 while the cache provides none', async () => {
    const r = await admin(port, 'POST', '/cache/purge', { token: TOKEN, body: { url: 'http://example.com/a', prefix: true } });
    expect(r.status).toBe(501);
    expect(r.json.error.code).toBe('PC_ERR_PURGE_UNAVAILABLE');
  });
});

describe('the admin API on loopback without a token', () => {
  test('is open to this machine; admin: false turns it off', async () => {
    const port = await freePort();
    const proxy = await startProxy({ admin: { listen: `127.0.0.1:${port}` }, upstreams: { app: { targets: [origin.url] } } });
    try {
      expect((await admin(port, 'GET', '/status')).status).toBe(200);
      expect(proxy.output()).toContain(`admin API on http://127.0.0.1:${port}`);
    } finally {
      await proxy.stop();
    }
    const off = await startProxy({ admin: false, upstreams: { app: { targets: [origin.url] } } });
    try {
      expect(off.output()).not.toContain('admin API');
    } finally {
      await off.stop();
    }
  });

  test('an admin address another program holds stops the start, naming admin.listen', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(startProxy({ admin: { listen: `127.0.0.1:${taken}` }, upstreams: { app: { targets: [origin.url] } } }))
        .rejects.toThrow(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken} \\(admin\\.listen\\): address already in use`));
    } finally {
      blocker.close();
    }
  });
});

describe('metrics', () => {
  test('/metrics counts exactly the requests made, by route, status class and method, over both workers', async () => {
    const port = await freePort();
    const proxy = await startProxy({
      admin: { listen: `127.0.0.1:${port}` },
      upstreams: { app: { targets: [origin.url] } },
      routes: [{ path: '/', upstream: 'app' }, { path: '/api/', upstream: 'app' }],
    }, { workers: 2 });
    try {
      // New connections each time: the kernel spreads them over both workers.
      const plan: [string, string, number][] = [['GET', '/api/a', 17], ['POST', '/api/b', 5], ['GET', '/status/503', 4], ['HEAD', '/', 3], ['GET', '/status/404', 2]];
      for (const [method, path, n] of plan) for (let i = 0; i < n; i++) await request(proxy.port, { method, path, ...(method === 'POST' ? { body: 'abc' } : {}) });
      // Refused before any route: TRACE (405), and a bad path (400) on no route.
      await request(proxy.port, { method: 'TRACE', path: '/api/x' });
      const perWorker = (await admin(port, 'GET', '/workers')).json.workers.map((w: { requests_total: number }) => w.requests_total);
      expect(perWorker.reduce((x: number, y: number) => x + y, 0)).toBe(32);
      expect(perWorker.every((n: number) => n > 0)).toBe(true);
      const r = await admin(port, 'GET', '/metrics');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const m = parseMetrics(r.text);
      expect(m.get('portcullis_requests_total{route="/api/",status_class="2xx",method="GET"}')).toBe(17);
      expect(m.get('portcullis_requests_total{route="/api/",status_class="2xx",method="POST"}')).toBe(5);
      expect(m.get('portcullis_requests_total{route="/",status_class="5xx",method="GET"}')).toBe(4);
      expect(m.get('portcullis_requests_total{route="/",status_class="2xx",method="HEAD"}')).toBe(3);
      expect(m.get('portcullis_requests_total{route="/",status_class="4xx",method="GET"}')).toBe(2);
      expect(m.get('portcullis_requests_total{route="(none)",status_class="4xx",method="TRACE"}')).toBe(1);
      expect(m.get('portcullis_errors_total{code="PC_ERR_METHOD",side="client"}')).toBe(1);
      expect(m.get('portcullis_request_duration_seconds_count{route="/api/"}')).toBe(22);
      expect(m.get('portcullis_request_duration_seconds_bucket{route="/api/",le="+Inf"}')).toBe(22);
      expect(m.get('portcullis_request_duration_seconds_bucket{route="/",le="10"}')).toBe(9);
      expect(m.get('portcullis_request_body_bytes_total{route="/api/"}')).toBe(15);
      expect(m.get('portcullis_response_body_bytes_total{route="/api/"}')).toBe(44);
      expect(m.get('portcullis_connections_opened_total')).toBeGreaterThanOrEqual(32);
      expect(m.get('portcullis_workers{state="running"}')).toBe(2);
      expect(m.get('portcullis_reloads_total{result="ok"}')).toBe(0);
      expect(m.get('portcullis_config_generation')).toBe(1);
      expect(r.text).toMatch(/^portcullis_build_info\{version="\d+\.\d+\.\d+",node="v\d+\.\d+\.\d+",uws="20\.\d+\.\d+"\} 1$/m);
      expect(r.text).toContain('# TYPE portcullis_request_duration_seconds histogram');
      expect(r.text).toContain('# TYPE portcullis_requests_total counter');
      expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
      // A reload is counted, and so is a refused one.
      expect((await admin(port, 'POST', '/reload')).status).toBe(200);
      const after = parseMetrics((await admin(port, 'GET', '/metrics')).text);
      expect(after.get('portcullis_reloads_total{result="ok"}')).toBe(1);
      expect(after.get('portcullis_config_generation')).toBe(2);
    } finally {
      await proxy.stop();
    }
  });

  test('counters survive a worker restart; the dead worker\'s gauges are zeroed; restarts are counted', async () => {
    const port = await freePort();
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const wsOrigin = `http://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
    const proxy = await startProxy({ admin: { listen: `127.0.0.1:${port}` }, upstreams: { app: { targets: [origin.url] }, ws: { targets: [wsOrigin] } }, routes: [{ path: '/', upstream: 'app' }, { path: '/ws', upstream: 'ws' }] }, { workers: 1, env: { PORTCULLIS_TEST_HOOKS: '1' } });
    try {
      for (let i = 0; i < 7; i++) await request(proxy.port, { path: '/x' });
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`);
      await new Promise((r) => ws.once('open', r));
      const read = async (): Promise<Map<string, number>> => parseMetrics((await admin(port, 'GET', '/metrics')).text);
      await until(async () => (await read()).get('portcullis_websocket_tunnels_open') === 1, 5000, 'the tunnel to count');
      expect((await read()).get('portcullis_connections_open')).toBe(0);
      proxy.child.kill('SIGUSR2');
      await until(() => /worker 0 restarted/.test(proxy.output()), 10_000, 'the restart');
      for (let i = 0; i < 3; i++) await request(proxy.port, { path: '/x' });
      // A request is counted just after its last byte is sent: the client can see the answer
      // first (seen once on Node 24: 9 of 10).
      const total = 'portcullis_requests_total{route="/",status_class="2xx",method="GET"}';
      await until(async () => (await read()).get(total) === 10, 5000, () => `10 requests counted`);
      const m = await read();
      expect(m.get(total)).toBe(10);
      expect(m.get('portcullis_websocket_tunnels_open')).toBe(0);
      expect(m.get('portcullis_websocket_tunnels_total')).toBe(1);
      expect(m.get('portcullis_worker_restarts_total{worker="0"}')).toBe(1);
      ws.terminate();
    } finally {
      await proxy.stop();
      wss.close();
    }
  });
});

describe('status, workers, connections, upstreams, cache', () => {
  test('each endpoint answers JSON about the running proxy', async () => {
    const port = await freePort();
    const proxy = await startProxy({
      admin: { listen: `127.0.0.1:${port}` },
      cache: { enabled: true, size: '2MiB' },
      upstreams: { app: { targets: [origin.url], pool: { max_connections: 9 } } },
    }, { workers: 2 });
    try {
      await request(proxy.port, { path: '/' });
      const status = await admin(port, 'GET', '/status');
      expect(status.json).toMatchObject({ status: 'serving', pid: proxy.child.pid, listen: [`127.0.0.1:${proxy.port}`], workers: { running: 2, total: 2 }, last_reload: null });
      const workers = (await admin(port, 'GET', '/workers')).json.workers;
      expect(workers.map((w: { id: number; state: string; generation: number }) => [w.id, w.state, w.generation])).toEqual([[0, 'running', 1], [1, 'running', 1]]);
      const conns = (await admin(port, 'GET', '/connections')).json;
      expect(conns).toMatchObject({ requests_in_flight: 0, websockets_open: 0, streams_open: 0, listeners: [{ address: `127.0.0.1:${proxy.port}`, inflight: 0, tunnels: 0, draining: false }] });
      const ups = (await admin(port, 'GET', '/upstreams')).json.upstreams;
      expect(ups).toEqual([expect.objectContaining({ name: 'app', pool: { max_connections: 9, idle_timeout: 30000, queue: 1024 }, balance: 'round_robin', routes: ['/'], targets: [expect.objectContaining({ url: origin.url, weight: 1, state: 'pending', ejected_until: null, addresses: null })] })]);
      const cache = (await admin(port, 'GET', '/cache')).json;
      expect(cache).toMatchObject({ enabled: true, routes: ['/'], memory: { sizeBytes: 2 * 1024 * 1024, entries: 0 }, requests: { miss: 1 }, hit_ratio: 0, purge: true });
      const reloads = (await admin(port, 'GET', '/reloads')).json;
      expect(reloads).toEqual({ generation: 1, reloads: [] });
      // HEAD works on GET endpoints (load balancers' health checks).
      const head = await admin(port, 'HEAD', '/status');
      expect([head.status, head.text]).toEqual([200, '']);
    } finally {
      await proxy.stop();
    }
  });

  test('/status answers 503 once the proxy drains (a health check takes it out)', async () => {
    const port = await freePort();
    const slow = await startOrigin((_req, res) => { setTimeout(() => res.end('late'), 1500); });
    const proxy = await startProxy({ admin: { listen: `127.0.0.1:${port}` }, upstreams: { app: { targets: [slow.url] } } });
    try {
      const inflight = request(proxy.port, { path: '/' });
      await new Promise((r) => setTimeout(r, 200));
      expect((await admin(port, 'POST', '/drain')).json).toMatchObject({ ok: true, status: 'draining', deadline_ms: 30000 });
      const s = await admin(port, 'GET', '/status');
      expect([s.status, s.json.status]).toEqual([503, 'draining']);
      expect((await admin(port, 'POST', '/reload')).json.error.code).toBe('PC_ERR_DRAINING');
      expect((await inflight).text).toBe('late');
      expect(await proxy.stop()).toBe(0);
    } finally {
      await proxy.stop();
      await slow.close();
    }
  });
});
