// Quick mode, like `caddy reverse-proxy --from :8080 --to :3000`: a config from two flags,
// validated by the same schema as a file, with errors naming the flag instead of a line.

import { applyEnvOverrides, readEnvOverrides } from './env.js';
import { ConfigError, ConfigErrors } from './error.js';
import { deepFreeze } from './load.js';
import type { Config } from './types.js';
import { validateConfig } from './validate.js';

/** The name the single upstream gets in quick mode (seen in logs and metrics). */
export const QUICK_UPSTREAM = 'quick';

/**
 * A `--to` value: a full `http://host:port` URL, `host:port`, `:port` or `port` (the last two
 * mean 127.0.0.1). Other schemes are left for the schema to refuse with its usual message.
 */
export function normalizeTarget(to: string): string {
  const text = to.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
  if (/^\d+$/.test(text)) return `http://127.0.0.1:${text}`;
  if (text.startsWith(':')) return `http://127.0.0.1${text}`;
  return `http://${text}`;
}

export function quickConfig(opts: { from: string; to: string[] }, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    listen: [opts.from],
    upstreams: { [QUICK_UPSTREAM]: { targets: opts.to.map(normalizeTarget) } },
    // Quick mode is one command, not a service: no admin API (there is no file to reload).
    admin: false,
  };
  const { overrides, errors } = readEnvOverrides(env);
  const result = validateConfig(raw, '<quick>');
  if ('problems' in result) {
    for (const p of result.problems) {
      const [section, , , index] = p.path;
      const flag = section === 'listen' ? '--from' : section === 'upstreams' ? '--to' : '(quick)';
      const value = flag === '--from' ? opts.from : typeof index === 'number' ? opts.to[index] : undefined;
      const message =
        flag === '--to' && opts.to.length === 0 ? 'at least one upstream target is required' : value === undefined ? p.message : `"${value}": ${p.message}`;
      errors.push(new ConfigError({ file: '<quick>', line: 0, column: 0, field: flag, message }));
    }
  }
  if (errors.length > 0 || !('config' in result)) throw new ConfigErrors(errors);
  return deepFreeze(applyEnvOverrides(result.config, overrides));
}
