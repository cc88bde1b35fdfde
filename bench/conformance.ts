// `npm run conformance`: the public HTTP cache test suite behind cache-tests.fyi (npm
// `http-cache-tests` 0.4.5, installed in bench/conformance/) run against Portcullis with the
// cache on. The suite's own origin (its server modules, bound to loopback here) sits behind
// the proxy; its own client (runner, fetch) sends every test through the proxy. Prints the
// graded (required + optimal) and required counts as cache-tests.fyi counts them: a test
// passes when it passed and every test it depends on passed. Then the same counts over the
// results the package ships for other reverse proxies (httpd, ATS, Squid, Varnish, nginx):
// a ranking on the same tests.
//
//   suite client ──fetch──▶ Portcullis (dist/, cache.enabled, WORKERS threads) ──▶ suite origin
//
//   CONFORMANCE_WORKERS=2   proxy worker threads (default 2: a fill in one worker, a hit in the other)
//   CONFORMANCE_CONFIG=f    JSON merged over the proxy config (cache options, say)
//   CONFORMANCE_ID=test-id  run one test and print its requests and answers (the suite's dump)
//   CONFORMANCE_JSON=f      write the raw results (the suite's results/*.json shape) to f
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { HOST, freePort } from './lib/net.js';
import { ROOT } from './lib/targets.js';

const SUITE_DIR = join(ROOT, 'bench/conformance/node_modules/http-cache-tests');
const FETCH_DIR = join(ROOT, 'bench/conformance/node_modules/node-fetch');

interface SuiteTest { id: string; name: string; kind?: 'required' | 'optimal' | 'check'; browser_only?: boolean; dump?: boolean }
interface Suite { id: string; name: string; tests: SuiteTest[] }
type Result = true | [string, string];

async function load<T>(rel: string): Promise<T> {
  return (await import(pathToFileURL(join(SUITE_DIR, rel)).href)) as T;
}

/** The suite's origin (its server/server.mjs dispatch), on loopback only. */
async function startSuiteOrigin(): Promise<{ port: number; close(): Promise<void> }> {
  const handlers = {
    config: (await load<{ default: Function }>('server/handle-config.mjs')).default,
    test: (await load<{ default: Function }>('server/handle-test.mjs')).default,
    state: (await load<{ default: Function }>('server/handle-state.mjs')).default,
  };
  const port = await freePort();
  const server = http.createServer((req, res) => {
    const segs = new URL(req.url ?? '/', `http://${HOST}:${port}/`).pathname.split('/');
    segs.shift();
    const handler = handlers[segs.shift() as keyof typeof handlers];
    if (handler === undefined) { res.statusCode = 404; res.end(); return; }
    handler(segs, req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, HOST, resolve));
  return {
    port,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

async function startPortcullis(originPort: number): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-conformance-'));
  const file = join(dir, 'config.json');
  const extra = process.env['CONFORMANCE_CONFIG'] ? JSON.parse(readFileSync(process.env['CONFORMANCE_CONFIG'], 'utf8')) as object : {};
  writeFileSync(file, JSON.stringify({
    listen: [`${HOST}:${port}`],
    upstreams: { origin: { targets: [`http://${HOST}:${originPort}`] } },
    cache: { enabled: true },
    access_log: false,
    ...extra,
  }));
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/main.js'), 'run', '-c', file], {
    env: { ...process.env, PORTCULLIS_WORKERS: process.env['CONFORMANCE_WORKERS'] ?? '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`portcullis did not start:\n${out}`)), 15_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/listening on/.test(out)) { clearTimeout(timer); resolve(); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => { clearTimeout(timer); reject(new Error(`portcullis exited:\n${out}`)); });
  });
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  if (!existsSync(SUITE_DIR)) {
    throw new Error('http-cache-tests is not installed: npm ci --prefix bench/conformance (npm run conformance does it)');
  }
  const suites = [
    ...(await load<{ default: Suite[] }>('tests/index.mjs')).default,
    (await load<{ default: Suite }>('tests/surrogate-control.mjs')).default,
  ];
  const runner = await load<{ runTests: Function; getResults: () => Record<string, Result> }>('client/runner.mjs');
  const display = await load<{ determineTestResult: (s: Suite[], id: string, r: Record<string, Result>, deps?: boolean) => string[] }>('lib/display.mjs');
  const fetch = ((await import(pathToFileURL(join(FETCH_DIR, 'lib/index.js')).href)) as { default: Function }).default;

  const only = process.env['CONFORMANCE_ID'] ?? '';
  let toRun = suites;
  if (only !== '') {
    const suite = suites.find((s) => s.tests.some((t) => t.id === only));
    const test = suite?.tests.find((t) => t.id === only);
    if (suite === undefined || test === undefined) throw new Error(`no test ${only}`);
    test.dump = true;
    toRun = [{ ...suite, tests: [test] }];
  }

  const origin = await startSuiteOrigin();
  const proxy = await startPortcullis(origin.port);
  const started = Date.now();
  try {
    await runner.runTests(toRun, fetch, false, `http://${HOST}:${proxy.port}`);
  } finally {
    await proxy.stop();
    await origin.close();
  }
  const results = runner.getResults();
  if (process.env['CONFORMANCE_JSON']) writeFileSync(process.env['CONFORMANCE_JSON'], JSON.stringify(results, null, 2));

  if (only !== '') {
    const r = results[only];
    console.log(`${only}: ${r === true ? 'pass' : `FAIL ${JSON.stringify(r)}`}`);
    return;
  }

  const failed: string[] = [];
  const count = score(suites, results, display.determineTestResult, failed);
  if (failed.length > 0) console.log(`graded tests not passed:\n${failed.join('\n')}\n`);
  const graded = [count.required[0] + count.optimal[0], count.required[1] + count.optimal[1]];
  console.log(`http-cache-tests 0.4.5 against Portcullis (cache on, ${process.env['CONFORMANCE_WORKERS'] ?? '2'} workers), ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(`graded   ${graded[0]} / ${graded[1]}   (required + optimal)`);
  console.log(`required ${count.required[0]} / ${count.required[1]}`);
  console.log(`optimal  ${count.optimal[0]} / ${count.optimal[1]}`);
  console.log(`check    ${count.check[0]} / ${count.check[1]}   (informational: "yes" answers)`);

  // The same count over the results the package ships for other reverse proxies (their
  // versions as published with 0.4.5, run by the suite's authors): a ranking on the same tests.
  const published = (await load<{ default: { file: string; name: string; type: string; version: string }[] }>('results/index.mjs')).default;
  const rows = [{ name: 'Portcullis (this build)', graded: graded[0]!, required: count.required[0]! }];
  for (const p of published) {
    if (p.type !== 'rev-proxy') continue;
    const theirs = JSON.parse(readFileSync(join(SUITE_DIR, 'results', p.file), 'utf8')) as Record<string, Result>;
    const c = score(suites, theirs, display.determineTestResult, []);
    rows.push({ name: `${p.name} ${p.version} (published)`, graded: c.required[0]! + c.optimal[0]!, required: c.required[0]! });
  }
  rows.sort((a, b) => b.graded - a.graded || b.required - a.required);
  console.log('\nthe same tests, ranked by graded passes:');
  for (const r of rows) console.log(`  ${String(r.graded).padStart(3)} graded  ${String(r.required).padStart(3)} required  ${r.name}`);
}

/** Passes per kind, counted as cache-tests.fyi does (a test passes when it and every test it depends on passed); graded failures go to `failed`. */
function score(
  suites: Suite[],
  results: Record<string, Result>,
  determine: (s: Suite[], id: string, r: Record<string, Result>) => string[],
  failed: string[],
): Record<'required' | 'optimal' | 'check', number[]> {
  const count = { required: [0, 0], optimal: [0, 0], check: [0, 0] };
  for (const suite of suites) {
    for (const test of suite.tests) {
      if (test.browser_only === true) continue;
      const kind = test.kind ?? 'required';
      const symbol = determine(suites, test.id, results)[2];
      const pass = symbol === '✅' || symbol === 'Y';
      count[kind][1]++;
      if (pass) count[kind][0]++;
      else if (kind !== 'check') {
        const r = results[test.id];
        failed.push(`  ${kind === 'required' ? 'required' : 'optimal '} ${symbol} ${suite.id}/${test.id}: ${r === true ? 'a test it depends on failed' : r === undefined ? 'not run' : r[1]}`);
      }
    }
  }
  return count;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
