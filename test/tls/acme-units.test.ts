// The pure parts of ACME: when to renew, how long to back off, which names, who may get a
// certificate on demand, HTTP-01 answers, and the state directory's names.
import http from 'node:http';
import type net from 'node:net';
import { describe, expect, test } from 'vitest';
import { acmeNames, renewalTime, retryDelay } from '../../src/tls/acme.js';
import { directoryKey } from '../../src/tls/acme-store.js';
import { ChallengeStore } from '../../src/tls/challenges.js';
import { ON_DEMAND_PER_MINUTE, OnDemandPolicy, OnDemandRequests } from '../../src/tls/on-demand.js';
import { parseConfigText } from '../../src/config/load.js';

describe('timing', () => {
  test('renewal two thirds into the lifetime: day 60 of a 90-day certificate', () => {
    const day = 86_400_000;
    expect(renewalTime({ notBefore: 0, notAfter: 90 * day })).toBe(60 * day);
  });

  test('retries back off: 1, 2, 4 … minutes, at most 6 hours', () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n) / 60_000)).toEqual([1, 2, 4, 8]);
    expect(retryDelay(20)).toBe(6 * 3_600_000);
  });
});

test('names: exact route hosts and acme.names; no wildcards, no IPs, no duplicates', () => {
  const config = parseConfigText(`listen: [":80", { address: ":443", tls: { acme: true } }]
acme: { names: [www.example.com, Example.COM] }
upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }
routes: [{ host: example.com, upstream: app }, { host: "*.example.com", upstream: app }, { host: 10.0.0.1, upstream: app }, { path: /x, upstream: app }]
`, 'cfg.yaml', {});
  expect(acmeNames(config)).toEqual(['example.com', 'www.example.com']);
});

test('challenges: only pending tokens under the well-known path', () => {
  const store = new ChallengeStore({ tok1: 'tok1.key' });
  expect(store.answer('/.well-known/acme-challenge/tok1')).toBe('tok1.key');
  expect(store.answer('/.well-known/acme-challenge/other')).toBeNull();
  expect(store.answer('/tok1')).toBeNull();
  store.set('tok1', null);
  expect(store.answer('/.well-known/acme-challenge/tok1')).toBeNull();
});

test('directory keys are file names', () => {
  expect(directoryKey('https://acme-v02.api.letsencrypt.org/directory')).toBe('acme-v02.api.letsencrypt.org-directory');
  expect(directoryKey('https://127.0.0.1:14000/dir')).toBe('127.0.0.1-14000-dir');
});

describe('on-demand policy', () => {
  test('allow patterns: one label under a wildcard, exact names', async () => {
    const p = new OnDemandPolicy({ allow: ['*.shops.test', 'exact.test'] });
    expect(await p.check('a.shops.test')).toEqual({ allowed: true });
    expect(await p.check('exact.test')).toEqual({ allowed: true });
    expect(await p.check('a.b.shops.test')).toMatchObject({ allowed: false });
    expect(await p.check('shops.test')).toMatchObject({ allowed: false });
    expect(await p.check('127.0.0.1')).toMatchObject({ allowed: false, reason: 'not a host name' });
    expect(await p.check('bad_name.shops.test')).toMatchObject({ allowed: false, reason: 'not a host name' });
  });

  test(`at most ${ON_DEMAND_PER_MINUTE} approvals a minute, then again after it`, async () => {
    const p = new OnDemandPolicy({ allow: ['*.shops.test'] });
    const t0 = 1_000_000;
    for (let i = 0; i < ON_DEMAND_PER_MINUTE; i++) expect(await p.check(`s${i}.shops.test`, t0)).toEqual({ allowed: true });
    expect(await p.check('one-more.shops.test', t0 + 1000)).toMatchObject({ allowed: false, reason: expect.stringMatching(/in the last minute/) });
    expect(await p.check('later.shops.test', t0 + 60_001)).toEqual({ allowed: true });
  });

  test('the ask URL: 2xx approves, anything else refuses, a dead URL refuses', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      const domain = new URL(req.url!, 'http://x').searchParams.get('domain')!;
      seen.push(domain);
      res.writeHead(domain.startsWith('ok.') ? 204 : 404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const p = new OnDemandPolicy({ allow: [], ask: `http://127.0.0.1:${port}/check?token=1` });
      expect(await p.check('ok.example.test')).toEqual({ allowed: true });
      expect(await p.check('no.example.test')).toEqual({ allowed: false, reason: 'the ask URL answered 404' });
      expect(seen).toEqual(['ok.example.test', 'no.example.test']);
    } finally {
      server.close();
    }
    const dead = new OnDemandPolicy({ allow: [], ask: `http://127.0.0.1:${port}/check` });
    expect(await dead.check('ok.example.test')).toMatchObject({ allowed: false, reason: expect.stringMatching(/^the ask URL failed/) });
  });

  test('a worker tells the primary about a name once a minute', () => {
    const sent: string[] = [];
    const r = new OnDemandRequests((n) => sent.push(n));
    r.seen('a.test', 0);
    r.seen('a.test', 30_000);
    r.seen('b.test', 30_000);
    r.seen('a.test', 60_001);
    expect(sent).toEqual(['a.test', 'b.test', 'a.test']);
  });
});
