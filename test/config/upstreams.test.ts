// The upstream and rollout settings of issue #12: their effective values and defaults, and
// errors that name file:line:col and field.
import { describe, expect, test } from 'vitest';
import { ConfigErrors } from '../../src/config/error.js';
import { parseConfigText } from '../../src/config/load.js';

function errorsOf(text: string): string[] {
  try {
    parseConfigText(text, 'cfg.yaml', {});
    return [];
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    return e.errors.map((err) => err.format());
  }
}

const TWO = 'upstreams:\n  app: { targets: ["http://10.0.0.1:3000"] }\n  app_v2: { targets: ["http://10.0.0.2:3000"] }\n';

describe('effective values', () => {
  test('the issue\'s example config loads as written', () => {
    const c = parseConfigText(`
upstreams:
  app:
    targets: ["http://10.0.0.1:3000", { url: "http://10.0.0.2:3000", weight: 3 }]
    balance: { hash: { key: "header:X-User" } }
    sticky: { cookie: pc_sticky, ttl: 1h }
    health: { path: /healthz, interval: 5s, timeout: 2s, unhealthy_after: 3, healthy_after: 2, expect: "200-399" }
    passive: { failures: 5, window: 10s, eject: 30s, max_ejected: 50% }
    slow_start: 30s
  app_v2: { targets: ["http://app-v2.internal:3000"] }
routes:
  - { path: /sse/, upstream: app, timeouts: { response_header: 5s, idle: 10m } }
  - { path: /api/, upstream: app, retries: { attempts: 2, budget: 20%, on: [connect, reset, 502, 503] } }
  - { path: /, split: [{ upstream: app, weight: 95 }, { upstream: app_v2, weight: 5 }],
      canary: { upstream: app_v2, rollback: { error_rate: 5%, p99: 800ms, window: 60s } } }
`, 'cfg.yaml', {});
    const app = c.upstreams['app']!;
    expect(app.targets.map((t) => [t.url, t.weight, t.max_connections])).toEqual([['http://10.0.0.1:3000', 1, 256], ['http://10.0.0.2:3000', 3, 256]]);
    expect(app.balance).toEqual({ policy: 'hash', key: { kind: 'header', name: 'x-user' } });
    expect(app.sticky).toEqual({ cookie: 'pc_sticky', ttl: 3_600_000 });
    expect(app.health).toEqual({ path: '/healthz', interval: 5000, timeout: 2000, unhealthy_after: 3, healthy_after: 2, expect: [[200, 399]] });
    expect(app.passive).toEqual({ failures: 5, window: 10_000, eject: 30_000, max_ejected: 0.5 });
    expect(app.slow_start).toBe(30_000);
    expect(c.upstreams['app_v2']!.targets[0]!.host).toBe('app-v2.internal');
    const [sse, api, root] = c.routes;
    // Only what the route sets (the runtime fills the rest from the global timeouts).
    expect(sse!.timeouts).toEqual({ response_header: 5000, idle: 600_000 });
    expect(api!.retries).toEqual({ attempts: 2, budget: 0.2, on: ['connect', 'reset', 502, 503] });
    expect(api!.timeouts).toBeUndefined();
    expect(root!.upstream).toBe('app');
    expect(root!.split).toEqual([{ upstream: 'app', weight: 95 }, { upstream: 'app_v2', weight: 5 }]);
    expect(root!.canary).toEqual({ upstream: 'app_v2', header: undefined, cookie: undefined, rollback: { error_rate: 0.05, p99: 800, window: 60_000, min_requests: 20 } });
  });

  test.each<[string, string, (c: ReturnType<typeof parseConfigText>) => unknown, unknown]>([
    ['balance: hash hashes the client IP', 'upstreams: { a: { targets: ["http://h:1"], balance: hash } }', (c) => c.upstreams['a']!.balance, { policy: 'hash', key: { kind: 'client_ip' } }],
    ['balance: { hash: {} } too', 'upstreams: { a: { targets: ["http://h:1"], balance: { hash: {} } } }', (c) => c.upstreams['a']!.balance, { policy: 'hash', key: { kind: 'client_ip' } }],
    ['a cookie key keeps its case', 'upstreams: { a: { targets: ["http://h:1"], balance: { hash: { key: "cookie:SID" } } } }', (c) => c.upstreams['a']!.balance.key, { kind: 'cookie', name: 'SID' }],
    ['passive: false', 'upstreams: { a: { targets: ["http://h:1"], passive: false } }', (c) => c.upstreams['a']!.passive, false],
    ['health defaults', 'upstreams: { a: { targets: ["http://h:1"], health: {} } }', (c) => c.upstreams['a']!.health,
      { path: '/', interval: 5000, timeout: 2000, unhealthy_after: 3, healthy_after: 2, expect: [[200, 399]] }],
    ['expect lists', 'upstreams: { a: { targets: ["http://h:1"], health: { expect: "200, 204,300-302" } } }', (c) => c.upstreams['a']!.health!.expect, [[200, 200], [204, 204], [300, 302]]],
    ['a target\'s own max_connections', 'upstreams: { a: { targets: [{ url: "http://h:1", max_connections: 4 }, "http://h:2"], pool: { max_connections: 9, queue: 0 } } }',
      (c) => [c.upstreams['a']!.targets.map((t) => t.max_connections), c.upstreams['a']!.pool.queue], [[4, 9], 0]],
    ['sticky defaults', 'upstreams: { a: { targets: ["http://h:1"], sticky: {} } }', (c) => c.upstreams['a']!.sticky, { cookie: 'pc_sticky', ttl: undefined }],
    ['dns', 'dns: { servers: ["10.0.0.53", "[::1]:5353"], min_ttl: 1s, max_ttl: 1m }\nupstreams: { a: { targets: ["http://h:1"] } }', (c) => c.dns,
      { servers: ['10.0.0.53', '[::1]:5353'], min_ttl: 1000, max_ttl: 60_000 }],
  ])('%s', (_n, text, pick, expected) => {
    expect(pick(parseConfigText(text, 'cfg.yaml', {}))).toEqual(expected);
  });

  test('a canary without a name is the split\'s smallest share; header names are lowercased', () => {
    const c = parseConfigText(`${TWO}routes:\n  - { split: [{ upstream: app_v2, weight: 5 }, { upstream: app, weight: 95 }], canary: { header: X-Canary, cookie: Canary } }\n`, 'cfg.yaml', {});
    expect(c.routes[0]!.canary).toEqual({ upstream: 'app_v2', header: 'x-canary', cookie: 'Canary', rollback: undefined });
    expect(c.routes[0]!.upstream).toBe('app_v2');
  });
});

describe('errors name file:line:col and field', () => {
  test.each([
    ['unknown policy', 'upstreams: { a: { targets: ["http://h:1"], balance: round_robbin } }\n',
      'cfg.yaml:1:53: upstreams.a.balance: expected one of: round_robin, least_requests, random, first, hash, or { hash: { key } }'],
    ['bad hash key', 'upstreams: { a: { targets: ["http://h:1"], balance: { hash: { key: ip } } } }\n',
      'cfg.yaml:1:68: upstreams.a.balance.hash.key: invalid hash key "ip" (use client_ip, header:NAME or cookie:NAME)'],
    ['weight 0', 'upstreams: { a: { targets: [{ url: "http://h:1", weight: 0 }] } }\n', 'cfg.yaml:1:58: upstreams.a.targets[0].weight: must be at least 1'],
    ['unknown key in a target', 'upstreams: { a: { targets: [{ url: "http://h:1", wieght: 2 }] } }\n',
      'cfg.yaml:1:50: upstreams.a.targets[0].wieght: unknown key "wieght" (did you mean "weight"?)'],
    ['duplicate target', 'upstreams: { a: { targets: ["http://h:1", "http://h:1/"] } }\n',
      'cfg.yaml:1:43: upstreams.a.targets[1]: duplicate target (same as targets[0]); use weight to give it more traffic'],
    ['percentage without %', 'upstreams: { a: { targets: ["http://h:1"], passive: { max_ejected: 0.5 } } }\n',
      'cfg.yaml:1:68: upstreams.a.passive.max_ejected: expected a percentage like "20%"'],
    ['percentage over 100', 'upstreams: { a: { targets: ["http://h:1"], passive: { max_ejected: 150% } } }\n',
      'cfg.yaml:1:68: upstreams.a.passive.max_ejected: "150%" is over 100%'],
    ['health timeout longer than interval', 'upstreams: { a: { targets: ["http://h:1"], health: { interval: 1s, timeout: 2s } } }\n',
      'cfg.yaml:1:77: upstreams.a.health.timeout: must be at most interval (1000 ms)'],
    ['bad expect', 'upstreams: { a: { targets: ["http://h:1"], health: { expect: "2xx" } } }\n',
      'cfg.yaml:1:62: upstreams.a.health.expect: invalid status list "2xx"'],
    ['retry on a 4xx', `${TWO}routes: [{ upstream: app, retries: { on: [connect, 404] } }]\n`,
      'cfg.yaml:4:52: routes[0].retries.on[1]: statuses 500–599'],
    ['retry on something else', `${TWO}routes: [{ upstream: app, retries: { on: [refused] } }]\n`,
      'cfg.yaml:4:43: routes[0].retries.on[0]: expected connect, reset, timeout or a status 500–599'],
    ['upstream and split', `${TWO}routes: [{ upstream: app, split: [{ upstream: app, weight: 1 }] }]\n`,
      'cfg.yaml:4:27: routes[0].split: give either upstream or split, not both'],
    ['neither upstream nor split', `${TWO}routes: [{ path: / }]\n`, 'cfg.yaml:4:10: routes[0].upstream: required'],
    ['unknown upstream in a split', `${TWO}routes: [{ split: [{ upstream: app_v3, weight: 1 }] }]\n`,
      'cfg.yaml:4:32: routes[0].split[0].upstream: no upstream named "app_v3" (did you mean "app_v2"?)'],
    ['all weights 0', `${TWO}routes: [{ split: [{ upstream: app, weight: 0 }, { upstream: app_v2, weight: 0 }] }]\n`,
      'cfg.yaml:4:19: routes[0].split: at least one weight must be above 0'],
    ['canary not in the split', `upstreams:\n  a: { targets: ["http://h:1"] }\n  b: { targets: ["http://h:2"] }\n  c: { targets: ["http://h:3"] }\nroutes: [{ split: [{ upstream: a, weight: 1 }, { upstream: b, weight: 1 }], canary: { upstream: c } }]\n`,
      'cfg.yaml:5:97: routes[0].canary.upstream: "c" is not in this route\'s split (a, b)'],
    ['canary with one upstream and no name', `${TWO}routes: [{ upstream: app, canary: { header: x-canary } }]\n`,
      'cfg.yaml:4:27: routes[0].canary: on a route with upstream, canary.upstream names the canary group'],
    ['rollback without a threshold', `${TWO}routes: [{ split: [{ upstream: app, weight: 9 }, { upstream: app_v2, weight: 1 }], canary: { rollback: { window: 1m } } }]\n`,
      'cfg.yaml:4:104: routes[0].canary.rollback: give error_rate, p99 or both'],
    ['bad name server', 'dns: { servers: ["ns1.example.com"] }\nupstreams: { a: { targets: ["http://h:1"] } }\n',
      'cfg.yaml:1:18: dns.servers[0]: "ns1.example.com" is not a name server address'],
    ['min_ttl over max_ttl', 'dns: { min_ttl: 10m }\nupstreams: { a: { targets: ["http://h:1"] } }\n',
      'cfg.yaml:1:17: dns.min_ttl: must be at most max_ttl (300000 ms)'],
  ])('%s', (_n, text, prefix) => {
    const errors = errorsOf(text);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.startsWith(prefix), `${errors[0]} should start with ${prefix}`).toBe(true);
  });
});
