// The environment's two ways into the config: `${VAR}` / `${VAR:-default}` interpolation
// inside string values, and the PORTCULLIS_* overrides applied after the file.

import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from './error.js';
import { LOG_LEVELS } from './schema.js';
import type { Config } from './types.js';
import { parseYoungMb, YOUNG_MB_VAR } from './worker-heap.js';

const REF = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

/**
 * Replaces `${VAR}` and `${VAR:-default}` (default when VAR is unset or empty, as in sh);
 * `$${` is a literal `${`. A `$` not followed by `{` is kept as is. `used` collects the
 * variables whose value went into the result (not those that fell back to their default).
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv, used?: Map<string, string>): { value: string } | { error: string } {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) break;
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (text[dollar + 1] !== '{') {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) return { error: `unterminated "\${" (write "$\${" for a literal "\${")` };
    const inner = text.slice(dollar + 2, close);
    const m = REF.exec(inner);
    if (!m) return { error: `invalid variable reference "\${${inner}}" (use \${NAME} or \${NAME:-default})` };
    const [, name, fallback] = m as unknown as [string, string, string | undefined];
    const value = env[name];
    if (value !== undefined && !(fallback !== undefined && value === '')) {
      out += value;
      used?.set(name, value);
    }
    else if (fallback !== undefined) out += fallback;
    else return { error: `environment variable ${name} is not set (use \${${name}:-default} to give a default)` };
    i = close + 1;
  }
  return { value: out + text.slice(i) };
}

const SWITCH: Readonly<Record<string, boolean>> = { on: true, off: false, '1': true, '0': false, true: true, false: false };

export interface EnvOverrides {
  readonly workers?: number;
  readonly log_level?: string;
  readonly access_log_enabled?: boolean;
  /** PORTCULLIS_STATE_DIR. */
  readonly state_dir?: string;
  /** Where state lives when neither the file nor PORTCULLIS_STATE_DIR says: $XDG_DATA_HOME/portcullis, else ~/.local/share/portcullis. */
  readonly state_dir_default: string;
}

/** The state directory when nothing names one (the XDG base directory convention, as Caddy's). */
export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  const xdg = env['XDG_DATA_HOME']?.trim();
  if (xdg && isAbsolute(xdg)) return join(xdg, 'portcullis');
  return join(env['HOME']?.trim() || homedir(), '.local', 'share', 'portcullis');
}

/**
 * Reads PORTCULLIS_WORKERS, _LOG_LEVEL and _ACCESS_LOG (empty = unset), with an error per bad
 * variable. PORTCULLIS_WORKER_YOUNG_MB is only checked here: it is not a config setting, the
 * supervisor reads it, but a bad value must fail `check` and start-up like the others.
 */
export function readEnvOverrides(env: NodeJS.ProcessEnv): { overrides: EnvOverrides; errors: ConfigError[] } {
  const errors: ConfigError[] = [];
  const fail = (field: string, message: string) => errors.push(new ConfigError({ file: '<env>', line: 0, column: 0, field, message }));
  const overrides: { workers?: number; log_level?: string; access_log_enabled?: boolean; state_dir?: string; state_dir_default: string } = { state_dir_default: defaultStateDir(env) };

  const workers = env['PORTCULLIS_WORKERS']?.trim();
  if (workers) {
    if (/^\d+$/.test(workers) && Number(workers) <= 256) overrides.workers = Number(workers);
    else fail('PORTCULLIS_WORKERS', `expected a whole number 0–256 (0 = one per CPU), got "${workers}"`);
  }

  const level = env['PORTCULLIS_LOG_LEVEL']?.trim().toLowerCase();
  if (level) {
    if ((LOG_LEVELS as readonly string[]).includes(level)) overrides.log_level = level;
    else fail('PORTCULLIS_LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}, got "${env['PORTCULLIS_LOG_LEVEL']}"`);
  }

  const accessLog = env['PORTCULLIS_ACCESS_LOG']?.trim().toLowerCase();
  if (accessLog) {
    const enabled = SWITCH[accessLog];
    if (enabled !== undefined) overrides.access_log_enabled = enabled;
    else fail('PORTCULLIS_ACCESS_LOG', `expected on, off, 1 or 0, got "${env['PORTCULLIS_ACCESS_LOG']}"`);
  }

  const stateDir = env['PORTCULLIS_STATE_DIR']?.trim();
  if (stateDir) overrides.state_dir = resolve(stateDir);

  const hitPath = env[HIT_PATH_VAR]?.trim().toLowerCase();
  if (hitPath && SWITCH[hitPath] === undefined) fail(HIT_PATH_VAR, `expected on, off, 1 or 0, got "${env[HIT_PATH_VAR]}"`);

  const youngMb = parseYoungMb(env[YOUNG_MB_VAR]);
  if ('error' in youngMb) fail(YOUNG_MB_VAR, youngMb.error);
  return { overrides, errors };
}

/**
 * PORTCULLIS_CACHE_HIT_PATH: no config field. Off sends cache hits through the general pipeline
 * as well (cache/hit-path.ts); read by each worker, checked with the others by readEnvOverrides.
 */
export const HIT_PATH_VAR = 'PORTCULLIS_CACHE_HIT_PATH';

/** Whether the hit path is on (unset, empty or not a switch: on; a bad value fails `check` and start-up). */
export function hitPathEnabled(env: NodeJS.ProcessEnv): boolean {
  return SWITCH[env[HIT_PATH_VAR]?.trim().toLowerCase() ?? ''] !== false;
}

export function applyEnvOverrides(config: Config, o: EnvOverrides): Config {
  return {
    ...config,
    workers: o.workers ?? config.workers,
    log_level: o.log_level ?? config.log_level,
    access_log: { ...config.access_log, enabled: o.access_log_enabled ?? config.access_log.enabled },
    state_dir: o.state_dir ?? (config.state_dir === '' ? o.state_dir_default : config.state_dir),
  };
}
