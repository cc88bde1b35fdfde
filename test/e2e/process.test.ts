// The process model: workers replaced after a crash while the others serve, graceful
// shutdown with requests in flight, quick mode, and `portcullis check`.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { MAIN, startProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';

let origin: Origin;
let slow: Origin;

beforeAll(async () => {
  origin = await startOrigin((_req, res) => { res.writeHead(200); res.end('ok'); });
  slow = await startOrigin((_req, res) => { setTimeout(() => { res.writeHead(200); res.end('slow-ok'); }, 800); });
});

afterAll(async () => {
  await origin?.close();
  await slow?.close();
});

describe('workers', () => {
  test('a worker killed under load is replaced while the other keeps answering', async () => {
    const proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } } }, { workers: 2, env: { PORTCULLIS_TEST_HOOKS: '1' } });
    try {
      let ok = 0;
      let failed = 0;
      let running = true;
      const load = (async () => {
        while (running) {
          // New connection each time so the kernel spreads them over both workers.
          try {
            const r = await request(proxy.port, { path: '/load', timeoutMs: 2000 });
            if (r.status === 200) ok++; else failed++;
          } catch { failed++; }
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      const okBeforeCrash = ok;
      proxy.child.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 1500));
      running = false;
      await load;
      expect(proxy.output()).toMatch(/worker 0 exited with code 1; restarting/);
      expect(proxy.output()).toMatch(/worker 0 restarted/);
      expect(proxy.child.exitCode).toBeNull();
      expect(ok - okBeforeCrash).toBeGreaterThan(20);
      // Only connections caught on the dying worker may fail, never the service.
      expect(failed).toBeLessThan(ok / 10 + 5);
      const after = await request(proxy.port, { path: '/after' });
      expect(after.status).toBe(200);
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });

  test('SIGTERM lets in-flight requests finish, then exits 0', async () => {
    const proxy = await startProxy({ upstreams: { app: { targets: [slow.url] } } }, { workers: 2 });
    const inflight = Array.from({ length: 4 }, () => request(proxy.port, { path: '/slow' }));
    await new Promise((r) => setTimeout(r, 200));
    const code = proxy.stop('SIGTERM');
    const replies = await Promise.all(inflight);
    expect(replies.map((r) => r.text)).toEqual(['slow-ok', 'slow-ok', 'slow-ok', 'slow-ok']);
    expect(await code).toBe(0);
    // After shutdown nothing listens.
    await expect(request(proxy.port, { path: '/' })).rejects.toThrow();
  });
});

describe('start-up failures', () => {
  test('a port already taken by another program: exit 1 with the address named', async () => {
    const net = await import('node:net');
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as import('node:net').AddressInfo).port;
    try {
      const r = await runCli(['proxy', '--from', `127.0.0.1:${port}`, '--to', origin.url]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`127.0.0.1:${port}`);
    } finally {
      blocker.close();
    }
  });
});

describe('a second proxy on the same port', () => {
  test('refuses to start instead of silently sharing the port (SO_REUSEPORT)', async () => {
    const first = await startProxy({ upstreams: { app: { targets: [origin.url] } } });
    try {
      const r = await runCli(['proxy', '--from', `127.0.0.1:${first.port}`, '--to', origin.url]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('address already in use');
      expect((await request(first.port, { path: '/still-first' })).status).toBe(200);
    } finally {
      await first.stop();
    }
  });
});

describe('quick mode', () => {
  test('portcullis proxy --from --to serves without a config file', async () => {
    const proxy = await startProxy(null, { args: (port) => ['proxy', '--from', `127.0.0.1:${port}`, '--to', origin.url] });
    try {
      const r = await request(proxy.port, { path: '/quick' });
      expect(r.status).toBe(200);
      expect(r.text).toBe('ok');
      expect(origin.seen.at(-1)!.url).toBe('/quick');
    } finally {
      await proxy.stop();
    }
  });
});

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr });
    });
  });
}

describe('portcullis check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a valid file prints the effective config and exits 0', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'upstreams:\n  app:\n    targets: ["http://127.0.0.1:3000"]\n');
    const r = await runCli(['check', '-c', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('max_body_bytes');
  });

  test('errors name file, line and field, and exit 1', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, [
      'listen: [":8080"]',
      'upstreams:',
      '  app:',
      '    targets: ["http://127.0.0.1:3000"]',
      'routes:',
      '  - path: /',
      '    upstream: nope',
      'timeouts:',
      '  conect: 3s',
    ].join('\n'));
    const r = await runCli(['check', '-c', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:7:`);
    expect(r.stderr).toContain('routes[0].upstream');
    expect(r.stderr).toContain(`${file}:9:`);
    expect(r.stderr).toMatch(/connect/);
  });

  test('the proxy refuses to start on an invalid config', async () => {
    const file = join(dir, 'bad2.yaml');
    writeFileSync(file, 'listen: [":99999"]\n');
    const r = await runCli(['run', '-c', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:1:`);
  });
});

