import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { runCheck } from '../../src/config/check.js';
import { defaultConfigPath } from '../../src/package-root.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(w, { text: () => chunks.join('') });
}

async function check(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const out = sink();
  const err = sink();
  const code = await runCheck(argv, out, err, env);
  return { code, out: out.text(), err: err.text() };
}

describe('portcullis check', () => {
  const good = file('good.yaml', 'listen: [":8081"]\nupstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\n');
  const bad = file('bad.yaml', 'workers: lots\nupstreams:\n  app: { targets: ["ftp://x"] }\nroutes: [{ path: /, upstream: nope }]\n');

  test.each([
    [['-c', good]],
    [['--config', good]],
    [[`--config=${good}`]],
    [['check', '-c', good]],
    [[good]],
  ])('%j: prints "config OK" and the effective config, exit 0', async (argv) => {
    const r = await check(argv);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out.startsWith(`config OK: ${good}\n`)).toBe(true);
    const effective = parse(r.out.slice(r.out.indexOf('\n') + 1)) as Record<string, unknown>;
    expect(effective).toMatchObject({ listen: [{ host: '0.0.0.0', port: 8081 }], timeouts: { header: 10_000 }, limits: { max_header_bytes: 32768 } });
  });

  test('-q prints only the OK line', async () => {
    expect(await check(['-q', '-c', good])).toEqual({ code: 0, out: `config OK: ${good}\n`, err: '' });
  });

  test('an invalid config prints every error to err, exit 1', async () => {
    const r = await check(['-c', bad], { PORTCULLIS_WORKERS: 'x' });
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err.split('\n')).toEqual([
      `${bad}:1:10: workers: expected a whole number, got "lots"`,
      `${bad}:3:20: upstreams.app.targets[0]: unsupported scheme "ftp://" (use http:// or https://)`,
      `${bad}:4:31: routes[0].upstream: no upstream named "nope"; defined: app`,
      '<env>: PORTCULLIS_WORKERS: expected a whole number 0–256 (0 = one per CPU), got "x"',
      `config check failed: 4 errors in ${bad}`,
      '',
    ]);
  });

  test('a bad PORTCULLIS_WORKER_YOUNG_MB fails the check like the other overrides', async () => {
    const r = await check(['-q', '-c', good], { PORTCULLIS_WORKER_YOUNG_MB: 'abc' });
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toEqual([
      `<env>: PORTCULLIS_WORKER_YOUNG_MB: expected a whole number of MiB (0 = V8's default), got "abc"`,
      `config check failed: 1 error in ${good}`,
      '',
    ]);
  });

  test('routes that only the router used to refuse fail the check too', async () => {
    const conflict = file('conflict.yaml', 'upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\nroutes:\n  - { path: "/u/:id", upstream: app }\n  - { path: "/u/:name", upstream: app }\n');
    const r = await check(['-q', '-c', conflict]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${conflict}:4:13: routes[1].path: conflicts with routes[0] (path "/u/:id")`);
  });

  test('a missing file is an error naming it, exit 1', async () => {
    const missing = join(dir, 'nope.yaml');
    const r = await check(['-c', missing]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${missing}: (file): cannot read config: file not found`);
  });

  test('without -c it checks the built-in default config', async () => {
    const r = await check([]);
    expect(r.code).toBe(0);
    expect(r.out.startsWith(`config OK: ${defaultConfigPath()}\n`)).toBe(true);
  });

  test.each([
    [['-c'], '-c needs a file'],
    [['--bogus'], 'unknown option --bogus'],
    [['a.yaml', 'b.yaml'], 'unexpected argument "b.yaml"'],
    [['-c', 'a.yaml', '-c', 'b.yaml'], '-c given more than once'],
    [['a.yaml', '-c', 'b.yaml'], 'unexpected argument "a.yaml" (the file is already given with -c)'],
  ])('%j is a usage error, exit 2', async (argv, problem) => {
    const r = await check(argv);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(`portcullis check: ${problem}`);
    expect(r.err).toContain('usage: portcullis check');
  });

  test('--help prints usage, exit 0', async () => {
    const r = await check(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('usage: portcullis check');
  });
});
