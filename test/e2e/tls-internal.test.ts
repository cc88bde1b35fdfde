// `tls: internal`: the local CA Portcullis creates (private files, printed path), the leaf it
// signs for localhost, loopback IPs and route hosts, and quick mode's
// `proxy --from https://localhost:PORT` working with `curl --cacert <printed path>`.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { tlsGet } from '../helpers/tls.js';

const run = promisify(execFile);

let origin: Origin;
let stateDir: string;

beforeAll(async () => {
  origin = await startOrigin();
  stateDir = mkdtempSync(join(tmpdir(), 'portcullis-test-state-'));
});

afterAll(async () => {
  await origin?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

function printedCa(output: string): string {
  const m = /local CA(?: created)?: (\S+) signs/.exec(output);
  if (m === null) throw new Error(`no CA path printed:\n${output}`);
  return m[1]!;
}

describe('quick mode: proxy --from https://localhost:PORT', () => {
  let proxy: RunningProxy;
  let port: number;
  let caFile: string;

  beforeAll(async () => {
    port = await freePort('localhost');
    proxy = await startProxy(null, {
      args: () => ['proxy', '--from', `https://localhost:${port}`, '--to', origin.url],
      env: { PORTCULLIS_STATE_DIR: stateDir, PORTCULLIS_ACCESS_LOG: 'off' },
    });
    caFile = printedCa(proxy.output());
  });
  afterAll(async () => { await proxy?.stop(); });

  test('prints the CA path, created in the state directory with a private key', () => {
    expect(proxy.output()).toMatch(/local CA created: /);
    expect(caFile).toBe(join(stateDir, 'ca', 'root.crt'));
    expect(statSync(join(stateDir, 'ca', 'root.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'ca')).mode & 0o777).toBe(0o700);
    expect(statSync(stateDir).mode & 0o077).toBe(0);
    expect(proxy.output()).toMatch(new RegExp(`listening on https://localhost:${port}`));
  });

  test('curl --cacert <printed path> https://localhost:PORT/ verifies and proxies', async () => {
    const { stdout } = await run('curl', ['-sS', '--http1.1', '--cacert', caFile, `https://localhost:${port}/via-curl`, '-w', '\n%{http_code} %{ssl_verify_result}']);
    const [body, status] = stdout.split('\n');
    expect(status).toBe('200 0');
    expect(JSON.parse(body!)).toMatchObject({ url: '/via-curl', headers: { 'x-forwarded-proto': 'https' } });
  });

  test('by IP address too (the leaf names 127.0.0.1)', async () => {
    const { stdout } = await run('curl', ['-sS', '--http1.1', '--cacert', caFile, `https://127.0.0.1:${port}/by-ip`, '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}']);
    expect(stdout).toBe('200 0');
  });

  test('without the CA, verification fails (it is not a public certificate)', async () => {
    const err = await run('curl', ['-sS', '--http1.1', `https://localhost:${port}/`]).then(() => '', (e: { stderr: string }) => e.stderr);
    expect(err).toMatch(/certificate/i);
  });

  test('no HSTS for a local CA listener (it would pin localhost to https for a year)', async () => {
    const r = await tlsGet(port, { servername: 'localhost' });
    expect(r.status).toBe(200);
    expect(r.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('tls: internal in a config file', () => {
  let proxy: RunningProxy;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    proxy = await startProxy({
      listen: [{ address: `127.0.0.1:${port}`, tls: 'internal' }],
      state_dir: stateDir,
      upstreams: { app: { targets: [origin.url] } },
      routes: [{ host: 'app.test', path: '/', upstream: 'app' }, { host: '*.wild.test', path: '/', upstream: 'app' }],
    });
  });
  afterAll(async () => { await proxy?.stop(); });

  test('the same CA is reused (not created again) and signs route hosts, wildcards included', async () => {
    expect(proxy.output()).toMatch(/local CA: /);
    expect(proxy.output()).not.toMatch(/local CA created/);
    const caFile = join(stateDir, 'ca', 'root.crt');
    for (const name of ['app.test', 'x.wild.test']) {
      const { stdout } = await run('curl', ['-sS', '--cacert', caFile, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`, '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}']);
      expect(stdout).toBe('200 0');
    }
  });
});
