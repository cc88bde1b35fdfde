// Reading a config file: text → YAML document (positions kept) → ${ENV} interpolation →
// validation → PORTCULLIS_* overrides → a frozen Config. Every problem found on the way is
// collected and thrown together as ConfigErrors naming file, line and field.

import { ConfigDocument, type EnvValue, type FieldPath } from './document.js';
import { applyEnvOverrides, readEnvOverrides } from './env.js';
import { ConfigError, ConfigErrors } from './error.js';
import { MAX_CONFIG_BYTES, readConfigText, tooLarge } from './read-file.js';
import { scrubber, traceOf } from './shown.js';
import type { Config } from './types.js';
import { validateConfig } from './validate.js';

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfigText(readConfigText(path), path, env);
}

/**
 * `env` fills `${NAME}` references and gives the PORTCULLIS_* overrides; `overridesEnv`, when
 * given, gives the overrides instead (a plan posted to the admin API brings the values of its
 * references, and the running proxy's own overrides apply, as they would on reload).
 */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env, overridesEnv: NodeJS.ProcessEnv = env): Config {
  // Text that did not come through readConfigText (a plan posted to the admin API) has the same cap.
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_BYTES) throw tooLarge(file, bytes);
  const doc = new ConfigDocument(text.replace(/^\uFEFF/, ''));
  const error = (line: number, column: number, path: FieldPath | string, message: string) =>
    new ConfigError({ file, line, column, field: typeof path === 'string' ? path : fieldName(path), message });

  const { overrides, errors: overrideErrors } = readEnvOverrides(overridesEnv);
  if (doc.syntaxErrors.length > 0) {
    const syntax = doc.syntaxErrors.map((p) => error(p.position.line, p.position.column, 'syntax', p.message));
    throw new ConfigErrors([...syntax, ...overrideErrors]);
  }
  const envProblems = doc.interpolate(env);
  const errors = [...envProblems.map((p) => error(p.position.line, p.position.column, p.path, p.message)), ...overrideErrors];
  // Errors as the admin API may show them: without the values read from the environment.
  const scrub = doc.envValues.size > 0 ? scrubber(doc.substitutions, doc.envValues) : undefined;

  let raw: unknown;
  let fromEnv: readonly EnvValue[];
  try {
    ({ data: raw, fromEnv } = doc.toData());
  } catch (err) {
    throw new ConfigErrors([...errors, error(1, 1, 'syntax', (err as Error).message)], scrub);
  }
  const result = validateConfig(raw, file);
  if ('problems' in result) {
    // A value whose ${VAR} failed was blanked; its follow-on schema error would mislead.
    const blanked = new Set(envProblems.map((p) => fieldName(p.path)));
    for (const p of result.problems) {
      if (blanked.has(fieldName(p.path))) continue;
      const pos = doc.positionOf(p.path, p.at);
      errors.push(error(pos.line, pos.column, p.path, p.message));
    }
  }
  if (errors.length > 0 || !('config' in result)) throw new ConfigErrors(errors, scrub);
  const config = applyEnvOverrides(result.config, overrides);
  if (doc.envValues.size === 0) return deepFreeze(config);
  return deepFreeze({ ...config, from_env: traceOf(config, fromEnv, doc.envValues) });
}

/** `routes[1].upstream`; names that are not identifiers are quoted: `upstreams["a b"]`. */
export function fieldName(path: FieldPath): string {
  if (path.length === 0) return '(root)';
  return path
    .map((seg, i) => {
      if (typeof seg === 'number') return `[${seg}]`;
      if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)) return i === 0 ? seg : `.${seg}`;
      return `[${JSON.stringify(seg)}]`;
    })
    .join('');
}

/** Workers get a snapshot: nothing may change a loaded config in place. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
