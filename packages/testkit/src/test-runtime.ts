import { createRuntime, type Runtime, type RuntimeConfig } from '@runstream/runtime';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { cloneDatabase, dropDatabase } from './databases.js';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database for the calling test file, cloned from the migrated template. Its name is built from the
 * vitest invocation, the worker's pool id and a random suffix, so no two live test files ever share one.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { adminUrl, templateDatabase, invocation } = inject('runstreamTest');
  const name = `rs_${invocation}_p${process.env.VITEST_POOL_ID ?? '0'}_${randomBytes(4).toString('hex')}`;
  const url = await cloneDatabase(adminUrl, templateDatabase, name);
  return { name, url, drop: () => dropDatabase(adminUrl, name) };
}

export type TestRuntime = Runtime & { database: TestDatabase };

/**
 * A runtime on its own fresh database and namespace. `close()` releases the runtime, then drops the database.
 * The drain loop is not started: step it with `runtime.drainer.drainOnce()`, or call `start()`.
 */
export async function createTestRuntime(config: Partial<Omit<RuntimeConfig, 'databaseUrl'>> = {}): Promise<TestRuntime> {
  const database = await createTestDatabase();
  const runtime = await createRuntime({
    namespace: database.name,
    // Several test files run at once; each keeps to a small share of PostgreSQL's connection limit.
    poolSize: 4,
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
