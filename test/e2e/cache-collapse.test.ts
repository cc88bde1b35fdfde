// Request collapsing end to end (2 workers sharing one cache): concurrent misses for one key
// cost one upstream request; waiters are served from the entry it stores; when nothing is
// stored (a private answer, an upstream failure) they go upstream at once; after
// cache.collapse_timeout each goes upstream itself; a waiter that leaves costs nothing.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startCacheOrigin, gate, type CacheOrigin } from '../helpers/cache-origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request, type Reply } from '../helpers/client.js';

let origin: CacheOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startCacheOrigin();
  // A long collapse timeout: a test that finishes proves the waiters did not wait it out.
  proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, collapse_timeout: '60s' } }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

const get = (path: string, port = proxy.port): Promise<Reply> => request(port, { path });

describe('request collapsing', () => {
  test('200 concurrent clients on one new object: one upstream request, every client served', async () => {
    const held = gate();
    const seen = origin.on('/c/new', () => ({ after: held.promise, headers: { 'cache-control': 'max-age=600' }, body: 'the object' }));
    const replies = Promise.all(Array.from({ length: 200 }, () => get('/c/new')));
    await origin.waitFor('/c/new', 1);
    // Give the other 199 every chance to reach the origin if collapsing were broken: wait until
    // the proxy has seen them all (each waiter holds an open connection), then release.
    await new Promise((r) => setTimeout(r, 500));
    expect(seen()).toBe(1);
    held.open();
    const all = await replies;
    for (const r of all) {
      expect(r.status).toBe(200);
      expect(r.text).toBe('the object');
    }
    expect(seen()).toBe(1);
    const collapsed = all.filter((r) => String(r.headers['cache-status']).endsWith('; collapsed'));
    expect(collapsed.length).toBeGreaterThan(0);
    for (const r of collapsed) expect(r.headers['cache-status']).toMatch(/^portcullis; hit; ttl=\d+; collapsed$/);
  }, 30_000);

  test('an answer that is not stored (private): the waiters go upstream at once, each with its own answer', async () => {
    const held = gate();
    const seen = origin.on('/c/private', (r) => ({ after: r.n === 1 ? held.promise : undefined, headers: { 'cache-control': 'private, max-age=600' }, body: `for request ${r.n}` }));
    const replies = Promise.all(Array.from({ length: 20 }, () => get('/c/private')));
    await origin.waitFor('/c/private', 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen()).toBe(1);
    held.open();
    const all = await replies;
    expect(new Set(all.map((r) => r.text)).size).toBe(20);
    expect(seen()).toBe(20);
  }, 30_000);

  test('an answer known not to be stored at its head lets the waiters go before its body ends', async () => {
    const body = gate();
    const seen = origin.on('/c/private-slow', (r) => ({
      bodyAfter: r.n === 1 ? body.promise : undefined,
      headers: { 'cache-control': 'no-store' },
      body: `answer ${r.n}`,
    }));
    const first = get('/c/private-slow');
    await origin.waitFor('/c/private-slow', 1);
    const others = Promise.all(Array.from({ length: 9 }, () => get('/c/private-slow')));
    // The first answer's body is still held at the origin: the others reached it all the same.
    await origin.waitFor('/c/private-slow', 10);
    for (const r of await others) expect(r.status).toBe(200);
    body.open();
    expect((await first).text).toBe('answer 1');
    expect(seen()).toBe(10);
  }, 30_000);

  test('hit-for-miss: once a key\'s answer was not stored, concurrent misses for it go upstream together instead of waiting in rounds', async () => {
    // One worker: the hint is per worker (a wrong one only costs a collapse).
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, collapse_timeout: '60s' } }, { workers: 1 });
    const held = gate();
    try {
      const seen = origin.on('/c/api', (r) => ({ after: r.n === 1 ? undefined : held.promise, headers: { 'cache-control': 'no-store' }, body: `answer ${r.n}` }));
      expect((await get('/c/api', own.port)).text).toBe('answer 1');
      // Every one of these is held at the origin until all ten are there: with collapsing they
      // would wait for the first of them, which is held, and only one would arrive.
      const replies = Promise.all(Array.from({ length: 10 }, () => get('/c/api', own.port)));
      await origin.waitFor('/c/api', 11);
      held.open();
      for (const r of await replies) expect(r.status).toBe(200);
      expect(seen()).toBe(11);
    } finally {
      held.open();
      await own.stop();
    }
  }, 30_000);

  test('the first request fails upstream: the waiters go upstream themselves', async () => {
    const held = gate();
    const seen = origin.on('/c/fails', (r) => (r.n === 1 ? { after: held.promise, status: 502, body: 'origin trouble' } : { headers: { 'cache-control': 'max-age=600' }, body: 'second try' }));
    const replies = Promise.all(Array.from({ length: 10 }, () => get('/c/fails')));
    await origin.waitFor('/c/fails', 1);
    await new Promise((r) => setTimeout(r, 300));
    held.open();
    const all = await replies;
    expect(all.filter((r) => r.status === 502).length).toBe(1);
    expect(all.filter((r) => r.status === 200 && r.text === 'second try').length).toBe(9);
    // One of the waiters filled the cache again; the rest may have waited for it.
    expect(seen()).toBeGreaterThanOrEqual(2);
    expect(seen()).toBeLessThanOrEqual(10);
  }, 30_000);

  test('a waiter that leaves costs nothing: the others are served', async () => {
    const held = gate();
    const seen = origin.on('/c/leave', () => ({ after: held.promise, headers: { 'cache-control': 'max-age=600' }, body: 'stayed' }));
    const first = get('/c/leave');
    await origin.waitFor('/c/leave', 1);
    const quitters = await Promise.all(Array.from({ length: 5 }, () => new Promise<net.Socket>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: proxy.port }, () => {
        s.write(`GET /c/leave HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\n\r\n`);
        resolve(s);
      });
      s.on('error', () => {});
    })));
    const stayer = get('/c/leave');
    await new Promise((r) => setTimeout(r, 300));
    for (const s of quitters) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    held.open();
    expect((await first).text).toBe('stayed');
    expect((await stayer).text).toBe('stayed');
    expect(seen()).toBe(1);
  }, 30_000);

  test('after cache.collapse_timeout each waiter goes upstream itself', async () => {
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, collapse_timeout: '300ms' } }, { workers: 2 });
    const held = gate();
    try {
      const seen = origin.on('/c/slow', (r) => ({ after: r.n === 1 ? held.promise : undefined, headers: { 'cache-control': 'max-age=600' }, body: `answer ${r.n}` }));
      const first = get('/c/slow', own.port);
      await origin.waitFor('/c/slow', 1);
      // The first is still held at the origin: the others give up waiting and are answered.
      const others = await Promise.all(Array.from({ length: 5 }, () => get('/c/slow', own.port)));
      for (const r of others) expect(r.status).toBe(200);
      expect(seen()).toBeGreaterThanOrEqual(2);
      held.open();
      expect((await first).text).toBe('answer 1');
    } finally {
      held.open();
      await own.stop();
    }
  }, 30_000);

  test('collapse_timeout: false turns collapsing off', async () => {
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, collapse_timeout: false } }, { workers: 2 });
    const held = gate();
    try {
      const seen = origin.on('/c/off', () => ({ after: held.promise, headers: { 'cache-control': 'max-age=600' } }));
      const replies = Promise.all(Array.from({ length: 10 }, () => get('/c/off', own.port)));
      await origin.waitFor('/c/off', 10);
      held.open();
      await replies;
      expect(seen()).toBe(10);
    } finally {
      held.open();
      await own.stop();
    }
  }, 30_000);

  test('a stale entry being revalidated: concurrent requests wait for the one revalidation', async () => {
    const held = gate();
    const seen = origin.on('/c/stale', (r) => (r.n === 1
      ? { headers: { 'cache-control': 'max-age=60', age: '100', etag: '"c"' }, body: 'body' }
      : { after: held.promise, status: 304, headers: { 'cache-control': 'max-age=60', etag: '"c"' } }));
    await get('/c/stale');
    const replies = Promise.all(Array.from({ length: 20 }, () => get('/c/stale')));
    await origin.waitFor('/c/stale', 2);
    await new Promise((r) => setTimeout(r, 300));
    held.open();
    for (const r of await replies) expect(r.text).toBe('body');
    expect(seen()).toBe(2);
  }, 30_000);

  // A crashing worker closes its connections before it exits, which ends its exchanges and
  // releases their markers; a worker that dies without that is covered by releaseLockOf
  // (test/cache/collapse.test.ts).
  test('the worker filling the key crashes: the waiters in the other worker go upstream at once, not after the timeout', async () => {
    const own = await startProxy({ upstreams: { app: { targets: [origin.url] } }, cache: { enabled: true, collapse_timeout: '60s' } }, { workers: 2, env: { PORTCULLIS_TEST_HOOKS: '1' } });
    const holds: (() => void)[] = [];
    try {
      // The kernel spreads connections over the workers: repeat until the filling request lands in worker 0.
      for (let round = 0; round < 12; round++) {
        const path = `/c/killed-${round}`;
        const held = gate();
        holds.push(held.open);
        origin.on(path, (r) => ({ after: r.n === 1 ? held.promise : undefined, headers: { 'cache-control': 'max-age=600' }, body: `answer ${r.n}` }));
        const leader = get(path, own.port).then(() => 'answered', () => 'reset');
        await origin.waitFor(path, 1);
        const waiters = Array.from({ length: 10 }, () => get(path, own.port).then((r) => r, () => null));
        await new Promise((r) => setTimeout(r, 300));
        const restarts = (own.output().match(/restarted/g) ?? []).length;
        own.child.kill('SIGUSR2'); // worker 0 throws
        const deadline = Date.now() + 10_000;
        while ((own.output().match(/restarted/g) ?? []).length === restarts && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        if ((await Promise.race([leader, new Promise((r) => setTimeout(() => r('pending'), 500))])) !== 'reset') {
          held.open(); // the filler was in worker 1: this round proves nothing
          await Promise.all(waiters);
          continue;
        }
        // The filler died with worker 0: worker 1's waiters were woken and asked the origin themselves.
        const served = (await Promise.all(waiters)).filter((r) => r !== null);
        expect(served.length).toBeGreaterThan(0);
        for (const r of served) {
          expect(r.status).toBe(200);
          expect(r.text).not.toBe('answer 1');
        }
        return;
      }
      throw new Error('the filling request never landed in worker 0 in 12 rounds');
    } finally {
      for (const open of holds) open();
      await own.stop();
    }
  }, 60_000);
});
