// Every case, in run order; CASES=name,... selects some.
import { conns1000 } from './conns-1000.js';
import { idle10k } from './idle-10k.js';
import { large1m } from './large-1m.js';
import { medium16k } from './medium-16k.js';
import { small } from './small.js';
import { smallRate } from './small-rate.js';
import type { Case } from './types.js';

export const CASES: readonly Case[] = [small, smallRate, medium16k, large1m, conns1000, idle10k];

/** The WebSocket echo case runs as its own script (cases/websocket.ts), after the HTTP cases. */
export const WEBSOCKET_CASE = 'websocket';

export function wantsWebSocket(names: readonly string[]): boolean {
  return names.length === 0 || names.includes(WEBSOCKET_CASE);
}

export function selectCases(names: readonly string[]): Case[] {
  if (names.length === 0) return [...CASES];
  names = names.filter((n) => n !== WEBSOCKET_CASE);
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`CASES: unknown ${unknown.join(', ')}; known: ${[...CASES.map((c) => c.name), WEBSOCKET_CASE].join(', ')}`);
  }
  return CASES.filter((c) => names.includes(c.name));
}
