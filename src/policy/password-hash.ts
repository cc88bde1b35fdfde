// Password hashes for basic auth: scrypt (RFC 7914) in the PHC string format
// `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64 without padding), made by
// `portcullis hash-password` and checked off the worker thread (crypto.scrypt runs on libuv's pool).
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface PasswordHash {
  /** log2 of the CPU/memory cost N. */
  readonly ln: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Default cost: N = 2^15, r = 8 (32 MiB, tens of ms per check; checks are cached per credential). */
export const DEFAULT_LN = 15;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{22,})$/;

/** Validates a configured hash; the config keeps the text (plain data for workerData). */
export function parsePasswordHash(text: string): string | { error: string } {
  const h = decodePasswordHash(text);
  if (h !== null) return text;
  if (text.startsWith('$scrypt$')) return { error: 'malformed scrypt hash (expected "$scrypt$ln=N,r=R,p=P$salt$hash" from `portcullis hash-password`)' };
  if (/^\$(2[aby]?|argon2(id?|d)|[1-6])\$/.test(text)) return { error: 'only scrypt hashes from `portcullis hash-password` are supported' };
  return { error: 'plain-text passwords are refused: run `portcullis hash-password` and paste the hash it prints' };
}

export function decodePasswordHash(text: string): PasswordHash | null {
  const m = PHC.exec(text);
  if (m === null) return null;
  const ln = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  if (ln < 10 || ln > 20 || r < 1 || p < 1 || p > 16) return null;
  const salt = Buffer.from(m[4]!, 'base64');
  const hash = Buffer.from(m[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16) return null;
  return { ln, r, p, salt, hash };
}

function derive(password: Buffer, h: Omit<PasswordHash, 'hash'>, keylen: number): Promise<Buffer> {
  const N = 2 ** h.ln;
  return new Promise((resolve, reject) => {
    scrypt(password, h.salt, keylen, { N, r: h.r, p: h.p, maxmem: 256 * N * h.r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');

export async function hashPassword(password: string | Buffer, ln = DEFAULT_LN): Promise<string> {
  const salt = randomBytes(16);
  const params = { ln, r: 8, p: 1, salt };
  const key = await derive(Buffer.from(password), params, 32);
  return `$scrypt$ln=${ln},r=8,p=1$${b64(salt)}$${b64(key)}`;
}

/** Constant-time comparison of the derived key. Off the calling thread (libuv pool). */
export async function verifyPassword(password: Buffer, h: PasswordHash): Promise<boolean> {
  const key = await derive(password, h, h.hash.length);
  return timingSafeEqual(key, h.hash);
}
