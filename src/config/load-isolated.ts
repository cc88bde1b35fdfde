// Loads and validates a config in a short-lived worker thread, so the long-running
// primary never keeps the parser and schema libraries (yaml, zod: ~16 MiB) in memory.
// The result crosses as a structured clone of the plain Config object.
import { Worker } from 'node:worker_threads';
import type { Config } from './types.js';

export type ConfigSource =
  | { readonly kind: 'file'; readonly path: string }
  /**
   * A file's text sent by `portcullis plan`, with the values of the variables it references
   * (from the sender's environment): `${NAME}` is never filled from this process's environment,
   * which would hand it to whoever can post (config/shown.ts). PORTCULLIS_* overrides are this
   * process's, as on a reload.
   */
  | { readonly kind: 'text'; readonly path: string; readonly text: string; readonly env: Readonly<Record<string, string>> }
  | { readonly kind: 'quick'; readonly from: string; readonly to: readonly string[] };

/** One config problem as plain data (ConfigError without its methods), for replies and logs. */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly field: string;
  readonly message: string;
}

export type LoadResult =
  | { readonly ok: true; readonly config: Config }
  | {
    readonly ok: false;
    /** Every problem, for the log. */
    readonly message: string;
    readonly errors?: readonly ConfigProblem[];
    /** The same as they may be shown outside the process: without values read from the environment. */
    readonly shown: { readonly message: string; readonly errors?: readonly ConfigProblem[] };
  };

const TASK_URL = new URL('./load-task.js', import.meta.url);

export function loadConfigIsolated(source: ConfigSource, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  return new Promise((resolve) => {
    const worker = new Worker(TASK_URL, { workerData: { source, env: { ...env } } });
    let result: LoadResult | null = null;
    worker.once('message', (r: LoadResult) => { result = r; });
    worker.once('error', (err) => { result = { ok: false, message: err.stack ?? err.message, shown: { message: `config loader failed: ${err.message}` } }; });
    worker.once('exit', (code) => {
      const message = `config loader exited with code ${code}`;
      resolve(result ?? { ok: false, message, shown: { message } });
    });
  });
}
