// Worker thread entry: compiles the Runtime from the config in workerData, serves it on one
// uWS App per listen address, swaps config generations when the primary reloads (prepare,
// then commit or abort), keeps the clock that expires upstream deadlines, and exits cleanly:
// a uWS App left open when a worker ends aborts the whole process (shared notes §3).
import { parentPort, workerData } from 'node:worker_threads';
import { uWS } from './uws/load.js';
import type { FromWorker, ToWorker, WorkerBoot, WorkerInspection } from './messages.js';
import type { Config } from './config/types.js';
import { changedRouteKeys, listenKey, routeKey, routeLabel, stableJson } from './config/diff.js';
import { createAccessLog, type AccessLog } from './observe/access-log.js';
import { ErrorLog } from './observe/error-log.js';
import { attachMetrics } from './observe/metrics.js';
import { recordExchange } from './observe/request-metrics.js';
import { buildRuntime } from './runtime.js';
import type { SharedSegments } from './shm/segments.js';
import { Generation, Generations, routeOf } from './downstream/generations.js';
import { Listeners } from './downstream/listeners.js';
import type { Exchange } from './exchange.js';

const boot = workerData as WorkerBoot;
const port = parentPort!;
const post = (msg: FromWorker): void => port.postMessage(msg);

// Before any request: the handles declared so far (module load) move into shared memory.
if (boot.shm.metrics !== null) attachMetrics(boot.shm.metrics, boot.id);

// Declared before the handlers that read them: an error while building them (a config
// the router refuses) must find them empty, not in their temporal dead zone.
let listeners: Listeners | null = null;
let gens: Generations | null = null;
let exiting = false;
let shm: SharedSegments = boot.shm;
const errorLog = new ErrorLog(boot.config.log_level);
const sink = (ex: Exchange): void => { recordExchange(ex); errorLog.record(ex); };

/** Access logs by their settings: a reload that keeps them keeps the file open. */
const logs = new Map<string, { log: AccessLog | null; users: number }>();

function acquireLog(config: Config): AccessLog | null {
  const key = stableJson(config.access_log);
  let entry = logs.get(key);
  if (entry === undefined) logs.set(key, (entry = { log: createAccessLog(config.access_log), users: 0 }));
  entry.users++;
  return entry.log;
}

function releaseLog(config: Config): void {
  const key = stableJson(config.access_log);
  const entry = logs.get(key);
  if (entry === undefined || --entry.users > 0) return;
  logs.delete(key);
  entry.log?.close();
}

/** Closes every socket this thread owns, then ends the thread with `code`. */
function exitWorker(code: number): void {
  if (exiting) return;
  exiting = true;
  try { listeners?.close(); } catch { /* already closed */ }
  gens?.closeAll();
  for (const g of gens?.all() ?? []) g.runtime.cache?.table.releaseIfHeld();
  for (const { log } of logs.values()) log?.flushSync();
  errorLog.flushSync();
  process.exit(code);
}

process.on('uncaughtException', (err) => {
  // Close the listener and every connection first, then exit 1: the primary replaces us.
  try { post({ type: 'fatal', id: boot.id, message: err.stack ?? String(err) }); } catch { /* port closed */ }
  exitWorker(1);
});
process.on('unhandledRejection', (err) => { throw err; });

/** Compiles a config into a generation (throws on a config the router refuses). */
function compile(id: number, config: Config): Generation {
  const runtime = buildRuntime(config, shm);
  try {
    return new Generation(id, runtime, acquireLog(config), sink);
  } catch (err) {
    for (const pool of runtime.pools) pool.close();
    throw err;
  }
}

uWS._cfg('silent'); // no `uWebSockets: 20` header (per thread, §5)
let first: Generation | null = null;
try {
  first = compile(boot.generation, boot.config);
} catch (err) {
  // A config problem, not a crash: the primary gets the reason alone, without a stack, and
  // stops (validation should have caught it; this is the last line).
  post({ type: 'fatal', id: boot.id, message: `cannot compile the config: ${err instanceof Error ? err.message : String(err)}` });
  exitWorker(1);
}
if (first !== null) serve(first);

function serve(firstGen: Generation): void {
  const g = (gens = new Generations(firstGen, (old) => releaseLog(old.runtime.config), (msg) => process.stderr.write(`portcullis: warn: worker ${boot.id}: ${msg}\n`)));
  const l = (listeners = new Listeners(boot.maxMessage));
  const current = (): Config => g.current.runtime.config;
  const clock = setInterval(() => {
    const now = Date.now();
    for (const gen of g.all()) for (const pool of gen.runtime.pools) pool.sweep(now);
  }, 100);
  const logFlush = setInterval(() => {
    for (const { log } of logs.values()) log?.flush();
    errorLog.flush();
  }, 1000);

  /** The reload being prepared: its generation and the listeners it opened. */
  let pending: { generation: number; gen: Generation; added: string[] } | null = null;

  const drain = async (): Promise<void> => {
    l.stopAccepting();
    await l.idle(current().timeouts.drain);
    clearInterval(clock);
    clearInterval(logFlush);
    exitWorker(0);
  };

  const prepare = async (generation: number, config: Config, segments: SharedSegments): Promise<void> => {
    if (pending !== null) discard(pending);
    shm = segments;
    let gen: Generation;
    try {
      gen = compile(generation, config);
    } catch (err) {
      post({ type: 'prepared', id: boot.id, generation, error: `cannot compile the config: ${(err as Error).message}` });
      return;
    }
    const mine = { generation, gen, added: [] as string[] };
    pending = mine;
    try {
      mine.added = await l.open(config.listen, gen);
    } catch (err) {
      if (pending === mine) pending = null;
      discard(mine);
      post({ type: 'prepared', id: boot.id, generation, error: (err as Error).message });
      return;
    }
    post({ type: 'prepared', id: boot.id, generation, error: null });
  };

  const discard = (p: { gen: Generation; added: string[] }): void => {
    l.discard(p.added);
    for (const pool of p.gen.runtime.pools) pool.close();
    releaseLog(p.gen.runtime.config);
  };

  const commit = (generation: number): void => {
    const p = pending;
    if (p === null || p.generation !== generation) return;
    pending = null;
    const next = p.gen.runtime.config;
    const old = current();
    const changed = changedRouteKeys(old, next);
    l.setGeneration(p.gen);
    g.swap(p.gen, (r) => changed.has(routeKey(r.config)), next.timeouts.drain);
    const tunnelsClosed = l.goAwayWhere((t) => t.ex.route !== null && changed.has(routeKey(t.ex.route.config)), 'route changed by a reload');
    const keep = new Set(next.listen.map(listenKey));
    l.drain(l.keys().filter((k) => !keep.has(k)), next.timeouts.drain);
    errorLog.level = next.log_level;
    post({ type: 'committed', id: boot.id, generation, tunnelsClosed });
  };

  const inspect = (ask: number): void => {
    const tunnelsByRoute: Record<string, number> = {};
    for (const t of l.tunnels()) {
      const name = t.ex.route !== null ? routeLabel(t.ex.route.config) : '(none)';
      tunnelsByRoute[name] = (tunnelsByRoute[name] ?? 0) + 1;
    }
    const streamsByRoute: Record<string, number> = {};
    for (const gen of g.all()) {
      for (const ds of gen.streams) {
        if (ds.done || ds.head === null) continue;
        const r = routeOf(ds.head, gen.runtime);
        const name = r !== null ? routeLabel(r.config) : '(none)';
        streamsByRoute[name] = (streamsByRoute[name] ?? 0) + 1;
      }
    }
    const info: WorkerInspection = {
      id: boot.id,
      generation: g.current.id,
      generations: g.all().map((gen) => ({ id: gen.id, inflight: gen.inflight, streams: [...gen.streams].filter((s) => !s.done).length, retired: gen.retired })),
      listeners: l.info(),
      tunnelsByRoute,
      streamsByRoute,
      inflight: l.inflight,
    };
    post({ type: 'inspected', id: boot.id, ask, info });
  };

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'drain':
        void drain();
        break;
      case 'crash':
        if (boot.testHooks) setImmediate(() => { throw new Error('crash requested by test hook'); });
        break;
      case 'prepare':
        void prepare(msg.generation, msg.config, msg.shm);
        break;
      case 'commit':
        commit(msg.generation);
        break;
      case 'abort':
        if (pending !== null && pending.generation === msg.generation) { discard(pending); pending = null; }
        break;
      case 'reopen-logs':
        for (const { log } of logs.values()) log?.reopen();
        post({ type: 'reopened', id: boot.id, ask: msg.ask });
        break;
      case 'inspect':
        inspect(msg.ask);
        break;
    }
  });

  l.open(firstGen.runtime.config.listen, firstGen).then(
    () => post({ type: 'ready', id: boot.id, generation: firstGen.id }),
    (err: Error) => { post({ type: 'fatal', id: boot.id, message: err.message }); exitWorker(2); },
  );
}
