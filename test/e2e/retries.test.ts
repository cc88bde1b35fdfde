// Retries through the real proxy: a 5xx or reset retried on another target within the route's
// attempts and budget, a POST never sent twice once its body went upstream (but retried when
// nothing was sent), and every try visible in the access log.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { rawRequest } from '../helpers/raw.js';
import { accessLines, startBackend, until, type Backend } from '../helpers/backends.js';

let bad1: Backend, bad2: Backend, good: Backend, resetter: Backend, spare: Backend, dead: Backend;
let proxy: RunningProxy;

beforeAll(async () => {
  bad1 = await startBackend('bad1', { mode: { kind: 'status', status: 503 } });
  bad2 = await startBackend('bad2', { mode: { kind: 'status', status: 503 } });
  good = await startBackend('good');
  resetter = await startBackend('resetter', { mode: { kind: 'reset' } });
  spare = await startBackend('spare');
  dead = await startBackend('dead');
  await dead.close(); // refuses connections
  proxy = await startProxy({
    access_log: true,
    upstreams: {
      failing: { targets: [bad1.url, bad2.url], passive: false },
      mixed: { targets: [bad1.url, good.url], balance: 'first', passive: false },
      resets: { targets: [resetter.url, spare.url], balance: 'first', passive: false },
      refused: { targets: [dead.url, spare.url], balance: 'first', passive: false },
    },
    routes: [
      { path: '/budget/', upstream: 'failing', retries: { attempts: 1, budget: '20%', on: [503] } },
      { path: '/status/', upstream: 'mixed', retries: { attempts: 2, on: ['connect', 'reset', 502, 503] } },
      { path: '/resets/', upstream: 'resets', retries: { attempts: 2, on: ['connect', 'reset', 502, 503] } },
      { path: '/refused/', upstream: 'refused' },
      { path: '/none/', upstream: 'mixed', retries: { attempts: 0 } },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([bad1, bad2, good, resetter, spare].map((x) => x?.close()));
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
