// websocket.idle_timeout without pings (docs/config.md: "from either side when ping_interval is
// off"): a tunnel where only the client talks stays open as long as it talks, and is closed with
// 1001 once both sides fall silent. (A mutation pass found the "either side" half untested.)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';

let server: http.Server;
let wss: WebSocketServer;
let proxy: RunningProxy;
let received = 0;

beforeAll(async () => {
  server = http.createServer();
  wss = new WebSocketServer({ server });
  // A sink: reads every message, never sends one.
  wss.on('connection', (ws) => ws.on('message', () => { received++; }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy = await startProxy({
    upstreams: { sink: { targets: [`http://127.0.0.1:${(server.address() as AddressInfo).port}`] } },
    routes: [{ path: '/', upstream: 'sink', websocket: { idle_timeout: '1s', ping_interval: false } }],
  });
});

afterAll(async () => {
  await proxy?.stop();
  for (const c of wss?.clients ?? []) c.terminate();
  wss?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

test('a client that keeps sending to a silent upstream keeps the tunnel; silence on both sides closes it with 1001', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/sink`);
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  let closedAt = 0;
  let code = 0;
  const closed = new Promise<void>((resolve) => ws.once('close', (c) => { code = c; closedAt = Date.now(); resolve(); }));
  // 3 s of client messages every 300 ms: three idle periods long, never 1 s quiet on the client side.
  for (let i = 0; i < 10; i++) {
    ws.send(`tick ${i}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  expect(closedAt).toBe(0);
  expect(received).toBe(10);
  const quietFrom = Date.now();
  await closed;
  expect(code).toBe(1001);
  // The sweep runs every few hundred ms: closed between 1 s and a generous 4 s after the last frame.
  expect(closedAt - quietFrom).toBeGreaterThanOrEqual(700);
  expect(closedAt - quietFrom).toBeLessThan(4000);
}, 15_000);
