// Consistent hashing by rendezvous (highest random weight): each candidate scores
// weight / −ln(u), u a uniform hash of (key, target); the highest score wins. Removing one of N
// targets moves only the keys it held (about 1/N), adding one takes about 1/(N+1) from the rest,
// and a key whose target is unavailable goes to its next best without moving any other key.
import type { HashKey } from '../../config/types.js';
import type { Exchange } from '../../exchange.js';
import { cookieValue } from '../../http/cookie.js';
import type { Policy } from './policy.js';
import { available, type Candidate } from './snapshot.js';

/** The request's key: the client IP (from the identity phase, never resolved again), a header or a cookie. */
export function hashKeyOf(ex: Exchange, key: HashKey): string | undefined {
  switch (key.kind) {
    case 'client_ip': return ex.identity?.clientIp ?? ex.clientIp;
    case 'header': return ex.header(key.name);
    case 'cookie': return cookieValue(ex.head.headers, key.name);
  }
}

/** FNV-1a over UTF-16 code units. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's fmix32 over the pair: a uniform 32-bit value per (key, target). */
export function mix(key: number, seed: number): number {
  let h = (key ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The candidate a key maps to among the available ones (rendezvous), or null. */
export function rendezvous(cs: readonly Candidate[], keyHash: number, tried: Parameters<typeof available>[1]): Candidate | null {
  let best: Candidate | null = null;
  let bestScore = -Infinity;
  for (const c of cs) {
    if (!available(c, tried)) continue;
    const u = (mix(keyHash, c.target.seed) + 0.5) / 4294967296;
    const score = c.weight / -Math.log(u);
    if (score > bestScore) { bestScore = score; best = c; }
  }
  return best;
}

/** `fallback` serves requests without the key (no such header or cookie). */
export function hashPolicy(key: HashKey, fallback: Policy): Policy {
  return {
    select(snap, ex, tried) {
      const k = hashKeyOf(ex, key);
      if (k === undefined || k === '') return fallback.select(snap, ex, tried);
      return rendezvous(snap.candidates, hashString(k), tried);
    },
  };
}
