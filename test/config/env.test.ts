import { describe, expect, test } from 'vitest';
import { interpolate, readEnvOverrides } from '../../src/config/env.js';
import { ConfigErrors } from '../../src/config/error.js';
import { parseConfigText } from '../../src/config/load.js';

describe('interpolate', () => {
  test.each([
    ['${HOST}', { HOST: 'db' }, 'db'],
    ['http://${HOST}:${PORT}', { HOST: 'db', PORT: '5432' }, 'http://db:5432'],
    ['${PORT:-3000}', {}, '3000'],
    ['${PORT:-3000}', { PORT: '' }, '3000'],
    ['${PORT:-3000}', { PORT: '4000' }, '4000'],
    ['${EMPTY:-}', {}, ''],
    ['${EMPTY}', { EMPTY: '' }, ''],
    ['$${HOME}', { HOME: '/root' }, '${HOME}'],
    ['cost: $5', {}, 'cost: $5'],
    ['${A:-x-y:z}', {}, 'x-y:z'],
    ['no refs', {}, 'no refs'],
  ])('%j with %j → %j', (text, env, value) => {
    expect(interpolate(text, env)).toEqual({ value });
  });

  test.each([
    ['${MISSING}', 'environment variable MISSING is not set'],
    ['${OPEN', 'unterminated'],
    ['${1BAD}', 'invalid variable reference'],
    ['${A-b}', 'invalid variable reference'],
  ])('%j is refused: %s', (text, message) => {
    expect(interpolate(text, {})).toEqual({ error: expect.stringContaining(message) });
  });
});

describe('interpolation in a config file', () => {
  const text = `listen: ["\${BIND:-127.0.0.1}:\${PORT:-8080}"]
workers: \${WORKERS:-2}
upstreams:
  app: { targets: ["http://\${APP_HOST:-127.0.0.1}:3000"] }
access_log: { output: "$\${literal}" }
`;

  test('defaults apply when variables are unset', () => {
    const config = parseConfigText(text, 'cfg.yaml', {});
    expect(config.listen).toEqual([{ host: '127.0.0.1', port: 8080 }]);
    expect(config.workers).toBe(2);
    expect(config.upstreams['app']!.targets[0]!.host).toBe('127.0.0.1');
    expect(config.access_log.output).toBe('${literal}');
  });

  test('variables replace the defaults; an unquoted number stays a number', () => {
    const config = parseConfigText(text, 'cfg.yaml', { BIND: '0.0.0.0', PORT: '9000', WORKERS: '4', APP_HOST: 'app.internal' });
    expect(config.listen).toEqual([{ host: '0.0.0.0', port: 9000 }]);
    expect(config.workers).toBe(4);
    expect(config.upstreams['app']!.targets[0]).toMatchObject({ url: 'http://app.internal:3000', host: 'app.internal', port: 3000 });
  });

  test('a substituted value is validated like a written one, at its line', () => {
    expect(() => parseConfigText(text, 'cfg.yaml', { WORKERS: '999' })).toThrow(/^cfg\.yaml:2:10: workers: must be 0–256/);
  });

  test('each unset variable is an error naming its line and field', () => {
    expect.assertions(1);
    try {
      parseConfigText('listen: ["${A}"]\nupstreams: { app: { targets: ["http://${B}"] } }\n', 'cfg.yaml', {});
    } catch (e) {
      expect((e as ConfigErrors).errors.map((err) => err.format())).toEqual([
        'cfg.yaml:1:10: listen[0]: environment variable A is not set (use ${A:-default} to give a default)',
        'cfg.yaml:2:31: upstreams.app.targets[0]: environment variable B is not set (use ${B:-default} to give a default)',
      ]);
    }
  });
});

describe('PORTCULLIS_* overrides', () => {
  const file = 'workers: 2\nlog_level: warn\naccess_log: false\nupstreams: { app: { targets: ["http://a"] } }\n';

  test.each<[NodeJS.ProcessEnv, { workers: number; log_level: string; enabled: boolean }]>([
    [{}, { workers: 2, log_level: 'warn', enabled: false }],
    [{ PORTCULLIS_WORKERS: '8' }, { workers: 8, log_level: 'warn', enabled: false }],
    [{ PORTCULLIS_WORKERS: '0' }, { workers: 0, log_level: 'warn', enabled: false }],
    [{ PORTCULLIS_LOG_LEVEL: 'DEBUG' }, { workers: 2, log_level: 'debug', enabled: false }],
    [{ PORTCULLIS_ACCESS_LOG: 'on' }, { workers: 2, log_level: 'warn', enabled: true }],
    [{ PORTCULLIS_ACCESS_LOG: '1' }, { workers: 2, log_level: 'warn', enabled: true }],
    [{ PORTCULLIS_ACCESS_LOG: 'off' }, { workers: 2, log_level: 'warn', enabled: false }],
    [{ PORTCULLIS_WORKERS: '', PORTCULLIS_LOG_LEVEL: '' }, { workers: 2, log_level: 'warn', enabled: false }],
  ])('%j overrides the file', (env, expected) => {
    const c = parseConfigText(file, 'cfg.yaml', env);
    expect({ workers: c.workers, log_level: c.log_level, enabled: c.access_log.enabled }).toEqual(expected);
  });

  test.each([
    [{ PORTCULLIS_WORKERS: 'four' }, '<env>: PORTCULLIS_WORKERS: expected a whole number 0–256 (0 = one per CPU), got "four"'],
    [{ PORTCULLIS_WORKERS: '257' }, '<env>: PORTCULLIS_WORKERS: expected a whole number 0–256'],
    [{ PORTCULLIS_WORKERS: '-1' }, '<env>: PORTCULLIS_WORKERS: expected a whole number 0–256'],
    [{ PORTCULLIS_LOG_LEVEL: 'loud' }, '<env>: PORTCULLIS_LOG_LEVEL: expected one of fatal, error, warn, info, debug, got "loud"'],
    [{ PORTCULLIS_ACCESS_LOG: 'maybe' }, '<env>: PORTCULLIS_ACCESS_LOG: expected on, off, 1 or 0, got "maybe"'],
    [{ PORTCULLIS_CACHE_HIT_PATH: 'sometimes' }, '<env>: PORTCULLIS_CACHE_HIT_PATH: expected on, off, 1 or 0, got "sometimes"'],
    [{ PORTCULLIS_WORKER_YOUNG_MB: 'abc' }, `<env>: PORTCULLIS_WORKER_YOUNG_MB: expected a whole number of MiB (0 = V8's default), got "abc"`],
    [{ PORTCULLIS_WORKER_YOUNG_MB: '-5' }, `<env>: PORTCULLIS_WORKER_YOUNG_MB: expected a whole number of MiB (0 = V8's default), got "-5"`],
    [{ PORTCULLIS_WORKER_YOUNG_MB: '1.5' }, '<env>: PORTCULLIS_WORKER_YOUNG_MB: expected a whole number of MiB'],
  ])('%j is an error naming the variable', (env, message) => {
    const { errors } = readEnvOverrides(env);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.format().startsWith(message)).toBe(true);
  });

  test.each([[''], ['0'], ['16'], [' 32 ']])('PORTCULLIS_WORKER_YOUNG_MB=%j is accepted', (value) => {
    expect(readEnvOverrides({ PORTCULLIS_WORKER_YOUNG_MB: value }).errors).toEqual([]);
  });

  test('bad overrides are reported together with the file errors', () => {
    expect(() => parseConfigText('workers: x\nupstreams: { a: { targets: ["http://a"] } }\n', 'cfg.yaml', { PORTCULLIS_LOG_LEVEL: 'x' })).toThrow(
      /^cfg\.yaml:1:10: workers: .*\n<env>: PORTCULLIS_LOG_LEVEL: /,
    );
  });
});
