// The connection table on a real uWS App (in this test process) and real sockets: what it
// counts, and how a drain closes keep-alive connections.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { uWS } from '../../src/uws/load.js';
import { ConnectionTable } from '../../src/downstream/connections.js';
import { collect } from '../../src/observe/metrics.js';

let app: TemplatedApp;
let listen: us_listen_socket;
let port = 0;
const table = new ConnectionTable();
/** Requests held open by the handler, answered by the test. */
const held: { res: HttpResponse; conn: ReturnType<ConnectionTable['begin']> }[] = [];

beforeAll(async () => {
  app = uWS.App().any('/*', (res, req) => {
    const conn = table.begin(res);
    if (req.getUrl() === '/hold') {
      res.onAborted(() => table.done(conn));
      held.push({ res, conn });
      return;
    }
    res.end('ok');
    table.done(conn);
  });
  app.filter(table.hook);
  await new Promise<void>((resolve) => app.listen('127.0.0.1', 0, (ls) => { listen = ls as us_listen_socket; port = uWS.us_socket_local_port(listen); resolve(); }));
});

afterAll(() => {
  uWS.us_listen_socket_close(listen);
  app.close();
});

function value(name: string, labels: string[] = []): number {
  const family = collect().find((f) => f.name === name);
  return family?.series.find((s) => s.labels.join() === labels.join())?.value ?? 0;
}

/** Opens a connection, writes `bytes`, resolves with what came back once the server closed it. */
function exchange(bytes: string, closeAfterMs = 0): Promise<{ data: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (bytes) s.write(bytes);
      if (closeAfterMs > 0) setTimeout(() => s.end(), closeAfterMs);
    });
    let data = '';
    let ended = false;
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('end', () => { ended = true; });
    s.on('close', () => resolve({ data, closedByServer: ended && closeAfterMs === 0 }));
  });
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

describe('connection table', () => {
  test('the addon names connections, so requests are matched to them', () => {
    expect(table.identified).toBe(true);
  });

  test('a connection uWS refuses before any handler runs closes as no_request', async () => {
    const before = value('portcullis_connections_closed_total', ['no_request']);
    const r = await exchange('GET / HTTP/1.0\r\n\r\n');
    expect(r.data).toMatch(/^HTTP\/1\.1 505/);
    await settle();
    expect(value('portcullis_connections_closed_total', ['no_request'])).toBe(before + 1);
  });

  test('a connection that served a request closes as served, and the open gauge follows', async () => {
    const served = value('portcullis_connections_closed_total', ['served']);
    const opened = value('portcullis_connections_opened_total');
    const r = await exchange('GET / HTTP/1.1\r\nHost: a\r\n\r\n', 100);
    expect(r.data).toMatch(/^HTTP\/1\.1 200/);
    await settle();
    expect(value('portcullis_connections_opened_total')).toBe(opened + 1);
    expect(value('portcullis_connections_closed_total', ['served'])).toBe(served + 1);
    expect(value('portcullis_connections_open')).toBe(table.open);
    expect(table.open).toBe(0);
  });

  test('a drain closes idle keep-alive connections at once and busy ones after their answer', async () => {
    const idle = exchange('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    const busy = exchange('GET /hold HTTP/1.1\r\nHost: a\r\n\r\n');
    while (held.length === 0) await settle();
    await settle();
    expect(table.open).toBe(2);
    table.drain();
    const idleResult = await idle;
    expect(idleResult.data).toMatch(/^HTTP\/1\.1 200/);
    expect(idleResult.closedByServer).toBe(true);
    expect(table.open).toBe(1); // the busy one stays until its answer
    const { res, conn } = held.pop()!;
    res.cork(() => res.end('late'));
    table.done(conn);
    const busyResult = await busy;
    expect(busyResult.data).toMatch(/late$/);
    expect(busyResult.closedByServer).toBe(true);
  });
});
