// Worker thread entry: compiles the Runtime from the config in workerData, serves it on
// a uWS App, keeps the clock that expires upstream deadlines, and exits cleanly: a uWS
// App left open when a worker ends aborts the whole process (shared notes §3).
import { parentPort, workerData } from 'node:worker_threads';
import { uWS } from './uws/load.js';
import { UwsFrontEnd } from './downstream/server.js';
import { Listeners } from './downstream/listeners.js';
import { ChallengeStore } from './tls/challenges.js';
import { OnDemandRequests } from './tls/on-demand.js';
import type { FromWorker, ToWorker, WorkerBoot } from './messages.js';
import type { Config } from './config/types.js';
import { createAccessLog, type AccessLog } from './observe/access-log.js';
import { buildRuntime, type Runtime } from './runtime.js';

const boot = workerData as WorkerBoot;
const port = parentPort!;
const post = (msg: FromWorker): void => port.postMessage(msg);

// Declared before the handlers that read them: an error while building them (a config
// the router refuses) must find them empty, not in their temporal dead zone.
let front: UwsFrontEnd | null = null;
let listeners: Listeners | null = null;
let runtime: Runtime | null = null;
let accessLog: AccessLog | null = null;
let exiting = false;

/** Closes every socket this thread owns, then ends the thread with `code`. */
function exitWorker(code: number): void {
  if (exiting) return;
  exiting = true;
  try { (listeners ?? front)?.close(); } catch { /* already closed */ }
  for (const pool of runtime?.pools ?? []) pool.close();
  runtime?.cache?.table.releaseIfHeld();
  accessLog?.flushSync();
  process.exit(code);
}

process.on('uncaughtException', (err) => {
  // Close the listener and every connection first, then exit 1: the primary replaces us.
  try { post({ type: 'fatal', id: boot.id, message: err.stack ?? String(err) }); } catch { /* port closed */ }
  exitWorker(1);
});
process.on('unhandledRejection', (err) => { throw err; });

/**
 * The Runtime, or null after reporting why the config cannot be compiled. That is a
 * config problem, not a crash: the primary gets the reason alone, without a stack, and
 * stops (validation should have caught it; this is the last line).
 */
function compile(config: Config): { runtime: Runtime; accessLog: AccessLog | null } | null {
  try {
    return { runtime: buildRuntime(config, boot.shm), accessLog: createAccessLog(config.access_log) };
  } catch (err) {
    post({ type: 'fatal', id: boot.id, message: `cannot compile the config: ${err instanceof Error ? err.message : String(err)}` });
    exitWorker(1);
    return null;
  }
}

uWS._cfg('silent'); // no `uWebSockets: 20` header (per thread, §5)
const compiled = compile(boot.config);
if (compiled !== null) serve(compiled.runtime, compiled.accessLog);

function serve(rt: Runtime, log: AccessLog | null): void {
  runtime = rt;
  accessLog = log;
  const config = boot.config;
  // HTTP-01 answers on every plain listener, only while some listener uses ACME.
  const challenges = config.listen.some((s) => s.tls?.acme === true) ? new ChallengeStore(boot.challenges) : null;
  // Uncovered SNI names on ACME listeners go to the primary, which issues only what acme.on_demand
  // approves and logs the rest (once per name and hour).
  const onDemand = challenges === null ? null : new OnDemandRequests((name) => post({ type: 'acme-on-demand', id: boot.id, name }));
  const f = (front = new UwsFrontEnd(rt, log, challenges === null ? undefined : { scheme: 'http', redirect: null, challenges }));
  const l = (listeners = new Listeners(f, config.listen, boot.tls, { challenges, onDemand: onDemand === null ? null : (name) => onDemand.seen(name), workerId: boot.id }));
  const clock = setInterval(() => {
    const now = Date.now();
    for (const pool of rt.pools) pool.sweep(now);
  }, 100);
  const logFlush = log ? setInterval(() => log.flush(), 1000) : null;

  const drain = async (): Promise<void> => {
    l.stopAccepting();
    await f.idle(boot.config.timeouts.drain);
    clearInterval(clock);
    if (logFlush) clearInterval(logFlush);
    exitWorker(0);
  };

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'drain':
        void drain();
        break;
      case 'tls-certificates':
        void l.setCertificates(msg.listener, msg.set);
        break;
      case 'acme-challenge':
        challenges?.set(msg.token, msg.keyAuthorization);
        post({ type: 'ack', id: boot.id, ack: msg.id });
        break;
      case 'crash':
        if (boot.testHooks) setImmediate(() => { throw new Error('crash requested by test hook'); });
        break;
    }
  });

  l.listen().then(
    () => post({ type: 'ready', id: boot.id }),
    (err: Error) => { post({ type: 'fatal', id: boot.id, message: err.message }); exitWorker(2); },
  );
}
