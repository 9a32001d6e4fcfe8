import { createEngine, type Engine, type EngineConfig } from '@runstream/engine';
import { createBullQueue, type JobQueue } from '@runstream/queue';
import { inject } from 'vitest';
import { createTestRuntime, type TestRuntime } from './test-runtime.js';

export type TestBackend = 'postgres' | 'redis';
export const testBackends: TestBackend[] = ['postgres', 'redis'];

export interface TestEngineOptions extends Partial<Omit<EngineConfig, 'runtime' | 'queue'>> {
  backend: TestBackend;
  clock?: TestRuntime['clock'];
  /** Start the worker (default true); false gives an API-only engine. */
  worker?: boolean;
}

export interface TestEngine {
  runtime: TestRuntime;
  queue: JobQueue;
  engine: Engine;
  close(): Promise<void>;
}

/**
 * A runtime, a queue on the chosen backend and an engine, all in this test file's own namespace: its own
 * database (whose schema also holds the PostgreSQL queue) or its own Redis key prefix. The drain loop and the
 * worker run, as in production; `close()` shuts them down, purges the queue and drops the database.
 */
export async function createTestEngine({ backend, clock, worker = true, ...engine }: TestEngineOptions): Promise<TestEngine> {
  const runtime = await createTestRuntime({ ...(clock ? { clock } : {}), drainer: { pollIntervalMs: 250 } });
  const queue = createBullQueue({
    namespace: runtime.namespace,
    connection:
      backend === 'redis'
        ? { backend: 'redis', redisUrl: inject('runstreamTest').redisUrl }
        : { backend: 'postgres', databaseUrl: runtime.database.url },
  });
  const created = createEngine({
    runtime,
    queue,
    workflows: [],
    leaseMs: 2_000,
    sweepIntervalMs: 500,
    shutdownGraceMs: 2_000,
    ...engine,
  });
  runtime.start();
  if (worker) await created.startWorker();
  return {
    runtime,
    queue,
    engine: created,
    async close() {
      await created.close();
      if (backend === 'redis') await obliterateRedis(runtime.namespace, inject('runstreamTest').redisUrl);
      await runtime.close();
    },
  };
}

/** The engine closed its queue; a fresh handle removes what this namespace left in Redis. */
async function obliterateRedis(namespace: string, redisUrl: string) {
  const queue = createBullQueue({ namespace, connection: { backend: 'redis', redisUrl } });
  await queue.obliterate();
  await queue.close();
}
