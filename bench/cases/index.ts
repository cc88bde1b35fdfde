// Every case, in run order; CASES=name,... selects some (a group name selects all of its cases).
import { cacheHit16k, cacheHitSmall, cacheMissSmall } from './cache-hit.js';
import { cacheVariant } from './cache-variant.js';
import { conns1000 } from './conns-1000.js';
import { idle10k } from './idle-10k.js';
import { large1m } from './large-1m.js';
import { medium16k } from './medium-16k.js';
import { protect } from './protect.js';
import { metrics } from './metrics.js';
import { small } from './small.js';
import { smallRate } from './small-rate.js';
import type { Case } from './types.js';

export const CASES: readonly Case[] = [small, smallRate, medium16k, large1m, conns1000, cacheHitSmall, cacheHit16k, cacheMissSmall, cacheVariant, metrics, protect, idle10k];

/** The WebSocket echo case runs as its own script (cases/websocket.ts), after the HTTP cases. */
export const WEBSOCKET_CASE = 'websocket';
/** So does request collapsing (cases/collapse.ts): one burst per round, not a load run. */
export const COLLAPSE_CASE = 'collapse';

export function wantsWebSocket(names: readonly string[]): boolean {
  return names.length === 0 || names.includes(WEBSOCKET_CASE);
}

/** Load balancing over 3 origins and the kill run: its own script (cases/balance.ts), with its own origins and proxy. */
export const BALANCE_CASE = 'balance';

export function wantsBalance(names: readonly string[]): boolean {
  return names.length === 0 || names.includes(BALANCE_CASE);
}

/** TLS and HTTP/2 (handshakes, keep-alive over TLS, h2load against nginx and bare Node http2): cases/tls.ts, its own script. */
export const TLS_CASE = 'tls';

export function wantsTls(names: readonly string[]): boolean {
  return names.length === 0 || names.includes(TLS_CASE);
}

export function wantsCollapse(names: readonly string[]): boolean {
  return names.length === 0 || names.includes(COLLAPSE_CASE);
}

function selected(c: Case, names: readonly string[]): boolean {
  return names.includes(c.name) || (c.group !== undefined && names.includes(c.group));
}

export function selectCases(names: readonly string[]): Case[] {
  if (names.length === 0) return [...CASES];
  names = names.filter((n) => n !== WEBSOCKET_CASE && n !== BALANCE_CASE && n !== TLS_CASE && n !== COLLAPSE_CASE);
  if (names.length === 0) return [];
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n || c.group === n));
  if (unknown.length > 0) {
    const known = [...new Set(CASES.flatMap((c) => (c.group !== undefined ? [c.group, c.name] : [c.name])))];
    throw new Error(`CASES: unknown ${unknown.join(', ')}; known: ${[...known, WEBSOCKET_CASE, BALANCE_CASE, TLS_CASE, COLLAPSE_CASE].join(', ')}`);
  }
  return CASES.filter((c) => selected(c, names));
}
