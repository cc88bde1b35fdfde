// Response header edits of a route, compiled once: `headers.response` set/remove from the top
// level and the route, and the security preset. Applied to every answer the client gets
// (upstream, cache hit, error) by policy-downstream.ts.
import type { HeaderRulesConfig } from '../config/protection-types.js';

/** `strict`: set when the answer has none of its own (an app's deliberate value stands). */
const STRICT: readonly (readonly [string, string])[] = [
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['content-security-policy', "frame-ancestors 'none'"],
  ['referrer-policy', 'strict-origin-when-cross-origin'],
  ['permissions-policy', 'accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()'],
];

/** RFC 6797: one year, subdomains included; sent on HTTPS answers only (§7.2). */
export const HSTS_VALUE = 'max-age=31536000; includeSubDomains';

export interface ResponseEdits {
  /** Names removed (set names included: a set replaces). */
  readonly remove: ReadonlySet<string>;
  /** [name, value, …] appended. */
  readonly set: readonly string[];
  /** [name, value, …] appended when the answer has no header of that name. */
  readonly defaults: readonly string[];
  /** Add HSTS (when absent) on answers to HTTPS requests. */
  readonly hsts: boolean;
}

/** Global rules first, then the route's (a route's set of a name wins). Null when nothing to do. */
export function compileResponseEdits(global: HeaderRulesConfig | undefined, route: HeaderRulesConfig | undefined): ResponseEdits | null {
  const set = new Map<string, string>();
  const remove = new Set<string>();
  let preset: string | undefined;
  for (const rules of [global, route]) {
    if (rules === undefined) continue;
    for (const name of rules.response.remove) { remove.add(name); set.delete(name); }
    for (const [name, value] of Object.entries(rules.response.set)) set.set(name, value);
    if (rules.preset !== undefined) preset = rules.preset;
  }
  const defaults: string[] = [];
  if (preset === 'strict') {
    for (const [name, value] of STRICT) if (!set.has(name) && !remove.has(name)) defaults.push(name, value);
  }
  const hsts = preset === 'strict' && !set.has('strict-transport-security') && !remove.has('strict-transport-security');
  if (set.size === 0 && remove.size === 0 && defaults.length === 0 && !hsts) return null;
  for (const name of set.keys()) remove.add(name);
  return { remove, set: [...set].flat(), defaults, hsts };
}

/** The edited header list. `https`: the client's request came over TLS (directly or via a trusted hop). */
export function applyResponseEdits(headers: readonly string[], e: ResponseEdits, https: boolean, extra: readonly string[] | null): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!e.remove.has(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  }
  const d = e.defaults;
  for (let i = 0; i < d.length; i += 2) if (!has(out, d[i]!)) out.push(d[i]!, d[i + 1]!);
  if (e.hsts && https && !has(out, 'strict-transport-security')) out.push('strict-transport-security', HSTS_VALUE);
  for (let i = 0; i < e.set.length; i++) out.push(e.set[i]!);
  if (extra !== null) for (let i = 0; i < extra.length; i++) out.push(extra[i]!);
  return out;
}

function has(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

/** Request header edits: names removed, then [name, value, …] added. Null when none. */
export interface RequestEdits {
  readonly remove: ReadonlySet<string>;
  readonly add: readonly string[];
}

export function compileRequestEdits(global: HeaderRulesConfig | undefined, route: HeaderRulesConfig | undefined): RequestEdits | null {
  const set = new Map<string, string>();
  const remove = new Set<string>();
  for (const rules of [global, route]) {
    if (rules === undefined) continue;
    for (const name of rules.request.remove) { remove.add(name); set.delete(name); }
    for (const [name, value] of Object.entries(rules.request.set)) set.set(name, value);
  }
  if (set.size === 0 && remove.size === 0) return null;
  for (const name of set.keys()) remove.add(name);
  return { remove, add: [...set].flat() };
}
