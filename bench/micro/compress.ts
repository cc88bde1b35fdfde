// Micro-benchmark: compression per codec and level on JSON and HTML bodies: CPU µs per call, MB/s of input
// and ratio; one-shot (the filter's sync path) and zstd streamed in 16 KiB chunks with a flush each
// (the filter's zstd stream path; gzip/br streams run async on node:zlib, same codec cost as one-shot).
// Run: npm run build && node dist/bench/micro/compress.js      Env: ROUNDS (medians), SIZES (bytes, comma list)
import zlib from 'node:zlib';
import { native } from '../../src/native/index.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
const SIZES = (process.env['SIZES'] ?? '1024,4096,65536,1048576').split(',').map(Number);

function json(size: number): Buffer {
  let s = '[';
  for (let i = 0; s.length < size; i++) {
    s += `{"id":${i},"user":"user${(i * 7919) % 1000}","email":"u${i}@example.com","active":${i % 3 === 0},"score":${((i * 37) % 1000) / 10},"tags":["t${i % 7}","t${i % 11}"]},`;
  }
  return Buffer.from(s.slice(0, size));
}

function cpuUs(t0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(t0);
  return d.user + d.system;
}

function measure(body: Buffer, fn: (b: Buffer) => Buffer | null): { us: number; ratio: number } {
  const iterations = Math.max(3, Math.floor(4_000_000 / (body.length + 4096)));
  let size = 0;
  const xs: number[] = [];
  fn(body);
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) size = fn(body)!.length;
    xs.push(cpuUs(t0) / iterations);
  }
  xs.sort((a, b) => a - b);
  return { us: xs[xs.length >> 1]!, ratio: body.length / size };
}

const brotli = (q: number, size: number): zlib.BrotliOptions => ({
  params: { [zlib.constants.BROTLI_PARAM_QUALITY]: q, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size, [zlib.constants.BROTLI_PARAM_LGWIN]: 22 },
});

interface Codec { name: string; fn: (b: Buffer) => Buffer | null; maxSize?: number }

function codecs(size: number): Codec[] {
  const out: Codec[] = [
    { name: 'zlib gzip -1', fn: (b) => zlib.gzipSync(b, { level: 1 }) },
    { name: 'zlib gzip -5 (default)', fn: (b) => zlib.gzipSync(b, { level: 5 }) },
    { name: 'zlib gzip -6', fn: (b) => zlib.gzipSync(b, { level: 6 }) },
  ];
  if (native.features.libdeflate) {
    out.push({ name: 'libdeflate gzip -1', fn: (b) => native.gzip(b, 1) });
    out.push({ name: 'libdeflate gzip -5', fn: (b) => native.gzip(b, 5) });
    out.push({ name: 'libdeflate gzip -6', fn: (b) => native.gzip(b, 6) });
  }
  out.push({ name: 'brotli q1', fn: (b) => zlib.brotliCompressSync(b, brotli(1, size)) });
  out.push({ name: 'brotli q4 (default)', fn: (b) => zlib.brotliCompressSync(b, brotli(4, size)) });
  out.push({ name: 'brotli q6', fn: (b) => zlib.brotliCompressSync(b, brotli(6, size)) });
  out.push({ name: 'brotli q11 (never on the fly)', fn: (b) => zlib.brotliCompressSync(b, brotli(11, size)), maxSize: 65536 });
  if (native.zstd !== null) {
    const z = native.zstd;
    out.push({ name: 'zstd -1', fn: (b) => z(b, 1) });
    out.push({ name: 'zstd -3 (default)', fn: (b) => z(b, 3) });
    out.push({ name: 'zstd -6', fn: (b) => z(b, 6) });
  }
  if (size >= 65536) {
    if (native.ZstdStream !== null) {
      const Z = native.ZstdStream;
      out.push({
        name: 'stream zstd -3, 16K flushes',
        fn: (b) => {
          const z = new Z(3);
          const parts: Buffer[] = [];
          for (let i = 0; i < b.length; i += 16384) parts.push(z.push(b.subarray(i, i + 16384), false)!);
          parts.push(z.push(Buffer.alloc(0), true)!);
          return Buffer.concat(parts);
        },
      });
    }
  }
  return out;
}

console.log(`compress micro-bench: node ${process.version}, addon=${native.kind} ${JSON.stringify(native.features)}, ROUNDS=${ROUNDS}; input: JSON records`);
console.log(`${'codec'.padEnd(32)} ${'size'.padStart(8)} ${'µs/call'.padStart(9)} ${'MB/s'.padStart(7)} ${'ratio'.padStart(6)}`);
for (const size of SIZES) {
  const body = json(size);
  for (const c of codecs(size)) {
    if (c.maxSize !== undefined && size > c.maxSize) continue;
    const { us, ratio } = measure(body, c.fn);
    console.log(`${c.name.padEnd(32)} ${String(size).padStart(8)} ${us.toFixed(1).padStart(9)} ${(size / us).toFixed(0).padStart(7)} ${ratio.toFixed(2).padStart(6)}`);
  }
  console.log('');
}
