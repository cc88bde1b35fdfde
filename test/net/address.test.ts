// Address normalisation and the strict IPv4/IPv6 parsers behind it.
import { describe, expect, test } from 'vitest';
import { isIPv4, isIPv6, normalizeAddress } from '../../src/net/address.js';

describe('normalizeAddress', () => {
  test.each([
    // uWS dual-stack forms (shared notes §8)
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'],
    ['0000:0000:0000:0000:0000:FFFF:C0A8:0A01', '192.168.10.1'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'],
    // plain IPv4 untouched
    ['127.0.0.1', '127.0.0.1'],
    ['255.255.255.255', '255.255.255.255'],
    // mapped forms become IPv4
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:7f00:1', '127.0.0.1'],
    ['0:0:0:0:0:ffff:0a00:0001', '10.0.0.1'],
    // RFC 5952: lowercase, no leading zeros, longest zero run, first on tie, no single-group '::'
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::0102:0304', '::102:304'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    // not an address: unchanged
    ['', ''],
    ['not-an-ip', 'not-an-ip'],
    ['1:2:3', '1:2:3'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeAddress(input)).toBe(expected);
  });
});

describe('isIPv4 / isIPv6', () => {
  test.each([
    ['1.2.3.4', true, false],
    ['0.0.0.0', true, false],
    ['255.255.255.255', true, false],
    ['256.1.1.1', false, false],
    ['01.2.3.4', false, false],
    ['1.2.3', false, false],
    ['1.2.3.4.5', false, false],
    ['1.2.3.', false, false],
    ['.1.2.3', false, false],
    ['1..2.3', false, false],
    [' 1.2.3.4', false, false],
    ['::', false, true],
    ['::1', false, true],
    ['1::', false, true],
    ['1:2:3:4:5:6:7:8', false, true],
    ['1:2:3:4:5:6:1.2.3.4', false, true],
    ['::ffff:1.2.3.4', false, true],
    ['1:2:3:4:5:6:7:8:9', false, false],
    ['1:2:3:4:5:6:7', false, false],
    ['1:2:3:4:5:6:7::8', false, false],
    ['1::2::3', false, false],
    [':1::2', false, false],
    ['1::2:', false, false],
    ['12345::', false, false],
    ['g::1', false, false],
    ['1:2:3:4:5:6:7:1.2.3.4', false, false],
    ['::1.2.3', false, false],
    ['[::1]', false, false],
    ['', false, false],
  ])('%s: v4 %s, v6 %s', (input, v4, v6) => {
    expect(isIPv4(input)).toBe(v4);
    expect(isIPv6(input)).toBe(v6);
  });
});

describe('parity with the WHATWG URL IPv6 serializer (RFC 5952 compression)', () => {
  test('random full-form addresses with zero runs normalise like new URL()', () => {
    // Seeded LCG so a failure reproduces.
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
    let checked = 0;
    for (let n = 0; n < 5000; n++) {
      const groups: string[] = [];
      for (let k = 0; k < 8; k++) groups.push(next() % 3 === 0 ? next().toString(16).padStart(4, '0') : '0000');
      const full = groups.join(':');
      if (/^0000:0000:0000:0000:0000:ffff:/.test(full)) continue; // mapped: we print IPv4, URL does not
      const expected = new URL(`http://[${full}]/`).hostname.slice(1, -1);
      expect(normalizeAddress(full)).toBe(expected);
      checked++;
    }
    expect(checked).toBeGreaterThan(4000);
  });
});
