import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { bundlesDir } from './child-bundle.js';
import { prepareTemplateDatabase, dropDatabasesOfRun, testServices } from './databases.js';

declare module 'vitest' {
  export interface ProvidedContext {
    runstreamTest: {
      adminUrl: string;
      redisUrl: string;
      templateDatabase: string;
      /** Distinguishes this vitest invocation's databases from any other running on the machine. */
      invocation: string;
    };
  }
}

/**
 * Runs once per vitest invocation: migrates a template database (reused while the migrations are unchanged)
 * and hands its name to the workers, each of which clones its own databases from it.
 */
export default async function setup(project: TestProject) {
  const { adminUrl, redisUrl } = testServices();
  const templateDatabase = await prepareTemplateDatabase(adminUrl);
  const invocation = `${project.name.replace(/[^a-z0-9]/gi, '').toLowerCase() || 'test'}_${process.pid}`;
  project.provide('runstreamTest', { adminUrl, redisUrl, templateDatabase, invocation });
  return async () => {
    await dropDatabasesOfRun(adminUrl, invocation);
    rmSync(bundlesDir(invocation), { recursive: true, force: true });
  };
}
