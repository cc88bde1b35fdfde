import { describe, expect, test } from 'vitest';
import { collect, counter, gauge, histogram } from '../../src/observe/metrics.js';

const find = (name: string) => collect().find((f) => f.name === name)!;

describe('metrics registry', () => {
  test('a counter handle adds to its own labelled series only', () => {
    const c = counter('t_requests_total', 'help', ['route', 'class']);
    const a = c.with('/a', '2xx');
    a.inc();
    a.inc(2);
    c.with('/b', '5xx').inc();
    expect(c.with('/a', '2xx')).toBe(a);
    const f = find('t_requests_total');
    expect(f.kind).toBe('counter');
    expect(f.series).toEqual([{ labels: ['/a', '2xx'], value: 3 }, { labels: ['/b', '5xx'], value: 1 }]);
  });

  test('the wrong number of label values is refused', () => {
    expect(() => counter('t_x_total', 'help', ['a']).with()).toThrow(/expected 1 label/);
  });

  test('declaring a name again returns the same family; another shape is refused', () => {
    const a = gauge('t_open', 'help');
    a.with().set(5);
    expect(gauge('t_open', 'help').with()).toBe(a.with());
    expect(() => counter('t_open', 'help')).toThrow(/twice/);
    a.with().dec(2);
    expect(find('t_open').series[0]!.value).toBe(3);
  });

  test('a histogram counts each observation in the first bucket whose bound it does not exceed', () => {
    const h = histogram('t_latency_seconds', 'help', [], [0.1, 1]).with();
    for (const v of [0.05, 0.1, 0.5, 2]) h.observe(v);
    const s = find('t_latency_seconds').series[0]!;
    expect(s.buckets).toEqual([2, 3, 4]);
    expect(s.value).toBeCloseTo(2.65);
  });
});
