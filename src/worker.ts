// Worker thread entry: compiles the Runtime from the config in workerData, serves it on
// a uWS App, keeps the clock that expires upstream deadlines, and exits cleanly: a uWS
// App left open when a worker ends aborts the whole process (shared notes §3).
import { parentPort, workerData } from 'node:worker_threads';
import uWS from 'uWebSockets.js';
import { assertNativeUws, UwsFrontEnd } from './downstream/server.js';
import type { FromWorker, ToWorker, WorkerBoot } from './messages.js';
import { createAccessLog } from './observe/access-log.js';
import { buildRuntime } from './runtime.js';

const boot = workerData as WorkerBoot;
const port = parentPort!;
const post = (msg: FromWorker): void => port.postMessage(msg);

let front: UwsFrontEnd | null = null;
let exiting = false;

/** Closes every socket this thread owns, then ends the thread with `code`. */
function exitWorker(code: number): void {
  if (exiting) return;
  exiting = true;
  try { front?.close(); } catch { /* already closed */ }
  for (const pool of runtime.pools) pool.close();
  accessLog?.flush();
  process.exit(code);
}

process.on('uncaughtException', (err) => {
  // Close the listener and every connection first, then exit 1: the primary replaces us.
  try { post({ type: 'fatal', id: boot.id, message: err.stack ?? String(err) }); } catch { /* port closed */ }
  exitWorker(1);
});
process.on('unhandledRejection', (err) => { throw err; });

uWS._cfg('silent'); // no `uWebSockets: 20` header (per thread, §5)
assertNativeUws();
const runtime = buildRuntime(boot.config);
const accessLog = createAccessLog(boot.config.access_log);
front = new UwsFrontEnd(runtime, accessLog);

const clock = setInterval(() => {
  const now = Date.now();
  for (const pool of runtime.pools) pool.sweep(now);
}, 100);
const logFlush = accessLog ? setInterval(() => accessLog.flush(), 1000) : null;

async function drain(): Promise<void> {
  const f = front!;
  f.stopAccepting();
  await f.idle(boot.config.timeouts.drain);
  clearInterval(clock);
  if (logFlush) clearInterval(logFlush);
  exitWorker(0);
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'drain':
      void drain();
      break;
    case 'crash':
      if (boot.testHooks) setImmediate(() => { throw new Error('crash requested by test hook'); });
      break;
  }
});

front.listen(boot.config.listen).then(
  () => post({ type: 'ready', id: boot.id }),
  (err: Error) => { post({ type: 'fatal', id: boot.id, message: err.message }); exitWorker(2); },
);
