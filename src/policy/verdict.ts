// What a policy answers: nothing (the request goes on), a refusal (a ProxyError with the
// headers it needs: Allow, WWW-Authenticate, Retry-After…) or a whole answer of its own (a
// redirect, the auth service's reply). Checks are small functions over the exchange.
import type { ProxyError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { PolicyDownstream } from './policy-downstream.js';
import { counter } from '../observe/metrics.js';

export interface Refusal {
  readonly kind: 'refusal';
  readonly error: ProxyError;
  /** Flat [name, value, …] added to the error answer. */
  readonly headers: readonly string[];
}

export interface Answer {
  readonly kind: 'answer';
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly string[];
  readonly body: string | Buffer;
  /** Counted under this reason (a PC_ERR code or 'redirect', 'auth_answer'). */
  readonly metric: string;
}

export type Verdict = Refusal | Answer;

export function refuse(error: ProxyError, headers: readonly string[] = []): Refusal {
  return { kind: 'refusal', error, headers };
}

/**
 * One policy. Returns null to let the request through. A promise (auth services, key fetches)
 * makes the phase wait; the request body is held meanwhile (policy-downstream.ts).
 */
export type Check = (ex: Exchange, pd: PolicyDownstream) => Verdict | null | Promise<Verdict | null>;

/**
 * A check that only reads the request and decides at once (request filters, IP rules): running
 * it again changes nothing (no counter, limiter or auth service is touched).
 */
export type Filter = (ex: Exchange) => Verdict | null;

/** Refusals and answers of the policy phase, by reason (PC_ERR code, 'redirect', 'auth_answer'). */
export const policyRefusals = counter('portcullis_policy_refusals_total', 'Requests answered by a policy instead of the upstream, by reason', ['reason']);
