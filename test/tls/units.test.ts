// Small pure pieces of TLS: SNI name matching, certificate-set diffs, redirect targets, HSTS
// values, and Node header objects for the HTTP/2 front end.
import { describe, expect, test } from 'vitest';
import { nameMatches } from '../../src/tls/certificate.js';
import { coversHost, diffCertSets, type TlsCertSet } from '../../src/tls/cert-set.js';
import { httpsLocation, redirectTarget } from '../../src/tls/redirect.js';
import { hstsValue } from '../../src/tls/hsts.js';
import { headerObject } from '../../src/h2/downstream.js';

const f = (id: string) => ({ id, cert: `/c/${id}.crt`, key: `/c/${id}.key`, notAfter: 0 });

describe('SNI names', () => {
  test.each([
    ['a.test', 'a.test', true],
    ['a.test', 'b.test', false],
    ['*.x.test', 'a.x.test', true],
    ['*.x.test', 'x.test', false],
    ['*.x.test', 'a.b.x.test', false],
    ['*.x.test', '.x.test', false],
  ])('%s covers %s: %s', (pattern, host, covered) => {
    expect(nameMatches(pattern, host)).toBe(covered);
  });

  test('a set covers exact names and one-label wildcards', () => {
    const set: TlsCertSet = { default: null, names: { 'a.test': f('1'), '*.w.test': f('2') } };
    expect(coversHost(set, 'a.test')).toBe(true);
    expect(coversHost(set, 'z.w.test')).toBe(true);
    expect(coversHost(set, 'y.z.w.test')).toBe(false);
    expect(coversHost(set, 'w.test')).toBe(false);
  });
});

test('certificate-set diffs: a changed default, removed names, added or changed names', () => {
  const before: TlsCertSet = { default: f('d1'), names: { 'a.test': f('1'), 'b.test': f('2'), 'c.test': f('3') } };
  const after: TlsCertSet = { default: f('d1'), names: { 'a.test': f('1'), 'b.test': f('9'), 'n.test': f('4') } };
  expect(diffCertSets(before, after)).toEqual({ defaultChanged: false, removed: ['c.test'], added: [['b.test', f('9')], ['n.test', f('4')]] });
  expect(diffCertSets(before, { ...before, default: f('d2') }).defaultChanged).toBe(true);
  expect(diffCertSets({ ...before, default: null }, before).defaultChanged).toBe(true);
});

describe('redirect_https', () => {
  const redirect = { httpsPort: (host: string) => (host === 'a.test' ? 8443 : host === 'std.test' ? 443 : null) };

  test('the same target over https; port 443 is left out', () => {
    expect(httpsLocation('a.test', 8443, '/p', 'q=1')).toBe('https://a.test:8443/p?q=1');
    expect(redirectTarget(redirect, 'http', 'std.test', '/', '')).toBe('https://std.test/');
  });

  test('no redirect: already https at the client, no certificate, no host', () => {
    expect(redirectTarget(redirect, 'https', 'a.test', '/', '')).toBeNull();
    expect(redirectTarget(redirect, 'http', 'other.test', '/', '')).toBeNull();
    expect(redirectTarget(redirect, 'http', '', '/', '')).toBeNull();
    expect(redirectTarget(null, 'http', 'a.test', '/', '')).toBeNull();
  });
});

test('HSTS values', () => {
  expect(hstsValue(false)).toBeNull();
  expect(hstsValue({ max_age: 60, include_subdomains: false, preload: false })).toBe('max-age=60');
  expect(hstsValue({ max_age: 60, include_subdomains: true, preload: true })).toBe('max-age=60; includeSubDomains; preload');
});

test('header objects keep repeated fields as lists, in order', () => {
  expect(headerObject(['a', '1', 'set-cookie', 'x=1', 'set-cookie', 'y=2', 'set-cookie', 'z=3'])).toEqual({ a: '1', 'set-cookie': ['x=1', 'y=2', 'z=3'] });
});
