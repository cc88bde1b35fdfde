// Policy refusals counted by reason in the admin API's /metrics, summed over both workers.
import http from 'node:http';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { freePort } from '../helpers/ports.js';

let origin: Origin;
let proxy: RunningProxy;
let adminPort = 0;

beforeAll(async () => {
  origin = await startOrigin();
  adminPort = await freePort();
  proxy = await startProxy({
    admin: { listen: `127.0.0.1:${adminPort}` },
    upstreams: { app: { targets: [origin.url] } },
    redirects: [{ from: '/old', to: '/new', status: 301 }],
    routes: [
      { path: '/', upstream: 'app' },
      { path: '/blocked/', upstream: 'app', ip: { deny: ['127.0.0.0/8'] } },
      { path: '/limited/', upstream: 'app', rate_limit: { rate: 1, per: '1m', burst: 1 } },
    ],
  }, { workers: 2 });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

function scrape(): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: adminPort, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const m = new Map<string, number>();
        for (const line of text.split('\n')) {
          const match = /^(portcullis_[a-z_]+\{[^}]*\}|portcullis_[a-z_]+) (\S+)$/.exec(line);
          if (match) m.set(match[1]!, Number(match[2]));
        }
        resolve(m);
      });
    }).on('error', reject);
  });
}

test('every refusal counts once, by reason, whichever worker answered', async () => {
  // New connections each time (no agent): the kernel spreads them over both workers.
  for (let i = 0; i < 5; i++) expect((await request(proxy.port, { path: '/blocked/x' })).status).toBe(403);
  for (let i = 0; i < 4; i++) await request(proxy.port, { path: '/limited/x' });
  for (let i = 0; i < 3; i++) expect((await request(proxy.port, { path: '/.env' })).status).toBe(404);
  for (let i = 0; i < 2; i++) expect((await request(proxy.port, { path: '/old' })).status).toBe(301);
  await expect.poll(async () => (await scrape()).get('portcullis_policy_refusals_total{reason="PC_ERR_IP_DENIED"}'), { timeout: 5000 }).toBe(5);
  const m = await scrape();
  expect(m.get('portcullis_policy_refusals_total{reason="PC_ERR_RATE_LIMITED"}')).toBe(3);
  expect(m.get('portcullis_policy_refusals_total{reason="PC_ERR_HIDDEN_PATH"}')).toBe(3);
  expect(m.get('portcullis_policy_refusals_total{reason="redirect"}')).toBe(2);
});
