// The local CA: created once per state directory (private files), reopened as is, safe when
// two processes create it at the same moment, and its leaves verify against its root.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { InternalCa } from '../../src/tls/internal-ca.js';
import { internalNames } from '../../src/tls/internal-issuer.js';
import { parseConfigText } from '../../src/config/load.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'portcullis-ca-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('created on first use with private files, reopened unchanged', async () => {
  const state = join(dir, 'state');
  const first = await InternalCa.open(state);
  expect(first.created).toBe(true);
  expect(statSync(state).mode & 0o777).toBe(0o700);
  expect(statSync(join(state, 'ca')).mode & 0o777).toBe(0o700);
  expect(statSync(join(state, 'ca', 'root.key')).mode & 0o777).toBe(0o600);
  const root = readFileSync(first.rootFile, 'utf8');
  const again = await InternalCa.open(state);
  expect(again.created).toBe(false);
  expect(readFileSync(again.rootFile, 'utf8')).toBe(root);
  expect(new X509Certificate(root).ca).toBe(true);
});

test('two processes creating it at once end up with one root', async () => {
  const cas = await Promise.all([InternalCa.open(dir), InternalCa.open(dir), InternalCa.open(dir)]);
  expect(cas.filter((c) => c.created)).toHaveLength(1);
  const leaf = await cas[2]!.issue(['localhost']);
  const root = new X509Certificate(readFileSync(cas[0]!.rootFile));
  expect(new X509Certificate(leaf.certPem).verify(root.publicKey)).toBe(true);
});

test('a leaf covers the names asked for, IPs included, for a week', async () => {
  const ca = await InternalCa.open(dir);
  const leaf = await ca.issue(['localhost', '*.dev.test', '127.0.0.1', '::1']);
  expect(leaf.names).toEqual(['localhost', '*.dev.test']);
  expect(leaf.ips).toEqual(['127.0.0.1', '0:0:0:0:0:0:0:1']);
  const x = new X509Certificate(leaf.certPem);
  expect(x.checkHost('a.dev.test')).toBe('*.dev.test');
  expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
  expect(x.ca).toBe(false);
  expect(leaf.notAfter - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
});

test('internal names: localhost, loopback, the listener IP and every route host', () => {
  const config = parseConfigText(`listen: [{ address: "10.1.2.3:8443", tls: internal }, { address: ":9443", tls: internal }]
upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }
routes: [{ host: api.test, upstream: app }, { host: "*.dev.test", upstream: app }, { path: /x, upstream: app }]
`, 'cfg.yaml', {});
  expect(internalNames(config).sort()).toEqual(['*.dev.test', '10.1.2.3', '127.0.0.1', '::1', 'api.test', 'localhost']);
});
