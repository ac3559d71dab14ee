import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Integration tests start real servers; generous deadlines, never fixed sleeps.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary'],
      // What runs inside the test processes (unit tests and in-process servers). The integration
      // tests' gserve children are not instrumented, so these floors sit a little under what the
      // in-process tests reach rather than under the code the suite really exercises.
      thresholds: { statements: 30, branches: 31, functions: 22, lines: 32 },
    },
  },
});
