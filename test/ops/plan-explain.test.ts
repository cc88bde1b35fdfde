// `portcullis plan` and `portcullis explain` on fixture configs (test/fixtures/ops/), and a
// plan against a running proxy that names the WebSocket a reload would close.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { MAIN, startProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/ports.js';
import { until, admin } from '../helpers/admin.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/ops/${name}`, import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr });
    });
  });
}

/** The lines of one section of a plan (the indented lines under its title). */
function section(text: string, title: string): string[] {
  const lines = text.split('\n');
  const at = lines.indexOf(title);
  if (at < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(at + 1)) { if (!l.startsWith('  ')) break; out.push(l.trim()); }
  return out;
}

describe('portcullis plan --against', () => {
  test('lists route, upstream, listener and setting changes and the routes whose connections drain', async () => {
    const r = await cli(['plan', '-c', fixture('next.yaml'), '--against', fixture('base.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`plan: ${fixture('next.yaml')} against ${fixture('base.yaml')}`);
    expect(section(r.stdout, 'routes')).toEqual([
      '+ /v2/',
      '- /legacy/',
      '~ api.example.com/v1/  upstreams.api: previous definition → changed (see upstreams)',
      '~ /chat  websocket.idle_timeout: 300000 → 60000',
    ]);
    expect(section(r.stdout, 'upstreams')).toEqual(['~ api  targets: ["http://127.0.0.1:3001","http://127.0.0.1:3002"] → ["http://127.0.0.1:3001","http://127.0.0.1:3003"]']);
    expect(section(r.stdout, 'listeners')).toEqual(['+ 127.0.0.1:8082', '- 127.0.0.1:8081']);
    expect(section(r.stdout, 'certificates')).toEqual(['(no change; no HTTPS listener in either config)']);
    expect(section(r.stdout, 'limits')).toEqual(['(no change)']);
    expect(section(r.stdout, 'timeouts')).toEqual(['~ timeouts.idle: 60000 → 30000']);
    expect(section(r.stdout, 'cache')).toEqual(['(no change)']);
    expect(section(r.stdout, 'would drain')).toEqual(['WebSockets and streams on api.example.com/v1/, /chat, /legacy/ (not counted: offline plan)']);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('result: a reload would apply these changes without dropping a connection');
  });

  test('a change that takes a restart: named, and the plan exits 1', async () => {
    const r = await cli(['plan', '-c', fixture('restart.yaml'), '--against', fixture('base.yaml')]);
    expect(r.code).toBe(1);
    expect(section(r.stdout, 'restart required')).toEqual(['! cache.size: 8388608 → 16777216 (the cache lives in shared memory allocated at start; its entries would be lost)']);
    expect(section(r.stdout, 'would drain')).toEqual(['nothing: no route changes or goes']);
    expect(r.stdout).toContain('result: a reload would be refused (restart required); the running config would stay');
  });

  test('the same file: nothing to change', async () => {
    const r = await cli(['plan', '-c', fixture('base.yaml'), '--against', fixture('base.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('result: nothing to change');
  });

  test('an invalid NEW: its errors with file:line, exit 1', async () => {
    const r = await cli(['plan', '-c', fixture('invalid.yaml'), '--against', fixture('base.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${fixture('invalid.yaml')}:5:`);
    expect(r.stderr).toContain('routes[0].upstream: no upstream named "missing"');
    expect(r.stderr).toContain('a reload would be refused and the running config would stay');
  });

  test('usage errors exit 2', async () => {
    expect((await cli(['plan'])).code).toBe(2);
    expect((await cli(['plan', '-c', fixture('base.yaml'), '--bogus'])).stderr).toContain('portcullis plan: unknown option --bogus');
  });
});

describe('portcullis explain', () => {
  test('the policy phase: gates reached by a folded spelling, IP rules judged, limits and auth described', async () => {
    const r = await cli(['explain', '-c', fixture('protected.yaml'), 'http://site.test/ADMIN/x', '--method', 'POST', '--peer', '192.0.2.1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('route     routes[0] / → upstream app');
    expect(r.stdout).toContain('ip rule of routes[1] (/admin/: this path folds under it): client 192.0.2.1 refused (403)');
    expect(r.stdout).toContain('auth of routes[1] (/admin/: this path folds under it): basic auth (realm "admin", 1 user(s)): 401 without valid credentials');
    const own = await cli(['explain', '-c', fixture('protected.yaml'), 'http://site.test/admin/x', '--method', 'POST', '--peer', '10.1.1.1']);
    expect(own.stdout).toContain('methods GET: POST refused (405)');
    expect(own.stdout).toContain('ip rule of this route: client 10.1.1.1 allowed');
    expect(own.stdout).toContain('rate limit: 10 per 1000 ms, burst 20, key client_ip');
    const moved = await cli(['explain', '-c', fixture('protected.yaml'), 'http://old.example.com/a/b']);
    expect(moved.stdout).toContain('redirect: 308 to https://example.com/a/b');
  });

  test('the route that matched and why, the ones that did not, and everything that applies', async () => {
    const r = await cli(['explain', '-c', fixture('base.yaml'), 'http://api.example.com/v1/users/../items?id=3', '--header', 'X-Forwarded-For: 198.51.100.7', '--peer', '10.1.2.3', '--header', 'X-Request-Id: fixed-id']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const at = (label: string): string => lines.find((l) => l.startsWith(label))!;
    expect(at('parse')).toBe('parse     ok: host "api.example.com", path "/v1/items" (normalised from "/v1/users/../items")');
    expect(at('route')).toBe('route     routes[1] api.example.com/v1/ → upstream api');
    expect(r.stdout).toContain('why: exact host api.example.com matches "api.example.com"; prefix /v1/ (that directory and below) matches "/v1/items"');
    expect(r.stdout).toContain('strip_prefix: the upstream gets "/items"');
    expect(r.stdout).toContain('routes[0] /: matches too, but routes[1] is more specific');
    expect(r.stdout).toContain('routes[2] *.example.com/static/: prefix /static/ (that directory and below) does not match "/v1/items"');
    expect(r.stdout).toContain('routes[3] /chat: exact path /chat does not match "/v1/items"');
    expect(at('client IP')).toBe('client IP 198.51.100.7: the peer 10.1.2.3 is in trusted_proxies, so forwarding headers are read back to the first untrusted hop');
    expect(at('gates')).toMatch(/^gates     none/);
    expect(at('limits')).toBe('limits    head ≤ 32 KiB and 98 header lines (431); body ≤ 64 MiB (413); upstream head ≤ 64 KiB (502)');
    expect(at('upstream ')).toBe('upstream  api: round robin over http://127.0.0.1:3001, http://127.0.0.1:3002; up to 2 retries on another target (on connect, reset; at most 20% of the route\'s requests)');
    expect(r.stdout).toContain('pool: 64 connections per target per worker, idle ones closed after 30 s');
    expect(at('cache')).toBe('cache     off for this route (cache.enabled is false and the route does not set cache: true)');
    expect(at('timeouts')).toBe('timeouts  head 10 s, connect 3 s, response head 1 min, idle 1 min, drain 30 s');
    const head = lines.slice(lines.indexOf('upstream request') + 1).map((l) => l.trim()).filter((l) => l !== '');
    expect(head).toEqual([
      'GET /items?id=3 HTTP/1.1',
      'host: api.example.com',
      'x-forwarded-for: 198.51.100.7, 10.1.2.3',
      'x-forwarded-proto: http',
      'x-forwarded-host: api.example.com',
      'forwarded: for=198.51.100.7, for=10.1.2.3;host=api.example.com;proto=http',
      'x-real-ip: 198.51.100.7',
      'via: 1.1 portcullis',
      'x-request-id: fixed-id',
    ]);
  });

  test('a wildcard host on a caching route; an untrusted peer\'s X-Forwarded-For is not believed', async () => {
    const r = await cli(['explain', '-c', fixture('base.yaml'), 'http://img.example.com/static/a.png', '--header', 'X-Forwarded-For: 1.2.3.4']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('route     routes[2] *.example.com/static/ → upstream app');
    expect(r.stdout).toContain('why: host wildcard *.example.com matches "img.example.com"');
    expect(r.stdout).toContain('routes[1] api.example.com/v1/: exact host api.example.com does not match "img.example.com"');
    expect(r.stdout).toContain('client IP 203.0.113.7: the peer 203.0.113.7 is not in trusted_proxies (10.0.0.0/8): forwarding headers are not believed');
    expect(r.stdout).toContain('cache     on: looked up in the shared cache; stored only when the response allows it (RFC 9111), at most 2 MiB');
  });

  test('a request no route takes, a request refused before routing, and a POST on a caching route', async () => {
    const none = await cli(['explain', '-c', fixture('next.yaml'), '/nothing', '--header', 'Host: api.example.com', '--method', 'PUT']);
    // next.yaml has a "/" route: everything matches something there.
    expect(none.stdout).toContain('route     routes[0] / → upstream app');
    const refused = await cli(['explain', '-c', fixture('base.yaml'), 'http://a.example.com/x', '--method', 'TRACE']);
    expect(refused.stdout).toContain('parse     refused: 405 method not supported (PC_ERR_METHOD) — TRACE is not forwarded');
    expect(refused.stdout).not.toContain('route ');
    const post = await cli(['explain', '-c', fixture('base.yaml'), 'http://img.example.com/static/a', '-X', 'POST']);
    expect(post.stdout).toContain('cache     on for the route, but POST is not looked up (only GET and HEAD are); a successful POST invalidates the URL');
    const purge = await cli(['explain', '-c', fixture('base.yaml'), 'http://img.example.com/static/a', '-X', 'PURGE']);
    expect(purge.stdout).toContain('cache     on: PURGE is answered by the cache, never forwarded, for clients in trusted_proxies (403 for others)');
    const ws = await cli(['explain', '-c', fixture('base.yaml'), 'http://a/chat', '-H', 'Upgrade: websocket', '-H', 'Connection: upgrade']);
    expect(ws.stdout).toContain('websocket an upgrade: tunnelled; route settings: messages ≤ 16 MiB, idle 5 min, ping 30 s');
  });

  test('bad input: exit 2 with the reason', async () => {
    expect((await cli(['explain', '-c', fixture('base.yaml')])).stderr).toContain('a URL is required');
    const bad = await cli(['explain', '-c', fixture('base.yaml'), 'ftp://x/']);
    expect([bad.code, bad.stderr.trim()]).toEqual([2, 'portcullis explain: "ftp://x/" is not an http(s) URL or a path (e.g. http://example.com/api/x or /api/x with --header "Host: example.com")']);
    expect((await cli(['explain', '-c', fixture('base.yaml'), '/x'])).stderr).toContain('no host');
    expect((await cli(['explain', '-c', fixture('base.yaml'), 'http://a/', '-H', 'nocolon'])).stderr).toContain('expected "Name: value"');
    // The TCP peer is an address: a name or a typo is a usage error, not an X-Forwarded-For value.
    for (const peer of ['not-an-ip', '203.0.113', '1.2.3.4:80', '']) {
      const r = await cli(['explain', '-c', fixture('base.yaml'), 'http://a/', `--peer=${peer}`]);
      expect([r.code, r.stdout], peer).toEqual([2, '']);
      expect(r.stderr.split('\n')[0], peer).toBe(peer === '' ? 'portcullis explain: --peer needs an IP address' : `portcullis explain: --peer needs an IP address (e.g. 203.0.113.7 or 2001:db8::7), got "${peer}"`);
    }
    const v6 = await cli(['explain', '-c', fixture('base.yaml'), 'http://a/', '--peer', '2001:db8::7']);
    expect(v6.code).toBe(0);
    expect(v6.stdout).toContain('x-forwarded-for: 2001:db8::7');
  });
});

describe('portcullis plan against the running proxy', () => {
  test('names the open WebSocket a reload would close, and the one it would not', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
    const origin = `http://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
    const adminPort = await freePort();
    const cfg = (idle: string): Record<string, unknown> => ({
      admin: { listen: `127.0.0.1:${adminPort}` },
      upstreams: { app: { targets: [origin] } },
      routes: [{ path: '/chat', upstream: 'app', websocket: { idle_timeout: idle } }, { path: '/feed', upstream: 'app' }],
    });
    const proxy = await startProxy(cfg('5m'), { workers: 2 });
    const sockets: WebSocket[] = [];
    try {
      for (const path of ['/chat', '/chat', '/feed']) {
        const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}${path}`);
        await new Promise((r) => ws.once('open', r));
        sockets.push(ws);
      }
      await until(async () => (await admin(adminPort, 'GET', '/connections')).json.websockets_open === 3, 5000, 'three tunnels');
      proxy.rewrite(cfg('1m'));
      const r = await cli(['plan', '-c', proxy.configFile]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(`plan: ${proxy.configFile} against the running proxy, config generation 1`);
      expect(section(r.stdout, 'routes')).toEqual(['~ /chat  websocket.idle_timeout: 300000 → 60000']);
      expect(section(r.stdout, 'would drain')).toEqual(['2 WebSockets on /chat: closed with 1001 at the reload']);
      // A plan changes nothing.
      expect((await admin(adminPort, 'GET', '/status')).json.config.generation).toBe(1);
      expect(sockets.every((s) => s.readyState === WebSocket.OPEN)).toBe(true);
    } finally {
      for (const s of sockets) s.terminate();
      await proxy.stop();
      wss.close();
    }
  });
});
