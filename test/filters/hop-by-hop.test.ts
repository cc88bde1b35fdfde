// Hop-by-hop header removal (RFC 9110 §7.6.1).
import { describe, expect, test } from 'vitest';
import { isHopByHop, parseConnectionTokens, stripHopByHop } from '../../src/filters/hop-by-hop.js';

describe('isHopByHop', () => {
  test.each([
    ['connection', true], ['keep-alive', true], ['te', true], ['trailer', true], ['transfer-encoding', true],
    ['upgrade', true], ['proxy-connection', true], ['proxy-authorization', true], ['proxy-authenticate', true],
    ['http2-settings', true],
    ['host', false], ['content-length', false], ['authorization', false], ['www-authenticate', false],
    ['trailers', false], ['tee', false], ['x-forwarded-for', false], ['', false], ['upgrade-insecure-requests', false],
  ])('%s → %s', (name, expected) => {
    expect(isHopByHop(name)).toBe(expected);
  });
});

describe('parseConnectionTokens', () => {
  test.each<[string, string[]]>([
    ['close', ['close']],
    ['Keep-Alive, Upgrade', ['keep-alive', 'upgrade']],
    [' X-Foo ,\tx-bar\t', ['x-foo', 'x-bar']],
    [',, ,a,', ['a']],
    ['', []],
    ['bad token, ok, "quoted", x(y)', ['ok']],
  ])('%j → %j', (value, expected) => {
    expect(parseConnectionTokens(value)).toEqual(expected);
  });
});

describe('stripHopByHop', () => {
  test.each<[string, string[], readonly string[] | null, string[]]>([
    ['keeps end-to-end fields untouched and in order',
      ['host', 'a', 'accept', '*/*', 'set-cookie', '1', 'set-cookie', '2'], null,
      ['host', 'a', 'accept', '*/*', 'set-cookie', '1', 'set-cookie', '2']],
    ['drops every always-hop-by-hop field',
      ['connection', 'keep-alive', 'keep-alive', 'timeout=5', 'te', 'trailers', 'trailer', 'x', 'transfer-encoding', 'chunked',
        'upgrade', 'websocket', 'proxy-connection', 'close', 'proxy-authorization', 'Basic x', 'proxy-authenticate', 'Basic',
        'http2-settings', 'AAA', 'accept', '*/*'], null,
      ['accept', '*/*']],
    ['drops fields named in Connection',
      ['connection', 'close, X-Secret', 'x-secret', '1', 'x-other', '2'], null,
      ['x-other', '2']],
    ['Connection tokens from repeated Connection lines all apply',
      ['connection', 'x-a', 'x-a', '1', 'connection', 'x-b', 'x-b', '2', 'x-c', '3'], null,
      ['x-c', '3']],
    ['Connection cannot remove host or content-length',
      ['connection', 'host, content-length, authorization', 'host', 'h', 'content-length', '3', 'authorization', 'x'], null,
      ['host', 'h', 'content-length', '3']],
    ['extra tokens are removed too',
      ['x-internal', '1', 'accept', '*/*', 'server', 'x'], ['x-internal', 'server'],
      ['accept', '*/*']],
    ['empty input', [], null, []],
  ])('%s', (_name, headers, extra, expected) => {
    const before = headers.slice();
    const out = stripHopByHop(headers, extra);
    expect(out).toEqual(expected);
    expect(out).not.toBe(headers);
    expect(headers).toEqual(before);
  });
});
