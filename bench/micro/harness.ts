// What every micro-benchmark shares: settings from env, CPU time per call, medians.
// A micro-benchmark prints CPU ns per call (user + system of this process), the median of
// ROUNDS rounds after one warm-up round, so a noisy neighbour moves one round, not the figure.

/** A positive integer setting from env, or the default. */
export function envInt(name: string, dflt: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${raw}: want a positive integer`);
  return n;
}

export function cpuNs(t0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) * 1000;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** ns per call of fn(n) (which makes n calls): the median of `rounds` after one warm-up round. */
export function measure(iterations: number, rounds: number, fn: (n: number) => void): number {
  fn(Math.min(iterations, 20_000));
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.cpuUsage();
    fn(iterations);
    xs.push(cpuNs(t0) / iterations);
  }
  return median(xs);
}
