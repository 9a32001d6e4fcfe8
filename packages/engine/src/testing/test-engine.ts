import { createBullQueue, type JobQueue, type QueueBackendConfig } from '@runstream/queue';
import { createRuntime, type Runtime } from '@runstream/runtime';
import { createTestRuntime, type TestRuntime } from '@runstream/runtime/testing';
import type { TestBackend } from '@runstream/testkit';
import { inject } from 'vitest';
import { createEngine, type Engine, type EngineConfig } from '../engine.js';


export interface TestEngineOptions extends Partial<Omit<EngineConfig, 'runtime' | 'queue'>> {
  backend: TestBackend;
  clock?: TestRuntime['clock'];
  /** Start the worker (default true); false gives an API-only engine. */
  worker?: boolean;
}

export interface TestEngine {
  backend: TestBackend;
  /** The queue's connection: what another process needs to join this namespace. */
  connection: QueueBackendConfig;
  runtime: TestRuntime;
  queue: JobQueue;
  engine: Engine;
  close(): Promise<void>;
}

/** Another engine node on a test engine's database and namespace (see `joinTestEngine`). */
export interface PeerEngine {
  runtime: Runtime;
  queue: JobQueue;
  engine: Engine;
  /** Shuts the engine down gracefully, then its runtime; the database stays (the base engine drops it). */
  close(): Promise<void>;
}

const engineDefaults = { leaseMs: 2_000, sweepIntervalMs: 500, shutdownGraceMs: 2_000 } as const;

/**
 * PostgreSQL queue backend: connections in each BullMQ object's pool (the queue's and the worker's, each with its
 * own LISTEN connection on top). Test files run in parallel, and two suites may share the server: this keeps an
 * engine node to a small share of `max_connections`; a test's few concurrent jobs wait a moment for a connection.
 */
const queuePoolSize = 2;

function queueConnection(backend: TestBackend, databaseUrl: string): QueueBackendConfig {
  return backend === 'redis'
    ? { backend: 'redis', redisUrl: inject('runstreamTest').redisUrl }
    : { backend: 'postgres', databaseUrl };
}

/**
 * A runtime, a queue on the chosen backend and an engine, all in this test file's own namespace: its own
 * database (whose schema also holds the PostgreSQL queue) or its own Redis key prefix. The drain loop and the
 * worker run, as in production; `close()` shuts them down, purges the queue and drops the database.
 */
export async function createTestEngine({ backend, clock, worker = true, ...engine }: TestEngineOptions): Promise<TestEngine> {
  const runtime = await createTestRuntime({ ...(clock ? { clock } : {}), drainer: { pollIntervalMs: 250 } });
  const connection = queueConnection(backend, runtime.database.url);
  const queue = createBullQueue({ namespace: runtime.namespace, connection, poolSize: queuePoolSize });
  const created = createEngine({ runtime, queue, workflows: [], ...engineDefaults, ...engine });
  runtime.start();
  if (worker) await created.startWorker();
  return {
    backend,
    connection,
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

/**
 * A second engine node joining `base`: its own runtime (pool, LISTEN connection, drain loop), queue handle and
 * instance id, on the same database and namespace, so the two share runs, leases and jobs like two processes of
 * one deployment. Close peers before the base engine.
 */
export async function joinTestEngine(
  base: TestEngine,
  { worker = true, ...engine }: Partial<Omit<EngineConfig, 'runtime' | 'queue'>> & { worker?: boolean } = {},
): Promise<PeerEngine> {
  const runtime = await createRuntime({
    namespace: base.runtime.namespace,
    databaseUrl: base.runtime.database.url,
    clock: base.runtime.clock,
    poolSize: 3,
    drainer: { pollIntervalMs: 250 },
  });
  const queue = createBullQueue({ namespace: base.runtime.namespace, connection: base.connection, poolSize: queuePoolSize });
  const created = createEngine({ runtime, queue, workflows: [], ...engineDefaults, ...engine });
  runtime.start();
  if (worker) await created.startWorker();
  let closing: Promise<void> | null = null;
  return {
    runtime,
    queue,
    engine: created,
    close() {
      closing ??= (async () => {
        await created.close();
        await runtime.close();
      })();
      return closing;
    },
  };
}
