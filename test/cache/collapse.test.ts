// Fill markers (src/cache/collapse.ts): one filler per key across threads, waiters woken by
// the release (Atomics.waitAsync, in this thread and in another), void markers after their
// deadline, a dead thread's markers cleared by releaseLockOf, a full probe window.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { FillMarkers, Waiters, releaseFillsOf } from '../../src/cache/collapse.js';
import { releaseLockOf } from '../../src/cache/table.js';
import { allocateCacheMemory, FILL_INTS, FILL_OWNER, FILL_SLOTS, INDEX_FILL_LOCK, INDEX_HEADER_BYTES, INDEX_SLOTS, SLOT_BYTES } from '../../src/shm/layout.js';

const soon = (): number => Math.floor(Date.now() / 1000) + 60;

describe('FillMarkers', () => {
  test('the first claim leads; a second (another thread id) waits; after the release a claim leads again', () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const a = new FillMarkers(mem, 1);
    const b = new FillMarkers(mem, 2);
    const first = a.claim(11, 22, soon());
    expect(first).toEqual({ lead: true, slot: 22 & (FILL_SLOTS - 1) });
    const second = b.claim(11, 22, soon());
    expect(second).toMatchObject({ lead: false, slot: first!.slot });
    // Another key is independent.
    expect(b.claim(11, 23, soon())).toMatchObject({ lead: true });
    // Only the owner releases.
    b.release(first!.slot, 11, 22);
    expect(b.claim(11, 22, soon())).toMatchObject({ lead: false });
    a.release(first!.slot, 11, 22);
    expect(b.claim(11, 22, soon())).toMatchObject({ lead: true });
  });

  test('a waiter is woken by the release: released, not timed out', async () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const a = new FillMarkers(mem, 1);
    const b = new FillMarkers(mem, 2);
    const lead = a.claim(5, 6, soon())!;
    const wait = b.claim(5, 6, soon())!;
    if (wait.lead) throw new Error('expected to wait');
    const woken = b.waitRelease(wait.slot, wait.wake, 10_000);
    a.release(lead.slot, 5, 6);
    expect(await woken).toBe('ok');
    // A wait that starts after the release returns at once.
    expect(await b.waitRelease(wait.slot, wait.wake, 10_000)).toBe('not-equal');
  });

  test('a wait without a release times out', async () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const a = new FillMarkers(mem, 1);
    a.claim(1, 2, soon());
    const w = new FillMarkers(mem, 2).claim(1, 2, soon())!;
    if (w.lead) throw new Error('expected to wait');
    expect(await new FillMarkers(mem, 2).waitRelease(w.slot, w.wake, 50)).toBe('timed-out');
  });

  test('a marker past its deadline is void: the next claim leads, and its waiters are woken', async () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const a = new FillMarkers(mem, 1);
    const past = Math.floor(Date.now() / 1000) - 1;
    const lead = a.claim(7, 8, past)!;
    // (a waiter that found it while it was live)
    const wake = new Int32Array(mem.index, INDEX_HEADER_BYTES + new Int32Array(mem.index, 0, 16)[INDEX_SLOTS]! * SLOT_BYTES + lead.slot * FILL_INTS * 4, 1)[0]!;
    const woken = a.waitRelease(lead.slot, wake, 10_000);
    expect(new FillMarkers(mem, 2).claim(7, 8, soon())).toMatchObject({ lead: true });
    expect(await woken).toBe('ok');
  });

  test('the marker lock held by a stopped thread: a claim says busy (try later), a release still wakes the waiters', async () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const a = new FillMarkers(mem, 1);
    const lead = a.claim(21, 22, soon())!;
    if (lead === 'busy' || !lead.lead) throw new Error('expected to lead');
    const w = new FillMarkers(mem, 2).claim(21, 22, soon())!;
    if (w === 'busy' || w.lead) throw new Error('expected to wait');
    const header = new Int32Array(mem.index, 0, INDEX_HEADER_BYTES / 4);
    Atomics.store(header, INDEX_FILL_LOCK, 77); // a thread that took the lock and stopped
    expect(new FillMarkers(mem, 3).claim(21, 22, soon())).toBe('busy');
    const woken = a.waitRelease(w.slot, w.wake, 10_000);
    a.release(lead.slot, 21, 22);
    expect(await woken).toBe('ok');
    Atomics.store(header, INDEX_FILL_LOCK, 0);
  });

  test('a full probe window: no collapsing (null), never a wrong answer', () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const a = new FillMarkers(mem, 1);
    // Eight keys sharing one home marker fill its window.
    for (let i = 0; i < 8; i++) expect(a.claim(100 + i, 40 + FILL_SLOTS * i, soon())).toMatchObject({ lead: true });
    expect(a.claim(999, 40 + FILL_SLOTS * 9, soon())).toBeNull();
    // A key already in the window is still found.
    expect(a.claim(103, 40 + FILL_SLOTS * 3, soon())).toMatchObject({ lead: false });
  });

  test('releaseLockOf (a worker died) clears its markers and wakes their waiters; others stay', async () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const dead = new FillMarkers(mem, 41);
    const alive = new FillMarkers(mem, 42);
    dead.claim(1, 1, soon());
    alive.claim(2, 2, soon());
    const w = alive.claim(1, 1, soon())!;
    if (w.lead) throw new Error('expected to wait');
    const woken = alive.waitRelease(w.slot, w.wake, 10_000);
    releaseLockOf(mem, 41);
    expect(await woken).toBe('ok');
    expect(alive.claim(1, 1, soon())).toMatchObject({ lead: true });
    expect(dead.claim(2, 2, soon())).toMatchObject({ lead: false });
    releaseFillsOf(mem, 42);
    const owners = new Int32Array(mem.index, INDEX_HEADER_BYTES + new Int32Array(mem.index, 0, 16)[INDEX_SLOTS]! * SLOT_BYTES, FILL_SLOTS * FILL_INTS);
    let held = 0;
    for (let i = 0; i < FILL_SLOTS; i++) if (owners[i * FILL_INTS + FILL_OWNER] !== 0) held++;
    expect(held).toBe(0);
  });

  test('a waiter in this thread is woken by a release in another thread', async () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const here = new FillMarkers(mem, 1);
    const dist = fileURLToPath(new URL('../../dist/src/cache/collapse.js', import.meta.url));
    const worker = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      import(${JSON.stringify(dist)}).then(({ FillMarkers }) => {
        const m = new FillMarkers(workerData, 7);
        const c = m.claim(9, 9, Math.floor(Date.now() / 1000) + 60);
        parentPort.postMessage(c);
        parentPort.once('message', () => { m.release(c.slot, 9, 9); parentPort.postMessage('released'); });
      });`, { eval: true, workerData: mem });
    try {
      const claim = await new Promise<{ lead: boolean; slot: number }>((r) => worker.once('message', r));
      expect(claim.lead).toBe(true);
      const w = here.claim(9, 9, soon())!;
      if (w.lead) throw new Error('expected to wait');
      const woken = new Waiters(here);
      const got = new Promise<boolean>((r) => woken.wait(w.slot, w.wake, 10_000, r));
      expect(woken.size).toBe(1);
      worker.postMessage('go');
      expect(await got).toBe(true);
      expect(woken.size).toBe(0);
    } finally {
      await worker.terminate();
    }
  });
});

describe('Waiters', () => {
  test('one waitAsync per marker: every waiter of this thread is called; a cancelled one is not', async () => {
    const mem = allocateCacheMemory(1024 * 1024);
    const a = new FillMarkers(mem, 1);
    const lead = a.claim(3, 4, soon())!;
    const b = new FillMarkers(mem, 2);
    const w = b.claim(3, 4, soon())!;
    if (w.lead) throw new Error('expected to wait');
    const waiters = new Waiters(b);
    const calls: string[] = [];
    waiters.wait(w.slot, w.wake, 10_000, (ok) => calls.push(`one ${ok}`));
    const cancel = waiters.wait(w.slot, w.wake, 10_000, (ok) => calls.push(`two ${ok}`));
    const done = new Promise<void>((r) => waiters.wait(w.slot, w.wake, 10_000, () => r()));
    cancel();
    a.release(lead.slot, 3, 4);
    await done;
    expect(calls).toEqual(['one true']);
  });

  test('a timeout calls the waiters with false', async () => {
    const mem = allocateCacheMemory(1024 * 1024);
    new FillMarkers(mem, 1).claim(3, 4, soon());
    const b = new FillMarkers(mem, 2);
    const w = b.claim(3, 4, soon())!;
    if (w.lead) throw new Error('expected to wait');
    const got = await new Promise<boolean>((r) => new Waiters(b).wait(w.slot, w.wake, 30, r));
    expect(got).toBe(false);
  });
});
