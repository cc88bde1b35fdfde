// The descriptor watch's decisions: the /proc/self/limits line, the start-up advice, and when the
// alarm warns, repeats, and says it is over (hysteresis between 90% and 80%).
import { describe, expect, test } from 'vitest';
import { assessLimit, FdAlarm, FdWatch, MIN_LIMIT, parseNofile, PER_WORKER } from '../../src/primary/fd-watch.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('parseNofile', () => {
  test('reads soft and hard from the Max open files line, unlimited as null', () => {
    expect(parseNofile(LIMITS)).toEqual({ soft: 1024, hard: 524288 });
    expect(parseNofile(LIMITS.replace('1024                 524288', 'unlimited            unlimited'))).toEqual({ soft: null, hard: null });
    expect(parseNofile('Max processes 10 10 processes\n')).toBeNull();
  });
});

describe('assessLimit', () => {
  test('warns below max(4096, 1024 per worker) and is silent at or above it', () => {
    expect(assessLimit(MIN_LIMIT, MIN_LIMIT, 1)).toBeNull();
    expect(assessLimit(MIN_LIMIT - 1, null, 1)).toMatch(/^open-file limit is 4095: about 2015 proxied connections at once for 1 worker .*At least 4096 is advised: LimitNOFILE=65536/);
    expect(assessLimit(8 * PER_WORKER - 1, null, 8)).toMatch(/open-file limit is 8191: .* for 8 workers .*At least 8192 is advised/);
    expect(assessLimit(8 * PER_WORKER, null, 8)).toBeNull();
    expect(assessLimit(null, null, 64)).toBeNull();
  });

  test('says when the hard limit leaves no room to raise it', () => {
    expect(assessLimit(1024, 1024, 2)).toContain('(the hard limit is 1024 too)');
    expect(assessLimit(1024, 4096, 2)).not.toContain('hard limit');
  });
});

describe('FdAlarm', () => {
  test('warns at 90%, not below, and counts EMFILE as full', () => {
    expect(new FdAlarm().check({ open: 899, limit: 1000 }, 0)).toBeNull();
    const a = new FdAlarm();
    expect(a.check({ open: 900, limit: 1000 }, 0)).toEqual({ level: 'warn', message: expect.stringContaining('900 of 1000 (90%)') });
    expect(a.near).toBe(true);
    const full = new FdAlarm();
    expect(full.check({ open: null, limit: 200 }, 0)?.message).toContain('all 200 (the primary cannot open /proc/self/fd: EMFILE)');
    expect(full.near).toBe(true);
  });

  test('without a known limit there is nothing to say', () => {
    const a = new FdAlarm();
    expect(a.check({ open: 5000, limit: null }, 0)).toBeNull();
    expect(a.near).toBe(false);
  });

  test('repeats at most once a minute while it lasts, and clears only below 80%', () => {
    const a = new FdAlarm();
    expect(a.check({ open: 950, limit: 1000 }, 0)?.level).toBe('warn');
    expect(a.check({ open: 990, limit: 1000 }, 59_999)).toBeNull();
    expect(a.check({ open: 990, limit: 1000 }, 60_000)?.level).toBe('warn');
    expect(a.check({ open: 850, limit: 1000 }, 61_000)).toBeNull(); // between 80% and 90%: still near
    expect(a.near).toBe(true);
    expect(a.check({ open: 799, limit: 1000 }, 62_000)).toEqual({ level: 'info', message: expect.stringContaining('799 of 1000 (79%), below the limit again') });
    expect(a.near).toBe(false);
    expect(a.check({ open: 700, limit: 1000 }, 63_000)).toBeNull();
    // A new episode warns at once, whatever the last warning's time.
    expect(a.check({ open: 900, limit: 1000 }, 63_001)?.level).toBe('warn');
  });
});

describe('FdWatch', () => {
  test('out of descriptors from its first check on, it still knows the limit read at start', async () => {
    // Out of descriptors, /proc/self/limits cannot be read either: the reading carries only
    // the limit the watch already knows.
    const said = await new Promise<string>((resolve) => {
      const w = new FdWatch({ log: (_level, message) => { w.stop(); resolve(message); }, near: () => {} },
        200, 5, (known, done) => done({ open: null, limit: known }));
    });
    expect(said).toContain('all 200');
  });

  test('a reading that learns a new limit (prlimit) is what later checks compare against', async () => {
    const readings = [{ open: 150, limit: 1000 }, { open: null, limit: null }];
    const seen: (number | null)[] = [];
    const near = await new Promise<boolean>((resolve) => {
      const w = new FdWatch({ log: () => {}, near: (n) => { w.stop(); resolve(n); } }, 100, 5, (known, done) => {
        seen.push(known);
        const r = readings.shift() ?? { open: 950, limit: known };
        done(r);
      });
    });
    expect(near).toBe(true);
    // 100 at start, 1000 once read; a failed reading does not forget it.
    expect(seen.slice(0, 3)).toEqual([100, 1000, 1000]);
  });
});
