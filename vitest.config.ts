import { defineConfig } from 'vitest/config';

// The forks pool gives every test file its own process: a uWS App left open in a
// thread pool would abort the whole runner (shared notes §3).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
