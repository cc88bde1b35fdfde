// CIDR parsing for config validation and the compiled matcher used per request.
import { describe, expect, test } from 'vitest';
import { compileCidrs, parseCidr } from '../../src/net/cidr.js';

describe('parseCidr', () => {
  test.each([
    ['10.0.0.0/8', 4, 8, '10.0.0.0/8', false],
    ['192.168.1.5', 4, 32, '192.168.1.5/32', false],
    ['10.1.2.3/8', 4, 8, '10.0.0.0/8', true],
    ['0.0.0.0/0', 4, 0, '0.0.0.0/0', false],
    ['::1', 6, 128, '::1/128', false],
    ['fd00::/8', 6, 8, 'fd00::/8', false],
    ['2001:DB8::/32', 6, 32, '2001:db8::/32', false],
    ['2001:db8::1/32', 6, 32, '2001:db8::/32', true],
    ['::/0', 6, 0, '::/0', false],
    ['::ffff:10.0.0.0/104', 4, 8, '10.0.0.0/8', false],
    ['::ffff:1.2.3.4', 4, 32, '1.2.3.4/32', false],
  ])('%s → family %i /%i %s (host bits %s)', (input, family, prefix, text, hostBits) => {
    expect(parseCidr(input)).toMatchObject({ family, prefix, text, hostBits });
  });

  test.each([
    '', '/8', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0.0/8/8',
    '10.0.0/8', '::1/129', '::1/1000', 'fd00::/8x', 'localhost', '10.0.0.0 /8', ' 10.0.0.0/8',
  ])('rejects %j', (input) => {
    expect(parseCidr(input)).toBeNull();
  });
});

describe('compileCidrs', () => {
  test('empty list never matches', () => {
    const m = compileCidrs([]);
    expect([m('127.0.0.1'), m('::1'), m('')]).toEqual([false, false, false]);
  });

  test('invalid entry throws at compile time', () => {
    expect(() => compileCidrs(['10.0.0.0/8', 'nope'])).toThrow(/invalid CIDR "nope"/);
  });

  test.each<[string[], string, boolean]>([
    // IPv4 edges
    [['10.0.0.0/8'], '10.0.0.0', true],
    [['10.0.0.0/8'], '10.255.255.255', true],
    [['10.0.0.0/8'], '11.0.0.0', false],
    [['10.0.0.0/8'], '9.255.255.255', false],
    [['192.168.1.5'], '192.168.1.5', true],
    [['192.168.1.5'], '192.168.1.4', false],
    [['192.168.1.5/32'], '192.168.1.6', false],
    [['192.168.1.4/31'], '192.168.1.4', true],
    [['192.168.1.4/31'], '192.168.1.5', true],
    [['192.168.1.4/31'], '192.168.1.6', false],
    [['192.168.1.4/31'], '192.168.1.3', false],
    [['0.0.0.0/0'], '255.255.255.255', true],
    [['0.0.0.0/0'], '::1', false],
    [['128.0.0.0/1'], '200.1.1.1', true],
    [['128.0.0.0/1'], '127.255.255.255', false],
    [['255.255.255.255/32'], '255.255.255.255', true],
    // IPv6 edges
    [['::1'], '::1', true],
    [['::1'], '0000:0000:0000:0000:0000:0000:0000:0001', true],
    [['::1'], '::2', false],
    [['fd00::/8'], 'fdab:1::1', true],
    [['fd00::/8'], 'fc00::1', false],
    [['2001:db8::/32'], '2001:db8:ffff::1', true],
    [['2001:db8::/32'], '2001:db9::1', false],
    [['2001:db8::/33'], '2001:db8:7fff::1', true],
    [['2001:db8::/33'], '2001:db8:8000::1', false],
    [['2001:db8::1:0/127'], '2001:db8::1:1', true],
    [['2001:db8::1:0/127'], '2001:db8::1:2', false],
    [['2001:db8::5/128'], '2001:db8::5', true],
    [['2001:db8::5/128'], '2001:db8::4', false],
    [['::/0'], 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    [['::/0'], '10.0.0.1', false],
    [['8000::/1'], 'ffff::', true],
    [['8000::/1'], '7fff::', false],
    // IPv4-mapped IPv6 addresses are IPv4
    [['127.0.0.0/8'], '0000:0000:0000:0000:0000:ffff:7f00:0001', true],
    [['10.0.0.0/8'], '::ffff:10.9.8.7', true],
    [['10.0.0.0/8'], '::ffff:11.9.8.7', false],
    [['::ffff:10.0.0.0/104'], '10.1.1.1', true],
    [['::/0'], '::ffff:10.1.1.1', false],
    // mixed lists and garbage input
    [['10.0.0.0/8', 'fd00::/8'], 'fd00::1', true],
    [['10.0.0.0/8', 'fd00::/8'], '10.0.0.1', true],
    [['10.0.0.0/8', 'fd00::/8'], '172.16.0.1', false],
    [['10.0.0.0/8'], '', false],
    [['10.0.0.0/8'], '10.0.0.1:80', false],
    [['0.0.0.0/0', '::/0'], 'unknown', false],
  ])('%j matches %s: %s', (list, ip, expected) => {
    expect(compileCidrs(list)(ip)).toBe(expected);
  });
});
