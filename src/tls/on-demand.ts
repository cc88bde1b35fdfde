// Who may get a certificate at first handshake (acme.on_demand): never anyone by default;
// names matching the allow patterns, or approved by the ask URL (GET ask?domain=NAME → 2xx).
// A client chooses the SNI name it sends, so without this gate anyone could make the proxy
// ask the CA for any name (and exhaust its rate limits); with it, issuances are still capped
// per minute because a pattern like *.example.com admits unlimited names.
import { isIP } from 'node:net';
import type { AcmeConfig } from '../config/types.js';
import { nameMatches } from './certificate.js';

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const ASK_TIMEOUT_MS = 5000;
/** Issuances at first handshake per minute, all names together. */
export const ON_DEMAND_PER_MINUTE = 10;

export type Verdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

export class OnDemandPolicy {
  readonly #allow: readonly string[];
  readonly #ask: string | undefined;
  /** Start times of the issuances allowed in the last minute. */
  readonly #recent: number[] = [];

  constructor(policy: NonNullable<AcmeConfig['on_demand']>) {
    this.#allow = policy.allow;
    this.#ask = policy.ask;
  }

  /** Whether `name` (as the client sent it) may be issued now. */
  async check(name: string, now = Date.now()): Promise<Verdict> {
    if (!HOST_NAME.test(name) || isIP(name) !== 0) return { allowed: false, reason: 'not a host name' };
    let approved = this.#allow.some((p) => nameMatches(p, name));
    if (!approved && this.#ask !== undefined) {
      const answer = await this.#askAbout(name);
      if (answer !== true) return { allowed: false, reason: answer };
      approved = true;
    }
    if (!approved) return { allowed: false, reason: 'no allow pattern matches it' };
    while (this.#recent.length > 0 && this.#recent[0]! <= now - 60_000) this.#recent.shift();
    if (this.#recent.length >= ON_DEMAND_PER_MINUTE) return { allowed: false, reason: `more than ${ON_DEMAND_PER_MINUTE} on-demand issuances in the last minute` };
    this.#recent.push(now);
    return { allowed: true };
  }

  async #askAbout(name: string): Promise<true | string> {
    const url = `${this.#ask!}${this.#ask!.includes('?') ? '&' : '?'}domain=${encodeURIComponent(name)}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(ASK_TIMEOUT_MS), redirect: 'manual' });
      await res.body?.cancel();
      return res.status >= 200 && res.status < 300 ? true : `the ask URL answered ${res.status}`;
    } catch (err) {
      return `the ask URL failed: ${(err as Error).message}`;
    }
  }
}

/**
 * A worker's side: every handshake naming an uncovered host calls `seen(name)`, from inside
 * the handshake; the primary hears of each name at most once a minute per worker.
 */
export class OnDemandRequests {
  readonly #asked = new Map<string, number>();
  readonly #send: (name: string) => void;

  constructor(send: (name: string) => void) { this.#send = send; }

  seen(name: string, now = Date.now()): void {
    const last = this.#asked.get(name);
    if (last !== undefined && now - last < 60_000) return;
    // Random names from a scanner must not grow this without bound.
    if (this.#asked.size >= 10_000) this.#asked.clear();
    this.#asked.set(name, now);
    this.#send(name);
  }
}
