import { describe, expect, test } from 'vitest';

import { ProxyError } from '../../src/errors.js';
import { checkRequestHead, isToken, parseContentLength } from '../../src/http/request-rules.js';

const LIMITS = { max_header_bytes: 8192, max_header_count: 100, max_body_bytes: 1_000_000 };
const H = ['host', 'example.com'];

interface Case {
  name: string;
  method?: string;
  url?: string;
  headers: string[];
  limits?: Partial<typeof LIMITS>;
}

function check(c: Case) {
  return checkRequestHead(c.method ?? 'GET', c.url ?? '/', c.headers, { ...LIMITS, ...c.limits });
}

const VALID: (Case & { framing: { contentLength: number; chunked: boolean } })[] = [
  {
    name: 'browser-like GET',
    headers: [
      'host', 'example.com',
      'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
      'accept', 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
      'accept-language', 'en-US,en;q=0.5',
      'accept-encoding', 'gzip, deflate, br',
      'cookie', 'a=1; b=2',
      'sec-fetch-mode', 'navigate',
    ],
    url: '/path/to/page?x=1&y=%20z',
    framing: { contentLength: -1, chunked: false },
  },
  { name: 'POST with Content-Length', method: 'POST', headers: [...H, 'content-length', '42'], framing: { contentLength: 42, chunked: false } },
  { name: 'Content-Length 0', method: 'POST', headers: [...H, 'content-length', '0'], framing: { contentLength: 0, chunked: false } },
  { name: 'Content-Length with OWS', method: 'POST', headers: [...H, 'content-length', ' 7\t'], framing: { contentLength: 7, chunked: false } },
  { name: 'identical duplicate Content-Length', method: 'PUT', headers: [...H, 'content-length', '5', 'content-length', '5'], framing: { contentLength: 5, chunked: false } },
  { name: 'chunked', method: 'POST', headers: [...H, 'transfer-encoding', 'chunked'], framing: { contentLength: -1, chunked: true } },
  { name: 'Chunked in any case with OWS', method: 'POST', headers: [...H, 'transfer-encoding', ' ChUnKeD '], framing: { contentLength: -1, chunked: true } },
  { name: 'Content-Length exactly max_body_bytes', method: 'POST', headers: [...H, 'content-length', '1000000'], framing: { contentLength: 1_000_000, chunked: false } },
  { name: 'host with port', headers: ['host', 'example.com:8080'], framing: { contentLength: -1, chunked: false } },
  { name: 'IPv4 host', headers: ['host', '127.0.0.1:80'], framing: { contentLength: -1, chunked: false } },
  { name: 'IPv6 literal host', headers: ['host', '[::1]:8443'], framing: { contentLength: -1, chunked: false } },
  { name: 'IPv6 literal host in full form', headers: ['host', '[2001:DB8:0:0:0:0:0:1]'], framing: { contentLength: -1, chunked: false } },
  { name: 'IPv4-mapped IPv6 literal host', headers: ['host', '[::ffff:127.0.0.1]:80'], framing: { contentLength: -1, chunked: false } },
  { name: 'pct-encoded reg-name', headers: ['host', 'ex%41mple.com'], framing: { contentLength: -1, chunked: false } },
  { name: 'HTAB and obs-text in a value', headers: [...H, 'x-a', 'a\tb caf\xe9 \u20ac'], framing: { contentLength: -1, chunked: false } },
  { name: 'empty value', headers: [...H, 'x-empty', ''], framing: { contentLength: -1, chunked: false } },
  { name: 'uppercase names are checked too', headers: ['Host', 'example.com'], framing: { contentLength: -1, chunked: false } },
  { name: 'exotic token method', method: 'PROPFIND', headers: H, framing: { contentLength: -1, chunked: false } },
  { name: 'header count exactly max', headers: [...H, 'a', '1', 'b', '2'], limits: { max_header_count: 3 }, framing: { contentLength: -1, chunked: false } },
  // GET / HTTP/1.1\r\n = 16; host: example.com\r\n = 19; the blank line \r\n = 2 → 37.
  { name: 'head bytes exactly max', headers: H, limits: { max_header_bytes: 37 }, framing: { contentLength: -1, chunked: false } },
];

const INVALID: (Case & { code: string })[] = [
  // framing: smuggling shapes
  { name: 'CL then TE', method: 'POST', headers: [...H, 'content-length', '5', 'transfer-encoding', 'chunked'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE then CL', method: 'POST', headers: [...H, 'transfer-encoding', 'chunked', 'content-length', '5'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE identity with CL', method: 'POST', headers: [...H, 'transfer-encoding', 'identity', 'content-length', '5'], code: 'PC_ERR_SMUGGLING' },
  { name: 'differing duplicate CL', method: 'POST', headers: [...H, 'content-length', '5', 'content-length', '6'], code: 'PC_ERR_SMUGGLING' },
  { name: 'CL list of differing values', method: 'POST', headers: [...H, 'content-length', '5, 6'], code: 'PC_ERR_SMUGGLING' },
  { name: 'CL list then a differing single', method: 'POST', headers: [...H, 'content-length', '5', 'content-length', '05, 6'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE gzip, chunked', method: 'POST', headers: [...H, 'transfer-encoding', 'gzip, chunked'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE chunked, chunked', method: 'POST', headers: [...H, 'transfer-encoding', 'chunked, chunked'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE identity', method: 'POST', headers: [...H, 'transfer-encoding', 'identity'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE chunked;x', method: 'POST', headers: [...H, 'transfer-encoding', 'chunked;x'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE chunked with a trailing comma', method: 'POST', headers: [...H, 'transfer-encoding', 'chunked,'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE xchunked', method: 'POST', headers: [...H, 'transfer-encoding', 'xchunked'], code: 'PC_ERR_SMUGGLING' },
  { name: 'TE empty', method: 'POST', headers: [...H, 'transfer-encoding', ''], code: 'PC_ERR_SMUGGLING' },
  { name: 'two TE fields', method: 'POST', headers: [...H, 'transfer-encoding', 'chunked', 'transfer-encoding', 'chunked'], code: 'PC_ERR_SMUGGLING' },
  { name: 'mixed-case TE name with CL', method: 'POST', headers: [...H, 'Transfer-Encoding', 'chunked', 'content-length', '1'], code: 'PC_ERR_SMUGGLING' },
  // Content-Length syntax
  { name: 'CL 5x', method: 'POST', headers: [...H, 'content-length', '5x'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'CL +5', method: 'POST', headers: [...H, 'content-length', '+5'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'CL -1', method: 'POST', headers: [...H, 'content-length', '-1'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'CL empty', method: 'POST', headers: [...H, 'content-length', ''], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'CL hex', method: 'POST', headers: [...H, 'content-length', '0x10'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'CL 1 000', method: 'POST', headers: [...H, 'content-length', '1 000'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'CL identical list 5, 5', method: 'POST', headers: [...H, 'content-length', '5, 5'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'CL beyond 2^53', method: 'POST', headers: [...H, 'content-length', '99999999999999999999'], code: 'PC_ERR_BAD_REQUEST' },
  // field syntax
  { name: 'space in a name', headers: [...H, 'bad name', 'x'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'colon in a name', headers: [...H, 'a:b', 'x'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'empty name', headers: [...H, '', 'x'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'non-latin1 name', headers: [...H, 'x-\u20ac', 'x'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'CR in a value', headers: [...H, 'x-a', 'a\rb'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'LF in a value', headers: [...H, 'x-a', 'a\nInjected: 1'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'CRLF in a value', headers: [...H, 'x-a', 'a\r\nInjected: 1'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'NUL in a value', headers: [...H, 'x-a', 'a\0b'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'other CTL in a value', headers: [...H, 'x-a', 'a\x1bb'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'DEL in a value', headers: [...H, 'x-a', 'a\x7fb'], code: 'PC_ERR_BAD_HEADER' },
  // Host
  { name: 'two Host fields', headers: [...H, 'host', 'example.com'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'two different Host fields', headers: [...H, 'host', 'evil.com'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'no Host', headers: ['accept', '*/*'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'empty Host', headers: ['host', ''], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'Host with a space', headers: ['host', 'a b'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'Host with userinfo', headers: ['host', 'user@example.com'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'Host with a path', headers: ['host', 'example.com/x'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'Host list', headers: ['host', 'a.com, b.com'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'Host with a bad port', headers: ['host', 'example.com:80x'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'Host with an empty port', headers: ['host', 'example.com:'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'Host port over 65535', headers: ['host', 'example.com:65536'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'Host with only a port', headers: ['host', ':80'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'unterminated IPv6 literal', headers: ['host', '[::1'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'IPv6 literal with three colons', headers: ['host', '[:::1]'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'IPv6 literal with two "::"', headers: ['host', '[1::2::3]:80'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'IPv6 literal of nine groups', headers: ['host', '[1:2:3:4:5:6:7:8:9]'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'IPv4 address in brackets', headers: ['host', '[1.2.3.4]'], code: 'PC_ERR_BAD_REQUEST' },
  { name: 'control byte in Host (a field value\'s rule: docs/limits.md)', headers: ['host', 'a\x7f.test'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'NUL in Host', headers: ['host', 'a\x00b'], code: 'PC_ERR_BAD_HEADER' },
  { name: 'bad pct-encoding in Host', headers: ['host', 'a%zz'], code: 'PC_ERR_BAD_REQUEST' },
  // request line
  { name: 'absolute-form target', url: 'http://example.com/', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'asterisk-form target', method: 'OPTIONS', url: '*', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'empty target', url: '', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'space in target', url: '/a b', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'CTL in target', url: '/a\r\nb', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'fragment in target', url: '/a#b', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'raw non-ASCII in target', url: '/caf\xe9', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'method with a space', method: 'GE T', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'empty method', method: '', headers: H, code: 'PC_ERR_BAD_REQUEST' },
  { name: 'odd header list', headers: ['host'], code: 'PC_ERR_BAD_REQUEST' },
  // sizes
  { name: 'header count over max', headers: [...H, 'a', '1', 'b', '2'], limits: { max_header_count: 2 }, code: 'PC_ERR_HEADERS_TOO_LARGE' },
  { name: 'head bytes one over max', headers: H, limits: { max_header_bytes: 36 }, code: 'PC_ERR_HEADERS_TOO_LARGE' },
  { name: 'long target counts', url: '/' + 'a'.repeat(9000), headers: H, code: 'PC_ERR_HEADERS_TOO_LARGE' },
  { name: 'declared body over max', method: 'POST', headers: [...H, 'content-length', '1000001'], code: 'PC_ERR_BODY_TOO_LARGE' },
];

describe('checkRequestHead', () => {
  test.each(VALID)('accepts $name', (c) => {
    expect(check(c)).toEqual(c.framing);
  });

  test.each(INVALID)('rejects $name with $code', (c) => {
    const r = check(c);
    expect(r).toBeInstanceOf(ProxyError);
    expect((r as ProxyError).code).toBe(c.code);
  });

  test('body-less results are shared objects (no allocation on the common path)', () => {
    expect(check({ name: '', headers: H })).toBe(check({ name: '', headers: [...H, 'accept', '*/*'] }));
  });
});

describe('isToken', () => {
  test.each([
    ['GET', true],
    ['x-custom_header.v1', true],
    ["!#$%&'*+-.^_`|~09azAZ", true],
    ['', false],
    ['a b', false],
    ['a:b', false],
    ['a"b', false],
    ['a(b)', false],
    ['caf\xe9', false],
    ['\u20ac', false],
  ])('%j → %s', (s, ok) => {
    expect(isToken(s)).toBe(ok);
  });
});

describe('parseContentLength', () => {
  test.each([
    ['0', 0],
    ['42', 42],
    ['007', 7],
    [' 13\t', 13],
    ['9007199254740991', 9007199254740991],
    ['9007199254740992', -1],
    ['', -1],
    [' ', -1],
    ['1a', -1],
    ['-1', -1],
    ['+1', -1],
    ['1.5', -1],
    ['5, 5', -1],
  ])('%j → %s', (s, n) => {
    expect(parseContentLength(s)).toBe(n);
  });
});
