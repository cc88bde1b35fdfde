// Client identity and outgoing X-Forwarded-*/Forwarded, believed only from trusted proxies.
import { describe, expect, test } from 'vitest';
import { makeRng } from '../helpers/prng.js';
import { forwardedHeaders, resolveIdentity, type ClientIdentity, type ForwardedHeaders, type IdentityInput } from '../../src/identity/identity.js';
import { compileCidrs } from '../../src/net/cidr.js';

const trusted = compileCidrs(['10.0.0.0/8', 'fd00::/8']);

function input(over: Partial<IdentityInput>): IdentityInput {
  return {
    peerIp: '203.0.113.9',
    proxiedIp: '',
    scheme: 'http',
    host: 'example.com',
    xForwardedFor: undefined,
    xForwardedProto: undefined,
    xForwardedHost: undefined,
    forwarded: undefined,
    ...over,
  };
}

interface Row {
  name: string;
  in: Partial<IdentityInput>;
  id: ClientIdentity;
  out: HopHeaders;
}

/** The header values per row; xRealIp and hopTrusted follow from the row's identity and peer. */
type HopHeaders = Omit<ForwardedHeaders, 'xRealIp' | 'hopTrusted'>;

const direct = (ip: string, host = 'example.com', proto: 'http' | 'https' = 'http'): HopHeaders => ({
  xForwardedFor: ip,
  xForwardedProto: proto,
  xForwardedHost: host,
  forwarded: `for=${ip};host=${host};proto=${proto}`,
});

const SPOOF = {
  xForwardedFor: '6.6.6.6',
  xForwardedProto: 'https',
  xForwardedHost: 'evil.example',
  forwarded: 'for=6.6.6.6;proto=https;host=evil.example',
};

const rows: Row[] = [
  // ── untrusted peer ──
  {
    name: 'untrusted peer without forwarding headers is the client',
    in: {},
    id: { clientIp: '203.0.113.9', proto: 'http', host: 'example.com' },
    out: direct('203.0.113.9'),
  },
  {
    name: 'untrusted peer: spoofed XFF/XFP/XFH/Forwarded are all discarded',
    in: SPOOF,
    id: { clientIp: '203.0.113.9', proto: 'http', host: 'example.com' },
    out: direct('203.0.113.9'),
  },
  {
    name: 'untrusted IPv6 peer on https with a port in Host: quoted Forwarded values',
    in: { peerIp: '2001:db8::7', scheme: 'https', host: 'example.com:8443' },
    id: { clientIp: '2001:db8::7', proto: 'https', host: 'example.com:8443' },
    out: {
      xForwardedFor: '2001:db8::7',
      xForwardedProto: 'https',
      xForwardedHost: 'example.com:8443',
      forwarded: 'for="[2001:db8::7]";host="example.com:8443";proto=https',
    },
  },
  {
    name: 'untrusted peer: PROXY v2 address is not believed',
    in: { proxiedIp: '198.51.100.7', ...SPOOF },
    id: { clientIp: '203.0.113.9', proto: 'http', host: 'example.com' },
    out: direct('203.0.113.9'),
  },
  {
    name: 'no Host and no believed X-Forwarded-Host: empty host, no host= parameter',
    in: { host: '' },
    id: { clientIp: '203.0.113.9', proto: 'http', host: '' },
    out: { xForwardedFor: '203.0.113.9', xForwardedProto: 'http', xForwardedHost: '', forwarded: 'for=203.0.113.9;proto=http' },
  },
  // ── trusted peer, X-Forwarded-For ──
  {
    name: 'trusted peer: rightmost XFF entry is the client',
    in: { peerIp: '10.0.0.1', xForwardedFor: '198.51.100.7' },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'trusted peer: entries left of the client are client-written and dropped',
    in: { peerIp: '10.0.0.1', xForwardedFor: '6.6.6.6, 198.51.100.7' },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'chain of trusted proxies is skipped right to left',
    in: { peerIp: '10.0.0.1', xForwardedFor: '6.6.6.6, 198.51.100.7, 10.0.0.3, 10.0.0.2' },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.3, 10.0.0.2, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7, for=10.0.0.3, for=10.0.0.2, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'all-trusted chain: the leftmost entry is the client',
    in: { peerIp: '10.0.0.1', xForwardedFor: '10.0.0.3, 10.0.0.2' },
    id: { clientIp: '10.0.0.3', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '10.0.0.3, 10.0.0.2, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=10.0.0.3, for=10.0.0.2, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'garbage entry stops the walk: client is the last valid hop',
    in: { peerIp: '10.0.0.1', xForwardedFor: '198.51.100.7, garbage, 10.0.0.2' },
    id: { clientIp: '10.0.0.2', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '10.0.0.2, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=10.0.0.2, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'garbage rightmost entry: the trusted peer is the client',
    in: { peerIp: '10.0.0.1', xForwardedFor: '198.51.100.7, 1.2.3.256' },
    id: { clientIp: '10.0.0.1', proto: 'http', host: 'example.com' },
    out: direct('10.0.0.1'),
  },
  {
    name: 'ports, brackets, odd spacing and empty items; IPv6 normalised',
    in: { peerIp: '10.0.0.1', xForwardedFor: '[2001:DB8:0::1]:4711 ,,  10.0.0.2:8080\t, ' },
    id: { clientIp: '2001:db8::1', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '2001:db8::1, 10.0.0.2, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for="[2001:db8::1]", for=10.0.0.2, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'IPv4-mapped entry in uWS full form is IPv4',
    in: { peerIp: '10.0.0.1', xForwardedFor: '0000:0000:0000:0000:0000:ffff:c633:6407' },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'trusted IPv6 peer',
    in: { peerIp: 'fd00::1', xForwardedFor: '198.51.100.7' },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, fd00::1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7, for="[fd00::1]";host=example.com;proto=http',
    },
  },
  // ── trusted peer, X-Forwarded-Proto/-Host ──
  {
    name: 'trusted peer: X-Forwarded-Proto and -Host are believed',
    in: { peerIp: '10.0.0.1', xForwardedFor: '198.51.100.7', xForwardedProto: 'HTTPS', xForwardedHost: ' app.example.com:8443 ' },
    id: { clientIp: '198.51.100.7', proto: 'https', host: 'app.example.com:8443' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.1',
      xForwardedProto: 'https',
      xForwardedHost: 'app.example.com:8443',
      forwarded: 'for=198.51.100.7, for=10.0.0.1;host="app.example.com:8443";proto=https',
    },
  },
  {
    name: 'trusted peer: invalid X-Forwarded-Proto/-Host are ignored',
    in: { peerIp: '10.0.0.1', xForwardedProto: 'ftp', xForwardedHost: 'bad host' },
    id: { clientIp: '10.0.0.1', proto: 'http', host: 'example.com' },
    out: direct('10.0.0.1'),
  },
  {
    name: 'trusted peer: IPv6 literal X-Forwarded-Host',
    in: { peerIp: '10.0.0.1', scheme: 'https', xForwardedHost: '[2001:db8::1]:8080' },
    id: { clientIp: '10.0.0.1', proto: 'https', host: '[2001:db8::1]:8080' },
    out: {
      xForwardedFor: '10.0.0.1',
      xForwardedProto: 'https',
      xForwardedHost: '[2001:db8::1]:8080',
      forwarded: 'for=10.0.0.1;host="[2001:db8::1]:8080";proto=https',
    },
  },
  // ── PROXY protocol v2 ──
  {
    name: 'PROXY v2 from a trusted peer: the proxied address is the client, its headers are not believed',
    in: { peerIp: '10.0.0.1', proxiedIp: '198.51.100.7', ...SPOOF },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: direct('198.51.100.7'),
  },
  {
    name: 'PROXY v2 from a trusted peer naming a trusted hop: walk continues into XFF',
    in: { peerIp: '10.0.0.1', proxiedIp: '10.0.0.5', xForwardedFor: '6.6.6.6, 198.51.100.7', xForwardedProto: 'https' },
    id: { clientIp: '198.51.100.7', proto: 'https', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.5',
      xForwardedProto: 'https',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7, for=10.0.0.5;host=example.com;proto=https',
    },
  },
  {
    name: 'PROXY v2 IPv6 full form is normalised',
    in: { peerIp: '10.0.0.1', proxiedIp: '2001:0db8:0000:0000:0000:0000:0000:0042' },
    id: { clientIp: '2001:db8::42', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '2001:db8::42',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for="[2001:db8::42]";host=example.com;proto=http',
    },
  },
  {
    name: 'PROXY v2 address that is not an IP is ignored',
    in: { peerIp: '10.0.0.1', proxiedIp: 'garbage', xForwardedFor: '198.51.100.7' },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  // ── Forwarded (RFC 7239) ──
  {
    name: 'Forwarded with quoted IPv6 and port, proto/host from the last element',
    in: { peerIp: '10.0.0.1', forwarded: 'for="[2001:db8:cafe::17]:4711";proto=https;host=app.example.com' },
    id: { clientIp: '2001:db8:cafe::17', proto: 'https', host: 'app.example.com' },
    out: {
      xForwardedFor: '2001:db8:cafe::17, 10.0.0.1',
      xForwardedProto: 'https',
      xForwardedHost: 'app.example.com',
      forwarded: 'for="[2001:db8:cafe::17]:4711";proto=https;host=app.example.com, for=10.0.0.1;host=app.example.com;proto=https',
    },
  },
  {
    name: 'Forwarded chain: trusted elements skipped, elements left of the client dropped',
    in: { peerIp: '10.0.0.1', forwarded: 'for=6.6.6.6;proto=http, for=198.51.100.7;by=10.0.0.2, For=10.0.0.2;PROTO=https;Host="app.example.com:443"' },
    id: { clientIp: '198.51.100.7', proto: 'https', host: 'app.example.com:443' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.2, 10.0.0.1',
      xForwardedProto: 'https',
      xForwardedHost: 'app.example.com:443',
      forwarded: 'for=198.51.100.7;by=10.0.0.2, For=10.0.0.2;PROTO=https;Host="app.example.com:443", for=10.0.0.1;host="app.example.com:443";proto=https',
    },
  },
  {
    name: 'Forwarded obfuscated identifier stops the walk',
    in: { peerIp: '10.0.0.1', forwarded: 'for=198.51.100.7, for=_hidden, for=10.0.0.2' },
    id: { clientIp: '10.0.0.2', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '10.0.0.2, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=10.0.0.2, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'Forwarded "unknown" in the last element: the peer is the client',
    in: { peerIp: '10.0.0.1', forwarded: 'for=198.51.100.7, for=unknown;proto=https' },
    id: { clientIp: '10.0.0.1', proto: 'https', host: 'example.com' },
    out: direct('10.0.0.1', 'example.com', 'https'),
  },
  {
    name: 'Forwarded empty list items are skipped and not forwarded',
    in: { peerIp: '10.0.0.1', forwarded: ' , for=198.51.100.7 ;proto=https, , ' },
    id: { clientIp: '198.51.100.7', proto: 'https', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.1',
      xForwardedProto: 'https',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7 ;proto=https, for=10.0.0.1;host=example.com;proto=https',
    },
  },
  {
    name: 'Forwarded obfuscated port is accepted',
    in: { peerIp: '10.0.0.1', forwarded: 'for="198.51.100.7:_p1"' },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for="198.51.100.7:_p1", for=10.0.0.1;host=example.com;proto=http',
    },
  },
  ...[
    ['unterminated quote', 'for=198.51.100.7;proto=https, for="10.0.0.2'],
    ['duplicate parameter', 'for=198.51.100.7;for=10.0.0.2;proto=https'],
    ['unquoted IPv6', 'for=[2001:db8::1];proto=https'],
    ['pairs not separated by ";"', 'for=198.51.100.7 proto=https'],
    ['missing value', 'for=;proto=https'],
  ].map(([what, forwarded]): Row => ({
    name: `Forwarded syntax error (${what}) discards the whole header`,
    in: { peerIp: '10.0.0.1', forwarded: forwarded! },
    id: { clientIp: '10.0.0.1', proto: 'http', host: 'example.com' },
    out: direct('10.0.0.1'),
  })),
  {
    name: 'Forwarded quoted-pair in for= is not an address',
    in: { peerIp: '10.0.0.1', forwarded: 'for="\\[2001:db8::1\\]";proto=https' },
    id: { clientIp: '10.0.0.1', proto: 'https', host: 'example.com' },
    out: direct('10.0.0.1', 'example.com', 'https'),
  },
  {
    name: 'X-Forwarded-For wins over Forwarded; X-Forwarded-Proto over Forwarded proto',
    in: { peerIp: '10.0.0.1', xForwardedFor: '198.51.100.7', forwarded: 'for=192.0.2.1;proto=https;host=other.example' },
    id: { clientIp: '198.51.100.7', proto: 'http', host: 'example.com' },
    out: {
      xForwardedFor: '198.51.100.7, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'example.com',
      forwarded: 'for=198.51.100.7, for=10.0.0.1;host=example.com;proto=http',
    },
  },
  {
    name: 'X-Forwarded-Proto/-Host override Forwarded proto/host',
    in: { peerIp: '10.0.0.1', xForwardedProto: 'http', xForwardedHost: 'x.example', forwarded: 'for=192.0.2.1;proto=https;host=other.example' },
    id: { clientIp: '192.0.2.1', proto: 'http', host: 'x.example' },
    out: {
      xForwardedFor: '192.0.2.1, 10.0.0.1',
      xForwardedProto: 'http',
      xForwardedHost: 'x.example',
      forwarded: 'for=192.0.2.1;proto=https;host=other.example, for=10.0.0.1;host=x.example;proto=http',
    },
  },
];

describe('resolveIdentity / forwardedHeaders', () => {
  test.each(rows)('$name', (row) => {
    const inp = input(row.in);
    const id = resolveIdentity(inp, trusted);
    expect(id).toEqual(row.id);
    expect(forwardedHeaders(inp, id, trusted)).toEqual({ ...row.out, xRealIp: id.clientIp, hopTrusted: expect.any(Boolean) });
  });

  test('hopTrusted: whether the hop the request came from is trusted (its other client claims pass)', () => {
    const hop = (peerIp: string, proxiedIp = ''): boolean => {
      const inp = input({ peerIp, proxiedIp });
      return forwardedHeaders(inp, resolveIdentity(inp, trusted), trusted).hopTrusted;
    };
    expect(hop('10.0.0.1')).toBe(true);
    expect(hop('203.0.113.9')).toBe(false);
    expect(hop('203.0.113.9', '10.0.0.2')).toBe(false); // PROXY v2 from an untrusted peer is not read
    expect(hop('10.0.0.1', '198.51.100.7')).toBe(false); // the balancer's client sent the headers
    expect(hop('10.0.0.1', '10.0.0.2')).toBe(true);
  });
});

describe('spoofing', () => {
  const spoofs: Partial<IdentityInput>[] = [
    SPOOF,
    { xForwardedFor: '6.6.6.6, 10.0.0.2' },
    { forwarded: 'for=6.6.6.6, for=10.0.0.2' },
    { proxiedIp: '6.6.6.6' },
  ];
  test.each(spoofs)('a spoofed address from an untrusted peer never becomes the client or reaches upstream (%j)', (spoof) => {
    const inp = input({ peerIp: '203.0.113.9', ...spoof });
    const id = resolveIdentity(inp, trusted);
    const out = forwardedHeaders(inp, id, trusted);
    expect(id.clientIp).toBe('203.0.113.9');
    expect(JSON.stringify(out)).not.toMatch(/6\.6\.6\.6|10\.0\.0\.2|evil/);
  });

  test('an empty trusted list believes nothing', () => {
    const none = compileCidrs([]);
    const inp = input({ peerIp: '10.0.0.1', proxiedIp: '198.51.100.7', ...SPOOF });
    const id = resolveIdentity(inp, none);
    expect(id).toEqual({ clientIp: '10.0.0.1', proto: 'http', host: 'example.com' });
    expect(forwardedHeaders(inp, id, none)).toEqual({ ...direct('10.0.0.1'), xRealIp: '10.0.0.1', hopTrusted: false });
  });
});

describe('round trip through a second proxy', () => {
  // Property: a proxy behind us that trusts us resolves the same client, proto and
  // host from what we send, whether it reads X-Forwarded-* or Forwarded.
  test('random header soups resolve identically one hop later', () => {
    // mulberry32: the low bits of the LCG this used cycle with a short period, which locked the
    // picks together (no soup from a trusted peer ever carried X-Forwarded-Proto or -Host).
    const rng = makeRng(7);
    const rnd = (n: number): number => rng.int(0, n - 1);
    const pick = <T>(xs: readonly T[]): T => rng.pick(xs);
    const addrs = ['10.0.0.2', '10.1.2.3', '198.51.100.7', '203.0.113.1', 'fd00::9', '2001:db8::1', '[2001:db8::2]:80',
      '::ffff:10.0.0.4', '1.2.3.4:99', 'unknown', '_hidden', 'garbage', '', '999.1.1.1'];
    const fwdItems = ['for=10.0.0.2', 'for=198.51.100.7;proto=https', 'for="[2001:db8::1]:4711"', 'for=_x;host=a.example',
      'for=unknown', 'by=10.0.0.1', 'for="10.0.0.3";host="h.example:81";proto=http', 'for=[bad', ''];
    const peers = ['10.0.0.1', '203.0.113.9', 'fd00::1', '2001:db8::77'];
    const nextHop = compileCidrs(['10.0.0.0/8', 'fd00::/8', '192.0.2.200']);
    const believed = { client: 0, proto: 0, host: 0 };
    for (let n = 0; n < 3000; n++) {
      const list = (items: readonly string[]): string => Array.from({ length: rnd(4) }, () => pick(items)).join(pick([', ', ',', ' ,  ']));
      const inp = input({
        peerIp: pick(peers),
        proxiedIp: pick(['', '', '198.51.100.8', '10.0.0.6', 'bogus']),
        scheme: pick(['http', 'https'] as const),
        host: pick(['example.com', 'example.com:8080', '[::1]:3000', '']),
        xForwardedFor: pick([undefined, list(addrs)]),
        xForwardedProto: pick([undefined, 'https', 'http', 'HTTPS', 'gopher', 'https, http']),
        xForwardedHost: pick([undefined, 'app.example', 'bad host', 'h:1']),
        forwarded: pick([undefined, list(fwdItems)]),
      });
      const id = resolveIdentity(inp, trusted);
      const out = forwardedHeaders(inp, id, trusted);
      expect(out.xForwardedFor + out.forwarded).not.toMatch(/[\r\n]/);

      const base = { peerIp: '192.0.2.200', proxiedIp: '', scheme: 'http' as const, host: 'internal' };
      const viaXff = resolveIdentity({ ...base, xForwardedFor: out.xForwardedFor, xForwardedProto: out.xForwardedProto,
        xForwardedHost: out.xForwardedHost === '' ? undefined : out.xForwardedHost, forwarded: undefined }, nextHop);
      const viaFwd = resolveIdentity({ ...base, xForwardedFor: undefined, xForwardedProto: undefined, xForwardedHost: undefined,
        forwarded: out.forwarded }, nextHop);
      const expected = { clientIp: id.clientIp, proto: id.proto, host: id.host === '' ? 'internal' : id.host };
      expect({ inp, id: viaXff }).toEqual({ inp, id: expected });
      expect({ inp, id: viaFwd }).toEqual({ inp, id: expected });
      if (id.clientIp !== inp.peerIp) believed.client++;
      if (id.proto !== inp.scheme) believed.proto++;
      if (id.host !== inp.host) believed.host++;
    }
    // Many soups carried claims the resolution believed: the round trip carried them, not only the peer.
    expect(believed.client).toBeGreaterThan(500);
    expect(believed.proto).toBeGreaterThan(150);
    expect(believed.host).toBeGreaterThan(300);
  });
});
