// The summary line CI reads (test/summary-reporter.ts): real vitest runs on fixture files, one
// per way a run can go wrong, and the last line each prints.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { summaryLine } from './summary-reporter.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = fileURLToPath(new URL('./fixtures/reporter/vitest.config.ts', import.meta.url));
const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));

/** Runs vitest on one fixture; its exit code and the last line it printed. */
function runFixture(name: string): Promise<{ code: number | null; line: string; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VITEST, 'run', '--config', CONFIG, `${name}.fixture.ts`], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out.split('\n').map((l) => l.trim()).filter((l) => /^\d+ passed, \d+ failed, \d+ skipped/.test(l));
      resolve({ code, line: lines.at(-1) ?? '', out });
    });
  });
}

const VERDICT = /^(\d+) passed, (\d+) failed, (\d+) skipped/;

function counts(line: string): [number, number, number] {
  const m = VERDICT.exec(line);
  if (!m) throw new Error(`no verdict line in: ${line}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

describe('the verdict line', () => {
  test('a clean run: passed and skipped counted, nothing broken', async () => {
    const r = await runFixture('pass');
    expect(r.line, r.out).toBe('2 passed, 0 failed, 1 skipped');
    expect(r.code).toBe(0);
  });

  test('a failing test is counted as failed (and the run is not called broken)', async () => {
    const r = await runFixture('fail');
    expect(r.line, r.out).toBe('1 passed, 1 failed, 0 skipped');
    expect(r.code).toBe(1);
  });

  test.each([
    ['before-all', /before-all\.fixture\.ts: Error: fixture beforeAll failed/],
    ['after-all', /after-all\.fixture\.ts > a suite: Error: fixture afterAll failed/],
    ['unhandled', /unhandled Error: fixture unhandled error/],
    ['load', /load\.fixture\.ts: .*no-such-module/],
  ])('%s: the line says the run is broken and counts it as failed', async (name, detail) => {
    const r = await runFixture(name);
    expect(r.line, r.out).toMatch(/, run broken: 1 error outside tests \(/);
    expect(r.line).toMatch(detail);
    const [, failed] = counts(r.line);
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(r.code).toBe(1);
  });

  test('an interrupted run (Ctrl-C, a bail) is broken even when every finished test passed', () => {
    // vitest passes reason 'interrupted'; a fixture cannot interrupt its own run reliably, so
    // the pure decision is called directly.
    expect(summaryLine([], [], 'interrupted')).toBe('0 passed, 1 failed, 0 skipped, run broken: 1 error outside tests (run interrupted)');
    expect(summaryLine([], [], 'passed')).toBe('0 passed, 0 failed, 0 skipped');
  });
});
