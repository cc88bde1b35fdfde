// What the repository ships for running Portcullis for real (issue 14): the systemd unit, the
// logrotate snippet and the Docker HEALTHCHECK, each checked by running what it runs.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { MAIN, startProxy } from './helpers/proxy.js';
import { startOrigin } from './helpers/origin.js';
import { freePort } from './helpers/ports.js';
import { request } from './helpers/client.js';

const root = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));
const unit = readFileSync(root('deploy/portcullis.service'), 'utf8');

/** `Key=value` lines of the unit (repeated keys kept in order). */
const values = (key: string): string[] => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 20_000 }, (err) => resolve(err === null ? 0 : (err as { code?: number }).code ?? 1));
  });
}

describe('systemd unit', () => {
  test('restarts on failure, raises the descriptor limit, reloads with SIGHUP, drains on SIGTERM', () => {
    expect(values('Restart')).toEqual(['on-failure']);
    expect(Number(values('LimitNOFILE')[0])).toBeGreaterThanOrEqual(65536);
    expect(values('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(values('KillSignal')).toEqual(['SIGTERM']);
    // Longer than the default drain (30 s), so systemd does not SIGKILL a draining proxy.
    expect(values('TimeoutStopSec')).toEqual(['45s']);
  });

  test('is hardened: systemd rates its exposure "OK" (below 2)', () => {
    for (const key of ['NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'RestrictAddressFamilies', 'SystemCallFilter', 'CapabilityBoundingSet']) {
      expect(values(key).length, key).toBeGreaterThan(0);
    }
    // V8's JIT writes executable memory: this option would kill the proxy at start.
    expect(values('MemoryDenyWriteExecute')).toEqual([]);
    const out = execFileSync('systemd-analyze', ['security', '--offline=yes', root('deploy/portcullis.service')], { encoding: 'utf8' });
    const level = Number(/Overall exposure level for portcullis\.service: ([\d.]+)/.exec(out)![1]);
    expect(level).toBeLessThan(2);
  });

  test('systemd-analyze verify finds nothing wrong', () => {
    expect(existsSync('/usr/bin/systemd-analyze')).toBe(true);
    const out = execFileSync('systemd-analyze', ['verify', root('deploy/portcullis.service')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
  });

  test('its commands are ones the CLI takes: the pre-start check passes on the shipped config', async () => {
    const pre = values('ExecStartPre')[0]!.split(' ');
    const start = values('ExecStart')[0]!.split(' ');
    expect(pre.slice(0, 3)).toEqual(['/usr/bin/env', 'portcullis', 'check']);
    expect(start.slice(0, 3)).toEqual(['/usr/bin/env', 'portcullis', 'run']);
    const config = root('docker/portcullis.yaml');
    const args = (cmd: string[]): string[] => cmd.slice(2).map((a) => (a === '/etc/portcullis/portcullis.yaml' ? config : a));
    expect(await run(process.execPath, [MAIN, ...args(pre)])).toBe(0);
  });
});

describe('logrotate', () => {
  test('signals SIGUSR1 after rotating (the proxy reopens its log files on it)', () => {
    const text = readFileSync(root('deploy/logrotate/portcullis'), 'utf8');
    expect(text).toMatch(/postrotate\n\s+systemctl kill --signal=SIGUSR1 --kill-who=main portcullis\.service/);
    expect(text).toContain('sharedscripts');
  });
});

describe('Docker HEALTHCHECK', () => {
  const dockerfile = readFileSync(root('Dockerfile'), 'utf8');
  const m = /HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])/.exec(dockerfile);
  const cmd = JSON.parse(m![1]!) as string[];

  test('asks the admin status: healthy while serving, unhealthy without the token or while draining', async () => {
    expect(cmd[0]).toBe('node');
    const token = 'health-check-token-0123456789';
    const adminPort = await freePort();
    const slow = await startOrigin((_req, res) => { setTimeout(() => res.end('late'), 2000); });
    const proxy = await startProxy({ admin: { listen: `127.0.0.1:${adminPort}`, token }, upstreams: { app: { targets: [slow.url] } } });
    const check = (env: Record<string, string>): Promise<number> => run(process.execPath, cmd.slice(1), { PORTCULLIS_ADMIN_URL: `http://127.0.0.1:${adminPort}/status`, ...env });
    try {
      expect(await check({ PORTCULLIS_ADMIN_TOKEN: token })).toBe(0);
      expect(await check({ PORTCULLIS_ADMIN_TOKEN: '' })).toBe(1);
      const inflight = request(proxy.port, { path: '/' });
      await new Promise((r) => setTimeout(r, 200));
      proxy.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      expect(await check({ PORTCULLIS_ADMIN_TOKEN: token })).toBe(1);
      expect((await inflight).text).toBe('late');
    } finally {
      await proxy.stop();
      await slow.close();
    }
    // Nothing listening: unhealthy.
    expect(await check({})).toBe(1);
  });

  test('the image\'s config has the admin API where the check looks (127.0.0.1:9901)', async () => {
    const out = execFileSync(process.execPath, [MAIN, 'check', '-c', root('docker/portcullis.yaml')], { encoding: 'utf8' });
    expect(out).toMatch(/admin:\n\s+listen:\n\s+host: 127\.0\.0\.1\n\s+port: 9901/);
  });
});
