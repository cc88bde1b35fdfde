// A tiny authoritative DNS server on loopback UDP for tests: A records from a map the test
// changes while it runs (with their TTLs); names not in the map get NXDOMAIN, AAAA queries an
// empty answer. Enough for node:dns (c-ares) pointed at it with `dns.servers`.
import dgram from 'node:dgram';

export interface DnsServer {
  readonly address: string;
  /** name → IPv4 addresses and TTL (seconds); change it at any time. */
  readonly records: Map<string, { ips: string[]; ttl: number }>;
  /** Queries answered so far, by name. */
  readonly queries: Map<string, number>;
  close(): Promise<void>;
}

function readName(msg: Buffer, at: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = at;
  while (msg[i]! !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += len + 1;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

export async function startDns(): Promise<DnsServer> {
  const socket = dgram.createSocket('udp4');
  const records = new Map<string, { ips: string[]; ttl: number }>();
  const queries = new Map<string, number>();
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    const question = msg.subarray(12, end + 4);
    queries.set(name, (queries.get(name) ?? 0) + 1);
    const record = records.get(name);
    const answers = record !== undefined && qtype === 1 ? record.ips : [];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(record === undefined ? 0x8183 : 0x8180, 2); // QR RD RA, NXDOMAIN or NOERROR
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const rrs = answers.map((ip) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(record!.ttl, 6);
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
      return rr;
    });
    socket.send(Buffer.concat([header, question, ...rrs]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    records,
    queries,
    close: () => new Promise((r) => socket.close(() => r())),
  };
}
