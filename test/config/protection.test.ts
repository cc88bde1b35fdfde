// The protection fields of the config: what they become, and bad values refused with file,
// line and field (a plain-text password most of all).
import { describe, expect, test } from 'vitest';
import { ConfigErrors } from '../../src/config/error.js';
import { parseConfigText } from '../../src/config/load.js';

const HASH = '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const UP = 'upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\n';

function load(text: string) {
  return parseConfigText(text, 'cfg.yaml', {});
}

function errorsOf(text: string): string[] {
  try {
    load(text);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    return e.errors.map((err) => err.format());
  }
}

describe('effective values', () => {
  test('the issue\'s example config', () => {
    const c = load(`${UP}routes:
  - path: /admin/
    upstream: app
    auth: { basic: { realm: admin, users: { alice: "${HASH}" } } }
    ip: { allow: ["10.0.0.0/8"], deny: ["10.9.0.0/16"] }
    rate_limit: { rate: 10, per: 1s, burst: 20, key: client_ip }
    methods: [GET, post]
    headers: { request: { set: {}, remove: [] }, response: { set: {}, remove: [] }, preset: strict }
redirects:
  - { from: "http://old.example.com/*", to: "https://example.com/{path}", status: 308 }
`);
    const r = c.routes[0]!;
    expect(r.auth).toEqual({ basic: { realm: 'admin', users: { alice: HASH } } });
    expect(r.ip).toEqual({ allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] });
    expect(r.rate_limit).toEqual({ rate: 10, per: 1000, burst: 20, key: 'client_ip' });
    expect(r.methods).toEqual(['GET', 'POST']);
    expect(r.headers?.preset).toBe('strict');
    expect(c.redirects).toEqual([{ from: { scheme: 'http', host: 'old.example.com', path: '/', wildcard: true }, to: 'https://example.com/{path}', status: 308 }]);
  });

  test('defaults: burst = rate rounded up, key client_ip, per 1s; redirect status 308', () => {
    const c = load(`${UP}routes: [{ upstream: app, rate_limit: { rate: 2.5 } }]\nredirects: [{ from: /a, to: /b }]\n`);
    expect(c.routes[0]!.rate_limit).toEqual({ rate: 2.5, per: 1000, burst: 3, key: 'client_ip' });
    expect(c.redirects[0]!.status).toBe(308);
    expect(c.limits.max_url_bytes).toBe(8192);
    expect(c.routes[0]!.allow_dotfiles).toBe(false);
  });

  test('forward auth and jwt defaults', () => {
    const c = load(`${UP}routes:
  - { path: /a/, upstream: app, auth: { forward: { url: "http://127.0.0.1:9/v" } } }
  - { path: /b/, upstream: app, auth: { jwt: { jwks_url: "https://id.example/jwks.json" } } }
`);
    expect(c.routes[0]!.auth!.forward).toEqual({ url: 'http://127.0.0.1:9/v', copy_headers: [], cache: false, timeout: 5000 });
    expect(c.routes[1]!.auth!.jwt).toEqual({ jwks_url: 'https://id.example/jwks.json', jwks_cache: 600_000, jwks_cooldown: 30_000, clock_skew: 30_000 });
  });
});

describe('refused, with line and field', () => {
  test.each<[string, string, string]>([
    ['a plain-text password', `routes: [{ upstream: app, auth: { basic: { users: { alice: "hunter2" } } } }]`,
      'cfg.yaml:2:60: routes[0].auth.basic.users.alice: plain-text passwords are refused: run `portcullis hash-password` and paste the hash it prints'],
    ['two auth kinds', `routes: [{ upstream: app, auth: { basic: { users: { a: "${HASH}" } }, jwt: { keys: [{ kty: RSA }] } } }]`,
      'routes[0].auth: give exactly one of basic, forward or jwt'],
    ['jwt without keys', `routes: [{ upstream: app, auth: { jwt: { issuer: x } } }]`, 'routes[0].auth.jwt: give exactly one of jwks_url or keys'],
    ['a bad CIDR', `routes: [{ upstream: app, ip: { allow: ["10.0.0.1/8"] } }]`, 'routes[0].ip.allow[0]: "10.0.0.1/8" has bits set outside the /8 mask'],
    ['a rate limit key', `routes: [{ upstream: app, rate_limit: { rate: 1, key: user } }]`, 'routes[0].rate_limit.key: expected client_ip, route, header:NAME or client_ip+header:NAME'],
    ['a rate without unit in per', `routes: [{ upstream: app, rate_limit: { rate: 1, per: 1 } }]`, 'routes[0].rate_limit.per: durations need a unit'],
    ['too fast a rate', `routes: [{ upstream: app, rate_limit: { rate: 2000000 } }]`, 'routes[0].rate_limit.rate: at most 1,000,000 requests per second'],
    ['a method', `routes: [{ upstream: app, methods: ["GE T"] }]`, 'routes[0].methods[0]: expected a method name like GET'],
    ['a proxy-owned request header', `routes: [{ upstream: app, headers: { request: { set: { Host: x } } } }]`, 'routes[0].headers.request.set.Host: invalid name "Host": host is written by the proxy itself (use host_header for Host)'],
    ['CR/LF in a header value', `routes: [{ upstream: app, headers: { response: { set: { x-a: "a\\r\\nb: c" } } } }]`, 'must not contain control characters'],
    ['an unknown preset', `routes: [{ upstream: app, headers: { preset: paranoid } }]`, 'routes[0].headers.preset: expected strict or none'],
    ['a bad deny regex', `routes: [{ upstream: app, deny: [{ path: "([" }] }]`, 'routes[0].deny[0].path: invalid regular expression'],
    ['an empty deny rule', `routes: [{ upstream: app, deny: [{ status: 404 }] }]`, 'routes[0].deny[0]: give at least one of path, query or header'],
    ['a rewrite placeholder the route lacks', `routes: [{ path: "/u/:id/", upstream: app, rewrite: "/users/{name}/{path}" }]`, 'routes[0].rewrite: unknown placeholder {name} (this route has {path}, {id})'],
    ['a redirect placeholder', `redirects: [{ from: /a/*, to: "/b/{rest}" }]`, 'redirects[0].to: unknown placeholder {rest}'],
    ['a redirect status', `redirects: [{ from: /a, to: /b, status: 303 }]`, 'redirects[0].status: expected 301, 302, 307 or 308'],
    ['a forward auth URL', `routes: [{ upstream: app, auth: { forward: { url: "ftp://x" } } }]`, 'routes[0].auth.forward.url: expected an http:// or https:// URL'],
  ])('%s', (_name, yaml, message) => {
    const errors = errorsOf(`${UP}${yaml}\n`);
    expect(errors.join('\n')).toContain(message);
  });
});
