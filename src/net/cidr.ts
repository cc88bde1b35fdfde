// CIDR lists (trusted proxies, IP policies): parsed and compiled at config time into
// a matcher over uint32 words, so a request costs one address parse and a few ANDs.

import { formatIPv4, formatIPv6, isMappedIPv4, parseIPv4, parseIPv6 } from './address.js';

/** True when `ip` (canonical or any valid IPv4/IPv6 text) falls in the compiled list. */
export type CidrMatcher = (ip: string) => boolean;

export interface Cidr {
  readonly family: 4 | 6;
  /** 0–32 for IPv4, 0–128 for IPv6. */
  readonly prefix: number;
  /** Network address with host bits cleared: 1 word (IPv4) or 4 words (IPv6, big-endian word order). */
  readonly network: readonly number[];
  /** Canonical text, e.g. "10.0.0.0/8", "2001:db8::/32". */
  readonly text: string;
  /** The input had bits set below the prefix ("10.0.0.1/8"); they are ignored, config may warn. */
  readonly hostBits: boolean;
}

const scratch = new Uint16Array(8);

function mask32(bits: number): number {
  // `x << 32` is `x << 0` in JS, so the two ends are spelled out.
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses "a.b.c.d[/n]" or "ipv6[/n]"; a bare address is /32 or /128. Null on bad input. */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/');
  const addrEnd = slash < 0 ? s.length : slash;
  let prefix = -1;
  if (slash >= 0) {
    const digits = s.length - slash - 1;
    if (digits < 1 || digits > 3) return null;
    if (digits > 1 && s.charCodeAt(slash + 1) === 48) return null; // no leading zeros
    prefix = 0;
    for (let i = slash + 1; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) return null;
      prefix = prefix * 10 + (c - 48);
    }
  }

  const v4 = parseIPv4(s, 0, addrEnd);
  if (v4 >= 0) {
    if (prefix < 0) prefix = 32;
    if (prefix > 32) return null;
    return v4Cidr(v4, prefix);
  }
  if (!parseIPv6(s, 0, addrEnd, scratch)) return null;
  if (prefix < 0) prefix = 128;
  if (prefix > 128) return null;
  // An IPv4-mapped rule is an IPv4 rule: the matcher sees mapped peers as IPv4.
  if (prefix >= 96 && isMappedIPv4(scratch)) return v4Cidr(scratch[6]! * 65536 + scratch[7]!, prefix - 96);

  const network: number[] = [];
  let hostBits = false;
  for (let w = 0; w < 4; w++) {
    const word = (scratch[2 * w]! * 65536 + scratch[2 * w + 1]!) >>> 0;
    const m = mask32(prefix - 32 * w);
    const net = (word & m) >>> 0;
    if (net !== word) hostBits = true;
    network.push(net);
  }
  for (let w = 0; w < 4; w++) {
    scratch[2 * w] = network[w]! >>> 16;
    scratch[2 * w + 1] = network[w]! & 0xffff;
  }
  return { family: 6, prefix, network, text: `${formatIPv6(scratch)}/${prefix}`, hostBits };
}

function v4Cidr(addr: number, prefix: number): Cidr {
  const net = (addr & mask32(prefix)) >>> 0;
  return { family: 4, prefix, network: [net], text: `${formatIPv4(net)}/${prefix}`, hostBits: net !== addr };
}

const never: CidrMatcher = () => false;

/**
 * Compiles a CIDR list into a matcher. IPv4-mapped IPv6 addresses are matched as
 * IPv4, so `10.0.0.0/8` covers `::ffff:10.1.2.3`; IPv6 rules (even `::/0`) never
 * match IPv4. Throws on an invalid entry: validate with parseCidr first.
 */
export function compileCidrs(list: readonly string[]): CidrMatcher {
  const v4: Cidr[] = [];
  const v6: Cidr[] = [];
  for (const entry of list) {
    const c = parseCidr(entry.trim());
    if (c === null) throw new TypeError(`invalid CIDR "${entry}"`);
    (c.family === 4 ? v4 : v6).push(c);
  }
  if (v4.length === 0 && v6.length === 0) return never;

  const v4Any = v4.some((c) => c.prefix === 0);
  const v6Any = v6.some((c) => c.prefix === 0);
  // Interleaved [net, mask] pairs; Int32Array because `^`/`&` work in int32 anyway.
  const v4Rules = new Int32Array(v4.length * 2);
  v4.forEach((c, k) => {
    v4Rules[2 * k] = c.network[0]!;
    v4Rules[2 * k + 1] = mask32(c.prefix);
  });
  // Per rule: 4 network words then 4 mask words.
  const v6Rules = new Int32Array(v6.length * 8);
  v6.forEach((c, k) => {
    for (let w = 0; w < 4; w++) {
      v6Rules[8 * k + w] = c.network[w]!;
      v6Rules[8 * k + 4 + w] = mask32(c.prefix - 32 * w);
    }
  });
  const g = new Uint16Array(8);

  const matchV4 = (addr: number): boolean => {
    if (v4Any) return true;
    for (let k = 0; k < v4Rules.length; k += 2) {
      if (((addr ^ v4Rules[k]!) & v4Rules[k + 1]!) === 0) return true;
    }
    return false;
  };

  // Hot path: one parse into a reused buffer, then word compares.
  return (ip: string): boolean => {
    const a = parseIPv4(ip);
    if (a >= 0) return matchV4(a);
    if (!parseIPv6(ip, 0, ip.length, g)) return false;
    if (isMappedIPv4(g)) return matchV4(g[6]! * 65536 + g[7]!);
    if (v6Any) return true;
    const w0 = (g[0]! << 16) | g[1]!;
    const w1 = (g[2]! << 16) | g[3]!;
    const w2 = (g[4]! << 16) | g[5]!;
    const w3 = (g[6]! << 16) | g[7]!;
    for (let k = 0; k < v6Rules.length; k += 8) {
      if (
        ((w0 ^ v6Rules[k]!) & v6Rules[k + 4]!) === 0 &&
        ((w1 ^ v6Rules[k + 1]!) & v6Rules[k + 5]!) === 0 &&
        ((w2 ^ v6Rules[k + 2]!) & v6Rules[k + 6]!) === 0 &&
        ((w3 ^ v6Rules[k + 3]!) & v6Rules[k + 7]!) === 0
      ) return true;
    }
    return false;
  };
}
