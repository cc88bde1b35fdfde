// Certificates replaced on disk while Portcullis runs: new handshakes get the new pair within
// seconds (in every worker), connections already open keep theirs, and a half-done rotation
// (new certificate, old key) keeps the old pair serving until the key follows; on uWS
// listeners and on HTTP/2 ([h1, h2]) ones.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { createTestCa, readResponse, tlsGet, type TestCa, type TlsAnswer } from '../helpers/tls.js';
import { issueLeaf } from '../../src/tls/x509.js';
import { X509Certificate } from 'node:crypto';

let ca: TestCa;
let origin: Origin;
let proxy: RunningProxy;
let port: number;
/** The same certificate files on an HTTP/2 listener (Node's http2: SecureContexts swapped, not uWS Apps). */
let h2Port: number;
let adminPort: number;

const DAY = 86_400_000;

beforeAll(async () => {
  ca = await createTestCa();
  const main = await ca.issue('default', ['default.test']);
  const a = await ca.issue('a', ['a.test']);
  origin = await startOrigin();
  port = await freePort();
  h2Port = await freePort();
  adminPort = await freePort();
  proxy = await startProxy({
    admin: { listen: `127.0.0.1:${adminPort}` },
    listen: [
      { address: `127.0.0.1:${port}`, tls: { certificates: [{ cert: main.cert, key: main.key }, { cert: a.cert, key: a.key }] } },
      { address: `127.0.0.1:${h2Port}`, tls: { certificates: [{ cert: main.cert, key: main.key }, { cert: a.cert, key: a.key }] }, protocols: ['h1', 'h2'] },
    ],
    upstreams: { app: { targets: [origin.url] } },
  }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  ca?.remove();
});

function serialOf(a: TlsAnswer): string {
  return a.serial;
}

function serialOfPem(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

/**
 * A new connection. While the default certificate changes, Linux may reset one that was
 * waiting in the old listening socket's accept queue at the instant it closed (docs/tls.md):
 * a client retries such a reset once, as browsers do.
 */
async function handshake(servername: string, on = port): Promise<TlsAnswer> {
  try {
    return await tlsGet(on, { servername });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
    return tlsGet(on, { servername });
  }
}

/** New handshakes until one presents `serial`; then `n` more that must all present it. */
async function untilServed(servername: string, serial: string, n = 8, on = port): Promise<number> {
  const started = Date.now();
  for (;;) {
    const r = await handshake(servername, on);
    if (serialOf(r) === serial) break;
    if (Date.now() - started > 20_000) throw new Error(`certificate ${serial} not served within 20 s`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const took = Date.now() - started;
  // Every worker has it (connections are spread by the kernel over both).
  for (let i = 0; i < n; i++) expect(serialOf(await handshake(servername, on))).toBe(serial);
  return took;
}

async function again(socket: TlsAnswer['socket'], host: string): Promise<number> {
  socket.write(`GET /again HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
  return (await readResponse(socket)).status;
}

test('an SNI certificate replaced is served within seconds; an open connection keeps working', async () => {
  const open = await tlsGet(port, { servername: 'a.test', keepOpen: true });
  const openH2 = await tlsGet(h2Port, { servername: 'a.test', keepOpen: true });
  const before = serialOf(open);
  const next = await issueLeaf(ca.ca, { names: ['a.test'], notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
  ca.write('a', next); // rewritten in place: cert then key
  const took = await untilServed('a.test', serialOfPem(next.certPem));
  expect(took).toBeLessThan(10_000);
  expect(serialOf(open)).toBe(before);
  expect(await again(open.socket, 'a.test')).toBe(200);
  open.socket.destroy();
  // The HTTP/2 listener too.
  expect(await untilServed('a.test', serialOfPem(next.certPem), 8, h2Port)).toBeLessThan(10_000);
  expect(serialOf(openH2)).toBe(before);
  expect(await again(openH2.socket, 'a.test')).toBe(200);
  openH2.socket.destroy();
});

test('the default certificate replaced by rename: new handshakes get it, open connections stay', async () => {
  const open = await tlsGet(port, { servername: '', keepOpen: true });
  const next = await issueLeaf(ca.ca, { names: ['default.test'], notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
  writeFileSync(join(ca.dir, 'next.crt'), next.certPem);
  writeFileSync(join(ca.dir, 'next.key'), next.keyPem);
  renameSync(join(ca.dir, 'next.key'), join(ca.dir, 'default.key'));
  renameSync(join(ca.dir, 'next.crt'), join(ca.dir, 'default.crt'));
  await untilServed('', serialOfPem(next.certPem));
  await untilServed('unknown.test', serialOfPem(next.certPem), 2);
  await untilServed('', serialOfPem(next.certPem), 8, h2Port);
  expect((await tlsGet(h2Port, { servername: 'a.test' })).cn).toBe('a.test');
  // SNI names are served by the new App too.
  expect((await tlsGet(port, { servername: 'a.test' })).cn).toBe('a.test');
  expect(await again(open.socket, 'localhost')).toBe(200);
  open.socket.destroy();
});

test('a half-done rotation (new certificate, old key) keeps the old pair until the key follows', async () => {
  const current = serialOf(await tlsGet(port, { servername: 'a.test' }));
  const next = await issueLeaf(ca.ca, { names: ['a.test'], notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
  writeFileSync(join(ca.dir, 'a.crt'), next.certPem);
  await expect.poll(() => proxy.output(), { timeout: 10_000 }).toMatch(/keeping the current certificate: .*a\.key does not belong to .*a\.crt/);
  for (let i = 0; i < 4; i++) expect(serialOf(await tlsGet(port, { servername: 'a.test' }))).toBe(current);
  for (let i = 0; i < 4; i++) expect(serialOf(await tlsGet(h2Port, { servername: 'a.test' }))).toBe(current);
  writeFileSync(join(ca.dir, 'a.key'), next.keyPem);
  await untilServed('a.test', serialOfPem(next.certPem));
  await untilServed('a.test', serialOfPem(next.certPem), 8, h2Port);
});

test('certificates and their reloads are in /metrics and on the admin dashboard\'s /stats', async () => {
  const stats = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).json() as { certificates: { name: string; expires: string }[] };
  expect(stats.certificates.map((c) => c.name).sort()).toEqual(['a.test', 'default.test']);
  const cert = stats.certificates.find((c) => c.name === 'a.test')!;
  // The file's current certificate (the one the last rotation wrote).
  expect(Date.parse(cert.expires)).toBe(Date.parse(new X509Certificate(readFileSync(join(ca.dir, 'a.crt'))).validTo));
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  // The earlier tests replaced files: loaded twice at least, kept once (the half-done rotation).
  expect(text).toMatch(/portcullis_certificate_reloads_total\{outcome="loaded"\} [2-9]/);
  expect(text).toMatch(/portcullis_certificate_reloads_total\{outcome="kept"\} [1-9]/);
  // An SNI certificate and the default replaced (and the half-done rotation's second step): new Apps.
  expect(text).toMatch(/portcullis_tls_certificate_swaps_total\{kind="app"\} [2-9]/);
});

