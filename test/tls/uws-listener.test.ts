// The uWS TLS listener's certificate changes, on a real SSLApp with real handshakes: a name
// whose certificate is replaced gets a new App, so a connection that negotiated the old
// certificate keeps the routes it had. (removeServerName freed them under it: uSockets finds a
// connection's routes through its SSL_CTX, and the next name added reused the memory.)
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Listener } from '../../src/config/types.js';
import type { Mount } from '../../src/downstream/server.js';
import type { CertFiles } from '../../src/tls/cert-set.js';
import { UwsTlsListener } from '../../src/tls/uws-listener.js';
import { freePort } from '../helpers/ports.js';
import { createTestCa, readResponse, tlsGet, type TestCa } from '../helpers/tls.js';

let ca: TestCa;
const files: Record<string, CertFiles> = {};

/** Every router the listener mounts answers with its own number. */
let routers = 0;
const mount: Mount = {
  on(app: TemplatedApp): TemplatedApp {
    const id = ++routers;
    app.any('/*', (res) => { res.end(`router ${id}`); });
    return app;
  },
  configure(): void {},
};

beforeAll(async () => {
  ca = await createTestCa();
  for (const [file, name] of [['def', 'default.test'], ['a1', 'a.test'], ['a2', 'a.test'], ['x', 'x.test']] as const) {
    const c = await ca.issue(file, [name]);
    files[file] = { id: file, cert: c.cert, key: c.key, notAfter: Date.now() + 86_400_000 };
  }
});
afterAll(() => ca?.remove());

test('a replaced SNI certificate: new handshakes get it, an open connection keeps its routes, also after another name is added', async () => {
  const port = await freePort();
  const listener = new UwsTlsListener({ host: '127.0.0.1', port } as Listener, { default: files['def']!, names: { 'a.test': files['a1']! } }, mount);
  await listener.listen();
  try {
    const open = await tlsGet(port, { servername: 'a.test', keepOpen: true });
    expect(open.cn).toBe('a.test');
    const routes = open.body;
    expect(routes).toMatch(/^router \d+$/);

    await listener.setCertificates({ default: files['def']!, names: { 'a.test': files['a2']! } });
    // A name added after the swap: its routes are what took the freed memory before.
    await listener.setCertificates({ default: files['def']!, names: { 'a.test': files['a2']!, 'x.test': files['x']! } });

    const fresh = await tlsGet(port, { servername: 'a.test' });
    expect(fresh.serial).not.toBe(open.serial);
    expect((await tlsGet(port, { servername: 'x.test' })).cn).toBe('x.test');
    for (let i = 0; i < 3; i++) {
      open.socket.write('GET / HTTP/1.1\r\nhost: a.test\r\n\r\n');
      expect((await readResponse(open.socket)).body).toBe(routes);
    }
    expect(listener.apps).toBe(2);
    open.socket.destroy();
    // The old App closes with its last connection.
    await expect.poll(() => listener.apps, { timeout: 5_000 }).toBe(1);
  } finally {
    listener.close();
  }
});

test('a new SNI name is added in place: no new App', async () => {
  const port = await freePort();
  const listener = new UwsTlsListener({ host: '127.0.0.1', port } as Listener, { default: files['def']!, names: {} }, mount);
  await listener.listen();
  try {
    const open = await tlsGet(port, { servername: 'default.test', keepOpen: true });
    await listener.setCertificates({ default: files['def']!, names: { 'x.test': files['x']! } });
    expect(listener.apps).toBe(1);
    expect((await tlsGet(port, { servername: 'x.test' })).cn).toBe('x.test');
    open.socket.write('GET / HTTP/1.1\r\nhost: default.test\r\n\r\n');
    expect((await readResponse(open.socket)).body).toBe(open.body);
    open.socket.destroy();
  } finally {
    listener.close();
  }
});
