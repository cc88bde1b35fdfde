// LogWriter on a full disk, two threads appending to one file as two proxy workers do (a real
// tmpfs, mounted for the test: runs as root, like CI). One thread's batch is cut inside a line
// by ENOSPC; once space is freed the other thread's next line must start on a line of its own
// (it had not failed itself: it heard of the failure), and the first thread's next line must
// not add an empty one. The loss is said, then counted exactly.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { until } from '../helpers/admin.js';

const WORKER = new URL('./log-writer-worker.mjs', import.meta.url);

let dir: string;
let mounted = false;
const workers: Worker[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-logw-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    mounted = true;
  } catch { /* not root: skipped, and says so */ }
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
  if (mounted) execFileSync('umount', ['-l', dir]);
  rmSync(dir, { recursive: true, force: true });
});

interface Thread { worker: Worker; said: string[]; next(pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> }

async function thread(path: string): Promise<Thread> {
  const worker = new Worker(WORKER, { workerData: { path } });
  workers.push(worker);
  const said: string[] = [];
  const messages: Record<string, unknown>[] = [];
  worker.on('message', (m: Record<string, unknown>) => { messages.push(m); if (typeof m['warn'] === 'string') said.push(m['warn']); });
  const next = async (pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    await until(() => messages.some(pred), 10_000, 'a message from the writer thread');
    return messages.splice(messages.findIndex(pred), 1)[0]!;
  };
  await next((m) => m['ready'] === true);
  return { worker, said, next };
}

test('a line cut by ENOSPC in one thread is not glued to the next line of another', async (ctx) => {
  if (!mounted) ctx.skip('cannot mount a tmpfs here (needs root)');
  const log = join(dir, 'access.log');
  const filler = join(dir, 'filler');
  // 6 bytes in the log's first 4096-byte page; the rest of the disk filled.
  writeFileSync(log, 'start\n');
  const fd = openSync(filler, 'w');
  try { for (;;) writeSync(fd, Buffer.alloc(512)); } catch (err) { expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC'); } finally { closeSync(fd); }
  const a = await thread(log);
  const b = await thread(log);

  // 60 lines of 100 bytes: 40 fit the page's 4090 free bytes, the 41st is cut after 90.
  const line = (tag: string, i: number): string => `${`${tag}-${i} `.padEnd(99, 'x')}\n`;
  a.worker.postMessage({ write: Array.from({ length: 60 }, (_, i) => line('a', i)) });
  await until(() => a.said.includes('access log: ENOSPC; lines are being lost'), 10_000, 'the loss said');
  expect(readFileSync(log, 'utf8').length).toBe(4096);
  b.worker.postMessage({ probe: true });
  await b.next((m) => m['heard'] === true);

  rmSync(filler);
  b.worker.postMessage({ write: ['from-b\n'] });
  await until(() => readFileSync(log, 'utf8').includes('from-b'), 10_000, 'the line of the other thread');
  a.worker.postMessage({ write: ['from-a\n'] });
  await until(() => readFileSync(log, 'utf8').includes('from-a'), 10_000, 'the next line of the thread that cut');

  const lines = readFileSync(log, 'utf8').split('\n');
  expect(lines.slice(0, 41)).toEqual(['start', ...Array.from({ length: 40 }, (_, i) => line('a', i).slice(0, -1))]);
  // The cut line, then each later line whole on its own, no empty line between.
  expect(lines.slice(41)).toEqual([line('a', 40).slice(0, 90), 'from-b', 'from-a', '']);
  await until(() => a.said.length === 2, 10_000, 'the count');
  expect(a.said[1]).toBe('access log: writing again; 20 lines lost');
  expect(b.said).toEqual([]);
});
