// Basic auth (RFC 7617): 401 with WWW-Authenticate without credentials or with wrong ones.
// Passwords are checked with scrypt off the worker thread (password-hash.ts); a credential
// that checked out is remembered (per worker, keyed by a keyed hash of the header, never the
// password) so only the first request of a session pays for scrypt.
import { createHmac, randomBytes } from 'node:crypto';
import { ProxyError } from '../errors.js';
import type { BasicAuthConfig } from '../config/protection-types.js';
import { decodePasswordHash, verifyPassword, type PasswordHash } from './password-hash.js';
import { refuse, type Check, type Refusal, type Verdict } from './verdict.js';
import { BoundedCache } from './bounded-cache.js';

/** How long a checked credential is trusted without running scrypt again. */
const REMEMBER_MS = 5 * 60_000;
/** Checks running at once per worker (each is tens of ms on libuv's pool, shared with zlib and files). */
const MAX_RUNNING = 2;
/** Checks waiting for a turn; past this, 503 PC_ERR_AUTH_BUSY. */
const MAX_WAITING = 64;

export function basicAuthCheck(config: BasicAuthConfig): Check {
  const users = new Map<string, PasswordHash>();
  for (const [name, text] of Object.entries(config.users)) users.set(name, decodePasswordHash(text)!);
  // Unknown users are checked against a hash too, so timing does not tell which names exist.
  const decoy = [...users.values()][0]!;
  const challenge = ['www-authenticate', `Basic realm="${config.realm}", charset="UTF-8"`];
  const missing = refuse(new ProxyError('PC_ERR_AUTH_MISSING', 'basic'), challenge);
  const wrong = refuse(new ProxyError('PC_ERR_AUTH_INVALID', 'basic'), challenge);
  const busy = refuse(new ProxyError('PC_ERR_AUTH_BUSY'), ['retry-after', '1']);
  const secret = randomBytes(32);
  const good = new BoundedCache<string>(10_000);
  const running = new Map<string, Promise<boolean>>();
  const queue: (() => void)[] = [];
  let active = 0;

  const runLimited = (task: () => Promise<boolean>): Promise<boolean> | null => {
    if (active >= MAX_RUNNING) {
      if (queue.length >= MAX_WAITING) return null;
      return new Promise<void>((resolve) => queue.push(resolve)).then(() => runLimited(task)!);
    }
    active++;
    return task().finally(() => {
      active--;
      queue.shift()?.();
    });
  };

  return (ex): Verdict | null | Promise<Verdict | null> => {
    const header = ex.header('authorization');
    if (header === undefined || header.length < 7 || header.slice(0, 6).toLowerCase() !== 'basic ') return missing;
    const key = createHmac('sha256', secret).update(header).digest('base64');
    if (good.get(key, Date.now()) !== undefined) return null;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64');
    const colon = decoded.indexOf(0x3a);
    if (colon < 0) return wrong;
    const user = decoded.subarray(0, colon).toString('utf8');
    const hash = users.get(user);
    const password = decoded.subarray(colon + 1);
    // The same credential asked for by several requests at once (a browser opens 6
    // connections) is checked once.
    let check = running.get(key);
    if (check === undefined) {
      const started = runLimited(() => verifyPassword(password, hash ?? decoy).then((ok) => ok && hash !== undefined));
      if (started === null) return busy;
      check = started;
      running.set(key, check);
      void check.finally(() => running.delete(key)).catch(() => {});
    }
    return check.then(
      (ok): Refusal | null => {
        if (!ok) return wrong;
        good.set(key, user, Date.now() + REMEMBER_MS);
        return null;
      },
      () => wrong,
    );
  };
}
