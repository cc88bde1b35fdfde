// What of a config may leave the process (config/shown.ts): values read from the environment
// are traced to the effective fields they reach (aliases and merge keys too) and shown as the
// text written in the file, in the effective config, diffs, labels, free text and errors.
import { describe, expect, test } from 'vitest';
import { diffConfigs } from '../../src/config/diff.js';
import { ConfigErrors } from '../../src/config/error.js';
import { parseConfigText } from '../../src/config/load.js';
import { Redactor, shownConfig, shownDiff, shownLabels } from '../../src/config/shown.js';

const ENV = {
  VIA: 'via-secret-1f2e3d',
  HOST: 'Internal-Secret.example',
  ORIGIN: '10.9.8.7:3007',
  PORT: '18443',
  TOKEN: 'token-secret-0123456789abcdef',
  SHORT: 'ab',
};
const SECRETS = [ENV.VIA, ENV.HOST, ENV.HOST.toLowerCase(), ENV.ORIGIN, ENV.TOKEN];

const TEXT = `
x-via: &via "\${VIA}"
x-pool: &pool { max_connections: 7 }
listen: ["127.0.0.1:\${PORT}"]
via: *via
admin: { listen: "127.0.0.1:9901", token: "\${TOKEN}" }
upstreams:
  app: { targets: ["http://\${ORIGIN}", "http://127.0.0.1:3000"], pool: { <<: *pool } }
routes:
  - { host: "\${HOST}", path: "/in/", upstream: app }
  - { path: "/", upstream: app, host_header: "\${SHORT:-x}.example" }
`;

function load(text = TEXT, env: Record<string, string> = ENV) {
  return parseConfigText(text, 'cfg.yaml', env);
}

describe('tracing values from the environment', () => {
  test('every effective field a substituted value reaches, through aliases too, with its written text', () => {
    const c = load();
    expect(c.via).toBe(ENV.VIA);
    expect(c.from_env?.fields).toEqual(expect.arrayContaining([
      { path: ['via'], written: '${VIA}' },
      { path: ['listen', 0], written: '127.0.0.1:${PORT}' },
      { path: ['admin', 'token'], written: '${TOKEN}' },
      { path: ['upstreams', 'app', 'targets', 0], written: 'http://${ORIGIN}' },
      { path: ['routes', 0, 'host'], written: '${HOST}' },
      { path: ['routes', 1, 'host_header'], written: '${SHORT:-x}.example' },
    ]));
    // The x- field itself is not in the effective config: not traced there.
    expect(c.from_env?.fields.some((f) => f.path[0] === 'x-via')).toBe(false);
    expect(c.from_env?.values).toEqual({ VIA: ENV.VIA, HOST: ENV.HOST, ORIGIN: ENV.ORIGIN, PORT: ENV.PORT, TOKEN: ENV.TOKEN, SHORT: ENV.SHORT });
  });

  test('a default that was used is not from the environment; a config without ${} has no trace', () => {
    const c = load(TEXT, { ...ENV, SHORT: '' });
    expect(c.routes[1]!.host_header).toBe('x.example');
    expect(c.from_env?.fields.some((f) => f.path[2] === 'host_header')).toBe(false);
    expect(load('upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }').from_env).toBeUndefined();
  });
});

describe('what is shown', () => {
  test('the effective config: written text instead of values, the token only as (set)', () => {
    const c = load();
    const shown = shownConfig(c);
    const text = JSON.stringify(shown);
    for (const s of SECRETS) expect(text).not.toContain(s);
    expect(shown['via']).toBe('${VIA}');
    expect(shown['listen']).toEqual(['127.0.0.1:${PORT}']);
    expect(shown['admin']).toEqual({ listen: '127.0.0.1:9901', token: '(set)' });
    expect((shown['upstreams'] as any).app.targets).toEqual(['http://${ORIGIN}', { url: 'http://127.0.0.1:3000', host: '127.0.0.1', port: 3000, weight: 1, max_connections: 7 }]);
    expect((shown['routes'] as any)[0].host).toBe('${HOST}');
    expect(text).not.toContain('from_env');
  });

  test('credentials by nature, wherever written: basic-auth hashes and private JWT key members as a digest', () => {
    const hash = '$scrypt$ln=10,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const c = load(`upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }
routes:
  - { path: /a/, upstream: app, auth: { basic: { users: { alice: "${hash}" } } } }
  - { path: /b/, upstream: app, auth: { jwt: { keys: [{ kty: EC, crv: P-256, x: xx-public, y: yy-public, d: dd-private-member }] } } }
`);
    const shown = JSON.stringify(shownConfig(c));
    expect(shown).not.toContain(hash);
    expect(shown).not.toContain('dd-private-member');
    expect(shown).toMatch(/"alice":"hash #[0-9a-f]{8}"/);
    expect(shown).toMatch(/"x":"xx-public","y":"yy-public","d":"secret #[0-9a-f]{8}"/);
  });

  test('labels built from them: routes, listeners, targets', () => {
    const labels = shownLabels(load());
    expect(labels.get(`${ENV.HOST.toLowerCase()}/in/`)).toBe('${HOST}/in/');
    expect(labels.get(`127.0.0.1:${ENV.PORT}`)).toBe('127.0.0.1:${PORT}');
    expect(labels.get(`http://${ENV.ORIGIN}`)).toBe('http://${ORIGIN}');
  });

  test('the Redactor scrubs labels whole and values inside any text, case-insensitively', () => {
    const r = new Redactor().add(load());
    expect(r.text(`route="${ENV.HOST.toLowerCase()}/in/",target="http://${ENV.ORIGIN}" via ${ENV.VIA.toUpperCase()}`))
      .toBe('route="${HOST}/in/",target="http://${ORIGIN}" via ${VIA}');
    expect(r.json({ [`${ENV.HOST.toLowerCase()}/in/`]: 3, list: [`127.0.0.1:${ENV.PORT}`], n: 18443 })).toEqual({ '${HOST}/in/': 3, list: ['127.0.0.1:${PORT}'], n: 18443 });
    // A two-letter value is not scrubbed from free text (it would mangle it).
    expect(r.text('about')).toBe('about');
    expect(new Redactor().add(load('upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }')).empty).toBe(true);
  });

  test('a diff shows both sides as written; equal written text with another value says so, and no more', () => {
    const old = load();
    const next = load(TEXT.replace('"${VIA}"', '"${VIA2}"').replace('"/in/"', '"/inner/"'), { ...ENV, VIA2: 'via-secret-2', PORT: '18444', ORIGIN: '10.9.8.7:3008' });
    const d = shownDiff(diffConfigs(old, next), old, next);
    const text = JSON.stringify(d);
    for (const s of [...SECRETS, 'via-secret-2', '18444', '3008']) expect(text).not.toContain(s);
    expect(d.settings).toContainEqual({ field: 'via', from: '${VIA}', to: '${VIA2}' });
    expect(d.listeners).toEqual({ added: ['127.0.0.1:${PORT}'], removed: ['127.0.0.1:${PORT}'], kept: [] });
    expect(d.routes.added).toEqual(['${HOST}/inner/']);
    expect(d.routes.removed).toEqual(['${HOST}/in/']);
    expect(d.upstreams.changed).toEqual([{ upstream: 'app', changes: [{ field: 'targets', from: ['http://${ORIGIN}', 'http://127.0.0.1:3000'], to: '["http://${ORIGIN}","http://127.0.0.1:3000"] (another value)' }] }]);
    // The decisions are still made on the values.
    expect(diffConfigs(old, next).listeners.added).toEqual(['127.0.0.1:18444']);
  });

  test('a restart-only change read from the environment is shown as written', () => {
    const text = 'workers: ${W}\nupstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\n';
    const old = load(text, { W: '2' });
    const next = load(text.replace('${W}', '${W2}'), { W: '2', W2: '3' });
    expect(shownDiff(diffConfigs(old, next), old, next).restart).toEqual([expect.objectContaining({ field: 'workers', from: '${W}', to: '${W2}' })]);
  });
});

describe('errors as they may be shown', () => {
  function errorsOf(text: string, env: Record<string, string>): ConfigErrors {
    try { parseConfigText(text, 'cfg.yaml', env); } catch (e) { if (e instanceof ConfigErrors) return e; throw e; }
    throw new Error('expected errors');
  }

  test('a value from the environment quoted by a message: kept for the log, written text in the shown ones', () => {
    const long = `not-a-number-${'s'.repeat(60)}`;
    const e = errorsOf('workers: ${W}\nvia: "${V}"\nupstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\nroutes: [{ path: /, upstream: "${U}" }]\n', { W: long, V: 'bad\u0001via', U: 'upstream-secret-name' });
    const log = e.errors.map((x) => x.format()).join('\n');
    const shown = e.shown.map((x) => x.format()).join('\n');
    expect(log).toContain('upstream-secret-name');
    expect(log).toContain('not-a-number-sss');
    for (const s of ['upstream-secret-name', 'not-a-number', 'bad\\u0001via']) expect(shown).not.toContain(s);
    expect(shown).toContain('routes[0].upstream: no upstream named "${U}"');
    expect(shown).toContain('workers: expected a whole number, got "${W}"');
    expect(e.shown.map((x) => [x.line, x.field])).toEqual(e.errors.map((x) => [x.line, x.field]));
  });
});
