import { describe, expect, test } from 'vitest';
import { ConfigError, ConfigErrors } from '../../src/config/error.js';
import { parseConfigText } from '../../src/config/load.js';

const UPSTREAM = 'upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\n';

/** The formatted errors a config text produces (empty when it is valid). */
function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(text, 'cfg.yaml', env);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    return e.errors.map((err) => err.format());
  }
}

describe('defaults', () => {
  test('a config with one upstream gets every default and a "/" route', () => {
    const config = parseConfigText(UPSTREAM, 'cfg.yaml', {});
    expect(config).toEqual({
      source: 'cfg.yaml',
      listen: [{ host: '127.0.0.1', port: 8080 }],
      workers: 0,
      trusted_proxies: [],
      limits: { max_header_bytes: 32768, max_header_count: 98, max_body_bytes: 64 * 1024 * 1024, upload_buffer: 64 * 1024 * 1024, max_response_header_bytes: 65536, max_url_bytes: 8192, rate_limit_keys: 65536 },
      timeouts: { header: 10_000, connect: 3000, response_header: 60_000, idle: 60_000, drain: 30_000 },
      upstreams: {
        app: { name: 'app', targets: [{ url: 'http://127.0.0.1:3000', host: '127.0.0.1', port: 3000 }], pool: { max_connections: 256, idle_timeout: 30_000 } },
      },
      routes: [{ host: undefined, path: '/', upstream: 'app', strip_prefix: false, host_header: undefined, index: 0, cache: false, allow_dotfiles: false, allow_method_override: false }],
      access_log: { enabled: true, format: 'json', output: 'stdout' },
      log_level: 'info',
      via: '1.1 portcullis',
      compression: expect.objectContaining({ enabled: false, encodings: ['zstd', 'br', 'gzip'], min_bytes: 1024, gzip_level: 5, brotli_quality: 4, zstd_level: 3, sync_max_bytes: 65536 }),
      cache: { enabled: false, size: 64 * 1024 * 1024, max_entry_bytes: 8 * 1024 * 1024 },
      admin: { listen: { host: '127.0.0.1', port: 9901 }, token: undefined },
      redirects: [],
    });
  });

  test('the loaded config is frozen all the way down', () => {
    const config = parseConfigText(UPSTREAM, 'cfg.yaml', {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(Object.isFrozen(config.upstreams['app']!.targets[0])).toBe(true);
  });
});

describe('effective values', () => {
  test.each<[string, string, (c: ReturnType<typeof parseConfigText>) => unknown, unknown]>([
    ['listen ":8080"', 'listen: [":8080"]', (c) => c.listen, [{ host: '0.0.0.0', port: 8080 }]],
    ['listen as a single string', 'listen: "[::1]:9000"', (c) => c.listen, [{ host: '::1', port: 9000 }]],
    ['listen as numbers', 'listen: [8080, "localhost:8081"]', (c) => c.listen, [{ host: '0.0.0.0', port: 8080 }, { host: 'localhost', port: 8081 }]],
    ['sizes with units', 'limits: { max_header_bytes: 16KiB, max_body_bytes: 10MB, max_response_header_bytes: 4096 }', (c) => c.limits,
      { max_header_bytes: 16384, max_header_count: 98, max_body_bytes: 10_000_000, upload_buffer: 64 * 1024 * 1024, max_response_header_bytes: 4096, max_url_bytes: 8192, rate_limit_keys: 65536 }],
    ['durations with units', 'timeouts: { header: 5500ms, connect: 1m30s, idle: 1h }', (c) => c.timeouts,
      { header: 5500, connect: 90_000, response_header: 60_000, idle: 3_600_000, drain: 30_000 }],
    ['workers', 'workers: 8', (c) => c.workers, 8],
    ['trusted proxies are normalised to CIDRs', 'trusted_proxies: ["10.0.0.0/8", "192.168.0.1", "::1"]', (c) => c.trusted_proxies,
      ['10.0.0.0/8', '192.168.0.1/32', '::1/128']],
    ['access_log: false', 'access_log: false', (c) => c.access_log, { enabled: false, format: 'json', output: 'stdout' }],
    ['cache sizes', 'cache: { enabled: true, size: 256MiB, max_entry_bytes: 1MiB }', (c) => c.cache, { enabled: true, size: 256 * 1024 * 1024, max_entry_bytes: 1024 * 1024 }],
    ['a small cache gets a quarter of itself as its largest entry', 'cache: { size: 2MiB }', (c) => c.cache.max_entry_bytes, 512 * 1024],
    ['cache.enabled is every route\'s default', 'cache: { enabled: true }', (c) => c.routes.map((r) => r.cache), [true]],
    ['access_log: true', 'access_log: true', (c) => c.access_log, { enabled: true, format: 'json', output: 'stdout' }],
    ['access_log to a file', 'access_log: { output: /var/log/p.log }', (c) => c.access_log, { enabled: true, format: 'json', output: '/var/log/p.log' }],
    ['access_log in the combined format', 'access_log: { format: combined, output: stderr }', (c) => c.access_log, { enabled: true, format: 'combined', output: 'stderr' }],
    ['the admin API on by default, on loopback', '', (c) => c.admin, { listen: { host: '127.0.0.1', port: 9901 }, token: undefined }],
    ['admin: false', 'admin: false', (c) => c.admin, null],
    ['admin elsewhere with a token', 'admin: { listen: "[::1]:9000", token: "0123456789abcdef" }', (c) => c.admin, { listen: { host: '::1', port: 9000 }, token: '0123456789abcdef' }],
    ['an empty admin token is none', 'admin: { token: "" }', (c) => c.admin?.token, undefined],
    ['log_level', 'log_level: debug', (c) => c.log_level, 'debug'],
    ['via', 'via: "1.1 edge"', (c) => c.via, '1.1 edge'],
    ['pool', 'upstreams: { app: { targets: ["http://a:1"], pool: { max_connections: 8, idle_timeout: 5s } } }', (c) => c.upstreams['app']!.pool,
      { max_connections: 8, idle_timeout: 5000 }],
  ])('%s', (_name, yaml, pick, expected) => {
    const text = yaml.startsWith('upstreams:') ? yaml : `${yaml}\n${UPSTREAM}`;
    expect(pick(parseConfigText(text, 'cfg.yaml', {}))).toEqual(expected);
  });

  test('routes keep their order, lowercase hosts and carry their index', () => {
    const config = parseConfigText(
      `upstreams:
  app: { targets: ["http://127.0.0.1:3000", "http://127.0.0.1:3001"] }
  api: { targets: ["http://[::1]:4000"] }
routes:
  - { host: "API.example.com", path: "/v1/", upstream: api, strip_prefix: true }
  - { host: "*.example.com", path: "/", upstream: app, host_header: "internal.app" }
  - { upstream: app }
`,
      'cfg.yaml',
      {},
    );
    expect(config.routes).toEqual([
      { host: 'api.example.com', path: '/v1/', upstream: 'api', strip_prefix: true, host_header: undefined, index: 0, cache: false, allow_dotfiles: false, allow_method_override: false },
      { host: '*.example.com', path: '/', upstream: 'app', strip_prefix: false, host_header: 'internal.app', index: 1, cache: false, allow_dotfiles: false, allow_method_override: false },
      { host: undefined, path: '/', upstream: 'app', strip_prefix: false, host_header: undefined, index: 2, cache: false, allow_dotfiles: false, allow_method_override: false },
    ]);
    expect(config.upstreams['app']!.targets.map((t) => t.port)).toEqual([3000, 3001]);
  });

  test('JSON is accepted (JSON is YAML)', () => {
    const json = JSON.stringify({ listen: [':9090'], upstreams: { app: { targets: ['http://127.0.0.1:3000'] } } }, null, '\t');
    const config = parseConfigText(json, 'cfg.json', {});
    expect(config.listen).toEqual([{ host: '0.0.0.0', port: 9090 }]);
  });

  test('a $schema key (JSON editors) is allowed and ignored', () => {
    expect(errorsOf(`$schema: ../schema/portcullis.schema.json\n${UPSTREAM}`)).toEqual([]);
  });
});

describe('YAML anchors, merge keys and x- extension fields', () => {
  const shared = `x-pool: &pool { max_connections: 8, idle_timeout: 5s }
x-app: &app
  targets: ["http://127.0.0.1:3000"]
  pool: *pool
upstreams:
  a: *app
  b:
    <<: *app
    pool: { max_connections: 3 }
  c:
    <<: [{ targets: ["http://127.0.0.1:3001"] }, *app]
routes:
  - { path: /, upstream: a }
  - { path: /b/, upstream: b }
  - { path: /c/, upstream: c }
`;

  test('<<: merges a map (own keys win, earlier sources win) and top-level x-* keys are ignored', () => {
    const config = parseConfigText(shared, 'cfg.yaml', {});
    expect(config.upstreams['a']!.pool).toEqual({ max_connections: 8, idle_timeout: 5000 });
    expect(config.upstreams['b']!.pool).toEqual({ max_connections: 3, idle_timeout: 30_000 });
    expect(config.upstreams['b']!.targets.map((t) => t.port)).toEqual([3000]);
    expect(config.upstreams['c']!.targets.map((t) => t.port)).toEqual([3001]);
    expect(config.upstreams['c']!.pool.max_connections).toBe(8);
    expect(Object.keys(config)).not.toContain('x-pool');
  });

  test('an error in a merged or aliased value points at where it was written', () => {
    const text = `x-defaults: &d
  targets: ["http://127.0.0.1:0"]
  pool: { max_connections: 0 }
upstreams:
  a:
    <<: *d
    pool: { idle_timeout: 1s }
  b: *d
routes: [{ path: /, upstream: a }, { path: /b/, upstream: b }]
`;
    expect(errorsOf(text)).toEqual([
      'cfg.yaml:2:13: upstreams.a.targets[0]: port 0 is out of range (ports are 1–65535)',
      'cfg.yaml:2:13: upstreams.b.targets[0]: port 0 is out of range (ports are 1–65535)',
      'cfg.yaml:3:28: upstreams.b.pool.max_connections: must be at least 1',
    ]);
  });

  test('${VAR} is interpolated inside anchors and inline merge sources', () => {
    const text = `x-t: &t { targets: ["http://\${HOST:-127.0.0.1}:3000"] }
upstreams:
  a: { <<: *t }
  b: { <<: { targets: ["http://\${HOST:-127.0.0.1}:3001"] } }
routes: [{ path: /, upstream: a }, { path: /b/, upstream: b }]
`;
    const config = parseConfigText(text, 'cfg.yaml', { HOST: 'app.internal' });
    expect([config.upstreams['a']!.targets[0]!.host, config.upstreams['b']!.targets[0]!.host]).toEqual(['app.internal', 'app.internal']);
  });

  test('only top-level keys may be extensions; an anchor holder without x- is still an unknown key', () => {
    expect(errorsOf(`defaults: &d { max_connections: 8 }\n${UPSTREAM}`)).toEqual(['cfg.yaml:1:1: defaults: unknown key "defaults"']);
    expect(errorsOf(`timeouts: { x-note: hi }\n${UPSTREAM}`)).toEqual(['cfg.yaml:1:13: timeouts.x-note: unknown key "x-note"']);
  });
});

describe('errors name file:line:col and field', () => {
  test.each([
    ['wrong type', `workers: many\n${UPSTREAM}`, 'cfg.yaml:1:10: workers: expected a whole number, got "many"'],
    ['workers out of range', `workers: 300\n${UPSTREAM}`, 'cfg.yaml:1:10: workers: must be 0–256 (0 = one per CPU)'],
    ['unknown key with hint', `${UPSTREAM}log_levle: info\n`, 'cfg.yaml:2:1: log_levle: unknown key "log_levle" (did you mean "log_level"?)'],
    ['unknown nested key with hint', `timeouts:\n  conect: 3s\n${UPSTREAM}`, 'cfg.yaml:2:3: timeouts.conect: unknown key "conect" (did you mean "connect"?)'],
    ['unknown key without a close match', `${UPSTREAM}tls: {}\n`, 'cfg.yaml:2:1: tls: unknown key "tls"'],
    ['missing upstream', `${UPSTREAM}routes:\n  - { path: /, upstream: ap }\n`,
      'cfg.yaml:3:26: routes[0].upstream: no upstream named "ap" (did you mean "app"?); defined: app'],
    ['empty value points at its key', `${UPSTREAM}routes:\n  - path: /\n    upstream:\n`, 'cfg.yaml:4:5: routes[0].upstream: expected the name of an upstream, got null'],
    ['unquoted ${} in a flow collection', 'upstreams: { a: { targets: [http://${H:-a}] } }\n',
      'cfg.yaml:1:37: syntax: Missing , or : between flow sequence items (quote values that contain ${...}, e.g. "${PORT:-8080}")'],
    ['route without upstream', `${UPSTREAM}routes:\n  - { path: / }\n`, 'cfg.yaml:3:5: routes[0].upstream: required'],
    ['bad CIDR', `trusted_proxies:\n  - 10.0.0.0/8\n  - 10.0.0.0/40\n${UPSTREAM}`,
      'cfg.yaml:3:5: trusted_proxies[1]: invalid prefix length "/40" in "10.0.0.0/40" (0–32 for IPv4)'],
    ['https upstream', 'upstreams: { app: { targets: ["https://a:443"] } }\n', 'cfg.yaml:1:31: upstreams.app.targets[0]: https upstreams are not supported yet'],
    ['URL without scheme', 'upstreams:\n  app:\n    targets: [127.0.0.1:3000]\n',
      'cfg.yaml:3:15: upstreams.app.targets[0]: "127.0.0.1:3000" is not a URL; did you mean "http://127.0.0.1:3000"?'],
    ['no targets', 'upstreams: { app: { targets: [] } }\n', 'cfg.yaml:1:30: upstreams.app.targets: an upstream needs at least one target'],
    ['duplicate route', `${UPSTREAM}routes:\n  - { host: a.com, path: /x, upstream: app }\n  - { host: A.com, path: /x, upstream: app }\n`,
      'cfg.yaml:4:26: routes[1].path: duplicate route: routes[0] already has host "a.com" and path "/x"'],
    // The router decides what conflicts (validate.ts builds it), so check and run agree.
    ['routes differing only in parameter names', `${UPSTREAM}routes:\n  - { path: "/u/:id", upstream: app }\n  - { path: "/u/:name", upstream: app }\n`,
      'cfg.yaml:4:13: routes[1].path: conflicts with routes[0] (path "/u/:id"): both match the same requests, so the router cannot choose between them'],
    ['a wildcard and a prefix on one directory', `${UPSTREAM}routes:\n  - { host: a.com, path: "/f/*", upstream: app }\n  - { host: A.com, path: "/f/", upstream: app }\n`,
      'cfg.yaml:4:26: routes[1].path: conflicts with routes[0] (host "a.com", path "/f/*"): both match the same requests, so the router cannot choose between them'],
    ['a default path twice', `${UPSTREAM}routes:\n  - { upstream: app }\n  - { path: /, upstream: app }\n`,
      'cfg.yaml:4:13: routes[1].path: duplicate route: routes[0] already has host (any) and path "/"'],
    ['a path the router cannot match', `${UPSTREAM}routes: [{ path: "/a//b", upstream: app }]\n`,
      'cfg.yaml:2:18: routes[0].path: not a normalised path (write it as /a/b)'],
    ['path without slash', `${UPSTREAM}routes: [{ path: api, upstream: app }]\n`, 'cfg.yaml:2:18: routes[0].path: path must start with "/" (got "api")'],
    ['bad host pattern', `${UPSTREAM}routes: [{ host: "a.*.com", upstream: app }]\n`,
      'cfg.yaml:2:18: routes[0].host: "a.*.com": a wildcard is only allowed as the first label ("*.example.com")'],
    ['cache entry bigger than a quarter of the cache', `cache:\n  size: 4MiB\n  max_entry_bytes: 2MiB\n${UPSTREAM}`,
      'cfg.yaml:3:20: cache.max_entry_bytes: must be at most size / 4 (1048576 bytes)'],
    ['cache too small', `cache: { size: 100KiB }\n${UPSTREAM}`, 'cfg.yaml:1:16: cache.size: must be 1MiB–4GiB'],
    ['route cache not a boolean', `${UPSTREAM}routes: [{ path: /, upstream: app, cache: yes please }]\n`,
      'cfg.yaml:2:43: routes[0].cache: expected true or false, got "yes please"'],
    ['bad listen port', `listen: [":70000"]\n${UPSTREAM}`, 'cfg.yaml:1:10: listen[0]: port 70000 is out of range (ports are 1–65535)'],
    ['duplicate listen', `listen: [":80", "0.0.0.0:80"]\n${UPSTREAM}`, 'cfg.yaml:1:17: listen[1]: duplicate listen address (same as listen[0])'],
    ['size without meaning', `limits: { max_body_bytes: lots }\n${UPSTREAM}`,
      'cfg.yaml:1:27: limits.max_body_bytes: invalid size "lots" (use bytes or a unit: 512, 10KB, 32KiB, 64MiB, 1GiB)'],
    ['zero limit', `limits: { max_header_count: 0 }\n${UPSTREAM}`, 'cfg.yaml:1:29: limits.max_header_count: must be at least 1'],
    ['duration without unit', `timeouts: { idle: 60 }\n${UPSTREAM}`, 'cfg.yaml:1:19: timeouts.idle: durations need a unit, e.g. "60s" or "60ms"'],
    ['bad log level', `log_level: verbose\n${UPSTREAM}`, 'cfg.yaml:1:12: log_level: expected one of: fatal, error, warn, info, debug'],
    ['bad access_log', `access_log: yes\n${UPSTREAM}`, 'cfg.yaml:1:13: access_log: expected true, false or { enabled, format, output }'],
    ['bad access_log format', `access_log: { format: apache }\n${UPSTREAM}`, 'cfg.yaml:1:23: access_log.format: expected one of: json, combined, common'],
    ['admin off loopback without a token', `admin: { listen: "0.0.0.0:9901" }\n${UPSTREAM}`,
      'cfg.yaml:1:18: admin.listen: a token is required when admin.listen is not a loopback address (0.0.0.0)'],
    ['admin off loopback with an empty token', `admin: { listen: "[::]:9901", token: "\${T:-}" }\n${UPSTREAM}`,
      'cfg.yaml:1:38: admin.token: a token is required when admin.listen is not a loopback address (::)'],
    ['admin off loopback with a short token', `admin: { listen: ":9901", token: "secret" }\n${UPSTREAM}`,
      'cfg.yaml:1:34: admin.token: must be at least 16 characters when admin.listen is not a loopback address'],
    ['admin token with a space', `admin: { token: "a b" }\n${UPSTREAM}`, 'cfg.yaml:1:17: admin.token: must be printable ASCII without spaces'],
    ['admin on a proxy port', `listen: ["127.0.0.1:8080"]\nadmin: { listen: "127.0.0.1:8080" }\n${UPSTREAM}`,
      'cfg.yaml:2:18: admin.listen: port 8080 is also a proxy listen address (127.0.0.1:8080)'],
    ['the default admin port taken by the proxy', `listen: [":9901"]\n${UPSTREAM}`,
      "cfg.yaml:1:1: admin: the admin API's default address 127.0.0.1:9901 clashes with the proxy listen address 0.0.0.0:9901"],
    ['admin not a map', `admin: on\n${UPSTREAM}`, 'cfg.yaml:1:8: admin: expected true, false or { listen, token }'],
    ['bad upstream name', 'upstreams: { "my app": { targets: ["http://a"] } }\n',
      'cfg.yaml:1:14: upstreams["my app"]: invalid name "my app": upstream names start with a letter or digit'],
    ['__proto__ as an upstream name', 'upstreams:\n  __proto__: { targets: ["http://a"] }\n', 'cfg.yaml:2:3: upstreams.__proto__: invalid name "__proto__"'],
    ['__proto__ as a key', `__proto__: {}\n${UPSTREAM}`, 'cfg.yaml:1:1: __proto__: unknown key "__proto__"'],
    ['empty routes', `${UPSTREAM}routes: []\n`, 'cfg.yaml:2:9: routes: define at least one route, or leave routes out when there is a single upstream'],
    ['no upstreams', 'upstreams: {}\n', 'cfg.yaml:1:12: upstreams: define at least one upstream'],
    ['missing upstreams', 'workers: 1\n', 'cfg.yaml:1:1: upstreams: required'],
    ['routes required with two upstreams', 'upstreams:\n  a: { targets: ["http://a"] }\n  b: { targets: ["http://b"] }\n',
      'cfg.yaml:1:1: routes: required when there is more than one upstream (a, b); only a single upstream gets a default "/" route'],
    ['empty file', '', 'cfg.yaml:1:1: (root): the config is empty; it needs at least an upstreams section'],
    ['not a map', '- a\n- b\n', 'cfg.yaml:1:1: (root): expected a map of settings, got a list'],
    ['YAML syntax error', `${UPSTREAM}routes: [ { path: / }\nlog_level: info\n`, 'cfg.yaml:3:1: syntax: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['duplicate YAML key', `workers: 1\nworkers: 2\n${UPSTREAM}`, 'cfg.yaml:2:1: syntax: Map keys must be unique'],
    ['unset env var', 'upstreams: { app: { targets: ["http://${APP_HOST}:3000"] } }\n',
      'cfg.yaml:1:31: upstreams.app.targets[0]: environment variable APP_HOST is not set (use ${APP_HOST:-default} to give a default)'],
  ])('%s', (_name, text, prefix) => {
    const errors = errorsOf(text);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.startsWith(prefix), `${errors[0]} should start with ${prefix}`).toBe(true);
  });

  test('every error is reported at once, in file order', () => {
    const errors = errorsOf(`workers: -1
listen: [":0"]
upstreams:
  app: { targets: ["https://a"], pool: { max_conn: 1 } }
routes:
  - { path: /, upstream: nope }
  - { path: /, upstream: app }
`);
    expect(errors.map((e) => e.split(': ').slice(0, 2).join(': '))).toEqual([
      'cfg.yaml:1:10: workers',
      'cfg.yaml:2:10: listen[0]',
      'cfg.yaml:4:20: upstreams.app.targets[0]',
      'cfg.yaml:4:42: upstreams.app.pool.max_conn',
      'cfg.yaml:6:26: routes[0].upstream',
      'cfg.yaml:7:13: routes[1].path',
    ]);
  });

  test('ConfigErrors carries ConfigError data and a message listing every line', () => {
    expect.assertions(3);
    try {
      parseConfigText('workers: x\nupstreams: {}\n', 'a.yaml', {});
    } catch (e) {
      const errors = (e as ConfigErrors).errors;
      expect(errors[0]).toBeInstanceOf(ConfigError);
      expect({ ...errors[0]!, message: errors[0]!.message }).toMatchObject({ file: 'a.yaml', line: 1, column: 10, field: 'workers', message: 'expected a whole number, got "x"' });
      expect((e as Error).message.split('\n')).toHaveLength(2);
    }
  });

  test('a YAML syntax error names its line', () => {
    const [error] = errorsOf('upstreams:\n  app:\n    targets: ["http://a"\n  bad\n');
    expect(error).toMatch(/^cfg\.yaml:[34]:\d+: syntax: /);
  });
});
