// What of a config may leave the process. A value the proxy read from its environment
// (`${NAME}`: tokens, passwords, internal host names the operator keeps in a 0600 env file)
// never appears in an admin API reply, a plan or a reload's answer: the text written in the
// file (`"http://${API_HOST}:3000"`) stands in for it. Loading records where such values went
// (Config.from_env, effective-config paths); this file turns that into:
//
//   shownConfig   the effective config with those fields as written (GET /config)
//   shownDiff     a config diff with them as written on both sides (plan, reload replies)
//   Redactor      labels built from them (routes, listeners, targets: in /metrics, /stats, …)
//                 and the raw values themselves, scrubbed from any reply text
//   scrubber      config error messages without them (a refused reload's reply)
//
// Decisions (what changed, what needs a restart) are always made on the real values; only
// what is shown changes.
import { listenKey, redactAuth, routeLabel, stableJson, type ConfigDiff, type FieldChange } from './diff.js';
import { WEBSOCKET_DEFAULTS } from './defaults.js';
import type { Config, ConfigPath, EnvTrace } from './types.js';

/** Shorter values are not scrubbed from free text (they would mangle it and guard nothing). */
const MIN_SCRUB = 4;

function isRecord(v: unknown): v is Record<string | number, unknown> {
  return typeof v === 'object' && v !== null;
}

/** The value at `path`, or undefined. */
export function valueAt(root: unknown, path: ConfigPath): unknown {
  let v = root;
  for (const seg of path) {
    if (!isRecord(v)) return undefined;
    v = v[seg];
  }
  return v;
}

function setAt(root: unknown, path: ConfigPath, value: unknown): void {
  let v = root;
  for (const seg of path.slice(0, -1)) {
    if (!isRecord(v)) return;
    v = v[seg];
  }
  if (isRecord(v) && path.length > 0) v[path[path.length - 1]!] = value;
}

/** One path is a prefix of the other (the same field, or one inside the other). */
function overlaps(a: ConfigPath, b: ConfigPath): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether the field at `path` (or something inside it, or around it) came from the environment. */
export function fromEnv(config: Config, path: ConfigPath): boolean {
  return config.from_env?.fields.some((f) => overlaps(f.path, path)) ?? false;
}

/**
 * Where raw values from the environment (paths in the file's data) ended up in the effective
 * config: the same path as far as the config has it. A field the config does not keep (an
 * `x-` extension field, `$schema`) is dropped; one that was reshaped below some depth marks
 * that whole node.
 */
export function traceOf(config: Config, raw: readonly { path: ConfigPath; written: string }[], values: ReadonlyMap<string, string>): EnvTrace {
  const fields = new Map<string, { path: ConfigPath; written: string }>();
  for (const r of raw) {
    const path: (string | number)[] = [];
    let node: unknown = config;
    for (const seg of r.path) {
      if (!isRecord(node) || !Object.prototype.hasOwnProperty.call(node, seg)) break;
      node = node[seg];
      path.push(seg);
    }
    if (path.length === 0 || path[0] === 'source' || path[0] === 'from_env') continue;
    fields.set(JSON.stringify(path), { path, written: path.length === r.path.length ? r.written : '(read from the environment)' });
  }
  return { fields: [...fields.values()], values: Object.fromEntries(values) };
}

/**
 * The effective config as JSON for the admin API: every field read from the environment as
 * written in the file, the admin token only as `(set)`, basic-auth hashes and private JWT key
 * members as a digest.
 */
export function shownConfig(config: Config): Record<string, unknown> {
  const { from_env: trace, ...rest } = config;
  const out = JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
  // Credentials by nature first (as a diff shows them), then the written text over what came
  // from the environment.
  config.routes.forEach((r, i) => { if (r.auth !== undefined) setAt(out, ['routes', i, 'auth'], JSON.parse(JSON.stringify(redactAuth(r.auth)))); });
  for (const f of trace?.fields ?? []) setAt(out, f.path, f.written);
  if (config.admin !== null) {
    const listen = fromEnv(config, ['admin', 'listen']) ? valueAt(out, ['admin', 'listen']) : listenKey(config.admin.listen);
    out['admin'] = { listen, token: config.admin.token === undefined ? null : '(set)' };
  }
  return out;
}

/** Strings in replies (labels, values) that were built from the environment, and what to show instead. */
export function shownLabels(config: Config): Map<string, string> {
  const labels = new Map<string, string>();
  const trace = config.from_env;
  if (trace === undefined || trace.fields.length === 0) return labels;
  const shown = shownConfig(config);
  const str = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);
  config.routes.forEach((r, i) => {
    if (!fromEnv(config, ['routes', i, 'host']) && !fromEnv(config, ['routes', i, 'path'])) return;
    const host = r.host === undefined ? undefined : str(valueAt(shown, ['routes', i, 'host']), r.host);
    labels.set(routeLabel(r), routeLabel({ host, path: str(valueAt(shown, ['routes', i, 'path']), r.path) }));
  });
  const listenShown = valueAt(shown, ['listen']);
  config.listen.forEach((a, i) => {
    if (!fromEnv(config, ['listen', i])) return;
    labels.set(listenKey(a), typeof listenShown === 'string' ? listenShown : str(valueAt(listenShown, [i]), listenKey(a)));
  });
  if (config.admin !== null && fromEnv(config, ['admin', 'listen'])) labels.set(listenKey(config.admin.listen), str(valueAt(shown, ['admin', 'listen']), '(read from the environment)'));
  for (const g of Object.values(config.upstreams)) {
    g.targets.forEach((t, i) => {
      if (fromEnv(config, ['upstreams', g.name, 'targets', i])) labels.set(t.url, str(valueAt(shown, ['upstreams', g.name, 'targets', i]), '(read from the environment)'));
    });
  }
  for (const f of trace.fields) {
    const real = valueAt(config, f.path);
    if (typeof real === 'string' && real !== '' && !labels.has(real)) labels.set(real, f.written);
  }
  return labels;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Replaces, in any reply, what came from the environment: a string that is such a label as a
 * whole, and inside any text the longer labels and every substituted value (case-insensitive:
 * host names are lower-cased on the way in).
 */
export class Redactor {
  readonly #exact = new Map<string, string>();
  #inner: { re: RegExp; to: string; len: number }[] = [];
  readonly #seen = new Set<string>();

  /** Configs whose labels and values are scrubbed from now on (a config added twice counts once). */
  add(config: Config): this {
    const trace = config.from_env;
    if (trace === undefined) return this;
    const key = stableJson(trace);
    if (this.#seen.has(key)) return this;
    this.#seen.add(key);
    for (const [real, shown] of shownLabels(config)) {
      this.#exact.set(real, shown);
      if (real.length >= MIN_SCRUB) this.#inner.push({ re: new RegExp(escapeRegExp(real), 'g'), to: shown, len: real.length });
    }
    for (const [name, value] of Object.entries(trace.values)) {
      if (value.length >= MIN_SCRUB) this.#inner.push({ re: new RegExp(escapeRegExp(value), 'gi'), to: `\${${name}}`, len: value.length });
    }
    // The longest first, so a label is replaced whole before a value inside it.
    this.#inner.sort((a, b) => b.len - a.len);
    return this;
  }

  /** A copy that also scrubs `config` (a posted plan's). */
  with(config: Config): Redactor {
    const r = new Redactor();
    for (const [k, v] of this.#exact) r.#exact.set(k, v);
    r.#inner = [...this.#inner];
    for (const s of this.#seen) r.#seen.add(s);
    return r.add(config);
  }

  get empty(): boolean { return this.#inner.length === 0 && this.#exact.size === 0; }

  text(s: string): string {
    let out = s;
    for (const { re, to } of this.#inner) out = out.replace(re, () => to);
    return out;
  }

  json<T>(value: T): T {
    if (this.empty) return value;
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return this.#exact.get(v) ?? this.text(v);
      if (Array.isArray(v)) return v.map(walk);
      if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.#exact.get(k) ?? this.text(k), walk(x)]));
      return v;
    };
    return walk(value) as T;
  }
}

/**
 * A diff as it may be shown: values read from the environment as written, on both sides, and
 * labels the same. When both sides are written the same but the values differ, the reader is
 * told that much and no more.
 */
export function shownDiff(d: ConfigDiff, old: Config, next: Config, started: Config = old): ConfigDiff {
  if (old.from_env === undefined && next.from_env === undefined && started.from_env === undefined) return d;
  const so = shownConfig(old);
  const sn = shownConfig(next);
  const ss = shownConfig(started);
  const lo = shownLabels(old);
  const ln = shownLabels(next);
  const label = (m: Map<string, string>, s: string): string => m.get(s) ?? s;
  const side = (c: Config, shown: unknown, path: ConfigPath, real: unknown, view: (v: unknown) => unknown = (v) => v): unknown =>
    fromEnv(c, path) ? view(valueAt(shown, path)) : real;
  const change = (c: FieldChange, from: unknown, to: unknown): FieldChange =>
    stableJson(from) === stableJson(to) && stableJson(c.from) !== stableJson(c.to)
      ? { field: c.field, from, to: `${typeof to === 'string' ? to : JSON.stringify(to)} (another value)` }
      : { field: c.field, from, to };
  const pathOf = (field: string): ConfigPath => field.split('.');

  const routeIndex = (c: Config, labelText: string): number => c.routes.findIndex((r) => routeLabel(r) === labelText);
  const routes: ConfigDiff['routes'] = {
    added: d.routes.added.map((r) => label(ln, r)),
    removed: d.routes.removed.map((r) => label(lo, r)),
    changed: d.routes.changed.map(({ route, changes }) => {
      const io = routeIndex(old, route);
      const r = old.routes[io];
      const inNext = r === undefined ? -1 : next.routes.findIndex((n) => n.host === r.host && n.path === r.path);
      return {
        route: label(lo, route),
        changes: changes.map((c) => {
          if (c.field.startsWith('upstreams.') || io < 0 || inNext < 0) return c;
          const sub = pathOf(c.field);
          // A route without a websocket section shows the defaults (as the diff does).
          const ws = (v: unknown): unknown => (v === undefined && sub.length === 1 && sub[0] === 'websocket' ? WEBSOCKET_DEFAULTS : v);
          return change(c, side(old, so, ['routes', io, ...sub], c.from, ws), side(next, sn, ['routes', inNext, ...sub], c.to, ws));
        }),
      };
    }),
  };
  const urls = (v: unknown): unknown => (Array.isArray(v) ? v.map((t) => (isRecord(t) ? t['url'] : t)) : v);
  const upstreams: ConfigDiff['upstreams'] = {
    ...d.upstreams,
    changed: d.upstreams.changed.map(({ upstream, changes }) => ({
      upstream,
      changes: changes.map((c) => {
        const path = ['upstreams', upstream, ...pathOf(c.field)];
        const view = c.field === 'targets' ? urls : (v: unknown) => v;
        return change(c, side(old, so, path, c.from, view), side(next, sn, path, c.to, view));
      }),
    })),
  };
  const listeners = {
    added: d.listeners.added.map((l) => label(ln, l)),
    removed: d.listeners.removed.map((l) => label(lo, l)),
    kept: d.listeners.kept.map((l) => label(ln, l)),
  };
  const settings = d.settings.map((c) => (c.field === 'admin.token' ? c : change(c, side(old, so, pathOf(c.field), c.from), side(next, sn, pathOf(c.field), c.to))));
  const anyWebSocketFromEnv = (c: Config): boolean => c.from_env?.fields.some((f) => f.path[0] === 'routes' && f.path[2] === 'websocket') ?? false;
  const restart = d.restart.map((r) => {
    if (r.field.includes('[]')) {
      const hidden = '(read from the environment)';
      return { ...r, from: anyWebSocketFromEnv(started) ? hidden : r.from, to: anyWebSocketFromEnv(next) ? hidden : r.to };
    }
    const path = pathOf(r.field);
    return { ...r, from: side(started, ss, path, r.from), to: side(next, sn, path, r.to) };
  });
  return { ...d, routes, upstreams, listeners, settings, restart };
}

/**
 * Config error messages without what came from the environment, for replies: each substituted
 * scalar's value as quoted in a message (also cut at 40 characters, as messages cut it) becomes
 * its written text, and each substituted value inside any message becomes `${NAME}`.
 */
export function scrubber(scalars: readonly { written: string; expanded: string }[], values: ReadonlyMap<string, string>): (message: string) => string {
  const pairs: [string, string][] = [];
  for (const s of scalars) {
    pairs.push([JSON.stringify(s.expanded), JSON.stringify(s.written)]);
    if (s.expanded.length > 40) pairs.push([JSON.stringify(`${s.expanded.slice(0, 40)}…`), JSON.stringify(s.written)]);
  }
  const inner = [...values].filter(([, v]) => v.length >= MIN_SCRUB).sort((a, b) => b[1].length - a[1].length);
  return (message) => {
    let out = message;
    for (const [from, to] of pairs) out = out.split(from).join(to);
    for (const [name, value] of inner) {
      out = out.replace(new RegExp(escapeRegExp(value), 'gi'), () => `\${${name}}`);
      const escaped = JSON.stringify(value).slice(1, -1);
      if (escaped !== value) out = out.split(escaped).join(`\${${name}}`);
    }
    return out;
  };
}
