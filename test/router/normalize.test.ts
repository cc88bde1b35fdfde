// normalizePath: canonical paths, and every way to spell a path that must not reach
// another resource than the one the routes see.

import { describe, expect, test } from 'vitest';
import { normalizePath } from '../../src/router/normalize.js';

describe('normalizePath: canonical paths', () => {
  test.each([
    ['/', '/'],
    ['/a', '/a'],
    ['/a/b/c', '/a/b/c'],
    ['/a/', '/a/'],
    ['/users/42/posts/', '/users/42/posts/'],
    ["/sub-delims!$&'()*+,;=:@", "/sub-delims!$&'()*+,;=:@"],
    ['/a-b_c~d.e', '/a-b_c~d.e'],
    ['/.well-known/acme', '/.well-known/acme'],
    ['/a/..b', '/a/..b'],
    ['/a/b..', '/a/b..'],
    ['/a/...', '/a/...'],
    ['/a;x/b', '/a;x/b'],
    ['/a/..x;/b', '/a/..x;/b'],
    ['/a/b;..', '/a/b;..'],
    ['/a/;../b', '/a/;../b'],
  ])('%s stays %s', (raw, want) => {
    expect(normalizePath(raw)).toBe(want);
  });

  test('an already-canonical path is returned as the same string (fast path)', () => {
    const raw = '/api/v1/users/42';
    expect(Object.is(normalizePath(raw), raw)).toBe(true);
  });
});

describe('normalizePath: rewrites', () => {
  test.each([
    // slashes
    ['//admin', '/admin'],
    ['/a//b', '/a/b'],
    ['/a///b//', '/a/b/'],
    ['///', '/'],
    // dot-segments (RFC 3986 §5.2.4)
    ['/./admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/../a', '/a'],
    ['/../../../etc/passwd', '/etc/passwd'],
    ['/a/b/../../admin', '/admin'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/.', '/a/'],
    ['/..', '/'],
    ['/.', '/'],
    ['/a/..', '/'],
    ['/a//../b', '/b'],
    // escapes of unreserved characters are decoded
    ['/%61dmin', '/admin'],
    ['/%41%42', '/AB'],
    ['/%7euser', '/~user'],
    ['/a%2Db%5Fc%2e', '/a-b_c.'],
    // dot-segments that only appear after decoding
    ['/%2e%2e/admin', '/admin'],
    ['/static/%2e%2e/admin', '/admin'],
    ['/static/%2E%2E/admin', '/admin'],
    ['/.%2E/admin', '/admin'],
    ['/%2e/admin', '/admin'],
    ['/a/%2e%2e', '/'],
    // other escapes keep their bytes, with uppercase hex
    ['/a%2fb', '/a%2Fb'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%5cb', '/a%5Cb'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/%20', '/%20'],
    ['/100%25', '/100%25'],
    ['/%252e%252e/admin', '/%252e%252e/admin'],
    ['/a%3Bb', '/a%3Bb'],
    ['/a/%2F/b', '/a/%2F/b'],
    ['/%2F%2F', '/%2F%2F'],
    ['/a/%2Fb', '/a/%2Fb'],
  ])('%s → %s', (raw, want) => {
    expect(normalizePath(raw)).toBe(want);
  });
});

describe('normalizePath: rejected (400)', () => {
  test.each([
    ['', 'empty'],
    ['a/b', 'no leading slash'],
    ['*', 'asterisk-form'],
    ['http://x/a', 'absolute-form'],
    ['/a b', 'space'],
    ['/a\tb', 'tab'],
    ['/a\x00b', 'raw NUL'],
    ['/a\x7fb', 'DEL'],
    ['/a\r\nb', 'CRLF'],
    ['/a"b', 'double quote'],
    ['/a<b>', 'angle brackets'],
    ['/a\\b', 'backslash'],
    ['/..\\admin', 'backslash traversal'],
    ['/a^b', 'caret'],
    ['/a`b', 'backtick'],
    ['/a{b}', 'braces'],
    ['/a|b', 'pipe'],
    ['/a#b', 'fragment'],
    ['/a[b]', 'square brackets'],
    ['/café', 'non-ASCII'],
    ['/a\u2215b', 'unicode division slash'],
    ['/%zz', 'non-hex escape'],
    ['/%4', 'short escape at end'],
    ['/%4/a', 'short escape before slash'],
    ['/%', 'lone percent'],
    ['/a%g1', 'bad first hex digit'],
    ['/%00', 'encoded NUL'],
    ['/a%00.html', 'encoded NUL mid-segment'],
    ['/static/..%2fadmin', 'encoded slash hides ..'],
    ['/static/..%2Fadmin', 'encoded slash hides .. (upper)'],
    ['/static/%2F..%2Fadmin', 'encoded slashes around ..'],
    ['/static/%2e%2e%2fadmin', 'all encoded'],
    ['/a/.%2Fb', 'encoded slash hides .'],
    ['/a/b%2F..', 'encoded slash then .. at end'],
    ['/a/b%2F.', 'encoded slash then . at end'],
    ['/static/..%5cadmin', 'encoded backslash hides ..'],
    ['/static/%5C..%5Cadmin', 'encoded backslashes around ..'],
    ['/a/%2e%2e%5c', 'encoded dots and backslash'],
    ['/a/.%2e%2F', 'mixed encoded dots and slash'],
    ['/static/..;/admin', 'servlet path parameter on ..'],
    ['/static/..;jsessionid=1/admin', 'servlet path parameter with a value'],
    ['/a/.;x/b', 'servlet path parameter on .'],
    ['/static/%2e%2e;/admin', 'encoded dots with a path parameter'],
    ['/a/b%2F..;x', 'encoded slash then ..;'],
  ])('%j (%s)', (raw) => {
    expect(normalizePath(raw)).toBeNull();
  });
});

describe('normalizePath: properties', () => {
  // Normalising twice changes nothing, so the path we match is the path we forward.
  test.each([
    '/a/./b/../c//d/',
    '/%61%2fb/%2E%2E/c',
    '/caf%c3%a9/%7E',
    '/x/%252e%252e/',
    '/.well-known/./a',
  ])('idempotent on %s', (raw) => {
    const once = normalizePath(raw);
    expect(once).not.toBeNull();
    expect(normalizePath(once!)).toBe(once);
  });
});

describe('normalizePath: random inputs keep the invariants', () => {
  // Inputs from the bytes that matter ('/', '.', '%', hex digits, ';'): whatever comes
  // back is canonical, and no decoding of %2F/%5C (nor dropping ';' params) yields a
  // dot-segment.
  const ALPHABET = ['/', '/', '.', '.', '%', '2', 'e', 'E', 'f', 'F', '5', 'c', 'C', 'a', ';', '0'];
  test.each([11, 22, 33, 44])('seed %i: 5000 inputs', (seed) => {
    let state = seed;
    const rand = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return (state >>> 8) % n;
    };
    let accepted = 0;
    let changed = 0;
    for (let i = 0; i < 5000; i++) {
      let raw = '/';
      for (let k = rand(12); k > 0; k--) raw += ALPHABET[rand(ALPHABET.length)];
      const out = normalizePath(raw);
      if (out === null) continue;
      accepted++;
      if (out !== raw) changed++;
      expect(normalizePath(out), raw).toBe(out);
      expect(out.startsWith('/') && !out.includes('//'), raw).toBe(true);
      // no malformed escape, no escaped unreserved byte left
      expect(/%(?![0-9A-F]{2})|%2[DE]|%3[0-9]|%4[1-9A-F]|%5[0-9AF]|%6[1-9A-F]|%7[0-9AE]/.test(out), raw).toBe(false);
      const asOrigin = out.replace(/%2F|%5C/g, '/').split('/').map((s) => s.split(';')[0]);
      expect(asOrigin.slice(1).some((s) => s === '.' || s === '..'), raw).toBe(false);
    }
    // The invariants were checked on many accepted paths, many of them rewritten.
    expect(accepted).toBeGreaterThan(3000);
    expect(changed).toBeGreaterThan(600);
  });
});
