// Pebble, the ACME test CA (Debian package `pebble`), for end-to-end ACME tests: its own
// HTTPS certificate from a test CA, pebble-challtestsrv as its DNS (every name → 127.0.0.1),
// HTTP-01 validation sent to the proxy's plain port. Started and stopped by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { createTestCa, type TestCa } from './tls.js';

export interface Pebble {
  /** The ACME directory URL. */
  readonly directory: string;
  /** The CA file that verifies the directory's HTTPS certificate (acme.directory_ca). */
  readonly directoryCa: string;
  /** Pebble's current issuing root (PEM), from its management interface. */
  root(): Promise<string>;
  output(): string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** The port Pebble connects to for HTTP-01 (the proxy's plain listener). */
  readonly httpPort: number;
  /** Lifetime of the certificates it issues, in seconds (Pebble's default: 5 years). */
  readonly validitySeconds?: number;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

export async function startPebble(o: PebbleOptions): Promise<Pebble & { readonly ca: TestCa }> {
  const ca = await createTestCa('Pebble HTTPS test CA');
  const own = await ca.issue('pebble', ['localhost', '127.0.0.1']);
  const [acmePort, managementPort, dnsPort, dnsManagementPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(ca.dir, 'pebble.json');
  writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: own.cert,
      privateKey: own.key,
      httpPort: o.httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(o.validitySeconds === undefined ? {} : { certificateValidityPeriod: o.validitySeconds }),
    },
  }));
  let out = '';
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-20_000); };
  const dns = spawn('pebble-challtestsrv', [
    '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${dnsManagementPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  dns.stdout!.on('data', keep);
  dns.stderr!.on('data', keep);
  const pebble = spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // No artificial validation delays; no nonces rejected at random (the client retries those,
    // but a test must not depend on how often).
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  });
  pebble.stdout!.on('data', keep);
  pebble.stderr!.on('data', keep);
  const directory = `https://127.0.0.1:${acmePort}/dir`;
  const stop = async (): Promise<void> => {
    await Promise.all([stopChild(pebble), stopChild(dns)]);
    ca.remove();
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await get(directory, ca.ca.certPem).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline || pebble.exitCode !== null) {
      await stop();
      throw new Error(`pebble did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    ca,
    directory,
    directoryCa: ca.caFile,
    root: async () => (await get(`https://127.0.0.1:${managementPort}/roots/0`, ca.ca.certPem)).body,
    output: () => out,
    stop,
  };
}
