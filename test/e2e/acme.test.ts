// ACME end to end against Pebble (RFC 8555 test CA): issuance at start by the primary (once
// per host, however many workers), HTTP-01 answered on the plain listener (also when it
// redirects to https), 0600 state files reused after a restart, renewal at two thirds of the
// lifetime, on-demand issuance only with an allow policy, and a refusal logged with the CA's reason and retried.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { handshakeError, readResponse, tlsGet, type TlsAnswer } from '../helpers/tls.js';

let origin: Origin;

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    if (req.url?.startsWith('/ask?')) {
      const domain = new URL(req.url, 'http://x').searchParams.get('domain');
      res.writeHead(domain === 'yes.asked.test' ? 200 : 403).end();
      return;
    }
    res.end(JSON.stringify({ url: req.url, proto: req.headers['x-forwarded-proto'] }));
  });
});
afterAll(async () => { await origin?.close(); });

/** New handshakes until one for `servername` verifies against `root` (or `until` says so); the answer. */
async function untilVerified(port: number, servername: string, root: string, until: (a: TlsAnswer) => boolean = () => true, timeoutMs = 30_000): Promise<TlsAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await tlsGet(port, { servername, ca: root }).catch(() => null);
    if (a !== null && a.authorized && until(a)) return a;
    if (Date.now() > deadline) throw new Error(`no verified certificate for ${servername} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function count(text: string, re: RegExp): number {
  return text.match(new RegExp(re.source, 'g'))?.length ?? 0;
}

function proxyConfig(p: Pebble, ports: { plain: number; tls: number }, stateDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: [{ address: `127.0.0.1:${ports.plain}`, redirect_https: true }, { address: `127.0.0.1:${ports.tls}`, tls: { acme: true } }],
    acme: { directory: p.directory, directory_ca: p.directoryCa, email: 'ops@example.test', ...extra },
    state_dir: stateDir,
    upstreams: { app: { targets: [origin.url] } },
    routes: [
      { host: 'a.acme.test', path: '/', upstream: 'app' },
      { host: 'b.acme.test', path: '/', upstream: 'app' },
      { host: '*.wild.acme.test', path: '/', upstream: 'app' },
      { path: '/', upstream: 'app' },
    ],
  };
}

describe('issuance at start', () => {
  let pebble: Pebble;
  let proxy: RunningProxy;
  let stateDir: string;
  let root: string;
  const ports = { plain: 0, tls: 0 };

  beforeAll(async () => {
    ports.plain = await freePort();
    ports.tls = await freePort();
    stateDir = mkdtempSync(join(tmpdir(), 'portcullis-test-acme-'));
    pebble = await startPebble({ httpPort: ports.plain });
    root = await pebble.root();
    proxy = await startProxy(proxyConfig(pebble, ports, stateDir), { workers: 2 });
  });
  afterAll(async () => {
    await proxy?.stop();
    await pebble?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('every exact route host gets a certificate that verifies to the CA\'s root', async () => {
    for (const name of ['a.acme.test', 'b.acme.test']) {
      const a = await untilVerified(ports.tls, name, root);
      expect(a.san).toBe(`DNS:${name}`);
      expect(a.status).toBe(200);
      expect(JSON.parse(a.body)).toMatchObject({ proto: 'https' });
    }
  });

  test('issued once per host by the primary, with two workers', async () => {
    await untilVerified(ports.tls, 'b.acme.test', root);
    expect(count(proxy.output(), /ACME: a\.acme\.test: certificate issued/)).toBe(1);
    expect(count(proxy.output(), /ACME: b\.acme\.test: certificate issued/)).toBe(1);
    expect(count(pebble.output(), /Issued certificate serial/)).toBe(2);
    // Nothing for the wildcard route: HTTP-01 cannot prove a wildcard.
    expect(proxy.output()).not.toMatch(/wild\.acme\.test/);
  });

  test('the account and certificates are kept in the state directory, 0600', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) { expect(statSync(p).mode & 0o077).toBe(0); walk(p); } else files.push(p);
      }
    };
    walk(join(stateDir, 'acme'));
    expect(files.map((f) => f.slice(stateDir.length)).sort()).toEqual([
      expect.stringMatching(/\/account\.json$/), expect.stringMatching(/\/account\.key$/),
      expect.stringMatching(/\/certs\/a\.acme\.test\/cert\.pem$/), expect.stringMatching(/\/certs\/a\.acme\.test\/key\.pem$/),
      expect.stringMatching(/\/certs\/b\.acme\.test\/cert\.pem$/), expect.stringMatching(/\/certs\/b\.acme\.test\/key\.pem$/),
    ].sort((x, y) => String(x).localeCompare(String(y))));
    for (const f of files) expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  test('a host with a certificate is redirected from the plain listener', async () => {
    await untilVerified(ports.tls, 'a.acme.test', root);
    const r = await request(ports.plain, { path: '/x', headers: { host: 'a.acme.test' } });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe(`https://a.acme.test:${ports.tls}/x`);
  });

  test('no default certificate: an unknown name gets a handshake failure, and no certificate without on_demand', async () => {
    const err = await handshakeError(ports.tls, { servername: 'new.acme.test' });
    expect(err).toMatch(/alert/);
    await expect.poll(() => proxy.output(), { timeout: 10_000 }).toMatch(/ACME: new\.acme\.test: a client asked for this name; no certificate is issued for names outside the config without acme\.on_demand/);
    expect(count(pebble.output(), /Issued certificate serial/)).toBe(2);
  });

  test('a restart reuses the stored certificates without asking the CA', async () => {
    await untilVerified(ports.tls, 'b.acme.test', root);
    const served = (await tlsGet(ports.tls, { servername: 'a.acme.test' })).serial;
    await proxy.stop();
    proxy = await startProxy(proxyConfig(pebble, ports, stateDir), { workers: 1 });
    const again = await untilVerified(ports.tls, 'a.acme.test', root);
    expect(again.serial).toBe(served);
    expect(proxy.output()).toMatch(/ACME: a\.acme\.test: using the stored certificate/);
    expect(count(pebble.output(), /Issued certificate serial/)).toBe(2);
  });
});

// Generous per-test time: every wait is for an event (a certificate that verifies), and Pebble
// orders one at a time behind a renewal that a loaded machine slows (one whole-suite run in three).
describe('renewal and on-demand', { timeout: 90_000 }, () => {
  let pebble: Pebble;
  let proxy: RunningProxy;
  let stateDir: string;
  let root: string;
  const ports = { plain: 0, tls: 0 };
  const VALIDITY_S = 12;

  beforeAll(async () => {
    ports.plain = await freePort();
    ports.tls = await freePort();
    stateDir = mkdtempSync(join(tmpdir(), 'portcullis-test-acme-'));
    pebble = await startPebble({ httpPort: ports.plain, validitySeconds: VALIDITY_S });
    root = await pebble.root();
    proxy = await startProxy(proxyConfig(pebble, ports, stateDir, {
      names: ['extra.acme.test'],
      on_demand: { allow: ['*.od.test'], ask: `${origin.url}/ask` },
    }));
  });
  afterAll(async () => {
    await proxy?.stop();
    await pebble?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('acme.names are issued too', async () => {
    await untilVerified(ports.tls, 'extra.acme.test', root);
  });

  test('renewed at two thirds of the lifetime (HTTP-01 through a redirecting listener); open connections keep theirs', async () => {
    const first = await untilVerified(ports.tls, 'a.acme.test', root);
    const open = await tlsGet(ports.tls, { servername: 'a.acme.test', ca: root, keepOpen: true });
    // The plain listener redirects a.acme.test now: the CA's challenge requests must still be answered.
    expect((await request(ports.plain, { path: '/', headers: { host: 'a.acme.test' } })).status).toBe(308);
    const renewed = await untilVerified(ports.tls, 'a.acme.test', root, (a) => a.serial !== first.serial, VALIDITY_S * 1000 * 5);
    expect(renewed.serial).not.toBe(first.serial);
    expect(proxy.output()).toMatch(/ACME: a\.acme\.test: certificate renewed/);
    // Renewed at about 2/3 of 12 s: before the old one expired.
    const renewedAt = proxy.output().match(/ACME: a\.acme\.test: certificate issued, valid until (\S+); renewal at (\S+)/);
    expect(renewedAt).not.toBeNull();
    const [, until, at] = renewedAt!;
    expect(Date.parse(at!)).toBeLessThan(Date.parse(until!));
    open.socket.write('GET /still HTTP/1.1\r\nhost: a.acme.test\r\n\r\n');
    expect((await readResponse(open.socket)).status).toBe(200);
    open.socket.destroy();
  });

  test('on demand: a name the allow pattern covers gets a certificate after its first handshake', async () => {
    expect(await handshakeError(ports.tls, { servername: 'shop.od.test' })).toMatch(/alert/);
    const a = await untilVerified(ports.tls, 'shop.od.test', root);
    expect(a.san).toBe('DNS:shop.od.test');
    expect(proxy.output()).toMatch(/ACME: shop\.od\.test: on-demand certificate approved/);
  });

  test('on demand: the ask URL approves a name no pattern covers', async () => {
    await handshakeError(ports.tls, { servername: 'yes.asked.test' }).catch(() => '');
    await untilVerified(ports.tls, 'yes.asked.test', root);
  });

  test('on demand: anything else is refused, with the reason logged', async () => {
    expect(await handshakeError(ports.tls, { servername: 'no.asked.test' })).toMatch(/alert/);
    await expect.poll(() => proxy.output(), { timeout: 10_000 }).toMatch(/ACME: no\.asked\.test: on-demand certificate refused: the ask URL answered 403/);
    expect(await handshakeError(ports.tls, { servername: 'a.b.od.test' })).toMatch(/alert/);
    await expect.poll(() => proxy.output(), { timeout: 10_000 }).toMatch(/ACME: a\.b\.od\.test: on-demand certificate refused: the ask URL answered 403/);
    expect(pebble.output()).not.toMatch(/no\.asked\.test|a\.b\.od\.test/);
  });
});

describe('a CA that refuses', () => {
  let pebble: Pebble;
  let proxy: RunningProxy;
  let stateDir: string;
  const ports = { plain: 0, tls: 0 };

  beforeAll(async () => {
    ports.plain = await freePort();
    ports.tls = await freePort();
    // Pebble validates HTTP-01 on a port where nothing listens: every challenge fails.
    const nowhere = await freePort();
    stateDir = mkdtempSync(join(tmpdir(), 'portcullis-test-acme-'));
    pebble = await startPebble({ httpPort: nowhere });
    proxy = await startProxy(proxyConfig(pebble, ports, stateDir));
  });
  afterAll(async () => {
    await proxy?.stop();
    await pebble?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('a failed validation is logged with the CA\'s reason and a retry is scheduled; the proxy keeps serving', async () => {
    await expect.poll(() => proxy.output(), { timeout: 30_000 }).toMatch(/ACME: a\.acme\.test: cannot get a certificate: .*acme-challenge.*connection refused; retrying in 1m/);
    expect(proxy.output()).not.toMatch(/ACME: a\.acme\.test: certificate issued/);
    // No certificate: no handshake for the name, no redirect to an https that cannot answer.
    expect(await handshakeError(ports.tls, { servername: 'a.acme.test' })).toMatch(/alert/);
    const plain = await request(ports.plain, { path: '/still-served', headers: { host: 'a.acme.test' } });
    expect(plain.status).toBe(200);
    expect(readdirSync(join(stateDir, 'acme')).length).toBeGreaterThan(0);
  });
});
