import { defineConfig } from 'vitest/config';

// Fast tests: pure logic, no services. Files run in parallel worker threads.
export default defineConfig({
  test: {
    name: 'unit',
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts'],
    exclude: ['**/*.int.test.ts', '**/node_modules/**'],
    pool: 'threads',
    maxWorkers: 2,
  },
});
