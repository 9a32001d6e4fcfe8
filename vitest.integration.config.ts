import { defineConfig } from 'vitest/config';

// Integration tests against real PostgreSQL and Redis. The global setup migrates one template database;
// every test file gets its own database cloned from it (see @runstream/testkit), so files run in parallel.
export default defineConfig({
  test: {
    name: 'integration',
    include: ['packages/*/src/**/*.int.test.ts', 'apps/*/src/**/*.int.test.ts'],
    globalSetup: ['packages/testkit/src/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
