// Worker entry for load-isolated.ts: load, validate, post the Config or the error text.
import { parentPort, workerData } from 'node:worker_threads';
import type { ConfigProblem, ConfigSource, LoadResult } from './load-isolated.js';
import { loadConfigFile, parseConfigText } from './load.js';
import { quickConfig } from './quick.js';
import { ConfigErrors, type ConfigError } from './error.js';

const { source, env } = workerData as { source: ConfigSource; env: NodeJS.ProcessEnv };

let result: LoadResult;
try {
  const config = source.kind === 'file'
    ? loadConfigFile(source.path, env)
    : source.kind === 'text'
      ? parseConfigText(source.text, source.path, source.env, env)
      : quickConfig({ from: source.from, to: [...source.to] }, env);
  result = { ok: true, config };
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  const plain = (list: readonly ConfigError[]): ConfigProblem[] => list.map((e) => ({ file: e.file, line: e.line, column: e.column, field: e.field, message: e.message }));
  result = err instanceof ConfigErrors
    ? { ok: false, message, errors: plain(err.errors), shown: { message: err.shown.map((e) => e.format()).join('\n'), errors: plain(err.shown) } }
    : { ok: false, message, shown: { message } };
}
parentPort!.postMessage(result);
