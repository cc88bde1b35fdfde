// The origin's fixed response bodies, by path; shared by bench/origin.ts and the nginx origin config.

export const SMALL_BODY = 'Hello, world!'; // 13 B

function filled(size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = 97 + (i % 26); // a..z, so a truncated body is visible
  return buf;
}

export const BODIES: Readonly<Record<string, Buffer>> = {
  '/small': Buffer.from(SMALL_BODY),
  '/16k': filled(16 * 1024),
  '/1m': filled(1024 * 1024),
};
