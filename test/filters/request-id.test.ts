// X-Request-Id: accept well-formed incoming ids, mint unique ones otherwise.
import { describe, expect, test } from 'vitest';
import { generateRequestId, isValidRequestId, requestIdFrom } from '../../src/filters/request-id.js';

describe('requestIdFrom', () => {
  test.each([
    'a', 'abc-123', 'A.b_c:d-e', '550e8400-e29b-41d4-a716-446655440000', 'x'.repeat(128),
  ])('keeps a valid incoming id %j', (id) => {
    expect(isValidRequestId(id)).toBe(true);
    expect(requestIdFrom(id)).toBe(id);
  });

  test.each([
    '', 'x'.repeat(129), 'has space', 'a,b', 'a;b', 'a/b', 'é', 'a\r\nX-Injected: 1', 'a"b', undefined,
  ])('replaces an invalid or missing id %j', (id) => {
    const out = requestIdFrom(id);
    expect(out).not.toBe(id);
    expect(isValidRequestId(out)).toBe(true);
  });

  test('generated ids are unique and well-formed within a thread', () => {
    const ids = new Set<string>();
    for (let k = 0; k < 100_000; k++) ids.add(generateRequestId());
    expect(ids.size).toBe(100_000);
    for (const id of [...ids].slice(0, 100)) expect(id).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/);
  });

  test('every module instance (one per worker thread or restart) draws its own prefix', async () => {
    // A query string makes vitest load a separate copy of the module, as each proxy worker thread does.
    type Mod = typeof import('../../src/filters/request-id.js');
    const path = '../../src/filters/request-id.js';
    const load = async (instance: string): Promise<Mod> => (await import(/* @vite-ignore */ `${path}?instance=${instance}`)) as Mod;
    const a = await load('a');
    const b = await load('b');
    const ids = [generateRequestId(), a.generateRequestId(), b.generateRequestId()];
    // The fresh copies start their counters at 1 like a restarted worker: only the prefix tells them apart.
    expect([ids[1]!.endsWith('-1'), ids[2]!.endsWith('-1')]).toEqual([true, true]);
    expect(new Set(ids.map((id) => id.slice(0, 16))).size).toBe(3);
  });
});
