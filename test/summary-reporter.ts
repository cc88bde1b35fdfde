// A vitest reporter that ends the run with one plain line, "N passed, N failed, N skipped",
// which CI reads as the run's verdict (vitest's own summary is not one it knows). A run that
// went wrong outside a test (a beforeAll/afterAll that threw, a file that did not load, an
// unhandled error, an interrupted run) is broken: its tests may all read "passed" or
// "skipped", so each such error counts as failed and the line ends "run broken: ...".
// test/reporter.test.ts runs vitest on fixtures of each kind and reads this line.
import type { Reporter, TestModule } from 'vitest/node';

interface ErrorLike { readonly message?: string; readonly name?: string }

/** The verdict line for a finished run (pure: the reporter's whole decision). */
export function summaryLine(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<ErrorLike>, reason: string): string {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const broken: string[] = [];
  const firstLine = (e: ErrorLike): string => `${e.name ?? 'Error'}: ${(e.message ?? '').split('\n')[0]}`.slice(0, 200);
  for (const m of testModules) {
    let failedHere = 0;
    for (const t of m.children.allTests()) {
      const state = t.result().state;
      if (state === 'passed') passed++;
      else if (state === 'failed') { failed++; failedHere++; }
      else skipped++;
    }
    // Errors that belong to no test: the file's collection and top-level hooks, then each
    // suite's beforeAll/afterAll.
    for (const e of m.errors()) broken.push(`${m.relativeModuleId}: ${firstLine(e)}`);
    for (const s of m.children.allSuites()) {
      for (const e of s.errors()) broken.push(`${m.relativeModuleId} > ${s.fullName}: ${firstLine(e)}`);
    }
    const state = m.state();
    if (state === 'queued' || state === 'pending') broken.push(`${m.relativeModuleId}: did not finish`);
    else if (state === 'failed' && failedHere === 0 && !broken.some((b) => b.startsWith(m.relativeModuleId))) {
      broken.push(`${m.relativeModuleId}: failed with no failing test`);
    }
  }
  for (const e of unhandledErrors) broken.push(`unhandled ${firstLine(e)}`);
  if (reason === 'interrupted') broken.push('run interrupted');
  const counts = `${passed} passed, ${failed + broken.length} failed, ${skipped} skipped`;
  if (broken.length === 0) return counts;
  return `${counts}, run broken: ${broken.length} error${broken.length === 1 ? '' : 's'} outside tests (${broken.join('; ')})`;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<ErrorLike>, reason: string): void {
    process.stdout.write(`\n${summaryLine(testModules, unhandledErrors, reason)}\n`);
  }
}
