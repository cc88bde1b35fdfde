// The rate_limit policy: the key of a request (client_ip, route, header:NAME,
// client_ip+header:NAME), one token taken from its bucket in the Limiter, and the IETF
// RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11, Structured Fields, RFC 9651):
//
//   RateLimit-Policy: "<name>";q=<burst>;w=<seconds to refill the whole bucket>
//   RateLimit: "<name>";r=<requests left>;t=<seconds until the bucket is full again>
//
// on every answer of the route, and Retry-After (RFC 9110 §10.2.3) on the 429.
import { ProxyError } from '../errors.js';
import type { RateLimitConfig } from '../config/protection-types.js';
import type { Exchange } from '../exchange.js';
import { KeyHash, prefixHash } from './key-hash.js';
import type { BucketRule, Limiter, TakeResult } from './limiter.js';
import { refuse, type Check, type Verdict } from './verdict.js';
import type { PolicyDownstream } from './policy-downstream.js';

const scratch = new KeyHash();

type KeyKind = 'client_ip' | 'route' | 'header' | 'client_ip+header';

function parseKey(key: string): { kind: KeyKind; header: string } {
  if (key === 'client_ip' || key === 'route') return { kind: key, header: '' };
  if (key.startsWith('client_ip+header:')) return { kind: 'client_ip+header', header: key.slice(17).toLowerCase() };
  return { kind: 'header', header: key.slice(7).toLowerCase() };
}

/** Seconds for a header: whole, rounded up, at least 0. */
function seconds(ns: number): number {
  return ns <= 0 ? 0 : Math.ceil(ns / 1e9);
}

/**
 * `scope`: the stable name of what is limited (the route's host + path), part of every key so
 * each route has its own buckets and a reload keeps them.
 */
export function rateLimitCheck(config: RateLimitConfig, scope: string, limiter: Limiter): Check {
  const { kind, header } = parseKey(config.key);
  const rule: BucketRule = { intervalNs: Math.max(1, Math.round((config.per * 1e6) / config.rate)), burst: config.burst };
  const name = `"${config.key.replace(/[^A-Za-z0-9_:+.-]/g, '_')}"`;
  const window = seconds(rule.intervalNs * rule.burst);
  const policyField = `${name};q=${config.burst};w=${Math.max(1, window)}`;
  const seed = prefixHash(`rl\u0000${scope}\u0000${config.key}`);

  const keyOf = (ex: Exchange): KeyHash => {
    const k = scratch.reset(seed.h, seed.t);
    if (kind === 'route') return k;
    const ip = ex.identity!.clientIp;
    if (kind === 'client_ip') return k.add(ip);
    const value = ex.headerList(header);
    // A request without the header is keyed by its client IP: leaving the header out must
    // never escape the limit (nginx would not count such a request at all).
    if (kind === 'header') return value === undefined ? k.add('\u0001ip').add(ip) : k.add(value);
    return k.add(ip).add(value ?? '');
  };

  const decide = (r: TakeResult, pd: PolicyDownstream): Verdict | null => {
    const current = `${name};r=${r.remaining};t=${seconds(r.resetNs)}`;
    if (r.allowed) {
      pd.addResponseHeaders('ratelimit-policy', policyField, 'ratelimit', current);
      return null;
    }
    return refuse(new ProxyError('PC_ERR_RATE_LIMITED', config.key), [
      'retry-after', String(Math.max(1, seconds(r.retryAfterNs))),
      'ratelimit-policy', policyField,
      'ratelimit', current,
    ]);
  };

  return (ex, pd) => {
    const k = keyOf(ex);
    const r = limiter.take(k.h, k.tag, rule);
    if (r instanceof Promise) return r.then((v) => decide(v, pd));
    return decide(r, pd);
  };
}
