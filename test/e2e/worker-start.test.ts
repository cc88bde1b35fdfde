// A worker handed a config it cannot compile (the router refuses its routes) must report
// the reason as a message, without a stack, and end; the supervisor's start then fails
// with that message. Validation refuses such configs first, so the workers are started
// here directly with a config altered after validation.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { freePort } from '../helpers/ports.js';
import { NO_SHARED_SEGMENTS } from '../../src/shm/segments.js';

const DIST = new URL('../../dist/src/', import.meta.url);

async function conflictingConfig(): Promise<Config> {
  const port = await freePort();
  const valid = parseConfigText(
    `listen: ["127.0.0.1:${port}"]\naccess_log: false\nupstreams: { app: { targets: ["http://127.0.0.1:1"] } }\nroutes: [{ path: "/f/*", upstream: app }, { path: "/g/", upstream: app }]\n`,
    'cfg.yaml',
    {},
  );
  const config = structuredClone(valid) as { routes: { path: string }[] };
  config.routes[1]!.path = '/f/';
  return config as unknown as Config;
}

describe('a worker that cannot compile its config', () => {
  test('posts one fatal message with the reason (no stack, no ReferenceError) and exits 1', async () => {
    const worker = new Worker(new URL('worker.js', DIST), { workerData: { id: 0, config: await conflictingConfig(), generation: 1, shm: NO_SHARED_SEGMENTS, maxMessage: 16 * 1024 * 1024, testHooks: false } });
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    const errors: Error[] = [];
    worker.on('error', (e) => errors.push(e));
    const code = await new Promise<number>((resolve) => worker.once('exit', resolve));
    expect(code).toBe(1);
    expect(errors).toEqual([]);
    expect(messages).toEqual([{ type: 'fatal', id: 0, message: 'cannot compile the config: route * /f/: conflicts with * /f/*' }]);
  });

  test('the supervisor start fails with that message, logging nothing twice', async () => {
    const { Supervisor } = (await import(fileURLToPath(new URL('primary/supervisor.js', DIST)))) as typeof import('../../src/primary/supervisor.js');
    const logs: string[] = [];
    const sup = new Supervisor(await conflictingConfig(), { log: (level, msg) => logs.push(`${level}: ${msg}`) }, false, 2);
    await expect(sup.start()).rejects.toThrow(/^cannot compile the config: route \* \/f\/: conflicts with \* \/f\/\*$/);
    await sup.stop();
    expect(logs).toEqual([]);
  });
});
