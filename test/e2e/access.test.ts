// IP rules and auth gates against the request shapes attackers use to reach a protected path
// by another spelling, and against forged client addresses (X-Forwarded-For, PROXY v2).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';
import { hashPassword } from '../../src/policy/password-hash.js';

let origin: Origin;
let gated: RunningProxy;
let trusting: RunningProxy;

const ALICE = `Basic ${Buffer.from('alice:pw').toString('base64')}`;

beforeAll(async () => {
  origin = await startOrigin();
  const hash = await hashPassword('pw', 10);
  gated = await startProxy({
    upstreams: { app: { targets: [origin.url] } },
    routes: [
      { path: '/', upstream: 'app' },
      { path: '/admin/', upstream: 'app', auth: { basic: { users: { alice: hash } } } },
      { path: '/admin/api/', upstream: 'app' },
      { path: '/admin/vault/', upstream: 'app', ip: { allow: ['10.0.0.0/8'] } },
      { path: '/internal/', upstream: 'app', ip: { allow: ['10.0.0.0/8'] } },
      { path: '/exact', upstream: 'app', ip: { deny: ['127.0.0.0/8'] } },
    ],
  });
  trusting = await startProxy({
    trusted_proxies: ['127.0.0.1'],
    ip: { deny: ['203.0.113.0/24', '2001:db8:bad::/48'] },
    upstreams: { app: { targets: [origin.url] } },
    routes: [
      { path: '/', upstream: 'app' },
      { path: '/internal/', upstream: 'app', ip: { allow: ['10.0.0.0/8', 'fd00::/8'], deny: ['10.9.0.0/16'] } },
    ],
  });
});

afterAll(async () => {
  await gated?.stop();
  await trusting?.stop();
  await origin?.close();
});

/** Raw request line: node's client would normalise some of these shapes itself. */
async function raw(port: number, target: string, headers = ''): Promise<number> {
  const r = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: site.test\r\n${headers}Connection: close\r\n\r\n`);
  return r.status;
}

const SHAPES = ['//admin', '/./admin', '/admin/../admin', '/%61dmin', '/admin%2f', '/admin%2F', '/%2e/admin', '/admin;x=1', '/ADMIN', '/Admin/',
  '//admin//panel', '/admin/./panel', '/x/../admin/panel', '/ADMIN/panel', '/admin%2Fpanel', '/admin;jsessionid=1/panel', '/%2561dmin/panel', '/admin/api/../panel'];

describe('bypass shapes against an auth gate on /admin/', () => {
  test.each(SHAPES)('%s never reaches the upstream unauthenticated', async (target) => {
    const seen = origin.seen.length;
    const status = await raw(gated.port, target);
    expect([400, 401]).toContain(status);
    expect(origin.seen.length).toBe(seen);
  });

  test.each(['//admin', '/ADMIN', '/admin;x=1', '/admin%2Fpanel'])('%s with credentials passes (the gate asks, it does not break the URL)', async (target) => {
    const status = await raw(gated.port, target, `Authorization: ${ALICE}\r\n`);
    expect(status).toBe(200);
  });

  test('a more specific route under the gate is gated too', async () => {
    expect(await raw(gated.port, '/admin/api/x')).toBe(401);
    expect(await raw(gated.port, '/ADMIN/API/x')).toBe(401);
    expect(await raw(gated.port, '/admin/api/x', `Authorization: ${ALICE}\r\n`)).toBe(200);
  });

  test('a gate inside a gate: both apply (the inner IP rule, then the outer auth)', async () => {
    expect(await raw(gated.port, '/admin/vault/x', `Authorization: ${ALICE}\r\n`)).toBe(403);
    expect(await raw(gated.port, '/ADMIN/Vault/x', `Authorization: ${ALICE}\r\n`)).toBe(403);
    expect(await raw(gated.port, '/admin/vault/x')).toBe(403);
    expect(await raw(gated.port, '/admin/vaults', `Authorization: ${ALICE}\r\n`)).toBe(200);
  });

  test('a refused request with a second request hidden in its body: one answer, the hidden one never served', async () => {
    const seen = origin.seen.length;
    const hidden = 'GET /admin/secret HTTP/1.1\r\nHost: site.test\r\n\r\n';
    const r = await rawRequest(gated.port, `POST /admin/x HTTP/1.1\r\nHost: site.test\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`);
    expect(r.status).toBe(401);
    expect(r.data.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(origin.seen.length).toBe(seen);
  });

  test('paths that only look alike are not gated', async () => {
    for (const target of ['/administrator', '/admins/x', '/x/admin']) expect(await raw(gated.port, target)).toBe(200);
  });
});

describe('bypass shapes against an IP rule on /internal/', () => {
  const shapes = SHAPES.map((s) => s.replace(/admin/gi, (m) => (m === 'ADMIN' ? 'INTERNAL' : m === 'Admin' ? 'Internal' : 'internal')).replace('%61dmin', '%69nternal').replace('%2561dmin', '%2569nternal'));
  test.each(shapes)('%s is refused for a client outside the allow list', async (target) => {
    const seen = origin.seen.length;
    const status = await raw(gated.port, target);
    expect([400, 403]).toContain(status);
    expect(origin.seen.length).toBe(seen);
  });

  test('an exact route\'s rule covers its other spellings', async () => {
    for (const target of ['/exact', '/EXACT', '/exact;a', '//exact']) expect(await raw(gated.port, target)).toBe(403);
    expect(await raw(gated.port, '/exactly')).toBe(200);
  });
});

describe('IP allow/deny (global and per route, IPv4 and IPv6)', () => {
  test.each<[string, string, number]>([
    ['10.1.2.3', '/internal/x', 200],
    ['10.9.1.1', '/internal/x', 403],
    ['192.168.1.1', '/internal/x', 403],
    ['fd00::1', '/internal/x', 200],
    ['[fd12:3456::1]:443', '/internal/x', 200],
    ['2001:db8::1', '/internal/x', 403],
    ['::ffff:10.1.2.3', '/internal/x', 200],
    ['203.0.113.5', '/', 403],
    ['203.0.113.5', '/internal/x', 403],
    ['2001:db8:bad::1', '/', 403],
    ['198.51.100.1', '/', 200],
  ])('client %s on %s → %i', async (client, path, status) => {
    const r = await request(trusting.port, { path, headers: { 'x-forwarded-for': client } });
    expect(r.status).toBe(status);
    if (status === 403) expect(r.headers['x-portcullis-error']).toBe('PC_ERR_IP_DENIED');
  });

  test('a spoofed X-Forwarded-For from an untrusted peer never changes the decision', async () => {
    for (const xff of ['10.1.2.3', '10.1.2.3, 10.1.2.4', 'fd00::1']) {
      const r = await request(gated.port, { path: '/internal/x', headers: { 'x-forwarded-for': xff } });
      expect(r.status).toBe(403);
    }
    const forwarded = await request(gated.port, { path: '/internal/x', headers: { forwarded: 'for=10.1.2.3' } });
    expect(forwarded.status).toBe(403);
  });

  /** A PROXY protocol v2 header (TCP over IPv4) claiming the connection came from `src`. */
  function proxyV2(src: string): Buffer {
    const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
    const body = Buffer.alloc(12);
    src.split('.').forEach((o, i) => { body[i] = Number(o); });
    [127, 0, 0, 1].forEach((o, i) => { body[4 + i] = o; });
    body.writeUInt16BE(40000, 8);
    body.writeUInt16BE(8080, 10);
    return Buffer.concat([sig, Buffer.from([0x21, 0x11, 0x00, 12]), body]);
  }
  const get = Buffer.from('GET /internal/pp HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n');

  test('PROXY v2 from an untrusted peer is ignored: still refused', async () => {
    const r = await rawRequest(gated.port, Buffer.concat([proxyV2('10.1.2.3'), get]));
    expect(r.status).toBe(403);
  });

  test('PROXY v2 from a trusted peer names the client', async () => {
    expect((await rawRequest(trusting.port, Buffer.concat([proxyV2('10.1.2.3'), get]))).status).toBe(200);
    expect((await rawRequest(trusting.port, Buffer.concat([proxyV2('10.9.0.1'), get]))).status).toBe(403);
  });
});
