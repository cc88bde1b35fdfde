// Host header normalisation, route host patterns and the host precedence table.

import { describe, expect, test, vi } from 'vitest';
import { HostTable, normalizeHost, parseHostPattern, type HostPattern } from '../../src/router/host.js';

describe('normalizeHost', () => {
  test.each([
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['EXAMPLE.com:443', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:80', 'example.com'],
    ['example.com:', 'example.com'],
    ['localhost', 'localhost'],
    ['my_service.internal', 'my_service.internal'],
    ['a-b.c-d.example', 'a-b.c-d.example'],
    ['127.0.0.1', '127.0.0.1'],
    ['127.0.0.1:3000', '127.0.0.1'],
    ['[::1]', '[::1]'],
    ['[::1]:8080', '[::1]'],
    ['[2001:DB8::1]:443', '[2001:db8::1]'],
    ['[::ffff:192.0.2.1]', '[::ffff:192.0.2.1]'],
  ])('%j → %j', (raw, want) => {
    expect(normalizeHost(raw)).toBe(want);
  });

  test('an already-canonical host is returned as the same string', () => {
    const raw = 'api.example.com';
    expect(Object.is(normalizeHost(raw), raw)).toBe(true);
  });

  test.each([
    ['', 'empty'],
    ['.', 'only a dot'],
    ['example.com..', 'two trailing dots'],
    ['.example.com', 'leading dot'],
    ['a..b', 'empty label'],
    ['exa mple.com', 'space'],
    ['example.com/evil', 'slash'],
    ['user@example.com', 'userinfo'],
    ['example.com:80:80', 'two ports'],
    ['example.com:http', 'named port'],
    ['example.com:123456', 'port too long'],
    ['::1', 'unbracketed IPv6'],
    ['[::1', 'unclosed bracket'],
    ['[::1]x', 'junk after bracket'],
    ['[::1]:x', 'bad port after bracket'],
    ['[fe80::1%25eth0]', 'zone id'],
    ['[g::1]', 'non-hex in IPv6'],
    ['[1]', 'not IPv6'],
    ['exämple.com', 'non-ASCII'],
    ['*.example.com', 'star'],
    ['example.com\r\n', 'CRLF'],
  ])('%j is rejected (%s)', (raw) => {
    expect(normalizeHost(raw)).toBeNull();
  });
});

describe('parseHostPattern', () => {
  test.each<[string | undefined, HostPattern | null]>([
    [undefined, { kind: 'any' }],
    ['*', { kind: 'any' }],
    ['api.example.com', { kind: 'exact', host: 'api.example.com' }],
    ['API.Example.com.', { kind: 'exact', host: 'api.example.com' }],
    ['[::1]', { kind: 'exact', host: '[::1]' }],
    ['*.example.com', { kind: 'wildcard', suffix: 'example.com' }],
    ['*.Example.COM', { kind: 'wildcard', suffix: 'example.com' }],
    ['*.com', { kind: 'wildcard', suffix: 'com' }],
    ['example.com:8080', null],
    ['*.example.com:8080', null],
    ['a.*.example.com', null],
    ['*example.com', null],
    ['*.', null],
    ['*.[::1]', null],
    ['', null],
    ['bad host', null],
  ])('%j → %j', (pattern, want) => {
    expect(parseHostPattern(pattern)).toEqual(want);
  });
});

describe('HostTable.resolve: precedence', () => {
  const table = new HostTable<string>();
  table.set({ kind: 'exact', host: 'api.example.com' }, 'exact api');
  table.set({ kind: 'wildcard', suffix: 'example.com' }, 'wild example.com');
  table.set({ kind: 'wildcard', suffix: 'b.example.com' }, 'wild b.example.com');
  table.set({ kind: 'any' }, 'any');
  const all = (host: string): string[] => {
    const seen: string[] = [];
    table.resolve(host, (v: string, acc: string[]) => (acc.push(v), null), seen);
    return seen;
  };

  test.each([
    ['api.example.com', ['exact api', 'wild example.com', 'any']],
    ['a.example.com', ['wild example.com', 'any']],
    ['x.a.example.com', ['wild example.com', 'any']],
    ['x.b.example.com', ['wild b.example.com', 'wild example.com', 'any']],
    ['b.example.com', ['wild example.com', 'any']],
    ['example.com', ['any']],
    ['notexample.com', ['any']],
    ['other.org', ['any']],
  ])('%s visits %j in order', (host, want) => {
    expect(all(host)).toEqual(want);
  });

  test('stops at the first non-null answer', () => {
    expect(table.resolve('api.example.com', (v: string) => (v.startsWith('wild') ? v : null), 0)).toBe(
      'wild example.com',
    );
  });
});

describe('host length bounds (issue 9: a 16 KB Host of a.a.a…com cost 83 ms per request)', () => {
  const labels = (n: number, tail = 'com'): string => `${'a.'.repeat(n - 1)}${tail}`;

  test('a 253-character name passes; 254 characters are refused, with or without a port', () => {
    const ok = `${'a'.repeat(249)}.com`;
    expect(ok.length).toBe(253);
    expect(normalizeHost(ok)).toBe(ok);
    expect(normalizeHost(`${ok}.`)).toBe(ok); // the root's dot does not count
    expect(normalizeHost(`b${ok}`)).toBeNull();
    expect(normalizeHost(`b${ok}:8080`)).toBeNull();
  });

  test('127 labels pass, 128 are refused (each label one character)', () => {
    expect(normalizeHost(`${'a.'.repeat(126)}a`)).not.toBeNull();
    expect(normalizeHost(`${'a.'.repeat(127)}a`)).toBeNull();
    expect(normalizeHost(labels(8000))).toBeNull();
  });

  test('wildcards are looked up by their own suffix lengths, not at every dot of the request host', () => {
    const table = new HostTable<string>();
    table.set({ kind: 'exact', host: 'api.example.com' }, 'exact');
    table.set({ kind: 'wildcard', suffix: 'a.com' }, 'wild a.com');
    table.set({ kind: 'wildcard', suffix: 'example.com' }, 'wild example.com');
    const get = vi.spyOn(Map.prototype, 'get');
    try {
      const seen: string[] = [];
      table.resolve(labels(127), (v: string, acc: string[]) => (acc.push(v), null), seen);
      expect(seen).toEqual(['wild a.com']);
      // One exact lookup and one per configured suffix length that fits: never one per label.
      expect(get.mock.calls.length).toBeLessThanOrEqual(3);
    } finally {
      get.mockRestore();
    }
    expect(table.resolve('x.y.example.com', (v: string) => v, 0)).toBe('wild example.com');
  });
});
