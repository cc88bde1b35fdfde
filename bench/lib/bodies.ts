// The origin's fixed response bodies, by path; shared by bench/origin.ts and the nginx origin config.

export const SMALL_BODY = 'Hello, world!'; // 13 B

function filled(size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = 97 + (i % 26); // a..z, so a truncated body is visible
  return buf;
}

/** JSON records of exactly `size` bytes (the input of bench/micro/compress.ts): compresses about 7x with gzip -5. */
function json(size: number): Buffer {
  let s = '[';
  for (let i = 0; s.length < size; i++) {
    s += `{"id":${i},"user":"user${(i * 7919) % 1000}","email":"u${i}@example.com","active":${i % 3 === 0},"score":${((i * 37) % 1000) / 10},"tags":["t${i % 7}","t${i % 11}"]},`;
  }
  return Buffer.from(s.slice(0, size));
}

export const BODIES: Readonly<Record<string, Buffer>> = {
  '/small': Buffer.from(SMALL_BODY),
  '/16k': filled(16 * 1024),
  '/1m': filled(1024 * 1024),
};

/** What the origin sends with every /cache/ body: fresh for an hour, so every request after the first is a hit. */
export const CACHE_CONTROL = 'max-age=3600';

/** Cacheable bodies (Cache-Control: CACHE_CONTROL) for the cache cases, by path, with their media type. */
export const CACHED: Readonly<Record<string, { readonly body: Buffer; readonly type: string }>> = {
  '/cache/small': { body: Buffer.from(SMALL_BODY), type: 'application/octet-stream' },
  '/cache/16k': { body: filled(16 * 1024), type: 'application/octet-stream' },
  // compressible (application/json is in compression.types and nginx's gzip_types below)
  '/cache/64k.json': { body: json(64 * 1024), type: 'application/json' },
};

/** The origin's request counter (bench/origin.ts): how many requests reached it, this path excluded. */
export const STATS_PATH = '/__requests';
