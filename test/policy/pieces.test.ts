// The pure pieces of the policy phase, as tables: path folding for gates, hidden paths,
// templates and redirect patterns, password hashes, response header edits, key hashes.
import { describe, expect, test } from 'vitest';
import { foldPath, samplePath, GateScope } from '../../src/policy/gate-scope.js';
import { isHiddenPath } from '../../src/policy/request-filter.js';
import { compileTemplate, fillTemplate, parseRedirectFrom, parseTemplate } from '../../src/policy/template.js';
import { decodePasswordHash, hashPassword, parsePasswordHash, verifyPassword } from '../../src/policy/password-hash.js';
import { applyResponseEdits, compileResponseEdits, compileRequestEdits } from '../../src/policy/response-edits.js';
import { KeyHash } from '../../src/policy/key-hash.js';
import { normalizePath } from '../../src/router/normalize.js';

describe('foldPath (input: a normalised path)', () => {
  test.each([
    ['/admin', '/admin'],
    ['/ADMIN', '/admin'],
    ['/Admin/Panel', '/admin/panel'],
    ['/admin;x=1', '/admin'],
    ['/admin;jsessionid=1/panel;a', '/admin/panel'],
    ['/admin%2F', '/admin/'],
    ['/admin%2Fpanel', '/admin/panel'],
    ['/admin%5Cpanel', '/admin/panel'],
    ['/a%2F%2Fb', '/a/b'],
    ['/%2561dmin', '/admin'],
    ['/x%252Fadmin', '/x/admin'],
    ['/Caf%C3%A9', '/caf%C3%A9'],
  ])('%s → %s', (path, folded) => {
    expect(foldPath(normalizePath(path)!)).toBe(folded);
  });

  test('an already folded path is returned as it is (no allocation)', () => {
    const p = '/plain/path';
    expect(foldPath(p)).toBe(p);
  });
});

describe('GateScope', () => {
  const scope = new GateScope([{ index: 4, host: undefined, path: '/Caf%C3%A9/' }, { index: 1, host: undefined, path: '/admin/' }, { index: 2, host: 'a.test', path: '/Private' }, { index: 3, host: undefined, path: '/u/:id/keys/' }]);
  test.each<[string, string, number]>([
    ['x.test', '/admin/', 1], ['x.test', '/admin', 1], ['x.test', '/admin/x/y', 1], ['x.test', '/administrator', -1],
    ['a.test', '/private', 2], ['b.test', '/private', -1], ['a.test', '/admin/x', 1],
    ['x.test', '/caf%C3%A9/x', 4],
    ['x.test', '/u/7/keys/k', 3], ['x.test', '/u/7/keys', 3], ['x.test', '/u/7', -1],
  ])('%s %s → %i', (host, path, index) => {
    expect(scope.find(host, path)).toBe(index);
  });

  test.each([['/users/:id/x', '/users/x/x'], ['/files/*', '/files/'], ['/A/', '/a/']])('samplePath(%s) = %s', (pattern, sample) => {
    expect(samplePath(pattern)).toBe(sample);
  });
});

describe('isHiddenPath', () => {
  test.each<[string, boolean]>([
    ['/.git/config', true], ['/.env', true], ['/a/.htaccess', true], ['/a/b/.c', true], ['/.git;x', true],
    ['/.well-known/acme-challenge/x', false], ['/.well-known', false], ['/.well-known/', false], ['/.well-knownx', true],
    ['/a/.well-known/x', true], ['/a.b', false], ['/a/b.c/d', false], ['/', false], ['/..x', true],
  ])('%s → %s', (path, hidden) => {
    expect(isHiddenPath(path)).toBe(hidden);
  });
});

describe('templates', () => {
  test.each<[string, 'redirect' | 'rewrite', string | null]>([
    ['https://example.com/{path}', 'redirect', null],
    ['/new/{path}', 'redirect', null],
    ['example.com/x', 'redirect', 'a redirect target is'],
    ['https://example.com/{path', 'redirect', 'unbalanced'],
    ['/a b', 'redirect', 'spaces'],
    ['/v2/{path}', 'rewrite', null],
    ['v2/{path}', 'rewrite', 'starting with "/"'],
    ['/v2?x=1', 'rewrite', 'the query is kept'],
  ])('%s (%s)', (text, kind, error) => {
    const r = parseTemplate(text, kind);
    if (error === null) expect(r).toBe(text);
    else expect((r as { error: string }).error).toContain(error);
  });

  test('fill', () => {
    const t = compileTemplate('https://{host}/a/{path}?q={query}');
    expect(fillTemplate(t, (n) => ({ host: 'h', path: 'p/q', query: 'x=1' })[n] ?? '')).toBe('https://h/a/p/q?q=x=1');
  });

  test.each<[string, unknown]>([
    ['http://old.example.com/*', { scheme: 'http', host: 'old.example.com', path: '/', wildcard: true }],
    ['https://A.example/x', { scheme: 'https', host: 'a.example', path: '/x', wildcard: false }],
    ['old.example.com/docs/*', { scheme: null, host: 'old.example.com', path: '/docs/', wildcard: true }],
    ['/moved', { scheme: null, host: null, path: '/moved', wildcard: false }],
    ['http://old.example.com', { scheme: 'http', host: 'old.example.com', path: '/', wildcard: false }],
    ['/a/*/b', { error: expect.stringContaining('only allowed at the end') }],
    ['http://h:80/x', { error: expect.stringContaining('no port') }],
  ])('redirect from %s', (text, parsed) => {
    expect(parseRedirectFrom(text)).toEqual(parsed);
  });
});

describe('password hashes', () => {
  test('hash and verify', async () => {
    const text = await hashPassword('s3cret', 10);
    expect(parsePasswordHash(text)).toBe(text);
    const h = decodePasswordHash(text)!;
    expect(await verifyPassword(Buffer.from('s3cret'), h)).toBe(true);
    expect(await verifyPassword(Buffer.from('s3cret '), h)).toBe(false);
    // Another salt each time.
    expect(await hashPassword('s3cret', 10)).not.toBe(text);
  });

  test.each<[string, string]>([
    ['hunter2', 'plain-text passwords are refused'],
    ['$2y$10$abcdefghijklmnopqrstuv', 'only scrypt hashes'],
    ['$scrypt$ln=15,r=8,p=1$short$short', 'malformed scrypt hash'],
    ['$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'malformed scrypt hash'],
  ])('%s is refused', (text, message) => {
    expect((parsePasswordHash(text) as { error: string }).error).toContain(message);
  });
});

describe('header edits', () => {
  test('global, then route; set replaces; strict fills only what is missing; HSTS only over HTTPS', () => {
    const e = compileResponseEdits(
      { request: { set: {}, remove: [] }, response: { set: { 'x-a': 'global', 'x-b': 'global' }, remove: ['x-gone'] }, preset: undefined },
      { request: { set: {}, remove: [] }, response: { set: { 'x-a': 'route', 'x-frame-options': 'SAMEORIGIN' }, remove: ['x-b'] }, preset: 'strict' },
    )!;
    const upstream = ['content-type', 'text/html', 'x-gone', '1', 'x-a', 'upstream', 'referrer-policy', 'no-referrer'];
    const plain = applyResponseEdits(upstream, e, false, null);
    expect(plain).toEqual([
      'content-type', 'text/html', 'referrer-policy', 'no-referrer',
      'x-content-type-options', 'nosniff', 'content-security-policy', "frame-ancestors 'none'",
      'permissions-policy', expect.stringContaining('camera=()'),
      'x-a', 'route', 'x-frame-options', 'SAMEORIGIN',
    ]);
    const tls = applyResponseEdits(upstream, e, true, ['ratelimit', 'x']);
    expect(tls).toContain('strict-transport-security');
    expect(tls.slice(-2)).toEqual(['ratelimit', 'x']);
  });

  test('nothing configured: no edits', () => {
    expect(compileResponseEdits(undefined, undefined)).toBeNull();
    expect(compileRequestEdits(undefined, undefined)).toBeNull();
  });
});

describe('KeyHash', () => {
  test('pieces are separated: "ab"+"c" ≠ "a"+"bc"; tags are never 0', () => {
    const a = new KeyHash().add('ab').add('c');
    const b = new KeyHash().add('a').add('bc');
    expect([a.h, a.t]).not.toEqual([b.h, b.t]);
    for (let i = 0; i < 10_000; i++) expect(new KeyHash().add(`k${i}`).tag).not.toBe(0);
  });
});
