// The access log's combined/common lines and the error log's lines, as pure functions.
import { describe, expect, test } from 'vitest';
import { combinedLine, commonLine, escapeField, timeLocal } from '../../src/observe/access-log.js';
import { errorLine } from '../../src/observe/error-log.js';
import { Exchange } from '../../src/exchange.js';
import { ProxyError } from '../../src/errors.js';

function exchange(headers: string[] = [], status = 200): Exchange {
  const ex = new Exchange({ method: 'GET', rawPath: '/p', query: 'q=1', headers, peerIp: '203.0.113.9', proxiedIp: '', scheme: 'http' }, 0);
  ex.status = status;
  ex.responseBytes = 42;
  ex.clientIp = '198.51.100.1';
  ex.requestId = 'rid-1';
  ex.host = 'example.com';
  return ex;
}

describe('access log lines', () => {
  test.each([
    ['plain', 'Mozilla/5.0', 'Mozilla/5.0'],
    ['a double quote cannot end the field', 'a"b', 'a\\x22b'],
    ['a backslash cannot start an escape', 'a\\b', 'a\\x5Cb'],
    ['a newline cannot start a forged line', 'a\nb\r', 'a\\x0Ab\\x0D'],
    ['UTF-8 is escaped byte by byte', 'é', '\\xC3\\xA9'],
    ['absent', undefined, '-'],
    ['empty', '', '-'],
  ])('escapeField: %s', (_name, value, expected) => {
    expect(escapeField(value)).toBe(expected);
  });

  test('timeLocal is nginx\'s $time_local', () => {
    expect(timeLocal(Date.UTC(2000, 9, 10, 13, 55, 36))).toMatch(/^\d{2}\/Oct\/2000:\d{2}:\d{2}:36 [+-]\d{4}$/);
  });

  test('common and combined lines', () => {
    const ex = exchange(['referer', 'http://r/', 'user-agent', 'ua']);
    expect(commonLine(ex, 0)).toMatch(/^198\.51\.100\.1 - - \[[^\]]+\] "GET \/p\?q=1 HTTP\/1\.1" 200 42$/);
    expect(combinedLine(ex, 0)).toMatch(/ 200 42 "http:\/\/r\/" "ua"$/);
  });
});

describe('error lines', () => {
  test('an upstream failure is a warning with the request id', () => {
    const ex = exchange([], 502);
    ex.error = new ProxyError('PC_ERR_UPSTREAM_CONNECT', 'connect ECONNREFUSED\r\n127.0.0.1:1');
    expect(errorLine(ex, 'info')).toBe('portcullis: warn: request rid-1: upstream connection failed: connect ECONNREFUSED 127.0.0.1:1 (PC_ERR_UPSTREAM_CONNECT) GET example.com/p client=198.51.100.1 status=502\n');
    expect(errorLine(ex, 'warn')).not.toBeNull();
    expect(errorLine(ex, 'error')).toBeNull();
  });

  test('an internal error is an error line; a client mistake is none', () => {
    const ex = exchange([], 500);
    ex.error = new ProxyError('PC_ERR_INTERNAL', 'boom');
    expect(errorLine(ex, 'error')).toMatch(/^portcullis: error: request rid-1: internal proxy error: boom \(PC_ERR_INTERNAL\)/);
    ex.error = new ProxyError('PC_ERR_BAD_PATH');
    expect(errorLine(ex, 'debug')).toBeNull();
  });
});
