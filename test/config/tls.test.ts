// `listen` entries with `tls`: the shape, paths relative to the config file, and the
// certificate files checked at load time with the field that names them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigErrors } from '../../src/config/error.js';
import { parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { createTestCa, type TestCa } from '../helpers/tls.js';

const UPSTREAM = 'upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\n';
let ca: TestCa;
let file: string;

beforeAll(async () => {
  ca = await createTestCa();
  await ca.issue('site', ['site.test', '*.site.test']);
  await ca.issue('other', ['other.test']);
  await ca.issue('old', ['old.test'], { notBefore: Date.now() - 10 * 86_400_000, notAfter: Date.now() - 86_400_000 });
  writeFileSync(join(ca.dir, 'garbage.crt'), 'not a certificate\n');
  file = join(ca.dir, 'portcullis.yaml');
});
afterAll(() => ca?.remove());

function load(text: string, env: NodeJS.ProcessEnv = {}): Config {
  return parseConfigText(text, file, env);
}

function errorsOf(text: string): string[] {
  try {
    load(text);
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors.map((x) => x.format().replace(`${ca.dir}/`, ''));
    throw e;
  }
  return [];
}

describe('listen entries', () => {
  test('plain strings keep their shape next to TLS entries', () => {
    const c = load(`listen:\n  - ":8080"\n  - { address: ":8443", tls: { certificates: [{ cert: site.crt, key: site.key }] } }\n${UPSTREAM}`);
    expect(c.listen[0]).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(c.listen[1]).toMatchObject({ host: '0.0.0.0', port: 8443, tls: { certificates: [{ cert: join(ca.dir, 'site.crt'), key: join(ca.dir, 'site.key') }] } });
  });

  test('an object entry without tls is a plain listener', () => {
    const c = load(`listen: [{ address: "127.0.0.1:9000" }]\n${UPSTREAM}`);
    expect(c.listen).toEqual([{ host: '127.0.0.1', port: 9000 }]);
  });

  test('a single entry object is a list of one', () => {
    const c = load(`listen: { address: ":8443", tls: { certificates: [{ cert: site.crt, key: site.key }] } }\n${UPSTREAM}`);
    expect(c.listen).toHaveLength(1);
    expect(c.listen[0]!.tls!.certificates).toHaveLength(1);
  });

  test('absolute paths stay as written', () => {
    const cert = join(ca.dir, 'other.crt');
    const key = join(ca.dir, 'other.key');
    const c = load(`listen: [{ address: ":8443", tls: { certificates: [{ cert: "${cert}", key: "${key}" }] } }]\n${UPSTREAM}`);
    expect(c.listen[0]!.tls!.certificates[0]).toEqual({ cert, key });
  });
});

describe('errors name the field', () => {
  test.each([
    ['a missing file', '[{ cert: nope.crt, key: site.key }]', /^portcullis\.yaml:1:60: listen\[0\]\.tls\.certificates\[0\]\.cert: cannot read .*nope\.crt: file not found$/],
    ['a key of another certificate', '[{ cert: site.crt, key: other.key }]', /^portcullis\.yaml:1:75: listen\[0\]\.tls\.certificates\[0\]\.key: .*other\.key does not belong to .*site\.crt/],
    ['a file that is not a certificate', '[{ cert: garbage.crt, key: site.key }]', /listen\[0\]\.tls\.certificates\[0\]\.cert: .*garbage\.crt is not a PEM certificate/],
    ['a certificate as the key', '[{ cert: site.crt, key: site.crt }]', /listen\[0\]\.tls\.certificates\[0\]\.key: .*site\.crt is not a PEM private key/],
    ['an expired certificate', '[{ cert: old.crt, key: old.key }]', /listen\[0\]\.tls\.certificates\[0\]\.cert: .*old\.crt expired on /],
    ['no certificate', '[]', /listen\[0\]\.tls\.certificates: a TLS listener needs certificates, acme: true or internal: true/],
  ])('%s', (_name, certificates, message) => {
    const errors = errorsOf(`listen: [{ address: ":8443", tls: { certificates: ${certificates} } }]\n${UPSTREAM}`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  test('a typo in a certificate entry', () => {
    expect(errorsOf(`listen: [{ address: ":8443", tls: { certificates: [{ cert: site.crt, keyfile: site.key }] } }]\n${UPSTREAM}`))
      .toContainEqual(expect.stringMatching(/listen\[0\]\.tls\.certificates\[0\]\.keyfile: unknown key "keyfile"/));
  });

  test('an unknown key in a listen entry', () => {
    expect(errorsOf(`listen: [{ adress: ":8443" }]\n${UPSTREAM}`)[0]).toMatch(/listen\[0\]/);
  });

  test('the same address as a string and as an entry is a duplicate', () => {
    expect(errorsOf(`listen: [":8443", { address: "0.0.0.0:8443", tls: { certificates: [{ cert: site.crt, key: site.key }] } }]\n${UPSTREAM}`))
      .toEqual([expect.stringMatching(/listen\[1\]: duplicate listen address \(same as listen\[0\]\)/)]);
  });

  test('redirect_https belongs on a plain listener', () => {
    expect(errorsOf(`listen: [{ address: ":8443", redirect_https: true, tls: { certificates: [{ cert: site.crt, key: site.key }] } }]\n${UPSTREAM}`))
      .toEqual([expect.stringMatching(/listen\[0\]\.redirect_https: redirect_https is for plain listeners \(this one has tls\)/)]);
  });

  test('redirect_https needs a TLS listener to redirect to', () => {
    expect(errorsOf(`listen: [{ address: ":8080", redirect_https: true }]\n${UPSTREAM}`))
      .toEqual([expect.stringMatching(/listen\[0\]\.redirect_https: no listener has tls/)]);
  });

  test.each([
    ['max_age: 31536000', /hsts\.max_age: durations need a unit/],
    ['max_age: "1y"', /hsts\.max_age: invalid duration "1y"/],
    ['include_subdomains: yes', /hsts\.include_subdomains: expected/],
  ])('hsts { %s }', (field, message) => {
    const errors = errorsOf(`listen: [{ address: ":8443", tls: { certificates: [{ cert: site.crt, key: site.key }], hsts: { ${field} } } }]\n${UPSTREAM}`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });
});

describe('hsts', () => {
  const tls = (hsts: string) => load(`listen: [{ address: ":8443", tls: { certificates: [{ cert: site.crt, key: site.key }]${hsts} } }]\n${UPSTREAM}`).listen[0]!.tls!.hsts;

  test('on by default: a year, no subdomains, no preload', () => {
    expect(tls('')).toEqual({ max_age: 31_536_000, include_subdomains: false, preload: false });
  });

  test('false turns it off; durations add up', () => {
    expect(tls(', hsts: false')).toBe(false);
    expect(tls(', hsts: { max_age: "1d12h30m5s" }')).toMatchObject({ max_age: 86_400 + 43_200 + 1800 + 5 });
  });
});

describe('tls: internal', () => {
  test('"internal" is the local CA alone, without HSTS', () => {
    const c = load(`listen: [{ address: "localhost:8443", tls: internal }]\n${UPSTREAM}`);
    expect(c.listen[0]!.tls).toEqual({ certificates: [], acme: false, internal: true, hsts: false });
  });

  test('with files too, HSTS is on by default; an explicit hsts is kept', () => {
    expect(load(`listen: [{ address: ":8443", tls: { internal: true, certificates: [{ cert: site.crt, key: site.key }] } }]\n${UPSTREAM}`).listen[0]!.tls!.hsts)
      .toEqual({ max_age: 31_536_000, include_subdomains: false, preload: false });
    expect(load(`listen: [{ address: ":8443", tls: { internal: true, hsts: { max_age: 1h } } }]\n${UPSTREAM}`).listen[0]!.tls!.hsts)
      .toMatchObject({ max_age: 3600 });
  });

  test('another word is refused', () => {
    expect(errorsOf(`listen: [{ address: ":8443", tls: acme }]\n${UPSTREAM}`)[0]).toMatch(/listen\[0\]\.tls: expected "internal" or \{ certificates, acme, internal, hsts \}/);
  });
});

describe('state_dir', () => {
  test('relative to the config file', () => {
    expect(load(`state_dir: state\n${UPSTREAM}`).state_dir).toBe(join(ca.dir, 'state'));
  });

  test('PORTCULLIS_STATE_DIR wins over the file; XDG_DATA_HOME and HOME give the default', () => {
    expect(load(`state_dir: state\n${UPSTREAM}`, { PORTCULLIS_STATE_DIR: '/srv/pc' }).state_dir).toBe('/srv/pc');
    expect(load(UPSTREAM, { XDG_DATA_HOME: '/data' }).state_dir).toBe('/data/portcullis');
    expect(load(UPSTREAM, { HOME: '/home/u' }).state_dir).toBe('/home/u/.local/share/portcullis');
  });
});

describe('upstream tls', () => {
  const up = (tls: string, target = 'https://10.0.0.1:8443') => `upstreams: { app: { targets: ["${target}"], tls: ${tls} } }\n`;

  test('paths relative to the config file, the name lowercased', () => {
    const c = load(up('{ ca: ca.crt, server_name: API.Internal, cert: site.crt, key: site.key }'));
    expect(c.upstreams['app']!.tls).toEqual({ ca: join(ca.dir, 'ca.crt'), server_name: 'api.internal', cert: join(ca.dir, 'site.crt'), key: join(ca.dir, 'site.key'), verify: true });
    expect(c.upstreams['app']!.targets[0]).toEqual({ url: 'https://10.0.0.1:8443', host: '10.0.0.1', port: 8443, https: true, weight: 1, max_connections: 256 });
  });

  test.each([
    ['{ ca: missing.crt }', /upstreams\.app\.tls\.ca: cannot read .*missing\.crt: file not found/],
    ['{ ca: site.key }', /upstreams\.app\.tls\.ca: .*site\.key holds no PEM certificate/],
    ['{ cert: site.crt }', /upstreams\.app\.tls\.key: cert and key go together/],
    ['{ cert: site.crt, key: other.key }', /upstreams\.app\.tls\.key: .*other\.key does not belong to .*site\.crt/],
    ['{ server_name: "a b" }', /upstreams\.app\.tls\.server_name: must be a host name/],
    ['{ verify: no }', /upstreams\.app\.tls\.verify: expected true or false/],
  ])('%s', (tls, message) => {
    const errors = errorsOf(up(tls));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  test('tls on an upstream without https targets is a mistake', () => {
    expect(errorsOf(up('{ ca: ca.crt }', 'http://10.0.0.1'))).toEqual([expect.stringMatching(/upstreams\.app\.tls: tls settings apply to https:\/\/ targets, and this upstream has none/)]);
  });
});

describe('acme', () => {
  const acmeListen = 'listen: [":80", { address: ":443", tls: { acme: true } }]\n';

  test('defaults: Let\'s Encrypt, no names, no on-demand', () => {
    const c = load(`${acmeListen}${UPSTREAM}`);
    expect(c.listen[1]!.tls).toMatchObject({ acme: true, certificates: [], hsts: { max_age: 31_536_000 } });
    expect(c.acme).toEqual({ directory: 'https://acme-v02.api.letsencrypt.org/directory', names: [] });
  });

  test('directory_ca relative to the config file; names lowercased', () => {
    const c = load(`${acmeListen}acme: { directory: "https://ca.internal/dir", directory_ca: ca.crt, names: [WWW.Example.com] }\n${UPSTREAM}`);
    expect(c.acme).toMatchObject({ directory: 'https://ca.internal/dir', directory_ca: join(ca.dir, 'ca.crt'), names: ['www.example.com'] });
  });

  test.each([
    ['listen: [{ address: ":443", tls: { acme: true } }]\n', /listen\[0\]\.tls\.acme: ACME HTTP-01 challenges are answered on a plain listener/],
    [`${acmeListen}acme: { directory: "http://ca.internal/dir" }\n`, /acme\.directory: expected an https:\/\/ URL/],
    [`${acmeListen}acme: { directory_ca: missing.crt }\n`, /acme\.directory_ca: cannot read .*missing\.crt/],
    [`${acmeListen}acme: { names: ["*.example.com"] }\n`, /acme\.names\[0\]: expected a host name .*no wildcards/],
    [`${acmeListen}acme: { on_demand: {} }\n`, /acme\.on_demand\.allow: on_demand needs allow patterns or an ask URL/],
    [`${acmeListen}acme: { on_demand: { ask: "ftp://x" } }\n`, /acme\.on_demand\.ask: expected an http:\/\/ or https:\/\/ URL/],
    [`${acmeListen}acme: { on_demand: { allow: ["a.*.com"] } }\n`, /acme\.on_demand\.allow\[0\]: .*a wildcard is only allowed as the first label/],
    [`${acmeListen}acme: { email: nobody }\n`, /acme\.email: expected an email address/],
  ])('%s', (text, message) => {
    const errors = errorsOf(`${text}${UPSTREAM}`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });
});

describe('protocols', () => {
  test('absent on a plain entry and by default; deduplicated when written', () => {
    const c = load(`listen: [":80", { address: ":443", tls: { certificates: [{ cert: site.crt, key: site.key }] }, protocols: [h1, h2, h2] }]\n${UPSTREAM}`);
    expect(c.listen[0]).toEqual({ host: '0.0.0.0', port: 80 });
    expect(c.listen[1]!.protocols).toEqual(['h1', 'h2']);
  });

  test.each([
    ['{ address: ":8080", protocols: [h2] }', /listen\[0\]\.protocols: h2 needs tls/],
    ['{ address: ":8443", tls: internal, protocols: [] }', /listen\[0\]\.protocols: offer at least one protocol/],
    ['{ address: ":8443", tls: internal, protocols: [h3] }', /listen\[0\]\.protocols\[0\]: expected h1 or h2/],
  ])('%s', (entry, message) => {
    const errors = errorsOf(`listen: [${entry}]\n${UPSTREAM}`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });
});

