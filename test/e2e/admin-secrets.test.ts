// Secrets stay in the proxy (docs/operations.md "What the admin API shows"): the admin API on
// loopback answers anyone on the machine without a token, so nothing it says may carry a value
// the proxy read from its environment. POST /plan never fills ${NAME} from the proxy's own
// environment (it once printed `via: "${PATH}"` back in full), and every reply (effective
// config, diffs, refusals, labels in /metrics and /stats) shows the text written in the file.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { MAIN, startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';
import { admin } from '../helpers/admin.js';

const hex = (): string => randomBytes(6).toString('hex');
const ENV = {
  VIA_SECRET: `via-${hex()}`,
  ROUTE_HOST: `internal-${hex()}.example`,
  UNUSED_SECRET: `unused-${hex()}`,
  ORIGIN_ADDR: '',
};
let secrets: string[];

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000, env: { PATH: process.env['PATH'] ?? '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr });
    });
  });
}

function expectNoSecret(text: string, what: string): void {
  for (const s of secrets) expect(text.toLowerCase().includes(s.toLowerCase()), `${what} shows ${s}:\n${text.slice(0, 3000)}`).toBe(false);
}

let origin: Origin;
let proxy: RunningProxy;
let adminPort: number;
let config: Record<string, unknown>;

beforeAll(async () => {
  origin = await startOrigin((_req, res) => res.end('ok'));
  ENV.ORIGIN_ADDR = origin.url.slice('http://'.length);
  // PATH as the proxy has it: the value the QA pass read back through /plan.
  secrets = [ENV.VIA_SECRET, ENV.ROUTE_HOST, ENV.UNUSED_SECRET, ENV.ORIGIN_ADDR, process.env['PATH']!];
  adminPort = await freePort();
  config = {
    admin: { listen: `127.0.0.1:${adminPort}` },
    via: '${VIA_SECRET}',
    upstreams: { app: { targets: ['http://${ORIGIN_ADDR}'] } },
    routes: [{ host: '${ROUTE_HOST}', path: '/', upstream: 'app' }, { path: '/', upstream: 'app' }],
  };
  proxy = await startProxy(config, { env: ENV });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

describe('POST /plan', () => {
  test('never fills ${NAME} from the proxy\'s environment: not for a field it shows, an error, or a name check', async () => {
    const base = `listen: ["127.0.0.1:${proxy.port}"]\nadmin: { listen: "127.0.0.1:${adminPort}" }\naccess_log: false\nupstreams: { app: { targets: ["${origin.url}"] } }\n`;
    const probes = [
      'via: "${PATH}"',
      'via: "${UNUSED_SECRET}"',
      // Referenced by the running config: still not read for posted text.
      'via: "${VIA_SECRET}"',
      'workers: ${UNUSED_SECRET}',
      'routes: [{ path: /, upstream: "${UNUSED_SECRET}" }]',
    ];
    for (const probe of probes) {
      const r = await admin(adminPort, 'POST', '/plan', { body: { file: 'probe.yaml', text: `${base}${probe}\n` } });
      expectNoSecret(r.text, probe);
      expect([probe, r.status, r.json.error.code]).toEqual([probe, 422, 'PC_ERR_RELOAD_INVALID']);
      expect(r.json.error.errors[0].message).toMatch(/^environment variable (PATH|UNUSED_SECRET|VIA_SECRET) is not set/);
    }
  });

  test('takes the values posted with the text, and shows them as written', async () => {
    const text = `listen: ["127.0.0.1:${proxy.port}"]\nadmin: { listen: "127.0.0.1:${adminPort}" }\naccess_log: false\nvia: "\${MINE}"\nupstreams: { app: { targets: ["${origin.url}"] } }\n`;
    const r = await admin(adminPort, 'POST', '/plan', { body: { file: 'mine.yaml', text, env: { MINE: 'my-own-value-42' } } });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('my-own-value-42');
    expectNoSecret(r.text, 'the plan');
    expect(r.json.diff.settings).toContainEqual({ field: 'via', from: '${VIA_SECRET}', to: '${MINE}' });
    expect(r.json.diff.routes.removed).toEqual(['${ROUTE_HOST}/']);
    const bad = await admin(adminPort, 'POST', '/plan', { body: { file: 'x.yaml', text, env: { MINE: 7 } } });
    expect([bad.status, bad.json.error.code]).toEqual([400, 'PC_ERR_ADMIN_BAD_REQUEST']);
  });
});

describe('what the admin API shows', () => {
  test('no endpoint shows a value read from the environment; the config and the labels show the written text', async () => {
    for (let i = 0; i < 3; i++) expect((await request(proxy.port, { headers: { host: ENV.ROUTE_HOST } })).status).toBe(200);
    expect((await request(proxy.port)).status).toBe(200);
    for (const path of ['/status', '/config', '/reloads', '/upstreams', '/cache', '/workers', '/connections', '/metrics', '/stats']) {
      const r = await admin(adminPort, 'GET', path);
      expect(r.status, path).toBe(200);
      expectNoSecret(r.text, path);
    }
    const c = (await admin(adminPort, 'GET', '/config')).json.config;
    expect([c.via, c.upstreams.app.targets, c.routes[0].host]).toEqual(['${VIA_SECRET}', ['http://${ORIGIN_ADDR}'], '${ROUTE_HOST}']);
    const metrics = (await admin(adminPort, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/portcullis_requests_total\{route="\$\{ROUTE_HOST\}\/",status_class="2xx",method="GET"\} 3\n/);
    expect((await admin(adminPort, 'GET', '/upstreams')).json.upstreams[0].targets[0].url).toBe('http://${ORIGIN_ADDR}');
  });

  test('a refused reload: the reply and the history without the value, the log with it', async () => {
    proxy.rewrite({ ...config, routes: [{ path: '/', upstream: '${UNUSED_SECRET}' }] });
    const r = await admin(adminPort, 'POST', '/reload');
    expect([r.status, r.json.error.code]).toEqual([422, 'PC_ERR_RELOAD_INVALID']);
    expectNoSecret(r.text, 'the refusal');
    expect(r.json.error.errors[0].message).toBe('no upstream named "${UNUSED_SECRET}"; defined: app');
    expectNoSecret((await admin(adminPort, 'GET', '/reloads')).text, '/reloads');
    // The log is the operator's: it says exactly what is wrong.
    expect(proxy.output()).toContain(`no upstream named "${ENV.UNUSED_SECRET}"`);
    proxy.rewrite(config);
  });

  test('an applied reload answers with the changes as written', async () => {
    proxy.rewrite({ ...config, via: '${UNUSED_SECRET}' });
    const r = await admin(adminPort, 'POST', '/reload');
    expect(r.status).toBe(200);
    expectNoSecret(r.text, 'the reload');
    expect(r.json.changes.settings).toEqual([{ field: 'via', from: '${VIA_SECRET}', to: '${UNUSED_SECRET}' }]);
    expectNoSecret((await admin(adminPort, 'GET', '/config')).text, '/config after the reload');
    proxy.rewrite(config);
    expect((await admin(adminPort, 'POST', '/reload')).status).toBe(200);
  });
});

describe('portcullis plan against the running proxy', () => {
  test('sends the values of its own environment: the same values, nothing to change; others, said without showing them', async () => {
    const same = await cli(['plan', '-c', proxy.configFile], { VIA_SECRET: ENV.VIA_SECRET, ROUTE_HOST: ENV.ROUTE_HOST, ORIGIN_ADDR: ENV.ORIGIN_ADDR });
    expect([same.code, same.stderr]).toEqual([0, '']);
    expect(same.stdout.trim().split('\n').at(-1)).toBe('result: nothing to change');
    expectNoSecret(same.stdout, 'the plan');
    const other = await cli(['plan', '-c', proxy.configFile], { VIA_SECRET: 'another-via-value', ROUTE_HOST: ENV.ROUTE_HOST, ORIGIN_ADDR: ENV.ORIGIN_ADDR });
    expect(other.code).toBe(0);
    expect(other.stdout).toContain('~ via: ${VIA_SECRET} → ${VIA_SECRET} (another value)');
    expect(other.stdout).not.toContain('another-via-value');
    expectNoSecret(other.stdout, 'the plan');
  });

  test('--against, offline: the values of this environment are not printed either', async () => {
    const next = `${proxy.configFile}.next.json`;
    writeFileSync(next, JSON.stringify({ listen: [`127.0.0.1:${proxy.port}`], access_log: false, ...config, via: 'plain-via' }));
    const r = await cli(['plan', '-c', next, '--against', proxy.configFile], { VIA_SECRET: ENV.VIA_SECRET, ROUTE_HOST: ENV.ROUTE_HOST, ORIGIN_ADDR: ENV.ORIGIN_ADDR });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('~ via: ${VIA_SECRET} → plain-via');
    expectNoSecret(r.stdout, 'the offline plan');
  });
});
