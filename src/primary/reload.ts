// Hot reload in the primary: SIGHUP, `portcullis reload` and POST /reload all end here. The
// file is loaded and validated off the main thread (config/load-isolated.ts); an invalid one,
// or one whose changes take a restart, leaves the running config untouched and says why
// (file:line:col: field: message); a valid one is applied to every worker at once
// (Supervisor.apply: prepare on all, then commit on all). One reload at a time: a second
// request waits for the first and then reads the file again.
import type { Config } from '../config/types.js';
import { diffConfigs, type ConfigDiff } from '../config/diff.js';
import { loadConfigIsolated, type ConfigProblem } from '../config/load-isolated.js';
import { shownDiff } from '../config/shown.js';
import { assertAddressFree } from './port-check.js';
import type { Supervisor } from './supervisor.js';

export type ReloadFailure = 'invalid' | 'restart_required' | 'failed' | 'unsupported';

/** `diff` is shown as it may leave the process: values from the environment as written (config/shown.ts). */
export type ReloadOutcome =
  | { readonly ok: true; readonly generation: number; readonly diff: ConfigDiff; readonly tunnelsClosed: number; readonly ms: number }
  | { readonly ok: false; readonly kind: ReloadFailure; readonly message: string; readonly errors: readonly ConfigProblem[]; readonly generation: number; readonly ms: number };

/** One line of the reload history (admin /reloads, the dashboard). */
export interface ReloadRecord {
  readonly at: string;
  readonly trigger: string;
  readonly ok: boolean;
  /** The generation served afterwards. */
  readonly generation: number;
  readonly ms: number;
  readonly summary: string;
}

const HISTORY = 50;

export interface ReloadEvents {
  log(level: 'info' | 'warn' | 'error', msg: string): void;
  /** A new config is running (the primary updates its own settings: log level, admin API). */
  applied(config: Config, previous: Config): Promise<void> | void;
  counted(result: 'ok' | ReloadFailure): void;
}

/** A human summary of a diff: "2 routes changed, 1 listener added". */
export function summarize(d: ConfigDiff): string {
  const parts: string[] = [];
  const n = (count: number, what: string, how: string): void => {
    if (count > 0) parts.push(`${count} ${what}${count === 1 ? '' : 's'} ${how}`);
  };
  n(d.routes.added.length, 'route', 'added');
  n(d.routes.removed.length, 'route', 'removed');
  n(d.routes.changed.length, 'route', 'changed');
  n(d.upstreams.added.length, 'upstream', 'added');
  n(d.upstreams.removed.length, 'upstream', 'removed');
  n(d.upstreams.changed.length, 'upstream', 'changed');
  n(d.listeners.added.length, 'listener', 'added');
  n(d.listeners.removed.length, 'listener', 'removed');
  n(d.settings.length, 'setting', 'changed');
  return parts.length > 0 ? parts.join(', ') : 'no changes';
}

export class Reloader {
  readonly #sup: Supervisor;
  /** The file the proxy was started with; null (quick mode, demo) means nothing to re-read. */
  readonly #path: string | null;
  readonly #events: ReloadEvents;
  readonly #history: ReloadRecord[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(sup: Supervisor, path: string | null, events: ReloadEvents) {
    this.#sup = sup;
    this.#path = path;
    this.#events = events;
  }

  history(): readonly ReloadRecord[] { return this.#history; }

  /** Reloads the config file; `trigger` says who asked (SIGHUP, admin API). */
  reload(trigger: string): Promise<ReloadOutcome> {
    const run = this.#queue.then(() => this.#reload(trigger));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reload(trigger: string): Promise<ReloadOutcome> {
    const t0 = Date.now();
    // `shown` is what the reply and the history say (without values from the environment);
    // the log, the operator's own, gets every detail.
    const fail = (kind: ReloadFailure, message: string, shown: { message: string; errors?: readonly ConfigProblem[] } = { message }): ReloadOutcome => {
      const outcome: ReloadOutcome = { ok: false, kind, message: shown.message, errors: shown.errors ?? [], generation: this.#sup.generation, ms: Date.now() - t0 };
      this.#record(trigger, false, `refused (${kind.replace('_', ' ')}): ${shown.message.split('\n')[0]}`, outcome.ms);
      this.#events.counted(kind);
      this.#events.log('error', `reload (${trigger}) refused; still serving config generation ${this.#sup.generation}:\n${message}`);
      return outcome;
    };
    if (this.#path === null) return fail('unsupported', 'this proxy was started without a config file (quick mode or demo): there is nothing to reload');
    const loaded = await loadConfigIsolated({ kind: 'file', path: this.#path });
    if (!loaded.ok) return fail('invalid', loaded.message, loaded.shown);
    const previous = this.#sup.config;
    const next = loaded.config;
    const diff = diffConfigs(previous, next, this.#sup.started);
    const shown = shownDiff(diff, previous, next, this.#sup.started);
    if (diff.restart.length > 0) {
      const lines = shown.restart.map((r) => `${r.field}: ${String(r.from)} → ${String(r.to)} takes a restart (${r.why})`);
      return fail('restart_required', lines.join('\n'));
    }
    // A listener another program holds would fail in the workers; say so plainly first.
    for (const a of next.listen) {
      const key = a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
      if (!diff.listeners.added.includes(key)) continue;
      try { await assertAddressFree(a); } catch (err) { return fail('failed', (err as Error).message); }
    }
    const applied = await this.#sup.apply(next);
    if (!applied.ok) return fail('failed', applied.error);
    try {
      await this.#events.applied(next, previous);
    } catch (err) {
      this.#events.log('error', `reload: the workers run generation ${this.#sup.generation}, but the primary could not apply its part: ${(err as Error).message}`);
    }
    const ms = Date.now() - t0;
    const summary = summarize(diff);
    const drained = applied.tunnelsClosed > 0 ? `; ${applied.tunnelsClosed} WebSocket${applied.tunnelsClosed === 1 ? '' : 's'} on changed routes closed (1001)` : '';
    this.#record(trigger, true, `${summary}${drained}`, ms);
    this.#events.counted('ok');
    this.#events.log('info', `reload (${trigger}): config generation ${this.#sup.generation} from ${this.#path}: ${summary}${drained} (${ms} ms)`);
    return { ok: true, generation: this.#sup.generation, diff: shown, tunnelsClosed: applied.tunnelsClosed, ms };
  }

  #record(trigger: string, ok: boolean, summary: string, ms: number): void {
    this.#history.unshift({ at: new Date().toISOString(), trigger, ok, generation: this.#sup.generation, ms, summary });
    if (this.#history.length > HISTORY) this.#history.pop();
  }
}
