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

/** The job-queue backends (`@runstream/queue`) that backend-dependent tests run against. */
export type TestBackend = 'postgres' | 'redis';
export const testBackends: TestBackend[] = ['postgres', 'redis'];
