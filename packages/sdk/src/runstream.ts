import { createApiServer, createHealthHandler, createMetricsHandler, type ApiServer } from '@runstream/api';
import type { WorkflowInput, WorkflowOutput } from '@runstream/client';
import { migrateDatabase } from '@runstream/db';
import { RunCancelledError, RunFailedError, RunNotFoundError, type RunEvent } from '@runstream/domain';
import { createEngine, type Engine, type EngineConfig, type WorkflowDefinition, type WorkflowInfo } from '@runstream/engine';
import { createBullQueue, type JobQueue } from '@runstream/queue';
import type { ListRunsFilter, Run, RunPage } from '@runstream/store';
import { createRuntime, type Runtime } from '@runstream/runtime';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { followRunEvents, type FollowOptions } from './follow.js';
import { createFetchHandler, createNodeHandler, type FetchHandler, type MountOptions, type NodeHandler } from './http.js';
import { consoleLogger, type RunstreamLogger } from './logger.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- definitions with any input schema and output
export type AnyWorkflow = WorkflowDefinition<any, any>;

export interface EmbeddedPostgresSettings {
  /** Where the cluster lives (`<dataDir>/pgdata`). Default `./.runstream` under the working directory. */
  dataDir?: string;
  /** Its loopback port. Default 54329. */
  port?: number;
}

export interface ApiSettings {
  /** Bearer tokens the API accepts (16+ characters each). None: authentication is off. */
  tokens?: string[];
  /** Signs per-run read tokens; share it between nodes. Default: random per process. */
  readTokenSecret?: string;
  /** How long minted read tokens last. Default 15 min. */
  readTokenTtlMs?: number;
  /** Include stacks of failed runs and steps in responses. Default false. */
  exposeErrorStacks?: boolean;
  /** Origins besides the request's own whose pages may write (POST), e.g. the public origin behind a proxy. */
  allowedOrigins?: readonly string[];
  /** A request's headers must arrive within this (ms) on `createHttpServer()`'s server. Default 10 s. */
  headersTimeoutMs?: number;
  /** A whole request must arrive within this (ms) on `createHttpServer()`'s server; SSE responses are not cut. Default 30 s. */
  requestTimeoutMs?: number;
  /** Connections `createHttpServer()`'s server holds at once; it closes any beyond, unanswered. Default 2,000. */
  maxConnections?: number;
}

export interface RunstreamOptions<W extends readonly AnyWorkflow[]> {
  /** The workflows this process knows: it runs them (with `worker`) and validates their input. */
  workflows: W;
  /** PostgreSQL. Default `DATABASE_URL` from the environment, else an embedded PostgreSQL (see `embedded`). */
  databaseUrl?: string;
  /** Redis for the job queue. Default `REDIS_URL`, else BullMQ's PostgreSQL backend in the same database. */
  redisUrl?: string;
  /** Keeps deployments sharing PostgreSQL/Redis apart. Default `RUNSTREAM_NAMESPACE`, else `runstream`. */
  namespace?: string;
  /** Runs this process executes at once. Default 8. */
  concurrency?: number;
  /** Execute runs in this process. Default true; false makes it an API/client node only. */
  worker?: boolean;
  /** Used when there is no database URL. */
  embedded?: EmbeddedPostgresSettings;
  /** Apply the migrations at start (advisory-locked, so nodes may start together). Default true. */
  migrate?: boolean;
  /** PostgreSQL connections in the pool. Default 10. */
  poolSize?: number;
  /** The HTTP API's settings, used by `handler()` / `fetchHandler()`. */
  api?: ApiSettings;
  /** Engine timings: lease length, sweep interval, stale instance, shutdown grace (all ms). */
  engine?: { leaseMs?: number; sweepIntervalMs?: number; instanceStaleMs?: number; shutdownGraceMs?: number };
  /** Default: warnings and errors on stderr. Pass your pino logger to get everything. */
  logger?: RunstreamLogger;
  /** OpenTelemetry spans per run execution and step attempt go to this provider. Default: none (no spans). */
  tracerProvider?: EngineConfig['tracerProvider'];
  /** The built dashboard `handler()` serves at the root. Default: the one shipped with this package. */
  dashboardDir?: string;
  /** How long startup waits for the job queue's backend (Redis, or the queue's PostgreSQL schema). Default 10 s. */
  startupTimeoutMs?: number;
  /**
   * Aborted to give up starting (a SIGTERM during startup): startup stops after the step in progress (each is
   * bounded; waiting for the queue's backend ends at once), releases what it built and rejects with the reason.
   */
  signal?: AbortSignal;
  /** Where the defaults above are read. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

export interface StartOptions {
  /** Starting twice with one key returns the first run. */
  idempotencyKey?: string;
}

export interface RunHandle<O = unknown> {
  readonly id: string;
  readonly workflow: string;
  /** The run's events in seq order, gap-free, until it ends; resume with `fromSeq` = last seen + 1. */
  follow(options?: FollowOptions): AsyncIterable<RunEvent>;
  /** Waits for the end: the output, or RunFailedError / RunCancelledError. */
  result(options?: { signal?: AbortSignal }): Promise<O>;
  cancel(): Promise<Run>;
  /** The run as it is now. */
  get(): Promise<Run>;
}

export interface HealthReport {
  ok: boolean;
  checks: { postgres: { ok: boolean }; queue: { ok: boolean; backend: string } };
}

export interface Runstream<W extends readonly AnyWorkflow[]> {
  readonly workflows: W;
  readonly instanceId: string;
  /** The database in use (its password redacted). */
  readonly databaseUrl: string;
  readonly queueBackend: string;
  /** Creates a run (validating its input with the workflow's schema) and returns its handle. */
  start<D extends W[number]>(workflow: D, input: WorkflowInput<D>, options?: StartOptions): Promise<RunHandle<WorkflowOutput<D>>>;
  /** A handle on an existing run (any workflow). */
  run<O = unknown>(id: string): RunHandle<O>;
  get(id: string): Promise<Run | null>;
  list(filter?: ListRunsFilter): Promise<RunPage>;
  /** The workflows this process knows, with their version hashes and input JSON Schemas. */
  workflowList(): WorkflowInfo[];
  /** PostgreSQL and the queue answer. */
  health(): Promise<HealthReport>;
  /** Only `/health/live` and `/health/ready`, as the API serves them: true when it answered the request. */
  healthHandler(): (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Only `/metrics` (this process's engine histograms among them), behind the API tokens when they are set. */
  metricsHandler(): (req: IncomingMessage, res: ServerResponse) => boolean;
  /** The HTTP API (and the dashboard at the root) as a `(req, res)` handler for node:http, Express, Fastify. */
  handler(options?: MountOptions): NodeHandler;
  /**
   * A node:http server (not listening yet) for `listener` (default `handler()`) with the API's request deadlines
   * and connection cap: use it when Runstream is the whole server; a host app keeps its own server and mounts `handler()`.
   */
  createHttpServer(listener?: NodeHandler): Server;
  /** The same as a `(Request) => Promise<Response>` handler (Hono, Bun, Deno-style servers). */
  fetchHandler(options?: MountOptions): FetchHandler;
  /** Ends the API's open streams (clients reconnect elsewhere) and answers later API requests with 503. */
  stopApi(): Promise<void>;
  /**
   * Stops: ends open API streams, lets in-flight steps finish (within the grace period) and hands their runs
   * off, closes connections, stops the embedded PostgreSQL. Idempotent.
   */
  close(): Promise<void>;
}

/** Replaces the password in a connection URL, for logs. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Resolves when `ready` does; rejects after `timeoutMs` saying `what` did not answer, or when `signal` aborts. The
 * wait it gives up on keeps going until its owner is closed.
 */
async function waitForDependency(ready: Promise<void>, what: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => {};
  try {
    await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms (RUNSTREAM_STARTUP_TIMEOUT_MS)`)), timeoutMs);
        onAbort = () => reject(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Runstream inside an application: the composition root (PostgreSQL given or embedded, migrations, runtime,
 * job queue, engine, optionally the HTTP API), built from explicit options and released by `close()`. Nothing
 * is module-level: several can live in one process.
 */
export async function createRunstream<const W extends readonly AnyWorkflow[]>(options: RunstreamOptions<W>): Promise<Runstream<W>> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? consoleLogger();
  const namespace = options.namespace ?? (env.RUNSTREAM_NAMESPACE || 'runstream');
  const redisUrl = options.redisUrl ?? (env.REDIS_URL || undefined);
  const runWorker = options.worker ?? true;
  const { signal } = options;

  const teardown: { name: string; run: () => Promise<void> }[] = [];
  const unwind = async () => {
    const failures: unknown[] = [];
    for (const step of teardown.reverse()) {
      try {
        await step.run();
        logger.debug({ step: step.name }, 'shutdown step done');
      } catch (error) {
        failures.push(error);
        logger.error({ err: error, step: step.name }, 'shutdown step failed');
      }
    }
    teardown.length = 0;
    if (failures.length > 0) throw new AggregateError(failures, 'shutdown was not clean');
  };

  try {
    let databaseUrl = options.databaseUrl ?? (env.DATABASE_URL || undefined);
    const embedded = databaseUrl === undefined;
    if (databaseUrl === undefined) {
      const postgres = await startEmbeddedPostgres({
        dataDir: resolve(options.embedded?.dataDir ?? '.runstream'),
        port: options.embedded?.port ?? 54329,
        database: 'runstream',
        logger,
      });
      teardown.push({ name: 'embedded postgres', run: () => postgres.stop() });
      databaseUrl = postgres.url;
      signal?.throwIfAborted();
    }
    if (options.migrate ?? true) {
      const migrating = performance.now();
      await migrateDatabase(databaseUrl);
      logger.info({ ms: Math.round(performance.now() - migrating) }, 'migrations applied');
      signal?.throwIfAborted();
    }

    const runtime: Runtime = await createRuntime({
      databaseUrl,
      namespace,
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
      onError: (error, where) => logger.error({ err: error, where }, `background failure in ${where}`),
    });
    teardown.push({ name: 'runtime', run: () => runtime.close() });

    const queue: JobQueue = createBullQueue({
      namespace,
      connection: redisUrl ? { backend: 'redis', redisUrl } : { backend: 'postgres', databaseUrl },
      // One line per change (ioredis retries every second or so while Redis is away).
      onConnectionChange: (state, error) => {
        if (state === 'up') logger.info({ dependency: 'redis' }, 'Redis is reachable');
        else logger.error({ dependency: 'redis', error: error?.message }, 'Redis is unreachable');
      },
    });
    const engine: Engine = createEngine({
      runtime,
      queue,
      workflows: options.workflows,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.tracerProvider ? { tracerProvider: options.tracerProvider } : {}),
      ...options.engine,
      onError: (error, where) => logger.error({ err: error, where }, `engine failure in ${where}`),
    });
    // engine.close() finishes in-flight steps, hands their runs off, then closes the queue.
    teardown.push({ name: 'engine', run: () => engine.close() });

    // Without this bound an unreachable Redis would hold startup forever (BullMQ waits for it without end).
    const queueBackend = redisUrl ? `Redis (${redactUrl(redisUrl)})` : "the queue's PostgreSQL";
    await waitForDependency(queue.waitUntilReady(), queueBackend, options.startupTimeoutMs ?? 10_000, signal);

    runtime.start();
    if (runWorker) await engine.startWorker();
    signal?.throwIfAborted();

    let api: ApiServer | null = null;
    const apiServer = () => {
      if (api) return api;
      const settings = options.api ?? {};
      api = createApiServer({
        runtime,
        engine,
        queue,
        auth: {
          tokens: settings.tokens ?? [],
          readTokenSecret: settings.readTokenSecret ?? randomBytes(32).toString('hex'),
          ...(settings.readTokenTtlMs === undefined ? {} : { readTokenTtlMs: settings.readTokenTtlMs }),
        },
        ...(settings.exposeErrorStacks === undefined ? {} : { exposeErrorStacks: settings.exposeErrorStacks }),
        ...(settings.allowedOrigins === undefined ? {} : { allowedOrigins: settings.allowedOrigins }),
        ...(settings.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: settings.headersTimeoutMs }),
        ...(settings.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: settings.requestTimeoutMs }),
        ...(settings.maxConnections === undefined ? {} : { maxConnections: settings.maxConnections }),
        logger: {
          error: (message, ...details) => logger.error({ details }, message),
          warn: (message, ...details) => logger.warn({ details }, message),
        },
      });
      // Closed first (registered last): open streams end before the engine and runtime go.
      const opened = api;
      teardown.push({ name: 'api', run: () => opened.close() });
      return api;
    };

    const handle = <O>(run: Pick<Run, 'id' | 'workflow'>): RunHandle<O> => ({
      id: run.id,
      workflow: run.workflow,
      follow: (followOptions) => followRunEvents(runtime, run.id, followOptions),
      result: (resultOptions) => resultOf<O>(runtime, run.id, resultOptions?.signal),
      cancel: () => engine.cancelRun(run.id),
      get: async () => {
        const current = await runtime.runs.get(run.id);
        if (!current) throw new RunNotFoundError(run.id);
        return current;
      },
    });

    const bounded = async (work: () => Promise<unknown>) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([work(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), 2_000)))]);
        return { ok: true };
      } catch (error) {
        logger.warn({ err: error }, 'health check failed');
        return { ok: false };
      } finally {
        clearTimeout(timer);
      }
    };

    let closing: Promise<void> | null = null;
    logger.info(
      {
        namespace,
        instanceId: engine.instanceId,
        database: embedded ? 'embedded' : redactUrl(databaseUrl),
        queue: queue.backend,
        worker: runWorker,
        workflows: engine.workflowList().map((workflow) => `${workflow.name}@${workflow.version}`),
      },
      'Runstream ready',
    );

    return {
      workflows: options.workflows,
      instanceId: engine.instanceId,
      databaseUrl: redactUrl(databaseUrl),
      queueBackend: queue.backend,
      async start(workflow, input, startOptions = {}) {
        const { run } = await engine.startRun({
          workflow: workflow.name,
          input,
          ...(startOptions.idempotencyKey === undefined ? {} : { idempotencyKey: startOptions.idempotencyKey }),
        });
        return handle(run);
      },
      run: (id) => handle({ id, workflow: '' }),
      get: (id) => runtime.runs.get(id),
      list: (filter = {}) => runtime.runs.list(filter),
      workflowList: () => engine.workflowList(),
      async health() {
        const [postgres, queueCheck] = await Promise.all([
          bounded(() => runtime.store.ping()),
          bounded(() => queue.ping()),
        ]);
        return { ok: postgres.ok && queueCheck.ok, checks: { postgres, queue: { ...queueCheck, backend: queue.backend } } };
      },
      healthHandler: () =>
        createHealthHandler({
          runtime,
          queue,
          logger: {
            error: (message, ...details) => logger.error({ details }, message),
            warn: (message, ...details) => logger.warn({ details }, message),
          },
        }),
      metricsHandler: () => {
        const settings = options.api ?? {};
        return createMetricsHandler({
          runtime,
          queue,
          engine,
          auth: { tokens: settings.tokens ?? [], ...(settings.readTokenSecret ? { readTokenSecret: settings.readTokenSecret } : {}) },
          logger: {
            error: (message, ...details) => logger.error({ details }, message),
            warn: (message, ...details) => logger.warn({ details }, message),
          },
        });
      },
      handler: (mount) => createNodeHandler(apiServer(), mount, options.dashboardDir),
      createHttpServer: (listener) => apiServer().createHttpServer(listener ?? createNodeHandler(apiServer(), undefined, options.dashboardDir)),
      fetchHandler: (mount) => createFetchHandler(createNodeHandler(apiServer(), mount, options.dashboardDir), (server) => {
        teardown.push({ name: 'fetch bridge', run: () => server.close() });
      }),
      stopApi: async () => {
        await api?.close();
      },
      close: () => (closing ??= unwind()),
    };
  } catch (error) {
    await unwind().catch(() => {});
    throw error;
  }
}

/** Waits for the run to end (woken by the bus, re-checked now and then) and returns its output or throws. */
async function resultOf<O>(runtime: Runtime, runId: string, signal?: AbortSignal): Promise<O> {
  const waker: { wake: () => void } = { wake: () => {} };
  const unsubscribe = runtime.bus.subscribe(runId, () => waker.wake());
  try {
    for (;;) {
      signal?.throwIfAborted();
      const waiting = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        const onAbort = () => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        waker.wake = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
      const run = await runtime.runs.get(runId);
      if (!run) throw new RunNotFoundError(runId);
      if (run.status === 'succeeded') return run.output as O;
      if (run.status === 'failed') throw new RunFailedError(runId, run.error);
      if (run.status === 'cancelled') throw new RunCancelledError(runId);
      await waiting;
    }
  } finally {
    waker.wake();
    unsubscribe();
  }
}
