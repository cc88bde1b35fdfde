// The primary: spawns N worker threads, replaces one that dies (with backoff) while the
// others keep serving, and drains them all on SIGTERM/SIGINT.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/types.js';
import type { FromWorker, ToWorker, WorkerBoot, WorkerState } from '../messages.js';
import { allocateSegments, type SharedSegments } from '../shm/segments.js';
import { releaseLockOf } from '../cache/table.js';
import { parseYoungMb, YOUNG_MB_VAR } from '../config/worker-heap.js';
import { setUwsHeadLimit } from '../uws/head-limit.js';

const WORKER_URL = new URL('../worker.js', import.meta.url);
const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** A worker that lived this long resets its slot's backoff. */
const STABLE_AFTER_MS = 30_000;

interface Slot {
  id: number;
  worker: Worker | null;
  startedAt: number;
  backoffMs: number;
  restarts: number;
}

export interface SupervisorEvents {
  log(level: 'info' | 'warn' | 'error', msg: string): void;
  /** A worker's message other than ready, fatal and ack (acme-on-demand). */
  message?(msg: FromWorker): void;
}

/** How long a broadcastAndWait waits for a worker that does not acknowledge. */
const ACK_TIMEOUT_MS = 10_000;

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

export class Supervisor {
  readonly #config: Config;
  readonly #slots: Slot[] = [];
  readonly #events: SupervisorEvents;
  readonly #testHooks: boolean;
  #stopping = false;
  /** Pending replacements (cleared by stop). */
  readonly #restarts = new Set<NodeJS.Timeout>();
  /** start() succeeded: from now on every exit is replaced. */
  #started = false;
  readonly #limits: { maxYoungGenerationSizeMb?: number };
  /** Allocated once and kept across worker restarts: a replaced worker finds the cache as it was. */
  readonly #shm: SharedSegments;

  /** The TLS state handed to each worker at spawn (certificates, ACME challenges). */
  readonly #state: () => WorkerState;
  /** broadcastAndWait ids → workers that have not acknowledged yet. */
  readonly #acks = new Map<number, { waiting: Set<Worker>; done: () => void }>();
  #nextAck = 1;

  constructor(config: Config, events: SupervisorEvents, testHooks = false, state: () => WorkerState = () => ({ tls: {}, challenges: {} })) {
    this.#config = config;
    this.#state = state;
    this.#shm = allocateSegments(config);
    this.#events = events;
    this.#testHooks = testHooks;
    this.#limits = workerHeapLimits();
    // Before any worker loads uWS, which reads it once per process (uws/head-limit.ts).
    setUwsHeadLimit(config.limits.max_header_bytes);
  }

  /** Spawns every worker; resolves when all listen, rejects on the first that cannot. */
  async start(count: number): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let id = 0; id < count; id++) {
      const slot: Slot = { id, worker: null, startedAt: 0, backoffMs: BACKOFF_START_MS, restarts: 0 };
      this.#slots.push(slot);
      ready.push(this.#spawn(slot));
    }
    await Promise.all(ready);
    this.#started = true;
  }

  #spawn(slot: Slot): Promise<void> {
    const boot: WorkerBoot = { id: slot.id, config: this.#config, shm: this.#shm, testHooks: this.#testHooks, ...this.#state() };
    const worker = new Worker(WORKER_URL, { workerData: boot, resourceLimits: this.#limits });
    const threadId = worker.threadId;
    slot.worker = worker;
    slot.startedAt = Date.now();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let ready = false;
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          ready = true;
          if (!settled) { settled = true; resolve(); }
        } else if (msg.type === 'fatal') {
          // Before 'ready' the start promise carries the reason and its caller reports it;
          // logging it here too would print every start-up failure twice.
          if (!settled) { settled = true; reject(new Error(msg.message)); }
          else this.#events.log('error', `worker ${slot.id}: ${msg.message}`);
        } else if (msg.type === 'ack') {
          this.#acknowledged(msg.ack, worker);
        } else {
          this.#events.message?.(msg);
        }
      });
      worker.on('error', (err) => {
        this.#events.log('error', `worker ${slot.id}: ${err.stack ?? err.message}`);
      });
      worker.on('exit', (code) => {
        if (slot.worker === worker) slot.worker = null;
        // A dead worker acknowledges nothing: its replacement gets the state at spawn.
        for (const id of [...this.#acks.keys()]) this.#acknowledged(id, worker);
        // A worker that died inside a cache write must not leave the writer lock taken.
        if (this.#shm.cache !== null) releaseLockOf(this.#shm.cache, threadId);
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
        () => this.#events.log('info', `worker ${slot.id} restarted`),
        (err: Error) => this.#events.log('error', `worker ${slot.id} failed to restart: ${err.message}`),
      );
    }, delay);
    this.#restarts.add(timer);
  }

  /** Sends `msg` to every live worker (one being replaced gets the same state at spawn). */
  broadcast(msg: ToWorker): void {
    for (const slot of this.#slots) slot.worker?.postMessage(msg);
  }

  /**
   * Sends `make(id)` to every live worker and resolves when each has acknowledged it (or died,
   * or after 10 s): the ACME CA is told to look only once every worker answers the challenge.
   */
  broadcastAndWait(make: (ack: number) => ToWorker): Promise<void> {
    const ack = this.#nextAck++;
    const waiting = new Set(this.#slots.flatMap((s) => (s.worker === null ? [] : [s.worker])));
    if (waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#acks.delete(ack); resolve(); }, ACK_TIMEOUT_MS);
      this.#acks.set(ack, { waiting, done: () => { clearTimeout(timer); resolve(); } });
      const msg = make(ack);
      for (const w of waiting) w.postMessage(msg);
    });
  }

  #acknowledged(ack: number, worker: Worker): void {
    const pending = this.#acks.get(ack);
    if (pending === undefined) return;
    pending.waiting.delete(worker);
    if (pending.waiting.size > 0) return;
    this.#acks.delete(ack);
    pending.done();
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
}
