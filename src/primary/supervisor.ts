// The primary: spawns N worker threads, replaces one that dies (with backoff) while the
// others keep serving, hands a new config generation to every worker (prepare on all, then
// commit on all, or abort on all), and drains them all on SIGTERM/SIGINT.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/types.js';
import { largestMessage } from '../config/diff.js';
import type { FromWorker, ToWorker, WorkerBoot, WorkerInspection } from '../messages.js';
import { allocateSegments, wantsCache, wantsCounterTable, wantsRateTable, type SharedSegments } from '../shm/segments.js';
import { allocateRateTable } from '../shm/rate-table.js';
import { allocateCounterTable } from '../shm/counter-table.js';
import { allocateCacheMemory } from '../shm/layout.js';
import { releaseMetricsLockOf } from '../shm/metrics.js';
import { releaseLockOf } from '../cache/table.js';
import { parseYoungMb, YOUNG_MB_VAR } from '../config/worker-heap.js';
import { setUwsHeadLimit } from '../uws/head-limit.js';
import { MetricsReader } from '../observe/metrics-read.js';

const WORKER_URL = new URL('../worker.js', import.meta.url);
const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** A worker that lived this long resets its slot's backoff. */
const STABLE_AFTER_MS = 30_000;
/** A worker that has not answered a reload step by then has failed it. */
const RELOAD_STEP_MS = 15_000;
const INSPECT_MS = 2_000;

interface Slot {
  id: number;
  worker: Worker | null;
  threadId: number;
  startedAt: number;
  backoffMs: number;
  restarts: number;
  ready: boolean;
  /** The config generation the worker serves. */
  generation: number;
}

/** A worker as the admin API shows it. */
export interface WorkerState {
  readonly id: number;
  readonly threadId: number;
  readonly state: 'running' | 'starting' | 'restarting';
  readonly startedAt: number;
  readonly restarts: number;
  readonly generation: number;
}

export interface SupervisorEvents {
  log(level: 'info' | 'warn' | 'error', msg: string): void;
  /** A worker was replaced after it exited (metrics). */
  restarted?(id: number): void;
}

export type ApplyResult = { readonly ok: true; readonly tunnelsClosed: number } | { readonly ok: false; readonly error: string };

export function workerCount(config: Config, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env['PORTCULLIS_WORKERS'];
  const n = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : config.workers;
  if (!Number.isInteger(n) || n < 0) throw new Error(`PORTCULLIS_WORKERS must be a whole number, got "${fromEnv}"`);
  return n === 0 ? availableParallelism() : n;
}

/**
 * V8 young-generation size per worker (PORTCULLIS_WORKER_YOUNG_MB, default 16; see
 * config/worker-heap.ts). The config loader has already refused a bad value with the
 * other env errors; the throw here only guards callers that skip the loader.
 */
export function workerHeapLimits(env: NodeJS.ProcessEnv = process.env): { maxYoungGenerationSizeMb?: number } {
  const young = parseYoungMb(env[YOUNG_MB_VAR]);
  if ('error' in young) throw new Error(`${YOUNG_MB_VAR}: ${young.error}`);
  return young.mb === 0 ? {} : { maxYoungGenerationSizeMb: young.mb };
}

type Reply = (slot: Slot, msg: FromWorker) => void;

export class Supervisor {
  #config: Config;
  #generation = 1;
  /** The config the process started with: what it fixed stays fixed until a restart (config/diff.ts). */
  readonly started: Config;
  readonly #slots: Slot[] = [];
  readonly #events: SupervisorEvents;
  readonly #testHooks: boolean;
  readonly #count: number;
  #stopping = false;
  /** Pending replacements (cleared by stop). */
  readonly #restarts = new Set<NodeJS.Timeout>();
  /** start() succeeded: from now on every exit is replaced. */
  #started = false;
  readonly #limits: { maxYoungGenerationSizeMb?: number };
  /** Allocated once and kept across worker restarts and reloads (a reload may add the cache). */
  #shm: SharedSegments;
  readonly #maxMessage: number;
  readonly #replies = new Set<Reply>();
  #asks = 0;
  readonly metrics: MetricsReader;

  constructor(config: Config, events: SupervisorEvents, testHooks = false, count = workerCount(config)) {
    this.#config = config;
    this.started = config;
    this.#count = count;
    this.#shm = allocateSegments(config, count);
    this.metrics = new MetricsReader(this.#shm.metrics!);
    this.#events = events;
    this.#testHooks = testHooks;
    this.#limits = workerHeapLimits();
    this.#maxMessage = largestMessage(config);
    // Before any worker loads uWS, which reads it once per process (uws/head-limit.ts).
    setUwsHeadLimit(config.limits.max_header_bytes);
  }

  get config(): Config { return this.#config; }
  get generation(): number { return this.#generation; }
  get shm(): SharedSegments { return this.#shm; }
  get count(): number { return this.#count; }

  /** Spawns every worker; resolves when all listen, rejects on the first that cannot. */
  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let id = 0; id < this.#count; id++) {
      const slot: Slot = { id, worker: null, threadId: 0, startedAt: 0, backoffMs: BACKOFF_START_MS, restarts: 0, ready: false, generation: 0 };
      this.#slots.push(slot);
      ready.push(this.#spawn(slot));
    }
    await Promise.all(ready);
    this.#started = true;
  }

  #spawn(slot: Slot): Promise<void> {
    const boot: WorkerBoot = { id: slot.id, config: this.#config, generation: this.#generation, shm: this.#shm, maxMessage: this.#maxMessage, testHooks: this.#testHooks };
    const worker = new Worker(WORKER_URL, { workerData: boot, resourceLimits: this.#limits });
    const threadId = worker.threadId;
    slot.worker = worker;
    slot.threadId = threadId;
    slot.startedAt = Date.now();
    slot.ready = false;
    slot.generation = boot.generation;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let ready = false;
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          ready = true;
          slot.ready = true;
          // Spawned while a reload was being applied: bring it to the current generation.
          if (msg.generation < this.#generation) void this.#catchUp(slot);
          if (!settled) { settled = true; resolve(); }
        } else if (msg.type === 'fatal') {
          // Before 'ready' the start promise carries the reason and its caller reports it;
          // logging it here too would print every start-up failure twice.
          if (!settled) { settled = true; reject(new Error(msg.message)); }
          else this.#events.log('error', `worker ${slot.id}: ${msg.message}`);
        } else {
          if (msg.type === 'committed') slot.generation = msg.generation;
          for (const r of this.#replies) r(slot, msg);
        }
      });
      worker.on('error', (err) => {
        this.#events.log('error', `worker ${slot.id}: ${err.stack ?? err.message}`);
      });
      worker.on('exit', (code) => {
        if (slot.worker === worker) { slot.worker = null; slot.ready = false; }
        // A worker that died inside a shared-memory write must not leave a lock taken, and the
        // connections its gauges counted died with it.
        if (this.#shm.cache !== null) releaseLockOf(this.#shm.cache, threadId);
        releaseMetricsLockOf(this.#shm.metrics!, threadId);
        this.metrics.zeroGauges(slot.id);
        if (!settled) { settled = true; reject(new Error(`worker ${slot.id} exited with code ${code} during start-up`)); return; }
        // A worker that failed the first start (never ready) is not replaced: start() rejects
        // with its reason and the caller stops; its exit can come after that rejection. A
        // replacement that fails later is retried with backoff.
        if (this.#stopping || (!ready && !this.#started)) return;
        this.#replace(slot, code);
      });
    });
  }

  #replace(slot: Slot, code: number): void {
    if (Date.now() - slot.startedAt > STABLE_AFTER_MS) slot.backoffMs = BACKOFF_START_MS;
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, BACKOFF_MAX_MS);
    slot.restarts++;
    this.#events.log('warn', `worker ${slot.id} exited with code ${code}; restarting in ${delay} ms`);
    // Not unref'd: with one worker this timer is all that keeps the process alive until the
    // replacement starts (unref'd, the proxy exited 0 instead of restarting its worker).
    const timer = setTimeout(() => {
      this.#restarts.delete(timer);
      if (this.#stopping) return;
      this.#spawn(slot).then(
        () => { this.#events.log('info', `worker ${slot.id} restarted`); this.#events.restarted?.(slot.id); },
        (err: Error) => this.#events.log('error', `worker ${slot.id} failed to restart: ${err.message}`),
      );
    }, delay);
    this.#restarts.add(timer);
  }

  /** Sends `msg` to every running worker and collects one answer of `type` from each. */
  #ask<T extends FromWorker['type']>(msg: ToWorker, type: T, match: (m: Extract<FromWorker, { type: T }>) => boolean, timeoutMs: number, slots = this.#slots.filter((s) => s.worker !== null && s.ready)): Promise<Map<number, Extract<FromWorker, { type: T }> | null>> {
    return new Promise((resolve) => {
      const answers = new Map<number, Extract<FromWorker, { type: T }> | null>();
      const waiting = new Set(slots);
      const finish = (): void => {
        this.#replies.delete(reply);
        clearTimeout(timer);
        for (const s of waiting) answers.set(s.id, null);
        resolve(answers);
      };
      const reply: Reply = (slot, m) => {
        if (m.type !== type || !waiting.has(slot) || !match(m as Extract<FromWorker, { type: T }>)) return;
        waiting.delete(slot);
        answers.set(slot.id, m as Extract<FromWorker, { type: T }>);
        if (waiting.size === 0) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.#replies.add(reply);
      if (waiting.size === 0) { finish(); return; }
      for (const s of slots) s.worker!.postMessage(msg);
    });
  }

  /**
   * Makes `config` the running config on every worker, or on none: each worker compiles it and
   * opens the listeners it adds (prepare); only when all succeeded do they swap (commit).
   */
  async apply(config: Config): Promise<ApplyResult> {
    const generation = this.#generation + 1;
    // The first caching route may come with a reload; a cache's size is fixed once it exists.
    // So may the first rate limit or per-client count (their tables' sizes are fixed likewise).
    let shm: SharedSegments = this.#shm.cache === null && wantsCache(config)
      ? { ...this.#shm, cache: allocateCacheMemory(config.cache.size) }
      : this.#shm;
    if (shm.rateLimit === null && wantsRateTable(config)) shm = { ...shm, rateLimit: allocateRateTable(config.limits.rate_limit_keys) };
    if (shm.concurrency === null && wantsCounterTable(config)) shm = { ...shm, concurrency: allocateCounterTable() };
    const prepared = await this.#ask({ type: 'prepare', generation, config, shm }, 'prepared', (m) => m.generation === generation, RELOAD_STEP_MS);
    const failures = [...prepared].filter(([, m]) => m === null || m.error !== null);
    if (failures.length > 0) {
      for (const s of this.#slots) s.worker?.postMessage({ type: 'abort', generation } satisfies ToWorker);
      const [id, m] = failures[0]!;
      return { ok: false, error: m === null ? `worker ${id} did not answer the reload within ${RELOAD_STEP_MS} ms` : m.error! };
    }
    this.#shm = shm;
    this.#config = config;
    this.#generation = generation;
    const committed = await this.#ask({ type: 'commit', generation }, 'committed', (m) => m.generation === generation, RELOAD_STEP_MS, this.#slots.filter((s) => prepared.has(s.id)));
    let tunnelsClosed = 0;
    for (const m of committed.values()) tunnelsClosed += m?.tunnelsClosed ?? 0;
    return { ok: true, tunnelsClosed };
  }

  /** A worker that came up on an older generation (spawned mid-reload) gets the current one. */
  async #catchUp(slot: Slot): Promise<void> {
    const generation = this.#generation;
    const prepared = await this.#ask({ type: 'prepare', generation, config: this.#config, shm: this.#shm }, 'prepared', (m) => m.generation === generation, RELOAD_STEP_MS, [slot]);
    const answer = prepared.get(slot.id);
    if (answer?.error === null) slot.worker?.postMessage({ type: 'commit', generation } satisfies ToWorker);
    else this.#events.log('error', `worker ${slot.id} could not take config generation ${generation}: ${answer?.error ?? 'no answer'}`);
  }

  /** SIGUSR1: every worker reopens its access log file; resolves with how many did. */
  async reopenLogs(): Promise<number> {
    const ask = ++this.#asks;
    const answers = await this.#ask({ type: 'reopen-logs', ask }, 'reopened', (m) => m.ask === ask, INSPECT_MS);
    return [...answers.values()].filter((m) => m !== null).length;
  }

  /** What every running worker has open right now (admin API, plan). */
  async inspect(): Promise<WorkerInspection[]> {
    const ask = ++this.#asks;
    const answers = await this.#ask({ type: 'inspect', ask }, 'inspected', (m) => m.ask === ask, INSPECT_MS);
    return [...answers.values()].flatMap((m) => (m === null ? [] : [m.info]));
  }

  workers(): WorkerState[] {
    return this.#slots.map((s) => ({
      id: s.id,
      threadId: s.threadId,
      state: s.worker === null ? 'restarting' : s.ready ? 'running' : 'starting',
      startedAt: s.startedAt,
      restarts: s.restarts,
      generation: s.generation,
    }));
  }

  /** Test hook: make one worker throw an uncaught error. */
  crash(id: number): void {
    const w = this.#slots[id]?.worker;
    if (w) w.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  /** Stop accepting, let in-flight requests finish (up to the drain deadline), wait for every exit. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#restarts) clearTimeout(t);
    this.#restarts.clear();
    const exits: Promise<unknown>[] = [];
    for (const slot of this.#slots) {
      const w = slot.worker;
      if (!w) continue;
      exits.push(new Promise((resolve) => w.once('exit', resolve)));
      w.postMessage({ type: 'drain' } satisfies ToWorker);
    }
    await Promise.all(exits);
  }

  get stopping(): boolean { return this.#stopping; }
}
