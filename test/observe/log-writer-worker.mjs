// A thread that writes log lines to a file with a LogWriter, as each proxy worker writes its
// access log (test helper for log-writer.test.ts; runs the compiled dist/ module, as the
// workers do). Commands: {write: [lines]} writes them and flushes; {probe: true} answers once
// this thread has heard a sibling's write failure (the channel the LogWriter listens on).
import { openSync } from 'node:fs';
import { BroadcastChannel, parentPort, workerData } from 'node:worker_threads';

const { LogWriter } = await import(new URL('../../dist/src/observe/log-writer.js', import.meta.url).href);
const writer = new LogWriter(openSync(workerData.path, 'a'), (message) => parentPort.postMessage({ warn: message }));
const probe = new BroadcastChannel('portcullis:log-write-failed');
let heard = false;
let waiting = null;
probe.onmessage = () => { heard = true; waiting?.(); waiting = null; };
probe.unref();

parentPort.on('message', (m) => {
  if (m.write) {
    for (const line of m.write) writer.write(line);
    writer.flush();
  } else if (m.probe) {
    const answer = () => setTimeout(() => parentPort.postMessage({ heard: true }), 20);
    if (heard) answer(); else waiting = answer;
  } else if (m.close) {
    probe.close();
    writer.close();
    parentPort.close();
  }
});
parentPort.postMessage({ ready: true });
