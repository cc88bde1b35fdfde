// Retries through the real proxy: a 5xx or reset retried on another target within the route's
// attempts and budget, a POST never sent twice once its body went upstream (but retried when
// nothing was sent), and every try visible in the access log.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';
import { accessLines, startBackend, until, type Backend } from '../helpers/backends.js';
import { scrapeMetrics } from '../helpers/admin.js';
import { freePort } from '../helpers/ports.js';

let bad1: Backend, bad2: Backend, good: Backend, resetter: Backend, spare: Backend, dead: Backend, k1: Backend, k2: Backend;
let proxy: RunningProxy;
let adminPort: number;

beforeAll(async () => {
  bad1 = await startBackend('bad1', { mode: { kind: 'status', status: 503 } });
  bad2 = await startBackend('bad2', { mode: { kind: 'status', status: 503 } });
  good = await startBackend('good');
  resetter = await startBackend('resetter', { mode: { kind: 'reset' } });
  spare = await startBackend('spare');
  k1 = await startBackend('k1');
  k2 = await startBackend('k2');
  dead = await startBackend('dead');
  await dead.close(); // refuses connections
  adminPort = await freePort();
  proxy = await startProxy({
    admin: { listen: `127.0.0.1:${adminPort}` },
    access_log: true,
    upstreams: {
      failing: { targets: [bad1.url, bad2.url], passive: false },
      mixed: { targets: [bad1.url, good.url], balance: 'first', passive: false },
      resets: { targets: [resetter.url, spare.url], balance: 'first', passive: false },
      refused: { targets: [dead.url, spare.url], balance: 'first', passive: false },
      // One request at a time per target, nobody waits: a leaked in-flight count would make k1 look full for good.
      acct: { targets: [{ url: k1.url, max_connections: 1 }, { url: k2.url, max_connections: 1 }], balance: 'first', passive: false, pool: { queue: 0 } },
    },
    routes: [
      { path: '/budget/', upstream: 'failing', retries: { attempts: 1, budget: '20%', on: [503] } },
      { path: '/status/', upstream: 'mixed', retries: { attempts: 2, on: ['connect', 'reset', 502, 503] } },
      { path: '/resets/', upstream: 'resets', retries: { attempts: 2, on: ['connect', 'reset', 502, 503] } },
      { path: '/refused/', upstream: 'refused' },
      { path: '/none/', upstream: 'mixed', retries: { attempts: 0 } },
      { path: '/acct/', upstream: 'acct', timeouts: { response_header: '300ms' }, retries: { attempts: 1, on: ['connect', 'reset', 'timeout', 503] } },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([bad1, bad2, good, resetter, spare, k1, k2].map((x) => x?.close()));
});

/** The access-log lines for a path prefix, once `n` of them are written (lines are batched per second). */
async function logged(prefix: string, n: number): Promise<Record<string, unknown>[]> {
  const lines = () => accessLines(proxy.output()).filter((l) => String(l['path']).startsWith(prefix));
  await until(() => lines().length >= n, 5000, `${n} log lines for ${prefix}`);
  return lines();
}

describe('status retries', () => {
  test('a 503 from the first target is retried on the next; the log shows both tries', async () => {
    const r = await request(proxy.port, { path: '/status/a' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('good');
    const [line] = await logged('/status/a', 1);
    expect(line).toMatchObject({ status: 200, attempts: 2, upstream: good.url, error: null });
    expect(line!['tries']).toEqual([{ upstream: bad1.url, status: 503, error: null, ms: expect.any(Number) }]);
  });

  test('without retries the 503 goes to the client as it is, and the log has no tries', async () => {
    const r = await request(proxy.port, { path: '/none/a' });
    expect(r.status).toBe(503);
    expect(r.text).toBe('bad1 503');
    const [line] = await logged('/none/a', 1);
    expect(line).toMatchObject({ status: 503, attempts: 1, tries: null });
  });

  test('the budget: past max(3, 20% of the last 10 s of requests), failures are answered, not retried', async () => {
    const before = bad1.seen.length + bad2.seen.length;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await request(proxy.port, { path: `/budget/${i}` })).status);
    expect(statuses).toEqual(Array(20).fill(503));
    // Requests 1–3 ride the floor of 3; request 16 is the first for which 20% of 16 > 3.
    const lines = await logged('/budget/', 20);
    const retried = lines.filter((l) => l['attempts'] === 2).map((l) => Number(String(l['path']).slice('/budget/'.length)));
    expect(retried).toEqual([0, 1, 2, 15]);
    expect(bad1.seen.length + bad2.seen.length - before).toBe(24);
    const m = await scrapeMetrics(adminPort);
    expect(m.get('portcullis_upstream_retry_budget_exhausted_total{route="/budget/"}')).toBe(16);
    expect(m.get('portcullis_upstream_retries_total{upstream="failing",reason="status"}')).toBe(4);
  });
});

describe('a request whose body went upstream', () => {
  test('a POST reset after its body was sent is never retried: 502, and the spare never sees it', async () => {
    const spareSeen = spare.seen.length;
    const r = await request(proxy.port, { path: '/resets/post', method: 'POST', body: 'x'.repeat(1000), headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(502);
    expect(r.headers['x-portcullis-error']).toBe('PC_ERR_UPSTREAM_RESET');
    expect(resetter.seen.filter((s) => s.url === '/resets/post').map((s) => s.bodyBytes)).toEqual([1000]);
    expect(spare.seen.length).toBe(spareSeen);
  });

  test('a PUT (idempotent) whose body was sent is not retried either: the body is gone', async () => {
    const r = await request(proxy.port, { path: '/resets/put', method: 'PUT', body: 'y'.repeat(500) });
    expect(r.status).toBe(502);
    expect(spare.seen.some((s) => s.url === '/resets/put')).toBe(false);
  });

  test('a chunked POST body is not retried after its first bytes went up', async () => {
    const res = await rawRequest(proxy.port, 'POST /resets/chunked HTTP/1.1\r\nhost: t\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 3000);
    expect(res.status).toBe(502);
    expect(spare.seen.some((s) => s.url === '/resets/chunked')).toBe(false);
  });

  test('a GET reset before its answer is retried on the next target', async () => {
    const r = await request(proxy.port, { path: '/resets/get' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('spare');
    const [line] = await logged('/resets/get', 1);
    expect(line!['tries']).toEqual([{ upstream: resetter.url, status: 0, error: 'PC_ERR_UPSTREAM_RESET', ms: expect.any(Number) }]);
  });

  test('retries of tries that never connected cost no budget: ten in a row all reach the next target', async () => {
    const replies = [];
    for (let i = 0; i < 10; i++) replies.push(await request(proxy.port, { path: `/refused/n${i}` }));
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
  });

  test('a POST that never connected (nothing was sent) goes to the next target', async () => {
    const r = await request(proxy.port, { path: '/refused/post', method: 'POST', body: 'z'.repeat(2000) });
    expect(r.status).toBe(200);
    expect(spare.seen.filter((s) => s.url === '/refused/post').map((s) => s.bodyBytes)).toEqual([2000]);
    const [line] = await logged('/refused/post', 1);
    expect(line).toMatchObject({ attempts: 2, tries: [{ upstream: dead.url, status: 0, error: 'PC_ERR_UPSTREAM_CONNECT' }] });
  });
});

describe('in-flight accounting', () => {
  test('every way a try can end gives its slot back: after retries, timeouts, resets and a client that left, the first target serves again', async () => {
    const ask = (path: string, opts: Parameters<typeof request>[1] = {}) => request(proxy.port, { path, ...opts });
    for (const [mode, why] of [[{ kind: 'status', status: 503 }, '503'], [{ kind: 'reset' }, 'reset'], [{ kind: 'hang' }, 'timeout']] as const) {
      k1.mode = mode;
      const r = await ask(`/acct/${why}`);
      expect([r.status, r.text], why).toEqual([200, 'k2']);
    }
    k1.mode = { kind: 'reset' };
    expect((await ask('/acct/post', { method: 'POST', body: 'x' })).status).toBe(502);
    k1.mode = { kind: 'delay', ms: 1000 };
    await expect(ask('/acct/gone', { timeoutMs: 100 })).rejects.toThrow();
    await until(() => k1.seen.some((s) => s.url === '/acct/gone'), 10_000, 'the abandoned request at k1');
    k1.mode = { kind: 'ok' };
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 5; i++) expect((await ask(`/acct/after${i}`)).text).toBe('k1');
  });
});
