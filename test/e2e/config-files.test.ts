// What a config path may be, end to end: `check` and a reload refuse a device, a FIFO and a file
// over 16 MiB with an error naming the file, at once, and the proxy keeps serving (a reload that
// read /dev/zero or waited on a FIFO would never answer, and would hold every later reload).
import { execFile, execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { MAIN, startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';
import { admin } from '../helpers/admin.js';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr });
    });
  });
}

let origin: Origin;
beforeAll(async () => { origin = await startOrigin((_req, res) => res.end('ok')); });
afterAll(async () => { await origin?.close(); });

describe('portcullis check', () => {
  test('-c /dev/zero: refused at once, exit 1, naming the file', async () => {
    const r = await cli(['check', '-c', '/dev/zero']);
    expect([r.code, r.stderr]).toEqual([1, '/dev/zero: (file): cannot read config: a character device, not a regular file\nconfig check failed: 1 error in /dev/zero\n']);
  });
});

describe('reload', () => {
  let proxy: RunningProxy;
  let adminPort: number;
  let config: Record<string, unknown>;

  beforeAll(async () => {
    adminPort = await freePort();
    config = { admin: { listen: `127.0.0.1:${adminPort}` }, upstreams: { app: { targets: [origin.url] } } };
    proxy = await startProxy(config);
  });
  afterAll(async () => { await proxy?.stop(); });

  async function refused(message: string): Promise<void> {
    const r = await admin(adminPort, 'POST', '/reload');
    expect(r.status).toBe(422);
    expect(r.json.error.code).toBe('PC_ERR_RELOAD_INVALID');
    expect(r.json.error.errors).toEqual([{ file: proxy.configFile, line: 0, column: 0, field: '(file)', message }]);
    expect((await request(proxy.port)).status).toBe(200);
  }

  test('the config path turned into a FIFO: refused, and the next reload is not held up', async () => {
    rmSync(proxy.configFile);
    execFileSync('mkfifo', [proxy.configFile]);
    await refused('cannot read config: a FIFO, not a regular file');
    rmSync(proxy.configFile);
    proxy.rewrite(config);
    const ok = await admin(adminPort, 'POST', '/reload');
    expect([ok.status, ok.json.generation]).toEqual([200, 2]);
  });

  test('POST /plan: text over 16 MiB is refused naming it; a body over 33 MiB gets 413', async () => {
    const text = `upstreams: { app: { targets: ["${origin.url}"] } }\n#${'x'.repeat(17 * 1024 * 1024)}\n`;
    const r = await admin(adminPort, 'POST', '/plan', { body: { file: 'big.yaml', text } });
    expect([r.status, r.json.error.errors]).toEqual([422, [{ file: 'big.yaml', line: 0, column: 0, field: '(file)', message: 'cannot read config: it is 17.0 MiB; a config file may be at most 16 MiB' }]]);
    const huge = await admin(adminPort, 'POST', '/plan', { body: { file: 'huge.yaml', text: 'x'.repeat(34 * 1024 * 1024) } });
    expect([huge.status, huge.json.error.code]).toEqual([413, 'PC_ERR_ADMIN_BODY_TOO_LARGE']);
    expect((await request(proxy.port)).status).toBe(200);
  });

  test('a 20 MiB config: refused with its size', async () => {
    writeFileSync(proxy.configFile, `${JSON.stringify({ listen: [`127.0.0.1:${proxy.port}`], access_log: false, ...config })}${' '.repeat(20 * 1024 * 1024)}`);
    await refused('cannot read config: it is 20.0 MiB; a config file may be at most 16 MiB');
    expect(proxy.output()).toContain(`${proxy.configFile}: (file): cannot read config: it is 20.0 MiB; a config file may be at most 16 MiB`);
  });
});
