// The proxy under a low open-file limit (RLIMIT_NOFILE, set with prlimit): it warns at start,
// the primary's watch warns and raises portcullis_file_descriptors_near_limit when clients hold
// most descriptors, says when it is over, and after a client took every descriptor (accept()
// fails with EMFILE, and uWS says nothing) it answers again once they are released.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';
import { admin } from '../helpers/admin.js';

const LIMIT = 200;
let origin: Origin;
let proxy: RunningProxy;
let adminPort: number;

beforeAll(async () => {
  origin = await startOrigin((_req, res) => { res.writeHead(200); res.end('ok'); });
  adminPort = await freePort();
  // Connections that never send a head stay for the whole test (the default header timeout is 10 s).
  proxy = await startProxy({ timeouts: { header: '120s' }, admin: { listen: `127.0.0.1:${adminPort}` }, upstreams: { app: { targets: [origin.url] } } },
    { workers: 1, nofile: LIMIT, env: { PORTCULLIS_TEST_HOOKS: '1' } });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

const openFds = (): number => readdirSync(`/proc/${proxy.child.pid}/fd`).length;

/** Resolves when `pattern` has appeared in the proxy's output `times` times (event-driven). */
function printed(pattern: RegExp, times = 1, ms = 30_000): Promise<void> {
  const count = (): number => proxy.output().split('\n').filter((l) => pattern.test(l)).length;
  return new Promise((resolve, reject) => {
    const done = (): void => { clearTimeout(timer); proxy.child.stderr!.off('data', check); proxy.child.stdout!.off('data', check); resolve(); };
    const check = (): void => { if (count() >= times) done(); };
    const timer = setTimeout(() => { proxy.child.stderr!.off('data', check); proxy.child.stdout!.off('data', check); reject(new Error(`not printed ${times}x: ${pattern}\n${proxy.output()}`)); }, ms);
    proxy.child.stderr!.on('data', check);
    proxy.child.stdout!.on('data', check);
    check();
  });
}

/**
 * Opens client connections to the proxy until it holds `target` descriptors (each accepted one is
 * one more), in batches: the proxy accepts on its own thread, so its table is polled until it
 * shows them.
 */
async function holdUntil(target: number, sockets: net.Socket[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (openFds() < target) {
    if (Date.now() > deadline) throw new Error(`the proxy holds ${openFds()} descriptors, not ${target}`);
    const batch = target - openFds();
    const opened = Array.from({ length: batch }, () => {
      const s = net.connect(proxy.port, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
      return new Promise<void>((resolve) => s.once('connect', () => resolve()));
    });
    await Promise.all(opened);
    for (let i = 0; i < 100 && openFds() < target; i++) await new Promise((r) => setTimeout(r, 20));
  }
}

async function nearGauge(): Promise<string> {
  const r = await admin(adminPort, 'GET', '/metrics');
  return /^portcullis_file_descriptors_near_limit (\S+)$/m.exec(r.text)?.[1] ?? 'missing';
}

async function release(sockets: net.Socket[]): Promise<void> {
  await Promise.all(sockets.splice(0).map((s) => new Promise<void>((resolve) => { s.once('close', () => resolve()); s.destroy(); })));
}

describe('a low open-file limit', () => {
  test('is said at start with what to set', async () => {
    await printed(/warn: open-file limit is 200 \(the hard limit is 200 too\): about 68 proxied connections .*LimitNOFILE=65536/);
  });

  test('clients holding 90% of the descriptors: a warning and the gauge; below 80% again: said, gauge 0', async () => {
    expect(await nearGauge()).toBe('0');
    const sockets: net.Socket[] = [];
    try {
      await holdUntil(Math.ceil(LIMIT * 0.92), sockets);
      await printed(/warn: open file descriptors: \d+ of 200 \(9\d%\): at the limit, new connections are not accepted/);
      expect(await nearGauge()).toBe('1');
    } finally {
      await release(sockets);
    }
    await printed(/open file descriptors: \d+ of 200 \(\d+%\), below the limit again/);
    expect(await nearGauge()).toBe('0');
    expect((await request(proxy.port, { path: '/after' })).status).toBe(200);
  }, 120_000);

  test('a client taking every descriptor: the watch says so, and the proxy answers again once they are released', async () => {
    const before = proxy.output().split('\n').filter((l) => /below the limit again/.test(l)).length;
    const sockets: net.Socket[] = [];
    try {
      // More than the limit: the last ones wait in the listen backlog, never accepted.
      for (let i = 0; i < LIMIT + 20; i++) {
        const s = net.connect(proxy.port, '127.0.0.1');
        s.on('error', () => {});
        sockets.push(s);
      }
      await printed(/warn: open file descriptors: all 200 \(the primary cannot open \/proc\/self\/fd: EMFILE\)/);
    } finally {
      await release(sockets);
    }
    await printed(/below the limit again/, before + 1);
    const r = await request(proxy.port, { path: '/recovered', timeoutMs: 10_000 });
    expect(r.status).toBe(200);
    expect(proxy.child.exitCode).toBeNull();
  }, 120_000);
});
