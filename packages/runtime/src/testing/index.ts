import { createTestDatabase, type TestDatabase } from '@runstream/testkit';
import { createRuntime, type Runtime, type RuntimeConfig } from '../runtime.js';

export type TestRuntime = Runtime & { database: TestDatabase };

/**
 * A runtime on its own fresh database and namespace. `close()` releases the runtime, then drops the database.
 * The drain loop is not started: step it with `runtime.drainer.drainOnce()`, or call `start()`.
 */
export async function createTestRuntime(config: Partial<Omit<RuntimeConfig, 'databaseUrl'>> = {}): Promise<TestRuntime> {
  const database = await createTestDatabase();
  const runtime = await createRuntime({
    namespace: database.name,
    // Several test files (and maybe two suites) run at once; each keeps to a small share of PostgreSQL's
    // connection limit (scripts/pg-connections.mjs measures a suite's peak).
    poolSize: 3,
    ...config,
    databaseUrl: database.url,
  });
  return {
    ...runtime,
    database,
    async close() {
      await runtime.close();
      await database.drop();
    },
  };
}
