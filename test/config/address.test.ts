import { describe, expect, test } from 'vitest';
import { checkRoutePath, parseCidr, parseHostPattern, parseListen, parseTarget } from '../../src/config/address.js';

describe('parseListen', () => {
  test.each([
    ['0.0.0.0:8080', { host: '0.0.0.0', port: 8080 }],
    [':8080', { host: '0.0.0.0', port: 8080 }],
    ['8080', { host: '0.0.0.0', port: 8080 }],
    [8080, { host: '0.0.0.0', port: 8080 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[::]:443', { host: '::', port: 443 }],
    ['localhost:8080', { host: 'localhost', port: 8080 }],
    ['LOCALHOST:1', { host: 'localhost', port: 1 }],
    ['127.0.0.1:65535', { host: '127.0.0.1', port: 65535 }],
  ])('%j → %j', (input, address) => {
    expect(parseListen(input)).toEqual(address);
  });

  test.each([
    ['127.0.0.1', 'missing port'],
    [':0', 'out of range'],
    [':65536', 'out of range'],
    ['example.com:80', 'must be an IP address or localhost'],
    ['::1:8080', 'IPv6 addresses need brackets: "[::1]:8080"'],
    ['[1.2.3.4]:80', 'not an IPv6 address'],
    [':http', 'invalid port'],
  ])('%j is refused: %s', (input, message) => {
    expect(parseListen(input)).toEqual({ error: expect.stringContaining(message) });
  });
});

// Each message says what is wrong with the shape, never suggests a nonsense fix.
describe('parseListen messages', () => {
  test.each([
    ['[::1]', 'missing port in "[::1]" (e.g. "[::1]:8080")'],
    ['[::1]:', 'missing port after ":" in "[::1]:"'],
    ['127.0.0.1:', 'missing port after ":" in "127.0.0.1:"'],
    ['::1', 'missing port: an IPv6 address needs brackets and a port, as in "[::1]:8080"'],
    ['fe80::1', 'missing port: an IPv6 address needs brackets and a port, as in "[fe80::1]:8080"'],
    ['127.0.0.1:80:80', '"127.0.0.1:80:80" is not an address: too many ":" (e.g. "127.0.0.1:8080", ":8080" or "[::1]:8080")'],
    ['[::1', 'unclosed "[" in "[::1" (write IPv6 addresses as "[::1]:8080")'],
    ['[::1]8080', 'expected ":port" after "]" in "[::1]8080"'],
    ['::1]:80', '"]" without "[" in "::1]:80" (e.g. "127.0.0.1:8080", ":8080" or "[::1]:8080")'],
    ['[1.2.3.4]:80', '"1.2.3.4" is not an IPv6 address'],
  ])('%j → %j', (input, error) => {
    expect(parseListen(input)).toEqual({ error });
  });
});

describe('parseCidr', () => {
  test.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['192.168.1.7', '192.168.1.7/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['::1', '::1/128'],
    ['FD00::/8', 'fd00::/8'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['::ffff:10.0.0.0/104', '::ffff:10.0.0.0/104'],
  ])('%j → %j', (input, cidr) => {
    expect(parseCidr(input)).toBe(cidr);
  });

  test.each([
    ['10.0.0.0/33', 'invalid prefix length'],
    ['10.0.0.0/x', 'invalid prefix length'],
    ['10.0.0.1/8', 'did you mean "10.0.0.0/8"'],
    ['2001:db8::1/32', 'did you mean "2001:db8::/32"'],
    ['300.1.1.1', 'not an IP address or CIDR'],
    ['example.com', 'not an IP address or CIDR'],
  ])('%j is refused: %s', (input, message) => {
    expect(parseCidr(input)).toEqual({ error: expect.stringContaining(message) });
  });
});

describe('parseTarget', () => {
  test.each([
    ['http://127.0.0.1:3000', { url: 'http://127.0.0.1:3000', host: '127.0.0.1', port: 3000 }],
    ['http://App.Internal:8080/', { url: 'http://App.Internal:8080/', host: 'app.internal', port: 8080 }],
    ['http://backend', { url: 'http://backend', host: 'backend', port: 80 }],
    ['http://[::1]:3000', { url: 'http://[::1]:3000', host: '::1', port: 3000 }],
    ['https://api.internal', { url: 'https://api.internal', host: 'api.internal', port: 443, https: true }],
    ['HTTPS://10.0.0.5:8443', { url: 'HTTPS://10.0.0.5:8443', host: '10.0.0.5', port: 8443, https: true }],
  ])('%j → %j', (input, target) => {
    expect(parseTarget(input)).toEqual(target);
  });

  test.each([
    ['ftp://a', 'unsupported scheme "ftp://" (use http:// or https://)'],
    ['https://a:1/x', 'must not have a path'],
    ['127.0.0.1:3000', 'did you mean "http://127.0.0.1:3000"'],
    ['http://a:1/x', 'must not have a path'],
    ['http://a:1?q', 'must not have a path'],
    ['http://u:p@a:1', 'credentials'],
    ['http://a:0', 'out of range'],
    ['http://a:70000', 'out of range'],
    ['http://:80', 'missing host'],
    ['http://a b:80', 'invalid host'],
  ])('%j is refused: %s', (input, message) => {
    expect(parseTarget(input)).toEqual({ error: expect.stringContaining(message) });
  });

  test.each([
    ['http://[::1', 'unclosed "[" in "http://[::1" (write IPv6 hosts as "http://[::1]:3000")'],
    ['http://[::1:3000', 'unclosed "[" in "http://[::1:3000" (write IPv6 hosts as "http://[::1]:3000")'],
    ['http://[::1]3000', 'expected ":port" after "]" in "http://[::1]3000"'],
    ['http://[::1]:', 'missing port after ":" in "http://[::1]:"'],
    ['http://a:', 'missing port after ":" in "http://a:"'],
    ['http://::1', 'too many ":" in "::1" (write IPv6 hosts in brackets: "http://[::1]:80")'],
    ['http://a:1:2', 'too many ":" in "a:1:2"'],
    ['http://[a.b]:80', '"a.b" is not an IPv6 address'],
  ])('%j → %j', (input, error) => {
    expect(parseTarget(input)).toEqual({ error });
  });
});

describe('parseHostPattern', () => {
  test.each([
    ['api.example.com', 'api.example.com'],
    ['API.Example.COM.', 'api.example.com'],
    ['*.example.com', '*.example.com'],
    ['localhost', 'localhost'],
    ['10.0.0.1', '10.0.0.1'],
  ])('%j → %j', (input, host) => {
    expect(parseHostPattern(input)).toBe(host);
  });

  test.each([
    ['*', 'omit host'],
    ['example.com:8080', 'must not include a port'],
    ['api.*.com', 'wildcard is only allowed as the first label'],
    ['*example.com', 'wildcard is only allowed as the first label'],
    ['exa mple.com', 'invalid host name'],
    ['-bad.com', 'invalid host name'],
  ])('%j is refused: %s', (input, message) => {
    expect(parseHostPattern(input)).toEqual({ error: expect.stringContaining(message) });
  });
});

describe('checkRoutePath', () => {
  test.each([['/'], ['/exact'], ['/prefix/'], ['/users/:id'], ['/users/:id/posts/:post_id'], ['/files/*']])('%j is accepted', (path) => {
    expect(checkRoutePath(path)).toBe(path);
  });

  test.each([
    ['api', 'must start with "/"'],
    ['', 'must start with "/"'],
    ['/a b', 'whitespace'],
    ['/a?b=1', '"?"'],
    ['/files/*/x', '"*" is only allowed'],
    ['/files*', '"*" is only allowed'],
    ['/v1:batch', 'parameter takes a whole segment'],
    ['/:1d', 'parameter takes a whole segment'],
    ['/:id/:id', 'appears twice'],
  ])('%j is refused: %s', (path, message) => {
    expect(checkRoutePath(path)).toEqual({ error: expect.stringContaining(message) });
  });
});
