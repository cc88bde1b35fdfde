// Every case, in run order; CASES=name,... selects some (a group name selects all of its cases).
import { cacheHit16k, cacheHitSmall } from './cache-hit.js';
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

export const CASES: readonly Case[] = [small, smallRate, medium16k, large1m, conns1000, cacheHitSmall, cacheHit16k, cacheVariant, metrics, protect, idle10k];

/** The WebSocket echo case runs as its own script (cases/websocket.ts), after the HTTP cases. */
export const WEBSOCKET_CASE = 'websocket';

export function wantsWebSocket(names: readonly string[]): boolean {
  return names.length === 0 || names.includes(WEBSOCKET_CASE);
}

function selected(c: Case, names: readonly string[]): boolean {
  return names.includes(c.name) || (c.group !== undefined && names.includes(c.group));
}

export function selectCases(names: readonly string[]): Case[] {
  if (names.length === 0) return [...CASES];
  names = names.filter((n) => n !== WEBSOCKET_CASE);
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n || c.group === n));
  if (unknown.length > 0) {
    const known = [...new Set(CASES.flatMap((c) => (c.group !== undefined ? [c.group, c.name] : [c.name])))];
    throw new Error(`CASES: unknown ${unknown.join(', ')}; known: ${[...known, WEBSOCKET_CASE].join(', ')}`);
  }
  return CASES.filter((c) => selected(c, names));
}
