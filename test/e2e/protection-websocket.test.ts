// The policy phase on WebSocket upgrades: an auth gate and the in-flight limit apply to the
// upgrade request, a tunnel counts as a request in flight for its whole life, and an upgraded
// connection leaves the per-address connection count.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { hashPassword } from '../../src/policy/password-hash.js';

let server: http.Server;
let p: RunningProxy;
const AUTH = `Basic ${Buffer.from('alice:pw').toString('base64')}`;

beforeAll(async () => {
  server = http.createServer((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  p = await startProxy({
    limits: { max_requests_per_ip: 1, max_connections_per_ip: 2 },
    upstreams: { app: { targets: [origin] } },
    routes: [{ path: '/', upstream: 'app', auth: { basic: { users: { alice: await hashPassword('pw', 10) } } } }],
  }, { workers: 2 });
});

afterAll(async () => {
  await p?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

/** Opens a WebSocket; resolves with it open, or with the status of the refused upgrade. */
function open(headers: Record<string, string>): Promise<{ ws: WebSocket; status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/chat`, { headers });
    ws.once('open', () => resolve({ ws, status: 101 }));
    ws.once('unexpected-response', (req, res) => { resolve({ ws, status: res.statusCode ?? 0 }); req.destroy(); });
    ws.once('error', () => resolve({ ws, status: 0 }));
  });
}

describe('upgrades pass the policy phase', () => {
  test('no credentials: 401, no tunnel', async () => {
    const r = await open({});
    expect(r.status).toBe(401);
  });

  test('with credentials: a tunnel; while it is open a second one is over max_requests_per_ip; after it closes there is room', async () => {
    const first = await open({ authorization: AUTH });
    expect(first.status).toBe(101);
    const echoed = new Promise<string>((r) => first.ws.once('message', (m) => r(m.toString())));
    first.ws.send('hello');
    expect(await echoed).toBe('hello');
    // The tunnel is a request in flight: a second upgrade is over the in-flight limit.
    const second = await open({ authorization: AUTH });
    expect(second.status).toBe(429);
    // The upgraded connection left the per-address count (limit 2): two plain connections fit.
    const plain = await Promise.all([0, 1].map(() => new Promise<{ s: net.Socket; ok: boolean }>((resolve) => {
      const s = net.connect(p.port, '127.0.0.1', () => s.write(`GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`));
      s.once('data', (d) => resolve({ s, ok: d.toString().startsWith('HTTP/1.1 ') }));
      s.once('close', () => resolve({ s, ok: false }));
      s.on('error', () => {});
    })));
    expect(plain.map((c) => c.ok)).toEqual([true, true]);
    for (const c of plain) c.s.destroy();
    await new Promise<void>((r) => { first.ws.once('close', () => r()); first.ws.close(); });
    await expect.poll(async () => {
      const third = await open({ authorization: AUTH });
      third.ws.terminate();
      return third.status;
    }, { timeout: 5000 }).toBe(101);
  });
});
