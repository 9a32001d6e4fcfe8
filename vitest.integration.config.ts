import { defineConfig } from 'vitest/config';

// Integration tests against real PostgreSQL and Redis. The global setup migrates one template database;
// every test file gets its own database cloned from it (see @runstream/testkit), so files run in parallel.
export default defineConfig({
  test: {
    name: 'integration',
    include: ['packages/*/src/**/*.int.test.ts', 'apps/*/src/**/*.int.test.ts'],
    globalSetup: ['packages/testkit/src/global-setup.ts'],
    pool: 'forks',
    // The default (cores - 1) would run one file at a time on a 2-core machine; these tests mostly wait on
    // PostgreSQL and Redis, so a few files in flight at once keep the machine busy. Each file stays well within
    // its share of PostgreSQL's connection limit (see createTestRuntime in @runstream/runtime/testing, createTestEngine in @runstream/engine/testing),
    // so that two suites fit in a server's default 100 at once: `node scripts/pg-connections.mjs` measures the peak.
    maxWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
