import { createApiServer, createHealthHandler, type ApiLogger, type ApiServer } from '@runstream/api';
import { migrateDatabase } from '@runstream/db';
import { demoWorkflows } from '@runstream/demo-workflows';
import { createEngine, type Engine } from '@runstream/engine';
import { createBullQueue, type JobQueue } from '@runstream/queue';
import { createRuntime, type Runtime } from '@runstream/runtime';
import { createDashboardHandler } from '@runstream/dashboard';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bindingProblem, ConfigError, redact, type ServerConfig } from './config.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { createLogger, type Logger } from './logger.js';

export { parseConfig, readEnvironment, ConfigError, type ServerConfig, type Role } from './config.js';

export interface StartServerOptions {
  /** The process's logger (main creates it); default: a new one at `config.logLevel`. */
  logger?: Logger;
  /** Engine timings, for tests that want a fast handoff. */
  engine?: { shutdownGraceMs?: number; sweepIntervalMs?: number; leaseMs?: number; instanceStaleMs?: number };
  /**
   * Aborted to give up starting (a SIGTERM during startup): startup stops after the step in progress (each is
   * bounded; waiting for the queue's backend ends at once), releases what it built and rejects with the reason.
   */
  signal?: AbortSignal;
  /** The built dashboard to serve (default: apps/dashboard/dist); tests serve a build of their own. */
  dashboardDir?: string;
}

export interface StartedServer {
  /** Base URL of the HTTP server (the API, or only /health/* on a worker). */
  url: string;
  /** The PostgreSQL the server uses (password redacted). */
  databaseUrl: string;
  instanceId: string;
  /**
   * Graceful shutdown: stop accepting connections, end open streams, let the engine finish in-flight steps within
   * its grace period and hand off, close the runtime, stop the embedded PostgreSQL. Idempotent.
   */
  close(): Promise<void>;
}

/** How long minted per-run read tokens last. */
const READ_TOKEN_TTL_MS = 15 * 60_000;
/** How long in-flight HTTP requests get to finish on shutdown before their connections are cut. */
const HTTP_DRAIN_MS = 5_000;

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
 * The composition root of a Runstream process: PostgreSQL (given, or embedded), migrations, runtime, job queue,
 * engine, HTTP server, wired by role. Everything it builds is released by `close()`; nothing is module-level, so
 * tests can start several servers in one process.
 */
export async function startServer(config: ServerConfig, options: StartServerOptions = {}): Promise<StartedServer> {
  const began = performance.now();
  const logger = options.logger ?? createLogger(config.logLevel);
  const { signal } = options;
  const problem = bindingProblem(config);
  if (problem) throw new ConfigError([problem]);

  // Undo what was built so far, newest first, when a later step fails (and on close).
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
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const embedded: EmbeddedPostgres = await startEmbeddedPostgres({
        dataDir: config.dataDir,
        port: config.embeddedPgPort,
        database: 'runstream',
        logger,
      });
      teardown.push({ name: 'embedded postgres', run: () => embedded.stop() });
      databaseUrl = embedded.url;
      signal?.throwIfAborted();
    }

    const migrating = performance.now();
    await migrateDatabase(databaseUrl);
    logger.info({ ms: Math.round(performance.now() - migrating) }, 'migrations applied');
    signal?.throwIfAborted();

    const runtime: Runtime = await createRuntime({
      databaseUrl,
      namespace: config.namespace,
      poolSize: config.databasePoolSize,
      onError: (error, where) => logger.error({ err: error, where }, `background failure in ${where}`),
    });
    teardown.push({ name: 'runtime', run: () => runtime.close() });

    const queue: JobQueue = createBullQueue({
      namespace: config.namespace,
      connection: config.redisUrl
        ? { backend: 'redis', redisUrl: config.redisUrl }
        : { backend: 'postgres', databaseUrl },
      // One line per change (ioredis retries every second or so while Redis is away).
      onConnectionChange: (state, error) => {
        if (state === 'up') logger.info({ dependency: 'redis' }, 'Redis is reachable');
        else logger.error({ dependency: 'redis', error: error?.message }, 'Redis is unreachable');
      },
    });
    const engine: Engine = createEngine({
      runtime,
      queue,
      workflows: demoWorkflows,
      concurrency: config.workerConcurrency,
      leaseMs: config.leaseMs,
      ...options.engine,
      onError: (error, where) => logger.error({ err: error, where }, `engine failure in ${where}`),
    });
    // engine.close() finishes in-flight steps, hands their runs off, then closes the queue.
    teardown.push({ name: 'engine', run: () => engine.close() });

    // Without this bound an unreachable Redis would hold startup forever (BullMQ waits for it without end).
    const queueBackend = config.redisUrl ? `Redis (${redact(config.redisUrl)})` : "the queue's PostgreSQL";
    await waitForDependency(queue.waitUntilReady(), queueBackend, config.startupTimeoutMs, signal);

    runtime.start();
    if (config.role !== 'api') await engine.startWorker();

    signal?.throwIfAborted();

    const http = await startHttp(config, { runtime, engine, queue, logger, dashboardDir: options.dashboardDir });
    teardown.push({ name: 'http', run: () => http.close() });
    signal?.throwIfAborted();

    logger.info(
      {
        role: config.role,
        url: http.url,
        namespace: config.namespace,
        instanceId: engine.instanceId,
        database: config.databaseUrl ? redact(databaseUrl) : 'embedded',
        queue: queue.backend,
        workflows: engine.workflowList().map((workflow) => workflow.name),
        ms: Math.round(performance.now() - began),
      },
      `Runstream ${config.role} node ready`,
    );

    let closing: Promise<void> | null = null;
    return {
      url: http.url,
      databaseUrl: redact(databaseUrl),
      instanceId: engine.instanceId,
      close: () => (closing ??= unwind()),
    };
  } catch (error) {
    await unwind().catch(() => {});
    throw error;
  }
}

interface HttpParts {
  runtime: Runtime;
  engine: Engine;
  queue: JobQueue;
  logger: Logger;
  dashboardDir: string | undefined;
}

interface RunningHttp {
  url: string;
  close(): Promise<void>;
}

/** The API (roles api and all), or only /health/live and /health/ready (role worker). */
async function startHttp(config: ServerConfig, parts: HttpParts): Promise<RunningHttp> {
  const { logger } = parts;
  let server: Server;
  let closeHandler: () => Promise<void> = async () => {};

  if (config.role === 'worker') {
    server = createServer(workerHealth(parts));
  } else {
    const api = createApi(config, parts);
    // The browser dashboard's pages and assets (GET/HEAD outside /api and /rpc); everything else is the API's.
    const dashboard = createDashboardHandler(parts.dashboardDir ? { distDir: parts.dashboardDir } : {});
    // The API's server: its request deadlines and connection cap cover the dashboard's requests too.
    server = api.createHttpServer((req, res) => {
      if (!dashboard(req, res)) void api.handle(req, res);
    });
    closeHandler = () => api.close();
  }
  server.keepAliveTimeout = 5_000;
  await listen(server, config);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    async close() {
      // Stop accepting connections and drop idle keep-alive ones, then end open streams, then give requests in
      // flight a moment before cutting what is left.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closeHandler();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), HTTP_DRAIN_MS))),
      ]);
      clearTimeout(timer);
      if (!drained) {
        logger.warn('HTTP requests still open after the drain period: closing their connections');
        server.closeAllConnections();
        await closed;
      }
    },
  };
}

function listen(server: Server, config: ServerConfig): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new Error(`PORT ${config.port} is already in use on ${config.host}: stop what holds it, or set PORT`));
      } else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
        reject(new Error(`HOST ${JSON.stringify(config.host)} is not an address of this machine (${error.code})`));
      } else reject(error);
    };
    server.once('error', onError);
    server.listen({ port: config.port, host: config.host }, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

/** A worker serves no API: only liveness, and readiness (PostgreSQL and the queue answer), as the API serves them. */
function workerHealth({ runtime, queue, logger }: HttpParts) {
  const health = createHealthHandler({ runtime, queue, logger: apiLogger(logger.child({ component: 'health' })) });
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { message: 'method not allowed' });
    if (!health(req, res)) json(res, 404, { message: 'a worker node serves only /health/live and /health/ready' });
  };
}

/** The API's logger interface (console-like) on top of the process's pino logger. */
function apiLogger(logger: Logger): ApiLogger {
  const entry = (details: unknown[]) => {
    const [first, ...rest] = details;
    return {
      ...(first instanceof Error ? { err: first } : first === undefined ? {} : { detail: first }),
      ...(rest.length > 0 ? { details: rest } : {}),
    };
  };
  return {
    error: (message, ...details) => logger.error(entry(details), message),
    warn: (message, ...details) => logger.warn(entry(details), message),
  };
}

function createApi(config: ServerConfig, { runtime, engine, queue, logger }: HttpParts): ApiServer {
  let readTokenSecret = config.readTokenSecret;
  if (!readTokenSecret) {
    readTokenSecret = randomBytes(32).toString('hex');
    logger.warn(
      'RUNSTREAM_READ_TOKEN_SECRET is not set: using a random secret for this start, so read tokens stop working ' +
        'when the server restarts and are not accepted by other nodes. Set it (the same on every node) to keep them',
    );
  }
  if (config.apiTokens.length === 0) {
    logger.warn(
      { host: config.host },
      'RUNSTREAM_API_TOKEN is not set: authentication is OFF and the API is served on loopback only. ' +
        'Set RUNSTREAM_API_TOKEN to require bearer tokens (and to bind other hosts)',
    );
  }
  return createApiServer({
    runtime,
    engine,
    queue,
    auth: { tokens: config.apiTokens, readTokenSecret, readTokenTtlMs: READ_TOKEN_TTL_MS },
    allowedOrigins: config.allowedOrigins,
    headersTimeoutMs: config.headersTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    maxConnections: config.maxConnections,
    logger: apiLogger(logger.child({ component: 'api' })),
  });
}
