// Size and duration literals: '32KiB' → bytes, '1m30s' → milliseconds. Pure parsers that
// return a number or a message, so the schema can turn a bad literal into a located error.

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/**
 * Integer bytes (`65536`, `"512"`) or a number with a unit: B, KB/MB/GB (powers of 1000),
 * KiB/MiB/GiB (powers of 1024). Units are case-insensitive. Fractions round to whole bytes.
 */
export function parseSize(value: number | string): number | { error: string } {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return { error: `expected a whole number of bytes, got ${value}` };
    return value;
  }
  const m = SIZE_RE.exec(value.trim());
  const unit = m ? SIZE_UNITS[(m[2] ?? '').toLowerCase() || 'b'] : undefined;
  if (!m || unit === undefined) {
    return { error: `invalid size "${value}" (use bytes or a unit: 512, 10KB, 32KiB, 64MiB, 1GiB)` };
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) return { error: `size "${value}" is too large` };
  return bytes;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;

// Node clamps longer setTimeout delays to 1 ms (with a warning), which would turn a huge
// timeout into an instant one; refuse it instead.
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * A string with a unit: `500ms`, `10s`, `1m`, `1h`, or several parts like `1m30s`.
 * Bare numbers are refused on purpose: `timeout: 30` could mean seconds or milliseconds.
 */
export function parseDuration(value: number | string): number | { error: string } {
  if (typeof value === 'number') {
    return { error: `durations need a unit, e.g. "${value}s" or "${value}ms"` };
  }
  const text = value.trim();
  let total = 0;
  DURATION_PART.lastIndex = 0;
  let consumed = 0;
  for (let m = DURATION_PART.exec(text); m; m = DURATION_PART.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    consumed = DURATION_PART.lastIndex;
  }
  if (text === '' || consumed !== text.length) {
    return { error: `invalid duration "${value}" (use a number with a unit: 500ms, 10s, 1m, 1h, 1m30s)` };
  }
  const ms = Math.round(total);
  if (ms > MAX_DURATION_MS) return { error: `duration "${value}" is too long (at most about 24 days)` };
  return ms;
}

const PERCENT_RE = /^(\d+(?:\.\d+)?)\s*%$/;

/** A share written as a percentage, `"20%"` → 0.2; 0–100 %. */
export function parsePercent(value: string): number | { error: string } {
  const m = PERCENT_RE.exec(value.trim());
  if (!m) return { error: `invalid percentage "${value}" (write it with a % sign: "20%")` };
  const n = Number(m[1]);
  if (n > 100) return { error: `"${value}" is over 100%` };
  return n / 100;
}

/**
 * Status ranges a health check accepts: `"200-399"`, `"200"`, `"200,204,300-302"` → inclusive
 * [low, high] pairs, each within 100–599.
 */
export function parseStatusRanges(value: string): (readonly [number, number])[] | { error: string } {
  const ranges: [number, number][] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(part);
    if (!m) return { error: `invalid status list "${value}" (use codes and ranges: "200-399", "200,204")` };
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 100 || hi > 599 || hi < lo) return { error: `invalid status range "${part.trim()}" (100–599, low before high)` };
    ranges.push([lo, hi]);
  }
  return ranges;
}
