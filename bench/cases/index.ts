// Every case, in run order; CASES=name,... selects some.
import { conns1000 } from './conns-1000.js';
import { idle10k } from './idle-10k.js';
import { large1m } from './large-1m.js';
import { medium16k } from './medium-16k.js';
import { small } from './small.js';
import type { Case } from './types.js';

export const CASES: readonly Case[] = [small, medium16k, large1m, conns1000, idle10k];

export function selectCases(names: readonly string[]): Case[] {
  if (names.length === 0) return [...CASES];
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`CASES: unknown ${unknown.join(', ')}; known: ${CASES.map((c) => c.name).join(', ')}`);
  }
  return CASES.filter((c) => names.includes(c.name));
}
