// Sticky sessions over any policy: a request whose cookie names an available target goes there;
// any other is placed by the inner policy, and the answer sets the cookie (upstream/forward.ts).
import type { Exchange } from '../../exchange.js';
import type { StickyConfig } from '../../config/types.js';
import { cookieValue } from '../../http/cookie.js';
import type { Target } from '../target.js';
import type { Policy } from './policy.js';
import { available } from './snapshot.js';

export function stickyPolicy(inner: Policy, cookie: string): Policy {
  return {
    select(snap, ex, tried) {
      const id = tried === null ? cookieValue(ex.head.headers, cookie) : undefined;
      if (id !== undefined) {
        for (const c of snap.candidates) if (c.target.stickyId === id && available(c, null)) return c;
      }
      return inner.select(snap, ex, tried);
    },
  };
}

/** The Set-Cookie value naming `target`, or null when the request already carried it. */
export function stickyCookie(ex: Exchange, target: Target, sticky: StickyConfig): string | null {
  if (cookieValue(ex.head.headers, sticky.cookie) === target.stickyId) return null;
  const maxAge = sticky.ttl === undefined ? '' : `; Max-Age=${Math.floor(sticky.ttl / 1000)}`;
  const secure = ex.identity?.proto === 'https' ? '; Secure' : '';
  return `${sticky.cookie}=${target.stickyId}; Path=/${maxAge}; HttpOnly; SameSite=Lax${secure}`;
}
